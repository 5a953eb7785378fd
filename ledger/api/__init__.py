"""The HTTP API: blueprints per resource, registered on a flask-smorest ``Api``."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from . import entries, evidence, health, log, metrics, search, tlog
from .problems import register_error_handlers


def init_app(app: Flask) -> Api:
    app.config.setdefault("API_TITLE", "Consent Ledger")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_REDOC_PATH", "/docs")
    app.config.setdefault(
        "OPENAPI_REDOC_URL", "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
    )
    api = Api(app, spec_kwargs={"info": {"description": _DESCRIPTION}})
    for module in (entries, log, search, evidence, health, tlog, metrics):
        api.register_blueprint(module.blp)
    api.register_blueprint(tlog.proof_blp)
    register_error_handlers(app)
    return api


_DESCRIPTION = (
    "An append-only, hash-chained transparency log of signed licence statements between creators "
    "and AI companies, with an RFC 9162 Merkle tree and C2SP signed checkpoints. Every error is "
    "application/problem+json with a stable `code`. Formats: docs/FORMAT.md."
)
