"""The operator's audit: the log's tables read directly (read-only), every row checked.

``audit_database(url, verifier)`` reads one consistent snapshot (PostgreSQL: a REPEATABLE READ,
READ ONLY transaction; SQLite: a read-only connection in one read transaction) and checks:

* ``log_meta``: the database belongs to the log whose key and origin the operator gave;
* ``entries``: rows are seqs 0..n-1 without gaps; every leaf passes ``core.auditing.check_leaf``
  (framing, seq, signatures; ``strict``: the statement too, and the append rules replayed in order
  name the first entry the log should have refused) and chains to the previous one (``ChainState``);
  the ``leaf_hash``, ``statement_hash``, ``type``, ``signer`` and ``integrated_at`` columns are
  those of the leaf;
* ``tree_hashes``: exactly ``stored_hash_count(n)`` rows, each equal to the hash recomputed from
  the leaves (tlog layout, via ``merkle.stored_hashes_for_leaves`` over a ``CompactRange``);
* ``checkpoints``: each note verifies under the log key, its size and root are the row's columns,
  its root is the root of the leaves up to its size; none lies beyond the log, and one exists at
  the head;
* the licence map (FORMAT §14): recomputed from the entries (``core.mapaudit.MapReplay``, one
  version per checkpoint, only the latest kept in memory), its root must be the one each note
  commits in its map line, of the map version the line names (``consent-ledger/map/v2``, or
  ``v1`` before the log moved to version 2: both derived while any note is ``v1``, FORMAT
  §14.6; a ``v1`` note after a ``v2`` one is a ``map_root_mismatch``) (``map_root_mismatch``,
  naming the first key that
  differs, found by walking the stored nodes of the signed root down where they differ from the
  recomputed ones). A note without the line is a checkpoint signed before the log committed its
  map, unless an earlier one had the line (``map_root_missing``). The ``map_root`` column must be
  the root the note commits (NULL for a note without the line), as proofs are walked from it
  (``checkpoint_row_mismatch``);
* ``map_nodes``: every stored node is the node its hash names (``map_node_mismatch``), so every
  proof the server walks from a signed root is one a verifier accepts.

Memory stays flat: the three tables are streamed in key order side by side. Each table reports
its first failure (``Failure.table`` and ``row`` say which row, ``message`` what differs); a
damaged leaf therefore also shows in the tree hashes and checkpoints that cover it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from ledger.core import merkle
from ledger.core.auditing import (
    AuditStop,
    ChainState,
    EntryProblem,
    Failure,
    FailureCode,
    LeafFacts,
    check_leaf,
    check_rules,
    map_missing_failure,
    map_root_failure,
    map_version_failure,
)
from ledger.core.checkpoint import Checkpoint, open_checkpoint
from ledger.core.errors import InvalidParameter, LedgerError, MapRootMissing, NotFound
from ledger.core.leaf import format_log_time, micros_from_datetime
from ledger.core.licmap import MAP_LINE_PREFIXES, MAP_VERSION, AuditedStatement, checkpoint_map
from ledger.core.logstate import AcceptanceReplay
from ledger.core.mapaudit import MapReplay, checked_reader, first_difference
from ledger.core.note import NoteVerifier
from ledger.core.statements import parse_statement
from ledger.core.vmap import MapNode, decode_node, hash_of
from ledger.server.storage.models import (
    CheckpointRow,
    EntryRow,
    LogMetaRow,
    MapNodeRow,
    TreeHashRow,
)

CHUNK = 2000


@dataclass
class DbAuditReport:
    """``bool(report)`` is True when no table has a failure; ``failures`` holds the first
    failure of each table, in table order."""

    tree_size: int = 0
    root_hash: bytes = merkle.EMPTY_ROOT
    checkpoints_checked: int = 0
    tree_hashes_checked: int = 0
    map_roots_checked: int = 0
    map_nodes_checked: int = 0
    checkpoints_without_map: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)

    def __bool__(self) -> bool:
        return not self.failures

    @property
    def failure(self) -> Failure | None:
        return self.failures[0] if self.failures else None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.failures,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "checkpoints_checked": self.checkpoints_checked,
            "tree_hashes_checked": self.tree_hashes_checked,
            "map_roots_checked": self.map_roots_checked,
            "map_nodes_checked": self.map_nodes_checked,
            "checkpoints_without_map": self.checkpoints_without_map,
            "seconds": round(self.seconds, 3),
            "failures": [f.to_json() for f in self.failures],
        }


def read_only_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite opened ``mode=ro``, PostgreSQL READ ONLY sessions."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:":
            raise ValueError("the database audit needs a SQLite file")

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

        return create_engine("sqlite://", creator=connect, poolclass=NullPool)
    engine = create_engine(url, poolclass=NullPool)
    return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)


def audit_database(url: str, verifier: NoteVerifier, *, strict: bool = False) -> DbAuditReport:
    """Audit the log stored at ``url`` against the log key ``verifier`` (see the module doc).

    Never writes. Raises sqlalchemy errors if the database cannot be read.
    """
    started = time.perf_counter()
    engine = read_only_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            report = _TableAudit(conn, verifier, strict).run()
    finally:
        engine.dispose()
    report.seconds = time.perf_counter() - started
    return report


def _map_versions(conn: Connection) -> tuple[int, ...]:
    """The map versions the audit derives (FORMAT §14.6): version 1 too only when a stored
    checkpoint commits a version-1 root (one scan of the notes, which are few and short)."""
    v1 = MAP_LINE_PREFIXES[1]
    old = conn.execute(
        select(CheckpointRow.tree_size).where(CheckpointRow.note.contains(v1)).limit(1)
    ).first()
    return (1, MAP_VERSION) if old is not None else (MAP_VERSION,)


def _rows(conn: Connection, table: Any, key: Any) -> Iterator[Any]:
    """Every row of ``table`` in ``key`` order, fetched in keyset pages (flat memory)."""
    last = None
    while True:
        stmt = select(table).order_by(key).limit(CHUNK)
        if last is not None:
            stmt = stmt.where(key > last)
        rows = conn.execute(stmt).all()
        yield from rows
        if len(rows) < CHUNK:
            return
        last = getattr(rows[-1], key.key)


class _Peek:
    """An iterator with one row of look-ahead."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self._rows = rows
        self.head: Any = next(rows, None)

    def pop(self) -> Any:
        row, self.head = self.head, next(self._rows, None)
        return row


class _TableAudit:
    def __init__(self, conn: Connection, verifier: NoteVerifier, strict: bool) -> None:
        self.conn = conn
        self.verifier = verifier
        self.strict = strict
        self.report = DbAuditReport()
        self.failed: dict[str, Failure] = {}
        self.state = ChainState()
        self.rules = AcceptanceReplay()
        self.hashes = _Peek(_rows(conn, TreeHashRow.__table__, TreeHashRow.idx))
        self.checkpoints = _Peek(_rows(conn, CheckpointRow.__table__, CheckpointRow.tree_size))
        self.last_checkpoint = 0
        # None once an entry could not be read; version 1 too if a checkpoint commits one.
        self.map: MapReplay | None = MapReplay(versions=_map_versions(conn))
        self.map_since: int | None = None

    def fail(self, table: str, row: str, code: FailureCode, message: str, **where: Any) -> None:
        """Record the first failure of ``table``; later ones of the same table are dropped."""
        self.failed.setdefault(table, Failure(code, message, table=table, row=row, **where))

    def run(self) -> DbAuditReport:
        self._check_meta()
        self._check_checkpoints_up_to(0)  # the empty tree's, signed when the log was created
        for row in _rows(self.conn, EntryRow.__table__, EntryRow.seq):
            if not self._entry(row):
                break
        self._check_tails()
        self._check_map_nodes()
        order = ("log_meta", "entries", "tree_hashes", "checkpoints", "map_nodes")
        self.report.failures = [self.failed[t] for t in order if t in self.failed]
        self.report.tree_size = self.state.size
        self.report.root_hash = self.state.tree.root()
        return self.report

    # --- log_meta --------------------------------------------------------------------------------

    def _check_meta(self) -> None:
        meta = self.conn.execute(select(LogMetaRow.__table__)).first()
        if meta is None:
            self.fail("log_meta", "id 1", FailureCode.LOG_KEY_MISMATCH, "no log identity row")
            return
        if meta.origin != self.verifier.name or bytes(meta.public_key) != self.verifier.public_key:
            self.fail(
                "log_meta",
                "id 1",
                FailureCode.LOG_KEY_MISMATCH,
                f"the database holds log {meta.origin!r} with key "
                f"{bytes(meta.public_key).hex()}, not the given log key",
            )

    # --- entries ---------------------------------------------------------------------------------

    def _entry(self, row: Any) -> bool:
        """Check one entry row and everything stored up to it; False once entries are broken."""
        pos = self.state.size
        if row.seq != pos:
            self.fail(
                "entries", f"seq {pos}", FailureCode.ENTRY_MISSING,
                f"no row for seq {pos}; the next row is seq {row.seq}", seq=pos,
            )  # fmt: skip
            return False
        leaf = bytes(row.leaf)
        facts = self._leaf_facts(pos, leaf)
        h = merkle.leaf_hash(leaf)
        if "entries" not in self.failed and facts is not None:
            self._check_columns(row, facts)
        if facts is not None:
            self._map_entry(pos, facts)
        else:
            self.map = None  # the map cannot be derived past an unreadable entry
        self._check_tree_hashes(pos, h)
        self.state.push(h, 0 if facts is None else facts.integrated_at)
        self._check_checkpoints_up_to(pos + 1)
        return True

    def _map_entry(self, pos: int, facts: LeafFacts) -> None:
        """Add the entry to the map replay (and, ``strict``, replay the append rules)."""
        try:
            stmt = parse_statement(facts.body)
        except LedgerError as e:
            self.fail(
                "entries", f"seq {pos}", FailureCode.STATEMENT_INVALID,
                f"the licence map cannot be derived from this entry: {e.message}", seq=pos,
            )  # fmt: skip
            self.map = None
            return
        if self.map is not None:
            self.map.add(pos, AuditedStatement(stmt, facts.statement_hash))
        if self.strict and "entries" not in self.failed:
            try:
                check_rules(self.rules, pos, stmt, facts.statement_hash, facts.integrated_at)
            except AuditStop as stop:
                self.fail("entries", f"seq {pos}", stop.failure.code, stop.failure.message, seq=pos)

    def _leaf_facts(self, pos: int, leaf: bytes) -> LeafFacts | None:
        try:
            facts = check_leaf(pos, leaf, strict=self.strict)
            if "entries" not in self.failed:
                self.state.link(facts.prev_hash, facts.integrated_at)
        except EntryProblem as p:
            if p.header is not None and "entries" not in self.failed:
                self._link(pos, *p.header)
            self.fail("entries", f"seq {pos}", p.code, f"column leaf: {p.message}", seq=pos)
            return None
        except AuditStop as stop:
            self.fail("entries", f"seq {pos}", stop.failure.code, stop.failure.message, seq=pos)
        return facts

    def _link(self, pos: int, prev_hash: bytes, integrated_at: int) -> None:
        try:
            self.state.link(prev_hash, integrated_at)
        except AuditStop as stop:
            self.fail("entries", f"seq {pos}", stop.failure.code, stop.failure.message, seq=pos)

    def _check_columns(self, row: Any, facts: LeafFacts) -> None:
        body = facts.body
        stored_time = _micros(row.integrated_at)
        for column, stored, actual, code in (
            ("leaf_hash", bytes(row.leaf_hash), facts.leaf_hash, FailureCode.LEAF_HASH_MISMATCH),
            (
                "statement_hash",
                bytes(row.statement_hash),
                facts.statement_hash,
                FailureCode.STATEMENT_HASH_MISMATCH,
            ),
            ("type", row.type, body.get("type"), FailureCode.LISTING_MISMATCH),
            ("signer", row.signer, body.get("signer"), FailureCode.LISTING_MISMATCH),
            ("integrated_at", stored_time, facts.integrated_at, FailureCode.LISTING_MISMATCH),
        ):
            if stored != actual:
                self.fail(
                    "entries", f"seq {facts.seq}", code,
                    f"column {column} is {_show(stored)}, the leaf says {_show(actual)}",
                    seq=facts.seq,
                )  # fmt: skip
                return

    # --- tree_hashes -----------------------------------------------------------------------------

    def _check_tree_hashes(self, pos: int, h: bytes) -> None:
        """Compare the stored hashes leaf ``pos`` wrote with their recomputation."""
        expected = merkle.stored_hashes_for_leaves(pos, [h], self.state.tree)
        base = merkle.stored_hash_count(pos)
        for i, want in enumerate(expected, base):
            while self.hashes.head is not None and self.hashes.head.idx < i:
                self.hashes.pop()  # only reachable after an out-of-order idx; reported below
            row = self.hashes.head
            if row is None or row.idx != i:
                self._tree_fail(i, FailureCode.TREE_HASH_MISSING, "no stored hash at this index")
                continue
            self.hashes.pop()
            self.report.tree_hashes_checked += 1
            if bytes(row.hash) != want:
                self._tree_fail(
                    i,
                    FailureCode.TREE_HASH_MISMATCH,
                    f"stored {bytes(row.hash).hex()}, recomputed from the leaves {want.hex()}",
                )

    def _tree_fail(self, idx: int, code: FailureCode, message: str) -> None:
        level, n = merkle.split_stored_hash_index(idx)
        what = f"leaf {n}" if level == 0 else f"subtree of 2^{level} leaves #{n}"
        self.fail("tree_hashes", f"idx {idx}", code, f"{what}: {message}")

    # --- checkpoints -----------------------------------------------------------------------------

    def _check_checkpoints_up_to(self, size: int) -> None:
        while self.checkpoints.head is not None and self.checkpoints.head.tree_size <= size:
            row = self.checkpoints.pop()
            if row.tree_size == size:
                self._checkpoint(row, self.state.tree.root())
            else:
                self.fail(
                    "checkpoints", f"tree_size {row.tree_size}", FailureCode.CHECKPOINT_INVALID,
                    "a checkpoint for an empty tree", tree_size=row.tree_size,
                )  # fmt: skip

    def _checkpoint(self, row: Any, root: bytes) -> None:
        where = {"tree_size": row.tree_size}
        fail_row = f"tree_size {row.tree_size}"
        try:
            cp, _ = open_checkpoint(row.note, self.verifier)
        except LedgerError as e:
            self.fail("checkpoints", fail_row, FailureCode.CHECKPOINT_INVALID,
                      f"column note: {e.message}", **where)  # fmt: skip
            return
        self.last_checkpoint = row.tree_size
        self.report.checkpoints_checked += 1
        if cp.tree_size != row.tree_size or cp.root_hash != bytes(row.root_hash):
            self.fail(
                "checkpoints", fail_row, FailureCode.CHECKPOINT_ROW_MISMATCH,
                f"the note signs size {cp.tree_size} root {cp.root_hash.hex()}, the columns "
                f"say size {row.tree_size} root {bytes(row.root_hash).hex()}", **where,
            )  # fmt: skip
        elif cp.root_hash != root:
            self.fail(
                "checkpoints", fail_row, FailureCode.ROOT_MISMATCH,
                f"signs root {cp.root_hash.hex()}, the leaves give {root.hex()}", **where,
            )  # fmt: skip
        else:
            self._check_map(row, cp)

    def _check_map(self, row: Any, cp: Checkpoint) -> None:
        """The map root the note commits is the recomputed one (see the module doc)."""
        fail_row = f"tree_size {row.tree_size}"
        version = MAP_VERSION
        try:
            version, map_root = checkpoint_map(cp)
            claimed: bytes | None = map_root
        except MapRootMissing:
            claimed = None
        column = None if row.map_root is None else bytes(row.map_root)
        if column != claimed:
            shown = "none" if claimed is None else claimed.hex()
            self.fail(
                "checkpoints", fail_row, FailureCode.CHECKPOINT_ROW_MISMATCH,
                f"the note commits licence map root {shown}, the map_root column says "
                f"{'NULL' if column is None else column.hex()}: proofs and evidence are walked "
                "from the column; restore it from the note (or a backup)", tree_size=row.tree_size,
            )  # fmt: skip
            return
        try:
            claimed = checkpoint_map(cp)[1]
        except MapRootMissing as e:
            if self.map_since is not None:
                failure = map_missing_failure(
                    row.tree_size, self.map_since, e.message, table="checkpoints", row=fail_row
                )
                self.failed.setdefault("checkpoints", failure)
            else:
                self.report.checkpoints_without_map += 1
            return
        if self.map_since is None:
            self.map_since = row.tree_size
        if self.map is None or self.map.size != row.tree_size:
            return  # an entry could not be read: the entries table reports it
        try:
            root = self.map.root_at(row.tree_size, version)
        except InvalidParameter as e:  # the map version went back
            failure = map_version_failure(
                row.tree_size, e.message, table="checkpoints", row=fail_row
            )
            self.failed.setdefault("checkpoints", failure)
            return
        self.report.map_roots_checked += 1
        if root != claimed:
            replay = self.map
            diff, unknown = None, None
            try:
                stored = checked_reader(self._stored_node)
                diff = first_difference(root, replay.get_node, claimed, stored)
            except LedgerError as e:
                unknown = f"the stored map of the signed root cannot be walked: {e.message}"
            failure = map_root_failure(
                row.tree_size, root, claimed, diff, unknown, table="checkpoints", row=fail_row
            )
            self.failed.setdefault("checkpoints", failure)

    def _stored_node(self, node_hash: bytes) -> MapNode:
        data = self.conn.execute(
            select(MapNodeRow.node).where(MapNodeRow.hash == node_hash)
        ).scalar()
        if data is None:
            raise NotFound(f"map node {node_hash.hex()} is not stored")
        return decode_node(bytes(data))

    # --- map_nodes -------------------------------------------------------------------------------

    def _check_map_nodes(self) -> None:
        """Every stored node hashes to the hash it is stored under (streamed: flat memory)."""
        for row in _rows(self.conn, MapNodeRow.__table__, MapNodeRow.hash):
            self.report.map_nodes_checked += 1
            key = bytes(row.hash)
            try:
                ok = hash_of(decode_node(bytes(row.node))) == key
            except LedgerError:
                ok = False
            if not ok:
                self.fail(
                    "map_nodes", f"hash {key.hex()}", FailureCode.MAP_NODE_MISMATCH,
                    "the stored node is not the node its hash names (changed or damaged): "
                    "map proofs through it fail; restore the row from a backup",
                )  # fmt: skip
                return

    # --- after the last entry --------------------------------------------------------------------

    def _check_tails(self) -> None:
        n = self.state.size
        if self.hashes.head is not None:
            self._tree_fail(
                self.hashes.head.idx, FailureCode.TREE_HASH_EXTRA,
                f"stored beyond the {merkle.stored_hash_count(n)} hashes of {n} entries",
            )  # fmt: skip
        if self.checkpoints.head is not None:
            size = self.checkpoints.head.tree_size
            self.fail(
                "checkpoints", f"tree_size {size}", FailureCode.CHECKPOINT_BEYOND_LOG,
                f"a checkpoint beyond the {n} entries stored", tree_size=size,
            )  # fmt: skip
        elif n and self.last_checkpoint != n and "checkpoints" not in self.failed:
            self.fail(
                "checkpoints", f"tree_size {n}", FailureCode.CHECKPOINT_MISSING,
                f"no valid checkpoint at the head (size {n})", tree_size=n,
            )  # fmt: skip


def _micros(moment: datetime) -> int:
    return micros_from_datetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int) and value > 10**15:
        return format_log_time(value)
    return repr(value)
