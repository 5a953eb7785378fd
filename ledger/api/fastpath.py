"""The append fast path: ``POST /v1/entries`` answered in front of Flask, with Flask's answers.

A single append is the service's hottest request, and Flask's request machinery (contexts,
routing, hooks, signals, the response object) cost ~30 % of a gunicorn worker's CPU per append
(docs/BENCHMARKS.md). This WSGI middleware takes a single append whose headers it can judge
without Flask — ``POST`` to exactly ``/v1/entries``, a ``Content-Type`` of ``application/json``
(parameters allowed) and a ``Content-Length`` within the body limit — and runs the same steps as
the app, from the same functions:

1. the request id (``logs.request_id_from``) and the rate limit (``RateLimits.check``);
2. the body, parsed by the core's strict JSON parser, the envelope's shape (``entries.envelope``)
   and the statement (``SignedStatement.from_json``);
3. the append through the group committer, and the 201 body (``entries.appended_body``);
4. any error as the app renders it (``problems.ledger_problem``, ``encode_problem``);
5. the access-log line (``logs.log_access``) and the request metrics (``observe_request``).

Every other request goes to the app untouched, and so do single appends the middleware does not
take (no ``Content-Length``, another media type, a body over the limit): the view answers those,
with the 413 or 415 they deserve. tests/http/test_fastpath.py sends the same requests through both
paths and compares the answers byte for byte, and the metrics and log lines they leave.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import ClientDisconnected
from werkzeug.http import HTTP_STATUS_CODES

from .. import logs
from ..core.canonical import parse_json
from ..core.errors import LedgerError
from ..core.statements import SignedStatement
from ..metrics import Metrics
from ..ratelimit import RateLimits, client_address
from ..service import GroupCommitter
from .entries import appended_body, envelope
from .problems import PROBLEM_MEDIA_TYPE, encode_problem, http_problem, ledger_problem, problem_body

PATH = "/v1/entries"
_JSON = "application/json"
log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AppendFastPath:
    """WSGI middleware: single appends it can take are answered here, the rest by ``app``."""

    def __init__(
        self,
        app: WSGIApp,
        committer: GroupCommitter,
        *,
        max_body_bytes: int,
        limits: RateLimits | None,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.committer = committer
        self.max_body_bytes = max_body_bytes
        self.limits = limits
        self.metrics = metrics

    def takes(self, environ: dict[str, Any]) -> bool:
        """Whether this request is a single append that the fast path answers."""
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return False
        length = environ.get("CONTENT_LENGTH") or ""
        if not (length.isascii() and length.isdigit() and int(length) <= self.max_body_bytes):
            return False
        media = environ.get("CONTENT_TYPE") or ""
        return media == _JSON or media.startswith(_JSON + ";")  # what Werkzeug reads as JSON

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self.takes(environ):
            return self.app(environ, start_response)
        started = time.perf_counter()
        request_id = logs.request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        code: str | None = None
        try:
            data = self._append(environ)
            status, headers = 201, [("Content-Type", _JSON)]
        except Exception as error:  # every error becomes its problem, as in the app
            body, headers = self._problem(error, request_id)
            status, code = body["status"], body["code"]
            data = encode_problem(body, request_id)
            headers.insert(0, ("Content-Type", PROBLEM_MEDIA_TYPE))
        headers += [("Content-Length", str(len(data))), (logs.REQUEST_ID_HEADER, request_id)]
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", headers)
        fields = {
            "method": "POST",
            "path": PATH,
            "route": PATH,
            "status": status,
            "code": code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "request_id": request_id,
            "remote_addr": environ.get("REMOTE_ADDR"),
            "response_bytes": len(data),
        }
        logs.log_access(fields)
        self.metrics.observe_request(fields)
        return [data]

    def _append(self, environ: dict[str, Any]) -> bytes:
        if self.limits is not None:
            self.limits.check("POST", PATH, client_address(environ))
        length = int(environ["CONTENT_LENGTH"])
        raw = environ["wsgi.input"].read(length) if length else b""
        if len(raw) != length:
            raise ClientDisconnected  # as Werkzeug's stream raises it for a short body
        signed = SignedStatement.from_json(envelope(parse_json(raw)))
        return appended_body(self.committer.append_one(signed))

    @staticmethod
    def _problem(error: Exception, request_id: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The problem body and headers of ``error``, logged as the app's handlers log it."""
        if isinstance(error, LedgerError):
            if error.status >= 500:
                log.error("server error: %s", error, exc_info=error, extra=_ids(request_id))
            return ledger_problem(error)
        if isinstance(error, ClientDisconnected):
            return http_problem(error), []
        log.exception("unhandled error", extra=_ids(request_id))
        detail = "an unexpected error occurred"
        return problem_body(500, "internal_error", "Internal error", detail), []


def _ids(request_id: str) -> dict[str, str]:
    return {"request_id": request_id}
