"""The append fast path (``ledger.api.fastpath``) answers single appends as the app does.

Every refused single append of tests/http/test_refusals.py goes once through the fast path and
once through Flask (the middleware's inner app) with the same bytes and request id: the answers
must be equal byte for byte, headers included, and so must the access-log lines and metrics they
leave. Appends that succeed, rate limits, an unreachable database and the requests that the fast
path leaves to Flask are checked the same way, on both backends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask, request
from werkzeug.test import Client, TestResponse

from ledger.api.fastpath import AppendFastPath
from ledger.config import Config
from ledger.core import builders
from ledger.core.keys import SigningKey
from tests.conftest import break_database
from tests.http.conftest import World, dumps, middleware, wire
from tests.http.test_observability import access_lines, metric_samples, sample
from tests.http.test_refusals import CASES, Bad

JSON = "application/json"
SINGLE_APPENDS = {
    name: case
    for name, case in CASES.items()
    if case.method == "POST" and case.path == "/v1/entries" and case.body is not None
}


class Paths:
    """One app reached two ways: ``fast`` as a server would (through the fast path), ``flask``
    straight into the app behind it; ``flask_answered`` lists the requests that Flask ran."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.fast = app.test_client()
        self.flask = Client(middleware(app, AppendFastPath).app, TestResponse)
        self.flask_answered: list[str] = []

        def record() -> None:
            self.flask_answered.append(f"{request.method} {request.path}")

        app.before_request_funcs.setdefault(None, []).insert(0, record)  # before any that refuse

    def post(self, client: Client, data: bytes, content_type: str = JSON, **kw: Any) -> Any:
        headers = {"Content-Type": content_type, "X-Request-ID": "same-id", **kw.pop("headers", {})}
        # Content-Length as HTTP clients send it, for an empty body too (Werkzeug's builder omits
        # it there, which no server does for a POST with a Content-Length: 0 header)
        environ = {"CONTENT_LENGTH": str(len(data)), **kw.pop("environ_overrides", {})}
        base = {**self.fast.environ_base, **kw.pop("environ_base", {})}  # the same client address
        return client.post(
            "/v1/entries",
            data=data,
            headers=headers,
            environ_overrides=environ,
            environ_base=base,
            **kw,
        )

    def both(self, data: bytes, content_type: str = JSON, **kw: Any) -> tuple[Any, Any]:
        """The same request through the fast path, then through Flask."""
        before = len(self.flask_answered)
        fast = self.post(self.fast, data, content_type, **kw)
        assert len(self.flask_answered) == before, "the fast path left this request to Flask"
        slow = self.post(self.flask, data, content_type, **kw)
        assert len(self.flask_answered) == before + 1
        return fast, slow


@pytest.fixture
def paths(app: Flask) -> Paths:
    return Paths(app)


def _headers(response: Any) -> list[tuple[str, str]]:
    return sorted(response.headers.items())


def _same(fast: Any, slow: Any) -> None:
    assert fast.status == slow.status
    assert _headers(fast) == _headers(slow)
    assert fast.get_data() == slow.get_data()


@pytest.mark.parametrize("case", SINGLE_APPENDS.values(), ids=SINGLE_APPENDS.keys())
def test_a_refused_append_gets_the_same_answer_on_both_paths(
    paths: Paths, world: World, case: Bad
) -> None:
    assert case.body is not None
    data = case.body(world)
    takes = case.status not in (413, 415)  # those the fast path leaves to Flask, by their headers
    if not takes:
        before = len(paths.flask_answered)
        fast = paths.post(paths.fast, data, case.content_type)
        assert len(paths.flask_answered) == before + 1  # Flask answered
        slow = paths.post(paths.flask, data, case.content_type)
    else:
        fast, slow = paths.both(data, case.content_type)
    assert fast.status_code == case.status
    assert fast.json["code"] == case.code
    assert fast.mimetype == "application/problem+json"
    _same(fast, slow)


def test_appends_that_succeed_get_the_same_answer_on_both_paths(paths: Paths) -> None:
    fast = paths.post(paths.fast, dumps(wire(builders.party_register(SigningKey.generate(), "a"))))
    slow = paths.post(paths.flask, dumps(wire(builders.party_register(SigningKey.generate(), "b"))))
    assert (fast.status_code, slow.status_code) == (201, 201)
    assert [name for name, _ in _headers(fast)] == [name for name, _ in _headers(slow)]
    assert fast.headers["Content-Type"] == slow.headers["Content-Type"] == JSON
    assert (fast.json["seq"], slow.json["seq"]) == (0, 1)
    assert slow.json["tree_size"] == 2
    for response in (fast, slow):  # the body the view has always sent: sorted, compact
        body = response.get_data()
        assert (
            body
            == json.dumps(response.json, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        )
        entry = paths.app.test_client().get(f"/v1/entries/{response.json['seq']}").json
        assert response.json["leaf_hash"] == entry["leaf_hash"]
        assert response.json["integrated_at"] == entry["integrated_at"]
    # The same statement again, by either path, is the same replay.
    again = dumps(wire(builders.party_register(SigningKey.generate(), "c")))
    assert paths.post(paths.fast, again).status_code == 201
    _same(*paths.both(again))


@pytest.mark.parametrize(
    ("content_type", "fast"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("application/json;charset=utf-8", True),
        ("APPLICATION/JSON", False),  # JSON to Werkzeug too: Flask answers, with a 201
        (" application/json", False),
    ],
)
def test_which_path_answers_by_the_media_type(paths: Paths, content_type: str, fast: bool) -> None:
    data = dumps(wire(builders.party_register(SigningKey.generate(), "media")))
    before = len(paths.flask_answered)
    response = paths.post(paths.fast, data, content_type)
    assert response.status_code == 201
    assert len(paths.flask_answered) == before + (0 if fast else 1)


def test_a_body_without_a_length_is_left_to_flask(paths: Paths) -> None:
    """A chunked body: no Content-Length, and gunicorn marks the stream terminated."""
    data = dumps(wire(builders.party_register(SigningKey.generate(), "chunked")))
    response = paths.post(
        paths.fast,
        data,
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"CONTENT_LENGTH": "", "wsgi.input_terminated": True},
    )
    assert response.status_code == 201
    assert paths.flask_answered == ["POST /v1/entries"]


def test_a_body_shorter_than_its_length_is_a_bad_request_on_both_paths(paths: Paths) -> None:
    data = dumps(wire(builders.party_register(SigningKey.generate(), "short")))
    fast, slow = paths.both(data, environ_overrides={"CONTENT_LENGTH": str(len(data) + 10)})
    assert fast.status_code == 400
    assert fast.json["code"] == "bad_request"
    _same(fast, slow)


def test_an_unreachable_database_gets_the_same_503(
    paths: Paths, app: Flask, database_url: str
) -> None:
    break_database(app, database_url)
    fast, slow = paths.both(dumps(wire(builders.party_register(SigningKey.generate(), "x"))))
    assert fast.status_code == 503
    assert fast.json["code"] == "unavailable"
    _same(fast, slow)


@pytest.fixture
def limited_app(config: Config) -> Iterator[Flask]:
    from ledger.app import create_app

    app = create_app(replace(config, rate_limit="1/hour", read_rate_limit="off"))
    app.config["TESTING"] = True
    yield app
    app.extensions["ledger"].db.dispose()


def test_rate_limits_count_both_paths_and_refuse_alike(limited_app: Flask) -> None:
    paths = Paths(limited_app)

    def register() -> bytes:
        return dumps(wire(builders.party_register(SigningKey.generate(), "limited")))

    assert paths.post(paths.fast, register()).status_code == 201  # the one write of the hour
    fast, slow = paths.both(register())
    assert fast.status_code == slow.status_code == 429
    assert fast.json["code"] == "rate_limited"
    assert fast.headers["Retry-After"] == str(fast.json["retry_after"])
    assert abs(int(fast.headers["Retry-After"]) - int(slow.headers["Retry-After"])) <= 1
    assert sorted(fast.headers.keys()) == sorted(slow.headers.keys())
    # and a write through Flask counts against the fast path's requests, and the reverse
    other = {"REMOTE_ADDR": "192.0.2.7"}
    assert paths.post(paths.flask, register(), environ_base=other).status_code == 201
    assert paths.post(paths.fast, register(), environ_base=other).status_code == 429


def test_both_paths_leave_the_same_log_line_and_metrics(
    paths: Paths, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    data = dumps(wire(world.grant))  # a replay: 409
    before = metric_samples(paths.app.test_client())
    capsys.readouterr()
    paths.both(data)
    fast_line, slow_line = access_lines(capsys.readouterr().err)
    for line in (fast_line, slow_line):
        assert line.pop("duration_ms") >= 0
        assert line.pop("ts")
    assert fast_line == slow_line
    assert fast_line["code"] == "duplicate_statement"
    after = metric_samples(paths.app.test_client())
    labels = {"method": "POST", "route": "/v1/entries", "status": "409"}
    requests = "ledger_http_requests_total"
    assert sample(after, requests, **labels) - sample(before, requests, **labels) == 2
    rejections = "ledger_rejections_total"
    code = {"code": "duplicate_statement"}
    assert sample(after, rejections, **code) - sample(before, rejections, **code) == 2
    latency = "ledger_http_request_duration_seconds_count"
    route = {"method": "POST", "route": "/v1/entries"}
    assert sample(after, latency, **route) - sample(before, latency, **route) == 2
