"""Read use cases of the log itself: entries, pages, checkpoints, proofs and the log's identity.

Each function takes a ``Session`` and returns JSON-ready data or raises NotFound /
InvalidParameter. They show the tree the log has signed (``ledger.server.reads.published``).
Proofs come from the stored Merkle hashes (O(log n) indexed reads).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from ledger.core import merkle
from ledger.core.encoding import b64_encode
from ledger.core.errors import InvalidParameter, MissingTreeHash, NotFound
from ledger.core.leaf import format_log_time, split_leaf
from ledger.server.reads.published import SignedSizes, signed_size
from ledger.server.storage import repository as repo
from ledger.server.storage.models import EntryRow


def _prove(
    session: Session,
    sizes: SignedSizes,
    tree_size: int,
    prove: Callable[[repo.SessionHashReader], list[bytes]],
) -> list[str]:
    try:
        return [h.hex() for h in prove(repo.SessionHashReader(session))]
    except MissingTreeHash as e:
        sizes.recheck(session, tree_size, e)


def entry_json(entry: EntryRow) -> dict[str, Any]:
    leaf = bytes(entry.leaf)
    # The stored leaf was strictly parsed and verified when it was appended; here it is only
    # split for display. Plain json.loads: re-running the strict parser on every entry of a page
    # cost more than everything else a full mirror or audit makes the server do.
    parts = split_leaf(leaf)
    return {
        "seq": entry.seq,
        "type": entry.type,
        "leaf": b64_encode(leaf),
        "leaf_hash": bytes(entry.leaf_hash).hex(),
        "statement_hash": bytes(entry.statement_hash).hex(),
        "integrated_at": format_log_time(parts.integrated_at),
        "statement": json.loads(parts.statement_bytes),
        "signatures": [
            {"public_key": b64_encode(pk), "signature": b64_encode(sig)}
            for pk, sig in parts.signatures
        ],
    }


def get_entry(session: Session, seq: int) -> dict[str, Any]:
    entry = repo.get_entry(session, seq)
    if entry is None or seq >= signed_size(session):
        raise NotFound(f"no entry {seq}")
    return entry_json(entry)


def list_entries(session: Session, start: int, limit: int) -> dict[str, Any]:
    size = signed_size(session)
    entries = [e for e in repo.list_entries(session, start, limit) if e.seq < size]
    return {"tree_size": size, "entries": [entry_json(e) for e in entries]}


def checkpoint_note(session: Session, tree_size: int | None) -> str:
    cp = (
        repo.latest_checkpoint(session)
        if tree_size is None
        else repo.get_checkpoint(session, tree_size)
    )
    if cp is None:
        raise NotFound("no checkpoint" + ("" if tree_size is None else f" at size {tree_size}"))
    return cp.note


def inclusion_proof(
    session: Session, seq: int, tree_size: int | None, sizes: SignedSizes
) -> dict[str, Any]:
    size = sizes.check(session, tree_size)
    if seq >= size:
        raise InvalidParameter(f"seq {seq} is not in a tree of size {size}")
    hashes = _prove(session, sizes, size, lambda r: merkle.inclusion_proof(size, seq, r))
    return {"seq": seq, "tree_size": size, "hashes": hashes}


def consistency_proof(
    session: Session, first: int, second: int | None, sizes: SignedSizes
) -> dict[str, Any]:
    size2 = sizes.check(session, second)
    if first > size2:
        raise InvalidParameter(f"first ({first}) must not exceed second ({size2})")
    hashes = _prove(session, sizes, size2, lambda r: merkle.consistency_proof(first, size2, r))
    return {"first": first, "second": size2, "hashes": hashes}


def log_info(session: Session, origin: str, verifier_key: str) -> dict[str, Any]:
    cp = repo.latest_checkpoint(session)
    return {
        "origin": origin,
        "verifier_key": verifier_key,
        "tree_size": 0 if cp is None else cp.tree_size,
        "root_hash": (merkle.EMPTY_ROOT if cp is None else bytes(cp.root_hash)).hex(),
    }
