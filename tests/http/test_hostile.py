"""Hostile input, in one table: each request gets a clear 4xx problem with its exact code, no
header it did not ask for, and the log is left as it was.

Statements here are *validly signed*: a look-alike or an invisible character must be refused by
the statement's rules, not merely by a broken signature."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.core import builders
from ledger.core.canonical import canonicalize
from ledger.core.statements import STATEMENT_SIGNING_CONTEXT
from tests.http.conftest import (
    BUYER,
    CREATOR,
    MAX_BATCH_BODY,
    MAX_BODY,
    WORLD_GRANT_ID,
    World,
    dumps,
    log_state,
)
from tests.support.factories import seeded_key

NEWCOMER = seeded_key(7)


@dataclass
class Hostile:
    status: int
    code: str
    path: str = "/v1/entries"
    method: str = "POST"
    body: Callable[[], bytes] | None = None
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


def _register_as(pseudonym: str) -> Callable[[], bytes]:
    """A correctly signed party.register whose pseudonym is ``pseudonym``."""
    return lambda: dumps(builders.party_register(NEWCOMER, "x").to_json()).replace(
        b'"pseudonym": "x"', dumps(pseudonym).join([b'"pseudonym": ', b""])
    )


def _signed_body(edit: Callable[[dict[str, Any]], None]) -> Callable[[], bytes]:
    """A grant body changed by ``edit``, then signed properly over its canonical bytes by its
    creator (the core's builders refuse to build such a statement, so it is signed by hand)."""

    def make() -> bytes:
        body = dict(_grant_envelope()["statement"])
        edit(body)
        signature = CREATOR.sign(STATEMENT_SIGNING_CONTEXT, canonicalize(body))
        public_key = CREATOR.public_key.b64
        sig = {"public_key": public_key, "signature": base64.b64encode(signature).decode()}
        return dumps({"statement": body, "signatures": [sig]})

    return make


def _grant_envelope() -> dict[str, Any]:
    return builders.grant(
        CREATOR,
        BUYER.key_id,
        str(uuid.uuid4()),
        [builders.Item("ab" * 32, 100, 10)],
        builders.TermsSpec(),
    ).to_json()


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.__setitem__(name, value)


def _get(path: str, status: int = 400, code: str = "invalid_parameter") -> Hostile:
    return Hostile(status, code, path=path, method="GET", headers={})


def _literal(data: bytes) -> Callable[[], bytes]:
    return lambda: data


CYRILLIC_A = "\u0430"  # looks like Latin "a"
ZERO_WIDTH_SPACE = "\u200b"
RTL_OVERRIDE = "\u202e"
ARABIC_ONE = "\u0661"
FULLWIDTH_ZERO = "\uff10"
GRANT_ID = WORLD_GRANT_ID

CASES: dict[str, Hostile] = {
    # --- nesting and size bombs
    "10,000 nested arrays": Hostile(400, "malformed_json", body=_literal(b"[" * 10_000)),
    "nested objects in the statement": Hostile(
        400,
        "malformed_json",
        body=_literal(b'{"statement": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001),
    ),
    "a JSON bomb under the single limit": Hostile(
        400, "malformed_json", body=_literal(b"[" * (MAX_BODY - 10) + b"]" * 10)
    ),
    "a JSON bomb in a batch": Hostile(
        400,
        "malformed_json",
        path="/v1/entries/batch",
        body=_literal(b'{"statements": ' + b"[" * (MAX_BATCH_BODY - 100)),
    ),
    "thousands of members in one object": Hostile(
        400,
        "invalid_statement",
        body=lambda: dumps(
            {
                "statement": {f"k{i}": i for i in range(800)},
                "signatures": _grant_envelope()["signatures"],
            }
        ),
    ),
    "a huge integer": Hostile(
        400, "malformed_json", body=_literal(b'{"statement": ' + b"9" * 5000 + b"}")
    ),
    "a huge exponent": Hostile(400, "malformed_json", body=_literal(b'{"statement": 1e999999}')),
    "integer just over 2^53 in a signed field": Hostile(
        400,
        "malformed_json",
        body=lambda: dumps(_grant_envelope()).replace(
            b'"bytes": 100', b'"bytes": 9007199254740993'
        ),
    ),
    "a huge seq in the query": _get("/v1/proofs/inclusion?seq=" + "9" * 5000),
    "a huge seq in the path": _get("/v1/entries/" + "9" * 5000),
    # --- NUL bytes
    "NUL in a pseudonym": Hostile(400, "invalid_statement", body=_register_as("cre\x00ator")),
    "NUL in a grant id": Hostile(
        400, "invalid_statement", body=_signed_body(_set("grant_id", GRANT_ID[:-1] + "\x00"))
    ),
    "NUL in a path id": _get("/v1/grants/" + GRANT_ID[:-1] + "%00"),
    "NUL in a query value": _get("/v1/proofs/inclusion?seq=0%00"),
    "NUL between JSON tokens": Hostile(
        400, "malformed_json", body=_literal(b'{"statement":\x00{}}')
    ),
    # --- look-alikes, invisible and bidirectional characters
    "Cyrillic look-alike in a pseudonym": Hostile(
        400, "invalid_statement", body=_register_as(f"cre{CYRILLIC_A}tor")
    ),
    "zero-width space in a pseudonym": Hostile(
        400, "invalid_statement", body=_register_as(f"creator{ZERO_WIDTH_SPACE}")
    ),
    "RTL override in a pseudonym": Hostile(
        400, "invalid_statement", body=_register_as(f"{RTL_OVERRIDE}rotaerc")
    ),
    "Cyrillic look-alike in a grant id": Hostile(
        400,
        "invalid_statement",
        body=_signed_body(_set("grant_id", GRANT_ID.replace("a", CYRILLIC_A, 1))),
    ),
    "zero-width space in a buyer key id": Hostile(
        400,
        "invalid_statement",
        body=_signed_body(_set("buyer", BUYER.key_id[:-1] + ZERO_WIDTH_SPACE)),
    ),
    "fullwidth digits in a content hash": Hostile(
        400,
        "invalid_statement",
        body=_signed_body(lambda b: b["content"][0].__setitem__("sha256", FULLWIDTH_ZERO * 64)),
    ),
    "look-alike grant id in the path": _get("/v1/grants/" + GRANT_ID.replace("a", CYRILLIC_A, 1)),
    "zero-width space in a path key id": _get(f"/v1/parties/{CREATOR.key_id}{ZERO_WIDTH_SPACE}"),
    "RTL override in a path hash": _get(f"/v1/content/{RTL_OVERRIDE}{'ab' * 31}"),
    "Arabic-Indic digit as seq (path)": _get(f"/v1/entries/{ARABIC_ONE}"),
    "Arabic-Indic digit as seq (query)": _get(f"/v1/proofs/inclusion?seq={ARABIC_ONE}"),
    "fullwidth digit as tree_size": _get(f"/v1/checkpoint?tree_size={FULLWIDTH_ZERO}"),
    "plus sign in a number": _get("/v1/proofs/inclusion?seq=%2B0"),
    "underscore in a number": _get("/v1/entries?limit=1_0"),
    "space around a number": _get("/v1/entries?limit=%201"),
    # --- header injection
    # (A raw CR or LF in a request header never reaches the app: the HTTP parser refuses it.)
    "a second media type smuggled into the content type": Hostile(
        415,
        "unsupported_media_type",
        body=_literal(b"{}"),
        headers={"Content-Type": "text/plain; x=application/json"},
    ),
    "an encoded CRLF in the content type": Hostile(
        415,
        "unsupported_media_type",
        body=_literal(b"{}"),
        headers={"Content-Type": "application/json%0D%0AX-Injected: 1"},
    ),
    "CRLF and a header in a path id": _get("/v1/grants/%0D%0ASet-Cookie:%20owned=1"),
    "CRLF in a query value": _get("/v1/proofs/inclusion?seq=0%0D%0AX-Injected:%201"),
    # --- path traversal
    "dot-dot as a seq": _get("/v1/entries/.."),
    "encoded traversal in a grant id": _get("/v1/grants/..%2F..%2Fetc%2Fpasswd", 404, "not_found"),
    "traversal in a key id": _get("/v1/parties/..%5C..%5Cwindows", 400),
    "traversal in a content hash": _get("/v1/content/....", 400),
    "traversal in a statement id": Hostile(
        400, "invalid_statement", body=_signed_body(_set("grant_id", "../../etc/passwd"))
    ),
    # --- overlong
    "an overlong path id": _get("/v1/content/" + "a" * 100_000),
    "an overlong query": _get("/v1/entries?" + "&".join(f"x{i}=1" for i in range(5000))),
    "an overlong pseudonym": Hostile(400, "invalid_statement", body=_register_as("a" * 65)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_hostile_input_is_refused_cleanly(
    app: Flask, client: FlaskClient, world: World, case: Hostile
) -> None:
    before = log_state(app)
    response = client.open(
        case.path,
        method=case.method,
        data=case.body() if case.body else None,
        headers=case.headers,
    )
    assert response.status_code == case.status, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["code"] == case.code
    assert not {"X-Injected", "Set-Cookie"} & set(response.headers.keys())
    assert log_state(app) == before, "hostile input must leave the log unchanged"


# --- bounded error bodies: an error lists the first problems and counts the rest ---------------

MANY = 20_000
MEGABYTE = 1 << 20


def _many_members(target: dict[str, Any]) -> None:
    target.update({f"unknown_member_{i:05d}": 1 for i in range(MANY)})


def _envelope_with(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    envelope = builders.party_register(NEWCOMER, "bounded").to_json()
    edit(envelope)
    return envelope


#: name: (path, body, content type, (errors listed, errors omitted) or None where the problem is
#: one sentence); each body holds MANY problems, or one huge name
BOUNDED = {
    "envelope members, fast path": (
        "/v1/entries", _envelope_with(_many_members), "application/json", (20, MANY - 20)),
    "envelope members, Flask's view": (
        "/v1/entries", _envelope_with(_many_members), "Application/JSON", (20, MANY - 20)),
    "signature members": (
        "/v1/entries", _envelope_with(lambda e: _many_members(e["signatures"][0])),
        "application/json", (20, MANY - 20)),
    "statement members": (
        "/v1/entries", _envelope_with(lambda e: _many_members(e["statement"])),
        "application/json", None),
    "one long member name": (
        "/v1/entries", _envelope_with(lambda e: e.update({"x" * 200_000: 1})),
        "application/json", (1, 0)),
    "batch members": (
        "/v1/entries/batch", {"statements": [_envelope_with(_many_members)], "x": 1},
        "application/json", None),
}  # fmt: skip


@pytest.mark.parametrize("case", BOUNDED.values(), ids=BOUNDED.keys())
def test_an_error_body_is_bounded_whatever_the_request_holds(
    make_app: Callable[..., Flask], case: tuple[str, dict[str, Any], str, tuple[int, int] | None]
) -> None:
    """20,000 unknown members (~400 KB) gave a 1.18 MB error body; now at most
    MAX_LISTED_PROBLEMS are listed, names are cut, and ``errors_omitted`` counts the rest."""
    from ledger.core.errors import MAX_LISTED_PROBLEMS

    path, body, content_type, listed = case
    app = make_app(max_body_bytes=MEGABYTE, max_batch_body_bytes=MEGABYTE)
    before = log_state(app)
    response = app.test_client().post(
        path, data=dumps(body), headers={"Content-Type": content_type}
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Type"] == "application/problem+json"
    assert len(response.get_data()) < 4000, len(response.get_data())
    problem = response.get_json()
    assert len(problem.get("errors", [])) <= MAX_LISTED_PROBLEMS
    if listed is not None:
        assert (len(problem["errors"]), problem.get("errors_omitted", 0)) == listed
    assert log_state(app) == before


def test_an_error_lists_every_problem_when_there_are_few(client: FlaskClient) -> None:
    envelope = _envelope_with(lambda e: e.update({"b": 1, "a": 2}))
    problem = client.post("/v1/entries", json=envelope).get_json()
    assert problem["errors"] == ["json.a: Unknown field.", "json.b: Unknown field."]
    assert "errors_omitted" not in problem


def test_validation_errors_of_parameters_are_bounded(client: FlaskClient) -> None:
    query = "&".join(f"unknown_parameter_{i}=1" for i in range(MANY))
    response = client.get(f"/v1/entries?{query}")
    assert response.status_code == 400
    assert len(response.get_data()) < 4000
    assert response.get_json()["errors_omitted"] == MANY - 20
