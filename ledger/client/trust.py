"""The client's memory of the log: a pinned log key and the last checkpoint it verified.

"Trust nothing" on the client side: the server's answers are believed only after they are checked
with ``ledger.core`` against what this machine saw before. The state lives in a folder (default
``$XDG_CONFIG_HOME/consent-ledger`` or ``~/.config/consent-ledger``) with one subfolder per log
origin::

    STATE/servers.json            {"http://host:port": "origin", ...}: the origin each URL showed
    STATE/<quoted origin>/log-key.vkey   the log's C2SP verifier key, pinned on first use
    STATE/<quoted origin>/checkpoint     the last verified signed checkpoint (the note, verbatim)

``TrustedLog.refresh`` fetches the latest checkpoint, verifies its signature with the pinned key,
checks that it is never smaller than the last one and consistent with it (RFC 9162 §2.1.4.2), and
returns it *without* saving; ``TrustedLog.verify_entry`` checks that an entry holds exactly the
expected statement and is included in that checkpoint (RFC 9162 §2.1.3.2); only then does
``TrustedLog.save`` advance the state (write temp, fsync, rename). Every failed check raises a
``VerificationError`` subclass and leaves the state untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.client.http import LogClient
from ledger.core.checkpoint import Checkpoint, open_checkpoint
from ledger.core.encoding import b64_decode
from ledger.core.errors import (
    EntryMismatch,
    InvalidKey,
    LedgerError,
    MalformedNote,
    ProofError,
    ServerError,
    StateUnusable,
    TrustError,
    UnverifiedNote,
    VerificationError,
)
from ledger.core.leaf import leaf_hash, split_leaf
from ledger.core.merkle import verify_consistency, verify_inclusion
from ledger.core.note import NoteVerifier, is_valid_key_name
from ledger.core.statements import SignedStatement
from ledger.files import atomic_write

SERVERS_FILE = "servers.json"
KEY_FILE = "log-key.vkey"
CHECKPOINT_FILE = "checkpoint"


def default_state_dir() -> Path:
    """``$XDG_CONFIG_HOME/consent-ledger``, else ``~/.config/consent-ledger``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "consent-ledger"


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose signature was verified, with its note text (to save verbatim)."""

    checkpoint: Checkpoint
    note: str
    previous_size: int  # the size of the last saved checkpoint it was checked against (0: none)

    @property
    def tree_size(self) -> int:
        return self.checkpoint.tree_size

    @property
    def root_hash(self) -> bytes:
        return self.checkpoint.root_hash


class TrustedLog:
    """One log, seen through this machine's state folder. ``notices`` collects what to tell the
    user (a key pinned on first use)."""

    def __init__(self, client: LogClient, state_dir: Path, log_key: str | None = None) -> None:
        self.client = client
        self.state_dir = Path(state_dir)
        self.explicit_key = log_key
        self.notices: list[str] = []
        self._verifier: NoteVerifier | None = None
        self._origin: str | None = None
        #: First-use writes (origin binding, pinned key), made by ``save`` once all checks pass.
        self._pending: list[tuple[Path, bytes]] = []

    # --- identity: origin and pinned key --------------------------------------------------------

    @property
    def verifier(self) -> NoteVerifier:
        """The log key this machine trusts (pinned or given); known after ``refresh()``."""
        assert self._verifier is not None, "call refresh() first"
        return self._verifier

    @property
    def origin_dir(self) -> Path:
        assert self._origin is not None, "call refresh() first"
        name = urllib.parse.quote(self._origin, safe="")
        # quote() leaves dots alone: an origin of "." or ".." must not name a parent folder
        return self.state_dir / (f"%2E{name[1:]}" if name.startswith(".") else name)

    def _bind_origin(self, origin: str) -> None:
        """Remember which origin this URL serves; a URL that changes origin is refused."""
        servers_path = self.state_dir / SERVERS_FILE
        servers = _read_json(servers_path)
        known = servers.get(self.client.base_url)
        if known is not None and known != origin:
            raise TrustError(
                f"{self.client.base_url} served the log {known!r} before and now claims to be"
                f" {origin!r}"
            )
        self._origin = origin
        if known is None:
            servers[self.client.base_url] = origin
            self._pending.append((servers_path, (json.dumps(servers, indent=1) + "\n").encode()))

    def _load_verifier(self) -> NoteVerifier:
        """The pinned key; on first use pin ``--log-key`` or, failing that, the server's own."""
        key_path = self.origin_dir / KEY_FILE
        explicit = None if self.explicit_key is None else _parse_vkey(self.explicit_key)
        if key_path.exists():
            with state_io(key_path):
                pinned = _parse_vkey(key_path.read_text(encoding="utf-8").strip())
            if explicit is not None and explicit != pinned:
                raise TrustError(
                    f"--log-key differs from the key pinned for {self._origin!r} in {key_path}"
                )
            return pinned
        if explicit is not None:
            verifier, how = explicit, "given with --log-key"
        else:
            verifier = _parse_vkey(str(self.client.log_info().get("verifier_key", "")))
            how = "trust on first use"
        if verifier.name != self._origin:
            raise TrustError(f"the log key {verifier.name!r} is not named after {self._origin!r}")
        # Pinned only once a checkpoint has verified under it (see save).
        self._pending.append((key_path, (verifier.to_vkey() + "\n").encode()))
        self.notices.append(f"pinned log key {verifier.to_vkey()} ({how}) in {key_path}")
        return verifier

    # --- checkpoints ----------------------------------------------------------------------------

    def last_checkpoint(self) -> VerifiedCheckpoint | None:
        """The saved checkpoint, re-verified with the pinned key (None before the first save)."""
        path = self.origin_dir / CHECKPOINT_FILE
        if not path.exists():
            return None
        assert self._verifier is not None
        with state_io(path):
            note = path.read_text(encoding="utf-8")
            try:
                cp, _ = open_checkpoint(note, self._verifier)
            except VerificationError as e:
                raise TrustError(
                    f"the checkpoint saved in {path} is not signed by the log key pinned for it"
                    f" (the state was altered): {e.message}"
                ) from e
        return VerifiedCheckpoint(cp, note, cp.tree_size)

    def refresh(self) -> VerifiedCheckpoint:
        """Fetch the latest checkpoint and verify it against the trusted state (saves nothing).

        Raises UnverifiedNote/BadSignature (not signed by the pinned key), TrustError (smaller
        than the last one seen), ProofError/MalformedProof (not consistent with it), ServerError.
        """
        note = self.client.checkpoint()
        origin = note.split("\n", 1)[0]
        if not is_valid_key_name(origin):  # the log key's name, and (quoted) a state folder's
            raise UnverifiedNote(f"the server's checkpoint names no valid origin: {origin[:80]!r}")
        if self._origin is None:
            self._bind_origin(origin)
            self._verifier = self._load_verifier()
        assert self._verifier is not None
        try:
            cp, _ = open_checkpoint(note, self._verifier)
        except MalformedNote as e:
            raise UnverifiedNote(f"the server's checkpoint is malformed: {e.message}") from e
        except VerificationError as e:
            raise UnverifiedNote(
                f"the server's checkpoint is not signed by the log key"
                f" {self._verifier.name}+{self._verifier.key_id:08x} pinned for it ({e.message})"
            ) from e
        previous = self.last_checkpoint()
        if previous is None:
            return VerifiedCheckpoint(cp, note, 0)
        self._check_consistent(previous.checkpoint, cp)
        return VerifiedCheckpoint(cp, note, previous.tree_size)

    def _check_consistent(self, old: Checkpoint, new: Checkpoint) -> None:
        if new.tree_size < old.tree_size:
            raise TrustError(
                f"the log's checkpoint has {new.tree_size} entries, fewer than the {old.tree_size}"
                " this client verified before (history rewritten or rolled back)"
            )
        if old.tree_size == 0:
            return
        hashes: list[bytes] = []
        if new.tree_size > old.tree_size:
            proof = self.client.consistency_proof(old.tree_size, new.tree_size)
            hashes = _proof_hashes(proof, "consistency")
        try:
            verify_consistency(old.tree_size, new.tree_size, hashes, old.root_hash, new.root_hash)
        except LedgerError as e:
            raise ProofError(
                f"the checkpoint of size {new.tree_size} is not consistent with the one of size"
                f" {old.tree_size} verified before (a forked or rewritten log): {e.message}"
            ) from e

    def save(self, verified: VerifiedCheckpoint) -> None:
        """Advance the state to ``verified`` (atomically); never moves backwards. A key pinned on
        first use is written now, after a checkpoint and the caller's checks passed under it."""
        for path, data in self._pending:
            with state_io(path):
                atomic_write(path, data)
        self._pending.clear()
        current = self.last_checkpoint()
        if current is not None and current.tree_size > verified.tree_size:
            return  # another command already saved a newer, consistent checkpoint
        path = self.origin_dir / CHECKPOINT_FILE
        with state_io(path):
            atomic_write(path, verified.note.encode("utf-8"))

    # --- entries ----------------------------------------------------------------------------------

    def fetch_entry(self, seq: int, expected: SignedStatement | None = None) -> bytes:
        """The leaf bytes of entry ``seq``, checked: well framed, at position ``seq``, and holding
        exactly ``expected`` (statement bytes and signatures) when given. Raises EntryMismatch."""
        entry = self.client.entry(seq)
        return check_entry_leaf(entry, seq, expected)

    def verify_included(self, seq: int, leaf: bytes, checkpoint: VerifiedCheckpoint) -> None:
        """RFC 9162 §2.1.3.2: the leaf (hashed here) is entry ``seq`` of the checkpoint's tree."""
        if seq >= checkpoint.tree_size:
            raise TrustError(
                f"entry {seq} is not in the log's checkpoint of size {checkpoint.tree_size}"
            )
        proof = self.client.inclusion_proof(seq, checkpoint.tree_size)
        hashes = _proof_hashes(proof, "inclusion")
        try:
            verify_inclusion(
                seq, checkpoint.tree_size, leaf_hash(leaf), hashes, checkpoint.root_hash
            )
        except LedgerError as e:
            raise ProofError(
                f"entry {seq} is not proven to be in the checkpoint of size"
                f" {checkpoint.tree_size}: {e.message}"
            ) from e


def check_entry_leaf(entry: dict[str, Any], seq: int, expected: SignedStatement | None) -> bytes:
    """Decode and check a ``GET /v1/entries/{seq}``-shaped answer; returns the leaf bytes."""
    try:
        leaf = b64_decode(entry.get("leaf"), what="leaf")
        parts = split_leaf(leaf)
    except LedgerError as e:
        raise EntryMismatch(f"entry {seq}: the server sent a malformed leaf: {e.message}") from e
    if parts.seq != seq:
        raise EntryMismatch(f"entry {seq}: the leaf says it is entry {parts.seq}")
    if entry.get("leaf_hash") != leaf_hash(leaf).hex():
        raise EntryMismatch(f"entry {seq}: the server's leaf_hash is not the hash of its leaf")
    if expected is not None:
        sigs = tuple((s.public_key.raw, s.signature) for s in expected.signatures)
        if parts.statement_bytes != expected.statement_bytes or parts.signatures != sigs:
            raise EntryMismatch(
                f"entry {seq} does not hold the statement you signed (the log altered it)"
            )
    return leaf


def _parse_vkey(text: str) -> NoteVerifier:
    try:
        return NoteVerifier.from_vkey(text)
    except InvalidKey as e:
        raise TrustError(f"not a usable log verifier key: {e.message}") from e


def _proof_hashes(proof: dict[str, Any], kind: str) -> list[bytes]:
    raw = proof.get("hashes")
    if not isinstance(raw, list) or not all(isinstance(h, str) for h in raw):
        raise ServerError(f"the {kind} proof from the server has no list of hashes")
    try:
        return [bytes.fromhex(h) for h in raw]
    except ValueError as e:
        raise ProofError(f"the {kind} proof holds a hash that is not hex") from e


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    with state_io(path):
        doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise StateUnusable(f"the state file {path} is not a JSON object")
    return doc


@contextlib.contextmanager
def state_io(path: Path) -> Iterator[None]:
    """Turn a local file problem (permissions, a file where a folder should be, damaged content)
    into StateUnusable. A saved checkpoint that no longer verifies stays a VerificationError."""
    try:
        yield
    except (OSError, ValueError, MalformedNote) as e:  # UnicodeDecodeError is a ValueError
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise StateUnusable(f"the client state {path} is unusable: {reason}") from e
