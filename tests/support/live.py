"""A real server for tests: gunicorn serving ``wsgi:app`` in a subprocess, on a free local port.

``LiveServer`` starts gunicorn in its own session (so the whole process group, master and workers,
can be signalled at once), captures its output to files, waits until every worker has loaded the
app and ``/readyz`` answers, and stops it (SIGTERM, then SIGKILL). ``kill()`` SIGKILLs the group
mid-flight, for crash tests; ``start()`` may be called again afterwards on the same database
and key.

The HTTP load generator the concurrency and crash tests share lives here too (``run_http_client``):
it is importable by ``multiprocessing`` children started with ``spawn``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from ledger.server.config import PROJECT_ROOT

#: Written next to the logs: makes every worker announce that it loaded the app (and so, if the
#: database answered, finished its auto-migration and log identity check), which "/readyz
#: answered once" cannot show.
_GUNICORN_CONF = """\
import sys

def post_worker_init(worker):
    print(f"ledger-live: worker ready pid={worker.pid}", file=sys.stderr, flush=True)
"""
_READY_RE = re.compile(r"ledger-live: worker ready pid=(\d+)")
#: With ``repo_config=True`` the repository's gunicorn.conf.py is loaded first (as deployed: its
#: hooks, Prometheus multiprocess mode, timeouts); the command line still sets workers and bind.
_REPO_CONF_PRELUDE = """\
import runpy

globals().update(
    {k: v for k, v in runpy.run_path(%r).items() if not k.startswith("__")}
)
_repo_post_worker_init = globals().get("post_worker_init")
"""
_CHAINED_READY_HOOK = """\

def post_worker_init(worker):
    if _repo_post_worker_init is not None:
        _repo_post_worker_init(worker)
    print(f"ledger-live: worker ready pid={worker.pid}", file=sys.stderr, flush=True)
"""


def stop_group(proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """SIGTERM to the process group ``proc`` leads (started with ``start_new_session``), SIGKILL
    if it has not exited within ``timeout`` seconds; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class LiveServerError(RuntimeError):
    """gunicorn did not come up; the message ends with the tail of its stderr."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """gunicorn (gthread unless told otherwise) serving the ledger on ``database_url`` with the
    given key and origin."""

    def __init__(
        self,
        database_url: str,
        log_key_file: Path,
        log_dir: Path,
        *,
        origin: str = "test.example/log",
        workers: int = 4,
        threads: int = 4,
        env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
        repo_config: bool = False,
        worker_class: str | None = "gthread",
    ) -> None:
        self.database_url = database_url
        self.log_key_file = Path(log_key_file)
        self.log_dir = Path(log_dir)
        self.origin = origin
        self.workers = workers
        self.threads = threads
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.repo_config = repo_config
        self.worker_class = worker_class  # None: gunicorn.conf.py decides (with repo_config)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.stderr_path = self.log_dir / "gunicorn-0.stderr"

    @property
    def url(self) -> str:
        if self.proc is None:
            raise LiveServerError("the server is not running")
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, *, database: bool = True) -> LiveServer:
        """Start gunicorn and wait until all workers are ready and (unless ``database`` is
        False: a start during an outage) ``/readyz`` answers 200; retry once on a port clash."""
        if self.proc is not None:
            raise LiveServerError("already running")
        for attempt in range(3):
            try:
                self._spawn()
                self._wait_ready(database)
                return self
            except LiveServerError as e:
                self._reap()
                if "Address already in use" not in str(e) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        conf = self.log_dir / "gunicorn_conf.py"
        conf.write_text(self._conf_text())
        self.port = free_port()
        self.stderr_path = self.log_dir / f"gunicorn-{self.starts}.stderr"
        self.starts += 1
        env = {
            **os.environ,
            "LEDGER_DATABASE_URL": self.database_url,
            "LEDGER_LOG_KEY_FILE": str(self.log_key_file),
            "LEDGER_ORIGIN": self.origin,
            "PYTHONUNBUFFERED": "1",
            "LEDGER_RATE_LIMIT": "off",  # many requests from one address
            "LEDGER_READ_RATE_LIMIT": "off",
            **self.extra_env,
        }
        if self.repo_config:  # inside the test's tmp dir, so a SIGKILLed master leaks nothing
            env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(self.log_dir / "prometheus"))
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(conf),
            "-w",
            str(self.workers),
            *(["-k", self.worker_class] if self.worker_class else []),
            "--threads",
            str(self.threads),
            "--no-control-socket",  # several test servers may run at once
            "--graceful-timeout",
            "5",
            "-b",
            f"127.0.0.1:{self.port}",
            "wsgi:app",
        ]
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                cmd,
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,  # its own process group: killpg reaches every worker
            )

    def _conf_text(self) -> str:
        if not self.repo_config:
            return _GUNICORN_CONF
        prelude = _REPO_CONF_PRELUDE % str(PROJECT_ROOT / "gunicorn.conf.py")
        return "import sys\n" + prelude + _CHAINED_READY_HOOK

    def _wait_ready(self, database: bool = True) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise LiveServerError(
                    f"gunicorn exited with {code} at startup\n{self.stderr_tail()}"
                )
            if self.ready_workers() >= self.workers and (not database or self._readyz()):
                return
            time.sleep(0.1)
        raise LiveServerError(
            f"gunicorn not ready after {self.startup_timeout:.0f} s "
            f"({self.ready_workers()}/{self.workers} workers)\n{self.stderr_tail()}"
        )

    def _readyz(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def worker_pids(self) -> set[int]:
        """The master's children now (its workers, live or not yet reaped)."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return {int(p) for p in children.read_text().split()}

    def ready_workers(self) -> int:
        """How many workers (of this start) have loaded the app."""
        return len(self.ready_pids())

    def ready_pids(self) -> set[int]:
        """The workers (of this start) that have loaded the app, by pid."""
        # workers write to one file at once, so two marks may share a line: collect the pids
        return {int(pid) for pid in _READY_RE.findall(self.stderr())}

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, chars: int = 4000) -> str:
        return f"--- gunicorn stderr ({self.stderr_path}) ---\n{self.stderr()[-chars:]}"

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM to the master); SIGKILL the whole group if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self._reap()

    def kill(self) -> None:
        """SIGKILL master and workers at once (a crash, not a shutdown)."""
        self._reap()

    def _reap(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- the HTTP load generator (runs in spawned client processes) ----------------------------------


def run_http_client(
    barrier: Any, out: Any, client_id: int, url: str, count: int, stop_on_error: bool = False
) -> None:
    """Append ``count`` statements of ``client_id``'s workload to the server at ``url``.

    Waits on ``barrier`` so that all clients start at once, then puts
    ``(client_id, acks, error)`` on the queue ``out``: ``acks`` lists every 201 it got as
    ``{seq, leaf_hash, statement_hash, tree_size}``. With ``stop_on_error`` a failed request ends
    the client quietly (the server may have been killed); otherwise it is reported as ``error``.
    """
    import traceback

    import requests

    from tests.support.audit_helpers import workload

    acks: list[dict[str, Any]] = []
    error = None
    try:
        groups = workload(client_id, count)
        barrier.wait(60)
        with requests.Session() as http:
            for group in groups:
                if len(group) == 1:
                    acks.append(_post_one(http, url, group[0].to_json()))
                else:
                    acks.extend(_post_batch(http, url, [s.to_json() for s in group]))
    except Exception:
        if not stop_on_error:
            error = traceback.format_exc()
    out.put((client_id, acks, error))


def _ack(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ("seq", "leaf_hash", "statement_hash", "tree_size")}


def _post_one(http: Any, url: str, envelope: dict[str, Any]) -> dict[str, Any]:
    resp = http.post(f"{url}/v1/entries", json=envelope, timeout=60)
    if resp.status_code != 201:
        raise RuntimeError(f"POST /v1/entries: {resp.status_code} {resp.text[:500]}")
    return _ack(resp.json())


def _post_batch(http: Any, url: str, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resp = http.post(f"{url}/v1/entries/batch", json={"statements": envelopes}, timeout=60)
    body = resp.json() if resp.status_code == 200 else None
    if body is None or body["accepted"] != len(envelopes):
        raise RuntimeError(f"POST /v1/entries/batch: {resp.status_code} {resp.text[:500]}")
    # the items carry no tree_size (BatchItemSchema drops it): the batch committed as one
    return [_ack({**r, "tree_size": body["tree_size"]}) for r in body["results"]]
