"""Strict text encodings of bytes: lowercase hex and standard padded base64.

Each decoder accepts exactly one spelling of a value (the one its encoder produces) so that a value
cannot be smuggled in two forms that hash or compare differently. No I/O here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from .errors import InvalidEncoding

HASH_SIZE = 32
_HEX_RE = re.compile(r"[0-9a-f]*")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hex_decode(text: object, *, size: int | None = None, what: str = "value") -> bytes:
    """Decode lowercase hex; with ``size``, require exactly that many bytes.

    Raises InvalidEncoding for anything else (uppercase, odd length, wrong size, not a string).
    """
    if not isinstance(text, str) or len(text) % 2 or not _HEX_RE.fullmatch(text):
        raise InvalidEncoding(f"{what} must be lowercase hex")
    data = bytes.fromhex(text)
    if size is not None and len(data) != size:
        raise InvalidEncoding(f"{what} must be {size} bytes ({2 * size} hex digits)")
    return data


def hash_from_hex(text: object, what: str = "hash") -> bytes:
    """A SHA-256 value written as 64 lowercase hex digits."""
    return hex_decode(text, size=HASH_SIZE, what=what)


def b64_encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def b64_decode(text: object, *, size: int | None = None, what: str = "value") -> bytes:
    """Decode standard base64 with padding (RFC 4648 §4), canonical form only."""
    if not isinstance(text, str) or not text.isascii():
        raise InvalidEncoding(f"{what} must be base64 text")
    # Fast path. Text that the lenient C decoder turns into bytes which encode back to that very
    # text is canonical base64: it passes every check below and decodes to the same bytes. All
    # other text takes the checks below, which decide and word the refusal.
    try:
        data = binascii.a2b_base64(text)
    except (binascii.Error, ValueError):
        pass
    else:
        if binascii.b2a_base64(data, newline=False) == text.encode("ascii") and (
            size is None or len(data) == size
        ):
            return data
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidEncoding(f"{what} is not valid base64") from e
    # Reject non-canonical spellings (non-zero padding bits) by round-tripping.
    if base64.b64encode(data).decode("ascii") != text:
        raise InvalidEncoding(f"{what} is not canonical base64")
    if size is not None and len(data) != size:
        raise InvalidEncoding(f"{what} must decode to {size} bytes")
    return data
