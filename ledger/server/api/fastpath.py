"""Fast paths: requests answered in front of Flask, with the answers, log lines and metrics that
the app would give.

- ``AppendFastPath`` takes single appends (``POST /v1/entries``), the service's hottest request:
  Flask's request machinery (contexts, routing, hooks, signals, the response object) cost ~30 %
  of a gunicorn worker's CPU per append (docs/BENCHMARKS.md).
- ``FullTileFastPath`` answers a ``GET`` of a full hash tile already in the tile cache, like a
  static file in front of the app.
- ``StaticTileFastPath`` answers a ``GET`` of a tile or entry bundle that the static publisher
  has written to its directory (``LEDGER_STATIC_DIR``), from the file.

Each runs the app's own steps from the app's ``RequestPipeline`` (``pipeline.py``): the request
id, the rate limit, the work, any error as the app renders and logs it, then the access-log line
and the request metrics. A request that a fast path does not take goes to the app untouched.
tests/http/test_fastpath.py sends the same requests through both ways and compares the answers
byte for byte, and the log lines and metrics they leave; tests/http/test_tlog_api.py does so
for tiles.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from ledger.core.canonical import parse_json
from ledger.server import logs
from ledger.server.api.body import LENGTH_DIGITS_MAX, read_body
from ledger.server.api.entries import appended_body, envelope
from ledger.server.api.pipeline import Answer, Passage, RequestPipeline, wsgi_passage
from ledger.server.reads.tlog import (
    IMMUTABLE,
    OCTETS,
    PARTIAL_CACHE,
    FullTileCache,
)
from ledger.server.service import GroupCommitter

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_JSON = "application/json"


class _FastPath:
    """What the fast paths share: the app behind them, the request pipeline, and answering."""

    def __init__(self, app: WSGIApp, pipeline: RequestPipeline) -> None:
        self.app = app
        self.pipeline = pipeline

    def _answer(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        passage: Passage,
        work: Callable[[], Answer],
    ) -> list[bytes]:
        """Run ``work`` (status, headers, body) through the pipeline's steps (admit, fail,
        finish: ``pipeline.py``), then respond."""
        pipeline = self.pipeline
        with logs.outside_flask(passage.request_id):
            try:
                pipeline.admit(passage)
                status, headers, data = work()
            except Exception as error:  # every error becomes its problem, as in the app
                status, headers, data = pipeline.fail(error, passage)
        headers += [
            ("Content-Length", str(len(data))),
            (logs.REQUEST_ID_HEADER, passage.request_id),
        ]
        pipeline.finish(passage, status, len(data))  # before responding, as in the app
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", headers)
        return [data]


class AppendFastPath(_FastPath):
    """WSGI middleware: the single appends it takes (``takes``) are answered here, as the view
    ``entries.Entries.post`` and the app's hooks would answer them; the rest by ``app``."""

    PATH = "/v1/entries"

    def __init__(self, app: WSGIApp, pipeline: RequestPipeline, committer: GroupCommitter) -> None:
        super().__init__(app, pipeline)
        self.committer = committer
        self.max_body_bytes = pipeline.body_limit(self.PATH)

    def takes(self, environ: dict[str, Any]) -> bool:
        """Whether the request is a single append this path answers: ``POST`` to exactly the
        path, a JSON media type as Werkzeug reads it, and a plain ``Content-Length`` within the
        limit without ``Transfer-Encoding``. Flask answers the others (413, 415, chunked)."""
        if environ.get("PATH_INFO") != self.PATH or environ.get("REQUEST_METHOD") != "POST":
            return False
        length = environ.get("CONTENT_LENGTH") or ""
        if not (
            0 < len(length) <= LENGTH_DIGITS_MAX
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
        passage = wsgi_passage(self.pipeline, environ, self.PATH)

        def append() -> Answer:
            self.pipeline.ready()  # the database gate, as for the view
            # Read whole and checked complete, as the view reads it (ledger.server.api.body).
            raw = read_body(environ, self.max_body_bytes)
            signed = self.committer.service.read_envelope(envelope(parse_json(raw)))
            data = appended_body(self.committer.append_one(signed))
            return 201, [("Content-Type", _JSON)], data

        return self._answer(environ, start_response, passage, append)


_TILE_PREFIX = "/tlog/tile/"
_FULL_TILE_HEADERS = (("Cache-Control", IMMUTABLE), ("Content-Type", OCTETS))  # the view's order
_PARTIAL_TILE_HEADERS = (("Cache-Control", PARTIAL_CACHE), ("Content-Type", OCTETS))
#: The tile paths the static directory can hold: digits, ``x``, ``/`` and ``.p`` only (never
#: ``..``), so a path that matches names a file under the directory's ``tile/`` and nothing else.
_STATIC_TILE = re.compile(r"(?:entries|[0-9]{1,2})/(?:x[0-9]{3}/)*[0-9]{3}(\.p/[0-9]{1,3})?")


class FullTileFastPath(_FastPath):
    """WSGI middleware: a ``GET`` of a full hash tile already in the cache is answered here,
    like a static file in front of the app; everything else goes to the app.

    Safe because a cached full tile is immutable and was inside the published tree when the app
    first served it (the app is the only writer of the cache). The answer is the same bytes and
    headers the view gives, after the same read rate limit.
    """

    ROUTE = "/tlog/tile/<path:tile_path>"

    def __init__(self, app: WSGIApp, pipeline: RequestPipeline, cache: FullTileCache) -> None:
        super().__init__(app, pipeline)
        self.cache = cache

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "GET" and path.startswith(_TILE_PREFIX):
            started = time.perf_counter()
            data = self.cache.get_path(path[len(_TILE_PREFIX) :])
            if data is not None:
                passage = wsgi_passage(self.pipeline, environ, self.ROUTE)
                passage.started = started
                tile = data
                answer = (200, list(_FULL_TILE_HEADERS), tile)
                return self._answer(environ, start_response, passage, lambda: answer)
        return self.app(environ, start_response)


class StaticTileFastPath(_FastPath):
    """WSGI middleware: a ``GET`` of a tile or entry bundle that the static publisher wrote to
    ``root`` is answered from the file, with the view's bytes and headers, after the same read
    rate limit; everything else (and a file not there yet) goes to the app.

    Safe because the publisher writes only tiles of a published tree (which only grows), once,
    to their canonical paths (``ledger.server.statictiles``): a file that exists holds what the
    view would read from the database. A non-canonical spelling finds no file and gets the app's
    400."""

    ROUTE = FullTileFastPath.ROUTE

    def __init__(self, app: WSGIApp, pipeline: RequestPipeline, root: Path) -> None:
        super().__init__(app, pipeline)
        self.tiles = str(Path(root) / "tile") + "/"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "GET" and path.startswith(_TILE_PREFIX):
            started = time.perf_counter()
            rest = path[len(_TILE_PREFIX) :]
            match = _STATIC_TILE.fullmatch(rest)
            if match is not None:
                try:
                    with open(self.tiles + rest, "rb") as f:
                        data = f.read()
                except OSError:  # not published yet (or not a file): the app answers
                    return self.app(environ, start_response)
                passage = wsgi_passage(self.pipeline, environ, self.ROUTE)
                passage.started = started
                headers = _PARTIAL_TILE_HEADERS if match.group(1) else _FULL_TILE_HEADERS
                answer = (200, list(headers), data)
                return self._answer(environ, start_response, passage, lambda: answer)
        return self.app(environ, start_response)
