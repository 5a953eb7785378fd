"""Read use cases for licence answers: the status of one content item and evidence bundles.

Both build an ``EvidenceBundle`` (``ledger.core.evidence``) against the published checkpoint
(``ledger.server.reads.published``: the latest signed one; with a witness policy, the latest
cosigned one, cosignature lines included), never the signed size: the entries that decide each
item are selected with a few batched IN queries over the derived indexes (grants by content,
grant events, keys by party), read once, and proven against that one checkpoint from the stored
Merkle hashes. The verdicts are computed by ``ledger.core.licensing``
over exactly the entries put in the bundle, so the offline verifier recomputes the same answers.

Which entries go in (docs/LICENSING.md §Evidence): for each item, every grant covering it that was
integrated by T and names the buyer's party; if any grant covering the item is exclusive, every
grant covering it (to detect conflicts); the acceptances and revocations of those grants; and every
key entry (registration, rotation, revocation) of the parties involved. Everything is cut at the
checkpoint's tree size and at T. Raises NotFound (no checkpoint yet), AtInFuture, InvalidParameter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core import merkle
from ledger.core.errors import AtInFuture, NotFound
from ledger.core.evidence import EvidenceBundle, EvidenceQuery, make_bundle
from ledger.core.keys import PublicKey
from ledger.core.leaf import Leaf, leaf_header, split_leaf
from ledger.core.licensing import check_use
from ledger.core.statements import Signature, SignedStatement, parse_statement
from ledger.server.reads.published import published_checkpoint
from ledger.server.storage import repository as repo
from ledger.server.storage.models import (
    EntryRow,
    GrantContentRow,
    GrantEventRow,
    GrantRow,
    KeyEndRow,
    KeyRow,
)

#: Rows per IN query: below SQLite's and psycopg's bound-parameter limits.
CHUNK = 5000


@dataclass(frozen=True)
class LogIdentity:
    origin: str
    verifier_key: str


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


def _stored_leaf(data: bytes) -> Leaf:
    """A stored leaf, parsed for its meaning only.

    The log verified the statement, its canonical form and its signatures when it appended the
    entry, so they are not checked again here; the offline verifier re-checks them all.
    """
    parts = split_leaf(data)
    body = json.loads(parts.statement_bytes)
    sigs = tuple(Signature(PublicKey(pk), sig) for pk, sig in parts.signatures)
    signed = SignedStatement(parse_statement(body), body, parts.statement_bytes, sigs)
    return Leaf(parts.seq, parts.integrated_at, parts.prev_hash, signed)


class ChunkedHashReader:
    """The core's HashReader over ``tree_hashes``, reading in IN queries of CHUNK indexes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        found: dict[int, bytes] = {}
        for part in _chunks(list(dict.fromkeys(indexes))):
            found.update(zip(part, repo.read_tree_hashes(self.session, part), strict=True))
        return [found[i] for i in indexes]


def resolve_at(
    session: Session, at: int | None, now_us: int, skew_us: int, witnessed: bool = False
) -> tuple[int, str, int]:
    """The published checkpoint (tree size, note) and the query time: ``at``, or now.

    With ``witnessed`` (a witness policy) the checkpoint is the latest cosigned one, whose note
    carries the cosignature lines. "Now" is never earlier than the last entry of the checkpointed
    tree, so every entry in the tree counts. A time beyond the log clock plus the allowed skew is
    refused (AtInFuture): a bundle states what the log knew, not what it may yet learn.
    """
    published = published_checkpoint(session, witnessed=witnessed)
    if published is None or published.tree_size == 0:
        raise NotFound("the log has no published checkpoint yet")
    size, note = published
    if at is not None:
        if at > now_us + skew_us:
            raise AtInFuture("at lies in the future of the log's clock")
        return size, note, at
    last = repo.get_entry(session, size - 1)
    last_us = 0 if last is None else leaf_header(bytes(last.leaf)).integrated_at
    return size, note, max(now_us, last_us)


def _read_leaves(session: Session, seqs: Iterable[int], at: int) -> dict[int, tuple[bytes, Leaf]]:
    """Stored leaves by seq, parsed without re-verifying signatures; those after ``at`` dropped."""
    out: dict[int, tuple[bytes, Leaf]] = {}
    for part in _chunks(sorted(set(seqs))):
        for entry in session.scalars(select(EntryRow).where(EntryRow.seq.in_(part))):
            data = bytes(entry.leaf)
            if leaf_header(data).integrated_at <= at:
                out[entry.seq] = (data, _stored_leaf(data))
    return out


def _grants_covering(session: Session, contents: Sequence[str], size: int) -> list[Any]:
    """(sha256, seq, grant_id, creator and buyer party) of every grant in the tree covering an
    item."""
    rows: list[Any] = []
    columns = (GrantRow.seq, GrantRow.grant_id, GrantRow.creator_party, GrantRow.buyer_party)
    for part in _chunks(contents):
        stmt = (
            select(GrantContentRow.sha256, *columns)
            .join(GrantRow, GrantRow.grant_id == GrantContentRow.grant_id)
            .where(GrantContentRow.sha256.in_(part), GrantRow.seq < size)
        )
        rows.extend(session.execute(stmt))
    return rows


def _select_grants(
    rows: Sequence[Any], grants: dict[int, tuple[bytes, Leaf]], buyer_party: str | None
) -> tuple[dict[int, str], set[str]]:
    """The grant seqs a bundle needs and the parties they involve (see the module docstring)."""
    by_item: dict[str, list[Any]] = {}
    for row in rows:
        if row.seq in grants:  # integrated by T
            by_item.setdefault(row.sha256, []).append(row)
    chosen: dict[int, str] = {}
    parties: set[str] = set()
    for item_rows in by_item.values():
        exclusive = any(_terms(grants[r.seq][1]).exclusive for r in item_rows)
        for r in item_rows:
            if exclusive or r.buyer_party == buyer_party:
                chosen[r.seq] = r.grant_id
                parties.update((r.creator_party, r.buyer_party))
    return chosen, parties


def _terms(leaf: Leaf) -> Any:
    return leaf.signed.statement.terms  # type: ignore[attr-defined]


def _event_seqs(session: Session, grant_ids: Iterable[str], size: int) -> set[int]:
    seqs: set[int] = set()
    for part in _chunks(sorted(grant_ids)):
        stmt = select(GrantEventRow.seq).where(
            GrantEventRow.grant_id.in_(part), GrantEventRow.seq < size
        )
        seqs.update(session.scalars(stmt))
    return seqs


def _key_seqs(session: Session, parties: set[str], size: int) -> set[int]:
    """Registration, rotation and revocation entries of every key of ``parties``."""
    seqs: set[int] = set()
    key_ids: list[str] = []
    for part in _chunks(sorted(parties)):
        for key_id, seq in session.execute(
            select(KeyRow.key_id, KeyRow.seq).where(KeyRow.party_id.in_(part), KeyRow.seq < size)
        ):
            key_ids.append(key_id)
            seqs.add(seq)
    for part in _chunks(key_ids):
        stmt = select(KeyEndRow.seq).where(KeyEndRow.key_id.in_(part), KeyEndRow.seq < size)
        seqs.update(session.scalars(stmt))
    return seqs


def build_evidence(
    session: Session,
    identity: LogIdentity,
    *,
    buyer: str,
    use: str,
    contents: Sequence[str],
    at: int | None,
    now_us: int,
    skew_us: int,
    witnessed: bool = False,
) -> EvidenceBundle:
    """The evidence bundle for ``contents`` (duplicates collapse) as of ``at`` (default: now),
    against the published checkpoint (``witnessed``: the latest cosigned one)."""
    check_use(use)
    size, note, t = resolve_at(session, at, now_us, skew_us, witnessed)
    unique = list(dict.fromkeys(contents))
    buyer_key = repo.get_key(session, buyer)
    buyer_party = None if buyer_key is None or buyer_key.seq >= size else buyer_key.party_id
    rows = _grants_covering(session, unique, size)
    grants = _read_leaves(session, {r.seq for r in rows}, t)
    grant_seqs, parties = _select_grants(rows, grants, buyer_party)
    if buyer_party is not None:
        parties.add(buyer_party)
    seqs = _event_seqs(session, grant_seqs.values(), size) | _key_seqs(session, parties, size)
    leaves = _read_leaves(session, seqs - grants.keys(), t)
    leaves.update({s: grants[s] for s in grant_seqs})
    ordered = sorted(leaves)
    proofs = merkle.inclusion_proofs(size, ordered, ChunkedHashReader(session))
    return make_bundle(
        origin=identity.origin,
        verifier_key=identity.verifier_key,
        checkpoint=note,
        query=EvidenceQuery(buyer, use, t),
        contents=unique,
        leaves=[leaves[s] for s in ordered],
        proofs=dict(zip(ordered, proofs, strict=True)),
    )


def content_status(
    session: Session,
    identity: LogIdentity,
    *,
    sha256: str,
    buyer: str,
    use: str,
    at: int | None,
    now_us: int,
    skew_us: int,
    witnessed: bool = False,
) -> dict[str, Any]:
    """The verdict for one item, with its evidence (a one-item bundle) against one checkpoint."""
    bundle = build_evidence(
        session,
        identity,
        buyer=buyer,
        use=use,
        contents=[sha256],
        at=at,
        now_us=now_us,
        skew_us=skew_us,
        witnessed=witnessed,
    )
    verdict = bundle.items[0].to_json()
    return {**verdict, **bundle.query.to_json(), "evidence": bundle.to_json()}
