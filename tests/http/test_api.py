"""The HTTP API over the real app, on SQLite and PostgreSQL: every endpoint of the README's table,
checked the way a client, a mirror and an auditor use it — with the pure core's verifiers."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.core import builders, merkle
from ledger.core.canonical import parse_json
from ledger.core.checkpoint import open_checkpoint
from ledger.core.keys import SigningKey
from ledger.core.leaf import check_chain, parse_leaf
from ledger.core.note import NoteVerifier
from ledger.core.statements import SignedStatement
from ledger.server.api.schemas import (
    AppendedSchema,
    BatchResultSchema,
    ConsistencyProofSchema,
    InclusionProofSchema,
)
from ledger.server.service import Appended
from ledger.server.storage.db import MULTI_ROW_MAX
from tests.http.conftest import (
    BUYER,
    CREATOR,
    OTHER,
    STRANGER,
    World,
    append,
    b64decode,
    log_state,
    wire,
)

APPENDED_FIELDS = {"seq", "leaf_hash", "statement_hash", "integrated_at", "tree_size"}


def _grant(creator: Any = CREATOR, buyer: Any = BUYER, **terms: Any) -> SignedStatement:
    return builders.grant(
        creator,
        buyer.key_id,
        str(uuid.uuid4()),
        [builders.Item(hashlib.sha256(uuid.uuid4().bytes).hexdigest(), 5000, 30)],
        builders.TermsSpec(**terms),
    )


def _verifier(client: FlaskClient) -> NoteVerifier:
    return NoteVerifier.from_vkey(client.get("/v1/log").get_json()["verifier_key"])


def _signed_root(client: FlaskClient, tree_size: int) -> bytes:
    """The root of the checkpoint published at ``tree_size``, verified with the log's key."""
    response = client.get(f"/v1/checkpoint?tree_size={tree_size}")
    assert response.status_code == 200
    cp, _ = open_checkpoint(response.get_data(), _verifier(client))
    assert cp.tree_size == tree_size
    return cp.root_hash


# --- Appending ------------------------------------------------------------------------------------


def test_append_returns_201_with_the_documented_fields_after_commit(app: Flask) -> None:
    client = app.test_client()
    signed = builders.party_register(CREATOR, "creator")
    response = client.post("/v1/entries", json=wire(signed))
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == APPENDED_FIELDS
    assert AppendedSchema().dump(AppendedSchema().load(body)) == body  # the documented shape
    assert body["seq"] == 0
    assert body["tree_size"] == 1
    assert body["statement_hash"] == signed.statement_hash.hex()
    # Committed: a fresh connection (another client) reads it at once, and the log vouches for it.
    fresh = app.test_client()
    entry = fresh.get("/v1/entries/0").get_json()
    assert entry["leaf_hash"] == body["leaf_hash"]
    assert entry["integrated_at"] == body["integrated_at"]
    assert fresh.get("/v1/log").get_json()["tree_size"] == 1
    assert log_state(app).entries == 1


def test_entry_holds_the_exact_leaf_of_the_submitted_statement(
    client: FlaskClient, world: World
) -> None:
    entry = client.get(f"/v1/entries/{world.grant_seq}").get_json()
    leaf = b64decode(entry["leaf"])
    assert hashlib.sha256(b"\x00" + leaf).hexdigest() == entry["leaf_hash"]
    parsed = parse_leaf(leaf)  # verifies the statement's signatures inside the leaf
    assert parsed.seq == world.grant_seq
    assert parsed.signed.statement_bytes == world.grant.statement_bytes
    assert entry["statement"] == wire(world.grant)["statement"]
    assert entry["signatures"] == wire(world.grant)["signatures"]
    assert entry["statement_hash"] == world.grant.statement_hash.hex()
    assert entry["type"] == "grant"


def test_batch_accepts_some_and_refuses_others_each_with_its_own_result(
    app: Flask, client: FlaskClient
) -> None:
    good = [builders.party_register(CREATOR, "creator"), builders.party_register(BUYER, "buyer")]
    grant = _grant()
    bad_sig = wire(builders.party_register(OTHER, "other"))
    bad_sig["signatures"][0]["signature"] = wire(good[0])["signatures"][0]["signature"]
    items = [
        wire(good[0]),
        wire(good[1]),
        bad_sig,  # 400 bad_signature
        wire(grant),
        wire(good[0]),  # 409 the same statement again, inside the batch
        wire(_grant(creator=STRANGER)),  # 422 unknown_key
        {"statement": {}, "signatures": []},  # 400 invalid_statement
    ]
    response = client.post("/v1/entries/batch", json={"statements": items})
    assert response.status_code == 200
    body = response.get_json()
    # The documented shape, encoded as Flask's jsonify encodes it (the view skips the schema dump)
    assert BatchResultSchema().dump(BatchResultSchema().load(body)) == body
    compact = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert response.get_data() == compact.encode() + b"\n"
    assert [r["status"] for r in body["results"]] == [201, 201, 400, 201, 409, 422, 400]
    assert [r["index"] for r in body["results"]] == list(range(len(items)))
    codes = [r["error"]["code"] for r in body["results"] if r["status"] != 201]
    assert codes == ["bad_signature", "duplicate_statement", "unknown_key", "invalid_statement"]
    assert (body["accepted"], body["rejected"], body["tree_size"]) == (3, 4, 3)
    accepted = [r for r in body["results"] if r["status"] == 201]
    assert [r["seq"] for r in accepted] == [0, 1, 2]
    for result, signed in zip(accepted, [*good, grant], strict=True):
        assert result["statement_hash"] == signed.statement_hash.hex()
        assert (
            client.get(f"/v1/entries/{result['seq']}").get_json()["leaf_hash"]
            == (result["leaf_hash"])
        )
    state = log_state(app)
    assert (state.entries, state.tree_size) == (3, 3)  # the refused ones were not written
    # Committed together: one checkpoint for the three (besides the fresh log's size 0), none for
    # the sizes in between.
    assert state.checkpoints == 2
    assert client.get("/v1/checkpoint?tree_size=1").status_code == 404


def test_a_batch_is_signed_at_its_size_only(client: FlaskClient) -> None:
    # docs/FORMAT.md §6: one checkpoint per commit, so the sizes inside a batch have none.
    first = append(client, builders.party_register(CREATOR, "creator"))
    batch = [builders.party_register(key, name) for key, name in ((BUYER, "b"), (OTHER, "o"))]
    batch.append(_grant())
    response = client.post("/v1/entries/batch", json={"statements": [wire(s) for s in batch]})
    assert response.status_code == 200
    assert response.get_json()["tree_size"] == first["tree_size"] + 3 == 4
    leaf_hashes = [
        bytes.fromhex(client.get(f"/v1/entries/{seq}").get_json()["leaf_hash"]) for seq in range(4)
    ]
    for size in (1, 4):  # the single append's size and the batch's size: 200, verified
        assert _signed_root(client, size) == merkle.root_from_leaf_hashes(leaf_hashes[:size])
    for inside in (2, 3):
        response = client.get(f"/v1/checkpoint?tree_size={inside}")
        assert response.status_code == 404
        assert response.get_json()["code"] == "not_found"
        # proofs are still served for a size inside a batch (no checkpoint to check them with)
        proof = client.get(f"/v1/proofs/consistency?first={inside}&second=4")
        assert proof.status_code == 200


def test_a_large_batch_is_stored_whole_and_proven(client: FlaskClient) -> None:
    # More rows per table than the storage layer puts into one multi-row INSERT (PostgreSQL then
    # inserts from one array per column): entries, keys, tree hashes and grant contents; read
    # back and proven over HTTP.
    n = MULTI_ROW_MAX + 36
    keys = [SigningKey.generate() for _ in range(n)]
    statements = [builders.party_register(k, f"bulk {i}") for i, k in enumerate(keys)]
    items = [builders.Item(hashlib.sha256(bytes([i % 256, i // 256])).hexdigest(), 100 + i, 10)
             for i in range(n)]  # fmt: skip
    grant = builders.grant(keys[0], keys[1].key_id, str(uuid.uuid4()), items, builders.TermsSpec())
    service = client.application.extensions["ledger"].service  # beyond this app's batch limit
    for batch in (statements, [grant]):
        assert all(isinstance(r, Appended) for r in service.append(batch))
    size = client.get("/v1/log").get_json()["tree_size"]
    assert size == n + 1
    root = _signed_root(client, size)
    for seq in range(size):
        entry = client.get(f"/v1/entries/{seq}").get_json()
        leaf_hash = bytes.fromhex(entry["leaf_hash"])
        assert hashlib.sha256(b"\x00" + b64decode(entry["leaf"])).digest() == leaf_hash
        proof = client.get(f"/v1/proofs/inclusion?seq={seq}&tree_size={size}").get_json()
        merkle.verify_inclusion(seq, size, leaf_hash, [bytes.fromhex(h) for h in proof["hashes"]],
                                root)  # fmt: skip
    for k in (keys[0], keys[-1]):
        assert client.get(f"/v1/parties/{k.key_id}").status_code == 200
    for item in (items[0], items[-1]):
        found = client.get(f"/v1/content/{item.sha256}").get_json()
        assert [g["seq"] for g in found["grants"]] == [n], found


def test_batch_with_only_refusals_writes_nothing(app: Flask, client: FlaskClient) -> None:
    before = log_state(app)
    response = client.post(
        "/v1/entries/batch", json={"statements": [wire(_grant(creator=STRANGER))]}
    )
    body = response.get_json()
    assert (body["accepted"], body["rejected"], body["tree_size"]) == (0, 1, 0)
    assert log_state(app) == before


# --- Reading and mirroring ------------------------------------------------------------------------


@pytest.fixture
def small_log(client: FlaskClient) -> list[dict[str, Any]]:
    """Seven entries, each appended alone so that every size 1..7 has a signed checkpoint."""
    grant = _grant(revocable=True, notice_days=0)
    statements = [
        builders.party_register(CREATOR, "creator"),
        builders.party_register(BUYER, "buyer"),
        grant,
        builders.grant_accept(BUYER, grant.statement_hash),
        builders.key_rotate(BUYER, OTHER),
        _grant(buyer=OTHER),  # to the buyer's new key
        builders.grant_revoke(CREATOR, grant.statement_hash, datetime.now(UTC) + timedelta(1)),
    ]
    return [append(client, s) for s in statements]


def test_paging_mirrors_the_whole_log(client: FlaskClient, small_log: list[dict[str, Any]]) -> None:
    mirrored: list[dict[str, Any]] = []
    start = 0
    while True:
        page = client.get(f"/v1/entries?start={start}&limit=3").get_json()
        assert page["tree_size"] == len(small_log)
        if not page["entries"]:
            break
        mirrored.extend(page["entries"])
        start += len(page["entries"])
    assert [e["seq"] for e in mirrored] == list(range(len(small_log)))
    assert [e["leaf_hash"] for e in mirrored] == [a["leaf_hash"] for a in small_log]
    for entry in mirrored:
        assert client.get(f"/v1/entries/{entry['seq']}").get_json() == entry
    # The mirror rebuilds the chain and the signed root from the leaves alone.
    previous = None
    for entry in mirrored:
        leaf = parse_leaf(b64decode(entry["leaf"]))
        check_chain(leaf, previous and bytes.fromhex(previous["leaf_hash"]))
        previous = entry
    root = merkle.root_from_leaf_hashes([bytes.fromhex(e["leaf_hash"]) for e in mirrored])
    info = client.get("/v1/log").get_json()
    assert info["root_hash"] == root.hex()
    assert _signed_root(client, len(small_log)) == root


def test_log_and_latest_checkpoint_verify_with_the_published_key(
    client: FlaskClient, small_log: list[dict[str, Any]]
) -> None:
    info = client.get("/v1/log").get_json()
    assert set(info) == {"origin", "verifier_key", "tree_size", "root_hash"}
    assert info["origin"] == "test.example/log"
    response = client.get("/v1/checkpoint")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    cp, note = open_checkpoint(response.get_data(), NoteVerifier.from_vkey(info["verifier_key"]))
    assert (cp.origin, cp.tree_size, cp.root_hash.hex()) == (
        info["origin"],
        info["tree_size"],
        info["root_hash"],
    )
    assert [s.name for s in note.signatures] == [info["origin"]]


def test_every_published_size_has_its_checkpoint_and_no_other(
    client: FlaskClient, small_log: list[dict[str, Any]]
) -> None:
    leaf_hashes = [bytes.fromhex(a["leaf_hash"]) for a in small_log]
    for size in range(len(small_log) + 1):  # 0: the empty tree, signed when the log was created
        assert _signed_root(client, size) == merkle.root_from_leaf_hashes(leaf_hashes[:size])
    for never in (len(small_log) + 1, 10**6):
        response = client.get(f"/v1/checkpoint?tree_size={never}")
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"] == "not_found"


def test_every_served_proof_verifies_against_the_signed_roots(
    client: FlaskClient, small_log: list[dict[str, Any]]
) -> None:
    n = len(small_log)
    roots = {size: _signed_root(client, size) for size in range(1, n + 1)}
    leaf_hashes = [bytes.fromhex(a["leaf_hash"]) for a in small_log]
    for size, seq in ((s, q) for s in range(1, n + 1) for q in range(s)):
        body = client.get(f"/v1/proofs/inclusion?seq={seq}&tree_size={size}").get_json()
        assert InclusionProofSchema().dump(InclusionProofSchema().load(body)) == body
        assert (body["seq"], body["tree_size"]) == (seq, size)
        proof = [bytes.fromhex(h) for h in body["hashes"]]
        merkle.verify_inclusion(seq, size, leaf_hashes[seq], proof, roots[size])
    for first, second in itertools.combinations_with_replacement(range(1, n + 1), 2):
        body = client.get(f"/v1/proofs/consistency?first={first}&second={second}").get_json()
        assert ConsistencyProofSchema().dump(ConsistencyProofSchema().load(body)) == body
        assert (body["first"], body["second"]) == (first, second)
        proof = [bytes.fromhex(h) for h in body["hashes"]]
        merkle.verify_consistency(first, second, proof, roots[first], roots[second])
    # Without tree_size / second, proofs are against the latest signed tree.
    latest = client.get("/v1/proofs/inclusion?seq=0").get_json()
    assert latest["tree_size"] == n
    assert client.get("/v1/proofs/consistency?first=2").get_json()["second"] == n


def test_sizes_seen_by_a_proof_never_let_a_larger_size_through(
    client: FlaskClient, small_log: list[dict[str, Any]]
) -> None:
    # The app remembers the largest signed size it has read, to skip that read for smaller
    # sizes; a size beyond the log must still be refused, and a size signed later accepted.
    n = len(small_log)
    assert client.get(f"/v1/proofs/inclusion?seq=0&tree_size={n}").status_code == 200
    for path in (
        f"/v1/proofs/inclusion?seq=0&tree_size={n + 1}",
        f"/v1/proofs/consistency?first=1&second={n + 1}",
    ):
        refused = client.get(path)
        assert refused.status_code == 400
        assert refused.get_json()["code"] == "invalid_parameter"
    extra = append(client, builders.party_register(SigningKey.generate(), "late"))
    assert extra["tree_size"] == n + 1
    body = client.get(f"/v1/proofs/inclusion?seq={n}&tree_size={n + 1}").get_json()
    merkle.verify_inclusion(
        n,
        n + 1,
        bytes.fromhex(extra["leaf_hash"]),
        [bytes.fromhex(h) for h in body["hashes"]],
        _signed_root(client, n + 1),
    )
    assert client.get(f"/v1/proofs/consistency?first=1&second={n + 1}").status_code == 200


# --- Search ---------------------------------------------------------------------------------------


def _prove(client: FlaskClient, seq: int) -> None:
    """An answer's seq is proven: its entry is included in the latest signed tree."""
    info = client.get("/v1/log").get_json()
    entry = client.get(f"/v1/entries/{seq}").get_json()
    proof = client.get(f"/v1/proofs/inclusion?seq={seq}").get_json()["hashes"]
    merkle.verify_inclusion(
        seq,
        info["tree_size"],
        bytes.fromhex(entry["leaf_hash"]),
        [bytes.fromhex(h) for h in proof],
        _signed_root(client, info["tree_size"]),
    )


def test_party_search_lists_keys_with_the_seqs_that_prove_them(
    client: FlaskClient, small_log: list[dict[str, Any]]
) -> None:
    for key_id in (BUYER.key_id, OTHER.key_id):  # by the old key and by the new one
        party = client.get(f"/v1/parties/{key_id}").get_json()
        assert party["pseudonym"] == "buyer"
        assert party["registered_seq"] == 1
        keys = {k["key_id"]: k for k in party["keys"]}
        assert keys[BUYER.key_id]["status"] == "rotated"
        assert keys[BUYER.key_id]["ended_seq"] == 4
        assert keys[OTHER.key_id]["status"] == "valid"
        assert keys[OTHER.key_id]["public_key"] == OTHER.public_key.b64
    for seq in (1, 4):
        _prove(client, seq)
    assert client.get(f"/v1/parties/{STRANGER.key_id}").status_code == 404


def test_parties_are_found_by_pseudonym_and_bad_names_are_refused(
    client: FlaskClient, small_log: list[dict[str, Any]]
) -> None:
    """``GET /v1/parties?pseudonym=``: every party registered under the name (a rotated key
    does not make a second one), oldest first; none for an unused name; a name a
    ``party.register`` could not carry is refused with problem+json and nothing read."""
    named = client.get("/v1/parties?pseudonym=buyer").get_json()
    assert named == {
        "pseudonym": "buyer",
        "parties": [{"party_id": BUYER.key_id, "registered_seq": 1}],
    }
    same = append(client, builders.party_register(STRANGER, "buyer"))
    named = client.get("/v1/parties", query_string={"pseudonym": "buyer"}).get_json()
    assert named["parties"] == [
        {"party_id": BUYER.key_id, "registered_seq": 1},
        {"party_id": STRANGER.key_id, "registered_seq": same["seq"]},
    ]
    assert client.get("/v1/parties?pseudonym=Buyer").get_json()["parties"] == []  # exact spelling
    for bad in ("", " buyer", "buyer ", "b" * 65, "b\u00fcyer", "a/b", "buyer\n"):
        refused = client.get("/v1/parties", query_string={"pseudonym": bad})
        assert refused.status_code == 400, bad
        assert refused.mimetype == "application/problem+json"
        assert refused.get_json()["code"] == "invalid_parameter", refused.get_json()
    missing = client.get("/v1/parties")
    assert missing.status_code == 400
    assert missing.mimetype == "application/problem+json"


def test_grant_and_content_search_name_every_entry_by_seq(
    client: FlaskClient, small_log: list[dict[str, Any]]
) -> None:
    grant_entry = client.get("/v1/entries/2").get_json()
    grant_id = grant_entry["statement"]["grant_id"]
    body = client.get(f"/v1/grants/{grant_id}").get_json()
    assert (body["seq"], body["accepted_seq"], body["revoked_seq"]) == (2, 3, 6)
    assert body["entry"] == grant_entry
    assert body["acceptance"]["seq"] == 3
    assert body["revocation"]["statement"]["type"] == "grant.revoke"
    assert body["statement_hash"] == grant_entry["statement_hash"]
    sha = grant_entry["statement"]["content"][0]["sha256"]
    content = client.get(f"/v1/content/{sha}").get_json()
    assert content["sha256"] == sha
    assert [g["grant_id"] for g in content["grants"]] == [grant_id]
    assert content["grants"][0]["revoked_seq"] == 6
    for seq in (2, 3, 6):
        _prove(client, seq)
    assert client.get(f"/v1/content/{'ee' * 32}").get_json()["grants"] == []
    assert client.get(f"/v1/grants/{uuid.uuid4()}").status_code == 404


# --- Health and documentation ---------------------------------------------------------------------


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def _routes(app: Flask) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("api-docs.", "static", "web.")):  # pages, not the API
            continue
        # Flask's <seq> and <path:tile_path> are OpenAPI's {seq} and {tile_path}
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        out.update((path, m.lower()) for m in rule.methods or () if m not in ("HEAD", "OPTIONS"))
    return out


def test_openapi_document_is_valid_and_lists_every_route(app: Flask, client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)  # raises on anything that is not valid OpenAPI 3.0
    assert spec["openapi"].startswith("3.")
    documented = {(p, m) for p, ops in spec["paths"].items() for m in ops if m != "parameters"}
    assert _routes(app) == documented
    readme_table = {
        ("/v1/entries", "post"),
        ("/v1/entries/batch", "post"),
        ("/v1/entries/{seq}", "get"),
        ("/v1/entries", "get"),
        ("/v1/log", "get"),
        ("/v1/checkpoint", "get"),
        ("/v1/proofs/inclusion", "get"),
        ("/v1/proofs/consistency", "get"),
        ("/v1/parties/{key_id}", "get"),
        ("/v1/grants/{grant_id}", "get"),
        ("/v1/content/{sha256}", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    }
    assert readme_table <= documented


def test_docs_page_renders_every_operation_without_the_internet(client: FlaskClient) -> None:
    # Written from the OpenAPI document by the app itself: no script, nothing from elsewhere.
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "openapi.json" in page
    assert "<script" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    spec = client.get("/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        for method in operations:
            if method != "parameters":
                assert f"{method.upper()} {path}" in page


def test_entries_are_served_as_strict_json(client: FlaskClient, world: World) -> None:
    # What the API serves parses under the same strict rules it applies to what it receives.
    for path in ("/v1/log", f"/v1/entries/{world.grant_seq}", "/v1/entries?limit=10"):
        parse_json(client.get(path).get_data())


def test_a_size_seen_on_a_bigger_database_is_refused_not_a_server_error(
    client: FlaskClient, small_log: list[dict[str, Any]]
) -> None:
    # The app took tree sizes up to 1,000 on trust (as if its database had been switched for one
    # that lags behind); a proof at a size the database has not signed is still a 400.
    n = len(small_log)
    sizes = client.application.extensions["ledger"].signed_sizes
    sizes.seen = 1_000
    for path in (
        f"/v1/proofs/inclusion?seq=0&tree_size={n + 3}",
        f"/v1/proofs/consistency?first=1&second={n + 3}",
    ):
        refused = client.get(path)
        assert refused.status_code == 400, refused.get_json()
        assert refused.get_json()["code"] == "invalid_parameter"
    assert sizes.seen == n
    assert client.get(f"/v1/proofs/inclusion?seq=0&tree_size={n}").status_code == 200
