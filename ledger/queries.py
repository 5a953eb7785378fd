"""Read-side use cases: entries, checkpoints, proofs and search, as plain dictionaries.

Each function takes a ``Session`` and returns JSON-ready data or raises NotFound /
InvalidParameter. Proofs come from the stored Merkle hashes (O(log n) indexed reads).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from . import repository as repo
from .core import merkle
from .core.encoding import b64_encode
from .core.errors import InvalidParameter, MissingTreeHash, NotFound
from .core.leaf import format_log_time, split_leaf
from .models import Entry, Grant, Key


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ts(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def published_size(session: Session) -> int:
    """The size of the latest signed checkpoint: the tree size the log vouches for."""
    return repo.latest_size(session)


class PublishedSizes:
    """The largest published tree size this process has seen, to check sizes without a query.

    A log only grows (its tables are append-only, enforced by the database), so a tree size at
    or below one already seen is published; only a larger one, or "the latest", needs a read.
    One per app (per database): never shared between logs. Should the database behind the app
    be behind what it has seen (a lagging replica, a database switched under a running node), a
    stored hash is missing for a size taken on trust: ``recheck`` then reads the size again.
    """

    def __init__(self) -> None:
        self.seen = 0

    def check(self, session: Session, tree_size: int | None) -> int:
        """``tree_size`` if the log has published it, else InvalidParameter; None: the latest."""
        if tree_size is not None and tree_size <= self.seen:
            return tree_size
        size = published_size(session)
        self.seen = max(self.seen, size)
        if tree_size is None:
            return size
        if tree_size > size:
            raise InvalidParameter(f"tree_size {tree_size} is beyond the log's size {size}")
        return tree_size

    def recheck(self, session: Session, tree_size: int, missing: MissingTreeHash) -> NoReturn:
        """A hash for ``tree_size`` was missing: forget what was seen and check the size again.

        Raises InvalidParameter if the database has not published ``tree_size``, else re-raises
        ``missing`` (then the store itself is damaged).
        """
        self.seen = 0
        self.check(session, tree_size)
        raise missing


def _prove(
    session: Session,
    sizes: PublishedSizes,
    tree_size: int,
    prove: Callable[[repo.SessionHashReader], list[bytes]],
) -> list[str]:
    try:
        return [h.hex() for h in prove(repo.SessionHashReader(session))]
    except MissingTreeHash as e:
        sizes.recheck(session, tree_size, e)


def entry_json(entry: Entry) -> dict[str, Any]:
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
    if entry is None or seq >= published_size(session):
        raise NotFound(f"no entry {seq}")
    return entry_json(entry)


def list_entries(session: Session, start: int, limit: int) -> dict[str, Any]:
    size = published_size(session)
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
    session: Session, seq: int, tree_size: int | None, sizes: PublishedSizes
) -> dict[str, Any]:
    size = sizes.check(session, tree_size)
    if seq >= size:
        raise InvalidParameter(f"seq {seq} is not in a tree of size {size}")
    hashes = _prove(session, sizes, size, lambda r: merkle.inclusion_proof(size, seq, r))
    return {"seq": seq, "tree_size": size, "hashes": hashes}


def consistency_proof(
    session: Session, first: int, second: int | None, sizes: PublishedSizes
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


# --- search -------------------------------------------------------------------------------------


def _key_json(session: Session, key: Key) -> dict[str, Any]:
    end = repo.get_key_end(session, key.key_id)
    return {
        "key_id": key.key_id,
        "public_key": b64_encode(bytes(key.public_key)),
        "seq": key.seq,
        "status": "valid" if end is None else end.kind,
        "ended_seq": None if end is None else end.seq,
    }


def party(session: Session, key_id: str) -> dict[str, Any]:
    key = repo.get_key(session, key_id)
    if key is None:
        raise NotFound(f"no party has key {key_id}")
    keys = repo.party_keys(session, key.party_id)
    return {
        "party_id": key.party_id,
        "pseudonym": key.pseudonym,
        "registered_seq": keys[0].seq,
        "keys": [_key_json(session, k) for k in keys],
    }


def _grant_summary(session: Session, grant: Grant) -> dict[str, Any]:
    events = repo.grant_events(session, grant.grant_id)
    accept, revoke = events.get("accept"), events.get("revoke")
    return {
        "grant_id": grant.grant_id,
        "seq": grant.seq,
        "statement_hash": bytes(grant.statement_hash).hex(),
        "creator_party": grant.creator_party,
        "buyer_party": grant.buyer_party,
        "accepted_seq": None if accept is None else accept.seq,
        "revoked_seq": None if revoke is None else revoke.seq,
        "revocation_effective_at": None if revoke is None else _ts(revoke.effective_at),
    }


def grant(session: Session, grant_id: str) -> dict[str, Any]:
    row = repo.get_grant(session, grant_id)
    if row is None:
        raise NotFound(f"no grant {grant_id}")
    summary = _grant_summary(session, row)
    seqs = [s for s in (row.seq, summary["accepted_seq"], summary["revoked_seq"]) if s is not None]
    entries = repo.entries_by_seq(session, seqs)
    return {
        **summary,
        "entry": entry_json(entries[row.seq]),
        "acceptance": _optional_entry(entries, summary["accepted_seq"]),
        "revocation": _optional_entry(entries, summary["revoked_seq"]),
    }


def _optional_entry(entries: dict[int, Entry], seq: int | None) -> dict[str, Any] | None:
    return None if seq is None else entry_json(entries[seq])


def content(session: Session, sha256_hex: str) -> dict[str, Any]:
    grants = repo.grants_for_content(session, sha256_hex)
    return {"sha256": sha256_hex, "grants": [_grant_summary(session, g) for g in grants]}
