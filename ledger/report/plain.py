"""Grant terms and times in plain English, for people reading an evidence report.

The wording is derived only from the typed ``Terms`` of a verified grant (``ledger.core``), so what
the report says is what the creator signed. Nothing here decides whether a use is licensed: that
is the verifier's job. No I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

from ledger.core.statements import USES, Consideration, Terms, format_timestamp

USE_WORDS: Final = {
    "ai_training": "AI training",
    "ai_generative_training": "generative AI training",
    "ai_inference": "AI inference",
    "data_mining": "data mining",
}
PROHIBITION_WORDS: Final = {
    "replicate_likeness": "replicating the likeness of people shown",
    "replicate_voice": "replicating voices",
    "biometric_identification": "biometric identification",
    "redistribute_content": "redistributing the content",
}
_UNIT_WORDS: Final = {"per_minute": "per minute", "per_clip": "per clip"}
# Canonical order of the vocabulary, so that the wording does not depend on the signer's order.
USE_ORDER: Final = ("ai_training", "ai_generative_training", "ai_inference", "data_mining")


def join_words(words: Sequence[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def use_words(use: str) -> str:
    """A use code in words; an unknown code is shown as it is (it comes from the bundle)."""
    return USE_WORDS.get(use, use)


def format_amount(consideration: Consideration) -> str:
    """``2.50 USD per minute`` or ``a flat fee of 100 EUR``; the amount exactly as signed."""
    amount = _decimal_text(consideration.amount)
    money = f"{amount} {consideration.currency}"
    if consideration.unit == "flat":
        return f"a flat fee of {money}"
    return f"{money} {_UNIT_WORDS.get(consideration.unit, consideration.unit)}"


def _decimal_text(value: Decimal) -> str:
    # format(), not str(): str(Decimal("1E+1")) would print an exponent.
    return format(value, "f")


def _uses_clause(terms: Terms) -> str:
    allowed = [u for u in USE_ORDER if u in terms.uses]
    refused = [u for u in USE_ORDER if u not in terms.uses and u in USES]
    text = "may be used for " + join_words([use_words(u) for u in allowed])
    if refused:
        text += "; not for " + join_words([use_words(u) for u in refused], "or")
    return text


def _term_clause(terms: Terms) -> str:
    # The exact signed instants: "until 31 Dec 2030" would hide whether that day is included.
    start = format_timestamp(terms.start)
    if terms.end is None:
        return f"from {start}, with no end date"
    return f"from {start} up to (not including) {format_timestamp(terms.end)}"


def _revocation_clause(revocable: bool, notice_days: int | None) -> str:
    if not revocable:
        return "irrevocable"
    if not notice_days:
        return "revocable without notice"
    return (
        f"revocable with {notice_days} day's notice"
        if notice_days == 1
        else (f"revocable with {notice_days} days' notice")
    )


def term_clauses(terms: Terms) -> list[tuple[str, str]]:
    """The terms as (topic, plain sentence) pairs, in a fixed order."""
    prohibited = [PROHIBITION_WORDS.get(p, p) for p in terms.prohibitions]
    territory = list(terms.territory)
    return [
        ("Uses", _uses_clause(terms)),
        (
            "Prohibited",
            "not for " + join_words(prohibited, "or") if prohibited else "no further prohibitions",
        ),
        ("Territory", "worldwide" if territory == ["worldwide"] else "in " + join_words(territory)),
        ("Term", _term_clause(terms)),
        ("Revocation", _revocation_clause(terms.revocable, terms.notice_days)),
        ("Exclusivity", "exclusive" if terms.exclusive else "non-exclusive"),
        ("Payment", format_amount(terms.consideration)),
        ("Attribution", "attribution required" if terms.attribution else "no attribution required"),
        ("Sublicensing", "sublicensing allowed" if terms.sublicensing else "no sublicensing"),
    ]


def terms_summary(terms: Terms) -> str:
    """All terms in one sentence: ``May be used for AI training; ...; no sublicensing.``"""
    text = "; ".join(clause for _, clause in term_clauses(terms))
    return text[0].upper() + text[1:] + "."


#: Verdict reason codes (docs/LICENSING.md) in words; an unknown code is shown as it is.
REASON_WORDS: Final = {
    "licensed": "a grant permits it; accepted and in force",
    "no_grant": "no grant covers it for this buyer",
    "unknown_key": "signed by a key that was not registered",
    "key_revoked": "signed by a key already revoked or rotated away",
    "use_not_permitted": "the grant does not permit this use",
    "not_yet_valid": "the grant's term had not yet started",
    "expired": "the grant's term had ended",
    "revoked": "the grant had been revoked",
    "not_accepted": "the buyer had not accepted the grant",
}


def reason_words(reason: str) -> str:
    return REASON_WORDS.get(reason, reason)


#: Verdict reason codes as a few words for a count ("3,100 no grant, 700 revoked").
REASON_SHORT: Final = {
    "no_grant": "no grant",
    "unknown_key": "signed by an unregistered key",
    "key_revoked": "signed by a revoked key",
    "use_not_permitted": "use not permitted",
    "not_yet_valid": "term not yet started",
    "expired": "term ended",
    "revoked": "revoked",
    "not_accepted": "not accepted",
}


def answer_line(verdicts: Sequence[tuple[bool, str]], use: str, at: str) -> str:
    """The answer first, as a person asks it: ``1,200 of 5,000 clips licensed for AI training at
    T; 3,800 not: 3,100 no grant, 700 revoked`` (``verdicts``: (licensed, reason) per item, in
    any order; the reasons most frequent first)."""
    total = len(verdicts)
    licensed = sum(1 for ok, _ in verdicts if ok)
    text = (
        f"{licensed:,} of {total:,} clip{'' if total == 1 else 's'} licensed for"
        f" {use_words(use)} at {at}"
    )
    counts: dict[str, int] = {}
    for ok, reason in verdicts:
        if not ok:
            counts[reason] = counts.get(reason, 0) + 1
    if not counts:
        return text + ("; none unlicensed" if total else "")
    why = ", ".join(
        f"{n:,} {REASON_SHORT.get(reason, reason)}"
        for reason, n in sorted(counts.items(), key=lambda t: (-t[1], t[0]))
    )
    return f"{text}; {total - licensed:,} not: {why}"


def verdict_words(licensed: bool, reason: str) -> str:
    """``licensed`` or ``NOT licensed: no grant covers it for this buyer`` (no Python values)."""
    return "licensed" if licensed else f"NOT licensed: {reason_words(reason)}"
