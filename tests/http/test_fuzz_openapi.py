"""Schemathesis against /openapi.json, over the real app on SQLite and PostgreSQL.

Every operation gets a bounded, derandomized run in each generation mode (a fixed number of
examples, the same ones each time, so that CI stays within a few minutes): schema-valid requests
and schema-violating ones. Each response goes through schemathesis's default checks: no 5xx, a
documented status and content type, a body that conforms to the documented schema, and
schema-violating input refused with a 4xx; and through ``allow_on_405``: a 405 names exactly the
methods the document gives the path (RFC 9110 §15.5.6). A third run sends each operation's
generated requests with every method the document does not give its path: each must be a 405
with that ``Allow``. After the runs the log must still audit as it was.

(schemathesis's ``pytest.from_fixture`` relies on pytest internals that pytest 9 removed, so the
operations are parametrized here and each runs its own hypothesis loop.)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings

from ledger.core import builders
from ledger.server.config import Config
from tests.http.conftest import BUYER, CREATOR, append, log_state

EXAMPLES = 25  # per operation and generation mode

#: Every operation of the API, with the statuses (beyond schemathesis's defaults: 2xx, 404, 409,
#: ...) that may answer a request the schema calls valid, and why. A schema cannot say that an
#: envelope's signature verifies, that its signer is registered, or that a seq lies inside the
#: current tree; those refusals are expected. Any other status for valid data fails the run.
#: ``test_the_fuzzed_operations_are_all_of_them`` keeps the list complete.
SIGNED_CONTENT = ["400", "422"]  # bad signature / statement shape; the log's state
BEYOND_THE_TREE = ["400"]  # seq or tree size beyond the current log
OPERATIONS: dict[tuple[str, str], list[str]] = {
    ("GET", "/v1/entries"): [],
    ("POST", "/v1/entries"): SIGNED_CONTENT,
    ("POST", "/v1/entries/batch"): ["400"],  # members may hold floats, which strict JSON refuses
    ("GET", "/v1/entries/{seq}"): [],
    ("GET", "/v1/log"): [],
    ("GET", "/v1/checkpoint"): [],
    ("GET", "/v1/proofs/inclusion"): BEYOND_THE_TREE,
    ("GET", "/v1/proofs/consistency"): BEYOND_THE_TREE,
    ("GET", "/v1/map/proof"): ["400"],  # any hex of a key's length is schema-valid, few tags are
    ("GET", "/v1/map/node/{node_hash}"): [],
    ("GET", "/v1/parties"): ["400"],  # a string that is no pseudonym
    ("GET", "/v1/parties/{key_id}"): [],
    ("GET", "/v1/parties/{key_id}/grants"): ["400"],
    ("GET", "/v1/parties/{key_id}/account"): [
        "400"
    ],  # a period that ends before it starts  # a limit over the log's page maximum
    ("GET", "/v1/search"): ["400"],  # a query of no shape the search knows
    ("GET", "/v1/grants/{grant_id}"): [],
    ("GET", "/v1/content/{sha256}"): [],
    ("GET", "/v1/content/{sha256}/status"): ["400"],  # an unknown use, a time in the future
    ("POST", "/v1/evidence"): ["400", "413"],  # likewise; more items than the limit
    ("GET", "/v1/entries/{seq}/proof"): [],
    ("GET", "/tlog/checkpoint"): [],
    ("GET", "/tlog/tile/{tile_path}"): ["400"],  # any string is schema-valid, few are tile paths
    ("GET", "/healthz"): [],
    ("GET", "/readyz"): [],
    ("GET", "/metrics"): [],
    ("GET", "/v1/entries/{seq}/receipt"): BEYOND_THE_TREE,  # tree_size beyond, or below 2
    ("GET", "/v1/proofs/consistency/receipt"): BEYOND_THE_TREE,  # or first >= second
    ("GET", "/.well-known/scitt-keys"): [],
    ("GET", "/.well-known/scitt-keys/{kid}"): [],
    ("POST", "/entries"): ["400", "415"],  # bytes a schema calls binary are rarely a statement
}
DEFAULT_ACCEPTANCE = ["2xx", "401", "403", "404", "409"]
#: Operations that take no input at all (or any input at all): there is nothing to make invalid.
NO_INPUT = {
    ("GET", path)
    for path in (
        "/v1/log",
        "/healthz",
        "/readyz",
        "/metrics",
        "/tlog/checkpoint",
        "/.well-known/scitt-keys",
    )
} | {("POST", "/entries")}  # any bytes are a binary body: the schema can refuse none
#: Operations whose valid inputs schemathesis cannot generate: every tile path holds a "/", which
#: it never puts in a path parameter. The spec-driven mirror in test_tlog_tiles.py walks real ones.
NO_POSITIVE = {("GET", "/tlog/tile/{tile_path}")}
RUNS = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in schemathesis.GenerationMode
    if (mode is schemathesis.GenerationMode.POSITIVE and (method, path) not in NO_POSITIVE)
    or (mode is schemathesis.GenerationMode.NEGATIVE and (method, path) not in NO_INPUT)
]


@pytest.fixture
def config(config: Config) -> Config:
    """The protocol's own maxima, so that the schema's limits are the app's limits."""
    return replace(config, max_batch_statements=1000, max_page_size=1000)


# POST /entries takes a COSE_Sign1 (application/cose): the generated binary string, as bytes.
schemathesis.serializer.alias("application/cose", "application/octet-stream")


def _schema(app: Flask, also_accepted: list[str] | None = None) -> schemathesis.BaseSchema:
    expected = DEFAULT_ACCEPTANCE + (also_accepted or [])
    settings = {"checks": {"positive_data_acceptance": {"expected-statuses": expected}}}
    config = schemathesis.Config.from_dict(settings)
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)


def test_the_fuzzed_operations_are_all_of_them(app: Flask) -> None:
    documented = {(op.method.upper(), op.path) for op in _operations(_schema(app))}
    assert documented == set(OPERATIONS)


def _operations(schema: schemathesis.BaseSchema) -> list[schemathesis.APIOperation]:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize(("method", "path", "mode"), RUNS)
def test_openapi_fuzz(
    app: Flask, method: str, path: str, mode: schemathesis.GenerationMode
) -> None:
    client = app.test_client()
    append(client, builders.party_register(CREATOR, "creator"))
    append(client, builders.party_register(BUYER, "buyer"))
    before = log_state(app)
    operation = _schema(app, OPERATIONS[method, path])[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(additional_checks=[allow_on_405])

    run()
    # Random envelopes cannot carry valid signatures: nothing may have been written.
    assert log_state(app) == before


#: Methods tried on every operation's path where the document does not give them.
OTHER_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "TRACE")
WRONG_METHOD_EXAMPLES = 5  # per operation


def documented_allow(case: schemathesis.Case) -> set[str]:
    """What ``Allow`` must say for the case's path: the document's methods for it, HEAD with GET
    (HTTP's rule, which Flask follows), OPTIONS always (Flask answers it from the routes)."""
    methods = {m.upper() for m in case.operation.schema.raw_schema["paths"][case.operation.path]}
    methods.discard("PARAMETERS")
    return methods | ({"HEAD"} if "GET" in methods else set()) | {"OPTIONS"}


def allow_on_405(_ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """A schemathesis check: every 405 carries ``Allow`` with exactly the documented methods."""
    if response.status_code != 405:
        return None
    allow = response.headers.get("allow")
    assert allow, f"{case.method} {case.path}: 405 without Allow"
    value = allow[0] if isinstance(allow, list) else allow
    assert set(value.split(", ")) == documented_allow(case), f"{case.path}: Allow {value}"
    return True


@pytest.mark.parametrize(
    ("method", "path"),
    # The tile route has no valid input schemathesis can generate (NO_POSITIVE); its wrong
    # methods are test_openapi_contract.py's, on a real tile path.
    [pytest.param(m, p, id=f"{m} {p}") for m, p in OPERATIONS if (m, p) not in NO_POSITIVE],
)
def test_openapi_fuzz_other_methods(app: Flask, method: str, path: str) -> None:
    before = log_state(app)
    operation = _schema(app, OPERATIONS[method, path])[path][method]

    @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE))
    @settings(
        max_examples=WRONG_METHOD_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        for other in sorted(set(OTHER_METHODS) - documented_allow(case)):
            case.method = other
            response = case.call()
            assert response.status_code == 405, (other, case.path, response.status_code)
            assert allow_on_405(None, response, case)

    run()
    assert log_state(app) == before
