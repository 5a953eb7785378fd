"""A transparency log witness (c2sp.org/tlog-witness), standard library HTTP server.

``POST /add-checkpoint`` takes ``old <size>\\n``, up to 63 base64 consistency-proof lines, a blank
line and a signed checkpoint. The witness, in the spec's order:

1. parses the body (400 if malformed);
2. looks up the checkpoint's origin among the logs it follows (404 if unknown);
3. verifies the log's signature with that log's keys, ignoring unknown keys (403 if none verifies);
4. refuses ``old`` larger than the checkpoint size (400);
5. under the origin's lock: compares ``old`` with the size it last cosigned (409, body
   ``<size>\\n``, ``Content-Type: text/x.tlog.size``); for equal sizes requires the same root
   (409); otherwise verifies the RFC 6962 consistency proof from its stored root (422; the proof
   must be empty when ``old`` is 0);
6. persists the new size, root and note atomically (temp file, fsync, rename, fsync of the
   directory) *before* answering, then returns its cosignature line (``200``).

Checking and persisting happen under one lock per origin (a thread lock plus an exclusive
``flock`` on the state file's lock, so two witness processes on one state directory cannot roll
each other back). ``GET /healthz`` answers 200.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ledger.core.checkpoint import Checkpoint, open_checkpoint
from ledger.core.cosignature import Cosigner
from ledger.core.encoding import HASH_SIZE, b64_decode, b64_encode
from ledger.core.errors import InvalidEncoding, LedgerError, MalformedNote, VerificationError
from ledger.core.merkle import verify_consistency
from ledger.core.note import NoteVerifier, parse_note
from ledger.files import atomic_write

log = logging.getLogger(__name__)

SIZE_MEDIA_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
MAX_BODY = 1 << 20
_OLD_RE = re.compile(r"old (0|[1-9][0-9]{0,19})")


class WitnessRefusal(Exception):
    """A refusal with the HTTP status tlog-witness assigns to it (and a body)."""

    def __init__(self, status: int, message: str, content_type: str = "text/plain") -> None:
        super().__init__(message)
        self.status = status
        self.body = message if message.endswith("\n") else message + "\n"
        self.content_type = content_type


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint body."""

    old_size: int
    proof: list[bytes]
    note: str


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint request body; raises WitnessRefusal(400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WitnessRefusal(400, "the body is not UTF-8") from e
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not _OLD_RE.fullmatch(lines[0]):
        raise WitnessRefusal(400, "expected 'old <size>', proof lines, a blank line, a checkpoint")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRefusal(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
    try:
        proof = [b64_decode(line, size=HASH_SIZE, what="proof hash") for line in lines[1:]]
    except InvalidEncoding as e:
        raise WitnessRefusal(400, e.message) from e
    return AddCheckpoint(int(lines[0][4:]), proof, note)


@dataclass(frozen=True)
class LogState:
    size: int
    root_hash: bytes


class StateStore:
    """The latest cosigned (size, root, note) per origin, one JSON file each, written atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, origin: str) -> Path:
        return self.directory / (hashlib.sha256(origin.encode()).hexdigest()[:32] + ".json")

    @contextlib.contextmanager
    def locked(self, origin: str) -> Iterator[None]:
        """Exclusive across processes sharing the directory (flock on a lock file)."""
        with open(self._path(origin).with_suffix(".lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def load(self, origin: str) -> LogState | None:
        try:
            data = json.loads(self._path(origin).read_text())
        except FileNotFoundError:
            return None
        return LogState(int(data["size"]), b64_decode(data["root_hash"], size=HASH_SIZE))

    def save(self, origin: str, cp: Checkpoint, note: str) -> None:
        """temp file in the same directory, fsync, rename over, fsync the directory."""
        data = {"origin": origin, "size": cp.tree_size, "root_hash": b64_encode(cp.root_hash)}
        data["checkpoint"] = note
        atomic_write(self._path(origin), json.dumps(data).encode())


class Witness:
    """Follows a set of logs and cosigns consistent checkpoints. Thread-safe."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: list[NoteVerifier],
        store: StateStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.logs: dict[str, list[NoteVerifier]] = {}
        for v in logs:
            self.logs.setdefault(v.name, []).append(v)
        self.store = store
        self.clock = clock
        self._locks: dict[str, threading.Lock] = {o: threading.Lock() for o in self.logs}

    def add_checkpoint(self, body: bytes) -> str:
        """Handle one add-checkpoint body; returns the cosignature line(s) or raises
        WitnessRefusal with the spec's status."""
        req = parse_add_checkpoint(body)
        cp, text = self._verify_log_signature(req.note)
        if req.old_size > cp.tree_size:
            raise WitnessRefusal(400, "old size is larger than the checkpoint size")
        with self._locks[cp.origin], self.store.locked(cp.origin):
            state = self.store.load(cp.origin)
            self._check_consistent(req, cp, state)
            self.store.save(cp.origin, cp, req.note)
        return self.cosigner.cosign(text, int(self.clock())).line()

    def _verify_log_signature(self, note: str) -> tuple[Checkpoint, str]:
        try:
            text, _ = parse_note(note)
            origin = Checkpoint.parse(text).origin
        except MalformedNote as e:
            raise WitnessRefusal(400, e.message) from e
        verifiers = self.logs.get(origin)
        if verifiers is None:
            raise WitnessRefusal(404, f"unknown log {origin!r}")
        for verifier in verifiers:  # a log may have several keys: one must verify
            try:
                return open_checkpoint(note, verifier)[0], text
            except VerificationError:
                continue
        raise WitnessRefusal(403, "no signature by a trusted key of this log verifies")

    def _check_consistent(self, req: AddCheckpoint, cp: Checkpoint, state: LogState | None) -> None:
        stored = state.size if state else 0
        if req.old_size != stored:
            raise WitnessRefusal(409, f"{stored}\n", SIZE_MEDIA_TYPE)
        if state is not None and cp.tree_size == state.size:
            if cp.root_hash != state.root_hash:
                raise WitnessRefusal(409, "same size, different root hash: the log forked")
            if req.proof:
                raise WitnessRefusal(422, "a proof between equal sizes must be empty")
            return
        if state is None or req.old_size == 0:  # first sight of this log (old == stored == 0)
            if req.proof:
                raise WitnessRefusal(422, "the proof must be empty when the old size is 0")
            return
        try:
            verify_consistency(state.size, cp.tree_size, req.proof, state.root_hash, cp.root_hash)
        except LedgerError as e:
            raise WitnessRefusal(422, f"consistency proof does not verify: {e.message}") from e


def make_handler(witness: Witness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the spec recommends
        server_version = "consent-ledger-witness/1"

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, "ok\n", "text/plain")
            else:
                self._send(404, "not found\n", "text/plain")

        def do_POST(self) -> None:
            if self.path != "/add-checkpoint":
                self._send(404, "not found\n", "text/plain")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                self._send(400, "a body of 1 byte to 1 MiB is required\n", "text/plain")
                return
            try:
                lines = witness.add_checkpoint(self.rfile.read(length))
            except WitnessRefusal as e:
                self._send(e.status, e.body, e.content_type)
                return
            self._send(200, lines, "text/plain; charset=utf-8")

        def _send(self, status: int, body: str, content_type: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return Handler


def make_server(witness: Witness, host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(witness))
    server.daemon_threads = True
    return server
