"""A read replica of a real PostgreSQL primary, serving the log, and its promotion.

Two private clusters (``tests.support.private_pg``; never the machine's shared server): a primary,
and a hot standby made from it with ``pg_basebackup -R`` that streams its WAL. One gunicorn
serves the primary, another the standby (``LEDGER_AUTO_MIGRATE=0``, the same log key, as
docs/OPERATIONS.md "Read replicas" says to run it). Then:

1. Reads on the replica are the primary's, byte for byte, once it has caught up: every entry,
   the checkpoint, tiles, map proofs.
2. While the primary takes appends, a client reading only the replica (``TrustedLog``, the CLI's
   trust) never meets a checkpoint ahead of what it needs: each new checkpoint is consistent with
   the last, its newest entry's inclusion proof and a map proof verify against it.
3. Appends on the replica answer 503 ``read_only_database`` saying where writes go, singly and in
   batches, and nothing is written anywhere.
4. The primary goes away and the standby is promoted (``pg_ctl promote``): the same replica
   server, not restarted, takes appends, and the whole log, written before and after the
   promotion, passes a full audit with every acknowledged entry in place (over HTTP as a mirror
   would, and the database audit, which also runs on the standby before it is promoted).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from ledger.client.http import LogClient
from ledger.client.trust import TrustedLog
from ledger.core.checkpoint import open_checkpoint
from ledger.core.encoding import b64_decode
from ledger.core.licmap import checkpoint_map_root, content_key
from ledger.core.note import NoteVerifier
from ledger.core.vmap import verify_map_proof
from ledger.server.dbaudit import audit_database
from tests.conftest import REQUIRE_POSTGRES
from tests.support.audit_helpers import Ack, HttpLog, audit_log, workload
from tests.support.live import LiveServer
from tests.support.private_pg import PrivatePostgres, unavailable_reason

DB = "ledger_replica"
#: The standby replays a commit this soon (streaming replication on one machine: milliseconds).
CATCH_UP_S = 30.0

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    reason = unavailable_reason()
    if reason is not None:
        if REQUIRE_POSTGRES:  # CI: the PostgreSQL leg may not pass by being skipped
            pytest.fail(f"LEDGER_REQUIRE_POSTGRES is set but no private server can run: {reason}")
        pytest.skip(f"no private PostgreSQL server: {reason}")
    primary = PrivatePostgres()
    primary.start()
    admin = sa.create_engine(primary.url(), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{DB}"'))
    admin.dispose()
    standby = primary.standby()
    try:
        yield primary, standby
    finally:
        standby.close()
        primary.close()


def test_replica_serves_reads_refuses_appends_and_takes_over(
    clusters: tuple[PrivatePostgres, PrivatePostgres], tmp_path: Path
) -> None:
    primary, standby = clusters
    key = tmp_path / "log-key.pem"
    writer = LiveServer(primary.url(DB), key, tmp_path / "primary", workers=2, threads=4)
    reader = LiveServer(
        standby.url(DB),
        key,
        tmp_path / "replica",
        workers=2,
        threads=4,
        env={"LEDGER_AUTO_MIGRATE": "0"},
    )
    with writer:
        acks, items = _append(writer.url, client_id=1, count=60)
        with reader:
            _wait_caught_up(reader.url, writer.url)
            _assert_same_reads(reader.url, writer.url, items)
            acks += _read_while_appending(reader.url, writer.url, items, tmp_path / "client")
            _wait_caught_up(reader.url, writer.url)
            _assert_appends_refused(reader.url, writer.url)
            # The database audit reads only: an auditor may run it on the replica.
            verifier = NoteVerifier.from_vkey(_vkey(reader.url))
            on_replica = audit_database(standby.url(DB), verifier, strict=True)
            assert on_replica, on_replica.failures
            assert on_replica.tree_size == len(acks)

            # Failover: the primary's server and the primary itself go away; the standby is
            # promoted, and the replica's server (never restarted) takes the appends.
            writer.stop()
            primary.stop("fast")
            standby.promote()
            more, _ = _append(reader.url, client_id=3, count=40, within=CATCH_UP_S)
            acks += more
            report = audit_log(HttpLog(reader.url), acks)
            assert report.size == len(acks)  # every entry was acknowledged, none lost
            promoted = audit_database(standby.url(DB), verifier, strict=True)
            assert promoted, promoted.failures
            assert (promoted.tree_size, promoted.root_hash) == (report.size, report.root)


# --- the steps ------------------------------------------------------------------------------


def _append(
    url: str, *, client_id: int, count: int, within: float = 0.0
) -> tuple[list[Ack], list[str]]:
    """Post one client's workload (singles and batches); every statement acknowledged. With
    ``within``, 503s are retried for that long first (a promotion in progress)."""
    acks: list[Ack] = []
    items: list[str] = []
    deadline = time.monotonic() + within
    with requests.Session() as http:
        for group in workload(client_id, count):
            body = [s.to_json() for s in group]
            while True:
                resp = http.post(f"{url}/v1/entries/batch", json={"statements": body}, timeout=60)
                if resp.status_code != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert resp.status_code == 200, resp.text
            answer = resp.json()
            assert answer["accepted"] == len(group), resp.text
            acks += [_ack({**r, "tree_size": answer["tree_size"]}) for r in answer["results"]]
            for s in group:
                items += [i["sha256"] for i in s.body.get("content", [])]
    return acks, items


def _wait_caught_up(reader: str, writer: str) -> None:
    size = requests.get(f"{writer}/v1/log", timeout=30).json()["tree_size"]
    deadline = time.monotonic() + CATCH_UP_S
    while requests.get(f"{reader}/v1/log", timeout=30).json()["tree_size"] < size:
        assert time.monotonic() < deadline, f"the replica did not reach size {size}"
        time.sleep(0.05)


def _assert_same_reads(reader: str, writer: str, items: list[str]) -> None:
    """Once caught up, the replica serves what the primary serves, byte for byte."""
    info = requests.get(f"{writer}/v1/log", timeout=30).json()
    size = info["tree_size"]
    assert requests.get(f"{reader}/v1/log", timeout=30).json() == info
    assert 0 < size < 256  # one partial tile at level 0
    paths = [
        f"/v1/entries?start=0&limit={size}",
        "/v1/checkpoint",
        "/tlog/checkpoint",
        f"/tlog/tile/0/000.p/{size}",
        f"/v1/proofs/inclusion?seq=0&tree_size={size}",
        f"/v1/proofs/consistency?first=1&second={size}",
        f"/v1/map/proof?key={content_key(items[0]).hex()}&tree_size={size}",
    ]
    for path in paths:
        mine, theirs = _get(reader, path), _get(writer, path)
        assert mine.status_code == 200, (path, mine.text)
        assert mine.content == theirs.content, path


def _read_while_appending(reader: str, writer: str, items: list[str], state: Path) -> list[Ack]:
    """A client trusting only the replica, while the primary takes appends: every checkpoint it
    meets extends the last one, and the proofs a verifier needs at that size are there."""
    acks: list[Ack] = []
    failure: list[BaseException] = []

    def write() -> None:
        try:
            acks.extend(_append(writer, client_id=2, count=120)[0])
        except BaseException as e:  # reported by the main thread
            failure.append(e)

    trusted = TrustedLog(LogClient(reader), state, log_key=_vkey(reader))
    verifier = NoteVerifier.from_vkey(_vkey(reader))
    thread = threading.Thread(target=write)
    thread.start()
    sizes: set[int] = set()
    try:
        while thread.is_alive() or not sizes:
            verified = trusted.refresh()  # consistent with the last one, or it raises
            trusted.save(verified)
            size = verified.tree_size
            sizes.add(size)
            last = size - 1
            trusted.verify_included(last, trusted.fetch_entry(last), verified)
            checkpoint, _ = open_checkpoint(verified.note, verifier)
            key = content_key(items[len(sizes) % len(items)])
            proof = trusted.client.map_proof(key, size)
            report = verify_map_proof(
                checkpoint_map_root(checkpoint), key, b64_decode(proof["proof"], what="proof")
            )
            assert report, report
    finally:
        thread.join()
    assert not failure, failure
    assert len(sizes) > 1, "the replica never moved while the primary took appends"
    return acks


def _assert_appends_refused(reader: str, writer: str) -> None:
    before = requests.get(f"{writer}/v1/log", timeout=30).json()
    (group,) = workload(4, 1)
    for path, body in (
        ("/v1/entries", group[0].to_json()),
        ("/v1/entries/batch", {"statements": [group[0].to_json()]}),
    ):
        resp = requests.post(f"{reader}{path}", json=body, timeout=30)
        assert resp.status_code == 503, resp.text
        assert resp.headers["Content-Type"] == "application/problem+json"
        problem = resp.json()
        assert problem["code"] == "read_only_database", problem
        assert "send appends to the primary" in problem["detail"]
        assert "nothing was written" in problem["detail"]
    time.sleep(0.5)  # anything written would have replayed by now
    assert requests.get(f"{writer}/v1/log", timeout=30).json() == before
    assert requests.get(f"{reader}/v1/log", timeout=30).json() == before


def _get(url: str, path: str) -> requests.Response:
    return requests.get(f"{url}{path}", timeout=30)


def _vkey(url: str) -> str:
    return str(requests.get(f"{url}/v1/log", timeout=30).json()["verifier_key"])


def _ack(body: dict[str, Any]) -> Ack:
    return {k: body[k] for k in ("seq", "leaf_hash", "statement_hash", "tree_size")}
