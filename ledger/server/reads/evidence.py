"""Read use cases for licence answers: the status of one content item and evidence bundles.

Both build a complete ``EvidenceBundle`` (``ledger.core.evidence.complete_bundle``) against the
published checkpoint (``ledger.server.reads.published``: the latest signed one; with a witness
policy, the latest cosigned one, cosignature lines included), never the signed size: the licence
map at that checkpoint's size (``mapstore.licence_map_at``, the map whose root the checkpoint
commits) says which entries each required key lists (docs/FORMAT.md §13.2: every grant that ever
covered an item, for any buyer; each grant's acceptances and revocations; each key's history);
those entries are read in batched IN queries, one round per step of the walk, and proven against
that one checkpoint from the stored Merkle hashes, and every required key gets its map proof. The
verdicts are computed by ``ledger.core.licensing`` over exactly the entries put in the bundle
(those integrated after T are included, as the verifier must see them, and ignored for the
verdicts), so the offline verifier recomputes the same answers and can tell that nothing was left
out. Raises NotFound (no checkpoint yet, or none with a map root), AtInFuture, InvalidParameter.
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
from ledger.core.evidence import EvidenceBundle, EvidenceQuery, complete_bundle, with_receipts
from ledger.core.keys import PublicKey
from ledger.core.leaf import Leaf, leaf_header, split_leaf
from ledger.core.licensing import LicenceState, check_use
from ledger.core.receipts import ReceiptSigner
from ledger.core.statements import Signature, SignedStatement, parse_statement
from ledger.server.reads.published import published_checkpoint
from ledger.server.storage import repository as repo
from ledger.server.storage.mapstore import NodeCache, map_reader
from ledger.server.storage.models import EntryRow

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


def read_leaves(session: Session, seqs: Iterable[int]) -> dict[int, tuple[bytes, Leaf]]:
    """Stored leaves by seq, parsed without re-verifying signatures."""
    out: dict[int, tuple[bytes, Leaf]] = {}
    for part in _chunks(sorted(set(seqs))):
        for entry in session.scalars(select(EntryRow).where(EntryRow.seq.in_(part))):
            data = bytes(entry.leaf)
            out[entry.seq] = (data, _stored_leaf(data))
    return out


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
    receipts: ReceiptSigner | None = None,
    map_nodes: NodeCache | None = None,
) -> EvidenceBundle:
    """The evidence bundle for ``contents`` (duplicates collapse) as of ``at`` (default: now),
    against the published checkpoint (``witnessed``: the latest cosigned one); with ``receipts``
    (the log's receipt signer), carrying each entry's COSE receipt at the checkpoint's size
    (docs/FORMAT.md §13.2; InvalidParameter for a tree of one entry). ``map_nodes``: the
    process's cache of map nodes (``mapstore.map_reader``), if it keeps one."""
    check_use(use)
    size, note, t = resolve_at(session, at, now_us, skew_us, witnessed)
    hashes = ChunkedHashReader(session)
    licence_map, prefetch = map_reader(session, size, map_nodes)
    bundle = complete_bundle(
        origin=identity.origin,
        verifier_key=identity.verifier_key,
        checkpoint=note,
        query=EvidenceQuery(buyer, use, t),
        contents=contents,
        licence_map=licence_map,
        read_leaves=lambda seqs: read_leaves(session, seqs),
        inclusion_proofs=lambda seqs: merkle.inclusion_proofs(size, seqs, hashes),
        prefetch=prefetch,  # each round's map paths in one query per depth
    )
    if receipts is None:
        return bundle
    root = repo.checkpoint_root(session, size)
    if root is None:  # the published checkpoint is one the log signed: its row exists
        raise NotFound(f"no checkpoint of size {size}")
    return with_receipts(bundle, receipts, size, root)


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
    receipts: ReceiptSigner | None = None,
    map_nodes: NodeCache | None = None,
) -> dict[str, Any]:
    """The verdict for one item, with its evidence (a one-item bundle) against one checkpoint
    (with ``receipts``: carrying its entries' COSE receipts)."""
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
        receipts=receipts,
        map_nodes=map_nodes,
    )
    verdict = bundle.items[0].to_json()
    return {**verdict, **bundle.query.to_json(), "evidence": bundle.to_json()}


def content_verdicts(
    session: Session,
    identity: LogIdentity,
    *,
    sha256: str,
    buyer: str,
    uses: Sequence[str],
    at: int | None,
    now_us: int,
    skew_us: int,
    witnessed: bool = False,
    map_nodes: NodeCache | None = None,
) -> dict[str, dict[str, Any]]:
    """The verdict ``content_status`` gives for one item for each of ``uses`` (at least one),
    from one walk of the licence map: the required keys, and so the entries, do not depend on
    the use (docs/FORMAT.md §13.2), so the entries of the first use's bundle, replayed once,
    answer every use."""
    bundle = build_evidence(
        session,
        identity,
        buyer=buyer,
        use=uses[0],
        contents=[sha256],
        at=at,
        now_us=now_us,
        skew_us=skew_us,
        witnessed=witnessed,
        map_nodes=map_nodes,
    )
    state = LicenceState.replay((_stored_leaf(e.leaf) for e in bundle.entries), bundle.query.at)
    return {use: state.verdict(sha256, buyer, use).to_json() for use in uses}
