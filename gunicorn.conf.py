"""gunicorn settings for Consent Ledger: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Environment (all optional, unset or empty: the default): each ``LEDGER_*`` variable is spelled
out once, next to its setting below, read with ``ledger.server.config``'s parsers, and a bad value
stops the start naming the variable. ``PROMETHEUS_MULTIPROC_DIR`` defaults to a private temporary
directory, removed at exit. The app's own settings (``Config``) are read here too, so a bad one
stops gunicorn before any worker starts. Command-line flags override everything here. See
docs/OPERATIONS.md.

Why these choices:
- gthread workers: a request spends most of its time waiting for the database; threads let one
  worker's concurrent single appends share a transaction (the service's group commit), while
  several processes use several CPUs for parsing and Ed25519 verification.
- gevent workers (``LEDGER_WORKER_CLASS=gevent``, PostgreSQL only) do the same with greenlets:
  24 to 37 % more single appends per second on two CPUs (docs/BENCHMARKS.md), as a request costs
  less CPU than under gthread's threads. But a greenlet is never preempted, so a CPU-heavy
  request (a large evidence bundle) holds up every other request of its worker until it is done
  (docs/OPERATIONS.md weighs it). SQLite is refused: its driver blocks the whole process, not one
  greenlet, while it waits for a lock.
- One pooled database connection per thread (``post_fork``), so that a busy worker does not open
  and close a connection per request. Under gevent the app's default pool (16) applies.
- No gunicorn access log: the app writes one JSON line per request (``ledger.server.logs``) with the
  request id, which gunicorn's access log cannot know.
- No control socket: nothing needs runtime control, and one socket path per host would clash
  between several servers on one machine.
- Heartbeat files in /dev/shm (memory), so a slow disk cannot stall a worker into a timeout.
- Prometheus multiprocess mode: every worker writes its counters to files in one directory and a
  scrape of any worker sums them all; ``child_exit`` retires a dead worker's live gauges.
- gunicorn's own refusals of malformed HTTP (request line, headers, its limits) are answered as
  the app answers errors, ``application/problem+json`` with a stable code, not gunicorn's HTML
  page: gunicorn has no setting or hook for that answer, so ``_problem_write_error`` replaces
  the one function that writes it (``gunicorn.util.write_error``, same signature since
  gunicorn 19); tests/http/test_body_framing.py checks it on every worker class.
- gunicorn's request limits are set here, next to each other, and documented with the app's
  own limits in docs/OPERATIONS.md.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import gunicorn.util

from ledger.server.config import TEXT, BadSetting, Config, Parser, choice, integer

_env = os.environ
_T = TypeVar("_T")
#: gunicorn's settings read from the environment: (variable, parser), in order.
SETTINGS: list[tuple[str, Parser[Any]]] = []


def _setting(variable: str, default: _T, parser: Parser[_T]) -> _T:
    """The setting from ``variable`` (unset or empty: ``default``); a bad value stops gunicorn
    with a message that names the variable and what it expects."""
    SETTINGS.append((variable, parser))
    raw = _env.get(variable)
    if not raw:
        return default
    try:
        return parser.parse(variable, raw)
    except BadSetting as e:
        raise SystemExit(str(e)) from None


try:
    _app = Config.from_env()  # the app's settings that gunicorn needs: bind address, database
except BadSetting as e:
    raise SystemExit(str(e)) from None
bind = [_setting("LEDGER_BIND", f"{_app.host}:{_app.port}", TEXT)]
WORKER_CLASSES = ("gthread", "gevent")
worker_class = _setting("LEDGER_WORKER_CLASS", "gthread", choice(*WORKER_CLASSES))
if worker_class == "gevent" and not _app.database_url.startswith("postgresql"):
    raise SystemExit(
        f"LEDGER_WORKER_CLASS=gevent needs PostgreSQL ({Config.variable('database_url')}): "
        "SQLite's driver would block the whole worker while it waits for the write lock"
    )
workers = _setting("LEDGER_WORKERS", os.cpu_count() or 2, integer(1))
threads = _setting("LEDGER_THREADS", 8, integer(1))  # gthread only
# A worker whose main loop is silent this long is killed and replaced. gthread beats from its
# main thread, so a long request does not trip it; a hung process does. 0: never.
timeout = _setting("LEDGER_TIMEOUT", 30, integer(0))
graceful_timeout = 30  # SIGTERM: finish requests in flight (their appends commit or roll back)
keepalive = 75  # longer than a load balancer's idle timeout (60 s on most), to avoid resets
max_requests = 0  # no recycling: memory must stay flat on its own (scripts/load_test.py)
accesslog = None
errorlog = "-"
loglevel = "info"
control_socket_disable = True
_shm = "/dev/shm"  # noqa: S108 - a memory filesystem is the point: see the module docstring
worker_tmp_dir = _shm if os.path.isdir(_shm) else None
# gunicorn's request limits (beyond them: 414, 431 or 400 malformed_http, before the app).
limit_request_line = 8190  # bytes of the request line (method, target, version)
limit_request_fields = 100  # header fields per request
limit_request_field_size = (
    8190  # bytes of one header field (name and value); also a chunk-size line
)


def _problem_write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it refuses itself, as problem+json (see the docstring)."""
    try:
        # In the worker, where the app (and so ledger.server.api) is already imported.
        from ledger.server.api.problems import PROBLEM_MEDIA_TYPE, server_refusal  # noqa: PLC0415

        body = server_refusal(status_int, reason, mesg)
    except Exception:  # never fail worse than gunicorn would: its own page then
        _gunicorn_write_error(sock, status_int, reason, mesg)
        return
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)


_gunicorn_write_error = gunicorn.util.write_error
if _gunicorn_write_error.__name__ == "write_error":  # not twice (a reload reads this file again)
    gunicorn.util.write_error = _problem_write_error

# Prometheus multiprocess mode must be chosen before any worker imports prometheus_client, so the
# directory is settled here, when gunicorn (the master) reads this file.
_PROM_ENV = "PROMETHEUS_MULTIPROC_DIR"
_prom_owned = not _env.get(_PROM_ENV)
if _prom_owned:
    _env[_PROM_ENV] = tempfile.mkdtemp(prefix="ledger-prometheus-")
_prom_dir = Path(_env[_PROM_ENV])


def on_starting(server: Any) -> None:
    """Start from empty metric files: samples of an earlier run would be summed in."""
    _prom_dir.mkdir(parents=True, exist_ok=True)
    for stale in _prom_dir.glob("*.db"):
        stale.unlink()


def post_fork(server: Any, worker: Any) -> None:
    """Under gthread, each worker's database pool keeps one connection per thread (unless
    ``LEDGER_DB_POOL_SIZE`` says otherwise): with fewer, a worker busy on all its threads opens and
    closes a connection per request, on PostgreSQL a new server process each time. Set in the
    worker, before it loads the app, from the threads gunicorn runs (flags included)."""
    from gunicorn.workers.gthread import ThreadWorker  # noqa: PLC0415 - gunicorn runs this file

    if worker.cfg.preload_app:  # the app, and its pool, were built in the master before forking
        server.log.warning("preload_app: LEDGER_DB_POOL_SIZE is not derived from the threads")
    elif isinstance(worker, ThreadWorker):
        _env.setdefault(Config.variable("db_pool_size"), str(worker.cfg.threads))


def child_exit(server: Any, worker: Any) -> None:
    """A worker died (or was replaced): drop its live-gauge files; its counters stay summed."""
    # Imported here, not at the top: prometheus_client picks its value store at import time,
    # which must happen after PROMETHEUS_MULTIPROC_DIR is set (workers fork from this process).
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(worker.pid, str(_prom_dir))


def on_exit(server: Any) -> None:
    if _prom_owned:
        shutil.rmtree(_prom_dir, ignore_errors=True)
