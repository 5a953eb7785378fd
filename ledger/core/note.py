"""C2SP signed notes (c2sp.org/signed-note), compatible with golang.org/x/mod/sumdb/note.

A signed note is UTF-8 text ending in a newline, a blank line, then one or more signature lines
``— <key name> base64(key id || signature)``. Keys are Ed25519 (signature type 0x01) and travel as
verifier keys ``<name>+<hex key id>+base64(0x01 || public key)``; signer keys add a
``PRIVATE+KEY+`` prefix and carry the 32-byte seed instead of the public key.

The parsing rules mirror Go's ``note.Open``/``note.NewVerifier``, with one deliberate tightening:
base64 and hex must be in their one canonical spelling (standard padded base64 with zero padding
bits, lowercase hex), so a signature or key cannot be smuggled in two spellings. Every function
here is pure: no I/O, and any str/bytes input yields a result or a ``LedgerError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .encoding import b64_decode, b64_encode, hex_decode, sha256
from .errors import BadSignature, InvalidEncoding, InvalidKey, MalformedNote, UnverifiedNote

ED25519_ALG = 0x01
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
KEY_ID_SIZE = 4
MAX_SIGNATURES = 100  # Go's limit; signed-note says verifiers MUST accept at least 16.
SIGNATURE_PREFIX = "\u2014 "  # em dash, space (signed-note §Format)
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
_UINT32_MAX = 0xFFFFFFFF

# Go's unicode.IsSpace (the Unicode White_Space property), which isValidName forbids in key
# names. Spelled out because Python's str.isspace() differs (it also matches U+001C..U+001F).
_GO_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
# signed-note §Format: no ASCII control characters (below U+0020) other than newline. DEL,
# C1 controls and other Unicode code points are allowed, as in Go's note.Open.
_FORBIDDEN_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")


# --- Names, key ids and text rules ---------------------------------------------------------


def is_valid_key_name(name: object) -> bool:
    """Go's isValidName: a non-empty str of valid UTF-8 with no Unicode space and no '+'.

    Signed-note §Signatures. Pure predicate: never raises.
    """
    if not isinstance(name, str) or not name or "+" in name:
        return False
    if any(ch in _GO_SPACES for ch in name):
        return False
    try:
        name.encode("utf-8")  # lone surrogates are not valid UTF-8
    except UnicodeEncodeError:
        return False
    return True


def note_key_id(name: str, public_key: bytes, alg: int = ED25519_ALG) -> int:
    """Key id of a key: SHA-256(name || 0x0A || alg || public key)[:4] as a big-endian uint32.

    Signed-note §Signatures. Raises InvalidKey for an invalid name or algorithm byte.
    """
    if not is_valid_key_name(name):
        raise InvalidKey(f"invalid key name {name!r}")
    if not isinstance(alg, int) or not 0 <= alg <= 0xFF:
        raise InvalidKey("the signature type is one byte")
    digest = sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + bytes(public_key))
    return int.from_bytes(digest[:KEY_ID_SIZE], "big")


def check_note_text(text: object) -> str:
    """Validate note text for signing and return it unchanged.

    Signed-note §Format: valid UTF-8 (a str without lone surrogates), ending in a newline, no ASCII
    control character other than newline. Raises MalformedNote.
    """
    if not isinstance(text, str):
        raise MalformedNote("note text must be a str")
    _check_utf8_and_controls(text)
    if not text.endswith("\n"):
        raise MalformedNote("note text must end with a newline")
    return text


def _check_utf8_and_controls(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise MalformedNote("note is not valid UTF-8") from e
    bad = _FORBIDDEN_CONTROL.search(text)
    if bad:
        raise MalformedNote(f"note contains control character U+{ord(bad.group()):04X}")


def _decode_note(note: object) -> str:
    """Bytes or str to str, strictly: invalid UTF-8 and control characters are MalformedNote."""
    if isinstance(note, bytes | bytearray | memoryview):
        try:
            # Python's strict decoder rejects what Go's utf8.DecodeRune flags as RuneError:
            # invalid bytes, overlong forms, surrogates and code points above U+10FFFF.
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedNote("note is not valid UTF-8") from e
    if not isinstance(note, str):
        raise MalformedNote("a note is str or bytes")
    _check_utf8_and_controls(note)
    return note


def _key_label(name: str, key_id: int) -> str:
    return f"{name}+{key_id:08x}"


# --- Keys ----------------------------------------------------------------------------------


def _check_key_id(key_id: object) -> int:
    if isinstance(key_id, bool) or not isinstance(key_id, int) or not 0 <= key_id <= _UINT32_MAX:
        raise InvalidKey("a key id is a uint32")
    return key_id


def _parse_key_id(hex8: str) -> int:
    try:
        return int.from_bytes(hex_decode(hex8, size=KEY_ID_SIZE, what="key id"), "big")
    except InvalidEncoding as e:
        raise InvalidKey("malformed key: the key id must be 8 lowercase hex digits") from e


def _parse_key_material(key64: str) -> bytes:
    """``base64(alg || key)`` of an Ed25519 key; raises InvalidKey (Go: errVerifierID/Alg)."""
    try:
        raw = b64_decode(key64, what="key")
    except InvalidEncoding as e:
        raise InvalidKey("malformed key: the key data is not canonical base64") from e
    if not raw:
        raise InvalidKey("malformed key: empty key data")
    return raw


def _check_ed25519_material(raw: bytes) -> bytes:
    """Split ``alg || key``: only Ed25519 (0x01) with a 32-byte key is known."""
    if raw[0] != ED25519_ALG:
        raise InvalidKey(f"unknown key algorithm 0x{raw[0]:02x}")
    if len(raw) != 1 + ED25519_KEY_SIZE:
        raise InvalidKey("malformed key: an Ed25519 key is 32 bytes")
    return raw[1:]


@dataclass(frozen=True)
class NoteVerifier:
    """A named Ed25519 public key that verifies note signatures (Go: note.Verifier).

    Construction checks the name, the key size and that ``key_id`` is the key's C2SP key id;
    raises InvalidKey.
    """

    name: str
    key_id: int
    public_key: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != ED25519_KEY_SIZE:
            raise InvalidKey("an Ed25519 public key is 32 bytes")
        _check_key_id(self.key_id)
        if self.key_id != note_key_id(self.name, self.public_key):
            raise InvalidKey(f"key id {self.key_id:08x} does not match the key and name")
        self._public()  # fail at construction, not at first use

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> NoteVerifier:
        """Verifier for a raw 32-byte Ed25519 public key; raises InvalidKey."""
        return cls(name, note_key_id(name, public_key), public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key ``<name>+<hex8 id>+<base64(0x01 || key)>`` (Go: NewVerifier).

        Raises InvalidKey for a malformed key, an id that does not match, or an unknown algorithm.
        """
        if not isinstance(vkey, str):
            raise InvalidKey("a verifier key is a str")
        parts = vkey.split("+", 2)  # the base64 part may itself contain '+'
        if len(parts) != 3 or not is_valid_key_name(parts[0]):
            raise InvalidKey("malformed verifier key: expected <name>+<id>+<key>")
        name, hex8, key64 = parts
        key_id = _parse_key_id(hex8)
        raw = _parse_key_material(key64)
        # Go checks the id over (alg || key) before looking at the algorithm: same order here.
        if key_id != note_key_id(name, raw[1:], raw[0]):
            raise InvalidKey(f"verifier key id {hex8} does not match the key and name")
        return cls(name, key_id, _check_ed25519_material(raw))

    def to_vkey(self) -> str:
        """The verifier key string ``<name>+<hex8 id>+<base64(0x01 || key)>``."""
        material = b64_encode(bytes([ED25519_ALG]) + self.public_key)
        return f"{_key_label(self.name, self.key_id)}+{material}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``. Never raises."""
        try:
            self.check(message, signature)
        except BadSignature:
            return False
        return True

    def check(self, message: bytes, signature: bytes) -> None:
        """Verify ``signature`` over ``message``; raises BadSignature if it does not verify."""
        label = _key_label(self.name, self.key_id)
        if not isinstance(signature, bytes) or len(signature) != ED25519_SIGNATURE_SIZE:
            raise BadSignature(f"invalid signature for key {label}: not 64 bytes", key=label)
        try:
            self._public().verify(signature, bytes(message))
        except InvalidSignature as e:
            raise BadSignature(f"invalid signature for key {label}", key=label) from e

    def _public(self) -> Ed25519PublicKey:
        try:
            return Ed25519PublicKey.from_public_bytes(self.public_key)
        except (ValueError, UnsupportedAlgorithm) as e:
            raise InvalidKey("not an Ed25519 public key") from e


@dataclass(frozen=True, eq=False)
class NoteSigner:
    """A named Ed25519 private key that signs notes (Go: note.Signer).

    The private key is left out of ``repr``. Construction checks the name, the key type and that
    ``key_id`` is the C2SP key id of the derived public key; raises InvalidKey.
    """

    name: str
    key_id: int
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise InvalidKey("not an Ed25519 private key")
        _check_key_id(self.key_id)
        if self.key_id != note_key_id(self.name, self._public_bytes()):
            raise InvalidKey(f"key id {self.key_id:08x} does not match the key and name")

    @classmethod
    def from_private_key(cls, name: str, key: Ed25519PrivateKey) -> NoteSigner:
        """Signer named ``name`` for ``key``, with its key id computed; raises InvalidKey."""
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidKey("not an Ed25519 private key")
        public = key.public_key().public_bytes_raw()
        return cls(name, note_key_id(name, public), key)

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex8 id>+<base64(0x01 || seed)>`` (Go: NewSigner).

        Raises InvalidKey for a malformed key, an unknown algorithm, or an id that does not
        match the derived public key.
        """
        if not isinstance(skey, str) or not skey.startswith(PRIVATE_KEY_PREFIX):
            raise InvalidKey("malformed signer key: expected PRIVATE+KEY+<name>+<id>+<key>")
        parts = skey[len(PRIVATE_KEY_PREFIX) :].split("+", 2)
        if len(parts) != 3 or not is_valid_key_name(parts[0]):
            raise InvalidKey("malformed signer key: expected PRIVATE+KEY+<name>+<id>+<key>")
        name, hex8, key64 = parts
        key_id = _parse_key_id(hex8)
        seed = _check_ed25519_material(_parse_key_material(key64))
        key = Ed25519PrivateKey.from_private_bytes(seed)
        # Go derives the public key first, then checks the id (errSignerHash).
        if key_id != note_key_id(name, key.public_key().public_bytes_raw()):
            raise InvalidKey(f"signer key id {hex8} does not match the key and name")
        return cls(name, key_id, key)

    def to_skey(self) -> str:
        """The signer key string; it holds the secret seed, so keep it secret."""
        material = b64_encode(bytes([ED25519_ALG]) + self.private_key.private_bytes_raw())
        return f"{PRIVATE_KEY_PREFIX}{_key_label(self.name, self.key_id)}+{material}"

    def verifier(self) -> NoteVerifier:
        """The matching verifier (same name, key id and public key)."""
        return NoteVerifier(self.name, self.key_id, self._public_bytes())

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return self.private_key.sign(bytes(message))

    def _public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes_raw()


# --- Signatures and notes ------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key id, and the signature bytes without the 4-byte id.

    Construction checks the name and id and that the signature is not empty; raises
    MalformedNote.
    """

    name: str
    key_id: int
    signature: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise MalformedNote(f"invalid key name {self.name!r} in signature")
        if isinstance(self.key_id, bool) or not isinstance(self.key_id, int):
            raise MalformedNote("a key id is a uint32")
        if not 0 <= self.key_id <= _UINT32_MAX:
            raise MalformedNote("a key id is a uint32")
        if not isinstance(self.signature, bytes) or not self.signature:
            raise MalformedNote("a signature is at least one byte")


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the signatures verified by known keys (in note order, one per
    key) and the signatures by unknown keys (in note order, identical lines dropped)."""

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...] = ()


def format_signature_line(sig: NoteSignature) -> str:
    """``— <name> base64(key id || signature)`` and a newline (signed-note §Signatures)."""
    blob = sig.key_id.to_bytes(KEY_ID_SIZE, "big") + sig.signature
    return f"{SIGNATURE_PREFIX}{sig.name} {b64_encode(blob)}\n"


def sign_note(text: str, *signers: NoteSigner) -> str:
    """Sign ``text`` with each signer, in order, and return the encoded note (Go: note.Sign).

    The text must satisfy check_note_text. Raises MalformedNote for bad text or for no signers or
    more than MAX_SIGNATURES of them.
    """
    check_note_text(text)
    if not 1 <= len(signers) <= MAX_SIGNATURES:
        raise MalformedNote(f"a note carries 1 to {MAX_SIGNATURES} signatures")
    message = text.encode("utf-8")
    lines = [
        format_signature_line(NoteSignature(s.name, s.key_id, s.sign(message))) for s in signers
    ]
    # signed-note §Format: text (ending in newline), a blank line, then the signature lines.
    return text + "\n" + "".join(lines)


def parse_note(note: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines, checking the grammar only.

    Signed-note §Format, as Go's note.Open parses it. Signatures are returned in note order,
    duplicates included, and nothing is verified. Raises MalformedNote.
    """
    decoded = _decode_note(note)
    # The text is separated from the signatures by the last blank line; it keeps its newline.
    split = decoded.rfind("\n\n")
    if split < 0:
        raise MalformedNote("note has no blank line before its signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block:
        raise MalformedNote("note has no signature lines")
    if not block.endswith("\n"):
        raise MalformedNote("note must end with a newline-terminated signature line")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"note has more than {MAX_SIGNATURES} signatures")
    return text, [_parse_signature_line(line) for line in lines]


def _parse_signature_line(line: str) -> NoteSignature:
    """``— <name> <base64(id || sig)>`` to a NoteSignature; raises MalformedNote."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNote("signature line must start with an em dash and a space")
    # Go chops at the first space: the name cannot hold one, the base64 cannot either.
    name, _, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not is_valid_key_name(name):
        raise MalformedNote(f"invalid key name {name!r} in signature line")
    try:
        blob = b64_decode(b64, what="signature")
    except InvalidEncoding as e:
        raise MalformedNote("signature is not canonical base64") from e
    if len(blob) <= KEY_ID_SIZE:
        raise MalformedNote("signature is shorter than a key id and one byte")
    key_id = int.from_bytes(blob[:KEY_ID_SIZE], "big")
    return NoteSignature(name, key_id, blob[KEY_ID_SIZE:])


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> Note:
    """Parse a signed note and verify its signatures by the known ``verifiers`` (Go: note.Open).

    Signed-note §Signatures: signatures by unknown (name, key id) pairs are kept in
    ``Note.unverified``; a known key's signature MUST verify, and at least one must.
    Raises MalformedNote (grammar), BadSignature (a known key's signature does not verify),
    InvalidKey (two different verifiers share a name and id: Go's ambiguous key), and
    UnverifiedNote (no known key signed the note). The grammar is checked in full before any
    signature, so a note both malformed and badly signed is MalformedNote.
    """
    text, sigs = parse_note(note)
    known = _index_verifiers(verifiers)
    message = text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for sig in sigs:
        label = (sig.name, sig.key_id)
        if label not in known:
            if sig not in unverified:  # Go drops repeated identical unverified lines
                unverified.append(sig)
            continue
        if any((s.name, s.key_id) == label for s in verified):
            continue  # Go drops repeated signatures by one known key without checking them
        _only_verifier(known[label]).check(message, sig.signature)
        verified.append(sig)
    if not verified:
        keys = [_key_label(s.name, s.key_id) for s in unverified]
        raise UnverifiedNote("note has no verifiable signatures", unverified_keys=keys)
    return Note(text, tuple(verified), tuple(unverified))


def _index_verifiers(
    verifiers: Iterable[NoteVerifier],
) -> dict[tuple[str, int], list[NoteVerifier]]:
    """Group verifiers by (name, key id), dropping exact duplicates (Go: VerifierList)."""
    index: dict[tuple[str, int], list[NoteVerifier]] = {}
    for v in verifiers:
        if not isinstance(v, NoteVerifier):
            raise InvalidKey("verifiers must be NoteVerifier instances")
        group = index.setdefault((v.name, v.key_id), [])
        if v not in group:
            group.append(v)
    return index


def _only_verifier(group: list[NoteVerifier]) -> NoteVerifier:
    if len(group) > 1:
        label = _key_label(group[0].name, group[0].key_id)
        raise InvalidKey(f"ambiguous key {label}: several verifiers share its name and id")
    return group[0]
