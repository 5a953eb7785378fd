"""Crash torture, on both backends: the service under gunicorn with 8 client processes appending
(singles and batches), and SIGKILL at random moments, many times: one worker (gunicorn respawns
it), the master alone (its workers are orphaned, then reaped), or the whole process group; after
each kill of the master the server restarts on the same database and key.

Afterwards: every acknowledged entry is in the log where it was acknowledged, with a checkpoint
at the size it was told; nothing unacknowledged is half written (every row parses and chains,
the stored tree hashes are exactly those of the entries, a checkpoint exists at the head, and the
derived index rows are exactly those of the entries); every checkpoint verifies and is
consistent with the head; and the full audit (``ledger.client.audit``, over HTTP, with worker
processes) passes, as does the database audit.

Random but reproducible: the seed is printed and in every failure message; set
``LEDGER_TORTURE_SEED`` to replay a run (the kill moments still depend on timing).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.client import LogClient
from ledger.client.audit import LogAuditor
from ledger.core.note import NoteVerifier
from ledger.server.dbaudit import audit_database
from tests.reliability.logs import ORIGIN, vkey_of
from tests.reliability.torture import run_torture_client
from tests.support.audit_helpers import ClientProcesses, HttpLog, audit_log
from tests.support.live import LiveServer

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("LEDGER_TORTURE_SEED", random.SystemRandom().randrange(2**32)))
CLIENTS = 8
#: The kills of one run, shuffled: half a worker, a quarter the master, a quarter the group.
KILLS = ("worker", "worker", "worker", "worker", "master", "master", "group", "group")


def _worker_pids(master: int) -> list[int]:
    """The master's children (Linux lists them per thread; gunicorn's master is one thread)."""
    try:
        return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    except OSError:
        return []


class Torturer:
    """Kills and restarts ``server``; publishes its current URL in ``url_file``."""

    def __init__(self, server: LiveServer, url_file: Path, rng: random.Random) -> None:
        self.server = server
        self.url_file = url_file
        self.rng = rng
        self.kills: Counter[str] = Counter()

    def start(self) -> None:
        self.server.start()
        self.url_file.write_text(self.server.url)

    def size(self) -> int:
        return int(LogClient(self.server.url, timeout=10).log_info()["tree_size"])

    def wait_for_appends(self, count: int, timeout: float = 60.0) -> None:
        """Until the log has grown by ``count`` entries (the clients are busy)."""
        deadline = time.monotonic() + timeout
        start = self.size()
        while self.size() < start + count:
            assert time.monotonic() < deadline, f"the log stopped growing (seed {SEED})"
            time.sleep(0.02)

    def kill(self, kind: str) -> None:
        assert self.server.proc is not None
        master = self.server.proc.pid
        workers = _worker_pids(master)
        if kind == "worker" and workers:
            os.kill(self.rng.choice(workers), signal.SIGKILL)  # gunicorn respawns it
        elif kind == "master":
            os.kill(master, signal.SIGKILL)
            time.sleep(self.rng.uniform(0.0, 0.5))  # orphaned workers may still answer
            self.server.kill()
            self.start()
        else:
            os.killpg(master, signal.SIGKILL)
            self.server.kill()
            self.start()
        self.kills[kind] += 1


def test_sigkill_torture_loses_nothing_and_leaves_nothing_half_written(
    database_url: str, tmp_path: Path
) -> None:
    print(f"LEDGER_TORTURE_SEED={SEED}")
    rng = random.Random(SEED)
    key_file = tmp_path / "log-key.pem"
    server = LiveServer(database_url, key_file, tmp_path / "gunicorn", origin=ORIGIN, workers=2)
    url_file, stop_file = tmp_path / "url", tmp_path / "stop"
    torturer = Torturer(server, url_file, rng)
    torturer.start()
    clients = ClientProcesses(run_torture_client, CLIENTS, str(url_file), str(stop_file), 12)
    try:
        clients.start()
        for kind in rng.sample(KILLS, len(KILLS)):
            torturer.wait_for_appends(rng.randint(5, 40))
            time.sleep(rng.uniform(0.0, 0.2))
            torturer.kill(kind)
        torturer.wait_for_appends(5)  # the clients got through the last kill
        stop_file.touch()
        results = clients.results(timeout=150)
        _check_the_log(server, database_url, vkey_of(key_file), results, torturer)
    finally:
        stop_file.touch()
        server.stop()


def _check_the_log(
    server: LiveServer,
    database_url: str,
    vkey: str,
    results: dict[int, list[dict[str, object]]],
    torturer: Torturer,
) -> None:
    why = f"LEDGER_TORTURE_SEED={SEED}, kills {dict(torturer.kills)}"
    print(why)
    acks = [ack for client_acks in results.values() for ack in client_acks]
    assert sum(torturer.kills.values()) == len(KILLS), why
    # every ack where it was acknowledged, every checkpoint verified and consistent
    helper = audit_log(HttpLog(server.url), acks)
    assert helper.size >= len(acks), why
    print(f"{helper.size} entries, {len(acks)} acknowledged (the rest lost their answer to a kill)")
    verifier = NoteVerifier.from_vkey(vkey)
    report = LogAuditor(LogClient(server.url), verifier, workers=2, page_size=64).audit()
    assert report, f"{report.failure} ({why})"
    assert report.tree_size == helper.size, why
    database = audit_database(database_url, verifier)
    assert database, f"{database.failures} ({why})"
    assert database.tree_size == helper.size, why
    _check_derived_rows(database_url, why)


def _check_derived_rows(url: str, why: str) -> None:
    """The index rows an append writes with its entries exist for exactly those entries."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    queries = {
        "keys": "SELECT count(*) FROM entries WHERE type IN ('party.register', 'key.rotate')",
        "key_ends": "SELECT count(*) FROM entries WHERE type IN ('key.rotate', 'key.revoke')",
        "grants": "SELECT count(*) FROM entries WHERE type = 'grant'",
        "grant_events": "SELECT count(*) FROM entries WHERE type IN "
        "('grant.accept', 'grant.revoke')",
    }
    try:
        with engine.connect() as conn:
            for table, expected in queries.items():
                rows = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                entries = conn.execute(sa.text(expected)).scalar_one()
                assert rows == entries, f"{table}: {rows} rows for {entries} entries ({why})"
    finally:
        engine.dispose()
