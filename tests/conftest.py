"""Shared fixtures. Layer-specific fixtures live in each layer's conftest.py."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from ledger.core import builders
from ledger.core.keys import SigningKey
from ledger.core.statements import SignedStatement
from ledger.server.config import Config
from tests.support.factories import T0, seeded_key


@pytest.fixture(autouse=True)
def private_client_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test's ``ledger`` commands (in process or as subprocesses, which inherit the
    environment) keep their client state (pinned log keys, checkpoints) in a folder of their
    own, never in the ~/.config of whoever runs the tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


@pytest.fixture
def signing_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def creator_key() -> SigningKey:
    return seeded_key(1)


@pytest.fixture
def buyer_key() -> SigningKey:
    return seeded_key(2)


@pytest.fixture
def make_grant(creator_key: SigningKey, buyer_key: SigningKey) -> Callable[..., SignedStatement]:
    """Factory: ``make_grant(**overrides)`` signs a grant; overrides are TermsSpec fields, or
    ``items``, ``grant_id``, ``creator``, ``buyer_key_id``, ``issued_at``, ``nonce``."""

    def make(**overrides: Any) -> SignedStatement:
        creator = overrides.pop("creator", creator_key)
        buyer_key_id = overrides.pop("buyer_key_id", buyer_key.key_id)
        grant_id = overrides.pop("grant_id", str(uuid.uuid4()))
        items = overrides.pop(
            "items", [builders.Item(sha256="ab" * 32, bytes=10_000_000, duration_s=60)]
        )
        issued_at = overrides.pop("issued_at", T0)
        nonce = overrides.pop("nonce", None)
        terms = builders.TermsSpec(**overrides)
        return builders.grant(
            creator, buyer_key_id, grant_id, items, terms, issued_at=issued_at, nonce=nonce
        )

    return make


# --- Databases: every storage test runs on SQLite and on the real PostgreSQL ---------------------
# (the app and database modules are imported inside fixtures so that tests/core needs only the core)


PG_ADMIN_URL = os.environ.get(
    "LEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("LEDGER_REQUIRE_POSTGRES", "") not in ("", "0")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _pg_reachable() -> tuple[str | None, str]:
    """(None, the server's version) when reachable, else (the reason, "")."""
    engine = sa.create_engine(PG_ADMIN_URL, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return None, str(conn.execute(sa.text("SHOW server_version")).scalar_one())
    except sa.exc.OperationalError as e:
        return str(e).splitlines()[0], ""
    finally:
        engine.dispose()


_PG_PROBLEM, _PG_VERSION = _pg_reachable()


#: The fast subset (README, "Set up on a fresh machine"): every test but the slow ones, on SQLite.
FAST_SUBSET = "not slow and not postgres"
#: What the runs take on this project's CI machine (2 CPUs), to say before the dots start.
FULL_RUN, FAST_RUN = "25 to 45 minutes", "4 to 7 minutes"
#: Fixtures that start real servers (gunicorn, a browser): a test that uses one is slow.
SERVER_FIXTURES = frozenset(
    {"live", "live_server", "served_log", "shared_log", "story", "desk_log", "s3_server"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that starts real servers (``SERVER_FIXTURES``), so that the fast
    subset (``FAST_SUBSET``) leaves them out without each module having to say so."""
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if _PG_PROBLEM is None:
        lines = [f"PostgreSQL leg: ON (PostgreSQL {_PG_VERSION}, {PG_ADMIN_URL})"]
    else:
        lines = [f"PostgreSQL leg: SKIPPED - server not reachable at {PG_ADMIN_URL}: {_PG_PROBLEM}"]
    marks = config.getoption("markexpr", "")
    if not marks and not config.getoption("file_or_dir"):
        lines.append(
            f"The full suite takes {FULL_RUN} on 2 CPUs. The fast subset, {FAST_RUN}:"
            f' python -m pytest -m "{FAST_SUBSET}"'
        )
    elif marks == FAST_SUBSET:
        lines.append(f"The fast subset: {FAST_RUN} on 2 CPUs (the full suite: {FULL_RUN}).")
    return lines


def pytest_sessionstart(session: pytest.Session) -> None:
    if _PG_PROBLEM is not None and REQUIRE_POSTGRES:
        raise pytest.UsageError(
            f"LEDGER_REQUIRE_POSTGRES is set but PostgreSQL is unreachable: {_PG_PROBLEM}"
        )


def _pg_admin() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def pg_url(dbname: str) -> str:
    return (
        sa.engine.make_url(PG_ADMIN_URL).set(database=dbname).render_as_string(hide_password=False)
    )


def create_pg_database(name: str, template: str | None = None) -> str:
    engine = _pg_admin()
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        tmpl = f' TEMPLATE "{template}"' if template else ""
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{tmpl}'))
    engine.dispose()
    return pg_url(name)


def drop_pg_database(name: str) -> None:
    engine = _pg_admin()
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def break_database(app: Flask, database_url: str) -> None:
    """Make the log's database go away under the running app (a real outage, not a mock)."""
    app.extensions["ledger"].db.dispose()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.database}{suffix}").unlink(missing_ok=True)
    else:
        drop_pg_database(str(url.database))  # WITH (FORCE): open connections are cut


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ledger.server.storage import db as ledger_db

    path = tmp_path_factory.mktemp("template") / "ledger.db"
    ledger_db.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if _PG_PROBLEM is not None:
        pytest.skip(f"PostgreSQL not reachable ({_PG_PROBLEM}): PostgreSQL leg skipped")
    from ledger.server.storage import db as ledger_db

    name = f"ledger_tmpl_{os.getpid()}"
    url = create_pg_database(name)
    ledger_db.upgrade(url)
    yield name
    drop_pg_database(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database on the backend under test."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "ledger.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"ledger_t_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    url = create_pg_database(name, template=template_name)
    yield url
    drop_pg_database(name)


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Config:
    return Config(
        database_url=database_url,
        log_key_file=tmp_path / "log-key.pem",
        origin="test.example/log",
        auto_migrate=False,
        rate_limit="off",  # tests send many requests from one address; test_rate_limit turns it on
        read_rate_limit="off",
    )


@pytest.fixture
def app(config: Config) -> Iterator[Flask]:
    from ledger.server.app import create_app

    application = create_app(config)
    application.config["TESTING"] = True
    yield application
    application.extensions["ledger"].db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def service(app: Flask) -> Any:
    return app.extensions["ledger"].service  # type: ignore[no-any-return]
