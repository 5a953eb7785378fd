"""Statements of account (docs/ACCOUNTS.md): amounts, periods, both views, and account bundles
verified offline against tampering and omission."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.core import builders
from ledger.core.accounts import (
    EARNED,
    OWED,
    account_statement,
    format_amount,
    item_amounts,
    minor_units,
    round_half_even,
)
from ledger.core.checkpoint import sign_checkpoint
from ledger.core.evidence.account import (
    STATEMENT_MISMATCH,
    AccountQuery,
    build_account,
    check_account_query,
    verify_account,
)
from ledger.core.iso import ISO_4217, ISO_4217_MINOR_UNITS
from ledger.core.leaf import micros_from_datetime
from ledger.core.licmap import LicenceMap, derive_map, map_checkpoint, party_grants_key
from ledger.core.memlog import MemoryLog
from ledger.core.merkle import inclusion_proofs, tree_hash
from ledger.core.note import NoteSigner
from ledger.core.statements import Consideration
from ledger.core.vmap import MapProof
from tests.support import histories
from tests.support.factories import seeded_key

DOC = Path(__file__).resolve().parents[2] / "docs" / "ACCOUNTS.md"
C, B, B2, C2, LOG = (seeded_key(n) for n in (11, 12, 13, 14, 15))
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def us(moment: datetime) -> int:
    return micros_from_datetime(moment)


# --- amounts -------------------------------------------------------------------------------------


def _doc_examples() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- accounts-examples -->", 1)[1].strip().split("\n\n", 1)[0]
    rows = [r for r in block.splitlines()[2:] if r.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_the_doc_has_worked_examples() -> None:
    assert len(_doc_examples()) >= 10


@pytest.mark.parametrize("row", _doc_examples(), ids=lambda r: " ".join(r[:4]))
def test_worked_examples(row: list[str]) -> None:
    amount, currency, unit, durations, items, total = row
    consideration = Consideration(Decimal(amount), currency, unit)
    seconds = [int(s) for s in durations.split(",")]
    amounts, grant = item_amounts(consideration, seconds)
    shown = (
        ["-"] * len(seconds) if amounts is None else [format_amount(a, currency) for a in amounts]
    )
    assert ", ".join(shown) == items
    assert format_amount(grant, currency) == total


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(5, 2, 2), (7, 2, 4), (1, 2, 0), (3, 2, 2), (2375, 1000, 2), (5, 4, 1), (7, 4, 2), (0, 9, 0)],
)
def test_rounding_ties_go_to_even(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_even(numerator, denominator) == expected


@given(st.integers(0, 10**30), st.integers(1, 10**12))
def test_rounding_agrees_with_decimal_half_even(numerator: int, denominator: int) -> None:
    from decimal import ROUND_HALF_EVEN, Context

    exact = Context(prec=200).divide(Decimal(numerator), Decimal(denominator))
    assert round_half_even(numerator, denominator) == int(
        exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN, context=Context(prec=200))
    )


def test_every_admitted_currency_has_its_minor_unit() -> None:
    assert set(ISO_4217_MINOR_UNITS) == set(ISO_4217)
    assert (minor_units("JPY"), minor_units("BHD"), minor_units("USD")) == (0, 3, 2)
    assert {c for c, e in ISO_4217_MINOR_UNITS.items() if e == 3} == {
        "BHD",
        "IQD",
        "JOD",
        "KWD",
        "LYD",
        "OMR",
        "TND",
    }
    assert Counter(ISO_4217_MINOR_UNITS.values())[0] == 16


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (413, "USD", "4.13"),
        (5, "USD", "0.05"),
        (1500, "JPY", "1500"),
        (88, "BHD", "0.088"),
        (0, "KWD", "0.000"),
        (-120, "EUR", "-1.20"),
    ],
)
def test_amounts_are_written_with_the_currency_digits(minor: int, currency: str, text: str) -> None:
    assert format_amount(minor, currency) == text


# --- statements over a log -----------------------------------------------------------------------


class Story:
    """A log built step by step: registrations, grants, acceptances, revocations."""

    def __init__(self) -> None:
        self.log = MemoryLog(NoteSigner.from_private_key("test.example/log", LOG.private_key))
        self.now = T0
        self.n = 0
        for key, name in ((C, "creator"), (B, "buyer"), (B2, "buyer 2"), (C2, "creator 2")):
            self.add(builders.party_register(key, name, issued_at=self.now))

    def add(self, signed: Any, hours: float = 1) -> int:
        self.now += timedelta(hours=hours)
        return self.log.add(signed, self.now).seq

    def grant(
        self, creator: Any, buyer: Any, durations: list[int], **terms: Any
    ) -> tuple[int, bytes]:
        self.n += 1
        items = [
            builders.Item(f"{self.n:02x}{i:02x}" * 16, 1000, d) for i, d in enumerate(durations)
        ]
        spec = builders.TermsSpec(**terms)
        signed = builders.grant(
            creator, buyer.key_id, str(uuid.UUID(int=self.n)), items, spec, issued_at=self.now
        )
        return self.add(signed), signed.statement_hash

    def accept(self, buyer: Any, grant_hash: bytes, hours: float = 1) -> int:
        return self.add(builders.grant_accept(buyer, grant_hash, issued_at=self.now), hours)

    def revoke(self, creator: Any, grant_hash: bytes, effective: datetime) -> int:
        return self.add(builders.grant_revoke(creator, grant_hash, effective, issued_at=self.now))


def totals(log: MemoryLog, key: Any, start: int | None = None, end: int | None = None) -> Any:
    return account_statement(log.parsed, key.key_id, start, end).totals


def test_mixed_currencies_are_never_added() -> None:
    s = Story()
    _, usd = s.grant(C, B, [42, 57])
    _, jpy = s.grant(C, B, [45, 15, 3], amount="100", currency="JPY")
    _, bhd = s.grant(C, B, [42], amount="0.125", currency="BHD")
    _, eur = s.grant(C, B, [60], amount="300", currency="EUR", unit="flat")
    for h in (usd, jpy, bhd, eur):
        s.accept(B, h)
    statement = account_statement(s.log.parsed, C.key_id)
    assert statement.to_json()["totals"] == {
        "earned": {"BHD": "0.088", "EUR": "300.00", "JPY": "105", "USD": "4.13"}
    }
    assert account_statement(s.log.parsed, B.key_id).to_json()["totals"] == {
        "owed": {"BHD": "0.088", "EUR": "300.00", "JPY": "105", "USD": "4.13"}
    }
    flat = statement.to_json()["grants"][3]
    assert (flat["amount"], [i["amount"] for i in flat["items"]]) == ("300.00", [None])


def test_nothing_accrues_before_acceptance_nor_for_a_withdrawn_offer() -> None:
    s = Story()
    _, offer = s.grant(C, B, [60])
    _, withdrawn = s.grant(C, B, [60], revocable=True, notice_days=30)
    assert account_statement(s.log.parsed, C.key_id).lines == ()
    s.revoke(C, withdrawn, s.now)  # not accepted yet: withdrawn at once
    s.accept(B, withdrawn)  # refused by the rules: revoked before
    assert account_statement(s.log.parsed, C.key_id).lines == ()
    s.accept(B, offer)
    s.accept(B, offer)  # a second acceptance counts for nothing
    assert totals(s.log, C) == {EARNED: {"USD": 250}}


def test_revocation_with_notice_mid_period_keeps_what_accrued() -> None:
    s = Story()
    _, h = s.grant(C, B, [120], revocable=True, notice_days=30)
    accept = s.accept(B, h)
    start = us(s.now - timedelta(minutes=1))
    revoke = s.revoke(C, h, s.now)  # cut short: stretched to the notice period's end
    end = us(s.now + timedelta(days=60))
    line = account_statement(s.log.parsed, C.key_id, start, end).lines[0]
    assert (line.amount, line.accept_seq, line.revoke_seq) == (500, accept, revoke)
    assert line.revoked_from == us(s.now.replace(microsecond=0) + timedelta(days=30))
    assert revoke in line.entries
    # A period that ends before the revocation was logged does not show it (time travel).
    before = account_statement(s.log.parsed, C.key_id, start, us(s.now)).lines[0]
    assert (before.amount, before.revoke_seq) == (500, None)


def test_a_period_split_in_two_sums_to_the_whole() -> None:
    s = Story()
    hashes = [s.grant(C, B, [30 * i + 7], amount="1.33")[1] for i in range(1, 6)]
    times = []
    for h in hashes:
        s.accept(B, h)
        times.append(us(s.now))
    a, c = times[0], times[-1] + 1
    for b in times:  # split exactly at an acceptance: it falls in the second half
        first, second = totals(s.log, C, a, b), totals(s.log, C, b, c)
        whole = totals(s.log, C, a, c)
        assert first.get(EARNED, {}).get("USD", 0) + second[EARNED]["USD"] == whole[EARNED]["USD"]
    assert totals(s.log, C, a, times[2])[EARNED]["USD"] == sum(
        totals(s.log, C, t, u).get(EARNED, {}).get("USD", 0)
        for t, u in zip([a, times[1]], [times[1], times[2]], strict=True)
    )


def test_both_views_agree_and_rotated_keys_are_the_same_party() -> None:
    s = Story()
    _, h1 = s.grant(C, B, [42, 57])
    _, h2 = s.grant(C, B2, [61], currency="EUR")
    _, h3 = s.grant(C2, B, [5], amount="7", unit="per_clip")
    s.accept(B, h1)
    s.accept(B2, h2)
    new_b = seeded_key(21)
    s.add(builders.key_rotate(B, new_b, issued_at=s.now))
    s.accept(new_b, h3)  # the buyer's new key accepts a grant made to its old one
    creators = [account_statement(s.log.parsed, k.key_id) for k in (C, C2)]
    buyers = [account_statement(s.log.parsed, k.key_id) for k in (B, B2)]
    earned = sorted((line.grant_seq, line.amount) for st_ in creators for line in st_.lines)
    owed = sorted((line.grant_seq, line.amount) for st_ in buyers for line in st_.lines)
    assert earned == owed
    assert account_statement(s.log.parsed, new_b.key_id).to_json()["grants"] == [
        line.to_json() for line in buyers[0].lines
    ]
    assert totals(s.log, B) == {OWED: {"USD": 1113}}


def test_grants_split_over_several_entries_sum_as_one() -> None:
    s = Story()
    durations = [(i * 37) % 119 + 1 for i in range(40)]
    items = [builders.Item(f"{i:064x}", 1, d) for i, d in enumerate(durations)]
    one = item_amounts(Consideration(Decimal("2.50"), "USD", "per_minute"), durations)[1]
    terms = builders.TermsSpec()
    parts = [items[:7], items[7:20], items[20:]]
    for n, part in enumerate(parts):
        g = builders.grant(C, B.key_id, str(uuid.UUID(int=900 + n)), part, terms, issued_at=T0)
        s.add(g)
        s.accept(B, g.statement_hash)
    assert totals(s.log, C) == {EARNED: {"USD": one}}


# --- account bundles -----------------------------------------------------------------------------


def _busy_story() -> Story:
    s = Story()
    _, h1 = s.grant(C, B, [42, 57], revocable=True, notice_days=10)
    _, h2 = s.grant(C, B2, [90], amount="150", currency="JPY")
    _, h3 = s.grant(C, B, [30])  # never accepted
    s.accept(B, h1)
    s.accept(B2, h2)
    s.revoke(C, h1, s.now)
    s.revoke(C, h3, s.now)
    return s


def test_an_honest_account_bundle_verifies() -> None:
    s = _busy_story()
    bundle = s.log.account(AccountQuery(C.key_id)).to_json()
    report = verify_account(bundle, s.log.verifier_key)
    assert report, report.failures
    assert report.statement is not None
    assert report.statement.to_json() == bundle["statement"]
    assert report.statement.to_json()["totals"] == {"earned": {"JPY": "225", "USD": "4.13"}}
    assert check_account_query(report, C.key_id, None, None)
    assert not check_account_query(verify_account(bundle, s.log.verifier_key), B.key_id, None, None)


def _without(bundle: dict[str, Any], seq: int) -> dict[str, Any]:
    return {**bundle, "entries": [e for e in bundle["entries"] if e["seq"] != seq]}


def test_an_edited_line_fails() -> None:
    s = _busy_story()
    bundle = s.log.account(AccountQuery(C.key_id)).to_json()
    line = bundle["statement"]["grants"][0]
    edited_line = {**line, "amount": "4.12"}
    edited = {
        **bundle,
        "statement": {
            **bundle["statement"],
            "grants": [edited_line, *bundle["statement"]["grants"][1:]],
        },
    }
    report = verify_account(edited, s.log.verifier_key)
    assert report.codes == [STATEMENT_MISMATCH]
    assert "amount" in report.failures[0].message


@pytest.mark.parametrize("what", ["accept", "revoke", "grant"])
def test_a_dropped_entry_of_a_grant_on_the_statement_fails(what: str) -> None:
    s = _busy_story()
    bundle = s.log.account(AccountQuery(C.key_id)).to_json()
    line = bundle["statement"]["grants"][0]
    seq = {"accept": line["accept_seq"], "revoke": line["revoke_seq"], "grant": line["grant_seq"]}[
        what
    ]
    report = verify_account(_without(bundle, seq), s.log.verifier_key)
    assert "entry_omitted" in report.codes


def test_a_dropped_revocation_of_an_unaccepted_grant_fails() -> None:
    s = _busy_story()
    bundle = s.log.account(AccountQuery(C.key_id)).to_json()
    revoke_h3 = len(s.log.parsed) - 1
    assert "entry_omitted" in verify_account(_without(bundle, revoke_h3), s.log.verifier_key).codes


class _HidingMap:
    """A lying server's map reader: the value of ``key`` without ``seq``, with the true proof."""

    def __init__(self, real: LicenceMap, key: bytes, seq: int) -> None:
        self.real, self.key, self.seq = real, key, seq

    def lookup(self, key: bytes) -> tuple[tuple[int, ...], MapProof]:
        seqs, proof = self.real.lookup(key)
        return (tuple(s for s in seqs if s != self.seq) if key == self.key else seqs), proof


@pytest.mark.parametrize(
    ("member", "code"),
    [
        ("true", "entry_omitted"),  # the party's grants proven as they are: grant 5 is missing
        ("hidden", "map_value_mismatch"),  # the value without grant 5: the proof shows another
        ("dropped", "map_proof_missing"),  # no proof of the party's grants at all
    ],
)
def test_a_grant_dropped_altogether_fails(member: str, code: str) -> None:
    """docs/ACCOUNTS.md §5: a server that leaves a whole grant out (its line, its entries and
    the map keys only it needed) and recomputes the statement over what is left fails on the
    party's ``party_grants`` key (FORMAT §14.1), whatever it does with that key's proof."""
    s = _busy_story()
    log = s.log
    jpy = account_statement(log.parsed, C.key_id).lines[1]
    assert (jpy.currency, jpy.grant_seq) == ("JPY", 5)
    wanted = party_grants_key(C.key_id)
    assert log.licence_map.get(wanted) == (4, 5, 6)  # C's three grants
    size = len(log.leaves)
    lying = build_account(
        origin=log.signer.name,
        verifier_key=log.verifier_key,
        checkpoint=log.checkpoint(),
        query=AccountQuery(C.key_id),
        party=C.key_id,
        grant_seqs=[4, 6],  # the JPY grant (seq 5) left out
        licence_map=_HidingMap(log.licence_map, wanted, 5),
        read_leaves=lambda seqs: {q: (log.leaves[q], log.parsed[q]) for q in seqs},
        inclusion_proofs=lambda seqs: inclusion_proofs(size, seqs, log.store),
    ).to_json()
    assert 5 not in {e["seq"] for e in lying["entries"]}
    assert [line["grant_seq"] for line in lying["statement"]["grants"]] == [4]  # 6: no accept
    members = lying["map"]
    (pg,) = [m for m in members if m["key"] == wanted.hex()]
    if member == "true":
        pg["seqs"] = [4, 5, 6]
    elif member == "dropped":
        members.remove(pg)
    report = verify_account(lying, log.verifier_key)
    assert report.codes == [code], report.failures
    message = report.failures[0].message
    assert f"party_grants {C.key_id}" in message
    if code == "entry_omitted":
        assert report.failures[0].seq == 5
        assert "entry 5" in message


def test_an_extra_grant_not_listed_under_the_party_fails() -> None:
    """The other direction: a statement line for a grant the party's ``party_grants`` value
    does not list (a map derived without it) fails; the proven value must list every line."""
    s = _busy_story()
    bundle = s.log.account(AccountQuery(C.key_id)).to_json()
    wanted = party_grants_key(C.key_id).hex()
    (pg,) = [m for m in bundle["map"] if m["key"] == wanted]
    pg["seqs"] = [4, 6]  # as a map without grant 5 would list it; the proof is of [4, 5, 6]
    codes = verify_account(bundle, s.log.verifier_key).codes
    assert "map_value_mismatch" in codes


def test_an_account_against_a_version_1_map_fails() -> None:
    """FORMAT §14.6: a checkpoint whose map line is v1 commits no party_grants keys, so an
    account bundle against it cannot be shown complete: map_root_missing, whatever it holds."""
    s = _busy_story()
    log = s.log
    v1 = derive_map(log.parsed, version=1)
    size = len(log.leaves)
    head = map_checkpoint(log.signer.name, size, tree_hash(size, log.store), v1.root, version=1)
    checkpoint = sign_checkpoint(head, log.signer)
    bundle = build_account(
        origin=log.signer.name,
        verifier_key=log.verifier_key,
        checkpoint=checkpoint,
        query=AccountQuery(C.key_id),
        party=C.key_id,
        grant_seqs=[4, 5, 6],
        licence_map=v1,
        read_leaves=lambda seqs: {q: (log.leaves[q], log.parsed[q]) for q in seqs},
        inclusion_proofs=lambda seqs: inclusion_proofs(size, seqs, log.store),
    ).to_json()
    report = verify_account(bundle, log.verifier_key)
    assert report.codes == ["map_root_missing"]
    assert "version 1" in report.failures[0].message


def test_a_bundle_of_another_log_fails() -> None:
    s = _busy_story()
    bundle = s.log.account(AccountQuery(C.key_id)).to_json()
    other = NoteSigner.from_private_key("test.example/log", seeded_key(99).private_key)
    assert "log_key_mismatch" in verify_account(bundle, other.verifier().to_vkey()).codes
    assert verify_account({"format": "x"}, s.log.verifier_key).codes == ["bundle_malformed"]


# --- property tests over random histories --------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories.ACTIONS, st.integers(0, 40))
def test_random_histories(actions: list[tuple[str, int, int, int]], cut: int) -> None:
    log = histories.history(actions)
    parties = {k.key_id for k in histories.KEYS}
    statements = {k: account_statement(log.parsed, k) for k in parties}
    # Both views: every earned line is some party's owed line, amount for amount.
    earned = sorted(
        (ln.grant_seq, ln.amount)
        for s in statements.values()
        for ln in s.lines
        if ln.role == EARNED and s.party == s.key_id
    )
    owed = sorted(
        (ln.grant_seq, ln.amount)
        for s in statements.values()
        for ln in s.lines
        if ln.role == OWED and s.party == s.key_id
    )
    assert earned == owed
    # A period split in two sums to the whole; each grant's amount is its items' sum.
    split = us(histories.T0 + timedelta(minutes=cut))
    for key, whole in statements.items():
        first = account_statement(log.parsed, key, None, split).totals
        second = account_statement(log.parsed, key, split, None).totals
        for role, per in whole.totals.items():
            for currency, amount in per.items():
                got = first.get(role, {}).get(currency, 0) + second.get(role, {}).get(currency, 0)
                assert got == amount
        for line in whole.lines:
            assert line.amount == sum(i.amount or 0 for i in line.items)
    # The bundle the log serves verifies, and recomputes the same statement.
    key = histories.KEYS[actions[0][1] if actions else 0].key_id
    bundle = log.account(AccountQuery(key)).to_json()
    report = verify_account(bundle, log.verifier_key)
    assert report, report.failures
    assert bundle["statement"] == statements[key].to_json()
