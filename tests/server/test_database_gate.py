"""The app starts without its database and prepares it once it answers
(``ledger.server.readiness``).

In process, on real databases that are not there yet: on SQLite a file stands where the
database's folder should be (a volume not mounted); on PostgreSQL the database does not exist yet
(the server answers, refusing the connection). Then the database appears, and the next request
after the gate's retry interval prepares it: migrations, the log's identity. gunicorn, a server
that stops and workers that die are tests/reliability/test_outage.py's.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from ledger.core import builders
from ledger.core.errors import Unavailable
from ledger.core.keys import SigningKey
from ledger.server import readiness
from ledger.server.app import LogIdentityMismatch, create_app
from ledger.server.config import Config
from ledger.server.readiness import DatabaseGate
from tests.conftest import create_pg_database, drop_pg_database, pg_url


@dataclasses.dataclass
class AbsentDatabase:
    """A database URL whose database is not there yet; ``appear(template)`` makes it (a copy of
    ``template``'s database if given, else empty)."""

    url: str
    appear: Callable[[str | None], None]


@pytest.fixture
def absent(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[AbsentDatabase]:
    if backend == "sqlite":
        volume = tmp_path / "volume"
        volume.write_text("a file where the database's folder should be\n")

        def appear_sqlite(template: str | None) -> None:
            volume.unlink()
            volume.mkdir()
            if template is not None:
                shutil.copyfile(template.removeprefix("sqlite:///"), volume / "ledger.db")

        yield AbsentDatabase(f"sqlite:///{volume / 'ledger.db'}", appear_sqlite)
        return
    request.getfixturevalue("pg_template")  # skips the leg without a server
    name = f"ledger_absent_{os.getpid()}_{uuid.uuid4().hex[:12]}"

    def appear_pg(template: str | None) -> None:
        create_pg_database(name, None if template is None else template.rsplit("/", 1)[1])

    yield AbsentDatabase(pg_url(name), appear_pg)
    drop_pg_database(name)


@pytest.fixture
def started(absent: AbsentDatabase, config: Config) -> Iterator[Flask]:
    """The app, started on the absent database, migrating it itself as deployed."""
    app = create_app(dataclasses.replace(config, database_url=absent.url, auto_migrate=True))
    yield app
    app.extensions["ledger"].db.dispose()


def _append(client: FlaskClient) -> tuple[int, dict[str, object]]:
    envelope = builders.party_register(SigningKey.generate(), "gate").to_json()
    resp = client.post("/v1/entries", json=envelope)
    return resp.status_code, resp.get_json()


def _assert_refused(client: FlaskClient, code: str) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.mimetype == "application/problem+json"
    assert ready.get_json()["code"] == code
    assert ready.headers["Retry-After"] == "1"
    assert _append(client)[0] == 503
    assert _append(client)[1]["code"] == code  # the fast path's answer, as the app's
    for path in ("/v1/log", "/v1/entries?start=0", f"/v1/content/{'ab' * 32}", "/tlog/checkpoint"):
        resp = client.get(path)
        assert (resp.status_code, resp.get_json()["code"]) == (503, code), path
    batch = client.post("/v1/entries/batch", json={"statements": [{}]})
    assert batch.status_code == 503
    # What needs no database is answered as ever.
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.open("/v1/log", method="TRACE").status_code == 405
    assert client.open("/v1/log", method="OPTIONS").status_code == 200


def test_starts_without_its_database_and_prepares_it_when_it_answers(
    started: Flask, absent: AbsentDatabase
) -> None:
    client = started.test_client()
    assert not started.extensions["ledger"].gate.ready
    _assert_refused(client, "unavailable")
    detail = client.get("/readyz").get_json()["detail"]
    assert "database" in detail
    assert "127.0.0.1" not in detail  # the driver's words (host, port) stay in the log
    absent.appear(None)
    # Within the retry interval, the failure is answered from memory; then the database is
    # tried again, migrated (an empty one) and bound to this log.
    deadline = time.monotonic() + readiness.RETRY_S + 5
    while (status := _append(client))[0] == 503:
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status[0] == 201
    assert status[1]["seq"] == 0
    assert client.get("/readyz").status_code == 200
    assert started.extensions["ledger"].gate.ready


def test_a_database_of_another_log_that_appears_later_is_refused(
    started: Flask, absent: AbsentDatabase, config: Config, database_url: str
) -> None:
    """Another log's database (bound to another key) behind the URL: nothing is served from it
    or written to it, and /readyz says why; at start it is refused as before."""
    other = create_app(dataclasses.replace(config, log_key_file=config.log_key_file.with_name("o")))
    assert _append(other.test_client())[0] == 201  # binds database_url to the other key
    other.extensions["ledger"].db.dispose()
    absent.appear(database_url)  # a copy of it appears where this app looks
    time.sleep(readiness.RETRY_S)
    client = started.test_client()
    _assert_refused(client, "log_identity_mismatch")
    assert "another key or origin" in client.get("/readyz").get_json()["detail"]
    with pytest.raises(LogIdentityMismatch):  # found at start: the start is refused, as before
        create_app(dataclasses.replace(config, database_url=absent.url))
    copy = create_app(dataclasses.replace(config, log_key_file=config.log_key_file.with_name("o"),
                                          database_url=absent.url))  # fmt: skip
    try:
        assert copy.test_client().get("/v1/log").get_json()["tree_size"] == 1  # nothing written
    finally:
        copy.extensions["ledger"].db.dispose()


def test_the_gate_prepares_once_and_asks_a_down_database_once_per_interval() -> None:
    calls: list[float] = []
    down = threading.Event()
    down.set()

    def prepare() -> None:
        calls.append(time.monotonic())
        time.sleep(0.05)  # long enough for every thread to arrive meanwhile
        if down.is_set():
            raise OperationalError("connect", {}, ConnectionRefusedError("refused"))

    gate = DatabaseGate(prepare, retry_s=0.3)
    errors: list[BaseException] = []

    def request() -> None:
        try:
            gate.ensure()
        except Unavailable as e:
            errors.append(e)

    def burst() -> None:
        threads = [threading.Thread(target=request) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    burst()
    assert len(calls) == 1  # one attempt; the other 15 got its answer from memory
    assert len(errors) == 16
    assert all(e.details["retry_after"] == 1 for e in errors)
    assert len({id(e) for e in errors}) == 16  # one exception each: no shared traceback
    time.sleep(0.35)
    down.clear()
    errors.clear()
    burst()
    assert len(calls) == 2  # tried again after the interval, once, and it answered
    assert errors == []
    assert gate.ready
    burst()
    assert len(calls) == 2  # prepared: never again


def test_sqlite_file_missing_without_auto_migrate_waits_for_it(
    backend: str, config: Config, database_url: str, tmp_path: Path
) -> None:
    """With ``LEDGER_AUTO_MIGRATE=0`` a missing SQLite file is an outage (503), not a new empty
    log; the log's file put back (restored, remounted) is served without a restart."""
    if backend != "sqlite":
        pytest.skip("a missing database file is SQLite's case (PostgreSQL's: test_outage.py)")
    keyed = dataclasses.replace(config, auto_migrate=False)
    first = create_app(keyed)  # binds the log to the key
    assert _append(first.test_client())[0] == 201
    first.extensions["ledger"].db.dispose()
    path = Path(database_url.removeprefix("sqlite:///"))
    kept = tmp_path / "kept.db"
    path.rename(kept)
    app = create_app(keyed)
    try:
        client = app.test_client()
        ready = client.get("/readyz")
        assert (ready.status_code, ready.get_json()["code"]) == (503, "unavailable")
        assert _append(client)[0] == 503
        kept.rename(path)  # over the empty file SQLite made when it was asked
        time.sleep(readiness.RETRY_S)
        status, body = _append(client)
        assert (status, body["seq"]) == (201, 1)
    finally:
        app.extensions["ledger"].db.dispose()
