"""Many writer processes at once, on both backends: over HTTP against a real multi-worker gunicorn,
and straight through ``LogService`` with nothing but the database's lock between them. Afterwards
an outside audit (tests/support/audit_helpers.py) must find one gap-free, hash-chained log that
holds every acknowledged entry, whose signed roots are the roots of its leaves and consistent with
each other. Also: a SIGKILL of the whole server mid-load loses no acknowledged entry."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from ledger.core.note import NoteSigner
from ledger.server.logkey import load_or_create_log_key
from tests.conftest import BACKENDS
from tests.support.audit_helpers import (
    ClientProcesses,
    DbLog,
    HttpLog,
    audit_log,
    run_direct_client,
)
from tests.support.audit_helpers import workload as make_workload
from tests.support.live import LiveServer, run_http_client

CLIENTS = 8
PER_CLIENT = 30
ORIGIN = "test.example/log"

pytestmark = pytest.mark.slow


def _all_acks(results: dict[int, list[dict[str, object]]]) -> list[dict[str, object]]:
    return [ack for acks in results.values() for ack in acks]


def test_http_clients_on_fresh_database(fresh_database_url: str, tmp_path: Path) -> None:
    """8 client processes x 30 statements against 4 gunicorn workers that auto-migrated an empty
    database together at start: every 201 is in one consistent log."""
    _eight_clients(LiveServer(fresh_database_url, tmp_path / "log-key.pem", tmp_path / "gunicorn"))


@pytest.mark.parametrize("backend", BACKENDS[1:], indirect=True)  # PostgreSQL only
def test_http_clients_under_gevent_workers(fresh_database_url: str, tmp_path: Path) -> None:
    """The same with ``LEDGER_WORKER_CLASS=gevent`` and the repository's gunicorn.conf.py, which
    allows gevent on PostgreSQL only (tests/server/test_worker_class.py)."""
    server = LiveServer(
        fresh_database_url,
        tmp_path / "log-key.pem",
        tmp_path / "gunicorn",
        repo_config=True,
        worker_class=None,
        env={"LEDGER_WORKER_CLASS": "gevent"},
    )
    _eight_clients(server)
    assert "Using worker: gevent" in server.stderr(), server.stderr_tail()


def _eight_clients(server: LiveServer) -> None:
    with server:
        clients = ClientProcesses(run_http_client, CLIENTS, server.url, PER_CLIENT).start()
        results = clients.results(timeout=90)
        acks = _all_acks(results)
        assert all(len(a) == PER_CLIENT for a in results.values())
        report = audit_log(HttpLog(server.url), acks)
        assert report.size == CLIENTS * PER_CLIENT
        assert "Traceback" not in server.stderr(), server.stderr_tail()
    # the clients really ran at once: their entries are interleaved in the log
    spans = [max(a["seq"] for a in c) - min(a["seq"] for a in c) + 1 for c in results.values()]
    assert max(spans) > PER_CLIENT


def test_direct_service_appends(database_url: str, tmp_path: Path) -> None:
    """8 processes each with its own LogService on one database: only the DB lock serializes."""
    key_file = tmp_path / "log-key.pem"
    key = load_or_create_log_key(key_file)
    vkey = NoteSigner.from_private_key(ORIGIN, key.private_key).verifier().to_vkey()
    clients = ClientProcesses(
        run_direct_client, CLIENTS, database_url, str(key_file), ORIGIN, PER_CLIENT
    )
    acks = _all_acks(clients.start().results(timeout=90))
    assert len(acks) == CLIENTS * PER_CLIENT
    source = DbLog(database_url, ORIGIN, vkey)
    try:
        report = audit_log(source, acks)
    finally:
        source.close()
    assert report.size == CLIENTS * PER_CLIENT


def _wait_for_size(url: str, size: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        seen = requests.get(f"{url}/v1/log", timeout=5).json()["tree_size"]
        if seen >= size:
            return int(seen)
        time.sleep(0.02)
    raise AssertionError(f"the log reached only {seen} entries, waited for {size}")


def test_sigkill_mid_load_loses_no_acknowledged_entry(live_server: LiveServer) -> None:
    """SIGKILL gunicorn (master and workers) while 8 clients append; after a restart every 201
    is in a consistent log, and appending continues."""
    per_client = 60
    clients = ClientProcesses(run_http_client, CLIENTS, live_server.url, per_client, True)
    clients.start()
    assert live_server.proc is not None
    _wait_for_size(live_server.url, CLIENTS * per_client // 4)
    os.killpg(live_server.proc.pid, signal.SIGKILL)
    live_server.kill()  # reaps the group
    acks = _all_acks(clients.results(timeout=90))
    assert len(acks) < CLIENTS * per_client, "the kill came after the load: nothing was tested"

    live_server.start()  # same database, same log key
    before = audit_log(HttpLog(live_server.url), acks)
    assert before.size >= len(acks)
    http = requests.Session()
    more: list[dict[str, object]] = []
    for group in make_workload(99, 6):
        for signed in group:
            resp = http.post(f"{live_server.url}/v1/entries", json=signed.to_json(), timeout=30)
            assert resp.status_code == 201, resp.text
            more.append(resp.json())
    after = audit_log(HttpLog(live_server.url), acks + more)
    assert after.size == before.size + 6
    assert after.leaf_hashes[: before.size] == before.leaf_hashes
