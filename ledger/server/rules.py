"""The append rules, applied strictly over the database (``ledger.core.logstate`` defines them).

``DatabaseState`` is the core's ``StateView`` over one append transaction: ``seed`` takes what the
transaction read for the whole batch in one go (``repository.read_for_append``), anything else is
read on demand, and the batch's own effects are applied to it so that later statements of a batch
see earlier ones. ``check_statement`` runs the core's rule for one statement and returns the rows
its effects add to the derived index tables (``INDEX_INSERT_ORDER``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from ledger.core import logstate
from ledger.core.logstate import (
    AcceptGrant,
    AddGrant,
    AddKey,
    At,
    Effect,
    EndKey,
    GrantState,
    KeyState,
    LogState,
    Refs,
    RevokeGrant,
)
from ledger.core.statements import SignedStatement
from ledger.server.storage import repository as repo
from ledger.server.storage.models import (
    GrantContentRow,
    GrantEventRow,
    GrantRow,
    KeyEndRow,
    KeyRow,
)

#: Index rows: (model, column values).
IndexRow = tuple[type, dict[str, Any]]


class DatabaseState(LogState):
    """The log's state as read in this transaction, plus this batch's own effects."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        #: The grant ids whose use ``seed`` read: one not in ``grant_ids`` then is free (unless
        #: this batch takes it, which ``apply`` adds), with no query of its own.
        self.grant_ids_read: set[str] = set()

    def seed(self, reads: repo.AppendReads, wanted: Refs) -> None:
        for key_id in wanted.key_ids:
            found = reads.keys.get(key_id)
            self.keys[key_id] = (
                None
                if found is None
                else KeyState(key_id, found[0], found[1], reads.key_ends.get(key_id))
            )
        for h in wanted.grant_hashes:
            row = reads.grants.get(h)
            self.grants[h] = (
                None if row is None else _grant_state(row, reads.grant_events.get(row[0], set()))
            )
        self.grant_ids |= reads.taken_grant_ids
        self.grant_ids_read |= wanted.grant_ids

    def key(self, key_id: str) -> KeyState | None:
        if key_id not in self.keys:
            rows = repo.keys_by_id(self.session, {key_id})
            ends = repo.key_end_kinds(self.session, rows)
            row = rows.get(key_id)
            self.keys[key_id] = (
                None
                if row is None
                else KeyState(key_id, row.party_id, row.pseudonym, ends.get(key_id))
            )
        return self.keys[key_id]

    def grant(self, statement_hash: bytes) -> GrantState | None:
        if statement_hash not in self.grants:
            rows = repo.grants_by_hash(self.session, {statement_hash})
            events = repo.events_for_grants(self.session, [r.grant_id for r in rows.values()])
            row = rows.get(statement_hash)
            self.grants[statement_hash] = (
                None if row is None else _grant_state(row, events[row.grant_id])
            )
        return self.grants[statement_hash]

    def grant_id_taken(self, grant_id: str) -> bool:
        if grant_id in self.grant_ids:
            return True
        if grant_id in self.grant_ids_read:
            return False
        self.grant_ids_read.add(grant_id)
        if repo.get_grant(self.session, grant_id) is None:
            return False
        self.grant_ids.add(grant_id)
        return True


def _grant_state(row: Sequence[Any], events: set[str]) -> GrantState:
    grant_id, statement_hash, creator_party, buyer_party, revocable, notice_days = row
    return GrantState(
        grant_id=grant_id,
        statement_hash=bytes(statement_hash),
        creator_party=creator_party,
        buyer_party=buyer_party,
        revocable=bool(revocable),
        notice_days=notice_days,
        accepted="accept" in events,
        revoked="revoke" in events,
    )


def referenced(batch: Sequence[SignedStatement]) -> Refs:
    """The keys, grants and grant ids a batch's rules will look up."""
    return logstate.referenced(s.statement for s in batch)


# --- effects as index rows ------------------------------------------------------------------------


def _key_rows(e: AddKey, seq: int) -> list[IndexRow]:
    key = e.key
    row = {
        "key_id": key.key_id,
        "party_id": key.party_id,
        "public_key": e.public_key,
        "pseudonym": key.pseudonym,
        "seq": seq,
    }
    return [(KeyRow, row)]


def _key_end_rows(e: EndKey, seq: int) -> list[IndexRow]:
    return [(KeyEndRow, {"key_id": e.key_id, "seq": seq, "kind": e.kind})]


def _grant_rows(e: AddGrant, seq: int) -> list[IndexRow]:
    g = e.grant
    grant = {
        "grant_id": g.grant_id,
        "seq": seq,
        "statement_hash": g.statement_hash,
        "creator_party": g.creator_party,
        "buyer_party": g.buyer_party,
        "revocable": g.revocable,
        "notice_days": g.notice_days,
    }
    rows: list[IndexRow] = [(GrantRow, grant)]
    rows.extend((GrantContentRow, {"sha256": h, "grant_id": g.grant_id}) for h in e.content)
    return rows


def _accept_rows(e: AcceptGrant, seq: int) -> list[IndexRow]:
    event = {"grant_id": e.grant.grant_id, "kind": "accept", "seq": seq, "effective_at": None}
    return [(GrantEventRow, event)]


def _revoke_rows(e: RevokeGrant, seq: int) -> list[IndexRow]:
    event = {
        "grant_id": e.grant.grant_id,
        "kind": "revoke",
        "seq": seq,
        "effective_at": e.effective_at,
    }
    return [(GrantEventRow, event)]


#: How each kind of effect is stored (``logstate.EFFECTS``; a test checks that none is missing).
ROWS: Final[Mapping[type, Callable[[Any, int], list[IndexRow]]]] = {
    AddKey: _key_rows,
    EndKey: _key_end_rows,
    AddGrant: _grant_rows,
    AcceptGrant: _accept_rows,
    RevokeGrant: _revoke_rows,
}

#: Parents before children (foreign keys).
INDEX_INSERT_ORDER: Final[tuple[type, ...]] = (
    KeyRow,
    KeyEndRow,
    GrantRow,
    GrantContentRow,
    GrantEventRow,
)


def rows_for(effects: Sequence[Effect], seq: int) -> list[IndexRow]:
    rows: list[IndexRow] = []
    for effect in effects:
        write = ROWS.get(type(effect))
        if write is None:
            raise TypeError(f"no index rows for effect {type(effect).__name__}")
        rows.extend(write(effect, seq))
    return rows


def check_statement(
    state: DatabaseState, signed: SignedStatement, seq: int, now: datetime, skew: timedelta
) -> list[IndexRow]:
    """Apply the rules to one statement about to get ``seq``: its index rows; raises StateError
    (nothing changed) or TypeError for a statement type without a rule."""
    effects = logstate.check_statement(
        state, signed.statement, At(signed.statement_hash, now), skew
    )
    state.apply(effects)
    return rows_for(effects, seq)
