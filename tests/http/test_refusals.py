"""Every refused request, in one table: its status, an application/problem+json body with the
exact stable code, and a log left exactly as it was (tree size, entries, tree hashes, checkpoints).

The state machine's rules are covered in tests/server/test_rules.py; here a handful of them are
reached over HTTP to pin the status and the problem rendering."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask
from flask.testing import FlaskClient

from ledger.core import builders
from ledger.core.canonical import canonicalize
from ledger.core.evidence import EvidenceQuery, cryptography_check, verify_bundle
from ledger.core.keys import key_id
from ledger.core.leaf import GENESIS_PREV_HASH, LEAF_MAGIC, leaf_hash, micros_from_datetime
from ledger.core.memlog import MemoryLog
from ledger.core.merkle import MemoryHashStore
from ledger.core.note import NoteSigner
from ledger.core.statements import SignedStatement
from ledger.core.statements.types import STATEMENT_SIGNING_CONTEXT
from ledger.sigverify import nacl_check
from tests.http.conftest import (
    BUYER,
    CREATOR,
    MAX_BATCH_BODY,
    MAX_BATCH_STATEMENTS,
    MAX_BODY,
    MAX_PAGE,
    OTHER,
    STRANGER,
    World,
    dumps,
    log_state,
    wire,
)
from tests.support.factories import seeded_key

JSON = "application/json"


@dataclass
class Bad:
    """One bad request: what is sent and the problem expected back."""

    status: int
    code: str
    method: str = "POST"
    path: str = "/v1/entries"
    body: Callable[[World], bytes] | None = None
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


def _envelope(world: World) -> dict[str, Any]:
    """A fresh, valid grant envelope from the registered creator to the registered buyer."""
    return wire(_new_grant())


def _new_grant(creator: Any = CREATOR, buyer_key_id: str | None = None) -> SignedStatement:
    return builders.grant(
        creator,
        buyer_key_id or BUYER.key_id,
        str(uuid.uuid4()),
        [builders.Item("ab" * 32, 100, 10)],
        builders.TermsSpec(),
    )


def _edit(edit: Callable[[dict[str, Any]], object]) -> Callable[[World], bytes]:
    """Body: a valid envelope changed by ``edit`` (signatures left as they were)."""

    def make(world: World) -> bytes:
        envelope = _envelope(world)
        edit(envelope)
        return dumps(envelope)

    return make


def _signed(make: Callable[[World], SignedStatement]) -> Callable[[World], bytes]:
    return lambda world: dumps(wire(make(world)))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for name in parents:
            obj = obj[int(name)] if name.isdigit() else obj[name]  # type: ignore[index]
        obj[last] = value

    return edit


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for name in parents:
            obj = obj[name]
        del obj[last]

    return edit


def _flip_signature(envelope: dict[str, Any]) -> None:
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["signature"]))
    sig[0] ^= 1
    envelope["signatures"][0]["signature"] = base64.b64encode(bytes(sig)).decode()


def _foreign_signature(envelope: dict[str, Any]) -> None:
    """Keep the creator's public key but put a signature by another key over the same bytes."""
    body = envelope["statement"]
    forged = builders.grant(
        OTHER,
        BUYER.key_id,
        body["grant_id"],
        [builders.Item("ab" * 32, 100, 10)],
        builders.TermsSpec(),
    )
    envelope["signatures"][0]["signature"] = wire(forged)["signatures"][0]["signature"]


def _replay(world: World) -> bytes:
    return dumps(wire(world.grant))


def _accept_by(key: Any) -> Callable[[World], SignedStatement]:
    return lambda world: builders.grant_accept(key, world.grant.statement_hash)


def _batch(count: int) -> Callable[[World], bytes]:
    return lambda world: dumps({"statements": [_envelope(world) for _ in range(count)]})


def _padded(size: int) -> Callable[[World], bytes]:
    """A valid envelope padded with whitespace to ``size`` bytes."""

    def make(world: World) -> bytes:
        data = dumps(_envelope(world))
        return data + b" " * (size - len(data))

    return make


def _batch_padded(size: int) -> Callable[[World], bytes]:
    def make(world: World) -> bytes:
        data = dumps({"statements": [_envelope(world)]})
        return data + b" " * (size - len(data))

    return make


def _literal(data: bytes) -> Callable[[World], bytes]:
    return lambda world: data


def _get(path: str, status: int = 400, code: str = "invalid_parameter") -> Bad:
    return Bad(status, code, method="GET", path=path)


CASES: dict[str, Bad] = {
    # --- bodies that are not strict JSON (400 malformed_json)
    "malformed JSON": Bad(400, "malformed_json", body=_literal(b'{"statement": {')),
    "duplicate keys": Bad(
        400,
        "malformed_json",
        body=_literal(b'{"statement": {}, "statement": {}, "signatures": []}'),
    ),
    "duplicate keys inside the statement": Bad(
        400,
        "malformed_json",
        body=lambda w: dumps(_envelope(w)).replace(b'"v": 1', b'"v": 1, "v": 1'),
    ),
    "a float": Bad(
        400, "malformed_json", body=lambda w: dumps(_envelope(w)).replace(b'"v": 1', b'"v": 1.0')
    ),
    "invalid UTF-8": Bad(400, "malformed_json", body=_literal(b'{"statement": "\xff\xfe"}')),
    "a lone surrogate": Bad(400, "malformed_json", body=_literal(b'{"statement": "\\ud800"}')),
    "empty body": Bad(400, "malformed_json", body=_literal(b"")),
    # --- the envelope's shape (400 invalid_request) and the statement's (400 invalid_statement)
    "unknown envelope field": Bad(400, "invalid_request", body=_edit(_set("extra", 1))),
    "unknown statement field": Bad(
        400, "invalid_statement", body=_edit(_set("statement.extra", 1))
    ),
    "envelope not an object": Bad(400, "invalid_request", body=_literal(b"[]")),
    "signatures of the wrong type": Bad(
        400, "invalid_request", body=_edit(_set("signatures", "x"))
    ),
    "statement version as a string": Bad(
        400, "invalid_statement", body=_edit(_set("statement.v", "1"))
    ),
    "bool for an integer": Bad(
        400, "invalid_statement", body=_edit(_set("statement.content.0.bytes", True))
    ),
    "missing signatures": Bad(400, "invalid_request", body=_edit(_drop("signatures"))),
    "missing nonce": Bad(400, "invalid_statement", body=_edit(_drop("statement.nonce"))),
    "unknown statement type": Bad(
        400, "invalid_statement", body=_edit(_set("statement.type", "grant.sell"))
    ),
    "non-canonical base64 key": Bad(
        400, "invalid_statement", body=_edit(_set("signatures.0.public_key", "AAAA"))
    ),
    # --- signatures (400) and keys (422)
    "bad signature": Bad(400, "bad_signature", body=_edit(_flip_signature)),
    "statement changed after signing": Bad(
        400, "bad_signature", body=_edit(_set("statement.terms.exclusive", True))
    ),
    "foreign signature": Bad(400, "bad_signature", body=_edit(_foreign_signature)),
    "signed by the wrong key for the signer": Bad(
        400,
        "bad_signature",
        body=_edit(_set("signatures.0.public_key", OTHER.public_key.b64)),
    ),
    "unknown key": Bad(422, "unknown_key", body=_signed(lambda w: _new_grant(creator=STRANGER))),
    # --- replay (409, naming the existing entry)
    "replay": Bad(409, "duplicate_statement", body=_replay),
    # --- the state machine, over HTTP (422)
    "a key registers twice": Bad(
        422, "key_already_registered", body=_signed(lambda w: builders.party_register(CREATOR, "x"))
    ),
    "the buyer is not registered": Bad(
        422,
        "buyer_not_registered",
        body=_signed(lambda w: _new_grant(buyer_key_id=STRANGER.key_id)),
    ),
    "another party accepts": Bad(422, "not_grant_buyer", body=_signed(_accept_by(OTHER))),
    "an unknown grant is accepted": Bad(
        422,
        "unknown_grant",
        body=_signed(lambda w: builders.grant_accept(BUYER, _new_grant().statement_hash)),
    ),
    "the buyer revokes the grant": Bad(
        422,
        "not_grant_creator",
        body=_signed(
            lambda w: builders.grant_revoke(
                BUYER, w.grant.statement_hash, datetime.now(UTC) + timedelta(days=1)
            )
        ),
    ),
    "issued in the future": Bad(
        422,
        "issued_in_future",
        body=_signed(
            lambda w: builders.party_register(
                STRANGER, "x", issued_at=datetime.now(UTC) + timedelta(hours=2)
            )
        ),
    ),
    # --- sizes (413) and batch shape (400)
    "body over the single limit": Bad(413, "payload_too_large", body=_padded(MAX_BODY + 1)),
    "batch body over the batch limit": Bad(
        413, "payload_too_large", path="/v1/entries/batch", body=_batch_padded(MAX_BATCH_BODY + 1)
    ),
    "a single statement may not use the batch limit": Bad(
        413, "payload_too_large", body=_padded(MAX_BODY * 2)
    ),
    "too many statements in a batch": Bad(
        400, "invalid_request", path="/v1/entries/batch", body=_batch(MAX_BATCH_STATEMENTS + 1)
    ),
    "empty batch": Bad(400, "invalid_request", path="/v1/entries/batch", body=_batch(0)),
    "batch not a list": Bad(
        400, "invalid_request", path="/v1/entries/batch", body=_literal(b'{"statements": {}}')
    ),
    "batch item not an object": Bad(
        400, "invalid_request", path="/v1/entries/batch", body=_literal(b'{"statements": [null]}')
    ),
    "batch with an unknown field": Bad(
        400,
        "invalid_request",
        path="/v1/entries/batch",
        body=_literal(b'{"statements": [], "extra": 1}'),
    ),
    "malformed batch JSON": Bad(
        400, "malformed_json", path="/v1/entries/batch", body=_literal(b'{"statements": [1.5]}')
    ),
    # --- content type (415)
    "text/plain body": Bad(
        415, "unsupported_media_type", body=lambda w: dumps(_envelope(w)), content_type="text/plain"
    ),
    "form body": Bad(
        415,
        "unsupported_media_type",
        body=_literal(b"statement=x"),
        content_type="application/x-www-form-urlencoded",
    ),
    "batch as text/plain": Bad(
        415,
        "unsupported_media_type",
        path="/v1/entries/batch",
        body=_batch(1),
        content_type="text/plain",
    ),
    # --- query and path parameters (400 invalid_parameter)
    "tree_size beyond the log (inclusion)": _get("/v1/proofs/inclusion?seq=0&tree_size=99"),
    "seq not below tree_size": _get("/v1/proofs/inclusion?seq=4&tree_size=4"),
    "tree_size beyond the log (consistency)": _get("/v1/proofs/consistency?first=1&second=99"),
    "first > second": _get("/v1/proofs/consistency?first=3&second=2"),
    "first = 0": _get("/v1/proofs/consistency?first=0&second=2"),
    "negative seq (path)": _get("/v1/entries/-1"),
    "non-integer seq (path)": _get("/v1/entries/1.5"),
    "huge seq (path)": _get(f"/v1/entries/{2**64}"),
    "negative seq (query)": _get("/v1/proofs/inclusion?seq=-1"),
    "non-integer seq (query)": _get("/v1/proofs/inclusion?seq=abc"),
    "huge seq (query)": _get(f"/v1/proofs/inclusion?seq={2**64}"),
    "negative tree_size": _get("/v1/checkpoint?tree_size=-1"),
    "non-integer tree_size": _get("/v1/checkpoint?tree_size=one"),
    "negative start": _get("/v1/entries?start=-1"),
    "limit over the max": _get(f"/v1/entries?limit={MAX_PAGE + 1}"),
    "limit zero": _get("/v1/entries?limit=0"),
    "unknown query parameter": _get("/v1/entries?offset=3"),
    "a parameter given twice": _get("/v1/proofs/inclusion?seq=0&seq=1"),
    "content hash too short": _get("/v1/content/abc"),
    "content hash in uppercase": _get(f"/v1/content/{'AB' * 32}"),
    "content hash not hex": _get(f"/v1/content/{'zz' * 32}"),
    "grant id not a UUID": _get("/v1/grants/not-a-uuid"),
    "grant id in uppercase": _get(f"/v1/grants/{str(uuid.uuid4()).upper()}"),
    "key id not 64 hex": _get("/v1/parties/1234"),
    "key id in uppercase": _get(f"/v1/parties/{CREATOR.key_id.upper()}"),
    # --- not found (404) and wrong method (405)
    "unknown route": _get("/v1/nope", 404, "not_found"),
    "unknown entry": _get("/v1/entries/99", 404, "not_found"),
    "checkpoint never published": _get("/v1/checkpoint?tree_size=99", 404, "not_found"),
    "wrong method": Bad(405, "method_not_allowed", method="DELETE", path="/v1/entries"),
    "PUT on an entry": Bad(405, "method_not_allowed", method="PUT", path="/v1/entries/0"),
    "POST on the log": Bad(405, "method_not_allowed", path="/v1/log", body=_literal(b"{}")),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_request(app: Flask, client: FlaskClient, world: World, case: Bad) -> None:
    before = log_state(app)
    data = case.body(world) if case.body else None
    response = client.open(
        case.path,
        method=case.method,
        data=data,
        headers={"Content-Type": case.content_type, **case.headers} if data is not None else {},
    )
    assert response.status_code == case.status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == case.code
    assert problem["status"] == case.status
    assert problem["type"].endswith("/" + case.code)
    assert problem["title"]
    assert problem["detail"]
    assert log_state(app) == before, "a refused request must leave the log unchanged"


def test_replay_names_the_existing_entry(client: FlaskClient, world: World) -> None:
    response = client.post("/v1/entries", json=wire(world.grant))
    assert response.status_code == 409
    problem = response.get_json()
    assert problem["seq"] == world.grant_seq
    entry = client.get(f"/v1/entries/{problem['seq']}").get_json()
    assert entry["statement_hash"] == world.grant.statement_hash.hex()


# --- small-order public keys (docs/FORMAT.md §2.1): the log and the offline verifier agree ----

#: The identity point: small order, and ``R = identity, S = 0`` "verifies" for every message.
IDENTITY_POINT = bytes([1]) + bytes(31)
SMALL_ORDER_DETAIL = "a small-order or non-canonical Ed25519 public key"


def _identity_register() -> tuple[dict[str, Any], bytes]:
    """A party.register of the identity point, "signed" by it: the envelope and the leaf that
    would hold it (built byte by byte, as docs/FORMAT.md §4.1 says: the core refuses the key)."""
    body = dict(builders.party_register(STRANGER, "small order").body)
    body["public_key"] = base64.b64encode(IDENTITY_POINT).decode()
    body["signer"] = key_id(IDENTITY_POINT)
    forged = IDENTITY_POINT + bytes(32)
    envelope = {
        "statement": body,
        "signatures": [
            {"public_key": body["public_key"], "signature": base64.b64encode(forged).decode()}
        ],
    }
    statement = canonicalize(body)
    at = micros_from_datetime(datetime(2026, 3, 1, tzinfo=UTC))
    leaf = b"".join(
        (
            LEAF_MAGIC,
            (0).to_bytes(8, "big"),
            at.to_bytes(8, "big"),
            GENESIS_PREV_HASH,
            len(statement).to_bytes(4, "big"),
            statement,
            b"\x01",
            IDENTITY_POINT,
            forged,
        )
    )
    return envelope, leaf


def test_a_small_order_key_is_refused_by_the_log_and_by_the_offline_verifier(
    app: Flask, client: FlaskClient, world: World
) -> None:
    envelope, leaf = _identity_register()
    statement = canonicalize(envelope["statement"])
    forged = base64.b64decode(envelope["signatures"][0]["signature"])
    # OpenSSL alone accepts the forgery: the screen of §2.1 is what refuses it.
    Ed25519PublicKey.from_public_bytes(IDENTITY_POINT).verify(
        forged, STATEMENT_SIGNING_CONTEXT + statement
    )
    rotate = wire(builders.key_rotate(CREATOR, seeded_key(91)))  # the key as a rotation's new key
    rotate["statement"]["new_public_key"] = envelope["statement"]["public_key"]
    before = log_state(app)
    for sent in (envelope, rotate):
        response = client.post("/v1/entries", json=sent)
        assert response.status_code == 400
        problem = response.get_json()
        assert problem["code"] == "invalid_statement"
        assert SMALL_ORDER_DETAIL in problem["detail"]
    assert log_state(app) == before

    # The offline verifier: a log (honestly signed by its key) that holds the same statement.
    signer = NoteSigner.from_private_key("small-order.example/log", seeded_key(90).private_key)
    log = MemoryLog(signer)
    log.add(builders.party_register(OTHER, "placeholder"), datetime(2026, 3, 1, tzinfo=UTC))
    log.leaves[0] = leaf  # the parsed leaf stays the placeholder: make_bundle needs one
    log.store = MemoryHashStore()
    log.store.append_leaf_hash(leaf_hash(leaf))
    query = EvidenceQuery(BUYER.key_id, "ai_training", log.parsed[0].integrated_at)
    bundle = log.bundle(query, ["ab" * 32], seqs=[0]).to_json()
    assert bundle["entries"][0]["leaf"] == base64.b64encode(leaf).decode()
    for check in (cryptography_check, nacl_check):
        report = verify_bundle(bundle, log.verifier_key, check=check)
        # (a bundle of chosen entries carries no map proofs: each key it needs is missing too)
        assert report.codes[0] == "leaf_invalid", report.failures
        assert set(report.codes[1:]) == {"map_proof_missing"}, report.failures
        assert report.failures[0].seq == 0
        assert SMALL_ORDER_DETAIL in report.failures[0].message
