"""Render every error as RFC 9457 ``application/problem+json``.

One place turns the exception tree into responses: ``LedgerError`` subclasses carry their code and
status; Werkzeug's HTTP errors (404 route, 405, 413, ...) and anything unexpected are mapped here.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, g, has_request_context
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.exceptions import MethodNotAllowed as WerkzeugMethodNotAllowed

from ledger.core.errors import (
    BadRequest,
    HeaderFieldsTooLarge,
    HttpError,
    InternalError,
    LedgerError,
    MalformedHTTP,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ReadOnlyDatabase,
    RequestLineTooLong,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
)
from ledger.server.storage.db import is_read_only_error

PROBLEM_TYPE_BASE = "https://consent-ledger.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

#: The codes of Werkzeug's HTTP errors (404 route, 405, ...) by status: the core's errors' codes
#: (``ledger.core.errors``, where tests/core/test_errors.py pins them); any other is HttpError's.
_HTTP_CODES = {
    cls.status: cls.code
    for cls in (
        BadRequest,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unprocessable,
        RateLimited,
    )
}


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The members of a problem+json body (RFC 9457) and our extensions."""
    return {
        "type": PROBLEM_TYPE_BASE + code,
        "code": code,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }


def ledger_problem(error: LedgerError) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The problem body of ``error`` (its JSON-shaped details become members) and its headers:
    ``Retry-After`` for an error with a ``retry_after`` detail (whole seconds)."""
    extra = {k: v for k, v in error.details.items() if isinstance(v, str | int | list | dict)}
    retry_after = error.details.get("retry_after")
    headers = [("Retry-After", str(retry_after))] if isinstance(retry_after, int) else []
    return problem_body(error.status, error.code, error.title, error.message, **extra), headers


def http_problem(error: HTTPException) -> dict[str, Any]:
    """The problem body of one of Werkzeug's HTTP errors (404 route, 405, ...)."""
    status = error.code or 500
    code = _HTTP_CODES.get(status, HttpError.code)
    return problem_body(status, code, error.name, error.description or error.name)


def http_headers(error: HTTPException) -> list[tuple[str, str]]:
    """The headers Werkzeug gives one of its HTTP errors, but its media type: ``Allow`` on a
    405 (RFC 9110 §15.5.6 requires it), in alphabetical order (Werkzeug's follows a set's, which
    changes from one process to the next), ``WWW-Authenticate`` and the like."""
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    if isinstance(error, WerkzeugMethodNotAllowed) and error.valid_methods:
        allow = ", ".join(sorted(set(error.valid_methods)))
        headers = [(k, allow if k.lower() == "allow" else v) for k, v in headers]
    return headers


def encode_problem(body: dict[str, Any], request_id: str | None) -> bytes:
    """The bytes of a problem+json body, with the request id (for support) when there is one.

    The encoding is Flask's default (sorted keys, ASCII) and is written here once, so that the
    fast paths, which answer outside Flask, send the same bytes as the app.
    """
    if request_id is not None:
        body = {**body, "request_id": request_id}
    return _encode_problem(body).encode()


_encode_problem = json.JSONEncoder(ensure_ascii=True, sort_keys=True).encode


#: gunicorn's own refusals (before the app sees the request), by status, as our errors.
_SERVER_REFUSALS: dict[int, type[LedgerError]] = {
    400: MalformedHTTP,
    414: RequestLineTooLong,
    431: HeaderFieldsTooLarge,
}
#: The most of gunicorn's message a refusal quotes (it may quote the request line).
_SERVER_DETAIL_MAX = 300


def server_refusal(status: int, reason: str, detail: str) -> bytes:
    """The problem+json body of an answer the HTTP server gives by itself, before the app sees
    the request: gunicorn's refusals of malformed HTTP (request line, headers, framing, its
    limits), written by gunicorn.conf.py in place of gunicorn's HTML page. No request id: the
    request never reached the app, so no log line of ours names it."""
    detail = (detail or reason)[:_SERVER_DETAIL_MAX]
    cls = _SERVER_REFUSALS.get(status)
    if cls is not None:
        body = ledger_problem(cls(detail))[0]
    elif status >= 500:
        body = problem_body(status, InternalError.code, reason, detail)
    else:  # 403 (a forbidden proxy or TLS), 417, 501 (an unknown transfer coding)
        body = problem_body(status, _HTTP_CODES.get(status, HttpError.code), reason, detail)
    return encode_problem(body, None)


def _problem_response(body: dict[str, Any], headers: list[tuple[str, str]]) -> Response:
    request_id = None
    if has_request_context():
        g.problem_code = body["code"]  # for the access log line and the rejection metrics
        request_id = g.get("request_id")
    data = encode_problem(body, request_id)
    return Response(data, status=body["status"], headers=headers, mimetype=PROBLEM_MEDIA_TYPE)


def problem_for(error: Exception) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The problem body and headers of any error raised while answering a request, logged as
    the app logs it. The app's error handlers and the fast paths (``ledger.server.api.fastpath``)
    both come here, so that an error gets one answer and one log line whichever path met it."""
    if isinstance(error, LedgerError):
        if error.status >= 500:
            log.error("server error: %s", error, exc_info=error)
        return ledger_problem(error)
    if isinstance(error, RequestEntityTooLarge):
        return ledger_problem(PayloadTooLarge("the request body is over the size limit"))
    if isinstance(error, HTTPException):
        return http_problem(error), http_headers(error)
    if isinstance(error, DBAPIError) and is_read_only_error(error):
        # A write that met a read replica outside the append path (which says so itself).
        return ledger_problem(
            ReadOnlyDatabase(
                "this server's database is a read-only replica: send writes to the primary"
            )
        )
    if isinstance(error, DBAPIError) and (
        error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    ):
        # The database could not be reached or the connection was lost (an outage, a restart, a
        # connection cut while in use): 503, as appends already answer (the service turns these
        # into Unavailable; reads meet them here). Any other database error is a bug: 500.
        log.error("server error: the database is unavailable", exc_info=error)
        return ledger_problem(Unavailable("the database is unavailable; retry later"))
    log.error("unhandled error", exc_info=error)
    return ledger_problem(InternalError("an unexpected error occurred"))


def register_error_handlers(app: Flask) -> None:
    def on_error(error: Exception) -> Response:
        return _problem_response(*problem_for(error))

    # HTTPException by name too: flask-smorest registers its own handler for it, which Flask
    # would pick over one for Exception (the closest class wins). Routing redirects pass.
    app.register_error_handler(HTTPException, on_error)
    app.register_error_handler(Exception, on_error)
