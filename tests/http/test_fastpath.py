"""The append fast path (``ledger.server.api.fastpath``) answers single appends as the app does.

Every refused single append of tests/http/test_refusals.py goes once through the fast path and
once through Flask (the middleware's inner app) with the same bytes and request id: the answers
must be equal byte for byte, headers included, and so must the access-log lines and metrics they
leave. Appends that succeed, rate limits, an unreachable database and the requests that the fast
path leaves to Flask are checked the same way, on both backends.
"""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

import pytest
from flask import Flask, request
from werkzeug.test import Client, TestResponse

from ledger.core import builders
from ledger.core.keys import SigningKey
from ledger.server.api.fastpath import AppendFastPath
from tests.conftest import break_database
from tests.http.conftest import AppFactory, World, dumps, middleware, wire
from tests.http.test_observability import access_lines, json_lines, metric_samples, sample
from tests.http.test_refusals import CASES, Bad
from tests.support.tlog_helpers import bulk_append

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
    return list(response.headers.items())  # in the order they are sent


def _same(fast: Any, slow: Any) -> None:
    assert fast.status == slow.status  # the status line
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


@pytest.mark.parametrize("terminated", [False, True], ids=["plain stream", "gunicorn's"])
def test_a_body_shorter_than_its_length_gets_the_same_answer(
    paths: Paths, terminated: bool
) -> None:
    """gunicorn marks its input terminated (it stops at the body's end, however short); either
    way a body shorter than its Content-Length is refused as incomplete by both paths, even
    when what arrived is a whole statement (ledger.server.api.body; tests/http/test_body_framing.py
    sends it over a socket to real servers)."""
    whole = dumps(wire(builders.party_register(SigningKey.generate(), "short")))
    environ = {"CONTENT_LENGTH": str(len(whole) + 10), "wsgi.input_terminated": terminated}
    for arrived in (whole[: len(whole) // 2], whole):
        fast, slow = paths.both(arrived, environ_overrides=environ)
        assert fast.status_code == 400
        assert fast.json["code"] == "incomplete_body"
        _same(fast, slow)
    assert paths.post(paths.fast, whole).status_code == 201  # the same bytes, framed right


class _Resetting(BytesIO):
    """A request body whose connection is reset by the client half-way."""

    def read(self, size: int | None = -1) -> bytes:
        raise ConnectionResetError(104, "Connection reset by peer")

    def readinto(self, buffer: Any) -> int:
        raise ConnectionResetError(104, "Connection reset by peer")


def test_a_connection_reset_while_reading_is_a_bad_request_and_no_error(
    paths: Paths, capsys: pytest.CaptureFixture[str]
) -> None:
    data = dumps(wire(builders.party_register(SigningKey.generate(), "reset")))
    capsys.readouterr()
    answers = []
    for client in (paths.fast, paths.flask):
        environ = {"wsgi.input": _Resetting(data), "wsgi.input_terminated": True}
        answers.append(paths.post(client, data, environ_overrides=environ))
    fast, slow = answers
    assert fast.status_code == 400
    assert fast.json["code"] == "incomplete_body"
    _same(fast, slow)
    assert [r["level"] for r in json_lines(capsys.readouterr().err)] == ["INFO", "INFO"]


@pytest.mark.parametrize(
    ("environ", "code"),
    [
        # too many digits for int(), but a length of 5: the first 5 bytes are not JSON
        ({"CONTENT_LENGTH": "0" * 5000 + "5"}, "malformed_json"),
        ({"CONTENT_LENGTH": "+5"}, "malformed_body"),
        # with a Content-Length: two framings (the dev server passes both on)
        ({"HTTP_TRANSFER_ENCODING": "chunked"}, "malformed_body"),
    ],
    ids=["5001 digits", "a sign", "Transfer-Encoding too"],
)
def test_lengths_the_fast_path_cannot_judge_are_left_to_flask(
    paths: Paths, environ: dict[str, str], code: str
) -> None:
    data = dumps(wire(builders.party_register(SigningKey.generate(), "odd length")))
    response = paths.post(paths.fast, data, environ_overrides=environ)
    assert (response.status_code, response.json["code"]) == (400, code)
    assert paths.flask_answered == ["POST /v1/entries"]


def test_an_unreachable_database_gets_the_same_503_and_error_lines(
    paths: Paths, app: Flask, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    break_database(app, database_url)
    capsys.readouterr()
    fast, slow = paths.both(dumps(wire(builders.party_register(SigningKey.generate(), "x"))))
    assert fast.status_code == 503
    assert fast.json["code"] == "unavailable"
    _same(fast, slow)
    errors = [r for r in json_lines(capsys.readouterr().err) if r["level"] == "ERROR"]
    assert len(errors) == 2
    for line in errors:
        assert line["logger"] == "ledger.server.api.problems"
        assert line["request_id"] == "same-id"
    assert errors[0]["msg"] == errors[1]["msg"]


def test_rate_limits_count_both_paths_and_refuse_alike(make_app: AppFactory) -> None:
    paths = Paths(make_app(rate_limit="1/hour", read_rate_limit="off"))

    def register() -> bytes:
        return dumps(wire(builders.party_register(SigningKey.generate(), "limited")))

    assert paths.post(paths.fast, register()).status_code == 201  # the one write of the hour
    fast, slow = paths.both(register())
    assert fast.status_code == slow.status_code == 429
    assert fast.json["code"] == "rate_limited"
    assert fast.headers["Retry-After"] == str(fast.json["retry_after"])
    if fast.headers["Retry-After"] == slow.headers["Retry-After"]:  # no second ticked between
        _same(fast, slow)
    assert list(fast.headers.keys()) == list(slow.headers.keys())
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


# --- the tile fast path --------------------------------------------------------------------------


def test_a_cached_tile_is_counted_and_logged_as_the_view_does(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    lg = app.extensions["ledger"]
    bulk_append(lg.db, lg.service.signer, 256)
    client = app.test_client()
    before = metric_samples(client)
    capsys.readouterr()
    headers = {"X-Request-ID": "tile-id"}
    through_flask = client.get("/tlog/tile/0/000", headers=headers)  # caches the tile
    cached = client.get("/tlog/tile/0/000", headers=headers)  # answered in front of Flask
    _same(cached, through_flask)
    view_line, fast_line = access_lines(capsys.readouterr().err)
    for line in (view_line, fast_line):
        line.pop("duration_ms")
        line.pop("ts")
    assert fast_line == view_line
    after = metric_samples(client)
    labels = {"method": "GET", "route": "/tlog/tile/<path:tile_path>", "status": "200"}
    requests = "ledger_http_requests_total"
    assert sample(after, requests, **labels) - sample(before, requests, **labels) == 2


def test_a_cached_tile_keeps_the_read_limit(make_app: AppFactory) -> None:
    app = make_app(rate_limit="off", read_rate_limit="2/hour")
    lg = app.extensions["ledger"]
    bulk_append(lg.db, lg.service.signer, 256)
    client = app.test_client()
    assert client.get("/tlog/tile/0/000").status_code == 200  # Flask; caches it
    assert client.get("/tlog/tile/0/000").status_code == 200  # the fast path
    refused = client.get("/tlog/tile/0/000")
    assert refused.status_code == 429
    assert refused.json["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
