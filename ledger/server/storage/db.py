"""Engines, sessions and migrations for the two supported backends.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL`` so that a commit that was
acknowledged survives a crash. Write transactions on SQLite start with ``BEGIN IMMEDIATE`` (taking
the database's write lock before the log head is read); on PostgreSQL they take a transaction-level
advisory lock. Either way appends are serialized across threads, processes and hosts.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    BigInteger,
    Connection,
    Dialect,
    Engine,
    Executable,
    Insert,
    LargeBinary,
    Table,
    create_engine,
    event,
    insert,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, QueuePool
from sqlalchemy.sql.elements import ClauseElement

from ledger.server.config import PROJECT_ROOT
from ledger.server.storage import green

#: Key of the PostgreSQL advisory lock that serializes appends (any constant unique to us).
APPEND_LOCK_KEY = 0x4C454447  # "LEDG"
MIGRATION_LOCK_KEY = 0x4C454748
_WRITE_OPTION = "ledger_write"
#: SQLite sessions that send no BEGIN (``Database.immutable_read_session``).
_NO_SNAPSHOT_OPTION = "ledger_no_snapshot"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, pool_size: int | None = None, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite, set pragmas and take over transaction begin.

    ``pool_size``: connections kept open for reuse, and as many more opened for a burst and
    closed when returned (SQLAlchemy's default is 5 and 10). A pool smaller than the requests
    served at once opens and closes a connection for every request past it: on PostgreSQL a
    new server process each time (docs/BENCHMARKS.md, proofs under load).
    """
    parsed = make_url(url)
    dialect = cast(type[DefaultDialect], parsed.get_dialect())
    pool_class = kwargs.get("poolclass") or dialect.get_pool_class(parsed)
    if pool_size is not None and issubclass(pool_class, QueuePool):
        # (In-memory SQLite has no such pool: one connection per thread.) Last in, first out: a
        # light load keeps reusing the same few connections, whose server processes stay warm.
        kwargs = {
            "pool_size": pool_size,
            "max_overflow": pool_size,
            "pool_use_lifo": True,
            **kwargs,
        }
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            # Not fatal: a folder that cannot be made now (a volume not mounted yet) fails the
            # connections instead, answered 503 and tried again, rather than the start.
            with contextlib.suppress(OSError):
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, **kwargs)
    _configure_postgresql(engine)
    if green.is_green():
        _connect_green(engine)
    ping_when_idle(engine, PING_AFTER_IDLE_S)
    return engine


#: A pooled PostgreSQL connection that has been idle this long is pinged before it is handed out.
PING_AFTER_IDLE_S = 1.0


def ping_when_idle(engine: Engine, after_s: float) -> None:
    """Ping a pooled connection before use only if it has been idle ``after_s`` seconds or more;
    a dead one is replaced with a fresh connection, unseen by the request.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip per request (a proof, a
    page, a group of appends), paid by this process, the database and the request's latency. A
    connection that served a query less than a second ago is alive unless the server went away
    within that second, and a request on it then fails as it would have in flight (503, nothing
    written), after which SQLAlchemy replaces every pooled connection (a disconnect invalidates the
    pool). After a restart of the database, or an idle timeout of a proxy in between, pooled
    connections have been idle for longer than that, so each is pinged and replaced when it is
    next checked out (``pool_pre_ping`` replaced them all at the first failed ping).
    """

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < after_s:
            return  # new (connected just now), or busy a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as e:
            # Any driver error here counts as a dead connection: replacing a live one is harmless.
            # On DisconnectionError the pool closes this connection and connects again in its
            # place before handing it out (SQLAlchemy's pessimistic disconnect handling).
            raise DisconnectionError("a pooled connection was dead; replaced") from e


_IDLE_SINCE = "ledger_idle_since"


def _configure_postgresql(engine: Engine) -> None:
    # psycopg prepares a statement run 5 times on a connection; PostgreSQL then may plan it once
    # for any parameters (a "generic plan"). For our lookups by a list, ``= ANY($1)`` (see
    # repository._Lookup), a generic plan cannot know how long the array is, and the ones chosen
    # scanned whole small tables or bitmaps of large ones: PostgreSQL's CPU per single append
    # almost doubled (scripts/bench_service.py: 705 against 409 us). Planning every execution for
    # its parameters costs far less (261 us) and keeps parsing saved.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_conn.commit()


def _connect_green(engine: Engine) -> None:
    """Connect with ``green.GreenConnection`` (gevent workers: see ``storage.green``)."""

    @event.listens_for(engine, "do_connect")
    def on_do_connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return green.GreenConnection.connect(*cargs, **cparams)


def _configure_sqlite(engine: Engine) -> None:
    # SQLAlchemy's recipe: let the driver stay in autocommit and emit BEGIN ourselves, so that
    # write transactions can use BEGIN IMMEDIATE and reads stay deferred.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        _use_wal(cur)
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(_NO_SNAPSHOT_OPTION, False):
            return  # each statement is its own transaction, as AUTOCOMMIT is on PostgreSQL
        write = options.get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


#: How long a SQLite connection waits for another one's lock before "database is locked".
SQLITE_BUSY_MS = 60_000


def _use_wal(cur: Any) -> None:
    """Put the database file in WAL mode (a property of the file: the first connection sets it).

    Reading or changing the journal mode can fail at once with "database is locked" where
    SQLite's busy handler does not wait, notably while another connection recovers the WAL index
    (SQLITE_BUSY_RECOVERY): gunicorn's workers start together on a database file whose -wal and
    -shm files do not exist yet (a copy, a restore). CI saw a worker fail to boot so. It is
    retried for as long as other statements would wait.
    """
    deadline = time.monotonic() + SQLITE_BUSY_MS / 1000
    while True:
        try:
            (mode,) = cur.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Database:
    """The engine plus two session factories: one for reads, one for serialized appends."""

    def __init__(self, url: str, pool_size: int | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size, **engine_kwargs)
        # One snapshot per read transaction: on PostgreSQL that takes REPEATABLE READ (READ
        # COMMITTED, the default, takes one per statement); read-only, it can never fail.
        self.read_session = sessionmaker(
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="REPEATABLE READ"),
            expire_on_commit=False,
        )
        # Reads of what never changes once published (stored hashes, checkpoints) need no
        # snapshot: on PostgreSQL they skip BEGIN and COMMIT, two of a proof's four round trips;
        # on SQLite the statement that sends BEGIN, which cost a receipt more than its reads
        # (docs/BENCHMARKS.md): the driver stays in autocommit, each statement on its own.
        self._immutable_engine = (
            self.engine.execution_options(**{_NO_SNAPSHOT_OPTION: True})
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.immutable_read_session = sessionmaker(self._immutable_engine, expire_on_commit=False)
        self._write_session = sessionmaker(
            self.engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.engine)

    @contextlib.contextmanager
    def immutable_connection(self) -> Iterator[Connection]:
        """``immutable_read_session``'s reads on a bare connection, without an ORM Session: for
        the hottest reads of rows that never change (a receipt's, ``ledger.server.reads.
        receipts``), where a Session cost more than the reads (docs/BENCHMARKS.md, receipts).
        The repository functions that take ``Session | Connection`` take it."""
        with self._immutable_engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def append_transaction(self) -> Iterator[Session]:
        """A transaction that holds the log's append lock until it commits or rolls back."""
        with self._write_session() as session, session.begin():
            if self.is_sqlite:
                session.connection()  # emits BEGIN IMMEDIATE now (SQLite's write lock), not lazily
            else:  # BEGIN and the lock in one round trip
                with Pipeline(session) as p:
                    p.query(_APPEND_LOCK, {"k": APPEND_LOCK_KEY})
            yield session

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


_APPEND_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
#: PostgreSQL's SQLSTATE for a write in a read-only transaction: every write on a hot standby.
_READ_ONLY_SQLSTATE = "25006"
#: SQLite's SQLITE_READONLY (and its extended codes, which keep it in their low byte).
_SQLITE_READONLY = 8


def is_read_only_error(error: DBAPIError) -> bool:
    """Whether the database refused a write because it takes none (a PostgreSQL hot standby, a
    read-only SQLite file), rather than because it is unreachable."""
    orig = error.orig
    if getattr(orig, "sqlstate", None) == _READ_ONLY_SQLSTATE:
        return True
    code = getattr(orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == _SQLITE_READONLY


#: One statement of a Pipeline: a query (or a table, to insert into), its parameters (or rows), and
#: where its rows go.
_Op = tuple[Any, Any, "Rows | None"]


class Rows:
    """The rows a ``Pipeline`` query returned, as tuples: ``rows`` is set when the pipeline ran."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []


class Pipeline:
    """Statements sent to the database together, in order, in the session's transaction.

    On PostgreSQL this is psycopg's pipeline mode: the statements (and the BEGIN of a transaction
    not begun yet) travel in one round trip rather than one each, which is most of what a short
    statement costs the append transaction, since every round trip is spent holding the append lock.
    SQLite runs in process and has no round trips to save: there the statements run one by one
    through SQLAlchemy. Either way they run when the ``with`` block ends, and query results can be
    read then::

        with Pipeline(session) as p:
            head = p.query(select(...))
            p.insert(table, rows)
        head.rows

    A database error surfaces as SQLAlchemy's ``DBAPIError`` subclass, as from ``Session.execute``,
    and leaves the transaction to be rolled back. Parameters are passed to the driver as given, so
    they must be of types the driver takes (no SQLAlchemy type conversion happens on PostgreSQL).
    """

    def __init__(self, session: Session | Connection) -> None:
        self._conn = session if isinstance(session, Connection) else session.connection()
        self._ops: list[_Op] = []

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    def query(self, stmt: Executable, params: Mapping[str, Any] | None = None) -> Rows:
        out = Rows()
        self._ops.append((stmt, params, out))
        return out

    def insert(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self._ops.append((table, rows, None))

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if kind is None and self._ops:
            if self._conn.dialect.name == "postgresql":
                self._run_pipelined()
            else:
                self._run_one_by_one()

    def _run_one_by_one(self) -> None:
        for target, params, out in self._ops:
            if isinstance(target, Table):
                self._conn.execute(_insert(target), list(params))
            else:
                result = self._conn.execute(target, params)
                if out is not None:
                    out.rows = [tuple(r) for r in result]

    def _run_pipelined(self) -> None:
        dialect = self._conn.dialect
        driver = self._conn.connection.driver_connection
        assert driver is not None
        # In order: the statements between two COPYs share a round trip (pipeline mode cannot
        # carry a COPY), each COPY takes one of its own.
        shared: list[_Op] = []
        for op in self._ops:
            if not _is_copy(op):
                shared.append(op)
                continue
            if shared:
                _run_in_pipeline(driver, dialect, shared)
                shared = []
            _copy(driver, dialect, op[0], op[1])
        if shared:
            _run_in_pipeline(driver, dialect, shared)


def _is_copy(op: _Op) -> bool:
    """Whether ``op`` is an insert that goes in as a COPY (more than ``MULTI_ROW_MAX`` rows)."""
    target, rows, _ = op
    return isinstance(target, Table) and len(rows) > MULTI_ROW_MAX


def _run_in_pipeline(driver: Any, dialect: Dialect, ops: list[_Op]) -> None:
    """Run ``ops`` (none of them a COPY) in one round trip, and set their ``Rows``."""
    cursors: list[tuple[Any, Rows | None]] = []
    sql = ""
    # One statement outside a transaction (autocommit reads) has no round trip to share, and
    # pipeline mode would only add its overhead; a BEGIN still to be sent shares one with it.
    begin = not driver.autocommit and driver.info.transaction_status.name == "IDLE"
    mode = driver.pipeline() if len(ops) > 1 or begin else contextlib.nullcontext()
    try:
        with mode:
            for target, params, out in ops:
                cur = driver.cursor()
                cursors.append((cur, out))
                if isinstance(target, Table):
                    sql, columns = _driver_insert_rows(dialect, target, len(params))
                    cur.execute(sql, [row[c] for row in params for c in columns])
                else:
                    sql, fixed = _driver_sql(dialect, target)
                    cur.execute(sql, {**fixed, **params} if params else fixed)
        for cur, out in cursors:
            if out is not None:
                out.rows = cur.fetchall()
    except dialect.loaded_dbapi.Error as e:
        raise DBAPIError.instance(sql, None, e, dialect.loaded_dbapi.Error) from e
    finally:
        for cur, _ in cursors:
            cur.close()


def _copy(driver: Any, dialect: Dialect, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` with one ``COPY ... FROM STDIN``: in PostgreSQL's binary
    format, built here in one buffer, when every column is bytes or a 64-bit integer (stored
    hashes, map nodes: most of the rows a batch writes), else row by row through psycopg."""
    binary = _binary_copy(dialect, table)
    sql, columns = binary if binary is not None else _driver_copy(dialect, table)
    try:
        with driver.cursor() as cur, cur.copy(sql) as copy:
            if binary is not None:
                # Rows that encode themselves (``mapstore.NodeRows``) skip the generic pass.
                encode = getattr(rows, "binary_copy", None)
                body = encode(columns) if encode is not None else None
                if body is None:
                    copy.write(_binary_rows(rows, columns, table))
                else:
                    copy.write(_COPY_HEADER + body + _COPY_TRAILER)
            else:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
    except dialect.loaded_dbapi.Error as e:
        raise DBAPIError.instance(sql, None, e, dialect.loaded_dbapi.Error) from e


#: PostgreSQL's binary COPY framing: signature, flags, header extension length; and the trailer.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"


@functools.cache
def _binary_copy(dialect: Dialect, table: Table) -> tuple[str, tuple[str, ...]] | None:
    """The binary ``COPY`` of ``table`` if every column is ``LargeBinary`` or ``BigInteger`` and
    NOT NULL (no NULL framing needed), else None."""
    if not all(
        not c.nullable and isinstance(c.type, LargeBinary | BigInteger) for c in table.columns
    ):
        return None
    sql, columns = _driver_copy(dialect, table)
    return sql + " WITH (FORMAT BINARY)", columns


def _binary_rows(
    rows: Sequence[Mapping[str, Any]], columns: tuple[str, ...], table: Table
) -> bytes:
    """The binary COPY payload of ``rows``: per row the field count, then each field's length
    and bytes (a ``bigint`` as 8 bytes, big-endian, two's complement)."""
    ints = [isinstance(table.columns[c].type, BigInteger) for c in columns]
    count = len(columns).to_bytes(2, "big")
    eight = (8).to_bytes(4, "big")
    parts = [_COPY_HEADER]
    for row in rows:
        parts.append(count)
        for c, is_int in zip(columns, ints, strict=True):
            value = row[c]
            if is_int:
                parts.append(eight)
                parts.append(value.to_bytes(8, "big", signed=True))
            else:
                parts.append(len(value).to_bytes(4, "big"))
                parts.append(value)
    parts.append(_COPY_TRAILER)
    return b"".join(parts)


#: Up to this many rows, an insert on PostgreSQL goes in as one multi-row INSERT statement, in the
#: pipeline with the statements around it; beyond it as ``COPY ... FROM STDIN``, in a round trip
#: of its own (pipeline mode cannot carry a COPY), whose rows psycopg formats in C. A 1,000-row
#: VALUES list would be parsed again on every batch (psycopg caches the parse of statements of at
#: most 50 parameters only); ``INSERT ... SELECT FROM unnest(...)``, with an array per column,
#: spent ~28 % of a worker's time dumping the arrays in Python (``py-spy`` under batches); and
#: psycopg's pipelined executemany waits for the socket once per row, a trip through the hub
#: under gevent. For the few rows of a group commit, the VALUES list in the pipeline is cheapest.
MULTI_ROW_MAX = 64


@functools.cache
def _driver_insert_rows(dialect: Dialect, table: Table, count: int) -> tuple[str, tuple[str, ...]]:
    """A ``count``-row INSERT of whole rows of ``table`` with positional parameters, and the
    column names in the order each row's values are expected."""
    columns = tuple(c.name for c in table.columns)
    quote = dialect.identifier_preparer.quote
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    names = ", ".join(quote(c) for c in columns)
    head = f"INSERT INTO {quote(table.name)} ({names}) VALUES "  # noqa: S608 - our own names
    return head + ", ".join([row] * count), columns


@functools.cache
def _driver_copy(dialect: Dialect, table: Table) -> tuple[str, tuple[str, ...]]:
    """A ``COPY ... FROM STDIN`` of whole rows of ``table`` (PostgreSQL), and the column names
    in the order each row's values are expected."""
    columns = tuple(c.name for c in table.columns)
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    return f"COPY {quote(table.name)} ({names}) FROM STDIN", columns


@functools.cache
def _driver_sql(dialect: Dialect, stmt: Executable) -> tuple[str, dict[str, Any]]:
    """A statement compiled for the driver, and the values of the parameters it binds itself."""
    compiled = cast(ClauseElement, stmt).compile(dialect=dialect)
    return str(compiled), dict(compiled.params)


@functools.cache
def _insert(table: Table) -> Insert:
    return insert(table)


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations, safely when several processes start at once."""
    with _migration_lock(url):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    with _migration_lock(url):
        command.downgrade(alembic_config(url), revision)


@contextlib.contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            yield
            return
        lock_path = Path(parsed.database + ".migrate.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()
