"""The application factory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ledger import sigverify
from ledger.core.errors import InvalidKey, LedgerError, LogIdentityMismatch
from ledger.core.note import NoteSigner, NoteVerifier
from ledger.server import api, logs, metrics, ratelimit
from ledger.server.api.fastpath import AppendFastPath, FullTileFastPath
from ledger.server.api.pipeline import RequestPipeline
from ledger.server.config import Config
from ledger.server.extension import Ledger
from ledger.server.logkey import load_or_create_log_key
from ledger.server.publisher import WitnessPublisher, load_policy
from ledger.server.service import GroupCommitter, LogService
from ledger.server.storage import db
from ledger.server.storage import repository as repo
from ledger.server.storage.db import Database


def create_app(config: Config | None = None) -> Flask:
    """Build the app: apply migrations, load (or create) the log key, wire the API."""
    config = config or Config.from_env()
    limits = ratelimit.RateLimits.from_config(config)  # bad settings refused before anything opens
    logs.configure(config.log_level)
    if config.auto_migrate:
        db.upgrade(config.database_url)
    database = Database(config.database_url, config.db_pool_size)
    app_metrics = metrics.Metrics(database)  # first: it counts the connections the pool opens
    key = load_or_create_log_key(config.log_key_file)
    signer = NoteSigner.from_private_key(config.origin, key.private_key)
    try:
        _check_log_identity(database, config.origin, key.public_key.raw)
    except BaseException:
        database.dispose()  # a refused start must not leave connections open
        raise
    service = LogService(
        database,
        signer,
        clock_skew=timedelta(seconds=config.clock_skew_seconds),
        on_commit=app_metrics.observe_append,
        # Statements' signatures checked by libsodium when PyNaCl is installed, deciding exactly
        # as OpenSSL (the log's rule): about twice as fast (docs/BENCHMARKS.md).
        signature_check=sigverify.signature_check()[1],
    )
    app = Flask(__name__)
    pipeline = RequestPipeline(
        limits=limits,
        metrics=app_metrics,
        body_limit=config.max_body_bytes,
        body_limits={
            "/v1/entries/batch": config.max_batch_body_bytes,
            "/v1/evidence": config.max_evidence_body_bytes,
        },
    )
    # First: every later hook and error handler already has the request id. The requests the
    # fast paths answer in front of Flask run the same steps from the same object.
    pipeline.init_app(app)
    app.config["MAX_CONTENT_LENGTH"] = pipeline.largest_body
    committer = GroupCommitter(service)
    ledger = Ledger(
        config=config,
        db=database,
        service=service,
        committer=committer,
        origin=config.origin,
        verifier_key=signer.verifier().to_vkey(),
        metrics=app_metrics,
        witnessed=config.witness_policy_file is not None,
    )
    ledger.init_app(app)
    api.init_app(app)
    try:
        init_tlog(ledger, signer.verifier())
    except LedgerError:
        database.dispose()  # a refused start leaves no connection behind
        raise
    fast_tiles = FullTileFastPath(app.wsgi_app, pipeline, ledger.tile_cache)
    app.wsgi_app = AppendFastPath(fast_tiles, pipeline, committer)  # type: ignore[method-assign]
    if config.trusted_proxies > 0:  # outermost: every path sees the client's address
        n = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    return app


def init_tlog(ledger: Ledger, log_verifier: NoteVerifier) -> None:
    """With a witness policy, the witness publisher (started unless its interval is 0). Raises
    MalformedPolicy for a bad policy file, InvalidKey if the policy does not list this log's key
    under its origin."""
    config, database = ledger.config, ledger.db
    policy_file = config.witness_policy_file
    if policy_file is None:
        return
    policy = load_policy(policy_file)
    if policy.log_for_origin(config.origin) != log_verifier:
        raise InvalidKey(f"{policy_file} does not list this log's key {log_verifier.to_vkey()}")
    ledger.publisher = WitnessPublisher(database, policy, config.witness_timeout_seconds)
    if config.witness_interval_seconds > 0:
        ledger.publisher.start(config.witness_interval_seconds)


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
