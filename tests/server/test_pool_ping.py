"""Pooled PostgreSQL connections: pinged before use only after being idle (``db.ping_when_idle``).

A connection the server dropped while it sat idle in the pool (a database restart, a proxy's idle
timeout) is replaced before a request gets it; one used a moment ago is handed out without the
round trip of a ping. The server side is real: ``pg_terminate_backend`` ends the connection.
SQLite has no server connection to lose, so these tests run on PostgreSQL only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import DBAPIError

from ledger.server.storage import db as ledger_db
from ledger.server.storage.db import Database


@pytest.fixture
def pg_url(backend: str, database_url: str) -> str:
    if backend == "sqlite":
        pytest.skip("SQLite runs in process: no server connection to lose")
    return database_url


@pytest.fixture
def admin(pg_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def pooled(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], Database]]:
    """``pooled(seconds)``: a Database whose pooled connections are pinged after that idle time."""
    made: list[Database] = []

    def make(ping_after_s: float) -> Database:
        monkeypatch.setattr(ledger_db, "PING_AFTER_IDLE_S", ping_after_s)
        made.append(Database(pg_url))
        return made[-1]

    yield make
    for database in made:
        database.dispose()


def _backend_pid(database: Database) -> int:
    with database.read_session() as session:
        return int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(admin: sa.Engine, pid: int) -> None:
    with admin.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    # pg_terminate_backend only signals: wait until the backend is gone (a new transaction each
    # time: pg_stat_activity is a snapshot taken once per transaction)
    for _ in range(1000):
        with admin.connect() as conn:
            gone = conn.execute(
                sa.text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
            ).scalar()
        if gone:
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} did not end")


def test_a_connection_dropped_while_idle_is_replaced_unseen(
    pooled: Callable[[float], Database], admin: sa.Engine
) -> None:
    database = pooled(0.2)
    first = _backend_pid(database)
    assert _backend_pid(database) == first  # the pool hands back the same connection
    _terminate(admin, first)
    time.sleep(0.3)  # idle for longer than the threshold: pinged, found dead, replaced
    assert _backend_pid(database) != first
    # The replacement is a full connection: the per-connection settings were made again.
    with database.read_session() as session:
        assert session.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == "force_custom_plan"


def test_a_connection_used_a_moment_ago_is_not_pinged(
    pooled: Callable[[float], Database], admin: sa.Engine
) -> None:
    # A busy connection that the server dropped fails its request once, as a request in flight
    # would have (the trade for no ping per request); the pool then replaces it.
    database = pooled(3600.0)
    first = _backend_pid(database)
    _terminate(admin, first)
    with pytest.raises(DBAPIError):
        _backend_pid(database)
    assert _backend_pid(database) != first


def test_a_read_on_a_connection_cut_a_moment_ago_is_a_503_then_the_app_recovers(
    pg_url: str, admin: sa.Engine, app: Flask
) -> None:
    client = app.test_client()
    assert client.get("/v1/entries/0").status_code == 404  # the empty log; a pooled connection
    _terminate(admin, _backend_pid(app.extensions["ledger"].db))
    cut = client.get("/v1/entries/0")
    assert (cut.status_code, cut.mimetype) == (503, "application/problem+json")
    assert cut.json is not None
    assert cut.json["code"] == "unavailable"
    assert client.get("/v1/entries/0").status_code == 404  # a fresh connection
