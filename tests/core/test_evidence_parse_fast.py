"""The verifier's fast parsing of bundle entries, items and statements is pinned to the strict
parsers.

``_fast_entry`` / ``_fast_verdict`` may return a value only where ``_parse_entry`` /
``_parse_verdict`` accept the same object and return an equal value; anywhere else they return
None and the strict parser decides (and words the refusal). Checked over the entries and items of
an honest bundle with every member, at any depth, replaced by awkward values, dropped or added.
"""

from __future__ import annotations

import base64
import copy
import random
import string
from typing import Any

import pytest

from ledger.core import builders
from ledger.core.canonical import canonicalize, parse_json
from ledger.core.encoding import b64_decode
from ledger.core.errors import InvalidStatement, LedgerError
from ledger.core.evidence.parse import (
    _canonical_b64,
    _fast_entry,
    _fast_verdict,
    _parse_entry,
    _parse_verdict,
)
from ledger.core.leaf import split_leaf_fields
from ledger.core.statements import STATEMENT_TYPES, parse_canonical_statement, parse_statement
from tests.support.evidence_helpers import BUNDLE
from tests.support.factories import T0, json_paths, replace_at, seeded_key

ENTRIES: list[dict[str, Any]] = BUNDLE["entries"]
ITEMS: list[dict[str, Any]] = BUNDLE["items"] + [
    {**BUNDLE["items"][0], "conflicts": [[1, 2]]},
    {**BUNDLE["items"][0], "entries": []},
    {**BUNDLE["items"][0], "grant_seq": None, "licensed": False, "reason": "no_grant"},
]

_HEX = "ab" * 32
AWKWARD: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    2**64,
    "",
    "x",
    "AA==",
    "AAA=",
    "AAB=",
    "AA==\n",
    " AA==",
    "é",
    _HEX,
    _HEX.upper(),
    _HEX[:-1],
    _HEX + "a",
    _HEX[:-2] + " a",
    _HEX[:-1] + "\u0661",
    "licensed",
    "no_grant",
    "nope",
    [],
    [_HEX],
    [_HEX, _HEX],
    [_HEX[:-1], _HEX + "a"],
    [_HEX + " " + _HEX],
    [_HEX.upper()],
    [1],
    [True],
    [-1],
    [1.0],
    [0, 1],
    [[1, 2]],
    [[1, 2, 3]],
    [[True, 2]],
    {},
]


def _mutations(obj: dict[str, Any]) -> list[Any]:
    out: list[Any] = [obj, dict(reversed(obj.items()))]
    for path in json_paths(obj):
        out.extend(replace_at(obj, path, value) for value in AWKWARD)
        if len(path) == 1:
            out.append({k: v for k, v in obj.items() if k != path[0]})
    out.append({**obj, "extra": 1})
    return out


def _pinned(fast: Any, strict: Any, obj: Any) -> bool:
    try:
        expected = strict(copy.deepcopy(obj), 0)
    except LedgerError:
        expected = None
    got = fast(obj)
    if got is not None:
        assert expected is not None, obj
        assert got == expected, obj
    return got is not None


@pytest.mark.parametrize("entry", ENTRIES, ids=[str(e["seq"]) for e in ENTRIES])
def test_fast_entry_agrees_with_parse_entry(entry: dict[str, Any]) -> None:
    assert _pinned(_fast_entry, _parse_entry, entry)  # an honest entry takes the fast path
    for changed in _mutations(entry):
        _pinned(_fast_entry, _parse_entry, changed)


@pytest.mark.parametrize("item", ITEMS, ids=[str(i) for i in range(len(ITEMS))])
def test_fast_verdict_agrees_with_parse_verdict(item: dict[str, Any]) -> None:
    if not item["conflicts"]:
        assert _pinned(_fast_verdict, _parse_verdict, item)
    for changed in _mutations(item):
        _pinned(_fast_verdict, _parse_verdict, changed)


def test_canonical_b64_is_b64_decode_on_canonical_text_and_refuses_all_else() -> None:
    rng = random.Random(4648)
    alphabet = string.ascii_letters + string.digits + "+/=\n -_é\x00"
    texts = ["", "=", "==", "A===", "AA==", "AB==", "AAA=", "AAB=", "AAAA", "AA=A", "=AAA"]
    for _ in range(100_000):
        text = base64.b64encode(rng.randbytes(rng.randint(0, 9))).decode()
        if rng.random() < 0.3:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        for _ in range(rng.randint(0, 2)):
            if text:
                i = rng.randrange(len(text))
                text = text[:i] + rng.choice(alphabet) + text[i + 1 :]
        texts.append(text)
    for text in texts:
        try:
            expected: bytes | None = b64_decode(text)
        except LedgerError:
            expected = None
        assert _canonical_b64(text) == expected, text


def _reference_canonical_statement(data: bytes) -> tuple[Any, Any]:
    """The statement check of a leaf done only the strict way (strict JSON, the member-by-member
    parse, RFC 8785 bytes compared)."""
    body = parse_json(data)
    statement = parse_statement(body)
    if canonicalize(body) != data:
        raise InvalidStatement("statement bytes are not in RFC 8785 canonical form")
    return body, statement


def _outcome(func: Any, data: bytes) -> Any:
    try:
        return func(data)
    except LedgerError as e:
        return type(e), e.message


def _statement_texts() -> list[bytes]:
    """The bundle's statements, and one of each type it lacks (the verifier reads every type)."""
    out = []
    for entry in ENTRIES:
        leaf = base64.b64decode(entry["leaf"])
        out.append(split_leaf_fields(leaf)[3])
    creator, new = seeded_key(1), seeded_key(3)
    out += [
        s.statement_bytes
        for s in (
            builders.party_register(
                creator, "Zoe studio-2", identity_commitment="ab" * 32, issued_at=T0
            ),
            builders.key_rotate(creator, new, issued_at=T0),
            builders.key_revoke(new, creator.key_id, "retired", issued_at=T0),
            builders.grant_revoke(creator, bytes(range(32)), T0, issued_at=T0),
        )
    ]
    return out


STATEMENTS = _statement_texts()
SWAPS = [
    (b"1000", b"9007199254740993"),
    (b"1000", b"-0"),
    (b"1000", b"1e3"),
    (b"1000", b"1000.0"),
    (b"1000", b"NaN"),
    (b'"v":1', b'"v":1.0'),
    (b'"v":1', b'"v":01'),
    (b'"v":1', b'"v": 1'),
    (b'"v":1', b'"v":true'),
    (b'"v":1', b'"v":1,"v":1'),
    (b"{", b" {"),
    (b"}", b"} "),
    (b"}", b"}\n"),
    (b'"grant_hash"', b'"grant\\u005fhash"'),
    (b'"nonce"', b'"nonce","nonce":"00"'),
    (b"false", b"0"),
    (b"worldwide", b"worldwid\\u0065"),
    (b'"signer"', b'"signer":"x","signer"'),
]


def test_the_statements_mutated_below_are_valid_and_of_every_type() -> None:
    types = set()
    for data in STATEMENTS:
        _, statement = parse_canonical_statement(data)  # raises if refused
        types.add(statement.type_name)
    assert types == set(STATEMENT_TYPES)


@pytest.mark.parametrize("data", STATEMENTS, ids=[str(i) for i in range(len(STATEMENTS))])
def test_statement_check_decides_as_the_strict_steps(data: bytes) -> None:
    rng = random.Random(data)
    texts = [data] + [data.replace(old, new, 1) for old, new in SWAPS if old in data]
    for _ in range(400):
        out = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(out))
            kind = rng.randrange(3)
            if kind == 0:
                out[i] ^= 1 << rng.randrange(8)
            elif kind == 1:
                out.insert(i, rng.choice(b' ,:{}[]"0129aeE.-\\\n'))
            else:
                del out[i]
        texts.append(bytes(out))
    for text in texts:
        assert _outcome(parse_canonical_statement, text) == _outcome(
            _reference_canonical_statement, text
        ), text
