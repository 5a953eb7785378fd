"""Service configuration, read once from the environment at app creation.

Every setting is one field of ``Config``, declared with ``setting(VARIABLE, default, parser)``: its
``LEDGER_*`` variable is spelled out there and nowhere else, so ``grep LEDGER_MAX_BODY_BYTES``
finds it, and a value its parser refuses stops the start with a ``BadSetting`` that names the
variable and says what it expects. README's configuration table lists every variable
(tests/server/test_config.py walks ``Config.settings()`` against it). gunicorn's own settings
(``LEDGER_BIND``, ``LEDGER_WORKERS``, ...) are declared the same way in gunicorn.conf.py, with
the parsers of this module. Standard library only: gunicorn.conf.py imports it in the master.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"
_T = TypeVar("_T")


class BadSetting(ValueError):
    """A setting's value that its parser refuses; the message names the variable."""


@dataclass(frozen=True)
class Parser(Generic[_T]):
    """Turns a variable's text into a setting's value; ``expects`` says what it takes."""

    expects: str
    convert: Callable[[str], _T]
    #: Whether the setting is a number or a flag (tests/server/test_config.py feeds it "abc").
    typed: bool = True

    def parse(self, variable: str, raw: str) -> _T:
        """The value of ``raw``, or BadSetting naming ``variable`` and what it expects."""
        try:
            return self.convert(raw)
        except ValueError:
            raise BadSetting(f"{variable} must be {self.expects}, not {raw!r}") from None


def integer(minimum: int, maximum: int | None = None) -> Parser[int]:
    """A decimal integer within the bounds."""
    bounds = f"of at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def convert(raw: str) -> int:
        value = int(raw.strip(), 10)
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(raw)
        return value

    return Parser(f"an integer {bounds}", convert)


def seconds(minimum: float, *, above: bool = False) -> Parser[float]:
    """A finite number of seconds, at least ``minimum`` (greater than it with ``above``)."""

    def convert(raw: str) -> float:
        value = float(raw)
        if not math.isfinite(value) or value < minimum or (above and value == minimum):
            raise ValueError(raw)
        return value

    bound = f"greater than {minimum:g}" if above else f"of at least {minimum:g}"
    return Parser(f"a number of seconds {bound}", convert)


def choice(*options: str, ignore_case: bool = False) -> Parser[str]:
    """One of ``options`` (compared without case with ``ignore_case``), kept as given."""
    fold = str.lower if ignore_case else str
    allowed = {fold(o) for o in options}

    def convert(raw: str) -> str:
        if fold(raw) not in allowed:
            raise ValueError(raw)
        return raw

    return Parser(f"one of {', '.join(options)}", convert)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(raw: str) -> bool:
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ValueError(raw)


BOOLEAN = Parser(f"one of {', '.join(_TRUE)} or {', '.join(_FALSE)}", _flag)
TEXT = Parser("text", str, typed=False)
PATH = Parser("a file path", Path, typed=False)
#: A file path, or nothing when empty.
OPTIONAL_PATH: Parser[Path | None] = Parser(
    "a file path or empty", lambda raw: Path(raw) if raw else None, typed=False
)


def setting(variable: str, default: _T, parser: Parser[Any]) -> _T:
    """A ``Config`` field set by the environment variable ``variable`` through ``parser``."""
    metadata = {"variable": variable, "parser": parser}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Setting:
    """One row of the table: a ``Config`` field, its variable, its default and its parser."""

    name: str
    variable: str
    default: Any
    parser: Parser[Any]


@dataclass(frozen=True)
class Config:
    database_url: str = setting(
        "LEDGER_DATABASE_URL", f"sqlite:///{DEFAULT_INSTANCE / 'ledger.db'}", TEXT
    )
    log_key_file: Path = setting("LEDGER_LOG_KEY_FILE", DEFAULT_INSTANCE / "log-key.pem", PATH)
    origin: str = setting("LEDGER_ORIGIN", "localhost/consent-ledger", TEXT)
    host: str = setting("LEDGER_HOST", "127.0.0.1", TEXT)
    port: int = setting("LEDGER_PORT", 8000, integer(0, 65535))
    #: How far ``issued_at`` may lie ahead of the log's clock.
    clock_skew_seconds: int = setting("LEDGER_CLOCK_SKEW_SECONDS", 300, integer(0))
    #: Body limits (bytes): single statements and batches.
    max_body_bytes: int = setting("LEDGER_MAX_BODY_BYTES", 256 * 1024, integer(1))
    max_batch_body_bytes: int = setting("LEDGER_MAX_BATCH_BODY_BYTES", 32 * 1024 * 1024, integer(1))
    max_batch_statements: int = setting("LEDGER_MAX_BATCH_STATEMENTS", 1000, integer(1))
    max_page_size: int = setting("LEDGER_MAX_PAGE_SIZE", 1000, integer(1))
    auto_migrate: bool = setting("LEDGER_AUTO_MIGRATE", True, BOOLEAN)
    #: A c2sp.org/tlog-policy file: witnesses to submit checkpoints to, and the quorum that a
    #: checkpoint needs before /tlog/checkpoint publishes it. None (or empty): no witnessing.
    witness_policy_file: Path | None = setting("LEDGER_WITNESS_POLICY", None, OPTIONAL_PATH)
    #: Seconds between the witness publisher's rounds (0: no background publisher).
    witness_interval_seconds: float = setting("LEDGER_WITNESS_INTERVAL", 1.0, seconds(0))
    #: Timeout of one add-checkpoint request to a witness.
    witness_timeout_seconds: float = setting("LEDGER_WITNESS_TIMEOUT", 5.0, seconds(0, above=True))
    #: Content items per evidence request (``POST /v1/evidence``).
    max_evidence_items: int = setting("LEDGER_MAX_EVIDENCE_ITEMS", 100_000, integer(1))
    #: Per-client rate limits (the ``limits`` library's syntax, ``;``-separated), for writes
    #: (POST) and reads (GET); "" or "off" disables one. Counted per client address, per worker
    #: process unless ``rate_limit_storage`` names a shared store. Their syntax is checked by
    #: ``ratelimit.RateLimits.from_config``, which names the variable too.
    rate_limit: str = setting("LEDGER_RATE_LIMIT", "100/second;5000/minute", TEXT)
    read_rate_limit: str = setting("LEDGER_READ_RATE_LIMIT", "1000/second;30000/minute", TEXT)
    rate_limit_storage: str = setting("LEDGER_RATE_LIMIT_STORAGE", "memory://", TEXT)
    #: How many reverse proxies in front of the app set a trusted ``X-Forwarded-For`` (0: none).
    trusted_proxies: int = setting("LEDGER_TRUSTED_PROXIES", 0, integer(0))
    #: Level of the JSON logs on stderr (one line per request at INFO).
    log_level: str = setting(
        "LEDGER_LOG_LEVEL",
        "INFO",
        choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", ignore_case=True),
    )
    #: The body limit of POST /v1/evidence.
    max_evidence_body_bytes: int = setting(
        "LEDGER_MAX_EVIDENCE_BODY_BYTES", 8 * 1024 * 1024, integer(1)
    )
    #: Database connections each process keeps open for reuse: at least the requests it serves
    #: at once (gunicorn.conf.py makes it the threads per worker under gthread). Bursts beyond it
    #: get up to as many more, opened for the request and closed after it.
    db_pool_size: int = setting("LEDGER_DB_POOL_SIZE", 16, integer(1))
    #: Static publication (``ledger.server.statictiles``): a directory that receives the
    #: published checkpoint, tiles and entry bundles in the c2sp.org/tlog-tiles layout, and
    #: from which the app serves ``/tlog/tile/...`` without the database. None: no directory.
    static_dir: Path | None = setting("LEDGER_STATIC_DIR", None, OPTIONAL_PATH)
    #: An S3-compatible bucket that receives the same objects ("": none), under a key prefix,
    #: at an endpoint ("": the SDK's default, AWS). Credentials: boto3's usual chain.
    static_s3_bucket: str = setting("LEDGER_STATIC_S3_BUCKET", "", TEXT)
    static_s3_prefix: str = setting("LEDGER_STATIC_S3_PREFIX", "", TEXT)
    static_s3_endpoint: str = setting("LEDGER_STATIC_S3_ENDPOINT", "", TEXT)
    #: Seconds between the app's static publication rounds (0: none in the app; run
    #: ``python -m ledger.server.statictiles`` instead).
    static_interval_seconds: float = setting("LEDGER_STATIC_INTERVAL", 1.0, seconds(0))

    @classmethod
    def settings(cls) -> Iterator[Setting]:
        """Every setting, in declaration order: the table README's configuration section lists."""
        for f in fields(cls):
            yield Setting(f.name, f.metadata["variable"], f.default, f.metadata["parser"])

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of the setting ``name`` (for messages that name it)."""
        return next(s.variable for s in cls.settings() if s.name == name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build from the variables in ``env`` (default: the process environment); keyword
        overrides win (used by tests). Raises BadSetting, naming the variable, for a value its
        parser refuses."""
        env = os.environ if env is None else env
        values = {s.name: s.parser.parse(s.variable, env[s.variable])
                  for s in cls.settings() if s.variable in env}  # fmt: skip
        return replace(cls(), **{**values, **overrides})
