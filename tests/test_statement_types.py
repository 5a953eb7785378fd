"""Every dispatch on a statement's type refuses a type it does not know, loudly.

A new statement type added to the core but forgotten in one consumer must fail there, never be
accepted with only the checks common to every statement (the service's ``issued_at``), skipped by
the licence replay, or left out of a report. ``Amend`` below is such a type: a valid
``Statement`` that no consumer has a branch for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

import pytest

from ledger.core.evidence import EvidenceBundle, verify_bundle
from ledger.core.leaf import GENESIS_PREV_HASH, Leaf, micros_from_datetime
from ledger.core.licensing import LicenceState
from ledger.core.statements import SignedStatement, Statement
from ledger.report import build
from ledger.server.service import Referenced, StateView, check_statement
from tests.support.evidence_helpers import BUNDLE, LOG_
from tests.support.factories import T0, seeded_key


@dataclass(frozen=True)
class Amend(Statement):
    """A statement type that exists only in this test."""

    type_name: ClassVar[str] = "grant.amend"
    grant_hash: str


SIGNER = seeded_key(1).key_id
AMEND = Amend(SIGNER, T0, "0" * 32, "ab" * 32)
SIGNED = SignedStatement(AMEND, {"type": Amend.type_name}, b"{}", ())
AT = micros_from_datetime(T0)


def _service_lookups() -> object:
    return Referenced.by([SIGNED])


def _service_rules() -> object:
    # The type check comes before any read, so the view needs no session here.
    state = StateView(session=None)  # type: ignore[arg-type]
    return check_statement(state, SIGNED, 0, T0, timedelta(minutes=5))


def _licence_replay() -> object:
    return LicenceState.replay([Leaf(0, AT, GENESIS_PREV_HASH, SIGNED)], AT)


def _report_context() -> build._Context:
    bundle = EvidenceBundle.from_json(BUNDLE)
    return build._Context(bundle, verify_bundle(bundle, LOG_.verifier_key))


def _report_learn() -> object:
    _report_context()._learn(build._Entry(0, AT, AMEND, "00" * 32))
    return None


def _report_describe() -> object:
    return build._describe(_report_context(), AMEND)


CONSUMERS: dict[str, Callable[[], object]] = {
    "service Referenced.by": _service_lookups,
    "service check_statement": _service_rules,
    "licensing LicenceState._apply": _licence_replay,
    "report _Context._learn": _report_learn,
    "report _describe": _report_describe,
}


@pytest.mark.parametrize("consume", CONSUMERS.values(), ids=CONSUMERS.keys())
def test_every_consumer_refuses_a_statement_type_it_does_not_know(
    consume: Callable[[], object],
) -> None:
    with pytest.raises(TypeError, match="grant\\.amend"):
        consume()
