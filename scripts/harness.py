"""What the service benchmarks share: a fresh database, the real server under gunicorn with the
repository's gunicorn.conf.py (or, with ``--server granian``, under granian: ``granian()`` says
what differs), pre-signed statements, and /proc readings (CPU, RSS, workers).

Used by scripts/bench_service.py and scripts/load_test.py (import ``harness`` from scripts/).
The server runs with rate limiting off (a benchmark is one client address sending thousands of
requests a second) and writes its output, including the JSON request log, to
``WORKDIR/server.log``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402 - after the path set-up
from sqlalchemy.engine import make_url  # noqa: E402

from ledger.core import builders  # noqa: E402
from ledger.core.keys import SigningKey  # noqa: E402

ORIGIN = "localhost/consent-ledger-bench"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
JSON_HEADERS = {"Content-Type": "application/json"}


# --- statements ----------------------------------------------------------------------------------


def sign_registers(count: int) -> list[bytes]:
    """``count`` wire envelopes of ``party.register`` statements, each with a fresh key."""
    return [
        json.dumps(builders.party_register(SigningKey.generate(), f"bench {i}").to_json()).encode()
        for i in range(count)
    ]


def presign(count: int, procs: int) -> list[bytes]:
    """Sign ``count`` statements in ``procs`` processes (before any clock starts)."""
    chunk = 1_000
    sizes = [min(chunk, count - i) for i in range(0, count, chunk)]
    with mp.Pool(procs) as pool:
        return [w for part in pool.imap(sign_registers, sizes) for w in part]


def sign_grants(job: tuple[list[str], str, int, int]) -> list[bytes]:
    """``count`` wire envelopes of ``grant`` statements (compact JSON, ~1,050 bytes with two
    content items), from the creators (seeds in hex) in turn, all naming one buyer key."""
    creator_seeds, buyer_key_id, start, count = job
    creators = [SigningKey.from_seed(bytes.fromhex(s)) for s in creator_seeds]
    terms = builders.TermsSpec(revocable=True, notice_days=30)
    out = []
    for i in range(start, start + count):
        items = [
            builders.Item(sha256=uuid.uuid4().hex * 2, bytes=10_000_000 + j, duration_s=60 + j)
            for j in range(2)
        ]
        g = builders.grant(creators[i % len(creators)], buyer_key_id, str(uuid.uuid4()), items,
                           terms)  # fmt: skip
        out.append(json.dumps(g.to_json(), separators=(",", ":")).encode())
    return out


@dataclass
class GrantParties:
    """The parties of grant statements: creators and one buyer, registered before any grant."""

    creator_seeds: list[str]
    buyer_seed: str

    @classmethod
    def generate(cls, creators: int = 16) -> GrantParties:
        return cls([os.urandom(32).hex() for _ in range(creators)], os.urandom(32).hex())

    def registers(self) -> list[bytes]:
        """The ``party.register`` envelopes of the creators and the buyer (to send first)."""
        seeds = [*self.creator_seeds, self.buyer_seed]
        return [
            json.dumps(
                builders.party_register(
                    SigningKey.from_seed(bytes.fromhex(s)), f"grantor {i}"
                ).to_json()
            ).encode()
            for i, s in enumerate(seeds)
        ]

    def presign(self, count: int, procs: int) -> list[bytes]:
        """``count`` grant envelopes signed in ``procs`` processes (before any clock starts)."""
        buyer = SigningKey.from_seed(bytes.fromhex(self.buyer_seed)).key_id
        chunk = 1_000
        jobs = [
            (self.creator_seeds, buyer, i, min(chunk, count - i)) for i in range(0, count, chunk)
        ]
        with mp.Pool(procs) as pool:
            return [w for part in pool.imap(sign_grants, jobs) for w in part]


def batch_body(wires: Sequence[bytes]) -> bytes:
    return b'{"statements":[' + b",".join(wires) + b"]}"


# --- the server ----------------------------------------------------------------------------------


def add_server_args(p: argparse.ArgumentParser, threads: int) -> None:
    """The options every service benchmark takes: backend, database server, gunicorn size."""
    p.add_argument("--db", choices=("postgres", "sqlite"), default="postgres", help="backend")
    p.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server (its database is "
                   "only used to CREATE/DROP the benchmark database)")  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep the database and work directory")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers")
    p.add_argument("--threads", type=int, default=threads, help="gunicorn threads per worker "
                   "(gthread)")  # fmt: skip
    p.add_argument("--worker-class", choices=("gthread", "gevent"), default="gthread",
                   help="gunicorn worker class (LEDGER_WORKER_CLASS; gevent: PostgreSQL "
                   "only)")  # fmt: skip
    p.add_argument("--server", choices=SERVERS, default="gunicorn", help="the HTTP server: "
                   "gunicorn with gunicorn.conf.py, or granian (WSGI, --workers processes of "
                   "--threads blocking threads; --worker-class does not apply)")  # fmt: skip


@dataclass
class Server:
    url: str  # database URL
    base_port: int
    proc: subprocess.Popen[bytes]
    workdir: Path
    #: The parties of pre-signed grants, once registered on this server (bench_service).
    grant_parties: GrantParties | None = None

    def worker_pids(self) -> list[int]:
        return sorted(children(self.proc.pid))

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return (self.workdir / "server.log").read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(kind: str, pg_url: str, keep: bool, workdir: Path) -> Iterator[str]:
    """A fresh, empty database URL; dropped afterwards unless ``keep``."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'ledger.db'}"
        return
    name = f"ledger_bench_{os.getpid()}_{int(time.time())}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name}", flush=True)
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


SERVERS = ("gunicorn", "granian")


def app_server(
    kind: str,
    url: str,
    workdir: Path,
    workers: int,
    threads: int,
    port: int = 0,
    keepalive: int = 30,
    worker_class: str = "gthread",
    env: Mapping[str, str] | None = None,
) -> AbstractContextManager[Server]:
    """The server ``--server`` names (``SERVERS``), on ``url``; ``env``: more settings."""
    if kind == "granian":
        return granian(url, workdir, workers, threads, port, env=env)
    return gunicorn(url, workdir, workers, threads, port, keepalive, worker_class, env)


def _server_env(url: str, workdir: Path, env: Mapping[str, str] | None) -> dict[str, str]:
    return {
        **os.environ,
        **(env or {}),
        "LEDGER_DATABASE_URL": url,
        "LEDGER_LOG_KEY_FILE": str(workdir / "log-key.pem"),
        "LEDGER_ORIGIN": ORIGIN,
        "LEDGER_RATE_LIMIT": "off",
        "LEDGER_READ_RATE_LIMIT": "off",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
    }


@contextmanager
def granian(
    url: str,
    workdir: Path,
    workers: int,
    threads: int,
    port: int = 0,
    extra: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """granian serving ``wsgi:app`` on ``url``, with what gunicorn.conf.py's hooks do for
    gunicorn done here: one pooled connection per blocking thread (``LEDGER_DB_POOL_SIZE``, as
    ``post_fork``), an empty Prometheus directory (``on_starting``). Not the same: gunicorn's
    problem+json answer to malformed HTTP (granian answers those itself), its request limits,
    timeouts and heartbeat; granian's access log is off (the app writes its own). ``extra``:
    more granian options (scripts/bench_peers.py mounts its static route)."""
    port = port or free_port()
    (workdir / "prometheus").mkdir(parents=True, exist_ok=True)
    environ = _server_env(url, workdir, env)
    environ.setdefault("LEDGER_DB_POOL_SIZE", str(threads))  # as post_fork: unless set already
    cmd = [
        sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--blocking-threads", str(threads),
        "--http", "1", "--no-ws", "--no-access-log", *extra, "wsgi:app",
    ]  # fmt: skip
    print("server: " + " ".join(cmd[1:]), flush=True)
    yield from _run_server(cmd, environ, url, workdir, workers, port)


@contextmanager
def gunicorn(
    url: str,
    workdir: Path,
    workers: int,
    threads: int,
    port: int = 0,
    keepalive: int = 30,
    worker_class: str = "gthread",
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """``gunicorn -c gunicorn.conf.py`` on ``url`` with a temporary key; stopped at exit."""
    port = port or free_port()
    environ = {**_server_env(url, workdir, env), "LEDGER_WORKER_CLASS": worker_class}
    cmd = [
        sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
        "-w", str(workers), "--threads", str(threads),
        "-b", f"127.0.0.1:{port}", "--keep-alive", str(keepalive),
        "wsgi:app",
    ]  # fmt: skip
    print(f"server: LEDGER_WORKER_CLASS={worker_class} " + " ".join(cmd[1:]), flush=True)
    yield from _run_server(cmd, environ, url, workdir, workers, port)


def _run_server(
    cmd: list[str], env: dict[str, str], url: str, workdir: Path, workers: int, port: int
) -> Iterator[Server]:
    """Start ``cmd``, wait until it answers with ``workers`` worker processes, stop it at exit."""
    with open(workdir / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)
    server = Server(url, port, proc, workdir)
    try:
        _wait_ready(server, workers)
        yield server
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 30 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_ready(server: Server, workers: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(
                f"the server exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            status, _ = request(http.client.HTTPConnection("127.0.0.1", server.base_port), "GET",
                                "/readyz")  # fmt: skip
            if status == 200 and len(server.worker_pids()) == workers:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready within 120 s")


def request(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes]:
    conn.request(method, path, body, JSON_HEADERS if body is not None else {})
    resp = conn.getresponse()
    return resp.status, resp.read()


class LeanConnection:
    """A minimal HTTP/1.1 keep-alive client for load generation, over one socket.

    The clients of a benchmark share this machine's two cores with the server they measure:
    with ``http.client`` (building the request, parsing the response headers with the email
    package) scripts/bench_service.py's clients spent ~290 us of CPU per single append, with this
    ~120 us, their own bookkeeping included. It sends a request and reads one response by its
    Content-Length, which every response of our server has (no chunked bodies); it reconnects when
    the server closes the connection. A response without Content-Length is an error here.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.address = (host, port)
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buffer = sock, b""
        return sock

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.address[0]}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        sock = self.sock or self._connect()
        sock.sendall(head.encode() + b"\r\n" + (body or b""))
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._receive(sock)
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
        }
        length = int(headers["content-length"])
        start = end + 4
        while len(self.buffer) < start + length:
            self._receive(sock)
        data, self.buffer = self.buffer[start : start + length], self.buffer[start + length :]
        if headers.get("connection", "").lower() == "close":
            sock.close()
            self.sock = None
        return int(lines[0].split(" ", 2)[1]), data

    def _receive(self, sock: socket.socket) -> None:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-response")
        self.buffer += chunk


def tree_size(port: int) -> int:
    status, body = request(http.client.HTTPConnection("127.0.0.1", port), "GET", "/v1/log")
    assert status == 200, body
    return int(json.loads(body)["tree_size"])


# --- /proc ---------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    try:
        fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float | None:
    """Resident set size of ``pid`` in MiB (VmRSS), or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def machine() -> str:
    load = os.getloadavg()[0]
    return (f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
            f"load average {load:.2f} at start")  # fmt: skip
