"""Hypothesis fuzzing of statement parsing and canonicalization.

The property, for any input: either a typed ``LedgerError`` (never another exception), or a
statement whose canonical bytes parse back to the same value, canonicalize to themselves, and
parse to the same typed statement. Inputs are random bytes, mutations of real signed envelopes'
wire bytes, and valid statement bodies with one member replaced by arbitrary JSON.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import builders
from ledger.core.canonical import canonicalize, parse_json
from ledger.core.errors import LedgerError
from ledger.core.statements import SignedStatement, parse_statement
from tests.support.factories import T0, json_paths, json_values, replace_at, seeded_key

CREATOR, BUYER = seeded_key(1), seeded_key(2)

SAMPLES = [
    builders.party_register(CREATOR, "creator", issued_at=T0, nonce="00" * 16),
    builders.grant(
        CREATOR,
        BUYER.key_id,
        str(uuid.UUID(int=7)),
        [builders.Item("ab" * 32, 10, 5, c2pa_hash="cd" * 32)],
        builders.TermsSpec(revocable=True, notice_days=30, prohibitions=("replicate_voice",)),
        issued_at=T0,
        nonce="11" * 16,
    ),
    builders.key_rotate(CREATOR, BUYER, issued_at=T0, nonce="22" * 16),
]
WIRES = [json.dumps(s.to_json()).encode() for s in SAMPLES]

_JSON = json_values()


def _check_accepted(signed: SignedStatement) -> None:
    """What any accepted statement must satisfy."""
    canonical = signed.statement_bytes
    value = parse_json(canonical)
    assert value == signed.body
    assert canonicalize(value) == canonical
    assert parse_statement(value) == signed.statement
    assert SignedStatement.from_json(signed.to_json()).statement_bytes == canonical


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, position, byte in edits:
        if not out:
            break
        i = position % len(out)
        if kind == 0:
            out[i] ^= 1 << (byte % 8)
        elif kind == 1:
            out.insert(i, byte)
        else:
            del out[i]
    return bytes(out)


@settings(database=None, max_examples=400)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_typed_error_or_a_statement(data: bytes) -> None:
    try:
        signed = SignedStatement.from_bytes(data)
    except LedgerError:
        return
    _check_accepted(signed)


@settings(database=None, max_examples=600)
@given(
    st.sampled_from(WIRES),
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_envelopes_give_a_typed_error_or_a_statement(
    wire: bytes, edits: list[tuple[int, int, int]]
) -> None:
    try:
        signed = SignedStatement.from_bytes(_mutate(wire, edits))
    except LedgerError:
        return
    # A mutation may survive only where it changes no signed byte (whitespace, say).
    assert any(signed.statement_bytes == s.statement_bytes for s in SAMPLES)
    _check_accepted(signed)


@settings(database=None, max_examples=600)
@given(st.sampled_from(SAMPLES), st.data())
def test_statement_bodies_with_a_member_replaced(sample: SignedStatement, data: Any) -> None:
    body = parse_json(sample.statement_bytes)
    path = data.draw(st.sampled_from(json_paths(body)))
    changed = replace_at(body, path, data.draw(_JSON))
    try:
        canonical = canonicalize(changed)
        statement = parse_statement(changed)
    except LedgerError:
        return
    reparsed = parse_json(canonical)
    assert reparsed == changed
    assert canonicalize(reparsed) == canonical
    assert parse_statement(reparsed) == statement


@settings(database=None, max_examples=300)
@given(st.sampled_from(SAMPLES), st.text(max_size=6), st.data())
def test_an_extra_member_anywhere_is_refused(sample: SignedStatement, name: str, data: Any) -> None:
    body = parse_json(sample.statement_bytes)
    objects = [p for p in json_paths(body) if isinstance(_at(body, p), dict)]
    path = data.draw(st.sampled_from(objects))
    target = _at(body, path)
    if name in target:
        return
    changed = replace_at(body, path, {**target, name: data.draw(_JSON)})
    with pytest.raises(LedgerError) as info:
        parse_statement(changed)
    assert info.value.code == "invalid_statement"
    assert "unknown member" in info.value.message


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value
