"""The single-append endpoint checks the envelope's shape by hand (``entries.envelope``), not by
loading ``EnvelopeSchema``, for speed; the schema still documents the body in the OpenAPI spec.
These tests pin the hand check to the schema: over many shapes, both accept the same bodies and
refuse the others with the same messages (which become the 400 ``invalid_request`` detail)."""

from __future__ import annotations

import itertools
from typing import Any

import marshmallow as ma
import pytest

from ledger.core.errors import InvalidRequest
from ledger.server.api.entries import envelope
from ledger.server.api.parsing import _flatten
from ledger.server.api.schemas import EnvelopeSchema

SIG = {"public_key": "k", "signature": "s"}
SIGNATURE_SHAPES: list[Any] = [
    SIG,
    {"public_key": "k"},
    {"signature": "s"},
    {},
    {**SIG, "extra": 1},
    {"public_key": 1, "signature": None},
    {"public_key": "k", "signature": []},
    [],
    "s",
    None,
    7,
]
SIGNATURE_LISTS: list[Any] = [
    *([s] for s in SIGNATURE_SHAPES),
    [],
    [SIG, SIG],
    [SIG, SIG, SIG],
    *([SIG, s] for s in SIGNATURE_SHAPES),
    "x",
    {},
    None,
    3,
]
STATEMENTS: list[Any] = [{"type": "party.register"}, {}, [], "s", None, 1]
MISSING = object()


def _bodies() -> list[Any]:
    out: list[Any] = [[], "x", 1, None, True, {}, {"extra": 1}]
    for statement, signatures, extra in itertools.product(
        [*STATEMENTS, MISSING], [*SIGNATURE_LISTS, MISSING], [False, True]
    ):
        body: dict[str, Any] = {}
        if statement is not MISSING:
            body["statement"] = statement
        if signatures is not MISSING:
            body["signatures"] = signatures
        if extra:
            body["zz"] = 0
        out.append(body)
    return out


def _schema_messages(body: Any) -> list[str] | None:
    try:
        EnvelopeSchema().load(body)
    except ma.ValidationError as e:
        return sorted(_flatten({"json": e.messages}))
    return None


def _hand_messages(body: Any) -> list[str] | None:
    try:
        assert envelope(body) is body
    except InvalidRequest as e:
        return sorted(e.details["errors"])
    return None


def test_the_hand_check_has_many_shapes_to_agree_on() -> None:
    bodies = _bodies()
    accepted = [b for b in bodies if _schema_messages(b) is None]
    assert len(bodies) > 300
    assert 0 < len(accepted) < len(bodies) // 4


@pytest.mark.parametrize("body", _bodies(), ids=repr)
def test_the_hand_check_agrees_with_the_schema(body: Any) -> None:
    assert _hand_messages(body) == _schema_messages(body)
