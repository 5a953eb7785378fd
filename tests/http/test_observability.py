"""Logs, request ids, metrics and health checks on the real app, on both backends.

``ledger.server.logs`` (one JSON line per request, request ids), ``ledger.server.metrics``
(``/metrics``), ``ledger.server.api.health``. The multi-worker aggregation under gunicorn is in
test_metrics_gunicorn.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from ledger.core import builders
from ledger.core.keys import SigningKey
from tests.conftest import break_database

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON log lines in captured stderr (other output is skipped)."""
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def access_lines(text: str) -> list[dict[str, Any]]:
    return [r for r in json_lines(text) if r["logger"] == "ledger.access"]


def metric_samples(client: FlaskClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.get_data(as_text=True))
        for s in family.samples
    }


def sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _register() -> dict[str, Any]:
    return builders.party_register(SigningKey.generate(), "observed").to_json()


# --- one access line per request, with the request id -------------------------------------------


def test_one_json_line_per_request(client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    created = client.post("/v1/entries", json=_register(), headers={"X-Request-ID": "req-1"})
    missing = client.get("/v1/entries/99", headers={"X-Request-ID": "req-2"})
    log = client.get("/v1/log?x=secret-query", headers={"X-Request-ID": "req-3"})
    lines = access_lines(capsys.readouterr().err)
    assert [line["request_id"] for line in lines] == ["req-1", "req-2", "req-3"]
    first, second, third = lines
    assert first["method"] == "POST"
    assert first["path"] == "/v1/entries"
    assert first["route"] == "/v1/entries"
    assert first["status"] == 201
    assert first["response_bytes"] == len(created.data)
    assert first["code"] is None
    assert second["status"] == 404
    assert second["route"] == "/v1/entries/<entry_seq:seq>"
    assert second["code"] == missing.json["code"] == "not_found"  # type: ignore[index]
    assert third["path"] == "/v1/log"  # no query string
    assert third["response_bytes"] == len(log.data)
    for line in lines:
        assert line["level"] == "INFO"
        assert line["remote_addr"] == "127.0.0.1"
        assert isinstance(line["duration_ms"], float)
        assert line["duration_ms"] >= 0
        assert line["pid"] == os.getpid()


ACCESS_LINE_KEYS = [
    "ts", "level", "logger", "pid", "msg", "method", "path", "route", "status", "code",
    "duration_ms", "request_id", "remote_addr", "response_bytes",
]  # fmt: skip


def test_the_access_line_has_its_keys_in_order(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """The line operators parse (docs/OPERATIONS.md, Logs): these keys, in this order."""
    capsys.readouterr()
    client.get("/healthz")
    client.post("/v1/entries", json={"statement": {}}, headers={"X-Request-ID": "k-1"})
    ok, refused = access_lines(capsys.readouterr().err)
    for line in (ok, refused):
        assert list(line) == ACCESS_LINE_KEYS
        assert (line["logger"], line["msg"]) == ("ledger.access", "request")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["ts"])
    assert (ok["route"], ok["status"], ok["code"]) == ("/healthz", 200, None)
    assert (refused["status"], refused["code"], refused["request_id"]) == (
        400,
        "invalid_request",
        "k-1",
    )


def test_the_access_line_is_a_logging_record_that_propagates(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Handlers configured on the root logger see the access records (docs/OPERATIONS.md)."""
    with caplog.at_level("INFO", logger="ledger.access"):
        client.get("/healthz", headers={"X-Request-ID": "rec-1"})
    (record,) = [r for r in caplog.records if r.name == "ledger.access"]
    assert record.getMessage() == "request"
    assert (record.route, record.status, record.request_id) == ("/healthz", 200, "rec-1")  # type: ignore[attr-defined]


def test_a_route_that_does_not_exist_is_logged_as_unmatched(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    resp = client.get("/v1/no/such/thing")
    assert resp.status_code == 404
    (line,) = access_lines(capsys.readouterr().err)
    assert line["route"] == "unmatched"
    assert line["request_id"] == resp.headers["X-Request-ID"]


def test_request_id_is_echoed_and_in_problem_bodies(client: FlaskClient) -> None:
    ok = client.get("/v1/log", headers={"X-Request-ID": "a1b2-c3.d4_e5:f6"})
    assert ok.headers["X-Request-ID"] == "a1b2-c3.d4_e5:f6"
    bad = client.get("/v1/entries/x", headers={"X-Request-ID": "trace-42"})
    assert bad.status_code == 400
    assert bad.headers["X-Request-ID"] == "trace-42"
    assert bad.json["request_id"] == "trace-42"  # type: ignore[index]
    fresh = client.get("/v1/entries/x")
    assert GENERATED_ID.fullmatch(fresh.headers["X-Request-ID"])
    assert fresh.json["request_id"] == fresh.headers["X-Request-ID"]  # type: ignore[index]
    again = client.get("/v1/entries/x")
    assert again.headers["X-Request-ID"] != fresh.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "hostile",
    [
        "abc\r\nSet-Cookie: session=1",  # header injection
        "abc\nX-Admin: 1",
        'x", "level": "CRITICAL',  # forged JSON fields
        "a" * 129,  # too long
        "-leading-dash",
        "",
        "with space",
        "<script>alert(1)</script>",
        "caf\u00e9",  # non-ASCII
        "\u0430bc",  # Cyrillic look-alike
        "../../etc/passwd",
    ],
)
def test_a_hostile_request_id_is_replaced(
    client: FlaskClient, capsys: pytest.CaptureFixture[str], hostile: str
) -> None:
    capsys.readouterr()
    # set in the WSGI environ directly: the test client would refuse a CR/LF header itself
    resp = client.get("/v1/entries/x", environ_base={"HTTP_X_REQUEST_ID": hostile})
    assert resp.status_code == 400
    rid = resp.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(rid)
    assert resp.json["request_id"] == rid  # type: ignore[index]
    assert "Set-Cookie" not in resp.headers
    assert "X-Admin" not in resp.headers
    err = capsys.readouterr().err
    (line,) = access_lines(err)
    assert line["request_id"] == rid
    assert line["level"] == "INFO"
    assert all(ln.startswith("{") for ln in err.splitlines() if ln.strip())


# --- secrets stay out of the logs ---------------------------------------------------------------


def test_no_bodies_signatures_or_key_material_in_logs(
    app: Flask,
    client: FlaskClient,
    config: Any,
    capsys: pytest.CaptureFixture[str],
    make_grant: Any,
    creator_key: SigningKey,
    buyer_key: SigningKey,
) -> None:
    capsys.readouterr()
    stmts = [
        builders.party_register(creator_key, "Creator Pseudonym"),
        builders.party_register(buyer_key, "Buyer Pseudonym"),
        make_grant(),
    ]
    for s in stmts:
        assert client.post("/v1/entries", json=s.to_json()).status_code == 201
    forged = make_grant().to_json()
    forged["signatures"][0]["signature"] = base64.b64encode(b"\x01" * 64).decode()
    assert client.post("/v1/entries", json=forged).status_code == 400
    batch = [make_grant().to_json(), forged]
    assert client.post("/v1/entries/batch", json={"statements": batch}).status_code == 200
    client.get("/v1/entries?start=0&limit=10")
    err = capsys.readouterr().err
    assert len(access_lines(err)) == 6
    secrets = [sig["signature"] for s in [*stmts, *batch] for sig in _wire(s)["signatures"]] + [
        "Creator Pseudonym",
        "Buyer Pseudonym",
    ]
    pem_lines = Path(config.log_key_file).read_text().splitlines()[1:-1]  # the base64 body
    log_key = app.extensions["ledger"].service.signer
    secrets += [*pem_lines, _private_bytes_b64(log_key), _private_bytes_b64(creator_key)]
    for secret in secrets:
        assert secret
        assert secret not in err


def _wire(s: Any) -> dict[str, Any]:
    return s if isinstance(s, dict) else s.to_json()  # type: ignore[no-any-return]


def _private_bytes_b64(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    private = key.private_key  # a SigningKey's or a NoteSigner's Ed25519PrivateKey
    raw = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode()


# --- /metrics ------------------------------------------------------------------------------------


def test_metrics_count_a_real_append_and_real_rejections(client: FlaskClient) -> None:
    before = metric_samples(client)
    assert sample(before, "ledger_tree_size") == 0
    assert sample(before, "ledger_database_up") == 1
    stmt = _register()
    assert client.post("/v1/entries", json=stmt).status_code == 201
    assert client.post("/v1/entries", json=stmt).status_code == 409
    bad = _register()
    bad["signatures"][0]["signature"] = base64.b64encode(b"\x02" * 64).decode()
    batch = client.post("/v1/entries/batch", json={"statements": [_register(), bad, stmt]})
    assert batch.json["accepted"] == 1  # type: ignore[index]
    client.get("/v1/entries/123")
    after = metric_samples(client)
    appends = sample(after, "ledger_appends_total", type="party.register")
    assert appends - sample(before, "ledger_appends_total", type="party.register") == 2
    rejected = {
        code: sample(after, "ledger_rejections_total", code=code)
        - sample(before, "ledger_rejections_total", code=code)
        for code in ("duplicate_statement", "bad_signature", "not_found")
    }
    assert rejected == {"duplicate_statement": 2, "bad_signature": 1, "not_found": 1}
    assert sample(after, "ledger_tree_size") == 2
    assert 0 <= sample(after, "ledger_checkpoint_age_seconds") < 3600
    posts = sample(
        after, "ledger_http_request_duration_seconds_count", method="POST", route="/v1/entries"
    )
    assert posts == 2
    assert (
        sample(
            after,
            "ledger_http_requests_total",
            method="GET",
            route="/v1/entries/<entry_seq:seq>",
            status="404",
        )
        == 1
    )
    assert not any("/v1/entries/123" in str(labels) for _, labels in after)  # bounded labels


def test_request_metrics_count_every_request_of_a_label_set(client: FlaskClient) -> None:
    """Each (method, route, status) counts on its own, however often it recurs (the children of
    the request metrics are remembered per label set after the first request)."""
    before = metric_samples(client)
    for _ in range(3):
        client.get("/healthz")
    for _ in range(2):
        client.get("/v1/entries/12345")
    client.get("/v1/entries/x")
    after = metric_samples(client)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    total = "ledger_http_requests_total"
    seconds = "ledger_http_request_duration_seconds_count"
    assert delta(total, method="GET", route="/healthz", status="200") == 3
    assert delta(total, method="GET", route="/v1/entries/<entry_seq:seq>", status="404") == 2
    assert delta(total, method="GET", route="/v1/entries/<entry_seq:seq>", status="400") == 1
    assert delta(seconds, method="GET", route="/healthz") == 3
    assert delta(seconds, method="GET", route="/v1/entries/<entry_seq:seq>") == 3


def test_metrics_report_the_database_down(
    app: Flask, client: FlaskClient, database_url: str
) -> None:
    assert sample(metric_samples(client), "ledger_database_up") == 1
    break_database(app, database_url)
    down = metric_samples(client)
    assert sample(down, "ledger_database_up") == 0
    assert ("ledger_tree_size", frozenset()) not in down


# --- health checks -------------------------------------------------------------------------------


def test_healthz_and_readyz(client: FlaskClient) -> None:
    live = client.get("/healthz")
    assert (live.status_code, live.json) == (200, {"status": "ok"})
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json) == (200, {"status": "ready"})


def test_outage_gives_503_readyz_and_an_error_log_with_the_request_id(
    app: Flask, client: FlaskClient, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    break_database(app, database_url)
    capsys.readouterr()
    ready = client.get("/readyz", headers={"X-Request-ID": "probe-1"})
    assert ready.status_code == 503
    assert ready.mimetype == "application/problem+json"
    assert ready.json["code"] == "unavailable"  # type: ignore[index]
    assert client.get("/healthz").status_code == 200  # the process itself is alive
    append = client.post("/v1/entries", json=_register(), headers={"X-Request-ID": "write-1"})
    assert append.status_code == 503
    assert append.json["request_id"] == "write-1"  # type: ignore[index]
    read = client.get("/v1/entries/0", headers={"X-Request-ID": "read-1"})
    assert (read.status_code, read.mimetype) == (503, "application/problem+json")
    assert read.json["code"] == "unavailable"  # type: ignore[index]
    records = json_lines(capsys.readouterr().err)
    errors = [r for r in records if r["level"] == "ERROR"]
    assert {r["request_id"] for r in errors} == {"probe-1", "write-1", "read-1"}
    assert all("Traceback" in r["exc_info"] for r in errors)
    statuses = [r["status"] for r in records if r["logger"] == "ledger.access"]
    assert statuses == [503, 200, 503, 503]
