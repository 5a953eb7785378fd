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

Which log key to trust is decided in one place, ``resolve_log_key``, in this order:

1. ``KeySource.GIVEN``: the key the user gave (``--log-key``); it must equal the key already pinned
   for the origin, if any (``TrustError`` otherwise: a pin is never silently replaced);
2. ``KeySource.PINNED``: the key pinned in the state folder for the log's origin;
3. ``KeySource.FIRST_USE``: the log's own word for its key — the server's ``/v1/log`` online, the
   key a bundle names offline. This is the weak choice, and it is named so: whoever serves the log
   can serve another key with it. Online it is pinned once a checkpoint verified under it; a key
   read from a file is never pinned.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import urllib.parse
from collections.abc import Callable, Iterator
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


class KeySource(enum.Enum):
    """Which of the three ways ``resolve_log_key`` chose the log key (strongest first)."""

    GIVEN = "given"  # --log-key: the user vouches for it (and it equals any pinned key)
    PINNED = "pinned"  # pinned in the state folder on an earlier use
    FIRST_USE = "first use"  # the log's own word for its key: trust on first use


@dataclass(frozen=True)
class LogKey:
    """The log key to verify with, where it came from, and where it is (or would be) pinned."""

    verifier: NoteVerifier
    source: KeySource
    pin_path: Path | None  # None: a file that names no origin, so no pin can exist
    pinned: bool  # a key is pinned for the origin (equal to ``verifier``)
    first_use_from: str = "the server's /v1/log"  # with FIRST_USE: whose word it is

    def describe(self) -> str:
        """One line saying which key is trusted and why (the CLI prints it on stderr)."""
        key = f"log key {self.verifier.name}+{self.verifier.key_id:08x}"
        if self.source is KeySource.GIVEN:
            also = f" (equal to the key pinned in {self.pin_path})" if self.pinned else ""
            return f"{key}: given with --log-key{also}"
        if self.source is KeySource.PINNED:
            return f"{key}: pinned in {self.pin_path}"
        return (
            f"WARNING: {key}: trusted on first use, on the word of {self.first_use_from} (a log"
            f" that lies can lie about its key too): check it and pin it with --log-key"
            f" {self.verifier.to_vkey()}"
        )


def urls_of(state_dir: Path, origin: str) -> list[str]:
    """The server URLs this machine has seen serve the log ``origin`` (``servers.json``)."""
    servers = _read_json(state_dir / SERVERS_FILE)
    return sorted(url for url, served in servers.items() if served == origin)


def origin_dir(state_dir: Path, origin: str) -> Path:
    """The state folder's subfolder for ``origin`` (quoted: an origin never names a parent)."""
    name = urllib.parse.quote(origin, safe="")
    # quote() leaves dots alone: an origin of "." or ".." must not name a parent folder
    return Path(state_dir) / (f"%2E{name[1:]}" if name.startswith(".") else name)


def pinned_key(state_dir: Path, origin: str) -> NoteVerifier | None:
    """The key pinned for ``origin`` in ``state_dir``, or None. Raises StateUnusable, TrustError
    (a pinned key that is not a verifier key)."""
    path = origin_dir(state_dir, origin) / KEY_FILE
    if not path.exists():
        return None
    with state_io(path):
        text = path.read_text(encoding="utf-8").strip()
    return _parse_vkey(text)


def resolve_log_key(
    state_dir: Path,
    origin: str,
    given: str | None,
    first_use: Callable[[], str] | None,
    *,
    first_use_from: str = "the server's /v1/log",
) -> LogKey:
    """The one decision about which log key to trust for ``origin`` (see the module docstring):
    ``given`` (vkey text), else the key pinned in ``state_dir``, else ``first_use()``.

    Pins nothing (``TrustedLog.save`` does, online). Raises TrustError when ``given`` differs
    from the pinned key, or when there is no key at all (no ``given``, no pin, no ``first_use``);
    TrustError for a key that is not a verifier key; StateUnusable for an unreadable state.
    """
    path = origin_dir(state_dir, origin) / KEY_FILE
    pinned = pinned_key(state_dir, origin)
    if given is not None:
        verifier = _parse_vkey(given)
        if pinned is not None and verifier != pinned:
            raise TrustError(f"--log-key differs from the key pinned for {origin!r} in {path}")
        return LogKey(verifier, KeySource.GIVEN, path, pinned is not None)
    if pinned is not None:
        return LogKey(pinned, KeySource.PINNED, path, True)
    if first_use is None:
        raise TrustError(f"no log key: none is pinned for {origin!r} in {path}; give --log-key")
    verifier = _parse_vkey(first_use())
    return LogKey(verifier, KeySource.FIRST_USE, path, False, first_use_from)


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
    user: which log key is trusted and why (``LogKey.describe``), and a key pinned by ``save``."""

    def __init__(self, client: LogClient, state_dir: Path, log_key: str | None = None) -> None:
        self.client = client
        self.state_dir = Path(state_dir)
        self.explicit_key = log_key
        self.notices: list[str] = []
        self._key: LogKey | None = None
        self._origin: str | None = None
        self._info: dict[str, Any] | None = None
        #: First-use writes (origin binding, pinned key), made by ``save`` once all checks pass.
        self._pending: list[tuple[Path, bytes]] = []

    # --- identity: origin and pinned key --------------------------------------------------------

    @property
    def verifier(self) -> NoteVerifier:
        """The log key this machine trusts; known after ``refresh()`` or ``identify()``."""
        return self.key.verifier

    @property
    def key(self) -> LogKey:
        """Which log key is trusted and why; known after ``refresh()`` or ``identify()``."""
        assert self._key is not None, "call refresh() or identify() first"
        return self._key

    @property
    def _verifier(self) -> NoteVerifier | None:
        return None if self._key is None else self._key.verifier

    @property
    def origin_dir(self) -> Path:
        assert self._origin is not None, "call refresh() first"
        return origin_dir(self.state_dir, self._origin)

    def identify(self) -> LogKey:
        """Learn the log's origin (the one this URL served before, else the name of the given
        or served key: ``_served_origin``) and decide its key (``resolve_log_key``), without
        fetching a checkpoint. Pins nothing until ``save`` or ``save_identity``. For callers that
        verify what the server sends (a bundle, a proof file), and before a write is posted."""
        if self._key is None:
            servers = _read_json(self.state_dir / SERVERS_FILE)
            known = servers.get(self.client.base_url)
            origin = str(known) if known is not None else self._served_origin()
            self._bind_origin(origin)
            self._key = self._load_key()
        return self._key

    def _served_origin(self) -> str:
        """The origin to look a pinned key up under, for a URL this machine has not bound yet: the
        name of the ``--log-key`` key, else of the key ``/v1/log`` serves (a log signs its
        checkpoints under its origin's name; ``refresh`` checks the checkpoint against it)."""
        vkey = self.explicit_key or str(self._log_info().get("verifier_key", ""))
        return _origin_of(_parse_vkey(vkey).name)

    def save_identity(self) -> None:
        """Write what a first use decided (origin binding, pinned key), once checks passed."""
        for path, data in self._pending:
            with state_io(path):
                atomic_write(path, data)
            if path.name == KEY_FILE and self._key is not None:
                how = {KeySource.GIVEN: "given with --log-key"}.get(
                    self._key.source, "trust on first use"
                )
                self.notices.append(
                    f"pinned log key {self._key.verifier.to_vkey()} ({how}) in {path}"
                )
        self._pending.clear()

    def _log_info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self.client.log_info()
        return self._info

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

    def _load_key(self) -> LogKey:
        """``resolve_log_key`` for this log; a key not yet pinned is pinned by ``save``."""
        assert self._origin is not None
        key = resolve_log_key(
            self.state_dir,
            self._origin,
            self.explicit_key,
            lambda: str(self._log_info().get("verifier_key", "")),
        )
        self.notices.append(key.describe())
        if key.pinned:
            return key
        if key.verifier.name != self._origin:
            raise TrustError(
                f"the log key {key.verifier.name!r} is not named after {self._origin!r}"
            )
        # Pinned only once a checkpoint (or the caller's evidence) verified under it: see save.
        assert key.pin_path is not None  # an online log always has an origin
        self._pending.append((key.pin_path, (key.verifier.to_vkey() + "\n").encode()))
        return key

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
        origin = _origin_of(note)
        if self._origin is None:
            self._bind_origin(origin)
        if self._key is None:
            self._key = self._load_key()
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
        self.save_identity()
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

    def verify_root_at(self, tree_size: int, root: bytes, checkpoint: VerifiedCheckpoint) -> None:
        """RFC 9162 §2.1.4.2: ``root`` is the root of the tree of ``tree_size``, a prefix of the
        checkpoint's tree (equal to its root at the same size). Raises ProofError otherwise,
        TrustError for a size beyond the checkpoint's."""
        if tree_size > checkpoint.tree_size:
            raise TrustError(
                f"tree size {tree_size} is beyond the log's checkpoint of size"
                f" {checkpoint.tree_size}"
            )
        hashes: list[bytes] = []
        if tree_size < checkpoint.tree_size:
            proof = self.client.consistency_proof(tree_size, checkpoint.tree_size)
            hashes = _proof_hashes(proof, "consistency")
        try:
            verify_consistency(tree_size, checkpoint.tree_size, hashes, root, checkpoint.root_hash)
        except LedgerError as e:
            raise ProofError(
                f"the root at tree size {tree_size} is not the log's: the checkpoint of size"
                f" {checkpoint.tree_size} does not extend it ({e.message})"
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


def _origin_of(note: str) -> str:
    """The origin a checkpoint note names (its first line); UnverifiedNote if it is no valid key
    name (the log key's name, and, quoted, a state folder's)."""
    origin = note.split("\n", 1)[0]
    if not is_valid_key_name(origin):
        raise UnverifiedNote(f"the server's checkpoint names no valid origin: {origin[:80]!r}")
    return origin


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
