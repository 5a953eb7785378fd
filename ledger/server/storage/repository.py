"""Data access: append rows and read them. No update, no delete, no commit.

Every function takes a ``Session``; the caller frames the transaction (``with session.begin():``
or ``Database.append_transaction()``). Nothing here decides whether a statement is allowed: that is
the service layer's job.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Dialect,
    Row,
    Select,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.core.errors import MissingTreeHash
from ledger.core.licmap import note_map_version
from ledger.core.merkle import stored_hash_count
from ledger.server.storage.db import Pipeline, Rows
from ledger.server.storage.models import (
    CheckpointRow,
    CosignedCheckpointRow,
    EntryRow,
    GrantContentRow,
    GrantEventRow,
    GrantRow,
    KeyEndRow,
    KeyRow,
    LogMetaRow,
    MapNodeRow,
    TreeHashRow,
)

# Hot paths (every append, every proof) run prebuilt Core statements on the session's connection:
# no ORM objects are built, and nothing is coerced or compiled per call (SQLAlchemy caches the
# compiled form of each statement).
_LAST_ENTRY = (
    select(EntryRow.seq, EntryRow.leaf_hash, EntryRow.leaf).order_by(EntryRow.seq.desc()).limit(1)
)
_LATEST_SIZE = select(CheckpointRow.tree_size).order_by(CheckpointRow.tree_size.desc()).limit(1)
_LATEST_COSIGNED_SIZE = (
    select(CosignedCheckpointRow.tree_size)
    .order_by(CosignedCheckpointRow.tree_size.desc())
    .limit(1)
)
_CHECKPOINT_ROOT = select(CheckpointRow.root_hash).where(
    CheckpointRow.tree_size == bindparam("tree_size")
)


@dataclass(frozen=True)
class _Lookup:
    """A SELECT of the rows whose ``column`` is in a list given as one parameter.

    SQLite takes an expanding ``IN``; PostgreSQL takes ``= ANY(array)``, whose SQL is the same for
    every list length, so it is compiled once instead of rendered again for each call (that
    rendering was a tenth of a proof's CPU), and it can run in a ``Pipeline``.
    """

    expanding: Select[*tuple[Any, ...]]
    array: Select[*tuple[Any, ...]]

    def on(self, dialect: Dialect) -> Select[*tuple[Any, ...]]:
        return self.array if dialect.name == "postgresql" else self.expanding


def _lookup(base: Select[*tuple[Any, ...]], column: Any, name: str) -> _Lookup:
    return _Lookup(
        base.where(column.in_(bindparam(name, expanding=True))),
        base.where(column == any_(bindparam(name, type_=ARRAY(column.type)))),
    )


_SEQS_OF_STATEMENTS = _lookup(
    select(EntryRow.statement_hash, EntryRow.seq), EntryRow.statement_hash, "hashes"
)
_TREE_HASHES = _lookup(select(TreeHashRow.idx, TreeHashRow.hash), TreeHashRow.idx, "indexes")
_KEYS_BY_ID = _lookup(
    select(KeyRow.key_id, KeyRow.party_id, KeyRow.pseudonym), KeyRow.key_id, "ids"
)
_KEY_ENDS = _lookup(select(KeyEndRow.key_id, KeyEndRow.kind), KeyEndRow.key_id, "ids")
_GRANT_COLUMNS = (
    GrantRow.grant_id,
    GrantRow.statement_hash,
    GrantRow.creator_party,
    GrantRow.buyer_party,
    GrantRow.revocable,
    GrantRow.notice_days,
)
_GRANTS_BY_HASH = _lookup(select(*_GRANT_COLUMNS), GrantRow.statement_hash, "hashes")
_GRANT_IDS = _lookup(select(GrantRow.grant_id), GrantRow.grant_id, "ids")
_GRANT_EVENTS = _lookup(
    select(GrantEventRow.grant_id, GrantEventRow.kind), GrantEventRow.grant_id, "ids"
)
_GRANT_EVENTS_BY_HASH = _lookup(
    select(GrantEventRow.grant_id, GrantEventRow.kind).join(
        GrantRow, GrantRow.grant_id == GrantEventRow.grant_id
    ),
    GrantRow.statement_hash,
    "hashes",
)


#: Where the reads of rows that never change run: a session's transaction, or a bare connection
#: (``Database.immutable_connection``, for the hottest of them).
Reads = Session | Connection


def _connection(reads: Reads) -> Connection:
    return reads if isinstance(reads, Connection) else reads.connection()


def _rows(session: Reads, stmt: Any, params: Any = None) -> Any:
    """Run a Core statement (or a ``_Lookup``) on the session's connection (no ORM layer)."""
    conn = _connection(session)
    return conn.execute(stmt.on(conn.dialect) if isinstance(stmt, _Lookup) else stmt, params)


# On SQLite the smallest reads (a size, a proof's few hashes) cost SQLAlchemy's execution of a
# statement many times what SQLite spends on them: about 30 us to read a size SQLite reads in
# 1 us (docs/BENCHMARKS.md, receipts). They run on the driver's connection instead, in the same
# transaction (``session.connection()`` began it: the engine's "begin" hook sent BEGIN), with
# a driver error raised as SQLAlchemy raises it. PostgreSQL keeps its paths (``Pipeline``).


def _sqlite_driver_rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    driver = conn.connection.driver_connection
    error = conn.dialect.loaded_dbapi.Error
    try:
        return driver.execute(sql, params).fetchall()  # type: ignore[union-attr, no-any-return]
    except error as e:
        raise DBAPIError.instance(sql, params, e, error) from e


@functools.cache
def _literal_sql(dialect: Dialect, stmt: Select[Any]) -> str:
    """A statement without parameters, as SQL text with its constants inlined (cached)."""
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _scalar(session: Reads, stmt: Select[Any]) -> Any:
    """The first column of the first row of a statement without parameters (None: no row)."""
    conn = _connection(session)
    if conn.dialect.name != "sqlite":
        return conn.execute(stmt).scalar()
    rows = _sqlite_driver_rows(conn, _literal_sql(conn.dialect, stmt), ())
    return rows[0][0] if rows else None


@functools.lru_cache(maxsize=128)
def _sqlite_tree_hashes_sql(dialect: Dialect, count: int) -> str:
    """``_TREE_HASHES`` for ``count`` indexes as SQLite's SQL, positional parameters (cached)."""
    stmt = _TREE_HASHES.expanding.params(indexes=list(range(count)))
    return str(stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True}))


# --- what an append reads under the lock ----------------------------------------------------------


@dataclass
class AppendReads:
    """What an append transaction reads under the lock, read in one round trip (``Pipeline``).

    ``last``: the last entry's ``(seq, leaf_hash, leaf)``, None for an empty log. ``existing``: the
    seq of each statement hash asked for that is logged already. ``keys``: ``(party_id,
    pseudonym)`` of each key asked for that is registered; ``key_ends``: how those that ended did
    so ('rotated' or 'revoked'). ``grants``: the rule columns of each grant asked for, by statement
    hash (``grant_id, statement_hash, creator_party, buyer_party, revocable, notice_days``);
    ``grant_events``: the event kinds of those grants, by grant id. ``taken_grant_ids``: the grant
    ids asked for that are in use. ``border_root`` and ``hashes_since``, when a border size was
    given: the signed root at that size (None if the log has no checkpoint there), and every
    stored tree hash from ``stored_hash_count(border size)`` on, by index (None if there are more
    than ``RECENT_HASHES_MAX``).
    """

    last: tuple[int, bytes, bytes] | None
    existing: dict[bytes, int]
    keys: dict[str, tuple[str, str]]
    key_ends: dict[str, str]
    grants: dict[bytes, tuple[Any, ...]]
    grant_events: dict[str, set[str]]
    taken_grant_ids: set[str]
    border_root: bytes | None = None
    hashes_since: dict[int, bytes] | None = None
    #: The latest checkpoint's size, map root and map version (root and version None for a
    #: checkpoint from before the map; version 1 for one from before map version 2).
    map_head: tuple[int, bytes | None, int | None] | None = None
    #: When a map size was given: every licence map node written after that size, as stored
    #: (hash, ``vmap.encode_node`` bytes); None if there are more than ``RECENT_MAP_NODES_MAX``.
    map_nodes_since: list[tuple[bytes, bytes]] | None = None


#: The most stored hashes ``read_for_append`` reads from an index on (an append of n leaves
#: stores about 2n hashes); beyond this many, reading the few hashes needed costs less.
RECENT_HASHES_MAX = 256
_TREE_HASHES_SINCE = (
    select(TreeHashRow.idx, TreeHashRow.hash)
    .where(TreeHashRow.idx >= bindparam("since"))
    .order_by(TreeHashRow.idx)
    .limit(RECENT_HASHES_MAX + 1)
)
_ROOT_AT = select(CheckpointRow.root_hash).where(CheckpointRow.tree_size == bindparam("size"))
#: The most map nodes ``read_for_append`` reads that other processes wrote since this one's last
#: append (a statement writes about 2-3 keys' paths: ~10-60 nodes); beyond this many, the map
#: update's prefetch reads only the paths it walks instead.
RECENT_MAP_NODES_MAX = 20_000
_MAP_NODES_SINCE = (
    select(MapNodeRow.hash, MapNodeRow.node)
    .where(MapNodeRow.size > bindparam("since"))
    # In index order, so that even a generic plan (a prepared statement, which assumes a range
    # matches a third of the table) walks the size index from ``since`` instead of the table.
    .order_by(MapNodeRow.size)
    .limit(RECENT_MAP_NODES_MAX + 1)
)
_MAP_HEAD = (
    select(CheckpointRow.tree_size, CheckpointRow.map_root, CheckpointRow.note)
    .order_by(CheckpointRow.tree_size.desc())
    .limit(1)
)


def read_for_append(
    session: Session,
    *,
    statement_hashes: Iterable[bytes],
    key_ids: Iterable[str],
    grant_hashes: Iterable[bytes],
    grant_ids: Iterable[str],
    border_size: int | None = None,
    map_size: int | None = None,
) -> AppendReads:
    """Everything the rules need for a batch, read at once (see ``AppendReads``)."""
    with Pipeline(session) as p:

        def ask(lookup: _Lookup, name: str, values: Iterable[Any]) -> Rows:
            wanted = list(set(values))
            return p.query(lookup.on(p.dialect), {name: wanted}) if wanted else Rows()

        last = p.query(_LAST_ENTRY)
        map_head = p.query(_MAP_HEAD)
        existing = ask(_SEQS_OF_STATEMENTS, "hashes", statement_hashes)
        key_ids = list(key_ids)
        keys = ask(_KEYS_BY_ID, "ids", key_ids)
        ends = ask(_KEY_ENDS, "ids", key_ids)
        grant_hashes = list(grant_hashes)
        grants = ask(_GRANTS_BY_HASH, "hashes", grant_hashes)
        events = ask(_GRANT_EVENTS_BY_HASH, "hashes", grant_hashes)
        taken = ask(_GRANT_IDS, "ids", grant_ids)
        root = recent = map_nodes = Rows()
        if map_size is not None:
            map_nodes = p.query(_MAP_NODES_SINCE, {"since": map_size})
        if border_size is not None:
            root = p.query(_ROOT_AT, {"size": border_size})
            recent = p.query(_TREE_HASHES_SINCE, {"since": stored_hash_count(border_size)})
    grant_events: dict[str, set[str]] = {}
    for grant_id, kind in events.rows:
        grant_events.setdefault(grant_id, set()).add(kind)
    out = AppendReads(
        last=(last.rows[0][0], bytes(last.rows[0][1]), bytes(last.rows[0][2]))
        if last.rows
        else None,
        existing={bytes(h): seq for h, seq in existing.rows},
        keys={key_id: (party, pseudonym) for key_id, party, pseudonym in keys.rows},
        key_ends=dict(ends.rows),
        grants={bytes(g[1]): g for g in grants.rows},
        grant_events=grant_events,
        taken_grant_ids={g for (g,) in taken.rows},
        map_head=_map_head(map_head.rows),
    )
    if map_size is not None and len(map_nodes.rows) <= RECENT_MAP_NODES_MAX:
        out.map_nodes_since = [(bytes(h), bytes(n)) for h, n in map_nodes.rows]
    if border_size is not None:
        out.border_root = bytes(root.rows[0][0]) if root.rows else None
        if len(recent.rows) <= RECENT_HASHES_MAX:
            out.hashes_since = {i: bytes(h) for i, h in recent.rows}
    return out


def _map_head(rows: list[tuple[Any, ...]]) -> tuple[int, bytes | None, int | None] | None:
    if not rows:
        return None
    size, root, note = rows[0]
    return size, None if root is None else bytes(root), note_map_version(note)


# --- log identity ---------------------------------------------------------------------------------


def get_log_meta(session: Session) -> LogMetaRow | None:
    return session.get(LogMetaRow, 1)


def add_log_meta(session: Session, origin: str, public_key: bytes, created_at: datetime) -> None:
    session.execute(
        insert(LogMetaRow).values(id=1, origin=origin, public_key=public_key, created_at=created_at)
    )


# --- entries ------------------------------------------------------------------------------------


def get_entry(session: Session, seq: int) -> EntryRow | None:
    return session.get(EntryRow, seq)


def list_entries(session: Session, start: int, limit: int) -> list[EntryRow]:
    stmt = select(EntryRow).where(EntryRow.seq >= start).order_by(EntryRow.seq).limit(limit)
    return list(session.scalars(stmt))


def entries_by_seq(session: Session, seqs: Iterable[int]) -> dict[int, EntryRow]:
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    return {e.seq: e for e in session.scalars(select(EntryRow).where(EntryRow.seq.in_(wanted)))}


# --- Merkle tree hashes -------------------------------------------------------------------------


def read_tree_hashes(session: Reads, indexes: Sequence[int]) -> list[bytes]:
    """Stored hashes in the order asked; raises MissingTreeHash if any is absent."""
    wanted = set(indexes)
    if not wanted:
        return []
    conn = _connection(session)
    if conn.dialect.name == "sqlite":
        unique = list(wanted)
        rows = _sqlite_driver_rows(conn, _sqlite_tree_hashes_sql(conn.dialect, len(unique)), unique)
    else:
        with Pipeline(conn) as p:  # PostgreSQL: the driver's cursor, not SQLAlchemy's
            found_rows = p.query(_TREE_HASHES.on(p.dialect), {"indexes": list(wanted)})
        rows = found_rows.rows
    found = {i: bytes(h) for i, h in rows}
    missing = wanted - found.keys()
    if missing:
        raise MissingTreeHash(f"stored tree hash(es) missing: {sorted(missing)[:5]}")
    return [found[i] for i in indexes]


class SessionHashReader:
    """The core's HashReader over the ``tree_hashes`` table, with unflushed hashes overlaid.

    ``known`` holds the hashes this reader already has: unflushed ones the caller put there and
    every one it has read (stored hashes never change), so no index is read twice.
    """

    def __init__(self, session: Reads) -> None:
        self.session = session
        self.known: dict[int, bytes] = {}

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        known = self.known
        missing = [i for i in indexes if i not in known]
        if missing:
            known.update(zip(missing, read_tree_hashes(self.session, missing), strict=True))
        return [known[i] for i in indexes]


# --- checkpoints ----------------------------------------------------------------------------------


def checkpoint_row(
    tree_size: int, root_hash: bytes, note: str, created_at: datetime, map_root: bytes | None
) -> dict[str, object]:
    """A ``checkpoints`` row; ``map_root`` is the licence map root the note commits (None only
    for a note without a map line)."""
    return {
        "tree_size": tree_size,
        "root_hash": root_hash,
        "note": note,
        "created_at": created_at,
        "map_root": map_root,
    }


def latest_size(session: Reads) -> int:
    """The size of the latest signed checkpoint (0: none yet), without loading the checkpoint."""
    size = _scalar(session, _LATEST_SIZE)
    return 0 if size is None else int(size)


def latest_cosigned_size(session: Reads) -> int:
    """The size of the latest checkpoint cosigned to the witness quorum (0: none yet)."""
    size = _scalar(session, _LATEST_COSIGNED_SIZE)
    return 0 if size is None else int(size)


def checkpoint_root(session: Reads, tree_size: int) -> bytes | None:
    """The root hash the checkpoint of ``tree_size`` signs, or None if the log signed none."""
    root = _rows(session, _CHECKPOINT_ROOT, {"tree_size": tree_size}).scalar()
    return None if root is None else bytes(root)


def latest_checkpoint(session: Session) -> CheckpointRow | None:
    stmt = select(CheckpointRow).order_by(CheckpointRow.tree_size.desc()).limit(1)
    return session.scalars(stmt).first()


def get_checkpoint(session: Session, tree_size: int) -> CheckpointRow | None:
    return session.get(CheckpointRow, tree_size)


# --- cosigned checkpoints and tiles (tlog) --------------------------------------------------------


def add_cosigned_checkpoint(
    session: Session, tree_size: int, note: str, created_at: datetime
) -> None:
    session.execute(
        insert(CosignedCheckpointRow).values(tree_size=tree_size, note=note, created_at=created_at)
    )


def latest_cosigned_checkpoint(session: Session) -> CosignedCheckpointRow | None:
    stmt = select(CosignedCheckpointRow).order_by(CosignedCheckpointRow.tree_size.desc()).limit(1)
    return session.scalars(stmt).first()


def read_tree_hash_range(session: Session, first: int, last: int) -> dict[int, bytes]:
    """Stored hashes with ``first <= idx <= last``, by index (one range scan of the primary key)."""
    stmt = select(TreeHashRow.idx, TreeHashRow.hash).where(TreeHashRow.idx.between(first, last))
    return {i: bytes(h) for i, h in session.execute(stmt)}


def entry_leaves(session: Session, start: int, stop: int) -> list[bytes]:
    """The leaf bytes of entries ``start .. stop - 1``, in order."""
    stmt = (
        select(EntryRow.leaf)
        .where(EntryRow.seq >= start, EntryRow.seq < stop)
        .order_by(EntryRow.seq)
    )
    return [bytes(leaf) for leaf in session.scalars(stmt)]


# --- derived indexes: keys, grants, content -------------------------------------------------------


def get_key(session: Session, key_id: str) -> KeyRow | None:
    return session.get(KeyRow, key_id)


def get_key_end(session: Session, key_id: str) -> KeyEndRow | None:
    return session.get(KeyEndRow, key_id)


def party_keys(session: Session, party_id: str) -> list[KeyRow]:
    return list(
        session.scalars(select(KeyRow).where(KeyRow.party_id == party_id).order_by(KeyRow.seq))
    )


def parties_named(session: Session, pseudonym: str) -> list[tuple[str, int]]:
    """``(party_id, registration seq)`` of every party registered under ``pseudonym`` (exactly
    that spelling), in registration order (the ``keys`` pseudonym index)."""
    first = func.min(KeyRow.seq)
    rows = session.execute(
        select(KeyRow.party_id, first)
        .where(KeyRow.pseudonym == pseudonym)
        .group_by(KeyRow.party_id)
        .order_by(first)
    )
    return [(party_id, seq) for party_id, seq in rows]


def key_end_kinds(session: Session, key_ids: Iterable[str]) -> dict[str, str]:
    """How each key that ended did so ('rotated' or 'revoked'), by key id."""
    wanted = list(set(key_ids))
    if not wanted:
        return {}
    return dict(_rows(session, _KEY_ENDS, {"ids": wanted}).all())


def keys_by_id(session: Session, key_ids: Iterable[str]) -> dict[str, Row[Any]]:
    """``key_id``, ``party_id`` and ``pseudonym`` of each registered key asked for."""
    wanted = list(set(key_ids))
    if not wanted:
        return {}
    return {k.key_id: k for k in _rows(session, _KEYS_BY_ID, {"ids": wanted})}


def grants_by_hash(session: Session, hashes: Iterable[bytes]) -> dict[bytes, Row[Any]]:
    """The ``grants`` columns the state rules need, by the grant's statement hash."""
    wanted = list(set(hashes))
    if not wanted:
        return {}
    return {bytes(g.statement_hash): g for g in _rows(session, _GRANTS_BY_HASH, {"hashes": wanted})}


def events_for_grants(session: Session, grant_ids: Iterable[str]) -> dict[str, set[str]]:
    """Event kinds ('accept', 'revoke') recorded per grant id."""
    wanted = list(set(grant_ids))
    out: dict[str, set[str]] = {g: set() for g in wanted}
    if wanted:
        for grant_id, kind in _rows(session, _GRANT_EVENTS, {"ids": wanted}):
            out[grant_id].add(kind)
    return out


def get_grant(session: Session, grant_id: str) -> GrantRow | None:
    return session.get(GrantRow, grant_id)


def grant_events(session: Session, grant_ids: Iterable[str]) -> dict[str, dict[str, GrantEventRow]]:
    """Each grant's events ('accept', 'revoke') by kind, for every grant id asked (one query;
    a grant without events maps to ``{}``)."""
    wanted = list(set(grant_ids))
    out: dict[str, dict[str, GrantEventRow]] = {g: {} for g in wanted}
    if wanted:
        stmt = select(GrantEventRow).where(GrantEventRow.grant_id.in_(wanted))
        for e in session.scalars(stmt):
            out[e.grant_id][e.kind] = e
    return out


def grants_for_content(session: Session, sha256_hex: str) -> list[GrantRow]:
    stmt = (
        select(GrantRow)
        .join(GrantContentRow, GrantContentRow.grant_id == GrantRow.grant_id)
        .where(GrantContentRow.sha256 == sha256_hex)
        .order_by(GrantRow.seq)
    )
    return list(session.scalars(stmt))


def insert_all(
    session: Session, inserts: Sequence[tuple[type, Sequence[Mapping[str, Any]]]]
) -> None:
    """Insert rows into several tables, in the order given; one round trip on PostgreSQL."""
    with Pipeline(session) as p:
        for model, rows in inserts:
            p.insert(_table(model), rows)


def _table(model: type) -> Table:
    return cast(Table, cast(Any, model).__table__)


# --- lookups for the explorer's search and party pages -------------------------------------------


def entry_seq_by_statement_hash(session: Session, statement_hash: bytes) -> int | None:
    """The seq of the entry holding the statement with this hash, or None."""
    stmt = select(EntryRow.seq).where(EntryRow.statement_hash == statement_hash)
    return session.scalar(stmt)


def grants_of_party(session: Session, party_id: str, role: str, limit: int) -> list[GrantRow]:
    """The party's latest ``limit`` grants as ``creator`` or ``buyer``, newest first."""
    column = {"creator": GrantRow.creator_party, "buyer": GrantRow.buyer_party}[role]
    stmt = select(GrantRow).where(column == party_id).order_by(GrantRow.seq.desc()).limit(limit)
    return list(session.scalars(stmt))


def count_grants_of_party(session: Session, party_id: str, role: str) -> int:
    column = {"creator": GrantRow.creator_party, "buyer": GrantRow.buyer_party}[role]
    return int(
        session.scalar(select(func.count()).select_from(GrantRow).where(column == party_id)) or 0
    )
