"""A filled log served by real gunicorn, on the backend under test."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, create_pg_database, drop_pg_database
from tests.reliability.logs import ORIGIN, fill, vkey_of
from tests.support.audit_helpers import Ack
from tests.support.live import LiveServer


@dataclass
class ServedLog:
    server: LiveServer
    database_url: str
    key_file: Path
    vkey: str
    acks: list[Ack]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def size(self) -> int:
        return max(a["seq"] for a in self.acks) + 1


@pytest.fixture
def served_log(database_url: str, tmp_path: Path) -> Iterator[ServedLog]:
    """gunicorn (2 workers) over a log of 90 entries from 3 clients' workloads (singles,
    batches, key rotations), on the backend under test."""
    key_file = tmp_path / "log-key.pem"
    server = LiveServer(database_url, key_file, tmp_path / "gunicorn", origin=ORIGIN, workers=2)
    with server:
        acks = fill(server.url)
        yield ServedLog(server, database_url, key_file, vkey_of(key_file), acks)


@pytest.fixture(scope="module", params=BACKENDS)
def shared_log(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedLog]:
    """Like ``served_log`` but one per module and backend: for tests that only read the log."""
    tmp = tmp_path_factory.mktemp("shared-log")
    name = None
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp / "ledger.db")
        url = f"sqlite:///{tmp / 'ledger.db'}"
    else:
        template = request.getfixturevalue("pg_template")
        name = f"ledger_shared_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        url = create_pg_database(name, template=template)
    key_file = tmp / "log-key.pem"
    try:
        with LiveServer(url, key_file, tmp / "gunicorn", origin=ORIGIN, workers=2) as server:
            yield ServedLog(server, url, key_file, vkey_of(key_file), fill(server.url))
    finally:
        if name is not None:
            drop_pg_database(name)
