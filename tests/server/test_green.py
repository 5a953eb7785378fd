"""``ledger.server.storage.green``: PostgreSQL waits under gevent workers, in a real gevent-patched
interpreter on the real server. The HTTP side (appends through gunicorn's gevent workers) is in
tests/server/test_concurrency.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import psycopg
import pytest

from ledger.server.config import PROJECT_ROOT
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS[1:], indirect=True)

_PRELUDE = """
from gevent import monkey
monkey.patch_all()

import sys
import time

import gevent
import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.server.storage import green
from ledger.server.storage.db import Database, Pipeline

URL = sys.argv[1]
DSN = URL.replace("postgresql+psycopg://", "postgresql://", 1)
"""


def _run_green(script: str, database_url: str) -> str:
    """Run ``script`` after gevent's ``patch_all`` in a fresh interpreter; its stdout."""
    code = _PRELUDE + textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-c", code, database_url],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_gevent_workers_connect_with_green_connections(database_url: str) -> None:
    out = _run_green(
        """
        db = Database(URL)
        with db.engine.connect() as conn:
            print(type(conn.connection.driver_connection).__name__, green.is_green())
        """,
        database_url,
    )
    assert out.split() == ["GreenConnection", "True"]


def test_without_gevent_psycopg_waits_as_it_always_does(database_url: str) -> None:
    from ledger.server.storage import green
    from ledger.server.storage.db import Database

    db = Database(database_url)
    try:
        with db.engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert type(driver) is psycopg.Connection
        assert not green.is_green()
    finally:
        db.dispose()


def test_a_query_waiting_on_the_server_lets_other_greenlets_run(database_url: str) -> None:
    out = _run_green(
        """
        db = Database(URL)
        events = []

        def slow():
            with db.engine.connect() as conn:
                conn.execute(text("SELECT pg_sleep(0.6)"))
            events.append("query")

        def ticks():
            for _ in range(3):
                gevent.sleep(0.05)
                events.append("tick")

        gevent.joinall([gevent.spawn(slow), gevent.spawn(ticks)], raise_error=True)
        print(" ".join(events))
        """,
        database_url,
    )
    assert out.split() == ["tick", "tick", "tick", "query"]


def test_pipelined_statements_give_their_results_in_order(database_url: str) -> None:
    out = _run_green(
        """
        db = Database(URL)

        def run(offset):
            with Session(db.engine) as session, session.begin():
                with Pipeline(session) as p:
                    rows = [p.query(text("SELECT CAST(:n AS integer), pg_sleep(0.01)"),
                                    {"n": offset + i}) for i in range(25)]
            return [r.rows[0][0] for r in rows]

        jobs = [gevent.spawn(run, k * 100) for k in range(4)]
        gevent.joinall(jobs, raise_error=True)
        print(all(job.value == [k * 100 + i for i in range(25)] for k, job in enumerate(jobs)))
        """,
        database_url,
    )
    assert out.strip() == "True"


def test_a_timeout_bounds_the_whole_exchange(database_url: str) -> None:
    out = _run_green(
        """
        from psycopg import errors, generators
        conn = green.GreenConnection.connect(DSN, autocommit=True)
        conn.pgconn.send_query(b"SELECT pg_sleep(5)")
        started = time.monotonic()
        try:
            green.wait_green(generators.fetch_many(conn.pgconn), conn.pgconn.socket, 0.2)
        except errors._WaitTimeout:
            print("timed out", time.monotonic() - started < 3)
        conn.close()
        """,
        database_url,
    )
    assert out.split() == ["timed", "out", "True"]


def test_a_connection_cut_by_the_server_raises_instead_of_hanging(database_url: str) -> None:
    out = _run_green(
        """
        with green.GreenConnection.connect(DSN, autocommit=True) as victim:
            pid = victim.info.backend_pid

            def cut():
                gevent.sleep(0.2)
                with psycopg.connect(DSN, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", [pid])

            killer = gevent.spawn(cut)
            try:
                victim.execute("SELECT pg_sleep(30)")
                print("no error")
            except psycopg.OperationalError:
                print("OperationalError")
            killer.join()
        """,
        database_url,
    )
    assert out.strip() == "OperationalError"
