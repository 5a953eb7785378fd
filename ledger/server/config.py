"""Service configuration, read once from the environment (``LEDGER_*``) at app creation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"


@dataclass(frozen=True)
class Config:
    database_url: str = f"sqlite:///{DEFAULT_INSTANCE / 'ledger.db'}"
    log_key_file: Path = DEFAULT_INSTANCE / "log-key.pem"
    origin: str = "localhost/consent-ledger"
    host: str = "127.0.0.1"
    port: int = 8000
    #: How far ``issued_at`` may lie ahead of the log's clock.
    clock_skew_seconds: int = 300
    #: Body limits (bytes): single statements and batches.
    max_body_bytes: int = 256 * 1024
    max_batch_body_bytes: int = 32 * 1024 * 1024
    max_batch_statements: int = 1000
    max_page_size: int = 1000
    auto_migrate: bool = True
    #: A c2sp.org/tlog-policy file: witnesses to submit checkpoints to, and the quorum that a
    #: checkpoint needs before /tlog/checkpoint publishes it. None: no witnessing.
    witness_policy_file: Path | None = None
    #: Seconds between the witness publisher's rounds (0: no background publisher).
    witness_interval_seconds: float = 1.0
    #: Timeout of one add-checkpoint request to a witness.
    witness_timeout_seconds: float = 5.0
    #: Content items per evidence request (``POST /v1/evidence``).
    max_evidence_items: int = 100_000
    #: Per-client rate limits (the ``limits`` library's syntax, ``;``-separated), for writes
    #: (POST) and reads (GET); "" or "off" disables one. Counted per client address, per worker
    #: process unless ``rate_limit_storage`` names a shared store.
    rate_limit: str = "100/second;5000/minute"
    read_rate_limit: str = "1000/second;30000/minute"
    rate_limit_storage: str = "memory://"
    #: How many reverse proxies in front of the app set a trusted ``X-Forwarded-For`` (0: none).
    trusted_proxies: int = 0
    #: Level of the JSON logs on stderr (one line per request at INFO).
    log_level: str = "INFO"
    #: The body limit of POST /v1/evidence.
    max_evidence_body_bytes: int = 8 * 1024 * 1024
    #: Database connections each process keeps open for reuse: at least the requests it serves
    #: at once (gunicorn.conf.py makes it the threads per worker under gthread). Bursts beyond it
    #: get up to as many more, opened for the request and closed after it.
    db_pool_size: int = 16

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build from ``LEDGER_*`` variables; keyword overrides win (used by tests)."""
        env = os.environ if env is None else env
        base = cls()
        values: dict[str, Any] = {}
        if "LEDGER_DATABASE_URL" in env:
            values["database_url"] = env["LEDGER_DATABASE_URL"]
        if "LEDGER_LOG_KEY_FILE" in env:
            values["log_key_file"] = Path(env["LEDGER_LOG_KEY_FILE"])
        for name, conv in (
            ("origin", str),
            ("host", str),
            ("port", int),
            ("clock_skew_seconds", int),
            ("max_body_bytes", int),
            ("max_batch_body_bytes", int),
            ("max_batch_statements", int),
            ("max_page_size", int),
            ("max_evidence_items", int),
            ("rate_limit", str),
            ("read_rate_limit", str),
            ("rate_limit_storage", str),
            ("trusted_proxies", int),
            ("log_level", str),
            ("max_evidence_body_bytes", int),
            ("db_pool_size", int),
        ):
            key = f"LEDGER_{name.upper()}"
            if key in env:
                values[name] = conv(env[key])
        if env.get("LEDGER_WITNESS_POLICY"):
            values["witness_policy_file"] = Path(env["LEDGER_WITNESS_POLICY"])
        for name in ("witness_interval_seconds", "witness_timeout_seconds"):
            key = "LEDGER_" + name.upper().removesuffix("_SECONDS")
            if key in env:
                values[name] = float(env[key])
        if "LEDGER_AUTO_MIGRATE" in env:
            values["auto_migrate"] = env["LEDGER_AUTO_MIGRATE"].lower() not in ("0", "false", "no")
        values.update(overrides)
        config = replace(base, **values)
        if config.db_pool_size < 1:
            raise ValueError(f"LEDGER_DB_POOL_SIZE must be at least 1, not {config.db_pool_size}")
        return config
