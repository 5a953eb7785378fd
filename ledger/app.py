"""The application factory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask, request

from . import api, db
from . import repository as repo
from .config import Config
from .core.errors import LedgerError, PayloadTooLarge
from .core.note import NoteSigner
from .db import Database
from .logkey import load_or_create_log_key
from .service import GroupCommitter, LogService


class LogIdentityMismatch(LedgerError):
    """The database belongs to another log (other origin or other log key)."""

    code = "log_identity_mismatch"
    status = 500
    title = "Log identity mismatch"


@dataclass
class Ledger:
    """What the views need: configuration, database, and the log service."""

    config: Config
    db: Database
    service: LogService
    committer: GroupCommitter
    origin: str
    verifier_key: str


def create_app(config: Config | None = None) -> Flask:
    """Build the app: apply migrations, load (or create) the log key, wire the API."""
    config = config or Config.from_env()
    if config.auto_migrate:
        db.upgrade(config.database_url)
    database = Database(config.database_url)
    key = load_or_create_log_key(config.log_key_file)
    signer = NoteSigner.from_private_key(config.origin, key.private_key)
    _check_log_identity(database, config.origin, key.public_key.raw)
    service = LogService(database, signer, clock_skew=timedelta(seconds=config.clock_skew_seconds))
    app = Flask(__name__)
    body_limits = {
        "/v1/entries/batch": config.max_batch_body_bytes,
        "/v1/evidence": config.max_evidence_body_bytes,
    }
    app.config["MAX_CONTENT_LENGTH"] = max(config.max_body_bytes, *body_limits.values())
    app.extensions["ledger"] = Ledger(
        config,
        database,
        service,
        GroupCommitter(service),
        config.origin,
        signer.verifier().to_vkey(),
    )

    @app.before_request
    def limit_body() -> None:
        # Single statements get the small limit; only batch and evidence requests get more.
        limit = body_limits.get(request.path, config.max_body_bytes)
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"the request body may be at most {limit} bytes")
        request.max_content_length = limit

    api.init_app(app)
    return app


def _check_log_identity(database: Database, origin: str, public_key: bytes) -> None:
    """Bind the database to one origin and log key on first start; refuse a mismatch later."""
    with database.append_transaction() as session:
        meta = repo.get_log_meta(session)
        if meta is None:
            repo.add_log_meta(session, origin, public_key, datetime.now(UTC))
            return
        if meta.origin != origin or bytes(meta.public_key) != public_key:
            raise LogIdentityMismatch(
                f"this database holds the log {meta.origin!r} with another key or origin; "
                "start a new log (new database) for a new origin or key"
            )
