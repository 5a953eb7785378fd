"""Statements of account a party can check (docs/ACCOUNTS.md), and their exports (no printing).

``account`` fetches ``GET /v1/parties/{key_id}/account`` and verifies it with
``ledger.core.evidence.account`` before returning it: checkpoint, entries, inclusion and map
proofs, and the statement recomputed from the entries. Callers print and export
``report.statement``, the recomputed one. ``to_csv`` and ``to_journal`` write it for spreadsheets
and for hledger / beancount.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Final

from ledger.client.http import LogClient
from ledger.core.accounts import EARNED, GrantLine, Statement, format_amount, totals_json
from ledger.core.evidence.account import AccountReport, check_account_query, verify_account
from ledger.core.licensing import format_instant, parse_instant
from ledger.core.note import NoteVerifier
from ledger.core.policy import WitnessPolicy
from ledger.core.sigcheck import SignatureCheck, cryptography_check

__all__ = ["JOURNALS", "account", "summary_lines", "to_csv", "to_journal"]

JOURNALS: Final = ("hledger", "beancount")
CSV_COLUMNS: Final = (
    "role",
    "grant_seq",
    "grant_id",
    "accept_seq",
    "accrued_at",
    "counterparty",
    "sha256",
    "duration_s",
    "unit",
    "price",
    "currency",
    "amount",
)


def account(
    client: LogClient,
    key_id: str,
    log_key: str | NoteVerifier,
    *,
    start: str | None = None,
    end: str | None = None,
    check: SignatureCheck = cryptography_check,
    policy: WitnessPolicy | None = None,
) -> tuple[Any, AccountReport]:
    """The party's account bundle (parsed JSON) and its report, which fails unless the bundle
    verifies and answers for ``key_id`` over ``[start, end)`` (RFC 3339 UTC, None: open)."""
    bundle = client.account(key_id, start, end)
    report = verify_account(bundle, log_key, check=check, policy=policy)
    check_account_query(
        report,
        key_id,
        None if start is None else parse_instant(start, "from"),
        None if end is None else parse_instant(end, "to"),
    )
    return bundle, report


def summary_lines(statement: Statement) -> list[str]:
    """The statement in plain text: one line per grant, then the totals per role and currency."""
    lines = [f"party      {statement.party or '(no party holds this key)'}"]
    start = "the beginning" if statement.start is None else format_instant(statement.start)
    end = "the checkpoint" if statement.end is None else format_instant(statement.end)
    lines.append(f"period     from {start} to {end} (excluded)")
    for line in statement.lines:
        revoked = "" if line.revoke_seq is None else f"  revoked from {_when(line.revoked_from)}"
        lines.append(
            f"{line.role:<6} {format_amount(line.amount, line.currency):>14} {line.currency}  "
            f"grant {line.grant_id} (seq {line.grant_seq}), {len(line.items)} items at "
            f"{line.price} {line.unit}, accepted at seq {line.accept_seq} "
            f"{format_instant(line.accrued_at)}{revoked}"
        )
    for role, per in totals_json(statement.totals).items():
        for currency, amount in per.items():
            lines.append(f"total {role:<6} {amount:>14} {currency}")
    if not statement.lines:
        lines.append("total      nothing accrued in the period")
    return lines


def _when(micros: int | None) -> str:
    return "-" if micros is None else format_instant(micros)


def to_csv(statement: Statement) -> str:
    """One row per item (a flat grant: one row for the grant, ``sha256`` empty); the ``amount``
    column, summed per role and currency, gives the totals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in statement.lines:
        head = [
            line.role,
            line.grant_seq,
            line.grant_id,
            line.accept_seq,
            format_instant(line.accrued_at),
            line.counterparty,
        ]
        tail = [line.unit, line.price, line.currency]
        if line.unit == "flat":
            seconds = sum(item.duration_s for item in line.items)
            writer.writerow([*head, "", seconds, *tail, format_amount(line.amount, line.currency)])
            continue
        for item in line.items:
            amount = format_amount(item.amount or 0, line.currency)
            writer.writerow([*head, item.sha256, item.duration_s, *tail, amount])
    return out.getvalue()


def _accounts(line: GrantLine) -> tuple[str, str]:
    """(debit, credit) account names: valid for hledger and beancount alike."""
    other = "P" + line.counterparty[:16]
    if line.role == EARNED:
        return f"Assets:Receivable:{other}", "Income:Licences"
    return "Expenses:Licences", f"Liabilities:Payable:{other}"


def to_journal(statement: Statement, flavour: str = "hledger") -> str:
    """One transaction per grant line on its accrual date (UTC): hledger's journal format, or
    beancount's (with the ``open`` directives it requires). Raises ValueError for another
    flavour."""
    if flavour not in JOURNALS:
        raise ValueError(f"no journal flavour {flavour!r}: one of {', '.join(JOURNALS)}")
    party = statement.party or statement.key_id
    out = [f"; statement of account of party {party} (Consent Ledger, docs/ACCOUNTS.md)", ""]
    if flavour == "beancount":
        names = sorted({name for line in statement.lines for name in _accounts(line)})
        out.extend(f"1970-01-01 open {name}" for name in names)
        out.append("")
    for line in statement.lines:
        day = format_instant(line.accrued_at)[:10]
        debit, credit = _accounts(line)
        amount = format_amount(line.amount, line.currency)
        what = f"grant {line.grant_id} seq {line.grant_seq}"
        note = f"{line.role}, {len(line.items)} items, accepted at seq {line.accept_seq}"
        if flavour == "beancount":
            out.append(f'{day} * "{what}" "{note}"')
        else:
            out.append(f"{day} * {what} | {note}")
        out.append(f"    {debit}  {amount} {line.currency}")
        out.append(f"    {credit}  -{amount} {line.currency}")
        out.append("")
    return "\n".join(out)
