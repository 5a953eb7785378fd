"""``GET /v1/map/proof`` and ``GET /v1/map/node/{hash}``: the licence map as the log signed it
(docs/FORMAT.md §14), read through the real app on both backends and checked with the core."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from ledger.core.checkpoint import open_checkpoint
from ledger.core.encoding import b64_decode
from ledger.core.keys import SigningKey
from ledger.core.licmap import checkpoint_map_root, content_key, derive_map
from ledger.core.mapaudit import node_from_json
from ledger.core.note import NoteVerifier
from ledger.core.statements import SignedStatement
from ledger.core.vmap import MAP_EMPTY_HASH, MapLeaf, hash_of, verify_map_proof
from ledger.server.service import LogService
from tests.server.test_licence_map import _history, _leaves


def _map_root(client: FlaskClient, tree_size: int) -> bytes:
    verifier = NoteVerifier.from_vkey(client.get("/v1/log").get_json()["verifier_key"])
    note = client.get(f"/v1/checkpoint?tree_size={tree_size}").get_data()
    return checkpoint_map_root(open_checkpoint(note, verifier)[0])


def _problem(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.get_data()
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == code


@pytest.fixture
def logged(
    service: LogService,
    creator_key: SigningKey,
    buyer_key: SigningKey,
    make_grant: Callable[..., SignedStatement],
) -> list[int]:
    """The history of tests/server/test_licence_map.py; the tree size after each batch."""
    return [
        service.append(batch)[-1].tree_size  # type: ignore[union-attr]
        for batch in _history(creator_key, buyer_key, make_grant)
    ]


def test_every_key_is_proven_against_the_signed_map_root(
    client: FlaskClient, service: LogService, logged: list[int]
) -> None:
    for size in (logged[2], logged[-1]):  # an older signed size and the latest
        root = _map_root(client, size)
        derived = derive_map(_leaves(service, size))
        for key, seqs in derived.items():
            body = client.get(f"/v1/map/proof?key={key.hex()}&tree_size={size}").get_json()
            assert body["seqs"] == list(seqs)
            assert body["present"] is True
            assert body["map_root"] == root.hex()
            report = verify_map_proof(root, key, b64_decode(body["proof"]))
            assert report.ok
            assert report.present
    absent = content_key("ee" * 32)
    body = client.get(f"/v1/map/proof?key={absent.hex()}").get_json()  # the latest by default
    assert body["tree_size"] == logged[-1]
    assert (body["seqs"], body["present"]) == ([], False)
    report = verify_map_proof(_map_root(client, logged[-1]), absent, b64_decode(body["proof"]))
    assert report.ok
    assert report.present is False


def test_nodes_walk_from_the_root_to_every_leaf(
    client: FlaskClient, service: LogService, logged: list[int]
) -> None:
    size = logged[-1]
    derived = derive_map(_leaves(service, size))
    found: dict[bytes, bytes] = {}
    stack = [_map_root(client, size)]
    while stack:
        at = stack.pop()
        if at == MAP_EMPTY_HASH:
            continue
        resp = client.get(f"/v1/map/node/{at.hex()}")
        assert resp.status_code == 200, resp.get_data()
        node = node_from_json(resp.get_json())
        assert hash_of(node) == at  # the node is the one its hash names
        if isinstance(node, MapLeaf):
            found[node.key] = node.value
        else:
            stack.extend(node)
    assert found == dict(derived.tree.items())


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/map/proof", 400, "invalid_parameter"),  # no key
        ("/v1/map/proof?key=zz", 400, "invalid_parameter"),
        ("/v1/map/proof?key=" + "01" * 34, 400, "invalid_parameter"),  # 34 bytes
        ("/v1/map/proof?key=09" + "00" * 32, 400, "invalid_parameter"),  # unknown tag
        ("/v1/map/proof?key=01" + "AB" * 32, 400, "invalid_parameter"),  # uppercase
        ("/v1/map/proof?key=01" + "ab" * 32 + "&tree_size=-1", 400, "invalid_parameter"),
        ("/v1/map/proof?key=01" + "ab" * 32 + "&tree_size=2", 404, "not_found"),  # in a batch
        ("/v1/map/proof?key=01" + "ab" * 32 + "&tree_size=99999", 404, "not_found"),
        ("/v1/map/node/" + "ab" * 32, 404, "not_found"),
        ("/v1/map/node/" + "AB" * 32, 400, "invalid_parameter"),
        ("/v1/map/node/abc", 400, "invalid_parameter"),
    ],
)
def test_bad_requests_are_problems(
    client: FlaskClient, logged: list[int], path: str, status: int, code: str
) -> None:
    assert 2 not in logged  # size 2 is inside the second batch: no checkpoint, no map root
    _problem(client.get(path), status, code)
