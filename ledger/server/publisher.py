"""The log side of witnessing: submit new checkpoints to witnesses, publish cosigned ones.

With a witness policy (``LEDGER_WITNESS_POLICY``) a publisher runs beside the append path, never
inside it: appends commit and sign their checkpoint as before, and each publisher round then

1. reads the latest signed checkpoint (size S) and the latest published (cosigned) one;
2. if S is newer, sends it to every witness of the policy that has a URL
   (c2sp.org/tlog-witness ``POST <url>/add-checkpoint``: ``old <size>``, the consistency proof from
   the size the witness last cosigned, a blank line, the checkpoint), in parallel;
   a ``409`` with ``text/x.tlog.size`` tells the witness's real size: the request is retried from
   there;
3. keeps only cosignature lines that verify under the policy's witness keys;
4. if those witnesses meet the quorum, appends the checkpoint note with their cosignature lines
   to ``cosigned_checkpoints``: that note becomes ``/tlog/checkpoint``. Otherwise nothing is
   published and the previous cosigned checkpoint stays the published one.

Rounds are serialized across threads, workers and hosts by a try-lock (a file lock next to the
SQLite database, a session advisory lock on PostgreSQL): a worker that finds the lock taken skips
its round.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from ledger.core import merkle
from ledger.core.encoding import b64_encode
from ledger.core.errors import LedgerError, MalformedPolicy, Unavailable
from ledger.core.note import NoteSignature, format_signature_line, parse_note
from ledger.core.policy import PolicyWitness, WitnessPolicy, cosignatures_in, parse_policy
from ledger.server.storage import repository as repo
from ledger.server.storage.db import Database

log = logging.getLogger(__name__)

#: PostgreSQL advisory lock key of the publisher round (distinct from the append lock).
PUBLISH_LOCK_KEY = 0x4C454749
SIZE_MEDIA_TYPE = "text/x.tlog.size"
USER_AGENT = "consent-ledger-publisher/1"
MAX_409_RETRIES = 3


@dataclass(frozen=True)
class RoundResult:
    """What one round did: the size tried, the witnesses that cosigned, whether it published."""

    tree_size: int
    cosigned_by: tuple[str, ...]
    published: bool


class WitnessPublisher:
    """Gets checkpoints cosigned by the policy's witnesses and publishes those meeting quorum."""

    def __init__(self, db: Database, policy: WitnessPolicy, timeout: float = 5.0) -> None:
        self.db = db
        self.policy = policy
        self.timeout = timeout
        self.witnesses = [w for w in policy.witnesses.values() if w.url]
        #: Last size each witness is known to have cosigned (learned from 200s and 409s).
        self._known: dict[str, int] = {}
        self._rounds = Rounds("witness-publisher", self.run_once, self._round_failed, 10)

    # --- one round ----------------------------------------------------------------------------

    def run_once(self) -> RoundResult | None:
        """One round (see the module docstring). None if another round holds the lock or there
        is nothing new to publish. Witness failures are logged, not raised."""
        with self._round_lock() as locked:
            if not locked:
                return None
            latest = self._latest()
            if latest is None:
                return None
            size, note = latest
            lines = self._collect(size, note)
            return self._publish(size, note, lines)

    def _latest(self) -> tuple[int, str] | None:
        with self.db.read_session() as session, session.begin():
            cp = repo.latest_checkpoint(session)
            done = repo.latest_cosigned_checkpoint(session)
        if cp is None or (done is not None and done.tree_size >= cp.tree_size):
            return None
        return cp.tree_size, cp.note

    def _collect(self, size: int, note: str) -> dict[str, NoteSignature]:
        """Valid cosignature lines by policy witness name."""
        if not self.witnesses:
            return {}
        with ThreadPoolExecutor(max_workers=len(self.witnesses)) as pool:
            answers = list(pool.map(lambda w: self._submit(w, size, note), self.witnesses))
        text_, _ = parse_note(note)
        good: dict[str, NoteSignature] = {}
        for witness, sigs in zip(self.witnesses, answers, strict=True):
            for sig in sigs:
                if witness.name not in good and cosignatures_in(text_, [sig], [witness]):
                    good[witness.name] = sig
        return good

    def _publish(self, size: int, note: str, lines: dict[str, NoteSignature]) -> RoundResult:
        names = tuple(n for n in self.policy.witnesses if n in lines)
        if not self.policy.satisfied_by(names):
            log.warning("checkpoint %d: cosigned by %s, quorum not met", size, list(names))
            return RoundResult(size, names, False)
        cosigned = note + "".join(format_signature_line(lines[n]) for n in names)
        try:
            with self.db.append_transaction() as session:
                repo.add_cosigned_checkpoint(session, size, cosigned, datetime.now(UTC))
        except IntegrityError:  # published meanwhile by another host's publisher
            return RoundResult(size, names, False)
        return RoundResult(size, names, True)

    # --- talking to one witness -----------------------------------------------------------------

    def _submit(self, witness: PolicyWitness, size: int, note: str) -> list[NoteSignature]:
        """add-checkpoint to one witness; its signature lines ([] on any failure)."""
        old = self._known.get(witness.name, 0)
        try:
            for _ in range(MAX_409_RETRIES):
                if old > size:
                    log.error("witness %s is at size %d, beyond ours (%d)", witness.name, old, size)
                    return []
                status, ctype, body = self._post(witness, self._request_body(old, size, note))
                if status == 200:
                    self._known[witness.name] = size
                    return _signature_lines(note, body)
                if status == 409 and ctype.split(";")[0].strip() == SIZE_MEDIA_TYPE:
                    old = _parse_size(body)
                    self._known[witness.name] = old
                    continue
                log.error(
                    "witness %s refused checkpoint %d: HTTP %d %r",
                    witness.name,
                    size,
                    status,
                    body[:200],
                )
                return []
        except (OSError, LedgerError, ValueError) as e:
            log.warning("witness %s unreachable or answered badly: %s", witness.name, e)
        return []

    def _request_body(self, old: int, size: int, note: str) -> bytes:
        proof: list[bytes] = []
        if 0 < old < size:
            with self.db.read_session() as session, session.begin():
                proof = merkle.consistency_proof(old, size, repo.SessionHashReader(session))
        lines = [f"old {old}", *(b64_encode(h) for h in proof)]
        return ("\n".join(lines) + "\n\n" + note).encode()

    def _post(self, witness: PolicyWitness, body: bytes) -> tuple[int, str, bytes]:
        url = (witness.url or "").rstrip("/") + "/add-checkpoint"
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"witness URL is not http(s): {url}")
        req = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - http(s) only
        req.add_header("User-Agent", USER_AGENT)
        req.add_header("Content-Type", "text/plain; charset=utf-8")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return resp.status, resp.headers.get("Content-Type", ""), resp.read(65536)
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read(65536)

    # --- the lock and the background thread -----------------------------------------------------

    def _round_lock(self) -> contextlib.AbstractContextManager[bool]:
        return try_lock(self.db, PUBLISH_LOCK_KEY, "publisher.lock")

    def start(self, interval: float, ready: Callable[[], None] | None = None) -> None:
        """Run rounds every ``interval`` seconds in a thread until ``stop()`` (``Rounds``)."""
        self._rounds.start(interval, ready)

    def stop(self) -> None:
        self._rounds.stop()

    def _round_failed(self, error: Exception) -> None:
        if isinstance(error, Unavailable):
            return  # the database is away or not this log's: the gate has said so in the log
        log.exception("witness publisher round failed")


class Rounds:
    """``run_round()`` every ``interval`` seconds in a daemon thread until ``stop()``, each round
    only after ``ready()`` returns (the app's database gate, ``ledger.server.readiness``: no round
    reads or writes a database that is not prepared, or that holds another log). A round that
    raises is handed to ``on_error`` (called inside the ``except``, so it may log the traceback)
    and never kills the thread. The witness and the static publishers run on it."""

    def __init__(
        self,
        name: str,
        run_round: Callable[[], object],
        on_error: Callable[[Exception], None],
        join_timeout: float,
    ) -> None:
        self.name = name
        self.run_round = run_round
        self.on_error = on_error
        self.join_timeout = join_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, interval: float, ready: Callable[[], None] | None = None) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._loop, args=(interval, ready), name=self.name, daemon=True
        )
        self._thread.start()

    def _loop(self, interval: float, ready: Callable[[], None] | None) -> None:
        while not self._stop.wait(interval):
            try:
                if ready is not None:
                    ready()
                self.run_round()
            except Exception as e:  # a round must never kill the thread
                self.on_error(e)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout)
            self._thread = None


@contextlib.contextmanager
def try_lock(db: Database, pg_key: int, file_suffix: str) -> Iterator[bool]:
    """A try-lock that serializes a background round across threads, workers and hosts: yields
    False (at once) when another holder has it. On SQLite a file lock next to the database
    (``<database>.<file_suffix>``), on PostgreSQL the session advisory lock ``pg_key``."""
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":
        path = Path(f"{url.database or 'memory'}.{file_suffix}")
        with open(path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        return
    with db.engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": pg_key})
        locked = bool(got.scalar())
        conn.commit()
        try:
            yield locked
        finally:
            if locked:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": pg_key})
                conn.commit()


def load_policy(path: Path) -> WitnessPolicy:
    """Read and parse a policy file; raises MalformedPolicy (unreadable files included)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise MalformedPolicy(f"cannot read witness policy {path}: {e.strerror}") from e
    return parse_policy(data)


def _signature_lines(note: str, body: bytes) -> list[NoteSignature]:
    """The signature lines of an add-checkpoint answer.

    tlog-witness suggests it: the answer appended to the checkpoint note must parse as a note;
    the lines past the note's own are the witness's. Raises MalformedNote or UnicodeDecodeError.
    """
    _, before = parse_note(note)
    _, after = parse_note(note + body.decode("utf-8"))
    return after[len(before) :]


def _parse_size(body: bytes) -> int:
    text_ = body.decode("ascii")
    if not text_.endswith("\n") or not text_[:-1].isdigit():
        raise ValueError("a text/x.tlog.size body is a decimal size and a newline")
    return int(text_[:-1])
