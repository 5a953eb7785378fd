"""The one parser of times for every option of the ``ledger`` command.

Every time option (``grant --start/--end``, ``revoke --effective``, ``status``/``prove --at``)
takes the same three spellings:

- an RFC 3339 instant with any offset: ``2027-12-31T18:00:00Z``, ``2027-12-31T19:00:00+01:00``
  (converted to UTC; fractions of a second only where the option keeps them: ``--at``);
- a bare date, read in UTC: the **start** of that day (``00:00:00Z``) for a start, an effective
  date or ``--at``, and the **end** of that day for an end (``--end``): a licence's term excludes
  its end, so ``--end 2030-12-31`` stores ``2031-01-01T00:00:00Z`` and covers all of 31 December;
- ``now``.

What is stored is always one exact UTC instant, and the commands print it.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, date, datetime, time, timedelta

_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339 §5.6 date-time: "T" (or a space, as §5.6 allows), seconds, optional fraction, and an
# offset "Z" or "+hh:mm" / "-hh:mm". Lowercase "t" and "z" are allowed by RFC 3339 too.
_INSTANT_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
SPELLINGS = "2027-12-31, 2027-12-31T18:00:00Z, 2027-12-31T19:00:00+01:00 or now"


def parse_time(text: str, *, end_of_day: bool = False, now: datetime | None = None) -> datetime:
    """``text`` as one UTC instant (see the module docstring); ValueError saying the spellings.

    ``end_of_day``: a bare date means the end of that day (the next midnight UTC), not its start.
    ``now`` is the instant ``now`` stands for (default: the clock, microseconds kept).
    """
    text = text.strip()
    if text.lower() == "now":
        return now if now is not None else datetime.now(UTC)
    if _DATE_RE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a real date") from None
        start = datetime.combine(day, time(), UTC)
        return start + timedelta(days=1) if end_of_day else start
    if not _INSTANT_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not a time: give {SPELLINGS}")
    try:
        moment = datetime.fromisoformat(text.upper().replace(" ", "T"))
    except ValueError:
        raise ValueError(f"{text!r} is not a real date and time") from None
    return moment.astimezone(UTC)


def format_utc(moment: datetime) -> str:
    """The exact instant as RFC 3339 UTC, with a fraction only when it has one."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _argument(text: str, end_of_day: bool) -> datetime:
    try:
        return parse_time(text, end_of_day=end_of_day)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def statement_time(text: str) -> datetime:
    """An argparse type for a time a statement carries (``--start``, ``--effective``): whole
    seconds; ``now`` rounded *up* to the next second, so that it never lies before the moment
    the log integrates the statement (a revocation with no notice would be refused)."""
    moment = _argument(text, end_of_day=False)
    if text.strip().lower() == "now":
        whole = moment.replace(microsecond=0)
        return whole + timedelta(seconds=1) if moment.microsecond else whole
    return _whole_seconds(moment, text)


def statement_end(text: str) -> datetime:
    """An argparse type for ``--end``: a bare date is the end of that day (next midnight UTC)."""
    return _whole_seconds(_argument(text, end_of_day=True), text)


def at_time(text: str) -> str | None:
    """An argparse type for ``--at``: the RFC 3339 UTC instant the server is asked about; None
    for ``now`` (the log's own now, as with no ``--at``)."""
    if text.strip().lower() == "now":
        return None
    return format_utc(_argument(text, end_of_day=False))


def instant_arg(text: str) -> str:
    """An argparse type for an instant to compare with one already recorded (``verify --at``):
    its RFC 3339 UTC spelling (``now`` is this moment)."""
    return format_utc(_argument(text, end_of_day=False))


def _whole_seconds(moment: datetime, text: str) -> datetime:
    if moment.microsecond:
        raise argparse.ArgumentTypeError(f"{text!r}: statements carry whole seconds")
    return moment
