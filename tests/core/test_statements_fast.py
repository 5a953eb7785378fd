"""The fast path of parse_statement (grants and acceptances) is pinned to the strict parser.

``_fast_grant`` / ``_fast_accept`` may return a statement only where ``_parse_statement_strict``
accepts the same object and returns an equal statement, with exactly the canonical text that the
verifier's encoder and RFC 8785 give; anywhere else they must return None (the strict parser then
decides). Checked over valid statements of every optional shape and over
thousands of mutations: every member (at any depth) replaced by awkward values, members dropped,
added or reordered, and members swapped between objects. The caches behind the fast path are
exercised too: a value that equals a remembered one in Python but not in JSON (``1 == True``)
must not reuse the remembered result.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import builders
from ledger.core.canonical import MAX_SAFE_INTEGER, canonicalize, parse_json
from ledger.core.errors import LedgerError
from ledger.core.statements import Statement, parse_statement, parse_statement_text
from ledger.core.statements.envelope import _SORTED_ENCODER
from ledger.core.statements.fastparse import _FAST_PARSERS
from ledger.core.statements.parse import _parse_statement_strict
from tests.support.factories import T0, json_paths, json_values, replace_at, seeded_key

CREATOR, BUYER = seeded_key(1), seeded_key(2)


def _grants() -> list[dict[str, Any]]:
    items = [
        [builders.Item("ab" * 32, 10, 5)],
        [builders.Item("ab" * 32, 0, 0, "audio/wav", "cd" * 32), builders.Item("ef" * 32, 1, 2)],
    ]
    terms = [
        builders.TermsSpec(),
        builders.TermsSpec(revocable=True, notice_days=30, prohibitions=("replicate_voice",)),
        builders.TermsSpec(
            end=datetime(2027, 1, 1, tzinfo=UTC),
            uses=("ai_training", "data_mining"),
            territory=("DE", "FR"),
            exclusive=True,
            attribution=True,
            sublicensing=True,
            amount="0.00000001",
            currency="EUR",
            unit="flat",
        ),
        builders.TermsSpec(end=datetime(2026, 6, 1, tzinfo=UTC), revocable=True, notice_days=0),
    ]
    out = []
    for n, (item, term) in enumerate(itertools.product(items, terms)):
        signed = builders.grant(
            CREATOR, BUYER.key_id, str(uuid.UUID(int=n)), item, term, issued_at=T0
        )
        out.append(parse_json(signed.statement_bytes))
    return out


def _accepts() -> list[dict[str, Any]]:
    signed = builders.grant_accept(BUYER, bytes(range(32)), issued_at=T0, nonce="ab" * 16)
    return [parse_json(signed.statement_bytes)]


VALID = _grants() + _accepts()

#: Values that break a member in every way the fast path could get wrong.
AWKWARD: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    0.5,
    MAX_SAFE_INTEGER,
    MAX_SAFE_INTEGER + 1,
    2**53 - 1,
    2**53,
    10**9,
    10**9 + 1,
    3650,
    3651,
    "",
    "x",
    'video/"mp4"',
    "video/mp4\\",
    "vidéo/mp4",
    "video/mp4\u2028",
    "video/mp4\n",
    "grant",
    "grant.accept",
    "AB" * 32,
    "ab" * 32,
    "ab" * 31,
    "ab" * 32 + "\n",
    "ab" * 16,
    BUYER.key_id,
    CREATOR.key_id,
    "2026-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2025-01-01T00:00:00Z",
    "2030-01-01T00:00:00Z",
    "video/mp4",
    "Video/mp4",
    "ai_training",
    "worldwide",
    "DE",
    "USD",
    "per_clip",
    "2.50",
    "2.5x",
    str(uuid.UUID(int=3)),
    str(uuid.UUID(int=3)).upper(),
    [],
    ["ai_training"],
    ["ai_training", "ai_training"],
    ["worldwide", "DE"],
    ["replicate_voice"],
    [True],
    [1],
    [[]],
    {},
    {"amount": "1", "currency": "USD", "unit": "flat"},
    {"amount": "1", "currency": "USD", "unit": "flat", "x": 1},
    {"amount": 1, "currency": "USD", "unit": "flat"},
]


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _strict(obj: Any) -> Statement | None:
    try:
        return _parse_statement_strict(copy.deepcopy(obj))
    except LedgerError:
        return None


def _check_pinned(obj: Any) -> Statement | None:
    """The fast path (when it applies) agrees with the strict parser; returns its statement."""
    strict = _strict(obj)
    fast_parser = _FAST_PARSERS.get(tuple(obj)) if type(obj) is dict else None
    parsed = None if fast_parser is None else fast_parser(obj, True)
    fast = None if parsed is None else parsed[0]
    # Without its text (what parse_statement asks), the same decision and the same statement.
    untexted = None if fast_parser is None else fast_parser(obj, False)
    assert (None if untexted is None else untexted[0]) == fast, obj
    if parsed is not None:
        assert strict is not None, obj
        assert fast == strict, obj
        # The text it gives is the serialisation the verifier compares with the signed bytes,
        # and that is RFC 8785.
        assert parsed[1] == _SORTED_ENCODER.encode(obj), obj
        assert parsed[1].encode() == canonicalize(obj), obj
    # And parse_statement as a whole decides as the strict parser does.
    try:
        whole: Statement | None = parse_statement(obj)
        with_text = parse_statement_text(obj)
    except LedgerError:
        whole = with_text = None
    assert whole == strict, obj
    text = None if parsed is None else parsed[1]
    assert with_text == (None if strict is None else (strict, text)), obj
    return fast


def _mutations(body: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for path in json_paths(body)[1:]:
        parent = _at(body, path[:-1])
        out.extend(replace_at(body, path, value) for value in AWKWARD)
        if isinstance(parent, dict):
            dropped = {k: v for k, v in parent.items() if k != path[-1]}
            out.append(replace_at(body, path[:-1], dropped))
            out.append(replace_at(body, path[:-1], {**dropped, path[-1]: parent[path[-1]]}))
            out.append(replace_at(body, path[:-1], {**parent, path[-1] + "x": 1}))
        else:
            out.append(replace_at(body, path[:-1], [*parent, parent[path[-1]]]))
            out.append(replace_at(body, path[:-1], parent[: path[-1]]))
    for name in ("end", "notice_days", "c2pa_hash", "x"):  # optional members added anywhere
        for path in json_paths(body):
            target = _at(body, path)
            if isinstance(target, dict) and name not in target:
                for value in ("2031-01-01T00:00:00Z", 5, "cd" * 32, None):
                    out.append(
                        replace_at(body, path, dict(sorted({**target, name: value}.items())))
                    )
    return out


@pytest.mark.parametrize("body", VALID, ids=[f"{b['type']}-{i}" for i, b in enumerate(VALID)])
def test_the_fast_path_takes_valid_statements_and_agrees(body: dict[str, Any]) -> None:
    assert _check_pinned(body) is not None
    assert _check_pinned(copy.deepcopy(body)) is not None  # again, from the caches


@pytest.mark.parametrize("body", VALID, ids=[f"{b['type']}-{i}" for i, b in enumerate(VALID)])
def test_every_mutation_is_decided_as_the_strict_parser_decides(body: dict[str, Any]) -> None:
    for changed in _mutations(body):
        _check_pinned(changed)


def test_a_remembered_terms_value_is_not_reused_for_another_json_type() -> None:
    body = VALID[1]
    assert _check_pinned(body) is not None
    for name in ("revocable", "exclusive", "attribution", "sublicensing"):
        value = body["terms"][name]
        for other in (int(value), float(value)):
            changed = replace_at(body, ("terms", name), other)
            assert _check_pinned(changed) is None
    changed = replace_at(body, ("terms", "notice_days"), 30.0)
    assert _check_pinned(changed) is None
    changed = replace_at(body, ("terms", "uses"), [1.0])
    assert _check_pinned(changed) is None


def test_a_dict_subclass_takes_the_strict_path() -> None:
    class Other(dict[str, Any]):
        pass

    assert parse_statement(Other(VALID[0])) == _parse_statement_strict(VALID[0])


_JSON = json_values(max_text=70, max_width=3, max_leaves=8)


@settings(database=None, max_examples=800)
@given(st.sampled_from(VALID), st.data())
def test_any_member_replaced_by_any_json(body: dict[str, Any], data: Any) -> None:
    path = data.draw(st.sampled_from(json_paths(body)))
    _check_pinned(replace_at(body, path, data.draw(_JSON)))
