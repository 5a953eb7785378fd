"""Strict JSON in, RFC 8785 (JCS) canonical bytes out.

``parse_json`` accepts only what a signed statement may contain: UTF-8 text with no lone surrogates,
objects without duplicate member names, strings, booleans, null, arrays and *integers* in the I-JSON
safe range. Floats are refused (money is a decimal string; durations and sizes are integers) rather
than rounded, and nothing is ever "fixed". ``canonicalize`` is the one function that produces the
bytes that are signed and hashed. No I/O here.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from .errors import MalformedJSON

#: I-JSON (RFC 7493 §2.2) and JCS require integers that an IEEE 754 double represents exactly.
MAX_SAFE_INTEGER = 2**53 - 1
#: Deeper nesting than any statement needs is refused before Python's recursion limit is reached.
MAX_DEPTH = 32

JSONValue = Any


def _reject_float(text: str) -> float:
    raise MalformedJSON(f"numbers with a fraction or exponent are not allowed: {text[:40]}")


def _reject_constant(name: str) -> float:
    raise MalformedJSON(f"{name} is not JSON")


def _parse_int(text: str) -> int:
    if len(text) > 17:  # cheaper than int() on hostile 10,000-digit input
        raise MalformedJSON("integer out of range")
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise MalformedJSON("integer out of range (|n| must be at most 2^53 - 1)")
    return value


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedJSON(f"duplicate member name {key!r}")
        result[key] = value
    return result


def _check_tree(value: Any, depth: int = 0) -> None:
    """Refuse lone surrogates (json accepts ``"\\ud800"``), floats and excessive nesting.

    ``depth`` counts the containers around ``value``; a container at depth MAX_DEPTH would be
    the (MAX_DEPTH + 1)-th level, whether or not it holds anything.
    """
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        raise MalformedJSON(f"nesting deeper than {MAX_DEPTH} levels")
    if isinstance(value, float):
        raise MalformedJSON("numbers with a fraction or exponent are not allowed")
    if isinstance(value, str):
        _check_string(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_string(key)
            _check_tree(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_tree(item, depth + 1)


def _check_string(text: object) -> None:
    if not isinstance(text, str):
        raise MalformedJSON("member names must be strings")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise MalformedJSON("string contains a lone surrogate") from e


def parse_json(data: bytes | str) -> JSONValue:
    """Parse strict JSON. Raises MalformedJSON for anything outside the subset described above."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedJSON("body is not valid UTF-8") from e
    else:
        text = data
    if text.startswith("\ufeff"):
        raise MalformedJSON("a byte order mark is not allowed")
    # The stdlib parser recurses per nesting level; bound it before it can blow the stack.
    if _nesting_exceeds(text, MAX_DEPTH + 1):
        raise MalformedJSON(f"nesting deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_float=_reject_float,
            parse_int=_parse_int,
            parse_constant=_reject_constant,
        )
    except MalformedJSON:
        raise
    except (ValueError, RecursionError) as e:
        raise MalformedJSON(f"not valid JSON: {e}") from e
    _check_tree(value)
    return value


def _nesting_exceeds(text: str, limit: int) -> bool:
    """A cheap upper bound on nesting: brackets outside strings (escapes honoured)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def canonicalize(value: JSONValue) -> bytes:
    """RFC 8785 canonical bytes of a parsed JSON value.

    Raises MalformedJSON for values JCS cannot represent (floats, out-of-range integers, lone
    surrogates, non-string keys).
    """
    _check_tree(value)
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as e:
        raise MalformedJSON(f"cannot canonicalize: {e}") from e
