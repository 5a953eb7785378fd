"""Ed25519 keys, key ids and domain-separated signatures.

A party's key id is the lowercase hex SHA-256 of its raw 32-byte public key. Every message this
project signs begins with a fixed, versioned context string (see ``docs/FORMAT.md``), so a signature
made for one purpose can never be replayed as another. Private keys live in PKCS8 PEM files; only
raw public keys travel on the wire. No I/O here except the explicit PEM file helpers.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .encoding import b64_decode, b64_encode, hex_decode, sha256
from .errors import BadSignature, InvalidEncoding, InvalidKey

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
#: Canonical base64 of 32 bytes: 43 characters and one "=".
_PUBLIC_KEY_B64_LENGTH = 44
#: How many keys ``PublicKey.from_b64`` keeps loaded (least recently used ones are dropped).
PUBLIC_KEY_CACHE_SIZE = 4096

# OpenSSL loads any 32 bytes as a public key, and for a small-order key such as the identity point
# it accepts R = identity, S = 0 as a signature over every message: such a key binds no secret and
# would make every statement "signed" by it repudiable. Refuse the y-coordinates of the eight
# small-order points of edwards25519 (either sign bit, as libsodium does) and y >= p.
_P = 2**255 - 19
_Y_ORDER_8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022
_SMALL_ORDER_Y = frozenset({0, 1, _P - 1, _Y_ORDER_8, _P - _Y_ORDER_8})


#: The PEM label of an encrypted PKCS8 private key (RFC 7468 §11).
_ENCRYPTED_PEM_LABEL = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


def is_encrypted_pem(data: bytes) -> bool:
    """Whether PEM ``data`` holds an encrypted PKCS8 private key (it needs a passphrase)."""
    return _ENCRYPTED_PEM_LABEL in data


def key_id(public_key: bytes) -> str:
    """Lowercase hex SHA-256 of the raw 32-byte public key."""
    return sha256(public_key).hex()


def parse_key_id(text: object, what: str = "key id") -> str:
    """Validate a key id (64 lowercase hex digits) and return it."""
    hex_decode(text, size=32, what=what)
    assert isinstance(text, str)
    return text


@dataclass(frozen=True)
class PublicKey:
    """A raw Ed25519 public key with its key id."""

    raw: bytes
    # The loaded OpenSSL key, kept so that each verification does not load it again.
    _loaded: Ed25519PublicKey = field(init=False, repr=False, compare=False)
    #: Lowercase hex SHA-256 of ``raw`` (computed once: signer checks read it several times).
    key_id: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.raw) != PUBLIC_KEY_SIZE:
            raise InvalidKey("an Ed25519 public key is 32 bytes")
        y = int.from_bytes(self.raw, "little") & ((1 << 255) - 1)
        if y >= _P or y in _SMALL_ORDER_Y:
            raise InvalidKey("a small-order or non-canonical Ed25519 public key")
        try:
            loaded = Ed25519PublicKey.from_public_bytes(self.raw)
        except ValueError as e:
            raise InvalidKey("not an Ed25519 public key") from e
        object.__setattr__(self, "_loaded", loaded)
        object.__setattr__(self, "key_id", key_id(self.raw))

    def __reduce__(self) -> tuple[type[PublicKey], tuple[bytes]]:
        return (PublicKey, (self.raw,))  # the loaded OpenSSL key does not pickle; reload it

    @classmethod
    def from_b64(cls, text: object, what: str = "public key") -> PublicKey:
        """The key written as canonical base64 of its 32 raw bytes.

        Raises InvalidEncoding (not base64 of 32 bytes) or InvalidKey (see the constructor). Keys
        read before come from a cache: the same text always yields an equal, immutable key, and
        a refused text is never cached, so the cache changes speed only.
        """
        if cls is PublicKey and type(text) is str and len(text) == _PUBLIC_KEY_B64_LENGTH:
            try:
                return _public_key_from_b64(text)
            except (InvalidEncoding, InvalidKey):
                pass  # refused: decode again below, for the error worded with `what`
        return cls(b64_decode(text, size=PUBLIC_KEY_SIZE, what=what))

    @classmethod
    def from_raw(cls, raw: bytes) -> PublicKey:
        """``PublicKey(raw)``, from the same kind of cache as ``from_b64`` (refusals not cached).

        Raises InvalidKey as the constructor does.
        """
        if cls is PublicKey and type(raw) is bytes:
            return _public_key_from_raw(raw)
        return cls(raw)

    @property
    def b64(self) -> str:
        return b64_encode(self.raw)

    def verify(self, context: bytes, message: bytes, signature: bytes) -> None:
        """Check ``signature`` over ``context || message`` with ``cryptography``; raises
        BadSignature. (Statements are verified through a ``sigcheck.SignatureCheck`` instead.)"""
        if len(signature) != SIGNATURE_SIZE:
            raise BadSignature("an Ed25519 signature is 64 bytes")
        try:
            self._loaded.verify(signature, context + message)
        except InvalidSignature as e:
            raise BadSignature(f"signature by key {self.key_id[:16]}… does not verify") from e

    def is_valid_signature(self, context: bytes, message: bytes, signature: bytes) -> bool:
        try:
            self.verify(context, message, signature)
        except BadSignature:
            return False
        return True


@functools.lru_cache(maxsize=PUBLIC_KEY_CACHE_SIZE)
def _public_key_from_b64(text: str) -> PublicKey:
    """``PublicKey.from_b64`` for one text, remembered: loading and checking a key costs several
    microseconds, a noticeable share of verifying a statement signed by a known party."""
    return PublicKey(b64_decode(text, size=PUBLIC_KEY_SIZE, what="public key"))


@functools.lru_cache(maxsize=PUBLIC_KEY_CACHE_SIZE)
def _public_key_from_raw(raw: bytes) -> PublicKey:
    """``PublicKey.from_raw`` for one key, remembered (leaves carry raw keys)."""
    return PublicKey(raw)


class SigningKey:
    """An Ed25519 private key. It signs ``context || message`` and never leaves this process."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise InvalidKey("not an Ed25519 private key")
        self._key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key = PublicKey(raw)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """Deterministic key from a 32-byte seed (for test vectors and worked examples)."""
        if len(seed) != 32:
            raise InvalidKey("an Ed25519 seed is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return self._key

    @property
    def key_id(self) -> str:
        return self.public_key.key_id

    def sign(self, context: bytes, message: bytes) -> bytes:
        return self._key.sign(context + message)

    # --- PKCS8 PEM ---------------------------------------------------------------------------

    def to_pem(self, passphrase: bytes | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @classmethod
    def from_pem(cls, data: bytes, passphrase: bytes | None = None) -> SigningKey:
        """Load a PKCS8 PEM private key; raises InvalidKey if it is not an Ed25519 key."""
        try:
            key = serialization.load_pem_private_key(data, password=passphrase)
        except TypeError as e:  # a passphrase for a plain key, or none for an encrypted one
            raise InvalidKey(
                "the key is encrypted: a passphrase is needed"
                if passphrase is None
                else "the key is not encrypted: give no passphrase"
            ) from e
        except (ValueError, UnsupportedAlgorithm) as e:
            raise InvalidKey(
                "wrong passphrase"
                if passphrase is not None and is_encrypted_pem(data)
                else "not a PKCS8 PEM private key"
            ) from e
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidKey("the PEM file does not hold an Ed25519 private key")
        return cls(key)

    def save(self, path: Path, passphrase: bytes | None = None) -> None:
        """Write the key as PKCS8 PEM, created with mode 0600; refuses to overwrite a file."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.to_pem(passphrase))

    @classmethod
    def load(cls, path: Path, passphrase: bytes | None = None) -> SigningKey:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise InvalidKey(f"cannot read key file {path}: {e.strerror}") from e
        return cls.from_pem(data, passphrase)
