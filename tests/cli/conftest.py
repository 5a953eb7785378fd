"""CLI fixtures: one real gunicorn server per test module and backend, shared by its tests.

Starting gunicorn costs seconds, so a module's tests share one log; each test uses its own keys
and its own client state folder, so they do not see each other except as other entries in the log.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, create_pg_database, drop_pg_database
from tests.support.live import LiveServer


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """gunicorn (2 gthread workers) on a fresh database of the backend under test."""
    backend = str(request.param)
    folder = tmp_path_factory.mktemp(f"live-{backend}")
    pg_name = None
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, folder / "ledger.db")
        url = f"sqlite:///{folder / 'ledger.db'}"
    else:
        pg_template: str = request.getfixturevalue("pg_template")
        pg_name = f"ledger_cli_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        url = create_pg_database(pg_name, template=pg_template)
    server = LiveServer(url, folder / "log-key.pem", folder / "gunicorn", workers=2, threads=4)
    try:
        with server:
            yield server
    finally:
        if pg_name is not None:
            drop_pg_database(pg_name)


@pytest.fixture
def user_env(live: LiveServer, tmp_path: Path) -> dict[str, str]:
    """A user's environment: the server in LEDGER_URL and a private config folder for state."""
    return {"LEDGER_URL": live.url, "XDG_CONFIG_HOME": str(tmp_path / "config")}
