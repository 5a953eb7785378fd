"""Transparency log checkpoints (c2sp.org/tlog-checkpoint): a signed note whose text is a tree head.

The text is ``origin\\ntree size\\nbase64(root hash)\\n`` followed by optional extension lines. This
ledger requires the log's key name to equal the origin (tlog-checkpoint §Signatures says it
SHOULD), both when signing and when opening. Pure: no I/O, and any str/bytes input yields a result
or a ``LedgerError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .encoding import HASH_SIZE, b64_decode, b64_encode
from .errors import InvalidEncoding, InvalidKey, MalformedNote, UnverifiedNote
from .note import (
    Note,
    NoteSigner,
    NoteVerifier,
    check_note_text,
    open_note,
    sign_note,
)

MAX_TREE_SIZE = 2**64 - 1  # Go parses the size as a uint64
_TREE_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")  # ASCII only; the length cap keeps int() cheap


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, RFC 6962 root hash and opaque extension lines.

    Construction checks every field so that ``body()`` always parses back; raises MalformedNote.
    """

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # tlog-checkpoint §Note text, items 1-4; each line must also be valid note text.
        _check_line(self.origin, "origin")
        size = self.tree_size
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
            raise MalformedNote("checkpoint tree size must be an integer in [0, 2**64)")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise MalformedNote(f"checkpoint root hash must be {HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise MalformedNote("checkpoint extensions must be a tuple of lines")
        for line in self.extensions:
            _check_line(line, "extension line")

    def body(self) -> str:
        """The note text: origin, size, base64 root, each extension line, each ending in newline."""
        lines = [self.origin, str(self.tree_size), b64_encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str | bytes) -> Checkpoint:
        """Parse a checkpoint body strictly (tlog-checkpoint §Note text); raises MalformedNote.

        At least three non-empty lines, each newline-terminated; decimal size with no sign, no
        leading zero (except ``0``) and below 2**64; canonical base64 of a 32-byte root.
        """
        text = _decode_body(body)
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedNote("checkpoint needs origin, tree size and root hash lines")
        origin, size_line, root_line, *extensions = lines
        return cls(origin, _parse_tree_size(size_line), _parse_root(root_line), tuple(extensions))


def _check_line(line: object, what: str) -> None:
    if not isinstance(line, str) or not line:
        raise MalformedNote(f"checkpoint {what} must be a non-empty line")
    if "\n" in line:
        raise MalformedNote(f"checkpoint {what} must not contain a newline")
    check_note_text(line + "\n")


def _decode_body(body: object) -> str:
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedNote("checkpoint is not valid UTF-8") from e
    text = check_note_text(body)
    if "\n\n" in text or text.startswith("\n"):
        raise MalformedNote("checkpoint lines must be non-empty")
    return text


def _parse_tree_size(line: str) -> int:
    if not _TREE_SIZE_RE.fullmatch(line):
        raise MalformedNote("checkpoint tree size must be decimal with no leading zeros")
    size = int(line)
    if size > MAX_TREE_SIZE:
        raise MalformedNote("checkpoint tree size does not fit in 64 bits")
    return size


def _parse_root(line: str) -> bytes:
    try:
        return b64_decode(line, size=HASH_SIZE, what="root hash")
    except InvalidEncoding as e:
        raise MalformedNote(f"checkpoint root hash must be base64 of {HASH_SIZE} bytes") from e


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> str:
    """The checkpoint as a note signed by the log's key; raises InvalidKey unless the signer's
    name is the origin (tlog-checkpoint §Signatures)."""
    if signer.name != cp.origin:
        raise InvalidKey(f"log key name {signer.name!r} is not the origin {cp.origin!r}")
    return sign_note(cp.body(), signer)


def open_checkpoint(
    note: str | bytes,
    verifier: NoteVerifier,
    extra_verifiers: Iterable[NoteVerifier] = (),
) -> tuple[Checkpoint, Note]:
    """Verify a checkpoint note with the log's key and parse its body.

    ``extra_verifiers`` (witnesses, say) are also checked: a known key's bad signature is
    BadSignature. Raises MalformedNote (note grammar or body), UnverifiedNote (the log's own
    signature is absent, or the origin is not the log key's name), BadSignature, InvalidKey.
    """
    if not isinstance(verifier, NoteVerifier):
        raise InvalidKey("the log verifier must be a NoteVerifier")
    opened = open_note(note, [verifier, *extra_verifiers])
    if not any((s.name, s.key_id) == (verifier.name, verifier.key_id) for s in opened.signatures):
        raise UnverifiedNote(
            f"checkpoint is not signed by the log key {verifier.name}+{verifier.key_id:08x}"
        )
    cp = Checkpoint.parse(opened.text)
    if cp.origin != verifier.name:
        raise UnverifiedNote(
            f"checkpoint origin {cp.origin!r} is not the log key name {verifier.name!r}"
        )
    return cp, opened


def log_verifier_from_private_key(origin: str, key: Ed25519PrivateKey) -> NoteVerifier:
    """The verifier for a log whose key, named after its origin, is ``key``; raises InvalidKey."""
    return NoteSigner.from_private_key(origin, key).verifier()
