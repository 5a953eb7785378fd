"""Shared pieces of the reliability tests: filling a log, its key, and a lying HTTP proxy.

``LyingProxy`` is ``tests.support.proxy.LyingProxy`` (a real HTTP server, a thread of the test
process) in front of a real gunicorn: it forwards every request and lets a test rewrite the
successful answers (``lie(path, query, body) -> body``), so the auditor is tested against a server
that serves tampered data over a real socket.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ledger.client import LogClient
from ledger.core.note import NoteSigner
from ledger.core.statements import SignedStatement
from ledger.server.logkey import load_or_create_log_key
from tests.support import proxy
from tests.support.audit_helpers import Ack, workload

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


#: ``lie(path, query, body) -> body``: rewrites a successful (200) answer; ``path`` has no query.
Lie = Callable[[str, dict[str, str], bytes], bytes]


class LyingProxy(proxy.LyingProxy):
    """``tests.support.proxy.LyingProxy`` in front of ``upstream``, whose ``lie`` sees 200 answers
    only."""

    def __init__(self, upstream: str, lie: Lie | None = None) -> None:
        super().__init__(upstream, None if lie is None else _on_success(lie), timeout=30)


def _on_success(lie: Lie) -> proxy.Lie:
    def hook(_method: str, path: str, status: int, body: bytes) -> bytes:
        if status != 200:
            return body
        parts = urlsplit(path)
        return lie(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}, body)

    return hook
