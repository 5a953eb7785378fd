"""Strict JSON parsing and RFC 8785 (JCS) canonical bytes: ``ledger.core.canonical``."""

from __future__ import annotations

import time
from typing import Any

import pytest
import rfc8785
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.core.canonical import MAX_DEPTH, MAX_SAFE_INTEGER, canonicalize, parse_json
from ledger.core.errors import MalformedJSON

# --- Published vectors -------------------------------------------------------------------------

# RFC 8785 §3.2.3: members are sorted by the UTF-16 code units of their names, so U+1F600 (the
# surrogate pair d83d de00) sorts before U+FB33 although its code point is larger.
RFC8785_SORTING_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC8785_SORTING_OUTPUT = (
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
    '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
    '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
).encode()

# RFC 8785 §3.2.2 sample, without its "numbers" member (floats are refused here by design).
RFC8785_SAMPLE_INPUT = r"""{
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC8785_SAMPLE_OUTPUT = (
    b'{"literals":[null,true,false],"string":"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(RFC8785_SORTING_INPUT, RFC8785_SORTING_OUTPUT, id="rfc8785-3.2.3-sorting"),
        pytest.param(RFC8785_SAMPLE_INPUT, RFC8785_SAMPLE_OUTPUT, id="rfc8785-3.2.2-sample"),
        # Appendix B: the integers at the edge of the I-JSON range print as themselves.
        pytest.param("9007199254740991", b"9007199254740991", id="rfc8785-B-max-safe"),
        pytest.param("-9007199254740991", b"-9007199254740991", id="rfc8785-B-min-safe"),
        pytest.param("-0", b"0", id="rfc8785-B-minus-zero"),
        # §3.2.2.2: the short escapes, \u00XX (lowercase) for other controls, DEL and
        # non-ASCII as raw UTF-8, "/" unescaped.
        pytest.param(
            r'"\u0000\u0001\b\t\n\f\r\u001F\u007f\u00e9\/"',
            b'"\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\x7f\xc3\xa9/"',
            id="control-escapes",
        ),
        pytest.param(
            '{"b": [1, {"d": true, "c": null}], "a": "x"}',
            b'{"a":"x","b":[1,{"c":null,"d":true}]}',
            id="nested-sort-whitespace",
        ),
    ],
)
def test_published_vectors(text: str, expected: bytes) -> None:
    assert canonicalize(parse_json(text)) == expected
    assert canonicalize(parse_json(text.encode())) == expected


# --- Strictness --------------------------------------------------------------------------------


def _nested(depth: int, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


def _nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


REJECTED: list[Any] = [
    pytest.param(b'{"a":1,"a":2}', id="duplicate-key"),
    pytest.param(b'{"x":{"a":1,"a":2}}', id="duplicate-key-nested"),
    pytest.param(b'[{"a":1,"a":1}]', id="duplicate-key-in-array"),
    pytest.param(b'{"a":1,"\\u0061":2}', id="duplicate-key-by-escape"),
    pytest.param(b"1.0", id="float-1.0"),
    pytest.param(b"1e5", id="float-1e5"),
    pytest.param(b"1E400", id="float-overflow"),
    pytest.param(b"-0.0", id="float-minus-zero"),
    pytest.param(b'{"a":0.5}', id="float-nested"),
    pytest.param(b"NaN", id="nan"),
    pytest.param(b"Infinity", id="infinity"),
    pytest.param(b"[-Infinity]", id="minus-infinity"),
    pytest.param(str(MAX_SAFE_INTEGER + 1).encode(), id="int-2^53"),
    pytest.param(str(-MAX_SAFE_INTEGER - 1).encode(), id="int-minus-2^53"),
    pytest.param(b"1" * 5000, id="int-5000-digits"),
    pytest.param(b'"\xff"', id="utf8-invalid-byte"),
    pytest.param(b'"\xc3"', id="utf8-truncated"),
    pytest.param(b'"\xc0\xaf"', id="utf8-overlong"),
    pytest.param(b'"\xed\xa0\x80"', id="utf8-encoded-surrogate"),
    pytest.param(b'"\\ud800"', id="lone-high-surrogate-value"),
    pytest.param(b'"\\udc00"', id="lone-low-surrogate-value"),
    pytest.param(b'"\\ude00\\ud83d"', id="reversed-surrogate-pair"),
    pytest.param(b'{"\\ud800":1}', id="lone-surrogate-key"),
    pytest.param(b"\xef\xbb\xbf{}", id="bom-bytes"),
    pytest.param("\ufeff{}", id="bom-text"),
    pytest.param(_nested(MAX_DEPTH + 1).encode(), id="arrays-33-deep"),
    pytest.param(_nested(MAX_DEPTH + 1, "0").encode(), id="arrays-33-deep-with-value"),
    pytest.param(_nested_objects(MAX_DEPTH + 1).encode(), id="objects-33-deep"),
    pytest.param(_nested(100_000).encode(), id="arrays-100000-deep"),
    pytest.param(b"[" * 100_000, id="unclosed-100000-deep"),
    pytest.param(b'{"a":' * 100_000, id="objects-100000-deep-unclosed"),
    pytest.param(b'{"a":1}x', id="trailing-garbage"),
    pytest.param(b"{} {}", id="two-documents"),
    pytest.param(b"", id="empty"),
    pytest.param(b"   ", id="whitespace-only"),
    pytest.param(b"[1,]", id="trailing-comma"),
    pytest.param(b"{'a':1}", id="single-quotes"),
    pytest.param(b'"a\x01b"', id="raw-control-char"),
    pytest.param(b"[1] // comment", id="comment"),
    pytest.param(b"0x10", id="hex-number"),
]


@pytest.mark.parametrize("data", REJECTED)
def test_parse_json_rejects(data: bytes | str) -> None:
    with pytest.raises(MalformedJSON) as exc:
        parse_json(data)
    assert type(exc.value) is MalformedJSON
    assert exc.value.code == "malformed_json"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_nested(MAX_DEPTH), id="arrays-32-deep"),
        pytest.param(_nested(MAX_DEPTH, "0"), id="arrays-32-deep-with-value"),
        pytest.param(_nested_objects(MAX_DEPTH), id="objects-32-deep"),
        pytest.param('"' + "[{" * 10_000 + '"', id="brackets-inside-a-string"),
        pytest.param('["\\"' + "[" * 100 + '"]', id="brackets-after-escaped-quote"),
        pytest.param('"\\ud83d\\ude00"', id="surrogate-pair"),
        pytest.param(str(MAX_SAFE_INTEGER), id="max-safe-int"),
    ],
)
def test_parse_json_accepts_the_edges(text: str) -> None:
    value = parse_json(text)
    assert parse_json(canonicalize(value)) == value


@pytest.mark.parametrize("digits", [5_000, 1_000_000])
def test_huge_integer_is_refused_fast(digits: int) -> None:
    start = time.perf_counter()
    with pytest.raises(MalformedJSON):
        parse_json(b"9" * digits)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"a": 1.0}, id="float"),
        pytest.param([0.5], id="float-in-list"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(MAX_SAFE_INTEGER + 1, id="int-2^53"),
        pytest.param({1: "a"}, id="non-string-key"),
        pytest.param({"a": "\ud800"}, id="lone-surrogate-value"),
        pytest.param({"\udc00": 1}, id="lone-surrogate-key"),
        pytest.param({"a": b"x"}, id="bytes"),
        pytest.param(_nested_list(MAX_DEPTH + 1), id="list-33-deep"),
    ],
)
def test_canonicalize_refuses_what_jcs_cannot_represent(value: Any) -> None:
    with pytest.raises(MalformedJSON) as exc:
        canonicalize(value)
    assert exc.value.code == "malformed_json"


# --- Properties --------------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | _TEXT,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_TEXT, children, max_size=5),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@settings(database=None)
@given(_JSON)
def test_canonical_form_is_a_fixed_point(value: Any) -> None:
    assume(_depth(value) <= MAX_DEPTH)
    canonical = canonicalize(value)
    assert parse_json(canonical) == value
    assert canonicalize(parse_json(canonical)) == canonical


# Fragments that steer random text into the parser's interesting corners.
_JSONISH = st.lists(
    st.sampled_from(
        [
            "{",
            "}",
            "[",
            "]",
            '"',
            ":",
            ",",
            "0",
            "1",
            "-",
            ".",
            "e",
            "\\",
            "u",
            "d800",
            "\\ud83d",
            "true",
            "null",
            "NaN",
            " ",
            "\n",
            "\ud800",
            "\ufeff",
            "\x00",
            "a",
            "é",
            '"a"',
            "9" * 20,
        ]
    ),
    max_size=40,
).map("".join)


def _parse_or_malformed(data: bytes | str) -> None:
    try:
        value = parse_json(data)
    except MalformedJSON:
        return
    # Whatever is accepted can be canonicalized (no float, surrogate or overflow slipped through).
    canonicalize(value)


@settings(database=None)
@given(st.binary(max_size=200))
def test_parse_json_only_raises_malformed_json_on_bytes(data: bytes) -> None:
    _parse_or_malformed(data)


@settings(database=None)
@given(st.text(st.characters(codec=None, exclude_categories=[]), max_size=100) | _JSONISH)
def test_parse_json_only_raises_malformed_json_on_text(text: str) -> None:
    _parse_or_malformed(text)
    _parse_or_malformed(text.encode("utf-8", "surrogatepass"))


# --- The fast encoder against the reference implementation -----------------------------------

# Names and strings drawn to hit the corners of RFC 8785 ordering and escaping: controls, DEL,
# characters just below and above the surrogate block, the private-use block and astral ones.
_TRICKY_TEXT = st.text(
    st.one_of(
        st.characters(max_codepoint=0x7F),
        st.sampled_from(["\ud7ff", "\ue000", "\ufb33", "\uffff", "\U0001f600", "\U00010000"]),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=8,
)
_TRICKY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | _TRICKY_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_TRICKY_TEXT, children, max_size=6)
    ),
    max_leaves=25,
)


@settings(database=None, max_examples=300)
@given(_TRICKY_JSON)
def test_canonicalize_matches_rfc8785_reference(value: Any) -> None:
    assume(_depth(value) <= MAX_DEPTH)
    assert canonicalize(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param((1, "a", None), id="tuple-as-array"),
        pytest.param({"b": (True, {"z": 1, "a": 2})}, id="tuple-nested"),
        pytest.param({"\U0001f600": 1, "\ufb33": 2, "a": 3}, id="utf16-order"),
    ],
)
def test_canonicalize_matches_rfc8785_on_other_containers(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


def test_canonicalize_refuses_a_float_inside_a_tuple() -> None:
    with pytest.raises(MalformedJSON):
        canonicalize({"a": (1, 0.5)})
