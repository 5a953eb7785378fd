"""The SCITT Reference API over the real app (docs/FORMAT.md §15, README *SCITT*): the COSE Key
Set, receipts that our verifier and scitt-cose accept with the root of the checkpoint of their
size, Resolve Receipt on the explorer's path, and Signed Statements made by pycose (a third-party
COSE library) registered through ``POST /entries`` as normal entries; errors as RFC 9290 concise
problem details in CBOR.
"""

from __future__ import annotations

import base64
from typing import Any

import cbor2
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm, ContentType
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

from ledger.core import builders
from ledger.core.checkpoint import Checkpoint
from ledger.core.cose import key_thumbprint
from ledger.core.errors import LedgerError
from ledger.core.keys import SigningKey
from ledger.core.note import NoteVerifier, parse_note
from ledger.core.receipts import (
    decode_receipt,
    verify_consistency_receipt,
    verify_inclusion_receipt,
)
from ledger.core.scitt import HDR_SIGNATURES, STATEMENT_CONTENT_TYPE
from ledger.core.statements import SignedStatement
from tests.http.conftest import BUYER, CREATOR, OTHER, append, log_state
from tests.support.factories import seeded_key

COSE = "application/cose"
PROBLEM = "application/concise-problem-details+cbor"


def _log_key(client: FlaskClient) -> bytes:
    keys = cbor2.loads(client.get("/.well-known/scitt-keys").data)
    assert len(keys) == 1
    return bytes(keys[0][-2])


def _root_at(client: FlaskClient, size: int) -> bytes:
    note = client.get(f"/v1/checkpoint?tree_size={size}").get_data(as_text=True)
    return Checkpoint.parse(parse_note(note)[0]).root_hash


def _leaf(client: FlaskClient, seq: int) -> bytes:
    return base64.b64decode(client.get(f"/v1/entries/{seq}").get_json()["leaf"])


def signed_statement(
    signed: SignedStatement, key: SigningKey, headers: dict[Any, Any] | None = None
) -> bytes:
    """``signed`` as a SCITT Signed Statement made by pycose (§15.6), COSE-signed by ``key``."""
    phdr: dict[Any, Any] = {
        Algorithm: EdDSA,
        ContentType: STATEMENT_CONTENT_TYPE,
        KID: bytes.fromhex(key.key_id),
        HDR_SIGNATURES: [[s.public_key.raw, s.signature] for s in signed.signatures],
        15: {1: key.key_id, 2: signed.type_name},
    }
    phdr.update(headers or {})
    message = Sign1Message(phdr=phdr, payload=signed.statement_bytes)
    message.key = OKPKey(crv=Ed25519, d=key.private_key.private_bytes_raw())
    return message.encode()  # tagged COSE_Sign1


def _register(client: FlaskClient, body: bytes) -> Any:
    return client.post("/entries", data=body, headers={"Content-Type": COSE, "Accept": COSE})


def _problem(response: Any) -> dict[Any, Any]:
    assert response.content_type == PROBLEM
    return cbor2.loads(response.data)  # type: ignore[no-any-return]


def _code(problem: dict[Any, Any]) -> str:
    (custom,) = (v for k, v in problem.items() if isinstance(k, str))
    return custom["code"]  # type: ignore[no-any-return]


def test_the_key_set_holds_the_log_key_named_by_its_thumbprint(client: FlaskClient) -> None:
    response = client.get("/.well-known/scitt-keys", headers={"Accept": "application/cbor"})
    assert response.status_code == 200
    assert response.content_type == "application/cbor"
    (key,) = cbor2.loads(response.data)
    vkey = client.get("/v1/log").get_json()["verifier_key"]
    assert NoteVerifier.from_vkey(vkey).public_key == key[-2]  # the checkpoint key, C2SP
    assert key[1] == 1
    assert key[-1] == 6
    assert key[3] == -8
    assert key[2] == key_thumbprint(key[-2])
    kid = base64.urlsafe_b64encode(key[2]).rstrip(b"=").decode()
    one = client.get(f"/.well-known/scitt-keys/{kid}")
    assert cbor2.loads(one.data) == key
    other = "A" * 43
    missing = client.get(f"/.well-known/scitt-keys/{other}")
    assert missing.status_code == 404
    assert _code(_problem(missing)) == "not_found"


def test_consistency_receipts_lead_from_one_checkpoint_root_to_another(
    client: FlaskClient,
) -> None:
    """GET /v1/proofs/consistency/receipt: a consistency receipt (§15.5) from a checkpoint's root
    to the published one (or to the checkpoint of ``second``), verified by the core verifier."""
    for key, name in ((CREATOR, "creator"), (BUYER, "buyer"), (OTHER, "other")):
        append(client, builders.party_register(key, name))
    size = client.get("/v1/log").get_json()["tree_size"]
    log_key = _log_key(client)
    latest = client.get("/v1/proofs/consistency/receipt?first=1")
    assert latest.status_code == 200
    assert latest.content_type == COSE
    verified = verify_consistency_receipt(latest.data, _root_at(client, 1), log_key)
    assert (verified.old_size, verified.tree_size) == (1, size)
    assert verified.root == _root_at(client, size)
    to_two = client.get(f"/v1/proofs/consistency/receipt?first=1&second={size - 1}")
    assert to_two.status_code == 200
    assert verify_consistency_receipt(to_two.data, _root_at(client, 1), log_key).root == (
        _root_at(client, size - 1)
    )
    # from a root the log never had: refused by the verifier
    with pytest.raises(LedgerError):
        verify_consistency_receipt(latest.data, bytes(32), log_key)
    for query, status, code in (
        (f"first={size}", 400, "invalid_parameter"),  # first < second
        (f"first=1&second={size + 1}", 400, "invalid_parameter"),  # beyond the published size
        ("first=0", 400, "invalid_parameter"),
        ("second=2", 400, "invalid_parameter"),  # first is required
        ("first=1&second=1", 400, "invalid_parameter"),
    ):
        answer = client.get(f"/v1/proofs/consistency/receipt?{query}")
        assert answer.status_code == status, query
        assert answer.get_json()["code"] == code, query


def test_receipts_carry_the_root_of_the_checkpoint_of_their_size(client: FlaskClient) -> None:
    for key, name in ((CREATOR, "creator"), (BUYER, "buyer"), (OTHER, "other")):
        append(client, builders.party_register(key, name))
    size = client.get("/v1/log").get_json()["tree_size"]
    log_key = _log_key(client)
    for seq in range(size):
        response = client.get(f"/v1/entries/{seq}/receipt")
        assert response.status_code == 200
        assert response.content_type == COSE
        verified = verify_inclusion_receipt(response.data, _leaf(client, seq), log_key)
        assert (verified.tree_size, verified.leaf_index) == (size, seq)
        assert verified.root == _root_at(client, size)
        resolved = client.get(f"/entries/{seq}", headers={"Accept": COSE})
        assert resolved.data == response.data
        assert resolved.headers["Location"] == f"/entries/{seq}"
    for accept in ("", "*/*", "text/html,*/*;q=0.8", "application/cose;q=0.1, text/html"):
        page = client.get("/entries/0", headers={"Accept": accept} if accept else {})
        assert page.content_type.startswith("text/html"), accept  # people get the page
    assert client.get(f"/v1/entries/{size}/receipt").status_code == 404
    unknown = client.get(f"/entries/{size}", headers={"Accept": COSE})
    assert unknown.status_code == 404
    assert _code(_problem(unknown)) == "not_found"


def test_receipts_at_the_size_of_an_older_checkpoint(client: FlaskClient, app: Flask) -> None:
    """``?tree_size=N`` (a proof file's size, docs/FORMAT.md §12): the receipt at a published
    checkpoint's size, with that checkpoint's root; a size the log signed no checkpoint of, one
    beyond the published size, below 2 or not holding the entry is refused, nothing written."""
    for key, name in ((CREATOR, "creator"), (BUYER, "buyer"), (OTHER, "other")):
        append(client, builders.party_register(key, name))
    log_key = _log_key(client)
    for size in (2, 3):
        response = client.get(f"/v1/entries/1/receipt?tree_size={size}")
        assert response.status_code == 200, response.get_json()
        verified = verify_inclusion_receipt(response.data, _leaf(client, 1), log_key)
        assert (verified.tree_size, verified.root) == (size, _root_at(client, size))
    state = log_state(app)
    for query, status, code in (
        ("tree_size=4", 400, "invalid_parameter"),  # beyond the published size
        ("tree_size=1", 400, "invalid_parameter"),  # a tree of one entry has no receipt
        ("tree_size=2&x=1", 400, "invalid_parameter"),
        ("tree_size=02", 400, "invalid_parameter"),
        ("tree_size=-1", 400, "invalid_parameter"),
    ):
        response = client.get(f"/v1/entries/1/receipt?{query}")
        assert (response.status_code, response.get_json()["code"]) == (status, code), query
    response = client.get("/v1/entries/2/receipt?tree_size=2")  # entry 2 is not in that tree
    assert (response.status_code, response.get_json()["code"]) == (400, "invalid_parameter")
    assert log_state(app) == state


def test_a_pycose_signed_statement_is_registered_as_a_normal_entry(client: FlaskClient) -> None:
    from scitt_cose.receipt import verify_receipt

    append(client, builders.party_register(CREATOR, "creator"))
    key = seeded_key(7)
    signed = builders.party_register(key, "via scrapi")
    response = _register(client, signed_statement(signed, key))
    assert response.status_code == 201, cbor2.loads(response.data)
    assert response.content_type == COSE
    seq = int(response.headers["Location"].rsplit("/", 1)[1])
    entry = client.get(f"/v1/entries/{seq}").get_json()
    assert entry["statement"] == signed.to_json()["statement"]  # what POST /v1/entries logs
    assert entry["signatures"] == signed.to_json()["signatures"]
    receipt = decode_receipt(response.data)
    assert (receipt.first, receipt.second) == (seq + 1, seq)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    pem = Ed25519PublicKey.from_public_bytes(_log_key(client)).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    checked = verify_receipt(
        response.data, leaf_entry_hex=_leaf(client, seq).hex(), log_public_key_pem=pem
    )
    assert checked.ok, checked.errors
    again = _register(client, signed_statement(signed, key))
    assert again.status_code == 409
    assert _code(_problem(again)) == "duplicate_statement"


def test_the_first_entry_of_a_log_is_registered_then_receipted_later(client: FlaskClient) -> None:
    response = _register(client, signed_statement(builders.party_register(CREATOR, "c"), CREATOR))
    assert response.status_code == 303
    assert response.headers["Location"] == "/entries/0"
    assert client.get("/entries/0", headers={"Accept": COSE}).status_code == 302
    append(client, builders.party_register(BUYER, "b"))
    assert client.get("/entries/0", headers={"Accept": COSE}).status_code == 200


def _forged(headers: dict[Any, Any] | None = None) -> bytes:
    return signed_statement(builders.party_register(BUYER, "b"), BUYER, headers)


REFUSED: dict[str, tuple[bytes, str]] = {
    "not CBOR": (b"\xff", "malformed_signed_statement"),
    "wrong content type": (
        _forged({ContentType: "application/json"}),
        "malformed_signed_statement",
    ),
    "kid of another key": (_forged({KID: bytes(32)}), "malformed_signed_statement"),
    "iss not the signer": (_forged({15: {1: "someone"}}), "malformed_signed_statement"),
    "sub not the type": (_forged({15: {2: "grant"}}), "malformed_signed_statement"),
    "no statement signatures": (_forged({HDR_SIGNATURES: []}), "malformed_signed_statement"),
    "signed by another key": (
        signed_statement(
            builders.party_register(BUYER, "b"),
            CREATOR,
            {KID: bytes.fromhex(BUYER.key_id), 15: {1: BUYER.key_id}},
        ),
        "bad_signature",
    ),
    "statement signature broken": (
        _forged({HDR_SIGNATURES: [[BUYER.public_key.raw, bytes(64)]]}),
        "bad_signature",
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_signed_statements_are_concise_problems(client: FlaskClient, name: str) -> None:
    body, code = REFUSED[name]
    before = log_state(client.application)
    response = _register(client, body)
    assert response.status_code == 400
    problem = _problem(response)
    assert _code(problem) == code
    assert isinstance(problem[-1], str)
    assert isinstance(problem[-2], str)
    assert log_state(client.application) == before


def test_a_signed_statement_needs_the_cose_media_type(client: FlaskClient) -> None:
    response = client.post("/entries", data=_forged(), headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    assert _code(_problem(response)) == "unsupported_media_type"
