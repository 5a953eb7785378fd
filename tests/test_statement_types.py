"""Where a statement type lives: every type in ``STATEMENT_TYPES`` is in every file of README's
"Adding a statement type" list, and every consumer of the rules refuses a type it does not know.

``CHECKS`` has one check per file of that list; the README must name exactly these files. A sample
history (``SAMPLES``: one valid statement of each type, which the test requires) goes through the
core's rules, licence replay and the report's descriptions.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from ledger.core import builders, logstate
from ledger.core.errors import StateError
from ledger.core.leaf import Leaf, micros_from_datetime
from ledger.core.licensing import LicenceState
from ledger.core.memlog import MemoryLog
from ledger.core.note import NoteSigner
from ledger.core.statements import STATEMENT_TYPES, SignedStatement, Statement
from ledger.core.statements import parse as statement_parse
from ledger.report import build as report_build
from ledger.server import rules as server_rules
from ledger.server.config import PROJECT_ROOT
from tests.core.test_errors import EXPECTED
from tests.support.factories import seeded_key

T0 = datetime(2030, 1, 1, tzinfo=UTC)
C, B, C2, X = seeded_key(1), seeded_key(2), seeded_key(4), seeded_key(9)
ROOT = PROJECT_ROOT


def _sample_history() -> list[SignedStatement]:
    """One valid history holding a statement of every type (extend it with a new type)."""
    terms = builders.TermsSpec(revocable=True, notice_days=0)
    items = [builders.Item("ab" * 32, 1000, 60)]
    g = builders.grant(C, B.key_id, "6f1c2a36-0000-4000-8000-000000000001", items, terms)
    return [
        builders.party_register(C, "creator", issued_at=T0),
        builders.party_register(B, "buyer", issued_at=T0),
        g,
        builders.grant_accept(B, g.statement_hash, issued_at=T0),
        builders.grant_revoke(C, g.statement_hash, T0 + timedelta(days=1), issued_at=T0),
        builders.key_rotate(C, C2, issued_at=T0),
        builders.key_revoke(C2, C2.key_id, issued_at=T0),
    ]


SAMPLES = _sample_history()
RULE_CLASSES = {name: rule.statement for name, rule in logstate.RULES.items()}


def _text(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


def _statement_class(type_name: str) -> None:
    cls = RULE_CLASSES[type_name]
    assert cls.type_name == type_name
    assert cls.__module__ == "ledger.core.statements.types"


def _statement_parser(type_name: str) -> None:
    assert type_name in STATEMENT_TYPES  # a row in parse._PARSERS
    assert type_name in statement_parse._STATEMENT_MEMBERS


def _logstate(type_name: str) -> None:
    rule = logstate.RULES[type_name]
    assert rule.changes, "a rule that changes nothing"
    assert set(rule.changes) <= set(logstate.EFFECTS)
    assert all(issubclass(r, StateError) for r in rule.refusals)


def _errors(type_name: str) -> None:
    for refusal in logstate.RULES[type_name].refusals:
        assert EXPECTED[refusal.__name__] == (refusal.code, 422)


def _test_rules(type_name: str) -> None:
    text = _text("tests/server/test_rules.py")
    for refusal in logstate.RULES[type_name].refusals:
        assert re.search(rf"\b{refusal.__name__}\b", text), f"no scenario for {refusal.__name__}"


def _server_rules(type_name: str) -> None:
    for effect in logstate.RULES[type_name].changes:
        assert effect in server_rules.ROWS, f"{effect.__name__} is not stored"


def _licensing(type_name: str) -> None:
    # Licence replay of the sample history notes every effect (``_note`` raises for one it lacks).
    assert type_name in {s.type_name for s in SAMPLES}, "SAMPLES has no statement of this type"
    log = MemoryLog(NoteSigner.from_private_key("t/log", X.private_key))
    for i, signed in enumerate(SAMPLES):
        log.add(signed, T0 + timedelta(seconds=i))
    state = LicenceState.replay(log.parsed, micros_from_datetime(T0 + timedelta(days=9)))
    assert state.rules.key(C2.key_id) is not None


def _builders(type_name: str) -> None:
    build = getattr(builders, type_name.replace(".", "_"))
    assert callable(build)
    assert any(isinstance(s.statement, RULE_CLASSES[type_name]) for s in SAMPLES)


def _report(type_name: str) -> None:
    assert RULE_CLASSES[type_name] in report_build.DESCRIPTIONS


def _format(type_name: str) -> None:
    text = _text("docs/FORMAT.md")
    assert re.search(rf"^#### 3\.2\.\d+ `{re.escape(type_name)}`$", text, re.M), "no §3.2 section"
    assert re.search(rf"^#### Entry \d+: `{re.escape(type_name)}`", text, re.M), "no §7 entry"


def _golden(type_name: str) -> None:
    golden = json.loads(_text("tests/vectors/golden.json"))
    assert type_name in {e["type"] for e in golden["entries"]}


#: One check per file of README's "Adding a statement type" list.
CHECKS: dict[str, Callable[[str], None]] = {
    "ledger/core/statements/types.py": _statement_class,
    "ledger/core/statements/parse.py": _statement_parser,
    "ledger/core/logstate.py": _logstate,
    "ledger/core/errors.py": _errors,
    "tests/core/test_errors.py": _errors,
    "tests/server/test_rules.py": _test_rules,
    "ledger/server/rules.py": _server_rules,
    "ledger/core/licensing.py": _licensing,
    "ledger/core/builders.py": _builders,
    "ledger/report/build.py": _report,
    "docs/FORMAT.md": _format,
    "tests/vectors/golden.json": _golden,
}


def test_every_statement_type_has_a_rule_and_no_rule_lacks_a_type() -> None:
    assert set(logstate.RULES) == set(STATEMENT_TYPES)


@pytest.mark.parametrize("type_name", STATEMENT_TYPES)
@pytest.mark.parametrize("path", list(CHECKS))
def test_every_type_is_in_every_file(path: str, type_name: str) -> None:
    assert (ROOT / path).is_file()
    CHECKS[path](type_name)


def test_readme_lists_exactly_the_checked_files() -> None:
    readme = _text("README.md")
    section = readme.split("## Adding a statement type\n", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for line in section.splitlines():
        if line.startswith("- "):
            head = line[2:].split(":", 1)[0]
            listed.update(re.findall(r"`([^`]+)`", head))
    assert listed == set(CHECKS)


def test_every_effect_kind_is_applied_and_stored() -> None:
    assert set(server_rules.ROWS) == set(logstate.EFFECTS)
    assert set(logstate._APPLY) == set(logstate.EFFECTS)


def test_the_sample_history_is_valid_and_each_statement_is_refused_a_second_time() -> None:
    state = logstate.LogState()
    effects: set[type] = set()
    for i, signed in enumerate(SAMPLES):
        at = logstate.At(signed.statement_hash, T0 + timedelta(seconds=i))
        done = logstate.check_statement(state, signed.statement, at)
        effects.update(type(e) for e in done)
        state.apply(done)
        # "A statement hash is logged once" holds by the rules alone: a copy is refused.
        with pytest.raises(StateError):
            logstate.check_statement(state, signed.statement, at)
    assert effects == set(logstate.EFFECTS)  # the samples reach every kind of effect


# --- a throwaway type: every consumer refuses it -------------------------------------------------


@dataclass(frozen=True)
class Throwaway(Statement):
    type_name: ClassVar[str] = "test.throwaway"


def _throwaway() -> SignedStatement:
    signed = builders.party_register(C, "creator", issued_at=T0)
    return dataclasses.replace(signed, statement=Throwaway(C.key_id, T0, "n"))


def _leaf(signed: SignedStatement) -> Leaf:
    return Leaf(0, micros_from_datetime(T0), b"\0" * 32, signed)


CONSUMERS: dict[str, Callable[[SignedStatement], object]] = {
    "core rules": lambda s: logstate.check_statement(
        logstate.LogState(), s.statement, logstate.At(s.statement_hash, T0)
    ),
    "server batched reads": lambda s: server_rules.referenced([s]),
    "server rules": lambda s: server_rules.check_statement(
        server_rules.DatabaseState(None),  # type: ignore[arg-type]
        s,
        0,
        T0,
        timedelta(minutes=5),
    ),
    "licence replay and evidence": lambda s: LicenceState.replay([_leaf(s)], 2**62),
    "audit --strict": lambda s: logstate.AcceptanceReplay().step(
        s.statement, s.statement_hash, micros_from_datetime(T0)
    ),
    "report timeline": lambda s: report_build._describe(None, s.statement),  # type: ignore[arg-type]
    "report parties": lambda s: logstate.replay([(s.statement, s.statement_hash, T0)]),
}


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_every_consumer_refuses_an_unknown_statement_type(consumer: str) -> None:
    with pytest.raises(TypeError):
        CONSUMERS[consumer](_throwaway())
