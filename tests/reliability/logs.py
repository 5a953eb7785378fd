"""Shared pieces of the reliability tests: filling a log, its key, and a lying HTTP proxy.

``LyingProxy`` is a real HTTP server (a thread of the test process) in front of a real gunicorn:
it forwards every GET and lets a test rewrite the answer (``lie(path, query, body) -> body``),
so the auditor is tested against a server that serves tampered data over a real socket.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ledger.client import LogClient
from ledger.core.note import NoteSigner
from ledger.core.statements import SignedStatement
from ledger.logkey import load_or_create_log_key
from tests.audit_helpers import Ack, workload

ORIGIN = "test.example/log"


def log_signer(key_file: Path, origin: str = ORIGIN) -> NoteSigner:
    return NoteSigner.from_private_key(origin, load_or_create_log_key(key_file).private_key)


def vkey_of(key_file: Path, origin: str = ORIGIN) -> str:
    return log_signer(key_file, origin).verifier().to_vkey()


def post_groups(url: str, groups: list[list[SignedStatement]]) -> list[Ack]:
    """Append each group (one statement: POST /v1/entries; more: a batch); returns the acks."""
    log = LogClient(url)
    acks: list[Ack] = []
    for group in groups:
        if len(group) == 1:
            acks.append(log.append(group[0].to_json()))
            continue
        body = log.append_batch([s.to_json() for s in group])
        assert body["accepted"] == len(group), body
        acks.extend({**r, "tree_size": body["tree_size"]} for r in body["results"])
    return acks


def fill(url: str, clients: int = 3, per_client: int = 30) -> list[Ack]:
    """``clients`` workloads one after the other (singles and batches, two signers included)."""
    return [ack for c in range(clients) for ack in post_groups(url, workload(c, per_client))]


Lie = Callable[[str, dict[str, str], bytes], bytes]


class LyingProxy:
    """An HTTP server forwarding GETs to ``upstream``; ``lie`` may rewrite each answer body."""

    def __init__(self, upstream: str, lie: Lie | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.lie: Lie = lie or (lambda _path, _query, body: body)
        self.requests: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy._forward(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        self.requests.append(handler.path)
        try:
            with urllib.request.urlopen(self.upstream + handler.path, timeout=30) as resp:
                status, ctype, body = resp.status, resp.headers["Content-Type"], resp.read()
        except urllib.error.HTTPError as e:
            status, ctype, body = e.code, e.headers["Content-Type"], e.read()
        if status == 200:
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            body = self.lie(parts.path, query, body)
        handler.send_response(status)
        handler.send_header("Content-Type", ctype or "application/octet-stream")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def __enter__(self) -> LyingProxy:
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
