"""Storage guarantees that the database itself enforces, on SQLite and PostgreSQL: the append-only
triggers refuse every change to the log's rows (whoever connects), and the migrations go up, down
and up again to the same schema."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from ledger.core import builders
from ledger.core.checkpoint import open_checkpoint
from ledger.core.keys import SigningKey
from ledger.core.note import NoteVerifier
from ledger.core.statements import SignedStatement
from ledger.server.app import create_app
from ledger.server.config import Config
from ledger.server.logkey import load_or_create_log_key
from ledger.server.service import LogService
from ledger.server.storage import db as ledger_db
from ledger.server.storage import models as ledger_models
from ledger.server.storage import repository as repo
from tests.support.factories import seeded_key

#: Every append-only table, and one column each that a tamperer would like to change.
TABLES = {
    "entries": "type",
    "tree_hashes": "hash",
    "checkpoints": "note",
    "log_meta": "origin",
    "keys": "pseudonym",
    "key_ends": "kind",
    "grants": "buyer_party",
    "grant_content": "sha256",
    "grant_events": "kind",
    "cosigned_checkpoints": "note",
    "map_nodes": "node",
}


@pytest.fixture
def filled(
    service: LogService,
    database_url: str,
    creator_key: SigningKey,
    buyer_key: SigningKey,
    make_grant: Callable[..., SignedStatement],
) -> Iterator[sa.Engine]:
    """A log with a row in every append-only table; an engine outside the app to attack it."""
    creator, buyer = creator_key, buyer_key
    grant = make_grant()
    service.append(
        [
            builders.party_register(creator, "creator"),
            builders.party_register(buyer, "buyer"),
            grant,
            builders.grant_accept(buyer, grant.statement_hash),
            builders.key_revoke(buyer, buyer.key_id, "retired"),
        ]
    )
    # The witness publisher's table (written only with a witness policy): one row, as it would.
    with service.db.append_transaction() as session:
        cp = repo.latest_checkpoint(session)
        assert cp is not None
        repo.add_cosigned_checkpoint(session, cp.tree_size, cp.note, datetime.now(UTC))
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def _snapshot(engine: sa.Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {
            table: [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))]
            for table in TABLES
        }


def _attacks(table: str, column: str, dialect: str) -> list[str]:
    value = "x'00'" if column == "hash" else "'tampered'"
    if dialect == "postgresql" and column == "hash":
        value = "'\\x00'::bytea"
    attacks = [
        f"UPDATE {table} SET {column} = {value}",
        f"DELETE FROM {table}",  # SQLite's truncate optimisation is off when a trigger exists
        f"DELETE FROM {table} WHERE 1 = 1",
    ]
    if dialect == "postgresql":
        attacks.append(f"TRUNCATE {table} CASCADE")
    return attacks


@pytest.mark.parametrize("table", TABLES)
def test_append_only_triggers_refuse_every_change(filled: sa.Engine, table: str) -> None:
    before = _snapshot(filled)
    assert before[table], f"the fixture must put a row in {table}"
    for statement in _attacks(table, TABLES[table], filled.dialect.name):
        with pytest.raises(sa.exc.DBAPIError) as info, filled.begin() as conn:
            conn.execute(sa.text(statement))
        assert "append-only" in str(info.value), statement
    assert _snapshot(filled) == before


def test_inserting_is_still_allowed_after_a_refusal(filled: sa.Engine, service: LogService) -> None:
    with pytest.raises(sa.exc.DBAPIError), filled.begin() as conn:
        conn.execute(sa.text("DELETE FROM entries"))
    result = service.append_one(builders.party_register(seeded_key(3), "third"))
    assert result.seq == 5


# --- Migrations -----------------------------------------------------------------------------------


def _schema(url: str) -> dict[str, Any]:
    """Tables, columns, keys, indexes, constraints and triggers, in a comparable form."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        inspector = sa.inspect(engine)
        tables = sorted(inspector.get_table_names())
        schema: dict[str, Any] = {
            table: {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                ],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (fk["name"] or "", tuple(fk["constrained_columns"]), fk["referred_table"])
                    for fk in inspector.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    (u["name"] or "", tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
                "checks": sorted(
                    (c["name"] or "", c["sqltext"]) for c in inspector.get_check_constraints(table)
                ),
            }
            for table in tables
        }
        schema["_triggers"] = _triggers(engine)
        return schema
    finally:
        engine.dispose()


def _triggers(engine: sa.Engine) -> list[tuple[str, ...]]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
        else:
            query = (
                "SELECT tgname, tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger "
                "WHERE NOT tgisinternal UNION ALL SELECT proname, '', prosrc FROM pg_proc "
                "WHERE proname = 'ledger_append_only'"
            )
        return sorted(tuple(row) for row in conn.execute(sa.text(query)))


def test_migrations_go_up_down_and_up_to_the_same_schema(fresh_database_url: str) -> None:
    url = fresh_database_url
    ledger_db.upgrade(url)
    head = _schema(url)
    assert set(TABLES) <= set(head)
    # Two triggers per table on each backend (UPDATE/DELETE, or row/TRUNCATE), plus the function.
    pg = not url.startswith("sqlite")
    assert len(head["_triggers"]) == 2 * len(TABLES) + pg

    ledger_db.downgrade(url, "base")
    base = _schema(url)
    assert set(base) - {"_triggers"} == {"alembic_version"}
    assert base["_triggers"] == []

    ledger_db.upgrade(url)
    assert _schema(url) == head


def test_a_re_migrated_database_enforces_append_only_again(fresh_database_url: str) -> None:
    url = fresh_database_url
    ledger_db.upgrade(url)
    ledger_db.downgrade(url, "base")
    ledger_db.upgrade(url)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO tree_hashes (idx, hash) VALUES (0, :h)",
                ),
                {"h": b"\x01" * 32},
            )
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM tree_hashes"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM tree_hashes")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_sqlite_connection_waits_for_another_ones_lock_to_set_wal(tmp_path: Path) -> None:
    # gunicorn's workers start together: one may hold the fresh database's lock while another
    # connects and sets the journal mode, which must wait for the lock, not fail the worker.
    # (The busy handler covers this case; the WAL-recovery race that db._use_wal also retries
    # could not be staged reliably in a test.)
    path = tmp_path / "fresh.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    engine = ledger_db.make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        assert str(mode).lower() == "wal"
    finally:
        release.join()
        engine.dispose()
        holder.close()


class _RolledBack(Exception):
    pass


@pytest.mark.parametrize("count", [3, ledger_db.MULTI_ROW_MAX, ledger_db.MULTI_ROW_MAX + 11])
def test_pipelined_inserts_store_every_value_as_given(service: LogService, count: int) -> None:
    # On PostgreSQL up to MULTI_ROW_MAX rows go in as one VALUES list, more as a COPY (in order,
    # parents first): both must store exactly the rows given, NULLs, booleans, bytes and times
    # included, in their columns. Rolled back afterwards: the rows are not a real log.
    t0 = datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=UTC)
    entries = [
        {"seq": i, "leaf": bytes([i % 256]) * (i + 1), "leaf_hash": bytes([i % 256]) * 32,
         "statement_hash": bytes([255 - i % 256]) * 32, "type": f"t{i}", "signer": f"s{i}",
         "integrated_at": t0.replace(second=i % 60)}
        for i in range(count)
    ]  # fmt: skip
    grants = [
        {"grant_id": f"g-{i}", "seq": i, "statement_hash": bytes([i % 256]) * 32,
         "creator_party": f"c{i}", "buyer_party": f"b{i}", "revocable": i % 2 == 0,
         "notice_days": None if i % 3 == 0 else i}
        for i in range(count)
    ]  # fmt: skip
    events = [
        {"grant_id": f"g-{i}", "kind": "revoke" if i % 2 else "accept", "seq": i,
         "effective_at": None if i % 2 == 0 else t0.replace(minute=i % 60)}
        for i in range(count)
    ]  # fmt: skip
    given = {"entries": entries, "grants": grants, "grant_events": events}
    tables = {t: ledger_models.Base.metadata.tables[t] for t in given}
    stored: dict[str, list[dict[str, Any]]] = {}

    def insert_read_and_roll_back() -> None:
        with service.db.append_transaction() as session:
            with ledger_db.Pipeline(session) as p:
                for name, rows in given.items():
                    p.insert(tables[name], rows)
            for name, table in tables.items():
                result = session.execute(sa.select(table).order_by(table.c.seq))
                stored[name] = [dict(r._mapping) for r in result]
            raise _RolledBack

    with pytest.raises(_RolledBack):
        insert_read_and_roll_back()
    for name, rows in given.items():
        assert [_normal(r) for r in stored[name]] == [_normal(r) for r in rows], name
    with service.db.read_session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(tables["entries"])) == 0


def _normal(row: dict[str, Any]) -> dict[str, Any]:
    """Times compared as UTC instants (SQLite hands them back without a zone), bytes as bytes."""
    out = {}
    for k, v in row.items():
        if isinstance(v, datetime):
            out[k] = v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
        else:
            out[k] = bytes(v) if isinstance(v, memoryview) else v
    return out


# --- the checkpoint of size 0 (docs/FORMAT.md §6) --------------------------------------------


def _checkpoints(url: str) -> list[tuple[int, bytes, str]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT tree_size, root_hash, note FROM checkpoints ORDER BY tree_size")
            )
            return [(int(size), bytes(root), str(note)) for size, root, note in rows]
    finally:
        engine.dispose()


def _start(config: Config) -> Flask:
    app = create_app(config)
    app.extensions["ledger"].db.dispose()  # prepared at start: no connection is needed after
    return app


def test_a_new_log_signs_the_empty_tree_once_and_an_existing_log_never(config: Config) -> None:
    app = _start(config)
    ((size, root, note),) = _checkpoints(config.database_url)
    verifier = NoteVerifier.from_vkey(app.extensions["ledger"].verifier_key)
    cp, _ = open_checkpoint(note, verifier)
    assert (size, root) == (0, hashlib.sha256(b"").digest())  # RFC 9162: MTH({}) = SHA-256()
    assert (cp.origin, cp.tree_size, cp.root_hash) == (config.origin, 0, root)
    _start(config)  # a restart: the identity is bound, so nothing is added
    assert _checkpoints(config.database_url) == [(size, root, note)]
    service = _start(config).extensions["ledger"].service
    service.append_one(builders.party_register(seeded_key(1), "first"))
    service.db.dispose()
    _start(config)
    assert [c[0] for c in _checkpoints(config.database_url)] == [0, 1]


def test_a_log_bound_before_the_empty_checkpoint_existed_gets_none_on_restart(
    config: Config,
) -> None:
    # A database whose identity a former version bound (no size-0 checkpoint) stays as it is.
    key = load_or_create_log_key(config.log_key_file)
    database = ledger_db.Database(config.database_url)
    try:
        with database.append_transaction() as session:
            repo.add_log_meta(session, config.origin, key.public_key.raw, datetime.now(UTC))
    finally:
        database.dispose()
    app = _start(config)
    assert _checkpoints(config.database_url) == []
    with app.test_client() as client:
        assert client.get("/v1/checkpoint").status_code == 404
    app.extensions["ledger"].db.dispose()
