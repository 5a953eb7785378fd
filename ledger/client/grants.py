"""Fetch a grant and prove it before signing anything that names it (no printing here).

``accept`` and ``revoke`` name a grant by its statement hash; before signing one, a client checks
the grant locally (leaf framing, statement and signatures, its id, that it names a key of your
party in the role you act in: any key of the party counts, current or rotated away, as for the
log, docs/LICENSING.md §1) and that it is included in a checkpoint consistent with what this
machine saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.client.parties import VerifiedParty, proven_map_seqs, verified_party
from ledger.client.trust import TrustedLog, VerifiedCheckpoint, check_entry_leaf
from ledger.core.errors import EntryMismatch, KeyRevoked, LedgerError, NotYourGrant, ServerError
from ledger.core.leaf import leaf_header, parse_leaf
from ledger.core.licmap import grant_key
from ledger.core.statements import Grant, GrantAccept, GrantRevoke

__all__ = [
    "GrantEvent",
    "GrantRecord",
    "Offers",
    "VerifiedGrant",
    "check_party",
    "fetch_grant",
    "fetch_verified_grants",
    "grant_record",
    "holder",
    "open_offers",
]


@dataclass(frozen=True)
class VerifiedGrant:
    """A grant checked locally: its statement, entry, leaf bytes and statement hash."""

    grant: Grant
    seq: int
    leaf: bytes
    statement_hash: bytes


def fetch_grant(log: TrustedLog, grant_id: str) -> VerifiedGrant:
    """Fetch a grant and check it locally: leaf framing, statement and signatures, its id. Not
    whose it is (``check_party``), nor its inclusion (``TrustedLog.verify_included``).

    Raises EntryMismatch (the log's answer is not that grant), ServerError.
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
    return VerifiedGrant(stmt, seq, leaf, signed.statement_hash)


def holder(grant: Grant, role: str) -> str:
    """The key a grant names in ``role``: its ``buyer``, or its ``creator`` (the signer)."""
    if role == "buyer":
        return grant.buyer
    if role == "creator":
        return grant.signer
    raise ValueError(f"unknown role {role!r}")


def check_party(grant: Grant, role: str, party: VerifiedParty) -> None:
    """Raise unless ``party`` may act on ``grant`` in ``role`` now: the key the grant names is one
    of the party's keys, current or rotated away (docs/LICENSING.md §1), and the party's key that
    will sign is still valid. KeyRevoked names the key to use instead; NotYourGrant otherwise."""
    if party.ended is not None:
        newer = " Sign with the party's current key." if party.ended.kind == "rotated" else ""
        raise KeyRevoked(f"your key {party.key_id} {party.ended.describe()}.{newer}")
    named = holder(grant, role)
    if not party.holds(named):
        raise NotYourGrant(
            f"grant {grant.grant_id} names {named[:16]}… as its {role}, which is not a key of"
            f" your party {party.pseudonym!r} (keys {', '.join(k[:16] + '…' for k in party.keys)})"
        )


def fetch_verified_grants(
    log: TrustedLog, grant_ids: Sequence[str], key_id: str, role: str
) -> tuple[VerifiedCheckpoint, VerifiedParty, list[VerifiedGrant]]:
    """Each grant checked (``fetch_grant``), proven to be in a fresh, consistent checkpoint
    (RFC 9162 §2.1.3.2), and naming, in ``role``, a key of the party of ``key_id``
    (``verified_party``, proven at that checkpoint; ``check_party``). The checkpoint is then
    saved. Raises NotYourGrant, KeyRevoked, and the errors of the steps."""
    grants = [fetch_grant(log, gid) for gid in grant_ids]
    checkpoint = log.refresh()
    party = verified_party(log, key_id, checkpoint)
    for g in grants:
        check_party(g.grant, role, party)
        log.verify_included(g.seq, g.leaf, checkpoint)
    log.save(checkpoint)
    return checkpoint, party, grants


@dataclass(frozen=True)
class Offers:
    """Grants made to a party that it has not accepted (nor the creator withdrawn), proven at
    ``checkpoint``; ``looked_at`` of the ``received`` grants the log lists for the party."""

    checkpoint: VerifiedCheckpoint
    party: VerifiedParty
    grants: list[VerifiedGrant]
    looked_at: int
    received: int


def open_offers(log: TrustedLog, key_id: str, limit: int) -> Offers:
    """The grants made to the party of ``key_id`` that are still open offers, among the latest
    ``limit`` it received (``GET /v1/parties/{key_id}/grants``).

    Each one is checked (``fetch_grant``), names a key of the party as its buyer, is included in
    a fresh, consistent checkpoint, and is proven unanswered there: the licence map lists only
    the grant itself under its statement hash (an acceptance or a revocation would be listed
    too). The server may still leave an offer out of its list: that only hides an offer. The
    checkpoint is saved. Raises EntryMismatch when a listed grant is not the party's.
    """
    checkpoint = log.refresh()
    party = verified_party(log, key_id, checkpoint)
    listing = log.client.party_grants(party.party_id, limit)
    received, total = listing.get("received"), listing.get("received_total")
    if not isinstance(received, list) or not isinstance(total, int):
        raise ServerError("the log's list of a party's grants is not the API's")
    found = []
    for summary in received:
        if not isinstance(summary, dict) or not isinstance(summary.get("grant_id"), str):
            raise ServerError("the log's list of a party's grants is not the API's")
        if summary.get("accepted_seq") is not None or summary.get("revoked_seq") is not None:
            continue
        g = fetch_grant(log, summary["grant_id"])
        if g.seq >= checkpoint.tree_size:
            continue  # logged after the checkpoint: shown next time
        if not party.holds(g.grant.buyer):
            raise EntryMismatch(
                f"the log lists grant {g.grant.grant_id} among those made to {party.pseudonym!r},"
                f" but it names {g.grant.buyer[:16]}…, not a key of that party, as its buyer"
            )
        log.verify_included(g.seq, g.leaf, checkpoint)
        seqs = proven_map_seqs(
            log, grant_key(g.statement_hash), checkpoint, f"grant {g.grant.grant_id}"
        )
        if seqs == [g.seq]:
            found.append(g)
    log.save(checkpoint)
    return Offers(checkpoint, party, found, len(received), total)


@dataclass(frozen=True)
class GrantEvent:
    """An acceptance or a revocation of a grant, as logged: its entry and statement."""

    seq: int
    integrated_at: int  # microseconds since the epoch, UTC (the log's time)
    statement: GrantAccept | GrantRevoke


@dataclass(frozen=True)
class GrantRecord:
    """A grant with everything the log holds about it at ``checkpoint``, each part proven: its
    entry and log time, both parties (``verified_party``), and its acceptance and revocation,
    complete because the licence map lists every entry naming the grant (docs/FORMAT.md §14)."""

    checkpoint: VerifiedCheckpoint
    grant: VerifiedGrant
    integrated_at: int
    creator: VerifiedParty
    buyer: VerifiedParty
    acceptance: GrantEvent | None
    revocation: GrantEvent | None


def grant_record(log: TrustedLog, grant_id: str) -> GrantRecord:
    """Fetch grant ``grant_id`` and prove it and its history at a fresh, consistent checkpoint
    (then saved). The first acceptance and the first revocation count (docs/LICENSING.md §3);
    the log refuses any later one. Raises EntryMismatch, ProofError, ServerError."""
    g = fetch_grant(log, grant_id)
    checkpoint = log.refresh()
    log.verify_included(g.seq, g.leaf, checkpoint)
    seqs = proven_map_seqs(log, grant_key(g.statement_hash), checkpoint, f"grant {grant_id}")
    if g.seq not in seqs:
        raise EntryMismatch(f"the licence map does not list grant {grant_id} under its own hash")
    events: dict[type, GrantEvent] = {}
    for seq in seqs:
        if seq == g.seq:
            continue
        leaf = log.fetch_entry(seq)
        try:
            parsed = parse_leaf(leaf)
        except LedgerError as e:
            raise EntryMismatch(f"entry {seq} does not verify: {e}") from e
        log.verify_included(seq, leaf, checkpoint)
        stmt = parsed.signed.statement
        if isinstance(stmt, GrantAccept | GrantRevoke):
            events.setdefault(type(stmt), GrantEvent(seq, parsed.integrated_at, stmt))
    creator = verified_party(log, g.grant.signer, checkpoint)
    buyer = verified_party(log, g.grant.buyer, checkpoint)
    log.save(checkpoint)
    return GrantRecord(
        checkpoint,
        g,
        leaf_header(g.leaf).integrated_at,
        creator,
        buyer,
        events.get(GrantAccept),
        events.get(GrantRevoke),
    )
