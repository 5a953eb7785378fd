"""The HTTP API: blueprints per resource, registered on a flask-smorest ``Api``."""

from __future__ import annotations

import http

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from ledger.server.api import (
    accounts,
    entries,
    evidence,
    health,
    log,
    maps,
    metrics,
    scitt,
    search,
    tlog,
)
from ledger.server.api.context import ENTRY_SEQ, SEQ_PATTERN, EntrySeqConverter
from ledger.server.api.problems import PROBLEM_MEDIA_TYPE, register_error_handlers
from ledger.server.api.schemas import ProblemSchema


class LedgerApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, documenting errors as what they are: RFC 9457 problem details."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # As flask-smorest does, one lazy component per status and a default, but served as
        # application/problem+json with the problem schema (what problems.py renders).
        for status in http.HTTPStatus:
            response: dict[str, object] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MEDIA_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MEDIA_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def init_app(app: Flask) -> Api:
    app.config.setdefault("API_TITLE", "Consent Ledger")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # No ReDoc page (a script from a CDN): ``/docs`` is the explorer's (``ledger.server.web``).
    app.url_map.converters[ENTRY_SEQ] = EntrySeqConverter  # before any route uses it
    api = LedgerApi(app, spec_kwargs={"info": {"description": _DESCRIPTION}})
    api.register_converter(EntrySeqConverter, _seq_schema)
    for module in (entries, log, maps, search, accounts, evidence, health, tlog, metrics, scitt):
        api.register_blueprint(module.blp)
    api.register_blueprint(tlog.proof_blp)
    api.register_blueprint(scitt.receipt_blp)
    register_error_handlers(app)
    return api


def _seq_schema(_converter: EntrySeqConverter) -> dict[str, str]:
    return {"type": "string", "pattern": f"^({SEQ_PATTERN})$"}


_DESCRIPTION = (
    "An append-only, hash-chained transparency log of signed licence statements between creators "
    "and AI companies, with an RFC 9162 Merkle tree and C2SP signed checkpoints. Every error is "
    "application/problem+json with a stable `code`. Formats: docs/FORMAT.md."
)
