"""The OpenAPI document against the server: every method an operation does not allow is a 405
naming the ones it does (RFC 9110 §15.5.6: ``Allow``), and the schema carries every pattern and
bound the server enforces, so that a client (or a fuzzer) reading it learns what will be refused.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.core.encoding import b64_decode, b64_encode
from ledger.core.errors import InvalidEncoding
from ledger.core.statements import USES

#: A valid value of every path parameter of the document (checked against its pattern below).
EXAMPLES = {
    "seq": "0",
    "key_id": "ab" * 32,
    "sha256": "ab" * 32,
    "grant_id": "0b0e3f9c-7d5e-4a1e-9f3c-2a6b8c1d4e5f",
    "tile_path": "0/000",
    "kid": "A" * 43,
    "node_hash": "ab" * 32,
}
#: Values each path parameter's pattern must refuse, and the server with it.
BAD_VALUES = ["AB" * 32, "ab" * 31, "ab" * 33, "-1", "01", "x", "batch", "0x1", "1e3", " 1"]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "TRACE", "OPTIONS"]


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    return client.get("/openapi.json").get_json()  # type: ignore[no-any-return]


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: EXAMPLES[m.group(1)], path)


def _allowed(operations: dict[str, Any]) -> set[str]:
    """What a path's operations allow, as HTTP says it: HEAD with GET, and OPTIONS always."""
    methods = {m.upper() for m in operations if m != "parameters"}
    return methods | ({"HEAD"} if "GET" in methods else set()) | {"OPTIONS"}


def _path_parameters(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path, operations in spec["paths"].items():
        shared = operations.get("parameters", [])
        for method, op in operations.items():
            if method == "parameters":
                continue
            for p in [*shared, *op.get("parameters", [])]:
                if p["in"] == "path":
                    out.append((path, p))
    return out


def test_every_operation_answers_other_methods_405_with_allow(
    client: FlaskClient, spec: dict[str, Any]
) -> None:
    assert len(spec["paths"]) >= 18
    for path, operations in spec["paths"].items():
        allowed = _allowed(operations)
        url = _concrete(path)
        for method in METHODS:
            resp = client.open(url, method=method)
            if method in allowed:
                assert resp.status_code != 405, (method, path)
                if method == "OPTIONS":  # Flask answers it from the routes
                    assert set(resp.headers["Allow"].split(", ")) == allowed, path
                continue
            assert resp.status_code == 405, (method, path, resp.status_code)
            assert resp.mimetype == "application/problem+json"
            if method != "HEAD":  # no body
                assert resp.get_json()["code"] == "method_not_allowed"
            allow = resp.headers["Allow"]
            assert allow.split(", ") == sorted(allowed), (method, path, allow)


def test_every_path_parameter_has_the_pattern_its_parser_enforces(
    client: FlaskClient, spec: dict[str, Any]
) -> None:
    checked = 0
    for path, param in _path_parameters(spec):
        name = param["name"]
        pattern = param["schema"].get("pattern")
        assert pattern, f"{path}: {name} has no pattern"
        assert re.search(pattern, EXAMPLES[name]), (path, name)
        for bad in BAD_VALUES:
            if re.search(pattern, bad):
                continue
            url = path.replace("{" + name + "}", bad)
            url = _concrete(url)
            resp = client.get(url)
            # The schema refuses it: so does the server, with a 4xx (400 or, when no route
            # takes it at all, 404/405), never a 2xx.
            assert 400 <= resp.status_code < 500, (url, resp.status_code)
            checked += 1
    assert checked > 30


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _bounded(spec: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    """Where ``schema`` (a request's) leaves a value the server refuses unconstrained: strings
    without pattern or enum, integers without bounds, arrays without minItems."""
    schema = _resolve(spec, schema)
    kind = schema.get("type")
    if kind == "string" and "pattern" not in schema and "enum" not in schema:
        return [where]
    if kind == "integer" and not {"minimum", "maximum"} <= set(schema):
        return [where]
    if kind == "array":
        missing = [] if "minItems" in schema else [f"{where} (minItems)"]
        return missing + _bounded(spec, schema.get("items", {}), f"{where}[]")
    if kind == "object":
        return [
            m
            for name, prop in schema.get("properties", {}).items()
            for m in _bounded(spec, prop, f"{where}.{name}")
        ]
    return []


def test_every_request_input_carries_its_bounds(spec: dict[str, Any]) -> None:
    """Every query parameter and request body member the server checks is constrained in the
    document (a statement's own members are docs/FORMAT.md's: an object here)."""
    loose = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if method == "parameters":
                continue
            where = f"{method.upper()} {path}"
            for p in op.get("parameters", []):
                loose += _bounded(spec, p["schema"], f"{where} {p['in']} {p['name']}")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                loose += _bounded(spec, body["schema"], f"{where} body")
    assert loose == []


def test_the_bounds_issue_17_found_missing(spec: dict[str, Any]) -> None:
    hex64 = "^([0-9a-f]{64})$"
    status = spec["paths"]["/v1/content/{sha256}/status"]
    (sha256,) = [p for p in status.get("parameters", []) if p["name"] == "sha256"]
    assert sha256["schema"]["pattern"] == hex64
    evidence = _resolve(
        spec,
        spec["paths"]["/v1/evidence"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ],
    )
    content = evidence["properties"]["content"]
    assert content["minItems"] == 1
    assert content["items"]["pattern"] == "^[0-9a-f]{64}$"
    assert set(evidence["properties"]["use"]["enum"]) == USES
    params = {p["name"]: p for p in spec["paths"]["/v1/proofs/consistency"]["get"]["parameters"]}
    assert params["first"]["schema"]["minimum"] == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/proofs/consistency?first=0&second=0", None),
        ("/v1/evidence", {"buyer": "ab" * 32, "use": "ai_training", "content": []}),
        ("/v1/evidence", {"buyer": "ab" * 32, "use": "ai_training", "content": ["AB" * 32]}),
        ("/v1/evidence", {"buyer": "ab" * 32, "use": "juggling", "content": ["ab" * 32]}),
        (
            "/v1/evidence",
            {
                "buyer": "ab" * 32,
                "use": "ai_training",
                "content": ["ab" * 32],
                "at": "2026-03-01T12:00:00+00:00",
            },
        ),
        (f"/v1/content/{'AB' * 32}/status?buyer={'ab' * 32}&use=ai_training", None),
        (f"/v1/content/{'ab' * 32}/status?buyer={'ab' * 32}&use=juggling", None),
        (f"/v1/content/{'ab' * 32}/status?buyer={'ab' * 32}&use=ai_training&at=yesterday", None),
    ],
)
def test_what_the_schema_refuses_the_server_refuses(
    client: FlaskClient, app: Flask, path: str, body: dict[str, Any] | None
) -> None:
    resp = client.get(path) if body is None else client.post(path, json=body)
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["code"] in ("invalid_parameter", "invalid_request")


@pytest.mark.parametrize(("member", "size"), [("public_key", 32), ("signature", 64)])
def test_the_base64_patterns_are_what_the_core_decodes(
    spec: dict[str, Any], member: str, size: int
) -> None:
    """The documented pattern takes exactly the canonical spellings ``b64_decode`` takes: every
    value of the size, and none with padding bits set or of another size."""
    pattern = re.compile(
        spec["components"]["schemas"]["Signature"]["properties"][member]["pattern"]
    )
    for n in range(300):
        data = hashlib.sha512(bytes([n % 256, n // 256])).digest()[:size]
        text = b64_encode(data)
        assert pattern.search(text)
        assert b64_decode(text, size=size) == data
        for spelling in {text[:-3] + ch + text[-2:] for ch in "BRhx"} | {
            text[:-2] + ch + "=" for ch in "BFJN"
        }:
            if spelling == text:
                continue
            accepted = bool(pattern.search(spelling))
            try:
                b64_decode(spelling, size=size)
            except InvalidEncoding:
                assert not accepted, spelling
            else:
                assert accepted, spelling
    for other in (size - 1, size + 1):
        assert not pattern.search(b64_encode(bytes(other)))
