"""The log service: decides whether statements may enter the log, and appends them.

``LogService.append`` takes statements whose shapes and signatures the core has already verified,
checks them against the log's state (the rules below) and appends the accepted ones in one
transaction that holds the append lock: leaves are chained, stored Merkle hashes appended, the
licence map updated with the new entries (docs/FORMAT.md §14), and a checkpoint for the new tree
size, committing both roots, signed and stored. Results are returned only after the commit.

The state rules (422 ``StateError`` subclasses: unknown or revoked keys, grant ownership, double
acceptance, notice periods, ``issued_at`` ahead of the log clock, ...) are defined once, per
statement type, in ``ledger.core.logstate`` (docs/FORMAT.md §3.6) and applied here through
``ledger.server.rules`` over the transaction's reads; a statement already logged (by statement
hash) is refused first (409 ``duplicate_statement``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ledger.core import merkle
from ledger.core.checkpoint import sign_checkpoint
from ledger.core.errors import (
    Conflict,
    DuplicateStatement,
    LedgerError,
    ReadOnlyDatabase,
    Unavailable,
)
from ledger.core.leaf import (
    GENESIS_PREV_HASH,
    Leaf,
    datetime_from_micros,
    leaf_hash,
    leaf_header,
    parse_leaf,
)
from ledger.core.licmap import MAP_VERSION, KeyParties, LicenceMap, map_checkpoint
from ledger.core.note import NoteSigner
from ledger.core.sigcheck import SignatureCheck, cryptography_check
from ledger.core.statements import SignedStatement
from ledger.server import rules
from ledger.server.storage import repository as repo
from ledger.server.storage.db import Database, is_read_only_error
from ledger.server.storage.mapstore import DbNodeStore, NodeCache
from ledger.server.storage.models import CheckpointRow, EntryRow, MapNodeRow, TreeHashRow

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
        #: Licence map nodes this process has read or written (they never change), and the log
        #: size up to which it holds every node written (the next append reads only the nodes
        #: other processes wrote since, with its other reads, so its paths need no query).
        self._map_nodes = NodeCache()
        self._map_synced: tuple[int, int] | None = None  # (log size, cache generation)

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
            if is_read_only_error(e):
                raise ReadOnlyDatabase(
                    "this server's database is a read-only replica: send appends to the primary"
                    " (reads may stay here); nothing was written"
                ) from e
            raise Unavailable("the database is unavailable; nothing was written") from e
        if border is not None:  # committed: its hashes are stored for good
            self._border = border
            # Every node up to this size is cached now: read, caught up, or written (unless the
            # cache was emptied meanwhile, which the generation tells).
            self._map_synced = (border.size, self._map_nodes.generation)
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
        wanted = rules.referenced(batch)
        border = self._border
        reads = repo.read_for_append(
            session,
            statement_hashes=[s.statement_hash for s in batch],
            key_ids=wanted.key_ids,
            grant_hashes=wanted.grant_hashes,
            grant_ids=wanted.grant_ids,
            border_size=None if border is None else border.size,
            map_size=self._map_synced_size(),
        )
        if reads.map_nodes_since is not None:
            self._map_nodes.add_encoded(reads.map_nodes_since)
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
        state = rules.DatabaseState(session)
        state.seed(reads, wanted)
        results: list[Result] = []
        entry_rows: list[dict[str, Any]] = []
        index_rows: list[rules.IndexRow] = []
        seen: dict[bytes, int] = {}
        accepted: list[tuple[int, SignedStatement]] = []
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
                rows = rules.check_statement(state, signed, seq, now, self.clock_skew)
                leaf = Leaf(seq, now_us, prev_hash, signed).to_bytes()
            except LedgerError as e:
                results.append(e)
                continue
            prev_hash = leaf_hash(leaf)
            seen[h] = seq
            accepted.append((seq, signed))
            entry_rows.append(_entry_row(seq, leaf, prev_hash, signed, now))
            index_rows.extend(rows)
            results.append(Appended(seq, prev_hash, now, h))
        if not entry_rows:
            return results, None
        new_size = size + len(entry_rows)
        licence_map = self._licence_map(session, reads, size)
        licence_map.apply_statements(accepted)
        root = self._write(session, reader, size, entry_rows, index_rows, now, licence_map)
        hashes = {i: reader.known[i] for i in merkle.border_indexes(new_size)}
        done = [replace(r, tree_size=new_size) if isinstance(r, Appended) else r for r in results]
        return done, _Border(new_size, root, hashes)

    def _write(
        self,
        session: Session,
        reader: repo.SessionHashReader,
        size: int,
        entry_rows: list[dict[str, Any]],
        index_rows: list[rules.IndexRow],
        now: datetime,
        licence_map: LicenceMap,
    ) -> bytes:
        """Insert the entries, their index rows, stored hashes, map nodes and checkpoint; the new
        root."""
        leaf_hashes = [r["leaf_hash"] for r in entry_rows]
        new_hashes = merkle.stored_hashes_for_leaves(size, leaf_hashes, reader)
        start = merkle.stored_hash_count(size)
        reader.known.update({start + i: h for i, h in enumerate(new_hashes)})
        new_size = size + len(entry_rows)
        # The root needs only hashes the reader has now (the new ones and the old border it read).
        root = merkle.tree_hash(new_size, reader)
        map_root = licence_map.root
        cp = map_checkpoint(self.origin, new_size, root, map_root, licence_map.map_version)
        note = sign_checkpoint(cp, self.signer)
        store = licence_map.tree.store
        assert isinstance(store, DbNodeStore)
        by_model: dict[type, list[dict[str, Any]]] = {m: [] for m in rules.INDEX_INSERT_ORDER}
        for model, row in index_rows:
            by_model[model].append(row)
        repo.insert_all(  # one round trip on PostgreSQL; parents before children (foreign keys)
            session,
            [
                (EntryRow, entry_rows),
                *((m, by_model[m]) for m in rules.INDEX_INSERT_ORDER),
                (TreeHashRow, [{"idx": start + i, "hash": h} for i, h in enumerate(new_hashes)]),
                (MapNodeRow, store.node_rows(new_size)),
                (CheckpointRow, [repo.checkpoint_row(new_size, root, note, now, map_root)]),
            ],
        )
        return root

    def _map_synced_size(self) -> int | None:
        synced = self._map_synced
        if synced is None or synced[1] != self._map_nodes.generation:
            return None
        return synced[0]

    def _licence_map(self, session: Session, reads: repo.AppendReads, size: int) -> LicenceMap:
        """The licence map at ``size`` (the log's size under the lock), ready to apply the batch:
        the key parties the batch's key statements need come from the keys the rules read."""
        parties = KeyParties({key_id: party for key_id, (party, _) in reads.keys.items()})
        head = reads.map_head
        store = DbNodeStore(session, self._map_nodes)
        if head is not None and head[0] == size and head[1] is not None and head[2] == MAP_VERSION:
            store.put_root(size, head[1])
            return LicenceMap(store, size=size, parties=parties, version=MAP_VERSION)
        # A log whose checkpoints predate the map (revision 0003), or commit an older map
        # version (FORMAT §14.6): derive the map of the whole log once, in this transaction,
        # before the batch (the key parties from scratch too). Older versions' nodes and roots
        # stay stored: the checkpoints that commit them still prove from them.
        _log.warning(
            "deriving the licence map (version %d) of the %d entries logged before it",
            MAP_VERSION,
            size,
        )
        licence_map = LicenceMap(store, version=MAP_VERSION)
        step = 10_000
        licence_map.apply(  # one version, as an audit's replay derives it
            parse_leaf(data, check=self.signature_check)
            for start in range(0, size, step)
            for data in repo.entry_leaves(session, start, min(size, start + step))
        )
        store.forget_stored()  # an older version's nodes it shares are stored already
        return licence_map


@dataclass(frozen=True)
class _Border:
    """The stored hashes of the complete subtrees that make up the tree of ``size`` leaves, and
    its root (which tells that a database holds the same log)."""

    size: int
    root: bytes
    hashes: dict[int, bytes]


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
