"""Strict JSON in, RFC 8785 (JCS) canonical bytes out.

``parse_json`` accepts only what a signed statement may contain: UTF-8 text with no lone surrogates,
objects without duplicate member names, strings, booleans, null, arrays and *integers* in the I-JSON
safe range. Floats are refused (money is a decimal string; durations and sizes are integers) rather
than rounded, and nothing is ever "fixed". ``canonicalize`` is the one function that produces the
bytes that are signed and hashed. No I/O here.
"""

from __future__ import annotations

import json
import re
from typing import Any

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
    result = dict(pairs)
    if len(result) != len(pairs):  # a name came twice: find it for the message
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedJSON(f"duplicate member name {key!r}")
            seen.add(key)
    return result


def _check_tree(value: Any, depth: int = 0) -> None:
    """Refuse lone surrogates (json accepts ``"\\ud800"``), floats and excessive nesting.

    ``depth`` counts the containers around ``value``; a container at depth MAX_DEPTH would be
    the (MAX_DEPTH + 1)-th level, whether or not it holds anything. Only ``parse_json``'s slow
    path uses this walk: text that may hold an escaped surrogate.
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


# One decoder for every call: json.loads(**hooks) would build a new one (and its scanner) each time.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates,
    parse_float=_reject_float,
    parse_int=_parse_int,
    parse_constant=_reject_constant,
)
#: A \u escape of a UTF-16 surrogate (D800-DFFF), the only way valid UTF-8 text can yield a lone
#: surrogate through json. A hit (even a paired or a double-backslash one) takes the full walk.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def parse_json(data: bytes | str) -> JSONValue:
    """Parse strict JSON. Raises MalformedJSON for anything outside the subset described above."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedJSON("body is not valid UTF-8") from e
    else:
        text = data
        _check_string(text)  # a str may hold raw lone surrogates; decoded bytes cannot
    if text.startswith("\ufeff"):
        raise MalformedJSON("a byte order mark is not allowed")
    # The stdlib parser recurses per nesting level; bound it before it can blow the stack. The
    # scan is exact (it honours strings and escapes), so the parsed value needs no depth walk.
    if _nesting_exceeds(text, MAX_DEPTH):
        raise MalformedJSON(f"nesting deeper than {MAX_DEPTH} levels")
    try:
        value = _DECODER.decode(text)
    except MalformedJSON:
        raise
    except (ValueError, RecursionError) as e:
        raise MalformedJSON(f"not valid JSON: {e}") from e
    # Floats and constants were refused by the hooks, names are strings and raw text holds no
    # surrogate; only an escaped surrogate may be left alone, so only then walk the tree.
    if _SURROGATE_ESCAPE.search(text):
        _check_tree(value)
    return value


#: A JSON string literal (RFC 8259 §7: escapes honoured), and a bracket: ``_nesting_exceeds``.
_STRING_LITERAL = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _nesting_exceeds(text: str, limit: int) -> bool:
    """A cheap upper bound on nesting: brackets outside strings (escapes honoured).

    The string literals are cut out first, in one pass of the regular-expression engine, then
    only the brackets left are walked: exact for valid JSON (outside a string, ``"`` opens one,
    and it ends at the first unescaped ``"``), and a byte-by-byte loop in Python over a bundle
    of 100 MB would take seconds. Where the text stops being JSON the decoder stops too.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_STRING_LITERAL.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def canonicalize(value: JSONValue) -> bytes:
    """RFC 8785 canonical bytes of a parsed JSON value.

    Raises MalformedJSON for values JCS cannot represent here (floats, integers beyond 2^53 - 1,
    lone surrogates, non-string keys, other types, nesting deeper than MAX_DEPTH). No I/O.

    One walk validates the tree and rebuilds it with object members in RFC 8785 §3.2.3 order;
    the C encoder of ``json`` then writes it. With only strings, safe integers, booleans and null
    left, its output is exactly JCS (§3.2.2): no whitespace, the short escapes for \\b \\t \\n
    \\f \\r, ``\\u00xx`` (lowercase) for the other controls, everything else as raw UTF-8.
    ``rfc8785.dumps`` is the reference the tests compare against.
    """
    ordered = _jcs_ordered(value, 0)
    text = _ENCODER.encode(ordered)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate in a name or a string
        raise MalformedJSON("cannot canonicalize: string contains a lone surrogate") from e


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")
)


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


def _jcs_ordered(value: Any, depth: int) -> Any:
    """``value`` checked for JCS and rebuilt with members in UTF-16 code unit order."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        raise MalformedJSON("cannot canonicalize: integer out of range (|n| > 2^53 - 1)")
    if kind is dict or kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            raise MalformedJSON(f"nesting deeper than {MAX_DEPTH} levels")
        if kind is dict:
            return _jcs_object(value, depth + 1)
        return [_jcs_member(item, depth + 1) for item in value]
    return _jcs_subclass(value, depth)


def _jcs_member(item: Any, depth: int) -> Any:
    """``_jcs_ordered`` for a member at ``depth``, with the common scalars checked inline."""
    kind = type(item)
    if kind is str or kind is bool or item is None:
        return item
    if kind is int and -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
        return item
    return _jcs_ordered(item, depth)


def _jcs_object(value: dict[Any, Any], depth: int) -> dict[str, Any]:
    """Members of an object at ``depth`` in RFC 8785 §3.2.3 order, each checked."""
    names = list(value)
    for name in names:
        if type(name) is not str:
            if not isinstance(name, str):
                raise MalformedJSON("cannot canonicalize: member names must be strings")
            return _jcs_object({str(k): v for k, v in value.items()}, depth)
    # Code point order equals UTF-16 order unless a name holds a character above U+D7FF
    # (astral characters sort before U+E000..U+FFFF in UTF-16): only then sort by UTF-16.
    if "".join(names).isascii():
        names.sort()
    else:
        names.sort(key=_utf16_key)
    return {name: _jcs_member(value[name], depth) for name in names}


def _jcs_subclass(value: Any, depth: int) -> Any:
    """Subclasses of the JSON types (an IntEnum, say) as their base type; anything else refused."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return _jcs_ordered(int(value), depth)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (list, tuple)):
        return _jcs_ordered(list(value), depth)
    if isinstance(value, dict):
        return _jcs_ordered(dict(value), depth)
    if isinstance(value, float):
        raise MalformedJSON("numbers with a fraction or exponent are not allowed")
    raise MalformedJSON(f"cannot canonicalize: {type(value).__name__} is not a JSON type")
