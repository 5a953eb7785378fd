"""Metrics under a real gunicorn with the repository's gunicorn.conf.py and two workers: every
scrape, whichever worker answers it, reports the sum over all workers (Prometheus multiprocess
mode), and a worker that dies keeps its counts in the sum (the ``child_exit`` hook)."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ledger.core import builders
from ledger.core.keys import SigningKey
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow


def _append(url: str) -> int:
    """One append on a new connection (so that connections spread over the workers)."""
    envelope = builders.party_register(SigningKey.generate(), "m").to_json()
    resp = requests.post(f"{url}/v1/entries", json=envelope, timeout=30)
    assert resp.status_code == 201, resp.text
    return int(resp.json()["seq"])


def _appends_total(url: str) -> tuple[float, float]:
    """(ledger_appends_total for party.register, ledger_tree_size) from one scrape."""
    text = requests.get(f"{url}/metrics", timeout=30).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "ledger_appends_total" and s.labels == {"type": "party.register"}:
                values["appends"] = s.value
            if s.name == "ledger_tree_size":
                values["size"] = s.value
    return values.get("appends", 0.0), values["size"]


def _pids_that_served(server: LiveServer, method: str, path: str) -> set[int]:
    pids = set()
    for line in server.stderr().splitlines():
        if line.startswith("{"):
            rec: dict[str, Any] = json.loads(line)
            if rec.get("method") == method and rec.get("path") == path:
                pids.add(int(rec["pid"]))
    return pids


def test_metrics_are_summed_over_workers_and_survive_a_dead_worker(
    database_url: str, tmp_path: Path
) -> None:
    server = LiveServer(
        database_url,
        tmp_path / "log-key.pem",
        tmp_path / "gunicorn",
        workers=2,
        threads=2,
        repo_config=True,
    )
    with server, ThreadPoolExecutor(8) as pool:
        appended = 0
        while len(_pids_that_served(server, "POST", "/v1/entries")) < 2:
            assert appended < 400, "one worker took every connection"
            appended += len(list(pool.map(lambda _: _append(server.url), range(16))))
        for _ in range(6):  # several scrapes: each may be answered by either worker
            assert _appends_total(server.url) == (appended, appended)
        assert len(_pids_that_served(server, "GET", "/metrics")) >= 1
        victim = min(_pids_that_served(server, "POST", "/v1/entries"))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while server.ready_workers() < 3:  # gunicorn replaced the dead worker
            assert time.monotonic() < deadline, server.stderr_tail()
            time.sleep(0.1)
        appended += len(list(pool.map(lambda _: _append(server.url), range(4))))
        for _ in range(6):
            assert _appends_total(server.url) == (appended, appended)
    prom_dir = tmp_path / "gunicorn" / "prometheus"
    assert any(prom_dir.glob("counter_*.db"))  # multiprocess mode was really in use
