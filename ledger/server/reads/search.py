"""Read use cases of search: parties by key, grants by id, grants by content, as plain
dictionaries, each answer carrying the seqs (and entries) that prove it.

Each function takes a ``Session`` and returns JSON-ready data or raises NotFound.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from ledger.core.encoding import b64_encode
from ledger.core.errors import InvalidParameter, NotFound
from ledger.server.reads.log import entry_json
from ledger.server.reads.published import signed_size
from ledger.server.storage import repository as repo
from ledger.server.storage.models import EntryRow, GrantEventRow, GrantRow, KeyRow


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ts(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_json(session: Session, key: KeyRow) -> dict[str, Any]:
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


def parties_named(session: Session, pseudonym: str) -> dict[str, Any]:
    """Every party registered under ``pseudonym`` (pseudonyms are public and not unique: the
    log tells parties apart by key id), oldest first; an empty list when none is."""
    return {
        "pseudonym": pseudonym,
        "parties": [
            {"party_id": party_id, "registered_seq": seq}
            for party_id, seq in repo.parties_named(session, pseudonym)
        ],
    }


def _grant_summaries(session: Session, grants: Sequence[GrantRow]) -> list[dict[str, Any]]:
    """Each grant's summary, its events read for all of them in one query."""
    events = repo.grant_events(session, [g.grant_id for g in grants])
    return [_grant_summary(g, events[g.grant_id]) for g in grants]


def _grant_summary(grant: GrantRow, events: dict[str, GrantEventRow]) -> dict[str, Any]:
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
    (summary,) = _grant_summaries(session, [row])
    seqs = [s for s in (row.seq, summary["accepted_seq"], summary["revoked_seq"]) if s is not None]
    entries = repo.entries_by_seq(session, seqs)
    return {
        **summary,
        "entry": entry_json(entries[row.seq]),
        "acceptance": _optional_entry(entries, summary["accepted_seq"]),
        "revocation": _optional_entry(entries, summary["revoked_seq"]),
    }


def _optional_entry(entries: dict[int, EntryRow], seq: int | None) -> dict[str, Any] | None:
    return None if seq is None else entry_json(entries[seq])


def content(session: Session, sha256_hex: str) -> dict[str, Any]:
    grants = repo.grants_for_content(session, sha256_hex)
    return {"sha256": sha256_hex, "grants": _grant_summaries(session, grants)}


def party_grants(session: Session, key_id: str, limit: int) -> dict[str, Any]:
    """The grants the party holding ``key_id`` made and received: the latest ``limit`` of each,
    newest first, and how many there are in all. Raises NotFound for an unknown key."""
    key = repo.get_key(session, key_id)
    if key is None:
        raise NotFound(f"no party has key {key_id}")
    out: dict[str, Any] = {"party_id": key.party_id}
    for role, name in (("creator", "made"), ("buyer", "received")):
        rows = repo.grants_of_party(session, key.party_id, role, limit)
        out[name] = _grant_summaries(session, rows)
        out[f"{name}_total"] = repo.count_grants_of_party(session, key.party_id, role)
    return out


#: What the search box takes, by shape (docs: README, *Explorer*).
_SEQ = re.compile("0|[1-9][0-9]{0,17}")
_UUID = re.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX64 = re.compile("[0-9a-f]{64}")
SEARCH_HELP = (
    "search for an entry's seq (a decimal number), a grant id (a UUID), or a content hash, "
    "statement hash or key id (64 hex digits)"
)


def _match(kind: str, ident: str | int) -> dict[str, str]:
    paths = {"entry": "entries", "grant": "grants", "party": "parties", "content": "content"}
    return {"kind": kind, "id": str(ident), "api": f"/v1/{paths[kind]}/{ident}"}


def search(session: Session, query: str) -> dict[str, Any]:
    """What ``query`` names in the log, dispatched on its shape: a seq, a grant id, or 64 hex
    digits tried as a key id, a statement hash and a content hash (every kind that matches).
    Hex in lowercase (``normalize_query`` makes a typed one so); raises InvalidParameter for a
    query of no such shape. Never NotFound: no match is an empty list."""
    matches: list[dict[str, str]] = []
    if _SEQ.fullmatch(query):
        shape = "seq"
        if int(query) < signed_size(session):
            matches.append(_match("entry", int(query)))
    elif _UUID.fullmatch(query):
        shape = "grant_id"
        if repo.get_grant(session, query) is not None:
            matches.append(_match("grant", query))
    elif _HEX64.fullmatch(query):
        shape = "hex64"
        if repo.get_key(session, query) is not None:
            matches.append(_match("party", query))
        seq = repo.entry_seq_by_statement_hash(session, bytes.fromhex(query))
        if seq is not None and seq < signed_size(session):
            matches.append(_match("entry", seq))
        if repo.grants_for_content(session, query):
            matches.append(_match("content", query))
    else:
        raise InvalidParameter(SEARCH_HELP)
    return {"query": query, "shape": shape, "matches": matches}


def normalize_query(typed: str) -> str:
    """What a person typed, in the API's one spelling: without surrounding spaces, lowercase."""
    return typed.strip().lower()
