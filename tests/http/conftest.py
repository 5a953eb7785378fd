"""HTTP-layer fixtures: the real app on each backend with small limits, and the log's state."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from ledger.core import builders
from ledger.core.statements import SignedStatement
from ledger.server.config import Config
from tests.support.factories import seeded_key

_M = TypeVar("_M")
CREATOR, BUYER, OTHER, STRANGER = (seeded_key(n) for n in (1, 2, 3, 9))

#: Small limits so that the 413 and batch-size paths are cheap to reach.
MAX_BODY = 16 * 1024
MAX_BATCH_BODY = 128 * 1024
MAX_BATCH_STATEMENTS = 25
MAX_PAGE = 50


@pytest.fixture
def config(config: Config) -> Config:
    return replace(
        config,
        max_body_bytes=MAX_BODY,
        max_batch_body_bytes=MAX_BATCH_BODY,
        max_batch_statements=MAX_BATCH_STATEMENTS,
        max_page_size=MAX_PAGE,
    )


AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(config: Config) -> Iterator[AppFactory]:
    """``make_app(**config_overrides)``: another real app on the test's database, closed after
    the test (for settings the ``app`` fixture does not have, such as rate limits)."""
    from ledger.server.app import create_app

    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        made = create_app(replace(config, **overrides))
        made.config["TESTING"] = True
        apps.append(made)
        return made

    yield make
    for made in apps:
        made.extensions["ledger"].db.dispose()


def middleware(app: Flask, kind: type[_M]) -> _M:
    """The WSGI middleware of type ``kind`` among those wrapped around the Flask app."""
    layer: Any = app.wsgi_app
    while not isinstance(layer, kind):
        layer = layer.app  # each middleware keeps the app it wraps as ``app``
    return layer


def wire(signed: SignedStatement) -> dict[str, Any]:
    return signed.to_json()


def post(client: FlaskClient, signed: SignedStatement | dict[str, Any]) -> Any:
    body = signed if isinstance(signed, dict) else wire(signed)
    return client.post("/v1/entries", json=body)


def append(client: FlaskClient, signed: SignedStatement) -> dict[str, Any]:
    response = post(client, signed)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LogState:
    """What a refused request must leave untouched."""

    tree_size: int
    root_hash: str
    entries: int
    tree_hashes: int
    checkpoints: int
    latest_checkpoint: str


def log_state(app: Flask) -> LogState:
    client = app.test_client()
    info = client.get("/v1/log").get_json()
    note = client.get("/v1/checkpoint")
    engine = app.extensions["ledger"].db.engine
    with engine.connect() as conn:
        counts = [
            conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("entries", "tree_hashes", "checkpoints")
        ]
    return LogState(
        info["tree_size"],
        info["root_hash"],
        *counts,
        note.get_data(as_text=True) if note.status_code == 200 else "",
    )


@dataclass
class World:
    """Creator, buyer and another party registered; one grant from creator to buyer logged."""

    grant: SignedStatement
    grant_seq: int


#: The world's grant id (the hostile-input table forges look-alikes of it).
WORLD_GRANT_ID = "0b7e7f9a-3c1d-4e5f-8a6b-1c2d3e4f5a6b"


@pytest.fixture
def world(client: FlaskClient, make_grant: Callable[..., SignedStatement]) -> World:
    for key, name in ((CREATOR, "creator"), (BUYER, "buyer"), (OTHER, "other")):
        append(client, builders.party_register(key, name))
    grant = make_grant(grant_id=WORLD_GRANT_ID)  # creator_key and buyer_key are CREATOR, BUYER
    return World(grant, append(client, grant)["seq"])


def raw_post(client: FlaskClient, path: str, data: bytes, content_type: str) -> Any:
    return client.post(path, data=data, headers={"Content-Type": content_type})


def b64decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()
