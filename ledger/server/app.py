"""The application factory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy.exc import DBAPIError
from werkzeug.middleware.proxy_fix import ProxyFix

from ledger import sigverify
from ledger.core import merkle
from ledger.core.checkpoint import sign_checkpoint
from ledger.core.errors import InvalidKey, LedgerError, LogIdentityMismatch, Unavailable
from ledger.core.licmap import map_checkpoint
from ledger.core.note import NoteSigner, NoteVerifier
from ledger.core.receipts import ReceiptSigner
from ledger.core.vmap import MAP_EMPTY_HASH
from ledger.server import api, logs, metrics, ratelimit, web
from ledger.server.api.fastpath import AppendFastPath, FullTileFastPath
from ledger.server.api.pipeline import RequestPipeline
from ledger.server.config import Config
from ledger.server.extension import Ledger
from ledger.server.logkey import load_or_create_log_key
from ledger.server.publisher import WitnessPublisher, load_policy
from ledger.server.readiness import DatabaseGate
from ledger.server.service import GroupCommitter, LogService
from ledger.server.storage import db
from ledger.server.storage import repository as repo
from ledger.server.storage.db import Database
from ledger.server.storage.models import CheckpointRow


def create_app(config: Config | None = None) -> Flask:
    """Build the app: load (or create) the log key, wire the API, and prepare the database
    (migrations, the log's identity) if it answers; if it does not, the app starts all the same
    and prepares it on the first request that finds it answering (``ledger.server.readiness``).

    Raises LogIdentityMismatch if the database answers and holds another log; bad settings,
    key files and policy files raise too. No database outage makes it fail."""
    config = config or Config.from_env()
    limits = ratelimit.RateLimits.from_config(config)  # bad settings refused before anything opens
    logs.configure(config.log_level)
    database = Database(config.database_url, config.db_pool_size)
    app_metrics = metrics.Metrics(database)  # first: it counts the connections the pool opens
    key = load_or_create_log_key(config.log_key_file)
    signer = NoteSigner.from_private_key(config.origin, key.private_key)
    gate = _open_gate(config, database, signer, key.public_key.raw)
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
        ready=gate.ensure,
        body_limit=config.max_body_bytes,
        body_limits={
            "/v1/entries/batch": config.max_batch_body_bytes,
            "/v1/evidence": config.max_evidence_body_bytes,
            "/buyer/report": config.max_evidence_body_bytes,  # a bundle /v1/evidence made
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
        gate=gate,
        receipts=ReceiptSigner(key.private_key, config.origin),
    )
    ledger.init_app(app)
    web.init_app(app, api.init_app(app))
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
    """With a witness policy, the witness publisher (started unless its interval is 0; each of its
    rounds waits for the database gate). Raises MalformedPolicy for a bad policy file, InvalidKey
    if the policy does not list this log's key under its origin."""
    config, database = ledger.config, ledger.db
    policy_file = config.witness_policy_file
    if policy_file is None:
        return
    policy = load_policy(policy_file)
    if policy.log_for_origin(config.origin) != log_verifier:
        raise InvalidKey(f"{policy_file} does not list this log's key {log_verifier.to_vkey()}")
    ledger.publisher = WitnessPublisher(database, policy, config.witness_timeout_seconds)
    if config.witness_interval_seconds > 0:
        ledger.publisher.start(config.witness_interval_seconds, ledger.gate.ensure)


def _open_gate(
    config: Config, database: Database, signer: NoteSigner, public_key: bytes
) -> DatabaseGate:
    """The database gate, tried once now: a database that answers is prepared at start, as
    before, and one that holds another log refuses the start. One that does not answer is left
    to the first request that finds it answering."""
    gate = DatabaseGate(lambda: _prepare_database(config, database, signer, public_key))
    try:
        gate.ensure()
    except LogIdentityMismatch:
        database.dispose()  # a refused start must not leave connections open
        raise
    except Unavailable:
        pass  # logged by the gate
    return gate


def _prepare_database(
    config: Config, database: Database, signer: NoteSigner, public_key: bytes
) -> None:
    """What the app needs of its database before serving it: the migrations (if automatic),
    then the log's identity (and, for a new log, its checkpoint of size 0). Raises DBAPIError (or
    OSError) while the database does not answer, after closing the pooled connections: the next
    try opens new ones (on SQLite, a connection opened while the file was missing holds an empty
    file that a restored one replaces)."""
    try:
        if config.auto_migrate:
            db.upgrade(config.database_url)
        _check_log_identity(database, signer, public_key)
    except (DBAPIError, OSError):
        database.dispose()
        raise


def _check_log_identity(database: Database, signer: NoteSigner, public_key: bytes) -> None:
    """Bind the database to one origin and log key on first start; refuse a mismatch later.

    A new log also signs and stores its checkpoint of size 0 (the empty tree's root, RFC 9162:
    SHA-256 of the empty string; and the empty licence map's root, docs/FORMAT.md §14), in the
    same transaction as its identity, as Tessera does: its
    clients, witnesses and auditors have a signed tree from the start (docs/FORMAT.md §6). A log
    whose identity is already bound never gets one added, so an existing log never has a second.
    """
    origin = signer.name
    with database.append_transaction() as session:
        meta = repo.get_log_meta(session)
        if meta is None:
            now = datetime.now(UTC)
            repo.add_log_meta(session, origin, public_key, now)
            empty = map_checkpoint(origin, 0, merkle.EMPTY_ROOT, MAP_EMPTY_HASH)
            note = sign_checkpoint(empty, signer)
            row = repo.checkpoint_row(0, merkle.EMPTY_ROOT, note, now, MAP_EMPTY_HASH)
            repo.insert_all(session, [(CheckpointRow, [row])])
            return
        if meta.origin != origin or bytes(meta.public_key) != public_key:
            raise LogIdentityMismatch(
                f"this database holds the log {meta.origin!r} with another key or origin; "
                "start a new log (new database) for a new origin or key"
            )
