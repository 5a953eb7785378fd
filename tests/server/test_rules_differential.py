"""The server's acceptance equals the core's, on every prefix of random histories.

Hypothesis draws histories of register / rotate / revoke-key / grant / accept / revoke statements
over a few keys, many of them invalid (unknown or ended keys, other parties' keys and grants,
taken grant ids, double acceptances and revocations, short notice, statements sent twice), cut
into batches at random. The real ``LogService`` appends them over a real database (SQLite and
PostgreSQL); ``ledger.core.logstate`` replays the same statements at the same log times in
memory. For every statement both must accept it, or both refuse it with the same code (the server
refuses a statement already logged as ``duplicate_statement`` before its rules; the core's rules
then refuse it too). The logged entries, replayed by ``LicenceState`` (which the offline verifier
uses), build the same key -> party map as the core's strict state.

Each example works with its own keys and grant ids, so examples share one database without
reading each other's state; the log clock only moves forward.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.core import builders, logstate
from ledger.core.errors import DuplicateStatement, LedgerError, StateError
from ledger.core.keys import SigningKey
from ledger.core.leaf import Leaf, micros_from_datetime
from ledger.core.licensing import LicenceState
from ledger.core.statements import SignedStatement
from ledger.server.service import Appended, LogService

KEYS = 5  # keys per example: enough for parties, rotations and strangers
T0 = datetime(2030, 1, 1, tzinfo=UTC)
SKEW = timedelta(minutes=5)

# One op: (kind, a, b, c) with small ints the builder maps onto keys, grants and choices.
OPS = st.tuples(
    st.sampled_from(
        [
            *("register", "register", "rotate", "revoke_key", "grant", "grant", "accept"),
            *("revoke", "resend", "future", "tick"),
        ]
    ),
    st.integers(0, KEYS - 1),
    st.integers(0, KEYS - 1),
    st.integers(0, 3),
)
HISTORIES = st.tuples(st.lists(OPS, min_size=8, max_size=30), st.lists(st.integers(1, 6)))
#: Every history starts with three parties (keys 3 and 4 are registered only if drawn).
OPENING = [("register", n, 0, 0) for n in range(3)]


@dataclass
class World:
    """Builds one example's statements; keys and grant ids are this example's own."""

    example: int
    now: datetime
    keys: list[SigningKey] = field(default_factory=list)
    sent: list[SignedStatement] = field(default_factory=list)
    grants: list[SignedStatement] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keys = [
            SigningKey.from_seed(hashlib.sha256(f"{self.example}/{n}".encode()).digest())
            for n in range(KEYS)
        ]

    def build(self, op: tuple[str, int, int, int]) -> SignedStatement | None:  # noqa: PLR0911
        kind, a, b, c = op
        ka, kb = self.keys[a], self.keys[b]
        at = self.now
        if kind == "register":
            return builders.party_register(ka, f"p{a}", issued_at=at)
        if kind == "rotate":
            return None if a == b else builders.key_rotate(ka, kb, issued_at=at)
        if kind == "revoke_key":
            return builders.key_revoke(ka, kb.key_id, issued_at=at)
        if kind == "grant":
            if a == b:
                return None
            terms = builders.TermsSpec(
                revocable=c > 0, notice_days=None if c == 0 else c - 1, start=T0
            )
            item = builders.Item(f"{c:02x}" * 32, 1000, 60)
            gid = str(uuid.UUID(int=self.example * 16 + c % 3))  # few ids: some are taken
            g = builders.grant(ka, kb.key_id, gid, [item], terms, issued_at=at)
            self.grants.append(g)
            return g
        if kind in ("accept", "revoke") and not self.grants:
            return None
        if kind == "accept":
            target = self.grants[c % len(self.grants)]
            return builders.grant_accept(ka, target.statement_hash, issued_at=at)
        if kind == "revoke":
            target = self.grants[c % len(self.grants)]
            effective = at + timedelta(days=b % 3)  # notice 0-2 days: some too short
            return builders.grant_revoke(ka, target.statement_hash, effective, issued_at=at)
        if kind == "resend":
            return self.sent[c % len(self.sent)] if self.sent else None
        if kind == "future":
            return builders.party_register(ka, f"p{a}", issued_at=at + 2 * SKEW)
        return None  # "tick": only the clock moves


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return micros_from_datetime(self.now) * 1000


def _core_results(
    state: logstate.LogState, batch: list[SignedStatement], now: datetime
) -> list[str | None]:
    out: list[str | None] = []
    for signed in batch:
        try:
            at = logstate.At(signed.statement_hash, now)
            state.apply(logstate.check_statement(state, signed.statement, at, SKEW))
        except StateError as e:
            out.append(e.code)
        else:
            out.append(None)
    return out


def _server_code(result: Appended | LedgerError) -> str | None:
    return None if isinstance(result, Appended) else result.code


def test_server_acceptance_equals_the_core_on_every_prefix(app: Flask) -> None:
    ext = app.extensions["ledger"]
    clock = Clock()
    service = LogService(ext.db, ext.service.signer, clock_skew=SKEW, clock=clock)
    examples = itertools.count()
    checked: dict[str, int] = {"accepted": 0, "refused": 0}

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(HISTORIES)
    def run(history: tuple[list[tuple[str, int, int, int]], list[int]]) -> None:
        ops, cuts = history
        clock.now += timedelta(hours=1)
        world = World(next(examples), clock.now)
        core = logstate.LogState()
        logged: list[Any] = []
        cut_sizes = itertools.cycle(cuts or [1])
        pending: list[tuple[str, int, int, int]] = OPENING + ops
        while pending:
            size = next(cut_sizes)
            chunk, pending = pending[:size], pending[size:]
            if chunk[0][0] == "tick":
                clock.now += timedelta(days=1, seconds=chunk[0][3])
            world.now = clock.now
            batch = [s for s in map(world.build, chunk) if s is not None]
            if not batch:
                continue
            results = service.append(batch)
            expected = _core_results(core, batch, clock.now)
            for signed, result, want in zip(batch, results, expected, strict=True):
                got = _server_code(result)
                what = f"{signed.type_name} after {len(logged)} entries of example {world.example}"
                if got == DuplicateStatement.code:
                    assert want is not None, f"the core accepts a duplicate {what}"
                else:
                    assert got == want, f"server {got}, core {want}: {what}"
                if isinstance(result, Appended):
                    assert result.integrated_at == clock.now
                    logged.append((result, signed))
                    world.sent.append(signed)
                    checked["accepted"] += 1
                else:
                    checked["refused"] += 1
        # What the log holds, replayed tolerantly (licences, evidence), builds the same parties.
        leaves = [
            Leaf(r.seq, micros_from_datetime(r.integrated_at), b"\0" * 32, s) for r, s in logged
        ]
        licences = LicenceState.replay(leaves, micros_from_datetime(clock.now))
        for key in world.keys:
            assert licences.party(key.key_id) == core.party(key.key_id)

    run()
    # The histories exercise both outcomes, a lot (a generator gone wrong would test nothing).
    assert checked["accepted"] > 50, checked
    assert checked["refused"] > 50, checked
