"""The /tlog/ endpoints and proof files as HTTP resources: statuses, headers, problems. Both
backends, through the real app (Flask test client) and the real service path for statements."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.core import builders, merkle
from ledger.core.checkpoint import open_checkpoint
from ledger.core.keys import SigningKey
from ledger.core.note import NoteVerifier
from ledger.core.tiles import split_entry_bundle
from ledger.core.tlogproof import parse_proof, verify_proof
from ledger.server.api.fastpath import FullTileFastPath
from tests.http.conftest import middleware
from tests.support.factories import seeded_key
from tests.support.tlog_helpers import bulk_append


def _verifier(client: FlaskClient) -> NoteVerifier:
    return NoteVerifier.from_vkey(client.get("/v1/log").get_json()["verifier_key"])


def _problem(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == code


def test_a_fresh_log_publishes_a_checkpoint_of_size_0_and_no_tiles(client: FlaskClient) -> None:
    # docs/FORMAT.md §6: the log signs the empty tree when its database is first prepared.
    for path in ("/tlog/checkpoint", "/v1/checkpoint", "/v1/checkpoint?tree_size=0"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        cp, note = open_checkpoint(resp.get_data(), _verifier(client))
        assert (cp.tree_size, cp.root_hash) == (0, hashlib.sha256(b"").digest())
        assert cp.origin == note.signatures[0].name
    info = client.get("/v1/log").get_json()
    assert (info["tree_size"], info["root_hash"]) == (0, hashlib.sha256(b"").hexdigest())
    _problem(client.get("/tlog/tile/0/000.p/1"), 404, "not_found")
    _problem(client.get("/tlog/tile/entries/000.p/1"), 404, "not_found")
    _problem(client.get("/v1/entries/0"), 404, "not_found")
    assert client.get("/v1/entries?start=0").get_json() == {"tree_size": 0, "entries": []}
    assert client.get("/v1/proofs/consistency?first=0&second=0").status_code == 400  # §5.3


def test_entries_and_tiles_of_real_statements(client: FlaskClient, service: Any) -> None:
    keys = [seeded_key(n) for n in (1, 2, 3)]
    for n, key in enumerate(keys):
        service.append_one(builders.party_register(key, f"party {n}"))
    resp = client.get("/tlog/checkpoint")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert resp.headers["Cache-Control"] == "public, max-age=2"
    assert resp.get_data(as_text=True) == client.get("/v1/checkpoint").get_data(as_text=True)
    bundle = client.get("/tlog/tile/entries/000.p/3")
    assert bundle.headers["Content-Type"] == "application/octet-stream"
    assert bundle.headers["Cache-Control"] == "public, max-age=10"
    leaves = split_entry_bundle(bundle.data)
    v1 = client.get("/v1/entries?start=0&limit=10").get_json()["entries"]
    assert [merkle.leaf_hash(leaf).hex() for leaf in leaves] == [e["leaf_hash"] for e in v1]
    tile = client.get("/tlog/tile/0/000.p/3").data
    assert tile == b"".join(merkle.leaf_hash(leaf) for leaf in leaves)
    # Narrower partial tiles of the same tree are the same hashes, cut short.
    assert client.get("/tlog/tile/0/000.p/2").data == tile[:64]


@pytest.fixture
def log_of_300(app: Flask) -> FlaskClient:
    lg = app.extensions["ledger"]
    bulk_append(lg.db, lg.service.signer, 300)
    return app.test_client()


def test_full_tiles_are_immutable_and_8192_bytes(log_of_300: FlaskClient) -> None:
    for path in ("/tlog/tile/0/000", "/tlog/tile/entries/000"):
        resp = log_of_300.get(path)
        assert resp.status_code == 200
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert len(log_of_300.get("/tlog/tile/0/000").data) == 8192
    assert len(log_of_300.get("/tlog/tile/1/000.p/1").data) == 32


def _must_not_be_called(environ: Any, start_response: Any) -> Any:
    raise AssertionError("the request reached Flask")


def test_the_cached_fast_path_answers_exactly_as_the_view(app: Flask) -> None:
    lg = app.extensions["ledger"]
    bulk_append(lg.db, lg.service.signer, 256)
    client = app.test_client()
    first = client.get("/tlog/tile/0/000")  # through the view; caches the tile
    assert app.extensions["ledger"].tile_cache.get_path("0/000") == first.data
    fast = middleware(app, FullTileFastPath)
    inner = fast.app
    fast.app = _must_not_be_called
    second = client.get("/tlog/tile/0/000")  # so this one is answered before Flask
    fast.app = inner
    assert (second.status_code, second.data) == (200, first.data)
    # the same headers, each answer with its own request id
    ids = (first.headers["X-Request-ID"], second.headers["X-Request-ID"])
    assert ids[0] != ids[1]
    assert {k: v for k, v in second.headers.items() if k != "X-Request-ID"} == {
        k: v for k, v in first.headers.items() if k != "X-Request-ID"
    }
    # Other spellings and partial tiles are never answered from the fast path.
    assert app.extensions["ledger"].tile_cache.get_path("0/000.p/5") is None


@pytest.mark.parametrize(
    "path",
    [
        "/tlog/tile/0/001",  # level-0 tile 1 is partial (44 wide) at size 300
        "/tlog/tile/0/001.p/45",
        "/tlog/tile/0/002.p/1",
        "/tlog/tile/entries/001",
        "/tlog/tile/entries/001.p/45",
        "/tlog/tile/1/000",
        "/tlog/tile/1/000.p/2",
        "/tlog/tile/2/000.p/1",
        "/tlog/tile/63/x001/000",
    ],
)
def test_tiles_beyond_the_published_tree_are_404(log_of_300: FlaskClient, path: str) -> None:
    _problem(log_of_300.get(path), 404, "not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/tlog/tile/0/1",
        "/tlog/tile/00/000",
        "/tlog/tile/64/000",
        "/tlog/tile/0/000.p/0",
        "/tlog/tile/0/000.p/256",
        "/tlog/tile/0/x000/001",
        "/tlog/tile/0/001/001",
        "/tlog/tile/entries/abc",
        "/tlog/tile/x/000",
        "/tlog/tile/0/000.p/1x",
        "/tlog/tile/0/" + "x999/" * 10 + "999",
    ],
)
def test_malformed_tile_paths_are_400_problems(log_of_300: FlaskClient, path: str) -> None:
    _problem(log_of_300.get(path), 400, "malformed_tile_path")


def test_entry_proof_files_verify_offline(log_of_300: FlaskClient) -> None:
    verifier = _verifier(log_of_300)
    for seq in (0, 255, 256, 299):
        resp = log_of_300.get(f"/v1/entries/{seq}/proof")
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        report = verify_proof(resp.data, verifier)
        assert (report.index, report.checkpoint.tree_size) == (seq, 300)
        assert parse_proof(resp.data).extra == report.leaf
    _problem(log_of_300.get("/v1/entries/300/proof"), 404, "not_found")
    _problem(log_of_300.get("/v1/entries/01/proof"), 400, "invalid_parameter")
    _problem(log_of_300.get("/v1/entries/-1/proof"), 400, "invalid_parameter")


def test_a_proof_file_does_not_verify_under_another_log_key(log_of_300: FlaskClient) -> None:
    other = NoteVerifier.from_public_key("test.example/log", SigningKey.generate().public_key.raw)
    from ledger.core.errors import UnverifiedNote

    with pytest.raises(UnverifiedNote):
        verify_proof(log_of_300.get("/v1/entries/3/proof").data, other)
