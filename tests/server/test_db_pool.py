"""The database pool keeps as many connections as the requests a process serves at once.

SQLAlchemy's default pool keeps 5. A gthread worker with more threads than that, all busy, opened
a connection for every request past the fifth and closed it after (on PostgreSQL a new server
process each time): under 16 concurrent proof requests, ~270 connections per 10,000 requests
(docs/BENCHMARKS.md). ``LEDGER_DB_POOL_SIZE`` sets the pool, gunicorn.conf.py sizes it to the
threads of a gthread worker, and ``ledger_database_connections_opened_total`` shows churn.
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, text
from sqlalchemy.exc import SADeprecationWarning

from ledger.server.config import Config
from ledger.server.storage.db import Database
from tests.support.live import LiveServer


def _connections_opened(pool_size: int, url: str, threads: int, rounds: int) -> int:
    """Connections a pool of ``pool_size`` opens while ``threads`` threads each hold one at the
    same moment, then all give them back, ``rounds`` times over."""
    db = Database(url, pool_size)
    opened = 0

    def count(*_: object) -> None:
        nonlocal opened
        opened += 1

    event.listen(db.engine, "connect", count)
    together = threading.Barrier(threads)

    def hold() -> None:
        for _ in range(rounds):
            with db.read_session() as session:
                session.execute(text("SELECT 1"))
                together.wait(timeout=30)  # every thread holds a connection now
            together.wait(timeout=30)  # and every one gave it back before the next round

    try:
        with ThreadPoolExecutor(threads) as pool:
            for done in [pool.submit(hold) for _ in range(threads)]:
                done.result()
    finally:
        db.dispose()
    return opened


def test_a_pool_as_large_as_the_concurrency_opens_each_connection_once(
    database_url: str,
) -> None:
    # More threads than SQLAlchemy's default pool of 5 keeps: that one would reopen 3 a round.
    assert _connections_opened(8, database_url, threads=8, rounds=6) == 8


def test_a_smaller_pool_opens_and_closes_the_connections_past_it(database_url: str) -> None:
    # 4 kept and 4 more for the burst: the 4 extra are opened again every round, closed after.
    assert _connections_opened(4, database_url, threads=8, rounds=6) == 4 + 4 * 6


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:m?mode=memory&uri=true"]
)
def test_in_memory_sqlite_keeps_its_own_pool(url: str) -> None:
    with warnings.catch_warnings():
        # SQLAlchemy warns that it will stop choosing its per-thread pool for "mode=memory"; the
        # engine must start either way, with whatever pool SQLAlchemy chooses.
        warnings.simplefilter("ignore", SADeprecationWarning)
        db = Database(url, 4)  # one connection per thread there: no pool size to set
    try:
        with db.read_session() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
    finally:
        db.dispose()


def test_a_light_load_reuses_the_connection_used_last(database_url: str) -> None:
    db = Database(database_url, 4)
    try:
        sessions = [db.read_session() for _ in range(4)]
        for session in sessions:  # four connections open at once, all kept
            session.execute(text("SELECT 1"))
        dbapi = [session.connection().connection.dbapi_connection for session in sessions]
        for session in sessions:
            session.close()
        for _ in range(5):  # one at a time: always the one given back last (warm on the server)
            with db.read_session() as session:
                session.execute(text("SELECT 1"))
                assert session.connection().connection.dbapi_connection is dbapi[-1]
    finally:
        db.dispose()


def test_the_pool_size_setting() -> None:
    assert Config.from_env({}).db_pool_size == 16
    assert Config.from_env({"LEDGER_DB_POOL_SIZE": "32"}).db_pool_size == 32
    with pytest.raises(ValueError, match="LEDGER_DB_POOL_SIZE must be an integer of at least 1"):
        Config.from_env({"LEDGER_DB_POOL_SIZE": "0"})
    with pytest.raises(ValueError, match=r"LEDGER_DB_POOL_SIZE must be .*, not 'many'"):
        Config.from_env({"LEDGER_DB_POOL_SIZE": "many"})


def _opened_total(url: str) -> float:
    text_ = requests.get(f"{url}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text_):
        for s in family.samples:
            if s.name == "ledger_database_connections_opened_total":
                return float(s.value)
    raise AssertionError("ledger_database_connections_opened_total is not exposed")


def _busy_worker(url: str, clients: int, requests_each: int) -> None:
    def client(_: int) -> None:
        with requests.Session() as http:  # keep-alive: one worker thread per client
            for _ in range(requests_each):
                assert http.get(f"{url}/v1/log", timeout=30).status_code == 200

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("pool_env", "expect_churn"), [({}, False), ({"LEDGER_DB_POOL_SIZE": "2"}, True)]
)
def test_a_gthread_worker_keeps_one_connection_per_thread(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pool_env: dict[str, str],
    expect_churn: bool,
) -> None:
    monkeypatch.delenv("LEDGER_DB_POOL_SIZE", raising=False)  # the server inherits the env
    threads = 20  # post_fork's sizing itself: test_worker_class.py
    server = LiveServer(
        database_url,
        tmp_path / "log-key.pem",
        tmp_path / "gunicorn",
        workers=1,
        threads=threads,
        repo_config=True,  # its post_fork sizes the pool from --threads unless the env says
        env=pool_env,
    )
    with server:
        _busy_worker(server.url, clients=threads, requests_each=60)
        opened = _opened_total(server.url)
    if expect_churn:  # the setting wins, and the metric shows what it costs
        assert opened > 2 * 2, opened
    else:  # the connection of the start-up check is counted too, and reused
        assert 1 <= opened <= threads, opened
