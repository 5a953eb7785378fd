"""The log service: decides whether statements may enter the log, and appends them.

``LogService.append`` takes statements whose shapes and signatures the core has already verified,
checks them against the log's state (the rules below), and appends the accepted ones in one
transaction that holds the append lock: leaves are chained, stored Merkle hashes appended, and a
checkpoint for the new tree size signed and stored. Results are returned only after the commit.

State rules, checked at append time in log order (422 ``StateError`` subclasses):
- ``party.register``: the key is new (``key_already_registered``).
- every other statement: the signer's key is registered (``unknown_key``) and neither rotated away
  nor revoked (``key_revoked``).
- ``key.rotate``: the new key is new. ``key.revoke``: the key exists, belongs to the signer's party
  (``not_key_owner``) and is still valid.
- ``grant``: the buyer key is registered and valid (``buyer_not_registered``/``key_revoked``), the
  grant id is unused (``grant_id_taken``).
- ``grant.accept``: the grant exists (``unknown_grant``), the signer is of the buyer's party
  (``not_grant_buyer``), once (``already_accepted``), not after a revocation (``grant_revoked``).
- ``grant.revoke``: the grant exists, the signer is of the creator's party (``not_grant_creator``),
  once (``already_revoked``). Once accepted, a grant is revocable only if its terms say so
  (``not_revocable``) and not earlier than its notice period after the revocation is logged
  (``notice_period``). An offer not yet accepted may always be withdrawn.
- ``issued_at`` lies no further in the future than the configured clock skew (``issued_in_future``).
- the same statement (by statement hash) is logged once (409 ``duplicate_statement``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ledger.core import merkle
from ledger.core.checkpoint import Checkpoint, sign_checkpoint
from ledger.core.errors import (
    AlreadyAccepted,
    AlreadyRevoked,
    BuyerNotRegistered,
    Conflict,
    DuplicateStatement,
    GrantIdTaken,
    GrantRevoked,
    IssuedInFuture,
    KeyAlreadyRegistered,
    KeyRevoked,
    LedgerError,
    NotGrantBuyer,
    NotGrantCreator,
    NoticePeriod,
    NotKeyOwner,
    NotRevocable,
    StateError,
    Unavailable,
    UnknownGrant,
    UnknownKey,
)
from ledger.core.leaf import GENESIS_PREV_HASH, Leaf, datetime_from_micros, leaf_hash, leaf_header
from ledger.core.note import NoteSigner
from ledger.core.sigcheck import SignatureCheck, cryptography_check
from ledger.core.statements import (
    Grant,
    GrantAccept,
    GrantRevoke,
    KeyRevoke,
    KeyRotate,
    PartyRegister,
    SignedStatement,
)
from ledger.server.storage import repository as repo
from ledger.server.storage.db import Database
from ledger.server.storage.models import (
    CheckpointRow,
    EntryRow,
    GrantContentRow,
    GrantEventRow,
    GrantRow,
    KeyEndRow,
    KeyRow,
    TreeHashRow,
)

# --- the state a statement is checked against ----------------------------------------------------


@dataclass
class KeyState:
    key_id: str
    party_id: str
    pseudonym: str
    ended: str | None  # None while valid; "rotated" or "revoked" after


@dataclass
class GrantState:
    grant_id: str
    statement_hash: bytes
    creator_party: str
    buyer_party: str
    revocable: bool
    notice_days: int | None
    accepted: bool
    revoked: bool


@dataclass
class StateView:
    """The derived state of the log as read in this transaction, plus this batch's own changes.

    ``seed`` takes what the append transaction read for a batch in one go
    (``repository.read_for_append``); the rules then read and update this in-memory view, so later
    statements of a batch see the effects of earlier ones. Anything not seeded is read on demand.
    """

    session: Session
    keys: dict[str, KeyState | None] = field(default_factory=dict)
    grants: dict[bytes, GrantState | None] = field(default_factory=dict)
    grant_ids: set[str] = field(default_factory=set)

    def seed(self, reads: repo.AppendReads, wanted: Referenced) -> None:
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

    def _load_keys(self, key_ids: set[str]) -> None:
        rows = repo.keys_by_id(self.session, key_ids)
        ends = repo.key_end_kinds(self.session, rows)
        for key_id in key_ids:
            row = rows.get(key_id)
            self.keys[key_id] = (
                None
                if row is None
                else KeyState(key_id, row.party_id, row.pseudonym, ends.get(key_id))
            )

    def _load_grants(self, hashes: set[bytes]) -> None:
        rows = repo.grants_by_hash(self.session, hashes)
        events = repo.events_for_grants(self.session, [r.grant_id for r in rows.values()])
        for h in hashes:
            row = rows.get(h)
            self.grants[h] = None if row is None else _grant_state(row, events[row.grant_id])

    def key(self, key_id: str) -> KeyState | None:
        if key_id not in self.keys:
            self._load_keys({key_id})
        return self.keys[key_id]

    def grant(self, statement_hash: bytes) -> GrantState | None:
        if statement_hash not in self.grants:
            self._load_grants({statement_hash})
        return self.grants[statement_hash]

    def grant_id_taken(self, grant_id: str) -> bool:
        return grant_id in self.grant_ids or repo.get_grant(self.session, grant_id) is not None


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


@dataclass
class Referenced:
    """The keys, grants and grant ids a batch refers to: what its rules will look up."""

    key_ids: set[str] = field(default_factory=set)
    grant_hashes: set[bytes] = field(default_factory=set)
    new_grant_ids: set[str] = field(default_factory=set)

    @classmethod
    def by(cls, batch: Sequence[SignedStatement]) -> Referenced:
        out = cls()
        for signed in batch:
            stmt = signed.statement
            out.key_ids.add(stmt.signer)
            if isinstance(stmt, KeyRotate):
                out.key_ids.add(stmt.new_public_key.key_id)
            elif isinstance(stmt, KeyRevoke):
                out.key_ids.add(stmt.key_id)
            elif isinstance(stmt, Grant):
                out.key_ids.add(stmt.buyer)
                out.new_grant_ids.add(stmt.grant_id)
            elif isinstance(stmt, GrantAccept | GrantRevoke):
                out.grant_hashes.add(bytes.fromhex(stmt.grant_hash))
            elif not isinstance(stmt, PartyRegister):  # the signer is all it refers to
                raise TypeError(f"no lookups defined for statement type {stmt.type_name!r}")
        return out


# --- the rules -----------------------------------------------------------------------------------


@dataclass
class Effects:
    """Rows for the derived-index tables, keyed by model."""

    rows: list[tuple[type, dict[str, Any]]] = field(default_factory=list)

    def add(self, model: type, **row: Any) -> None:
        self.rows.append((model, row))


def _valid_key(state: StateView, key_id: str, error: type[StateError] = UnknownKey) -> KeyState:
    key = state.key(key_id)
    if key is None:
        raise error(f"key {key_id} is not registered")
    if key.ended is not None:
        raise KeyRevoked(f"key {key_id} was {key.ended}")
    return key


def _check_register(state: StateView, stmt: PartyRegister, seq: int, fx: Effects) -> None:
    if state.key(stmt.signer) is not None:
        raise KeyAlreadyRegistered(f"key {stmt.signer} is already registered")
    state.keys[stmt.signer] = KeyState(stmt.signer, stmt.signer, stmt.pseudonym, None)
    fx.add(
        KeyRow,
        key_id=stmt.signer,
        party_id=stmt.signer,
        public_key=stmt.public_key.raw,
        pseudonym=stmt.pseudonym,
        seq=seq,
    )


def _check_rotate(state: StateView, stmt: KeyRotate, seq: int, fx: Effects) -> None:
    old = _valid_key(state, stmt.signer)
    new_id = stmt.new_public_key.key_id
    if state.key(new_id) is not None:
        raise KeyAlreadyRegistered(f"key {new_id} is already registered")
    old.ended = "rotated"
    state.keys[new_id] = KeyState(new_id, old.party_id, old.pseudonym, None)
    fx.add(
        KeyRow,
        key_id=new_id,
        party_id=old.party_id,
        public_key=stmt.new_public_key.raw,
        pseudonym=old.pseudonym,
        seq=seq,
    )
    fx.add(KeyEndRow, key_id=old.key_id, seq=seq, kind="rotated")


def _check_key_revoke(state: StateView, stmt: KeyRevoke, seq: int, fx: Effects) -> None:
    signer = _valid_key(state, stmt.signer)
    target = state.key(stmt.key_id)
    if target is None:
        raise UnknownKey(f"key {stmt.key_id} is not registered")
    if target.party_id != signer.party_id:
        raise NotKeyOwner("a key may be revoked only by a key of the same party")
    if target.ended is not None:
        raise KeyRevoked(f"key {stmt.key_id} was already {target.ended}")
    target.ended = "revoked"
    fx.add(KeyEndRow, key_id=stmt.key_id, seq=seq, kind="revoked")


def _check_grant(
    state: StateView, stmt: Grant, seq: int, fx: Effects, signed: SignedStatement
) -> None:
    # A party has one valid key at a time and the core refuses buyer == signer, so the buyer is
    # always another party here.
    creator = _valid_key(state, stmt.signer)
    buyer = _valid_key(state, stmt.buyer, BuyerNotRegistered)
    if state.grant_id_taken(stmt.grant_id):
        raise GrantIdTaken(f"grant id {stmt.grant_id} is already in the log")
    state.grant_ids.add(stmt.grant_id)
    terms = stmt.terms
    state.grants[signed.statement_hash] = GrantState(
        stmt.grant_id,
        signed.statement_hash,
        creator.party_id,
        buyer.party_id,
        terms.revocable,
        terms.notice_days,
        accepted=False,
        revoked=False,
    )
    fx.add(
        GrantRow,
        grant_id=stmt.grant_id,
        seq=seq,
        statement_hash=signed.statement_hash,
        creator_party=creator.party_id,
        buyer_party=buyer.party_id,
        revocable=terms.revocable,
        notice_days=terms.notice_days,
    )
    for item in stmt.content:
        fx.add(GrantContentRow, sha256=item.sha256, grant_id=stmt.grant_id)


def _grant_for(state: StateView, grant_hash: str) -> GrantState:
    grant = state.grant(bytes.fromhex(grant_hash))
    if grant is None:
        raise UnknownGrant(f"no grant with statement hash {grant_hash}")
    return grant


def _check_accept(state: StateView, stmt: GrantAccept, seq: int, fx: Effects) -> None:
    signer = _valid_key(state, stmt.signer)
    grant = _grant_for(state, stmt.grant_hash)
    if signer.party_id != grant.buyer_party:
        raise NotGrantBuyer("only the buyer named in the grant may accept it")
    if grant.accepted:
        raise AlreadyAccepted(f"grant {grant.grant_id} was already accepted")
    if grant.revoked:
        raise GrantRevoked(f"grant {grant.grant_id} was revoked")
    grant.accepted = True
    fx.add(GrantEventRow, grant_id=grant.grant_id, kind="accept", seq=seq, effective_at=None)


def _check_grant_revoke(
    state: StateView, stmt: GrantRevoke, seq: int, fx: Effects, now: datetime
) -> None:
    signer = _valid_key(state, stmt.signer)
    grant = _grant_for(state, stmt.grant_hash)
    if signer.party_id != grant.creator_party:
        raise NotGrantCreator("only the grant's creator may revoke it")
    if grant.revoked:
        raise AlreadyRevoked(f"grant {grant.grant_id} was already revoked")
    if grant.accepted:
        if not grant.revocable:
            raise NotRevocable(f"grant {grant.grant_id} is not revocable under its terms")
        earliest = now + timedelta(days=grant.notice_days or 0)
        if stmt.effective_at < earliest.replace(microsecond=0):
            raise NoticePeriod(
                f"with {grant.notice_days} days' notice the revocation may take effect "
                f"at {earliest.strftime('%Y-%m-%dT%H:%M:%SZ')} at the earliest",
                earliest=earliest.isoformat(),
            )
    grant.revoked = True
    fx.add(
        GrantEventRow,
        grant_id=grant.grant_id,
        kind="revoke",
        seq=seq,
        effective_at=stmt.effective_at,
    )


def check_statement(
    state: StateView, signed: SignedStatement, seq: int, now: datetime, skew: timedelta
) -> Effects:
    """Apply the state rules to one statement about to get ``seq``; raises a StateError."""
    stmt = signed.statement
    if stmt.issued_at > now + skew:
        raise IssuedInFuture(f"issued_at {stmt.issued_at.isoformat()} is ahead of the log clock")
    fx = Effects()
    if isinstance(stmt, PartyRegister):
        _check_register(state, stmt, seq, fx)
    elif isinstance(stmt, KeyRotate):
        _check_rotate(state, stmt, seq, fx)
    elif isinstance(stmt, KeyRevoke):
        _check_key_revoke(state, stmt, seq, fx)
    elif isinstance(stmt, Grant):
        _check_grant(state, stmt, seq, fx, signed)
    elif isinstance(stmt, GrantAccept):
        _check_accept(state, stmt, seq, fx)
    elif isinstance(stmt, GrantRevoke):
        _check_grant_revoke(state, stmt, seq, fx, now)
    else:  # a type without rules must not enter the log with only the issued_at check
        raise TypeError(f"no append rules for statement type {stmt.type_name!r}")
    return fx


# --- appending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Appended:
    seq: int
    leaf_hash: bytes
    integrated_at: datetime
    statement_hash: bytes
    #: The tree size committed with this entry: a checkpoint exists at exactly this size.
    tree_size: int = 0


Result = Appended | LedgerError
#: Called after each append transaction commits, with the batch and its results (for metrics).
CommitHook = Callable[[Sequence[SignedStatement], list[Result]], None]
_log = logging.getLogger(__name__)


class LogService:
    """Appends statements to the log and signs a checkpoint for every published tree size."""

    def __init__(
        self,
        db: Database,
        signer: NoteSigner,
        *,
        clock_skew: timedelta = timedelta(minutes=5),
        clock: Callable[[], int] = time.time_ns,
        on_commit: CommitHook | None = None,
        signature_check: SignatureCheck = cryptography_check,
    ) -> None:
        self.db = db
        #: The Ed25519 primitive that ``read_envelope`` verifies incoming statements with.
        self.signature_check = signature_check
        self.signer = signer
        self.origin = signer.name
        self.clock_skew = clock_skew
        self._clock = clock
        self.on_commit = on_commit
        #: The border of the tree this process last committed (merkle.border_indexes): the next
        #: transaction reads only the hashes stored since, with its other reads.
        self._border: _Border | None = None

    def read_envelope(self, envelope: object) -> SignedStatement:
        """A wire envelope parsed and its signatures verified (``SignedStatement.from_json``)
        with this service's primitive; raises InvalidStatement or BadSignature."""
        return SignedStatement.from_json(envelope, check=self.signature_check)

    def now_micros(self) -> int:
        """The log's clock (microseconds since the epoch): the time source of every append."""
        return self._clock() // 1000

    def append_one(self, signed: SignedStatement) -> Appended:
        """Append one statement or raise its error (nothing is written on error)."""
        (result,) = self.append([signed])
        if isinstance(result, LedgerError):
            raise result
        return result

    def append(self, batch: Sequence[SignedStatement]) -> list[Result]:
        """Append the acceptable statements of ``batch`` together; one result per statement.

        Raises Unavailable if the database cannot be reached or the transaction fails; in that
        case nothing was written.
        """
        return self.append_taken(lambda: batch)[1]

    def append_taken(
        self, take: Callable[[], Sequence[SignedStatement]]
    ) -> tuple[Sequence[SignedStatement], list[Result]]:
        """Like ``append``, for the batch that ``take()`` returns once the append lock is held.

        Group commit uses this: statements that arrive while this process waits for another
        writer's transaction still join this one. Returns the batch and its results; nothing is
        written, and Unavailable or Conflict is raised, if the transaction fails.
        """
        batch: Sequence[SignedStatement] = ()
        border: _Border | None = None
        try:
            with self.db.append_transaction() as session:
                batch = take()
                results, border = self._append_locked(session, batch) if batch else ([], None)
        except IntegrityError as e:  # only a bug or a foreign writer can get past the lock
            raise Conflict("the log changed concurrently; retry") from e
        except DBAPIError as e:
            raise Unavailable("the database is unavailable; nothing was written") from e
        if border is not None:  # committed: its hashes are stored for good
            self._border = border
        if self.on_commit is not None and batch:
            self._notify(batch, results)
        return batch, results

    def _notify(self, batch: Sequence[SignedStatement], results: list[Result]) -> None:
        # The transaction has committed: a failing observer (metrics) must not turn it into an
        # error for the caller, who would then retry an append that is already in the log.
        assert self.on_commit is not None
        try:
            self.on_commit(batch, results)
        except Exception:
            _log.exception("the commit hook failed (the append itself committed)")

    def _append_locked(
        self, session: Session, batch: Sequence[SignedStatement]
    ) -> tuple[list[Result], _Border | None]:
        wanted = Referenced.by(batch)
        border = self._border
        reads = repo.read_for_append(
            session,
            statement_hashes=[s.statement_hash for s in batch],
            key_ids=wanted.key_ids,
            grant_hashes=wanted.grant_hashes,
            grant_ids=wanted.new_grant_ids,
            border_size=None if border is None else border.size,
        )
        reader = repo.SessionHashReader(session)
        if (
            border is not None
            and reads.hashes_since is not None
            and reads.border_root == border.root  # the same log (not a database switched under us)
        ):
            # The border of the tree now is made of these (see merkle.border_indexes): no read.
            reader.known.update(border.hashes)
            reader.known.update(reads.hashes_since)
        last = reads.last
        size = 0 if last is None else last[0] + 1
        prev_hash = GENESIS_PREV_HASH if last is None else last[1]
        last_us = 0 if last is None else leaf_header(last[2]).integrated_at
        now_us = max(self._clock() // 1000, last_us)
        now = datetime_from_micros(now_us)
        existing = reads.existing
        state = StateView(session)
        state.seed(reads, wanted)
        results: list[Result] = []
        entry_rows: list[dict[str, Any]] = []
        index_rows: list[tuple[type, dict[str, Any]]] = []
        seen: dict[bytes, int] = {}
        for signed in batch:
            h = signed.statement_hash
            dup = existing.get(h, seen.get(h))
            if dup is not None:
                results.append(
                    DuplicateStatement(f"statement already logged at seq {dup}", seq=dup)
                )
                continue
            seq = size + len(entry_rows)
            try:
                fx = check_statement(state, signed, seq, now, self.clock_skew)
                leaf = Leaf(seq, now_us, prev_hash, signed).to_bytes()
            except LedgerError as e:
                results.append(e)
                continue
            prev_hash = leaf_hash(leaf)
            seen[h] = seq
            entry_rows.append(_entry_row(seq, leaf, prev_hash, signed, now))
            index_rows.extend(fx.rows)
            results.append(Appended(seq, prev_hash, now, h))
        if not entry_rows:
            return results, None
        new_size = size + len(entry_rows)
        root = self._write(session, reader, size, entry_rows, index_rows, now)
        hashes = {i: reader.known[i] for i in merkle.border_indexes(new_size)}
        done = [replace(r, tree_size=new_size) if isinstance(r, Appended) else r for r in results]
        return done, _Border(new_size, root, hashes)

    def _write(
        self,
        session: Session,
        reader: repo.SessionHashReader,
        size: int,
        entry_rows: list[dict[str, Any]],
        index_rows: list[tuple[type, dict[str, Any]]],
        now: datetime,
    ) -> bytes:
        """Insert the entries, their index rows, stored hashes and checkpoint; the new root."""
        leaf_hashes = [r["leaf_hash"] for r in entry_rows]
        new_hashes = merkle.stored_hashes_for_leaves(size, leaf_hashes, reader)
        start = merkle.stored_hash_count(size)
        reader.known.update({start + i: h for i, h in enumerate(new_hashes)})
        new_size = size + len(entry_rows)
        # The root needs only hashes the reader has now (the new ones and the old border it read).
        root = merkle.tree_hash(new_size, reader)
        note = sign_checkpoint(Checkpoint(self.origin, new_size, root), self.signer)
        by_model: dict[type, list[dict[str, Any]]] = {m: [] for m in _INDEX_INSERT_ORDER}
        for model, row in index_rows:
            by_model[model].append(row)
        repo.insert_all(  # one round trip on PostgreSQL; parents before children (foreign keys)
            session,
            [
                (EntryRow, entry_rows),
                *((m, by_model[m]) for m in _INDEX_INSERT_ORDER),
                (TreeHashRow, [{"idx": start + i, "hash": h} for i, h in enumerate(new_hashes)]),
                (CheckpointRow, [repo.checkpoint_row(new_size, root, note, now)]),
            ],
        )
        return root


@dataclass(frozen=True)
class _Border:
    """The stored hashes of the complete subtrees that make up the tree of ``size`` leaves, and
    its root (which tells that a database holds the same log)."""

    size: int
    root: bytes
    hashes: dict[int, bytes]


_INDEX_INSERT_ORDER: tuple[type, ...] = (
    KeyRow,
    KeyEndRow,
    GrantRow,
    GrantContentRow,
    GrantEventRow,
)


def _entry_row(
    seq: int, leaf: bytes, leaf_hash_: bytes, signed: SignedStatement, now: datetime
) -> dict[str, Any]:
    return {
        "seq": seq,
        "leaf": leaf,
        "leaf_hash": leaf_hash_,
        "statement_hash": signed.statement_hash,
        "type": signed.type_name,
        "signer": signed.statement.signer,
        "integrated_at": now,
    }


class _Slot:
    __slots__ = ("result", "signed", "wake")

    def __init__(self, signed: SignedStatement) -> None:
        self.signed = signed
        self.result: Result | None = None
        # Set when ``result`` is set, or when this slot heads the queue and no one leads.
        self.wake = threading.Event()


class GroupCommitter:
    """Group commit for single appends: concurrent requests of one process share a transaction.

    Each caller queues its statement and then tries to take the leader lock. Whoever holds it opens
    the append transaction and, once it holds the log's append lock, takes every statement queued
    so far (up to ``max_batch``) and appends them together, so one lock round and one commit serve
    many requests; statements that arrive while another process holds the append lock join the
    next transaction rather than waiting for one of their own. Results are per statement, as with
    ``append``; a caller returns only after the transaction holding its statement committed. If
    that transaction fails, every statement in it gets the same error and nothing of it was written.

    A caller whose statement was taken is woken as soon as its result is set: it does not queue for
    the leader lock behind the next transaction to learn it (the commit latency would double, and
    under gevent, whose locks let newcomers barge in, some callers waited hundreds of
    milliseconds). A leader that finishes wakes the head of the queue, if any, to lead next.
    """

    def __init__(self, service: LogService, max_batch: int = 256) -> None:
        self.service = service
        self.max_batch = max_batch
        self._queue: list[_Slot] = []
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()

    def queued(self) -> int:
        """How many statements wait to be taken into a transaction."""
        with self._queue_lock:
            return len(self._queue)

    def append_one(self, signed: SignedStatement) -> Appended:
        """Append one statement or raise its error, like ``LogService.append_one``."""
        slot = _Slot(signed)
        with self._queue_lock:
            self._queue.append(slot)
        # The queue is appended to before the leader lock is tried, and a leader looks at the
        # queue only after releasing the lock, so a statement is never left queued with no one
        # to lead it: either this caller gets the lock or the current leader wakes the queue head.
        while slot.result is None:
            if self._leader.acquire(blocking=False):
                try:
                    if slot.result is None:
                        self._lead()
                finally:
                    self._leader.release()
                    self._wake_head()
            else:
                slot.wake.wait()
                slot.wake.clear()  # the loop re-checks the result; a later wake sets it again
        if isinstance(slot.result, LedgerError):
            raise slot.result
        return slot.result

    def _lead(self) -> None:
        # The batch is taken only once the append lock is held: whatever queued up while another
        # process's transaction held the lock joins this transaction.
        taken: list[_Slot] = []

        def take() -> list[SignedStatement]:
            with self._queue_lock:
                taken.extend(self._queue[: self.max_batch])
                del self._queue[: self.max_batch]
            return [s.signed for s in taken]

        results: list[Result] | None = None
        failure: LedgerError = Unavailable("the append failed; nothing was written")
        try:
            _, results = self.service.append_taken(take)
        except LedgerError as e:
            failure = e
        finally:  # even on a bug: a slot left without a result would be waited for forever
            if results is None:
                if not taken:  # failed before the lock (e.g. no database): fail what waits now
                    take()
                results = [failure] * len(taken)
            for slot, result in zip(taken, results, strict=True):
                slot.result = result
                slot.wake.set()

    def _wake_head(self) -> None:
        """After a leader let go: the first statement still queued, if any, tries to lead next."""
        with self._queue_lock:
            if self._queue:
                self._queue[0].wake.set()
