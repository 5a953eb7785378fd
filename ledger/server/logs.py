"""Structured logs: JSON lines on stderr, a request id per request, one access line per request.

What a request line holds: method, path (no query string), route rule, status, problem code,
duration, request id, client address and response size. What it never holds: bodies, headers
other than the request id, query strings, statements, signatures or keys — a log line may be
shipped to systems that must not see any of them.

The request id is the client's ``X-Request-ID`` if it is a short token of safe characters
(``REQUEST_ID_RE``); anything else (too long, CR/LF or other characters that could forge log
lines or headers) is ignored and a fresh id is generated. It is echoed in the ``X-Request-ID``
response header and in every problem+json body, and attached to every log record written while
the request runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import g, has_request_context

if TYPE_CHECKING:
    from ledger.server.api.pipeline import Passage

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"  # where WSGI puts that header
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")
ACCESS_LOGGER = "ledger.access"
#: Record attributes every LogRecord has; anything else was passed in ``extra`` and is emitted.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
# json.dumps(out, default=str, ensure_ascii=False) builds this encoder on every call
_encode_json = json.JSONEncoder(default=str, ensure_ascii=False).encode
_access_log = logging.getLogger(ACCESS_LOGGER)
_T = TypeVar("_T")


def current(proxy: _T) -> _T:
    """The object behind a Flask context proxy (``request``, ``g``) of the current context;
    anything that is not a proxy is returned as it is.

    Every attribute read through a proxy looks the context up again; a hook that reads several
    attributes binds the object once.
    """
    get = getattr(proxy, "_get_current_object", None)  # a LocalProxy's, not the object's
    return proxy if get is None else cast(_T, get())


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        out.update(
            {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and k[:1] != "_"}
        )
        if "request_id" not in out:
            request_id = _request_id.get()
            if request_id is None and has_request_context():
                request_id = g.get("request_id")
            if request_id is not None:
                out["request_id"] = request_id
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return _encode_json(out)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (test runners swap it)."""

    _ledger_json = True

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(level: str) -> None:
    """Send the ``ledger`` loggers to stderr as JSON at ``level``; idempotent per process."""
    logger = logging.getLogger("ledger")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_ledger_json", False) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)


def request_id_from(header: str | None) -> str:
    """The client's id if it is a safe token, else a new random one (a random UUID, as hex)."""
    if header is not None and REQUEST_ID_RE.fullmatch(header):
        return header
    return uuid.uuid4().hex


#: The request id of a request answered outside Flask (the fast paths), for the log records
#: written while it runs; inside Flask the id is in ``g``. Per thread and per greenlet.
_request_id: ContextVar[str | None] = ContextVar("ledger_request_id", default=None)


@contextlib.contextmanager
def outside_flask(request_id: str) -> Iterator[None]:
    """Attach ``request_id`` to every log record written in this block (no Flask context)."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def log_access(fields: dict[str, Any]) -> None:
    """Write one access line (at INFO) with ``fields``."""
    access = _access_log
    if access.isEnabledFor(logging.INFO):
        # makeRecord + handle: logger.info() would walk the stack for the caller, which
        # costs more than the rest of this line together and says nothing here
        record = access.makeRecord(
            access.name, logging.INFO, __file__, 0, "request", (), None, extra=fields
        )
        access.handle(record)


def access_fields(passage: Passage, status: int, response_bytes: int | None) -> dict[str, Any]:
    """The fields of one access line: the only list of them (the metrics read them too)."""
    return {
        "method": passage.method,
        "path": passage.path,
        "route": passage.route,
        "status": status,
        "code": passage.code,
        "duration_ms": round((time.perf_counter() - passage.started) * 1000, 3),
        "request_id": passage.request_id,
        "remote_addr": passage.remote_addr,
        "response_bytes": response_bytes,
    }
