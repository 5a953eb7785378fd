"""Witness cosignatures (c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1``).

A cosignature is a signed-note signature line on a checkpoint, by a witness:

    — <witness name> base64(key id || u64 timestamp || Ed25519 signature)

* key id = SHA-256(name || "\\n" || 0x04 || 32-byte public key)[:4] (signature type 0x04, not the
  0x01 of ordinary note keys, so a witness key can never pass for a log key or the reverse);
* the signed message is ``cosignature/v1\\n`` || ``time <timestamp>\\n`` || the whole checkpoint
  body (every line up to the blank line, extension lines included);
* the timestamp is POSIX seconds, the same value in the message and in the signature blob.

Witness keys travel as vkeys ``<name>+<hex8 key id>+base64(0x04 || public key)``. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .encoding import b64_decode, b64_encode
from .errors import BadSignature, InvalidEncoding, InvalidKey, MalformedNote
from .note import (
    ED25519_KEY_SIZE,
    ED25519_SIGNATURE_SIZE,
    KEY_ID_SIZE,
    NoteSignature,
    _parse_key_id,
    check_note_text,
    format_signature_line,
    is_valid_key_name,
    note_key_id,
)

#: tlog-cosignature §Format: the signature type byte of Ed25519 cosignature/v1 keys.
COSIGNATURE_V1_ALG = 0x04
#: tlog-cosignature §Ed25519 signed message: the domain-separating header line.
COSIGNATURE_V1_HEADER = "cosignature/v1"
TIMESTAMP_SIZE = 8
#: Key id, timestamp, signature: what the base64 of a cosignature line decodes to.
COSIGNATURE_BLOB_SIZE = KEY_ID_SIZE + TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE
MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1


def cosignature_key_id(name: str, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || 0x04 || public key)[:4] as a big-endian uint32; raises InvalidKey."""
    return note_key_id(name, public_key, COSIGNATURE_V1_ALG)


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a witness signs: header line, time line, then the checkpoint body.

    Raises MalformedNote for text that is not note text or a timestamp out of range.
    """
    check_note_text(checkpoint_text)
    _check_timestamp(timestamp)
    return f"{COSIGNATURE_V1_HEADER}\ntime {timestamp}\n{checkpoint_text}".encode()


def _check_timestamp(timestamp: object) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise MalformedNote("a cosignature timestamp is an integer")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedNote("a cosignature timestamp is in [0, 2**63)")
    return timestamp


@dataclass(frozen=True)
class Cosignature:
    """A parsed cosignature line: witness name, key id, timestamp and the 64-byte signature."""

    name: str
    key_id: int
    timestamp: int
    signature: bytes

    @classmethod
    def from_note_signature(cls, sig: NoteSignature) -> Cosignature:
        """Split a note signature's blob (after the key id) into timestamp and signature.

        Raises MalformedNote unless it is exactly 72 bytes with a timestamp below 2**63.
        """
        if len(sig.signature) != TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
            raise MalformedNote("a cosignature/v1 signature is 72 bytes: u64 time || Ed25519")
        timestamp = _check_timestamp(int.from_bytes(sig.signature[:TIMESTAMP_SIZE], "big"))
        return cls(sig.name, sig.key_id, timestamp, sig.signature[TIMESTAMP_SIZE:])

    def note_signature(self) -> NoteSignature:
        blob = self.timestamp.to_bytes(TIMESTAMP_SIZE, "big") + self.signature
        return NoteSignature(self.name, self.key_id, blob)

    def line(self) -> str:
        """``— <name> base64(key id || timestamp || signature)`` and a newline."""
        return format_signature_line(self.note_signature())


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's name and Ed25519 public key (Go: NewVerifierForCosignatureV1).

    Construction checks the name, the key size and that ``key_id`` is the type-0x04 key id;
    raises InvalidKey.
    """

    name: str
    key_id: int
    public_key: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != ED25519_KEY_SIZE:
            raise InvalidKey("an Ed25519 public key is 32 bytes")
        if self.key_id != cosignature_key_id(self.name, self.public_key):
            raise InvalidKey(f"key id {self.key_id:08x} does not match the witness key and name")

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> CosignatureVerifier:
        return cls(name, cosignature_key_id(name, public_key), public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``<name>+<hex8 id>+base64(0x04 || key)``; raises InvalidKey.

        Only signature type 0x04 is a cosignature key: an ordinary 0x01 note key is refused, as
        tlog-policy requires a witness key of the cosignature type.
        """
        parts = vkey.split("+", 2) if isinstance(vkey, str) else []
        if len(parts) != 3 or not is_valid_key_name(parts[0]):
            raise InvalidKey("malformed witness key: expected <name>+<id>+<key>")
        name, hex8, key64 = parts
        key_id = _parse_key_id(hex8)
        try:
            raw = b64_decode(key64, what="witness key")
        except InvalidEncoding as e:
            raise InvalidKey("malformed witness key: the key is not canonical base64") from e
        if not raw or raw[0] != COSIGNATURE_V1_ALG:
            raise InvalidKey("a witness key has signature type 0x04 (cosignature/v1)")
        if len(raw) != 1 + ED25519_KEY_SIZE:
            raise InvalidKey("malformed witness key: an Ed25519 key is 32 bytes")
        if key_id != cosignature_key_id(name, raw[1:]):
            raise InvalidKey(f"witness key id {hex8} does not match the key and name")
        return cls(name, key_id, raw[1:])

    def to_vkey(self) -> str:
        material = b64_encode(bytes([COSIGNATURE_V1_ALG]) + self.public_key)
        return f"{self.name}+{self.key_id:08x}+{material}"

    def matches(self, sig: NoteSignature) -> bool:
        """Whether a signature line claims to be by this witness (same name and key id)."""
        return (sig.name, sig.key_id) == (self.name, self.key_id)

    def verify(self, checkpoint_text: str, sig: NoteSignature) -> Cosignature:
        """Check one cosignature line over ``checkpoint_text``; returns it parsed.

        Raises InvalidKey if the line is not by this witness, MalformedNote if its blob is not a
        cosignature/v1 blob, BadSignature if the Ed25519 signature does not verify.
        """
        if not self.matches(sig):
            raise InvalidKey("the signature line is not by this witness")
        cosig = Cosignature.from_note_signature(sig)
        message = cosigned_message(checkpoint_text, cosig.timestamp)
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(cosig.signature, message)
        except InvalidSignature as e:
            raise BadSignature(f"cosignature by witness {self.name} does not verify") from e
        return cosig


class Cosigner:
    """A witness's signing key under its name (Go: NewSignerForCosignatureV1)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise InvalidKey("not an Ed25519 private key")
        public = private_key.public_key().public_bytes_raw()
        self.name = name
        self.key_id = cosignature_key_id(name, public)
        self._private_key = private_key
        self._verifier = CosignatureVerifier(name, self.key_id, public)

    def verifier(self) -> CosignatureVerifier:
        return self._verifier

    def cosign(self, checkpoint_text: str, timestamp: int) -> Cosignature:
        """The cosignature of ``checkpoint_text`` at ``timestamp`` (POSIX seconds).

        Raises MalformedNote for bad text or timestamp. Does not check the checkpoint itself:
        the witness does that before calling.
        """
        message = cosigned_message(checkpoint_text, timestamp)
        return Cosignature(self.name, self.key_id, timestamp, self._private_key.sign(message))
