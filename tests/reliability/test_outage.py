"""A database outage under real gunicorn, with workers and masters dying during it.

The database is stopped for real: on PostgreSQL a private server (``tests.support.private_pg``,
never the machine's shared one) is stopped as by a crash (``pg_ctl -m immediate``); on SQLite the
folder holding the database file goes away (a volume unmounted: a file stands at its path, so that
not even an empty database can be made there). While it is away, every worker is SIGKILLed several
times and then the whole server, master included, and started again. The replacements must boot
(gunicorn's master stops for good when a worker fails to boot: issue 17), answer 503 with a
problem naming the database, and keep answering what needs no database. Once the database is
back, appends must succeed within seconds with nothing restarted by hand, and the whole log must
audit with every acknowledged entry in place.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from ledger.core import builders
from ledger.core.keys import SigningKey
from tests.conftest import REQUIRE_POSTGRES
from tests.support.audit_helpers import Ack, HttpLog, audit_log
from tests.support.live import LiveServer
from tests.support.private_pg import PrivatePostgres, unavailable_reason

#: Appends must succeed again this soon after the database is back (the gate retries every
#: second; pooled connections idle for over a second are pinged and replaced).
RECOVERY_S = 10.0


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    reason = unavailable_reason()
    if reason is not None:
        if REQUIRE_POSTGRES:  # CI: the PostgreSQL leg may not pass by being skipped
            pytest.fail(f"LEDGER_REQUIRE_POSTGRES is set but no private server can run: {reason}")
        pytest.skip(f"no private PostgreSQL server: {reason}")
    server = PrivatePostgres()
    server.start()
    yield server
    server.close()


@pytest.fixture
def private_pg_url(private_pg: PrivatePostgres) -> Iterator[str]:
    """A new, empty database on the private server (the app migrates it itself)."""
    name = f"ledger_outage_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(private_pg.url(), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield private_pg.url(name)
    if not (private_pg.data / "postmaster.pid").exists():  # a test failed while it was down
        private_pg.start()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("worker_class", ["gthread", "gevent"])
def test_postgresql_outage_with_dead_workers(
    private_pg: PrivatePostgres, private_pg_url: str, worker_class: str, tmp_path: Path
) -> None:
    server = _server(private_pg_url, tmp_path, worker_class)
    with server:
        acks = _append_n(server.url, 5)
        private_pg.stop()  # a crash of the database server
        acks += _outage(server, restore=private_pg.start)
        acks += _append_n(server.url, 5)
        audit_log(HttpLog(server.url), acks)


@pytest.mark.slow
def test_sqlite_outage_with_dead_workers(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    server = _server(f"sqlite:///{volume / 'ledger.db'}", tmp_path, "gthread")
    away = tmp_path / "volume.away"

    def unmount() -> None:
        volume.rename(away)
        volume.write_text("a file where the database's folder was\n")

    def remount() -> None:
        volume.unlink()
        away.rename(volume)

    with server:
        acks = _append_n(server.url, 5)
        unmount()
        _kill_workers(server, all_of_them=True)  # their open files outlive the path: new ones
        acks += _outage(server, restore=remount)
        acks += _append_n(server.url, 5)
        audit_log(HttpLog(server.url), acks)


def _server(database_url: str, tmp_path: Path, worker_class: str) -> LiveServer:
    return LiveServer(
        database_url,
        tmp_path / "log-key.pem",
        tmp_path / "gunicorn",
        workers=2,
        threads=4,
        repo_config=True,  # as deployed: gunicorn.conf.py's hooks and settings
        worker_class=worker_class,
    )


def _outage(server: LiveServer, restore: Callable[[], None]) -> list[Ack]:
    """While the database is away: every answer that needs it is a 503 naming it, the rest are
    answered; workers and then the whole server die and come back. Then the database returns."""
    _assert_unavailable(server.url)
    master = server.proc.pid if server.proc else 0
    _kill_workers(server, all_of_them=False)  # one worker (the OOM killer, a crash)
    for _ in range(3):  # then every one of the master's children, again and again
        _kill_workers(server, all_of_them=True)
        _assert_unavailable(server.url)  # workers that never saw the database
    assert server.proc is not None
    assert server.proc.pid == master
    assert server.proc.poll() is None, server.stderr_tail()
    assert "Worker failed to boot" not in server.stderr()
    server.kill()  # the master too: started again while the database is still away
    server.start(database=False)
    _assert_unavailable(server.url)
    restore()
    started = time.monotonic()
    ack = _append_within(server.url, RECOVERY_S)
    print(f"appends succeed {time.monotonic() - started:.2f} s after the database is back")
    # Every worker is ready soon after (one that failed a moment ago answers from memory for a
    # second): 20 readiness checks in a row, spread over the workers, all 200.
    in_a_row = 0
    while in_a_row < 20:
        ready = requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
        in_a_row = in_a_row + 1 if ready else 0
        assert time.monotonic() - started < RECOVERY_S, "a worker did not become ready"
    print(f"every worker ready {time.monotonic() - started:.2f} s after the database is back")
    return [ack]


def _kill_workers(server: LiveServer, *, all_of_them: bool) -> None:
    """SIGKILL the master's children (all, or one) and wait until as many new ones booted."""
    old = server.worker_pids()
    assert len(old) == server.workers, old
    for pid in sorted(old)[: None if all_of_them else 1]:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.proc is not None
        assert server.proc.poll() is None, server.stderr_tail()  # the master never gives up
        now = server.worker_pids()
        replaced = not (now & old) if all_of_them else now != old
        if len(now) == server.workers and now <= server.ready_pids() and replaced:
            return
        time.sleep(0.05)
    raise AssertionError(f"the killed workers were not replaced\n{server.stderr_tail()}")


def _assert_unavailable(url: str) -> None:
    """Several requests (several workers): what needs the database is a 503 problem."""
    for _ in range(6):
        ready = requests.get(f"{url}/readyz", timeout=30)
        assert ready.status_code == 503, ready.text
        assert ready.headers["Content-Type"] == "application/problem+json"
        assert ready.json()["code"] == "unavailable"
        assert "database" in ready.json()["detail"]
        resp = requests.post(f"{url}/v1/entries", json=_envelope(), timeout=30)
        assert (resp.status_code, resp.json()["code"]) == (503, "unavailable"), resp.text
        resp = requests.get(f"{url}/v1/log", timeout=30)
        assert (resp.status_code, resp.json()["code"]) == (503, "unavailable"), resp.text
        # Answered without the database:
        assert requests.get(f"{url}/healthz", timeout=30).status_code == 200
        assert requests.get(f"{url}/openapi.json", timeout=30).status_code == 200
        refused = requests.request("TRACE", f"{url}/v1/log", timeout=30)
        assert (refused.status_code, refused.headers["Allow"]) == (405, "GET, HEAD, OPTIONS")


def _append_within(url: str, seconds: float) -> Ack:
    deadline = time.monotonic() + seconds
    while True:
        resp = requests.post(f"{url}/v1/entries", json=_envelope(), timeout=30)
        if resp.status_code == 201:
            return _ack(resp.json())
        assert resp.status_code == 503, resp.text
        assert time.monotonic() < deadline, f"still {resp.status_code} after {seconds} s"
        time.sleep(0.1)


def _append_n(url: str, n: int) -> list[Ack]:
    acks: list[Ack] = []
    for _ in range(n):
        resp = requests.post(f"{url}/v1/entries", json=_envelope(), timeout=30)
        assert resp.status_code == 201, resp.text
        acks.append(_ack(resp.json()))
    return acks


def _ack(body: dict[str, object]) -> Ack:
    return {k: body[k] for k in ("seq", "leaf_hash", "statement_hash", "tree_size")}


def _envelope() -> dict[str, object]:
    return builders.party_register(SigningKey.generate(), "outage").to_json()
