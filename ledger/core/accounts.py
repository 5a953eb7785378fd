"""Statements of account: what a party earned (as creator) and owes (as buyer) under the grants
in the log over a period (docs/ACCOUNTS.md).

``account_statement`` is the one function: the server serves it and the offline verifier
recomputes it. Which acceptances and revocations count is the licence replay's
(``licensing.LicenceState`` over ``logstate``), never decided here; this module adds only the
money: when an amount accrues (at the counted acceptance's log time, in the half-open period
``[start, end)``), how a consideration applies to items (``item_amounts``: exact integer
arithmetic, rounded per item to the currency's ISO 4217 minor unit, half to even), and totals per
role and currency (never across currencies). Amounts are integers in minor units throughout;
``format_amount`` writes them. Pure: no I/O; never raises for any list of valid leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, NamedTuple

from .iso import ISO_4217_MINOR_UNITS
from .leaf import Leaf
from .licensing import LicenceState, format_instant
from .statements import Consideration, ContentItem

EARNED: Final = "earned"  # the party is the grant's creator
OWED: Final = "owed"  # the party is the grant's buyer
ROLES: Final = (EARNED, OWED)
_NEVER: Final = 2**63 - 1


# --- amounts -------------------------------------------------------------------------------------


def minor_units(currency: str) -> int:
    """The ISO 4217 exponent of ``currency`` (2 for USD, 0 for JPY, 3 for BHD); KeyError for a
    code the format does not admit (a parsed grant never carries one)."""
    return ISO_4217_MINOR_UNITS[currency]


def _ratio(amount: Decimal) -> tuple[int, int]:
    """``amount`` as an exact fraction (numerator, power-of-ten denominator)."""
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite: the format admits plain decimals only
    numerator = int("".join(map(str, digits)) or "0")
    if exponent >= 0:
        return numerator * 10**exponent, 1
    return numerator, 10**-exponent


def round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (both >= 0, denominator > 0) rounded to an integer, a value
    exactly halfway going to the even neighbour."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def item_amounts(
    consideration: Consideration, durations: Sequence[int]
) -> tuple[tuple[int, ...] | None, int]:
    """(each item's amount, the grant's amount), in the currency's minor units.

    ``per_minute``: price x seconds / 60 per item; ``per_clip``: the price per item; each rounded
    on its own, half to even, and the grant's amount is their sum. ``flat``: no item amounts
    (None) and the price rounded once. Raises ValueError for another unit (the format has none).
    """
    numerator, denominator = _ratio(consideration.amount)
    scale = 10 ** minor_units(consideration.currency)
    unit = consideration.unit
    if unit == "flat":
        return None, round_half_even(numerator * scale, denominator)
    if unit == "per_clip":
        each = round_half_even(numerator * scale, denominator)
        amounts = (each,) * len(durations)
    elif unit == "per_minute":
        per_second = numerator * scale
        per_minute = denominator * 60
        amounts = tuple([round_half_even(per_second * s, per_minute) for s in durations])
    else:
        raise ValueError(f"no amount rule for consideration unit {unit!r}")
    return amounts, sum(amounts)


def format_amount(minor: int, currency: str) -> str:
    """An amount in minor units as a decimal string with exactly the currency's minor digits:
    ``format_amount(413, "USD") == "4.13"``, ``(1500, "JPY") -> "1500"``, ``(88, "BHD") ->
    "0.088"``."""
    digits = minor_units(currency)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**digits)
    return f"{sign}{whole}" if digits == 0 else f"{sign}{whole}.{part:0{digits}d}"


def format_price(amount: Decimal) -> str:
    """The consideration's amount as the grant writes it (``2.50`` stays ``2.50``)."""
    return format(amount, "f")


# --- the statement -------------------------------------------------------------------------------


class ItemLine(NamedTuple):
    """One item of a grant line (a named tuple: a statement over 100,000 items makes 100,000)."""

    sha256: str
    duration_s: int
    amount: int | None  # minor units; None for a flat grant

    def to_json(self, currency: str) -> dict[str, Any]:
        amount = None if self.amount is None else format_amount(self.amount, currency)
        return {"sha256": self.sha256, "duration_s": self.duration_s, "amount": amount}


@dataclass(frozen=True)
class GrantLine:
    """One grant whose consideration accrued in the period, seen from one side."""

    role: str  # EARNED or OWED
    grant_seq: int
    grant_id: str
    grant_hash: str
    creator: str  # party ids
    buyer: str
    accept_seq: int
    accrued_at: int  # the acceptance's log time, microseconds
    revoke_seq: int | None
    revoked_from: int | None  # the revocation's effective time, microseconds
    exclusive: bool
    price: str
    currency: str
    unit: str
    amount: int  # minor units
    items: tuple[ItemLine, ...]
    entries: tuple[int, ...]

    @property
    def counterparty(self) -> str:
        return self.buyer if self.role == EARNED else self.creator

    def to_json(self) -> dict[str, Any]:
        c = self.currency
        return {
            "role": self.role,
            "grant_seq": self.grant_seq,
            "grant_id": self.grant_id,
            "grant_hash": self.grant_hash,
            "creator": self.creator,
            "buyer": self.buyer,
            "accept_seq": self.accept_seq,
            "accrued_at": format_instant(self.accrued_at),
            "revoke_seq": self.revoke_seq,
            "revoked_from": None
            if self.revoked_from is None
            else format_instant(self.revoked_from),
            "exclusive": self.exclusive,
            "price": {"amount": self.price, "currency": c, "unit": self.unit},
            "amount": format_amount(self.amount, c),
            "items": _items_json(self.items, c),
            "entries": list(self.entries),
        }


def _items_json(items: Sequence[ItemLine], currency: str) -> list[dict[str, Any]]:
    """``[item.to_json(currency) for item in items]``, the currency's digits looked up once."""
    digits = minor_units(currency)
    scale = 10**digits
    out = []
    for sha256, duration_s, amount in items:
        text: str | None
        if amount is None:
            text = None
        elif amount < 0 or digits == 0:
            text = format_amount(amount, currency)
        else:  # format_amount's text
            whole, part = divmod(amount, scale)
            text = f"{whole}.{part:0{digits}d}"
        out.append({"sha256": sha256, "duration_s": duration_s, "amount": text})
    return out


@dataclass(frozen=True)
class Statement:
    """A party's statement of account over ``[start, end)`` (None: unbounded)."""

    key_id: str
    party: str | None  # None: the key was never registered (no lines)
    start: int | None
    end: int | None
    lines: tuple[GrantLine, ...]

    @property
    def totals(self) -> dict[str, dict[str, int]]:
        """role -> currency -> the sum of the lines' amounts (minor units); never across
        currencies. Roles and currencies without a line are absent."""
        out: dict[str, dict[str, int]] = {}
        for line in self.lines:
            per = out.setdefault(line.role, {})
            per[line.currency] = per.get(line.currency, 0) + line.amount
        return out

    @property
    def entries(self) -> tuple[int, ...]:
        """Every entry some line rests on, ascending, once."""
        return tuple(sorted({s for line in self.lines for s in line.entries}))

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "party": self.party,
            "from": None if self.start is None else format_instant(self.start),
            "to": None if self.end is None else format_instant(self.end),
            "grants": [line.to_json() for line in self.lines],
            "totals": totals_json(self.totals),
        }


def totals_json(totals: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, str]]:
    return {
        role: {c: format_amount(v, c) for c, v in sorted(per.items())}
        for role, per in sorted(totals.items())
    }


def account_statement(
    entries: Iterable[Leaf], key_id: str, start: int | None = None, end: int | None = None
) -> Statement:
    """The statement of the party holding ``key_id`` over ``[start, end)`` (microseconds; None:
    from the beginning, to the end of ``entries``), computed from ``entries`` alone.

    The entries integrated before ``end`` are replayed by the licence rules; every grant whose
    acceptance counted and was integrated in the period gives a line for each side the party is
    on. What is absent from ``entries`` is unknown (an offline verifier cannot see an omitted
    entry; ``ledger.core.evidence.account`` proves nothing it rests on was omitted).
    """
    state = LicenceState.replay(entries, _NEVER if end is None else end - 1)
    party = state.party(key_id)
    lines: list[GrantLine] = []
    if party is not None:
        low = 0 if start is None else start
        for record in state.grants.values():
            accept = record.accept
            if record.key_problem is not None or accept is None or accept.integrated_at < low:
                continue  # no counted acceptance in the period (replay stopped at ``end``)
            roles = [
                role
                for role, side in ((EARNED, record.creator_party), (OWED, record.buyer_party))
                if side == party
            ]
            lines.extend(_line(state, record, role) for role in roles)
    lines.sort(key=lambda line: (line.accept_seq, ROLES.index(line.role)))
    return Statement(key_id, party, start, end, tuple(lines))


def _line(state: LicenceState, record: Any, role: str) -> GrantLine:
    grant = record.grant
    consideration = grant.terms.consideration
    content: tuple[ContentItem, ...] = grant.content
    amounts, total = item_amounts(consideration, [item.duration_s for item in content])
    if amounts is None:
        items = tuple([ItemLine(item.sha256, item.duration_s, None) for item in content])
    else:
        items = tuple(
            [ItemLine(i.sha256, i.duration_s, a) for i, a in zip(content, amounts, strict=True)]
        )
    h = record.entry.signed.statement_hash
    revoke = record.revoke
    return GrantLine(
        role=role,
        grant_seq=record.seq,
        grant_id=grant.grant_id,
        grant_hash=h.hex(),
        creator=record.creator_party,
        buyer=record.buyer_party,
        accept_seq=record.accept.seq,
        accrued_at=record.accept.integrated_at,
        revoke_seq=None if revoke is None else revoke.seq,
        revoked_from=None if revoke is None else record.revoke_effective,
        exclusive=grant.terms.exclusive,
        price=format_price(consideration.amount),
        currency=consideration.currency,
        unit=consideration.unit,
        amount=total,
        items=items,
        entries=state.grant_entries(h),
    )
