"""Request parsing at the HTTP edge: strict JSON bodies and marshmallow schemas with RAISE.

Bodies are parsed by the core's strict JSON parser (no duplicate keys, no floats, valid UTF-8), not
by Flask's lenient one; schema errors become our own 400 problems instead of webargs' 422.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import flask_smorest
import marshmallow as ma
from flask import Request
from webargs.flaskparser import FlaskParser

from ledger.core.canonical import parse_json
from ledger.core.errors import InvalidParameter, InvalidRequest, UnsupportedMediaType, quoted
from ledger.server.api.body import request_body
from ledger.server.logs import current


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, Mapping):
        out: list[str] = []
        for key, value in messages.items():
            out.extend(_flatten(value, f"{prefix}{key}." if key != "_schema" else prefix))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix.rstrip('.')}: {m}" if prefix else m for m in messages]
    if isinstance(messages, list):
        return [m for item in messages for m in _flatten(item, prefix)]
    return [f"{prefix.rstrip('.')}: {messages}"]


def quoted_message(message: str) -> str:
    """A validation message as an error may carry it: its field name cut if long."""
    where, sep, what = message.rpartition(": ")
    return f"{quoted(where)}{sep}{what}" if sep else quoted(message)


def refuse_repeated_parameters(req: Request) -> None:
    """A query parameter given twice has no single meaning: refuse it (InvalidParameter) rather
    than pick one. Every route that reads its query passes here."""
    repeated = sorted(k for k, values in req.args.lists() if len(values) > 1)
    if repeated:
        raise InvalidParameter(f"query parameter(s) given more than once: {', '.join(repeated)}")


class StrictParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400  # what handle_error raises (documented as such)
    DEFAULT_UNKNOWN_BY_LOCATION: dict[str, str | None] = {  # noqa: RUF012 - webargs API
        "json": ma.RAISE,
        "query": ma.RAISE,
        "view_args": ma.RAISE,
        "headers": ma.EXCLUDE,
        "cookies": ma.EXCLUDE,
        "files": ma.RAISE,
        "form": ma.RAISE,
        "json_or_form": ma.RAISE,
        "querystring": ma.RAISE,
    }

    def load_querystring(self, req: Request, schema: ma.Schema) -> Any:
        refuse_repeated_parameters(req)
        return super().load_querystring(req, schema)

    def _raw_load_json(self, req: Request) -> Any:
        if req.mimetype != "application/json":
            raise UnsupportedMediaType("send the body as application/json")
        # The limit is the path's, set by the request pipeline (ledger.server.api.pipeline).
        limit = req.max_content_length
        if limit is None:
            raise TypeError("no body limit was set for the request")
        return parse_json(request_body(req.environ, limit))

    def handle_error(
        self,
        error: ma.ValidationError,
        req: Request,
        schema: ma.Schema,
        *,
        error_status_code: int | None,
        error_headers: Mapping[str, str] | None,
    ) -> NoReturn:
        # Messages quote names from the request (unknown fields): each is cut, and only the
        # first few are listed (LedgerError.listing).
        messages = [quoted_message(m) for m in _flatten(error.messages)] or ["invalid request"]
        location = next(iter(error.messages), "") if isinstance(error.messages, dict) else ""
        cls = InvalidRequest if location in ("json", "") else InvalidParameter
        raise cls.listing(messages)


PARSER = StrictParser()


def raw_json_body(req: Request) -> Any:
    """The body as strict JSON (for endpoints that validate item by item)."""
    return PARSER._raw_load_json(current(req))  # the request itself, not its context proxy


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """flask-smorest's Blueprint with our strict parser (bound when views are decorated)."""

    ARGUMENTS_PARSER = PARSER
