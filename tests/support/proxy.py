"""A lying HTTP proxy for tests: a real server (http.server on a thread) in front of a real log.

``LyingProxy`` forwards every GET and POST to ``upstream`` over a real socket and, while its
hooks are set, lets a test change what the client gets:

- ``rewrite_path(path) -> path``: ask the upstream for another path (another entry, an old
  checkpoint);
- ``lie(method, path, status, body) -> body``: rewrite the upstream's answer (``path`` is the one
  the client asked for, query included);
- ``drop_answer(method, path) -> bool``: after the upstream answered (a write is committed),
  close the client's connection without a byte of the answer, as a network cut would;
- ``before(method, path)``: called before the request is forwarded (e.g. to stop a database).

Both hooks may be set or changed while the proxy runs. The CLI tests (``tests/cli``) and the
auditor's reliability tests (``tests/reliability``) share it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

#: ``lie(method, path, status, body) -> body``: rewrites the real server's answer.
Lie = Callable[[str, str, int, bytes], bytes]


class LyingProxy:
    """A real HTTP proxy in front of ``upstream``; ``lie`` and ``rewrite_path`` are its hooks.

    Use it as a context manager: the server thread starts on enter and is shut down on exit.
    """

    def __init__(self, upstream: str, lie: Lie | None = None, *, timeout: float = 60.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.lie = lie
        self.rewrite_path: Callable[[str], str] | None = None
        self.drop_answer: Callable[[str, str], bool] | None = None
        self.before: Callable[[str, str], None] | None = None
        self.timeout = timeout
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy._forward(self, "GET")

            def do_POST(self) -> None:
                proxy._forward(self, "POST")

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep the test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # a stuck upstream must not hang the test's teardown
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _forward(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        data = handler.rfile.read(length) if length else None
        if self.before is not None:
            self.before(method, handler.path)
        path = self.rewrite_path(handler.path) if self.rewrite_path else handler.path
        req = urllib.request.Request(self.upstream + path, data=data, method=method)
        req.add_header("Content-Type", handler.headers.get("Content-Type", "text/plain"))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, ctype, body = resp.status, resp.headers["Content-Type"], resp.read()
        except urllib.error.HTTPError as e:
            status, ctype, body = e.code, e.headers["Content-Type"], e.read()
        drop = self.drop_answer
        if drop is not None and drop(method, handler.path):
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)  # the answer is lost
            return
        lie = self.lie
        if lie is not None:
            body = lie(method, handler.path, status, body)
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
        self.thread.join(10)
