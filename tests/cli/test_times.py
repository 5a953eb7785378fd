"""One time parser for every option (``ledger.cli.times``), through the real command and server.

``grant --start/--end``, ``revoke --effective`` and ``status``/``prove --at`` take the same
spellings: RFC 3339 with any offset, a bare date (UTC), ``now``. A bare ``--end`` date is the end
of that day; the grant stores, and the command prints, the exact instant.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.cli.times import parse_time
from ledger.client import LogClient
from tests.cli.clitools import assert_one_line_failure, mp4, run_ledger
from tests.cli.test_flow import grant_ids, party
from tests.support.live import LiveServer

NOW = datetime(2026, 5, 4, 10, 20, 30, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "end_of_day", "expected"),
    [
        ("2030-12-31", False, datetime(2030, 12, 31, tzinfo=UTC)),
        ("2030-12-31", True, datetime(2031, 1, 1, tzinfo=UTC)),
        ("2028-02-29", True, datetime(2028, 3, 1, tzinfo=UTC)),
        ("2030-12-31T18:00:00Z", True, datetime(2030, 12, 31, 18, tzinfo=UTC)),
        ("2030-12-31T19:00:00+01:00", False, datetime(2030, 12, 31, 18, tzinfo=UTC)),
        ("2030-12-31T13:30:00-04:30", False, datetime(2030, 12, 31, 18, tzinfo=UTC)),
        ("2030-12-31t18:00:00.25z", False, datetime(2030, 12, 31, 18, 0, 0, 250000, tzinfo=UTC)),
        ("2030-12-31 18:00:00Z", False, datetime(2030, 12, 31, 18, tzinfo=UTC)),
        ("now", True, NOW),
        (" NOW ", False, NOW),
    ],
)
def test_the_spellings_of_a_time(text: str, end_of_day: bool, expected: datetime) -> None:
    assert parse_time(text, end_of_day=end_of_day, now=NOW) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2030-02-30", "not a real date"),
        ("2030-12-31T18:00:00", "not a time"),  # no offset: which zone would it be?
        ("2030-12-31T24:00:00Z", "not a real date and time"),
        ("31/12/2030", "not a time"),
        ("tomorrow", "not a time"),
        ("2030-12-31T18:00Z", "not a time"),
    ],
)
def test_what_is_not_a_time(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_time(text)


def test_every_time_option_takes_every_spelling(
    live: LiveServer, user_env: dict[str, str], tmp_path: Path
) -> None:
    creator_pem, _ = party(tmp_path, user_env, "Clockwork Films")
    buyer_pem, buyer = party(tmp_path, user_env, "Clockwork Buyer")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(mp4(1000, 30_000))
    granted = run_ledger(
        "grant", "--key", creator_pem, "--buyer", buyer.upper(), "--use", "ai_training",
        "--price", "1", "--currency", "usd", "--per", "clip",
        "--start", "2026-01-01T01:00:00+01:00", "--end", "2030-12-31", clip, env=user_env,
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    # the exact stored term is said before anything is signed
    assert (
        "term from 2026-01-01T00:00:00Z until 2031-01-01T00:00:00Z, that instant excluded"
        in granted.stderr
    )
    [grant_id] = grant_ids(granted.stdout)
    terms = LogClient(live.url).grant(grant_id)["entry"]["statement"]["terms"]
    assert (terms["start"], terms["end"]) == ("2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z")
    # an uppercase grant id is the same grant
    accepted = run_ledger("accept", "--yes", "--key", buyer_pem, grant_id.upper(), env=user_env)
    assert accepted.returncode == 0, accepted.stderr

    now = run_ledger("status", clip, "--buyer", buyer.upper(), "--at", "now", env=user_env)
    assert now.returncode == 0, now.stderr
    assert f"{hashlib.sha256(clip.read_bytes()).hexdigest()}  LICENSED" in now.stdout
    # the instant asked about is the one the bundle records (the log's spelling, §13)
    for at, recorded in [
        ("2026-06-01", "2026-06-01T00:00:00.000000Z"),
        ("2026-06-01T14:00:00+02:00", "2026-06-01T12:00:00.000000Z"),
        ("2026-06-01T12:00:00.5Z", "2026-06-01T12:00:00.500000Z"),
    ]:
        out = tmp_path / f"evidence-{recorded}.json"
        proved = run_ledger(
            "prove", "--buyer", buyer, "--use", "ai_training", "--content", clip, "--at", at,
            "--out", out, env=user_env,
        )  # fmt: skip
        assert proved.returncode == 0, (at, proved.stderr)
        assert json.loads(out.read_text())["query"]["at"] == recorded


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--end", "31.12.2030", "argument --end: '31.12.2030' is not a time: give 2027-12-31"),
        ("--end", "2030-12-31T18:00:00.5Z", "statements carry whole seconds"),
        ("--start", "2030-13-01", "argument --start: '2030-13-01' is not a real date"),
    ],
)
def test_a_bad_time_is_a_usage_error_naming_the_option(
    tmp_path: Path, option: str, value: str, fragment: str
) -> None:
    args = ["grant", "--key", tmp_path / "k.pem", "--buyer", "ab" * 32, "--use", "ai_training"]
    args += ["--price", "1", "--currency", "USD", "--per", "clip", "--end", "2031-01-01"]
    result = run_ledger(*args, option, value, tmp_path)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr


def test_status_at_refuses_a_time_without_offset(tmp_path: Path) -> None:
    result = run_ledger("status", "ab" * 32, "--buyer", "cd" * 32, "--at", "2026-01-01T00:00:00")
    assert result.returncode == 2
    assert "argument --at: '2026-01-01T00:00:00' is not a time" in result.stderr


def test_end_before_start_names_both_instants(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(mp4())
    made = run_ledger("keygen", "--out", tmp_path / "k.pem")
    assert made.returncode == 0
    args = ["grant", "--key", tmp_path / "k.pem", "--buyer", "ab" * 32, "--use", "ai_training"]
    args += ["--price", "1", "--currency", "USD", "--per", "clip"]
    args += ["--start", "2030-01-01", "--end", "2029-12-31", tmp_path / "clip.mp4"]
    result = run_ledger(*args)
    assert_one_line_failure(
        result, 2, "--end must be later than --start (default: now): 2030-01-01T00:00:00Z is not"
    )
