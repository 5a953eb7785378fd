"""Fetch a grant and prove it before signing anything that names it (no printing here).

``accept`` and ``revoke`` name a grant by its statement hash; before signing one, a client checks
the grant locally (leaf framing, statement and signatures, its id, that it names your key in the
role you act in) and that it is included in a checkpoint consistent with what this machine saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.client.trust import TrustedLog, VerifiedCheckpoint, check_entry_leaf
from ledger.core.errors import EntryMismatch, LedgerError, NotYourGrant
from ledger.core.leaf import parse_leaf
from ledger.core.statements import Grant

__all__ = ["VerifiedGrant", "fetch_grant", "fetch_verified_grants"]


@dataclass(frozen=True)
class VerifiedGrant:
    """A grant checked locally: its statement, entry, leaf bytes and statement hash."""

    grant: Grant
    seq: int
    leaf: bytes
    statement_hash: bytes


def fetch_grant(log: TrustedLog, grant_id: str, key_id: str, role: str) -> VerifiedGrant:
    """Fetch a grant and check it locally: leaf framing, statement and signatures, its id, and
    that ``key_id`` is its buyer (role "buyer") or creator ("creator"). Not its inclusion.

    Raises EntryMismatch (the log's answer is not that grant), NotYourGrant, ServerError.
    """
    answer = log.client.grant(grant_id)
    entry = answer.get("entry")
    seq = entry.get("seq") if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or not isinstance(seq, int):
        raise EntryMismatch(f"the log's answer for grant {grant_id} holds no entry")
    leaf = check_entry_leaf(entry, seq, None)
    try:
        signed = parse_leaf(leaf).signed  # verifies the statement and its signatures
    except LedgerError as e:
        raise EntryMismatch(f"entry {seq} for grant {grant_id} does not verify: {e}") from e
    stmt = signed.statement
    if not isinstance(stmt, Grant) or stmt.grant_id != grant_id:
        raise EntryMismatch(f"entry {seq} is not grant {grant_id}")
    holder = stmt.buyer if role == "buyer" else stmt.signer
    if holder != key_id:
        raise NotYourGrant(
            f"grant {grant_id} names {holder[:16]}… as its {role}, not your key {key_id[:16]}…"
        )
    return VerifiedGrant(stmt, seq, leaf, signed.statement_hash)


def fetch_verified_grants(
    log: TrustedLog, grant_ids: Sequence[str], key_id: str, role: str
) -> tuple[VerifiedCheckpoint, list[VerifiedGrant]]:
    """Each grant checked (``fetch_grant``) and proven to be in a fresh, consistent checkpoint
    (RFC 9162 §2.1.3.2), which is then saved."""
    grants = [fetch_grant(log, gid, key_id, role) for gid in grant_ids]
    checkpoint = log.refresh()
    for g in grants:
        log.verify_included(g.seq, g.leaf, checkpoint)
    log.save(checkpoint)
    return checkpoint, grants
