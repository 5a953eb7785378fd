"""The small part of CBOR (RFC 8949) that COSE receipts and signed statements need. Pure: no I/O.

Encoding is *core deterministic* (RFC 8949 §4.2.1): the shortest form of every integer, length
and tag, definite lengths only, map keys sorted by their encoded bytes. So one value has one
encoding, and the bytes a receipt's signature covers can be rebuilt by anyone.

Decoding is strict where a lax decoder would let two parties see different values in the same
bytes: one item and nothing after it, definite lengths only, shortest forms only, no duplicate
map keys, nesting at most ``MAX_DEPTH`` deep. Maps from other encoders may come in any key order
(a signature covers the bytes as sent, never a re-encoding). Floats, ``undefined`` and other
simple values are refused: nothing here uses them.

Types: ``int`` (major types 0 and 1, within 64 bits), ``bytes`` (2), ``str`` (3), ``list``
(4; decoded as ``list``), ``dict`` (5), ``Tag`` (6), and ``False``/``True``/``None`` (7).
Raises ``CborError`` (a ``ValueError``); callers wrap it in their own error with what was read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

#: Nesting limit for decoding: receipts and statements nest four or five levels.
MAX_DEPTH = 16
_UINT64_MAX = 2**64 - 1
_SIMPLE = {20: False, 21: True, 22: None}


class CborError(ValueError):
    """Bytes that are not CBOR this module accepts, or a value it cannot encode."""


@dataclass(frozen=True)
class Tag:
    """A tagged item (major type 6)."""

    number: int
    value: Any


# --- encoding ------------------------------------------------------------------------------------


def head(major: int, n: int) -> bytes:
    """The initial byte and argument of an item, in its shortest form (RFC 8949 §4.2.1): for
    callers that build a known structure by concatenation (``receipts.encode_receipt``)."""
    if n < 24:
        return bytes([major << 5 | n])
    if n < 2**8:
        return bytes([major << 5 | 24, n])
    if n < 2**16:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    if n < 2**32:
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    if n <= _UINT64_MAX:
        return bytes([major << 5 | 27]) + struct.pack(">Q", n)
    raise CborError("integer out of CBOR's 64-bit range")


def encode(value: Any) -> bytes:
    """The core deterministic encoding of ``value``; raises CborError for another type."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _encode(value: Any, out: bytearray) -> None:
    # bool before int: True is an int in Python, never one in CBOR.
    if value is False or value is True or value is None:
        out.append(0xF4 if value is False else 0xF5 if value is True else 0xF6)
    elif isinstance(value, int):
        out += head(0, value) if value >= 0 else head(1, -1 - value)
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out += head(2, len(raw)) + raw
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out += head(3, len(raw)) + raw
    elif isinstance(value, list | tuple):
        out += head(4, len(value))
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        pairs = sorted((encode(k), encode(v)) for k, v in value.items())
        out += head(5, len(pairs))
        for k, v in pairs:
            out += k + v
    elif isinstance(value, Tag):
        out += head(6, value.number)
        _encode(value.value, out)
    else:
        raise CborError(f"cannot encode a {type(value).__name__} as CBOR")


# --- decoding ------------------------------------------------------------------------------------


def decode(data: bytes) -> Any:
    """The one CBOR item in ``data``; raises CborError (see the module docstring for the rules)."""
    data = bytes(data)
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise CborError(f"{len(data) - end} bytes after the CBOR item")
    return value


def _argument(data: bytes, pos: int) -> tuple[int, int, int]:
    """(major type, argument, position after it); refuses indefinite and non-shortest forms."""
    if pos >= len(data):
        raise CborError("CBOR item cut short")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        return major, info, pos
    if info > 27:
        raise CborError("indefinite-length or reserved CBOR item")
    width = 1 << (info - 24)
    if pos + width > len(data):
        raise CborError("CBOR item cut short")
    n = int.from_bytes(data[pos : pos + width], "big")
    smallest = 24 if width == 1 else 1 << (4 * width)  # 24, 2^8, 2^16, 2^32
    if major != 7 and n < smallest:
        raise CborError("CBOR integer or length not in its shortest form")
    return major, n, pos + width


def _decode(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise CborError(f"CBOR nested deeper than {MAX_DEPTH}")
    start = pos
    major, n, pos = _argument(data, pos)
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major in (2, 3):
        return _string(data, pos, n, major)
    if major in (4, 5):
        return _container(data, pos, n, major, depth)
    if major == 6:
        value, pos = _decode(data, pos, depth + 1)
        return Tag(n, value), pos
    if data[start] & 0x1F in _SIMPLE:
        return _SIMPLE[data[start] & 0x1F], pos
    raise CborError("CBOR float or simple value other than false, true and null")


def _string(data: bytes, pos: int, n: int, major: int) -> tuple[bytes | str, int]:
    if pos + n > len(data):
        raise CborError("CBOR string cut short")
    raw = data[pos : pos + n]
    if major == 2:
        return raw, pos + n
    try:
        return raw.decode("utf-8"), pos + n
    except UnicodeDecodeError as e:
        raise CborError("CBOR text string is not UTF-8") from e


def _container(data: bytes, pos: int, n: int, major: int, depth: int) -> tuple[Any, int]:
    if major == 4:
        items = []
        for _ in range(n):
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos
    result: dict[Any, Any] = {}
    for _ in range(n):
        key, pos = _decode(data, pos, depth + 1)
        if not isinstance(key, int | str | bytes) or isinstance(key, bool):
            raise CborError("CBOR map key is not an integer, text or byte string")
        if key in result:
            raise CborError(f"duplicate CBOR map key {key!r}")
        result[key], pos = _decode(data, pos, depth + 1)
    return result, pos
