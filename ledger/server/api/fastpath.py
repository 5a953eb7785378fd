"""Fast paths: requests answered in front of Flask, with the answers, log lines and metrics that
the app would give.

- ``AppendFastPath`` takes single appends (``POST /v1/entries``), the service's hottest request:
  Flask's request machinery (contexts, routing, hooks, signals, the response object) cost ~30 %
  of a gunicorn worker's CPU per append (docs/BENCHMARKS.md).
- ``FullTileFastPath`` answers a ``GET`` of a full hash tile already in the tile cache, like a
  static file in front of the app.

Each runs the app's own steps, from the same functions: the request id
(``logs.request_id_from``), the rate limit (``RateLimits.check``), the work, any error as the app
renders and logs it (``problems.problem_for``, ``encode_problem``), then the access-log line
(``logs.log_access``) and the request metrics (``Metrics.observe_request``). A request that a
fast path does not take goes to the app untouched. tests/http/test_fastpath.py sends the same
requests through both ways and compares the answers byte for byte, and the log lines and metrics
they leave; tests/http/test_tlog_api.py does so for tiles.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from ledger.core.canonical import parse_json
from ledger.server import logs
from ledger.server.api.body import read_body
from ledger.server.api.entries import appended_body, envelope
from ledger.server.api.problems import PROBLEM_MEDIA_TYPE, encode_problem, problem_for
from ledger.server.metrics import Metrics
from ledger.server.ratelimit import RateLimits, client_address
from ledger.server.reads.tlog import FullTileCache
from ledger.server.service import GroupCommitter

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_JSON = "application/json"
#: More digits than any body limit has: longer values are left to Flask (Python refuses to
#: convert integers of over 4,300 digits, and Werkzeug reads them as no length).
_LENGTH_DIGITS_MAX = 12


class _FastPath:
    """What the fast paths share: the app behind them, the rate limits, and answering."""

    def __init__(self, app: WSGIApp, *, limits: RateLimits | None, metrics: Metrics) -> None:
        self.app = app
        self.limits = limits
        self.metrics = metrics

    def _answer(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        route: str,
        started: float,
        request_id: str,
        work: Callable[[], tuple[int, list[tuple[str, str]], bytes]],
    ) -> list[bytes]:
        """Run ``work`` (status, headers, body) for the request, or answer its error's problem;
        log and count the request as the app does, then respond."""
        code: str | None = None
        with logs.outside_flask(request_id):
            try:
                if self.limits is not None:
                    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
                    self.limits.check(method, path, client_address(environ))
                status, headers, data = work()
            except Exception as error:  # every error becomes its problem, as in the app
                body, headers = problem_for(error)
                status, code = body["status"], body["code"]
                headers.append(("Content-Type", PROBLEM_MEDIA_TYPE))
                data = encode_problem(body, request_id)
        headers += [("Content-Length", str(len(data))), (logs.REQUEST_ID_HEADER, request_id)]
        fields = {
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("PATH_INFO", ""),
            "route": route,
            "status": status,
            "code": code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "request_id": request_id,
            "remote_addr": environ.get("REMOTE_ADDR"),
            "response_bytes": len(data),
        }
        logs.log_access(fields)  # before responding, as the app's after_request hooks do
        self.metrics.observe_request(fields)
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", headers)
        return [data]


class AppendFastPath(_FastPath):
    """WSGI middleware: the single appends it takes (``takes``) are answered here, as the view
    ``entries.Entries.post`` and the app's hooks would answer them; the rest by ``app``."""

    PATH = "/v1/entries"

    def __init__(
        self,
        app: WSGIApp,
        committer: GroupCommitter,
        *,
        max_body_bytes: int,
        limits: RateLimits | None,
        metrics: Metrics,
    ) -> None:
        super().__init__(app, limits=limits, metrics=metrics)
        self.committer = committer
        self.max_body_bytes = max_body_bytes

    def takes(self, environ: dict[str, Any]) -> bool:
        """Whether the request is a single append this path answers: ``POST`` to exactly the
        path, a JSON media type as Werkzeug reads it, and a plain ``Content-Length`` within the
        limit without ``Transfer-Encoding``. Flask answers the others (413, 415, chunked)."""
        if environ.get("PATH_INFO") != self.PATH or environ.get("REQUEST_METHOD") != "POST":
            return False
        length = environ.get("CONTENT_LENGTH") or ""
        if not (
            0 < len(length) <= _LENGTH_DIGITS_MAX
            and length.isascii()
            and length.isdigit()
            and int(length) <= self.max_body_bytes
            and "HTTP_TRANSFER_ENCODING" not in environ
        ):
            return False
        media = environ.get("CONTENT_TYPE") or ""
        return media == _JSON or media.startswith(_JSON + ";")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self.takes(environ):
            return self.app(environ, start_response)
        started = time.perf_counter()
        request_id = logs.request_id_from(environ.get("HTTP_X_REQUEST_ID"))

        def append() -> tuple[int, list[tuple[str, str]], bytes]:
            # Read whole and checked complete, as the view reads it (ledger.server.api.body).
            raw = read_body(environ, self.max_body_bytes)
            signed = self.committer.service.read_envelope(envelope(parse_json(raw)))
            data = appended_body(self.committer.append_one(signed))
            return 201, [("Content-Type", _JSON)], data

        return self._answer(environ, start_response, self.PATH, started, request_id, append)


_TILE_PREFIX = "/tlog/tile/"
_FULL_TILE_HEADERS = (  # in the view's order
    ("Cache-Control", "public, max-age=31536000, immutable"),
    ("Content-Type", "application/octet-stream"),
)


class FullTileFastPath(_FastPath):
    """WSGI middleware: a ``GET`` of a full hash tile already in the cache is answered here,
    like a static file in front of the app; everything else goes to the app.

    Safe because a cached full tile is immutable and was inside the published tree when the app
    first served it (the app is the only writer of the cache). The answer is the same bytes and
    headers the view gives, after the same read rate limit.
    """

    ROUTE = "/tlog/tile/<path:tile_path>"

    def __init__(
        self, app: WSGIApp, cache: FullTileCache, *, limits: RateLimits | None, metrics: Metrics
    ) -> None:
        super().__init__(app, limits=limits, metrics=metrics)
        self.cache = cache

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "GET" and path.startswith(_TILE_PREFIX):
            started = time.perf_counter()
            data = self.cache.get_path(path[len(_TILE_PREFIX) :])
            if data is not None:
                request_id = logs.request_id_from(environ.get("HTTP_X_REQUEST_ID"))
                tile = data
                return self._answer(
                    environ,
                    start_response,
                    self.ROUTE,
                    started,
                    request_id,
                    lambda: (200, list(_FULL_TILE_HEADERS), tile),
                )
        return self.app(environ, start_response)
