"""Backups restore to an intact log, on both backends, as docs/OPERATIONS.md tells operators to do.

Appends go through the real app; the backup is taken with the backend's own tool (``pg_dump -Fc``
and ``pg_restore`` into a new database on PostgreSQL, SQLite's online backup API — what
``sqlite3 ledger.db ".backup copy.db"`` does — on SQLite). The outside audit of
tests/support/audit_helpers.py must then pass on the restored copy with every acknowledged entry
and the same signed root, the restored copy must still refuse changes (its append-only triggers came
along), the app must start on it with the original key and continue the log, and must refuse it
with any other key.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from ledger.core import builders
from ledger.core.keys import SigningKey
from ledger.server.config import Config
from tests.conftest import create_pg_database, drop_pg_database
from tests.support.audit_helpers import Ack, DbLog, audit_log, workload
from tests.support.private_pg import client_tool

CLIENTS = 3
PER_CLIENT = 20


def _post(client: FlaskClient, group: list[Any]) -> list[Ack]:
    if len(group) == 1:
        resp = client.post("/v1/entries", json=group[0].to_json())
        assert resp.status_code == 201, resp.json
        return [_ack(resp.json, resp.json["tree_size"])]  # type: ignore[index]
    resp = client.post("/v1/entries/batch", json={"statements": [s.to_json() for s in group]})
    body: Any = resp.json
    assert body["accepted"] == len(group), body
    return [_ack(r, body["tree_size"]) for r in body["results"]]


def _ack(body: dict[str, Any], tree_size: int) -> Ack:
    return {
        "seq": body["seq"],
        "leaf_hash": body["leaf_hash"],
        "statement_hash": body["statement_hash"],
        "tree_size": tree_size,
    }


def _libpq(url: str) -> str:
    """The SQLAlchemy URL as pg_dump/pg_restore take it."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)


@pytest.fixture
def restored_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Where the backup is restored: a new database (dropped afterwards) or a new file."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'ledger.db'}"
        return
    name = f"ledger_restored_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    url = create_pg_database(name)
    yield url
    drop_pg_database(name)


def backup_and_restore(source_url: str, target_url: str, work: Path) -> None:
    """Back up ``source_url`` while the app is running and restore it into ``target_url``."""
    source = sa.engine.make_url(source_url)
    if source.get_backend_name() == "sqlite":
        target = Path(str(sa.engine.make_url(target_url).database))
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(str(source.database)) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return
    dump = work / "ledger.dump"
    pg_dump, pg_restore = client_tool("pg_dump"), client_tool("pg_restore")
    subprocess.run([pg_dump, "-Fc", "-f", str(dump), _libpq(source_url)], check=True)
    restore = [pg_restore, "--exit-on-error", "--no-owner", "-d", _libpq(target_url)]
    subprocess.run([*restore, str(dump)], check=True)


def test_a_restored_backup_passes_the_audit(
    app: Flask, client: FlaskClient, config: Config, restored_url: str, tmp_path: Path
) -> None:
    acks = [a for c in range(CLIENTS) for g in workload(c, PER_CLIENT) for a in _post(client, g)]
    original: Any = client.get("/v1/log").json
    assert original["tree_size"] == CLIENTS * PER_CLIENT

    backup_and_restore(config.database_url, restored_url, tmp_path)

    ledger = app.extensions["ledger"]
    copy = DbLog(restored_url, ledger.origin, ledger.verifier_key)
    try:
        report = audit_log(copy, acks)
    finally:
        copy.close()
    assert report.size == original["tree_size"]
    assert report.root.hex() == original["root_hash"]
    assert report.checkpoint_sizes[-1] == report.size
    _assert_append_only(restored_url)
    _assert_app_continues_on(dataclasses.replace(config, database_url=restored_url), report.size)


def _assert_append_only(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        for sql in ("UPDATE entries SET type = type WHERE seq = 0", "DELETE FROM checkpoints"):
            with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
                conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def _assert_app_continues_on(config: Config, size: int) -> None:
    from ledger.server.app import LogIdentityMismatch, create_app

    restored = create_app(config)
    try:
        client = restored.test_client()
        envelope = builders.party_register(SigningKey.generate(), "after restore").to_json()
        resp = client.post("/v1/entries", json=envelope)
        assert resp.status_code == 201
        assert resp.json["seq"] == size  # type: ignore[index]
    finally:
        restored.extensions["ledger"].db.dispose()
    other_key = dataclasses.replace(config, log_key_file=config.log_key_file.with_name("other.pem"))
    with pytest.raises(LogIdentityMismatch):
        create_app(other_key)
