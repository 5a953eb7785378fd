"""Request bodies over raw sockets, against the servers the project runs: gunicorn as deployed
(the repository's gunicorn.conf.py; gthread on SQLite and PostgreSQL, gevent on PostgreSQL) and
the README's serve command (``ledger serve``: gunicorn with that config on the embedded SQLite
default).

Every body that is malformed, cut short or over its limit, whatever its framing, gets a 4xx
``application/problem+json`` with a stable code, and the log does not grow. The bodies that are
refused carry a valid envelope (or batch) as far as they go, so a server that acted on what it
read would write it. gunicorn refuses some framings itself, before the app sees them (two
Content-Lengths, Content-Length with Transfer-Encoding, a Content-Length that is not a number):
its answer is problem+json ``malformed_http`` too (gunicorn.conf.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ledger.core import builders
from ledger.core.keys import SigningKey
from tests.cli.clitools import ledger_cmd
from tests.conftest import create_pg_database, drop_pg_database
from tests.support.live import LiveServer, free_port

pytestmark = pytest.mark.slow

MAX_BODY = 16 * 1024
MAX_BATCH_BODY = 48 * 1024
MAX_EVIDENCE_BODY = 32 * 1024
LIMITS = {
    "/v1/entries": MAX_BODY,
    "/v1/entries/batch": MAX_BATCH_BODY,
    "/v1/evidence": MAX_EVIDENCE_BODY,
}
SERVER_ENV = {
    "LEDGER_MAX_BODY_BYTES": str(MAX_BODY),
    "LEDGER_MAX_BATCH_BODY_BYTES": str(MAX_BATCH_BODY),
    "LEDGER_MAX_EVIDENCE_BODY_BYTES": str(MAX_EVIDENCE_BODY),
    "LEDGER_RATE_LIMIT": "off",
    "LEDGER_READ_RATE_LIMIT": "off",
}
PROBLEM = "application/problem+json"
HEX = "ab" * 32


# --- bodies: each valid on its own, so that acting on a refused one would write it --------------


def _envelope() -> dict[str, Any]:
    return builders.party_register(SigningKey.generate(), "framing").to_json()


def _body(path: str) -> bytes:
    if path == "/v1/entries":
        return json.dumps(_envelope()).encode()
    if path == "/v1/entries/batch":
        return json.dumps({"statements": [_envelope()]}).encode()
    return json.dumps({"buyer": HEX, "use": "ai_training", "content": [HEX]}).encode()


def _padded(path: str, size: int) -> bytes:
    """The path's valid body, padded with spaces (still valid JSON) to exactly ``size`` bytes."""
    body = _body(path)
    return body + b" " * (size - len(body))


# --- framings: (extra headers, bytes after the head) ---------------------------------------------

Framing = tuple[list[str], bytes]


def _chunks(*parts: bytes, last: bytes = b"0\r\n\r\n") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + last


def chunked_valid(path: str) -> Framing:
    body = _body(path)
    return ["Transfer-Encoding: chunked"], _chunks(body[:10], body[10:])


def chunked_at_limit(path: str) -> Framing:
    return ["Transfer-Encoding: chunked"], _chunks(_padded(path, LIMITS[path]))


def chunked_bad_size(path: str) -> Framing:
    body = _body(path)
    return ["Transfer-Encoding: chunked"], b"zz\r\n" + body + b"\r\n0\r\n\r\n"


def chunked_missing_crlf(path: str) -> Framing:
    body = _body(path)
    return ["Transfer-Encoding: chunked"], b"%x\r\n%sXX0\r\n\r\n" % (len(body), body)


def chunked_bad_extension(path: str) -> Framing:
    body = _body(path)
    return ["Transfer-Encoding: chunked"], b"%x;=bad\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def chunked_oversized(path: str) -> Framing:
    """The valid body padded to the limit, then more: cut at the limit, it would be valid."""
    over = _padded(path, LIMITS[path]) + b"garbage"
    return ["Transfer-Encoding: chunked"], _chunks(over[:1000], over[1000:])


def chunked_cut_in_chunk(path: str) -> Framing:
    body = _body(path)
    return ["Transfer-Encoding: chunked"], b"%x\r\n%s" % (len(body) + 50, body)


def chunked_without_last_chunk(path: str) -> Framing:
    return ["Transfer-Encoding: chunked"], _chunks(_body(path), last=b"")


def length_valid(path: str) -> Framing:
    body = _body(path)
    return [f"Content-Length: {len(body)}"], body


def length_short(path: str) -> Framing:
    """The whole body, but Content-Length promises 100 bytes more (the client half-closes)."""
    body = _body(path)
    return [f"Content-Length: {len(body) + 100}"], body


def length_over_limit(path: str) -> Framing:
    body = _padded(path, LIMITS[path] + 1)
    return [f"Content-Length: {len(body)}"], body


def length_conflicting(path: str) -> Framing:
    body = _body(path)
    return [f"Content-Length: {len(body)}", f"Content-Length: {len(body) + 1}"], body


def length_and_chunked(path: str) -> Framing:
    body = _body(path)
    return [f"Content-Length: {len(body)}", "Transfer-Encoding: chunked"], _chunks(body)


def length_huge(path: str) -> Framing:
    return ["Content-Length: 99999999999999999999999999"], _body(path)


def length_not_a_number(path: str) -> Framing:
    body = _body(path)
    return [f"Content-Length: {len(body)}x"], body


@dataclass(frozen=True)
class Row:
    framing: Callable[[str], Framing]
    status: int
    code: str | None  # None: the request is answered, not refused
    #: the code where gunicorn answers otherwise: it refuses some framings itself
    gunicorn: str | None = None
    paths: tuple[str, ...] = field(default=tuple(LIMITS))

    def expected_code(self, server: str) -> str | None:
        return {"gunicorn": self.gunicorn}[server] or self.code


ROWS = [
    Row(chunked_valid, 0, None),
    Row(chunked_at_limit, 0, None, paths=("/v1/entries",)),
    Row(chunked_bad_size, 400, "malformed_body"),
    Row(chunked_missing_crlf, 400, "malformed_body"),
    Row(chunked_bad_extension, 400, "malformed_body"),
    Row(chunked_oversized, 413, "payload_too_large"),
    Row(chunked_cut_in_chunk, 400, "incomplete_body"),
    Row(chunked_without_last_chunk, 400, "incomplete_body"),
    Row(length_valid, 0, None),
    Row(length_short, 400, "incomplete_body"),
    Row(length_over_limit, 413, "payload_too_large"),
    Row(length_conflicting, 400, "malformed_body", gunicorn="malformed_http"),
    Row(length_and_chunked, 400, "malformed_body", gunicorn="malformed_http"),
    Row(length_huge, 413, "payload_too_large"),
    Row(length_not_a_number, 400, "malformed_body", gunicorn="malformed_http"),
]
CASES = [(row, path) for row in ROWS for path in row.paths]
CASE_IDS = [f"{row.framing.__name__}-{path}" for row, path in CASES]
#: what a request the server answers gets
OK = {"/v1/entries": (201, 1), "/v1/entries/batch": (200, 1), "/v1/evidence": (200, 0)}


# --- raw HTTP -------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(port: int, path: str, framing: Framing) -> Answer:
    """Send one request as these exact bytes, close our side, and read the whole answer."""
    headers, payload = framing
    head = "\r\n".join(
        [
            f"POST {path} HTTP/1.1",
            "Host: 127.0.0.1",
            "Content-Type: application/json",
            *headers,
            "Connection: close",
            "",
            "",
        ]
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head + payload)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before reading everything
            pass
        received = _receive(sock)
    head_bytes, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines)
    answer = Answer(int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, body)
    assert len(body) == int(answer.headers["content-length"]), received
    return answer


def _receive(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes. A server that refuses a body before reading
    all of it closes with bytes unread, which resets the connection after its answer: the reset
    ends the answer (whose Content-Length the caller checks) like a close."""
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        if not received:
            raise
    return bytes(received)


def tree_size(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/log", timeout=30) as resp:
        return int(json.load(resp)["tree_size"])


def check_table(port: int, server: str) -> None:
    """Every row of the table, on every path it applies to, against one running server."""
    failures = []
    for (row, path), case in zip(CASES, CASE_IDS, strict=True):
        before = tree_size(port)
        answer = exchange(port, path, row.framing(path))
        grew = tree_size(port) - before
        code = row.expected_code(server)
        if code is None:
            status, growth = OK[path]
            got = (answer.status, grew)
            if got != (status, growth):
                failures.append(f"{case}: {got} != {(status, growth)}: {answer.body[:300]!r}")
            continue
        problem = answer.json() if answer.headers.get("content-type") == PROBLEM else {}
        got_row = (answer.status, answer.headers.get("content-type"), problem.get("code"), grew)
        if got_row != (row.status, PROBLEM, code, 0):
            failures.append(f"{case}: {got_row} != {(row.status, PROBLEM, code, 0)}")
    assert not failures, "\n".join(failures)


# --- the servers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("worker_class", "backend"),
    [
        ("gthread", "sqlite"),
        pytest.param("gthread", "postgres", marks=pytest.mark.postgres),
        pytest.param("gevent", "postgres", marks=pytest.mark.postgres),  # gevent: PostgreSQL only
    ],
)
def test_body_framings_under_gunicorn(
    worker_class: str, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with _Database(backend, request, tmp_path) as url:
        server = LiveServer(
            url,
            tmp_path / "log-key.pem",
            tmp_path / "gunicorn",
            workers=1,
            threads=4,
            env=SERVER_ENV,
            repo_config=True,
            worker_class=worker_class,
        )
        with server:
            check_table(server.port, "gunicorn")
            assert "Traceback" not in server.stderr(), server.stderr_tail()


def test_body_framings_under_the_readme_serve_command(tmp_path: Path) -> None:
    """``ledger serve``, as the README runs it, on an SQLite database."""
    port = free_port()
    env = {
        **os.environ,
        **SERVER_ENV,
        "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "LEDGER_LOG_KEY_FILE": str(tmp_path / "log-key.pem"),
        "LEDGER_PORT": str(port),
    }
    stderr = tmp_path / "wsgi.stderr"
    with open(stderr, "wb") as err:
        proc = subprocess.Popen(
            [*ledger_cmd(), "serve"], cwd=tmp_path, env=env, stdout=err, stderr=err
        )  # the command execs gunicorn: its master is this process, and SIGTERM stops it
    try:
        _wait_ready(port, proc, stderr)
        check_table(port, "gunicorn")
    finally:
        proc.terminate()
        proc.wait(10)
    assert "Traceback" not in stderr.read_text(), stderr.read_text()[-4000:]


def test_gunicorn_answers_malformed_http_as_problems(
    database_url: str, backend: str, tmp_path: Path
) -> None:
    """gunicorn's own refusals (request line, headers, its limits) are problem+json too."""
    server = LiveServer(
        database_url, tmp_path / "log-key.pem", tmp_path / "g", workers=1, repo_config=True
    )
    cases = [
        (b"GARBAGE\r\n\r\n", 400, "malformed_http"),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "request_line_too_long"),
        (b"GET /healthz HTTP/1.1\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n", 431,
         "header_fields_too_large"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431,
         "header_fields_too_large"),
    ]  # fmt: skip
    with server:
        for raw, status, code in cases:
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(raw)
                received = _receive(sock)
            head, _, body = received.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 %d " % status), head
            assert b"\r\nContent-Type: application/problem+json\r\n" in head + b"\r\n", head
            problem = json.loads(body)
            assert (problem["status"], problem["code"]) == (status, code)
            assert problem["type"].endswith(code)


# --- helpers --------------------------------------------------------------------------------------


class _Database:
    """A fresh migrated database of ``backend`` (the ``database_url`` fixture's, by hand: here the
    backend is a parameter of the test, paired with the worker class)."""

    def __init__(self, backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.backend, self.request, self.tmp_path = backend, request, tmp_path
        self.name: str | None = None

    def __enter__(self) -> str:
        import shutil
        import uuid

        if self.backend == "sqlite":
            template: Path = self.request.getfixturevalue("sqlite_template")
            path = self.tmp_path / "ledger.db"
            shutil.copyfile(template, path)
            return f"sqlite:///{path}"
        template_name: str = self.request.getfixturevalue("pg_template")  # skips without PG
        self.name = f"ledger_t_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        return create_pg_database(self.name, template=template_name)

    def __exit__(self, *exc: object) -> None:
        if self.name is not None:
            drop_pg_database(self.name)


def _wait_ready(port: int, proc: subprocess.Popen[bytes], stderr: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, stderr.read_text()[-4000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"ledger serve not ready\n{stderr.read_text()[-4000:]}")
