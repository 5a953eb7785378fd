"""Licence verdicts over crafted histories: every reason code, the boundaries at exactly T,
revocation with notice, keys revoked before/after integration, precedence and exclusivity conflicts.

Histories are built with ``MemoryLog``, which applies no append rules, so some of them are logs the
service would refuse (a grant signed by a revoked key): the semantics must still answer sanely.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.core import builders
from ledger.core.errors import InvalidParameter
from ledger.core.keys import SigningKey
from ledger.core.leaf import micros_from_datetime
from ledger.core.licensing import REASONS, LicenceState, Verdict, parse_instant
from ledger.core.memlog import MemoryLog
from ledger.core.note import NoteSigner
from ledger.core.statements import SignedStatement
from tests.support.factories import seeded_key

C, B, OB, C2, B2, X = (seeded_key(n) for n in (1, 2, 3, 4, 5, 9))
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CLIP, OTHER_CLIP = "ab" * 32, "cd" * 32
US = timedelta(microseconds=1)
DAY = timedelta(days=1)


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class History:
    """A crafted log: the creator C and buyers B and OB registered at T0."""

    log: MemoryLog = field(
        default_factory=lambda: MemoryLog(NoteSigner.from_private_key("t/log", X.private_key))
    )

    def __post_init__(self) -> None:
        for key, name in ((C, "creator"), (B, "buyer"), (OB, "other")):
            self.add(builders.party_register(key, name, issued_at=T0), T0)

    def add(self, signed: SignedStatement, at: datetime) -> int:
        return self.log.add(signed, at).seq

    def grant(
        self, at: datetime, *, by: SigningKey = C, to: SigningKey = B, **terms: Any
    ) -> SignedStatement:
        terms.setdefault("start", T0 - DAY)
        items = [builders.Item(CLIP, 1000, 60)]
        g = builders.grant(by, to.key_id, str(uuid.uuid4()), items, builders.TermsSpec(**terms))
        self.add(g, at)
        return g

    def accept(self, g: SignedStatement, at: datetime, by: SigningKey = B) -> int:
        return self.add(builders.grant_accept(by, g.statement_hash), at)

    def revoke(self, g: SignedStatement, at: datetime, effective: datetime) -> int:
        return self.add(builders.grant_revoke(C, g.statement_hash, effective), at)

    def accepted(self, at: datetime | None = None, **terms: Any) -> SignedStatement:
        at = at or t(1)
        g = self.grant(at, **terms)
        self.accept(g, at + timedelta(seconds=1))
        return g

    def verdict(
        self, at: datetime, buyer: SigningKey = B, use: str = "ai_training", clip: str = CLIP
    ) -> Verdict:
        state = LicenceState.replay(self.log.parsed, micros_from_datetime(at))
        return state.verdict(clip, buyer.key_id, use)


Case = Callable[[History], Verdict]


def _licensed(h: History) -> Verdict:
    h.accepted()
    return h.verdict(t(2))  # the acceptance is integrated at exactly T


def _accept_one_us_later(h: History) -> Verdict:
    h.accepted()
    return h.verdict(t(2) - US)


def _no_grant_other_clip(h: History) -> Verdict:
    h.accepted()
    return h.verdict(t(5), clip=OTHER_CLIP)


def _no_grant_other_buyer(h: History) -> Verdict:
    h.accepted()
    return h.verdict(t(5), buyer=OB)


def _grant_logged_after_t(h: History) -> Verdict:
    h.accepted(at=t(10))  # terms start a day earlier, but the log learnt of it only at t(10)
    return h.verdict(t(10) - US)


def _use_not_permitted(h: History) -> Verdict:
    h.accepted(uses=("ai_inference",))
    return h.verdict(t(5))


def _start_exactly_t(h: History) -> Verdict:
    h.accepted(start=t(100))
    return h.verdict(t(100))


def _before_start(h: History) -> Verdict:
    h.accepted(start=t(100))
    return h.verdict(t(100) - US)


def _end_exactly_t(h: History) -> Verdict:
    h.accepted(end=t(200))
    return h.verdict(t(200))


def _just_before_end(h: History) -> Verdict:
    h.accepted(end=t(200))
    return h.verdict(t(200) - US)


def _revoked_at_exactly_t(h: History) -> Verdict:
    g = h.accepted(revocable=True, notice_days=0)
    h.revoke(g, t(20), t(50))
    return h.verdict(t(50))


def _revocation_pending(h: History) -> Verdict:
    g = h.accepted(revocable=True, notice_days=0)
    h.revoke(g, t(20), t(50))
    return h.verdict(t(50) - US)


def _revocation_logged_after_t(h: History) -> Verdict:
    g = h.accepted(revocable=True, notice_days=0)
    h.revoke(g, t(100), t(100))
    return h.verdict(t(100) - US)


def _notice_respected(h: History) -> Verdict:
    g = h.accepted(revocable=True, notice_days=30)
    h.revoke(g, t(20), t(20) + 31 * DAY)
    return h.verdict(t(20) + 31 * DAY)


def _notice_cut_short_is_stretched(h: History) -> Verdict:
    # A crafted revocation that ignores the 30 days' notice cannot take effect before it.
    g = h.accepted(revocable=True, notice_days=30)
    h.revoke(g, t(20), t(21))
    return h.verdict(t(20) + 30 * DAY - timedelta(seconds=1))


def _notice_ends(h: History) -> Verdict:
    g = h.accepted(revocable=True, notice_days=30)
    h.revoke(g, t(20), t(21))
    return h.verdict(t(20) + 30 * DAY)


def _not_revocable_revocation_ignored(h: History) -> Verdict:
    g = h.accepted()
    h.revoke(g, t(20), t(21))
    return h.verdict(t(30))


def _withdrawn_offer(h: History) -> Verdict:
    g = h.grant(t(1))
    h.revoke(g, t(2), t(2))
    h.accept(g, t(3))  # after the revocation: has no effect
    return h.verdict(t(5))


def _key_revoked_before_grant(h: History) -> Verdict:
    h.add(builders.key_revoke(C, C.key_id), t(1))
    g = h.grant(t(2))
    h.accept(g, t(3))
    return h.verdict(t(5))


def _key_revoked_after_grant(h: History) -> Verdict:
    h.accepted()
    h.add(builders.key_revoke(C, C.key_id), t(3))
    return h.verdict(t(5))


def _key_rotated_before_grant(h: History) -> Verdict:
    h.add(builders.key_rotate(C, C2), t(1))
    g = h.grant(t(2))  # still signed by the old key
    h.accept(g, t(3))
    return h.verdict(t(5))


def _new_key_after_rotation(h: History) -> Verdict:
    h.add(builders.key_rotate(C, C2), t(1))
    g = h.grant(t(2), by=C2)
    h.accept(g, t(3))
    return h.verdict(t(5))


def _unknown_creator_key(h: History) -> Verdict:
    g = h.grant(t(2), by=X)
    h.accept(g, t(3))
    return h.verdict(t(5))


def _buyer_rotated_asks_with_new_key(h: History) -> Verdict:
    g = h.grant(t(1))
    h.add(builders.key_rotate(B, B2), t(2))
    h.accept(g, t(3), by=B2)
    return h.verdict(t(5), buyer=B2)


def _acceptance_by_revoked_key(h: History) -> Verdict:
    g = h.grant(t(1))
    h.add(builders.key_revoke(B, B.key_id), t(2))
    h.accept(g, t(3))
    return h.verdict(t(5))


def _acceptance_by_other_party(h: History) -> Verdict:
    g = h.grant(t(1))
    h.accept(g, t(3), by=OB)
    return h.verdict(t(5))


def _precedence_furthest_grant(h: History) -> Verdict:
    h.accepted(uses=("ai_inference",))  # fails at the use check
    h.accepted(at=t(3), end=t(4))  # passes the use check, fails later: expired
    return h.verdict(t(5))


def _precedence_earliest_licence(h: History) -> Verdict:
    h.accepted()
    h.accepted(at=t(3))
    return h.verdict(t(5))


CASES: list[tuple[str, Case, bool, str, int | None]] = [
    # name, history, licensed, reason, deciding grant seq (None: no grant)
    ("licensed-accept-at-exactly-T", _licensed, True, "licensed", 3),
    ("accept-1us-after-T", _accept_one_us_later, False, "not_accepted", 3),
    ("no-grant-other-clip", _no_grant_other_clip, False, "no_grant", None),
    ("no-grant-other-buyer", _no_grant_other_buyer, False, "no_grant", None),
    ("grant-logged-after-T", _grant_logged_after_t, False, "no_grant", None),
    ("use-not-permitted", _use_not_permitted, False, "use_not_permitted", 3),
    ("start-at-exactly-T", _start_exactly_t, True, "licensed", 3),
    ("before-start", _before_start, False, "not_yet_valid", 3),
    ("end-at-exactly-T", _end_exactly_t, False, "expired", 3),
    ("just-before-end", _just_before_end, True, "licensed", 3),
    ("revoked-effective-at-exactly-T", _revoked_at_exactly_t, False, "revoked", 3),
    ("revocation-pending", _revocation_pending, True, "licensed", 3),
    ("revocation-logged-after-T", _revocation_logged_after_t, True, "licensed", 3),
    ("notice-respected", _notice_respected, False, "revoked", 3),
    ("notice-stretches-early-revocation", _notice_cut_short_is_stretched, True, "licensed", 3),
    ("notice-period-over", _notice_ends, False, "revoked", 3),
    ("non-revocable-revocation-ignored", _not_revocable_revocation_ignored, True, "licensed", 3),
    ("withdrawn-offer", _withdrawn_offer, False, "revoked", 3),
    ("key-revoked-before-grant", _key_revoked_before_grant, False, "key_revoked", 4),
    ("key-revoked-after-grant", _key_revoked_after_grant, True, "licensed", 3),
    ("key-rotated-before-grant", _key_rotated_before_grant, False, "key_revoked", 4),
    ("new-key-after-rotation", _new_key_after_rotation, True, "licensed", 4),
    ("unknown-creator-key", _unknown_creator_key, False, "unknown_key", 3),
    ("buyer-rotated-new-key", _buyer_rotated_asks_with_new_key, True, "licensed", 3),
    ("acceptance-by-revoked-key", _acceptance_by_revoked_key, False, "key_revoked", 3),
    ("acceptance-by-other-party", _acceptance_by_other_party, False, "not_accepted", 3),
    ("precedence-furthest-grant", _precedence_furthest_grant, False, "expired", 5),
    ("precedence-earliest-licence", _precedence_earliest_licence, True, "licensed", 3),
]


@pytest.mark.parametrize(
    ("case", "licensed", "reason", "grant_seq"),
    [pytest.param(c, lic, r, g, id=name) for name, c, lic, r, g in CASES],
)
def test_verdict_table(case: Case, licensed: bool, reason: str, grant_seq: int | None) -> None:
    verdict = case(History())
    assert (verdict.licensed, verdict.reason, verdict.grant_seq) == (licensed, reason, grant_seq)
    if grant_seq is not None:
        assert grant_seq in verdict.entries


def test_every_reason_code_is_reached_by_the_table() -> None:
    reached = {reason for _, _, _, reason, _ in CASES}
    assert reached == set(REASONS)


def test_licensed_verdict_cites_grant_acceptance_and_key_registrations() -> None:
    h = History()
    h.accepted()
    # registrations of C (0) and B (1), the grant (3) and the acceptance (4); OB (2) is not cited
    assert h.verdict(t(5)).entries == (0, 1, 3, 4)


def test_buyer_asking_with_the_rotated_away_key_is_the_same_party() -> None:
    h = History()
    g = h.grant(t(1))
    h.add(builders.key_rotate(B, B2), t(2))
    h.accept(g, t(3), by=B2)
    verdict = h.verdict(t(5), buyer=B)
    assert verdict.licensed
    assert 5 in verdict.entries  # the rotation that ties B2 to B's party


def test_verdicts_cite_each_keys_introduction_chain_and_end_and_nothing_else() -> None:
    # The rule of docs/LICENSING.md §7 (FORMAT §13.2): a key's entries are the entry that
    # introduced it, those that introduced each key it was rotated from back to the registration,
    # and the entry that ended it; never another party's entries or an entry after T.
    c3, b2 = seeded_key(6), B2
    h = History()  # 0: C, 1: B, 2: OB registered
    assert h.add(builders.key_rotate(C, C2), t(1)) == 3
    assert h.add(builders.key_rotate(C2, c3), t(2)) == 4
    g = h.grant(t(3), by=c3)  # 5
    assert h.accept(g, t(4)) == 6
    assert h.add(builders.key_revoke(c3, c3.key_id), t(5)) == 7  # after the grant: still licensed
    assert h.add(builders.key_revoke(OB, OB.key_id), t(6)) == 8  # another party: never cited
    assert h.add(builders.key_rotate(B, b2), t(10)) == 9  # ends B, after the first T

    before = h.verdict(t(8))
    assert (before.licensed, before.grant_seq) == (True, 5)
    # C3: registration of C (0), rotations C->C2 (3) and C2->C3 (4), its revocation (7); B: 1.
    assert before.entries == (0, 1, 3, 4, 5, 6, 7)
    # Later, B's rotation away is B's end, cited whichever of its keys is asked about.
    assert h.verdict(t(11)).entries == (0, 1, 3, 4, 5, 6, 7, 9)
    assert h.verdict(t(11), buyer=b2).entries == (0, 1, 3, 4, 5, 6, 7, 9)
    # no_grant cites the asking key's entries only: B2 came from B (1) by the rotation (9).
    nothing = h.verdict(t(11), buyer=b2, clip=OTHER_CLIP)
    assert (nothing.reason, nothing.entries) == ("no_grant", (1, 9))
    assert h.verdict(t(8), buyer=b2, clip=OTHER_CLIP).entries == ()  # B2 unknown at T
    # A grant by the rotated-away C2, logged after its end: key_revoked, citing C2's entries
    # (0, 3 and its end 4), not C3's revocation.
    h2 = History()
    h2.add(builders.key_rotate(C, C2), t(1))
    h2.add(builders.key_rotate(C2, c3), t(2))
    h2.add(builders.key_revoke(c3, c3.key_id), t(3))
    late = h2.grant(t(4), by=C2)  # 6
    h2.accept(late, t(5))  # 7: no effect (the grant is not in force)
    verdict = h2.verdict(t(8))
    assert (verdict.reason, verdict.grant_seq) == ("key_revoked", 6)
    assert verdict.entries == (0, 1, 3, 4, 6)


# --- exclusivity conflicts -----------------------------------------------------------------------


def _pair(h: History, first: dict[str, Any], second: dict[str, Any]) -> Verdict:
    g1 = h.grant(t(1), **first)
    h.accept(g1, t(2))
    g2 = h.grant(t(3), to=second.pop("to", OB), **second)
    h.accept(g2, t(4), by=OB if g2.statement.buyer == OB.key_id else B)  # type: ignore[attr-defined]
    return h.verdict(t(5))


@pytest.mark.parametrize(
    ("first", "second", "conflict"),
    [
        pytest.param({"exclusive": True}, {}, True, id="exclusive-then-other-buyer"),
        pytest.param({}, {"exclusive": True}, True, id="other-buyer-exclusive-later"),
        pytest.param({"exclusive": True}, {"exclusive": True}, True, id="two-exclusive"),
        pytest.param({}, {}, False, id="neither-exclusive"),
        pytest.param({"exclusive": True}, {"to": B}, False, id="same-buyer"),
        pytest.param(
            {"exclusive": True, "end": t(100)}, {"start": t(100)}, False, id="terms-touch-only"
        ),
        pytest.param(
            {"exclusive": True, "end": t(101)}, {"start": t(100)}, True, id="terms-overlap-1s"
        ),
        pytest.param({"exclusive": True, "uses": ("ai_inference",)}, {}, False, id="disjoint-uses"),
        pytest.param(
            {"exclusive": True, "territory": ("FR",)},
            {"territory": ("DE",)},
            False,
            id="disjoint-territory",
        ),
        pytest.param({"exclusive": True, "territory": ("FR",)}, {}, True, id="worldwide-covers-FR"),
    ],
)
def test_exclusivity_conflicts(
    first: dict[str, Any], second: dict[str, Any], conflict: bool
) -> None:
    h = History()
    verdict = _pair(h, dict(first), dict(second))
    assert verdict.conflicts == (((3, 5),) if conflict else ())
    if conflict:
        assert {3, 5} <= set(verdict.entries)


def test_unaccepted_offer_is_no_conflict() -> None:
    h = History()
    g1 = h.grant(t(1), exclusive=True)
    h.accept(g1, t(2))
    h.grant(t(3), to=OB)
    assert h.verdict(t(5)).conflicts == ()


def test_exclusive_grant_revoked_before_the_other_starts_is_no_conflict() -> None:
    h = History()
    g1 = h.grant(t(1), exclusive=True, revocable=True, notice_days=0)
    h.accept(g1, t(2))
    h.revoke(g1, t(3), t(50))
    g2 = h.grant(t(4), to=OB, start=t(50))
    h.accept(g2, t(5), by=OB)
    assert h.verdict(t(10), buyer=OB).conflicts == ()


# --- instants ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("2026-03-01T12:00:00Z", micros_from_datetime(T0)),
        ("2026-03-01T12:00:00.5Z", micros_from_datetime(T0) + 500_000),
        ("2026-03-01T12:00:00.000001Z", micros_from_datetime(T0) + 1),
    ],
)
def test_parse_instant(text: str, micros: int) -> None:
    assert parse_instant(text) == micros


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01T12:00:00+00:00",
        "2026-03-01 12:00:00Z",
        "2026-03-01T12:00:00z",
        "2026-02-30T12:00:00Z",
        "2026-03-01T12:00:00.1234567Z",
        "",
    ],
)
def test_parse_instant_rejects(text: str) -> None:
    with pytest.raises(InvalidParameter):
        parse_instant(text)
