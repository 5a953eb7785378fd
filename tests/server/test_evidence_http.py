"""GET /v1/content/{sha256}/status and POST /v1/evidence on both backends: the verdicts, proofs that
verify with the core against the checkpoint (under the key from /v1/log), and bad input refused with
a stable problem code while nothing is written."""

from __future__ import annotations

import base64
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.core import builders
from ledger.core.evidence import verify_bundle
from ledger.core.leaf import format_log_time, micros_from_datetime
from ledger.core.receipts import decode_receipt
from ledger.server.service import LogService
from tests.support.factories import seeded_key

C, B, OB = seeded_key(1), seeded_key(2), seeded_key(3)
A, A2, OFFER, REVOKED, NONE = (f"{n:02x}" * 32 for n in (0xA1, 0xA2, 0x0F, 0xDE, 0xEE))
START = datetime(2026, 1, 1, tzinfo=UTC)


GOOD: dict[str, Any] = {"buyer": B.key_id, "use": "ai_training", "content": [A]}


def _grant(clips: list[str], **terms: Any) -> Any:
    items = [builders.Item(c, 1000, 60) for c in clips]
    spec = builders.TermsSpec(start=START, **terms)
    return builders.grant(C, B.key_id, str(uuid.uuid4()), items, spec)


@dataclasses.dataclass
class World:
    client: FlaskClient
    seqs: dict[str, int]
    times: dict[str, datetime]

    def size(self) -> int:
        return int(self.client.get("/v1/log").get_json()["tree_size"])

    def vkey(self) -> str:
        return str(self.client.get("/v1/log").get_json()["verifier_key"])


@pytest.fixture
def world(service: LogService, client: FlaskClient) -> World:
    for key, name in ((C, "creator"), (B, "buyer"), (OB, "other")):
        service.append_one(builders.party_register(key, name))
    seqs: dict[str, int] = {}
    times: dict[str, datetime] = {}
    licensed = _grant([A, A2])
    offer = _grant([OFFER])
    revocable = _grant([REVOKED], revocable=True, notice_days=0)
    for name, signed in (
        ("grant", licensed),
        ("offer", offer),
        ("revocable", revocable),
        ("accept", builders.grant_accept(B, licensed.statement_hash)),
        ("accept_revocable", builders.grant_accept(B, revocable.statement_hash)),
    ):
        result = service.append_one(signed)
        seqs[name], times[name] = result.seq, result.integrated_at
    effective = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    revoke = builders.grant_revoke(C, revocable.statement_hash, effective)
    result = service.append_one(revoke)
    seqs["revoke"], times["revoke"] = result.seq, effective
    return World(client, seqs, times)


def _status(world: World, sha256: str, **params: str) -> Any:
    query = {"buyer": B.key_id, "use": "ai_training", **params}
    resp = world.client.get(f"/v1/content/{sha256}/status", query_string=query)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_status_licensed_with_proofs_against_one_checkpoint(world: World) -> None:
    body = _status(world, A)
    assert (body["licensed"], body["reason"], body["grant_seq"]) == (
        True,
        "licensed",
        world.seqs["grant"],
    )
    evidence = body["evidence"]
    report = verify_bundle(evidence, world.vkey())
    assert report, report.failures
    assert report.checkpoint is not None
    assert report.checkpoint.tree_size == world.size()
    cited = {e["seq"] for e in evidence["entries"]}
    assert {0, 1, world.seqs["grant"], world.seqs["accept"]} <= cited
    assert all(e["leaf_hash"] == e["leaf_hash"].lower() for e in evidence["entries"])
    assert body["entries"] == evidence["items"][0]["entries"]


@pytest.mark.parametrize(
    ("clip", "params", "reason"),
    [
        (OFFER, {}, "not_accepted"),
        (NONE, {}, "no_grant"),
        (A, {"use": "ai_inference"}, "use_not_permitted"),
        (A, {"buyer": OB.key_id}, "no_grant"),
        (A, {"buyer": "77" * 32}, "no_grant"),  # a key the log never saw
        (A, {"at": "2025-06-01T00:00:00Z"}, "no_grant"),  # before the grant was logged
    ],
)
def test_status_not_licensed(world: World, clip: str, params: dict[str, str], reason: str) -> None:
    body = _status(world, clip, **params)
    assert (body["licensed"], body["reason"]) == (False, reason)
    assert verify_bundle(body["evidence"], world.vkey())


def test_status_at_exactly_the_acceptance_and_just_before(world: World) -> None:
    accepted = micros_from_datetime(world.times["accept"])
    assert _status(world, A, at=format_log_time(accepted))["licensed"] is True
    before = _status(world, A, at=format_log_time(accepted - 1))
    assert (before["licensed"], before["reason"]) == (False, "not_accepted")


def test_status_revocation_takes_effect_at_effective_at(world: World) -> None:
    effective = world.times["revoke"]
    at = effective.strftime("%Y-%m-%dT%H:%M:%SZ")
    just_before = format_log_time(micros_from_datetime(effective) - 1)
    assert _status(world, REVOKED, at=at)["reason"] == "revoked"
    assert _status(world, REVOKED, at=just_before)["reason"] == "licensed"


def test_evidence_bundle_for_many_items(world: World) -> None:
    content = [A, A2, OFFER, REVOKED, NONE, A]  # a repeated hash is answered once
    at = world.times["revoke"].strftime("%Y-%m-%dT%H:%M:%SZ")  # the revocation's effective_at
    resp = world.client.post(
        "/v1/evidence",
        json={"buyer": B.key_id, "use": "ai_training", "content": content, "at": at},
    )
    assert resp.status_code == 200, resp.get_json()
    bundle = resp.get_json()
    assert bundle["format"] == "consent-ledger/evidence/v2"
    assert bundle["query"]["at"] == at.replace("Z", ".000000Z")
    assert [i["sha256"] for i in bundle["items"]] == [A, A2, OFFER, REVOKED, NONE]
    seqs = [e["seq"] for e in bundle["entries"]]
    assert seqs == sorted(set(seqs))  # every entry once: the grant covering A and A2 too
    assert world.seqs["grant"] in seqs
    report = verify_bundle(bundle, world.vkey())
    assert report, report.failures
    reasons = ["licensed", "licensed", "not_accepted", "revoked", "no_grant"]
    assert [v.reason for v in report.verdicts] == reasons
    assert [i["reason"] for i in bundle["items"]] == reasons


def test_answers_are_complete_and_any_omission_fails(world: World, service: LogService) -> None:
    """The server includes every entry the licence map lists under a required key (FORMAT §13.2):
    a grant of the item to another buyer, and entries integrated after ``at``; removing any one
    of them from its answer fails verification with entry_omitted."""
    other = builders.grant(
        C, OB.key_id, str(uuid.uuid4()), [builders.Item(REVOKED, 1, 1)], builders.TermsSpec()
    )
    other_seq = service.append_one(other).seq
    before_revocation = format_log_time(micros_from_datetime(world.times["accept_revocable"]))
    body = _status(world, REVOKED, at=before_revocation)
    assert body["reason"] == "licensed"
    bundle = body["evidence"]
    seqs = {e["seq"] for e in bundle["entries"]}
    assert {other_seq, world.seqs["revoke"]} <= seqs  # another buyer's grant; a later entry
    assert {2} <= seqs  # the other buyer's registration: its key is the other grant's buyer
    report = verify_bundle(bundle, world.vkey())
    assert report, report.failures
    assert report.map_keys_verified == len(bundle["map"])
    for seq in sorted(seqs):
        partial = {**bundle, "entries": [e for e in bundle["entries"] if e["seq"] != seq]}
        assert "entry_omitted" in verify_bundle(partial, world.vkey()).codes, seq


def test_receipts_ride_in_bundles_when_asked(world: World) -> None:
    """``?receipts=1`` (FORMAT §13.2): each entry's COSE receipt at the checkpoint's size, whose
    root is the checkpoint's and which the SCRAPI route serves byte for byte; without the flag
    (or with 0) the bundle is the same bundle without the member."""
    at = world.times["accept"].strftime("%Y-%m-%dT%H:%M:%SZ")  # one question, one answer
    body = {"buyer": B.key_id, "use": "ai_training", "content": [A, NONE], "at": at}
    plain = world.client.post("/v1/evidence", json=body).get_json()
    zero = world.client.post("/v1/evidence?receipts=0", json=body).get_json()
    resp = world.client.post("/v1/evidence?receipts=1", json=body)
    assert resp.status_code == 200, resp.get_json()
    bundle = resp.get_json()
    assert "receipts" not in plain
    assert zero == plain
    assert {k: v for k, v in bundle.items() if k != "receipts"} == plain
    assert [r["seq"] for r in bundle["receipts"]] == [e["seq"] for e in bundle["entries"]]
    report = verify_bundle(bundle, world.vkey())
    assert report, report.failures
    assert report.receipts_verified == len(bundle["entries"])
    cp = report.checkpoint
    assert cp is not None
    for r in bundle["receipts"]:  # the receipt the SCITT route issues at the same size
        served = world.client.get(f"/v1/entries/{r['seq']}/receipt")
        assert base64.b64encode(served.data).decode() == r["receipt"]
        assert decode_receipt(served.data).first == cp.tree_size
    status = _status(world, A, receipts="1")
    assert verify_bundle(status["evidence"], world.vkey()).receipts_verified == len(
        status["evidence"]["entries"]
    )
    assert "receipts" not in _status(world, A)["evidence"]


@pytest.mark.parametrize("flag", ["true", "yes", "2", "", "01"])
def test_receipts_flag_has_one_spelling(world: World, flag: str) -> None:
    size = world.size()
    resp = world.client.post(f"/v1/evidence?receipts={flag}", json=GOOD)
    assert (resp.status_code, resp.get_json()["code"]) == (400, "invalid_parameter")
    resp = world.client.get(
        f"/v1/content/{A}/status", query_string={"buyer": B.key_id, "use": "ai_training",
                                                 "receipts": flag}
    )  # fmt: skip
    assert (resp.status_code, resp.get_json()["code"]) == (400, "invalid_parameter")
    assert world.size() == size


def test_receipts_need_two_entries(service: LogService, client: FlaskClient) -> None:
    service.append_one(builders.party_register(B, "buyer"))
    query = {"buyer": B.key_id, "use": "ai_training", "receipts": "1"}
    resp = client.get(f"/v1/content/{A}/status", query_string=query)
    assert (resp.status_code, resp.get_json()["code"]) == (400, "invalid_parameter")
    assert "at least 2 entries" in resp.get_json()["detail"]
    plain = client.get(f"/v1/content/{A}/status", query_string=query | {"receipts": "0"})
    assert plain.status_code == 200


def test_status_on_an_empty_log_is_not_found(client: FlaskClient) -> None:
    query = {"buyer": B.key_id, "use": "ai_training"}
    resp = client.get(f"/v1/content/{A}/status", query_string=query)
    assert (resp.status_code, resp.get_json()["code"]) == (404, "not_found")


# --- bad input ----------------------------------------------------------------------------------


def _far_future() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("zz", {}, 400, "invalid_parameter"),
        (A[:-1], {}, 400, "invalid_parameter"),
        (A, {"buyer": None}, 400, "invalid_parameter"),
        (A, {"buyer": "xyz"}, 400, "invalid_parameter"),
        (A, {"use": "ai_everything"}, 400, "invalid_parameter"),
        (A, {"use": None}, 400, "invalid_parameter"),
        (A, {"at": "yesterday"}, 400, "invalid_parameter"),
        (A, {"at": "2026-03-01T12:00:00+01:00"}, 400, "invalid_parameter"),
        (A, {"at": "FUTURE"}, 400, "at_in_future"),
        (A, {"color": "red"}, 400, "invalid_parameter"),
    ],
)
def test_status_bad_input(
    world: World, path: str, params: dict[str, str | None], status: int, code: str
) -> None:
    size = world.size()
    query = {"buyer": B.key_id, "use": "ai_training", **params}
    query = {k: (_far_future() if v == "FUTURE" else v) for k, v in query.items() if v is not None}
    resp = world.client.get(f"/v1/content/{path}/status", query_string=query)
    assert (resp.status_code, resp.get_json()["code"]) == (status, code)
    assert resp.mimetype == "application/problem+json"
    assert world.size() == size


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({**GOOD, "content": []}, 400, "invalid_request"),
        ({**GOOD, "content": "ab"}, 400, "invalid_request"),
        ({**GOOD, "content": [1]}, 400, "invalid_request"),
        ({**GOOD, "content": ["ab"]}, 400, "invalid_parameter"),
        ({**GOOD, "content": [A] * 4}, 413, "too_many_items"),  # the test app allows 3
        ({"buyer": B.key_id, "use": "ai_training"}, 400, "invalid_request"),
        ({**GOOD, "extra": 1}, 400, "invalid_request"),
        ({**GOOD, "buyer": 5}, 400, "invalid_request"),
        ({**GOOD, "buyer": "ab"}, 400, "invalid_parameter"),
        ({**GOOD, "use": "ai_everything"}, 400, "invalid_parameter"),
        ({**GOOD, "at": "2026-13-01T00:00:00Z"}, 400, "invalid_parameter"),
        ({**GOOD, "at": "FUTURE"}, 400, "at_in_future"),
        ([A], 400, "invalid_request"),
    ],
)
def test_evidence_bad_input(world: World, app: Flask, body: Any, status: int, code: str) -> None:
    ledger = app.extensions["ledger"]
    ledger.config = dataclasses.replace(ledger.config, max_evidence_items=3)
    if isinstance(body, dict) and body.get("at") == "FUTURE":
        body = {**body, "at": _far_future()}
    size = world.size()
    resp = world.client.post("/v1/evidence", json=body)
    assert (resp.status_code, resp.get_json()["code"]) == (status, code)
    assert resp.mimetype == "application/problem+json"
    assert world.size() == size


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"{", "application/json", 400, "malformed_json"),
        (b'{"buyer": 1, "buyer": 2}', "application/json", 400, "malformed_json"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
        (b" " * (9 * 1024 * 1024), "application/json", 413, "payload_too_large"),
    ],
)
def test_evidence_bad_bodies(
    world: World, data: bytes, content_type: str, status: int, code: str
) -> None:
    resp = world.client.post("/v1/evidence", data=data, content_type=content_type)
    assert (resp.status_code, resp.get_json()["code"]) == (status, code)


def test_evidence_hashes_have_one_spelling(world: World) -> None:
    """Hashes are lowercase hex everywhere in the API: an uppercase one is refused, not folded."""
    resp = world.client.post(
        "/v1/evidence", json={"buyer": B.key_id, "use": "ai_training", "content": [A.upper()]}
    )
    assert resp.status_code == 400
    assert resp.get_json()["code"] == "invalid_parameter"
