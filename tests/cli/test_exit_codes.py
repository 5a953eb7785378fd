"""Exit codes, one case each, through the installed ``ledger`` against a real server: 0 ok,
1 verification failed, 2 usage error, 3 server unreachable or a 5xx, 4 the log refused the request
by its rules (its problem code printed), 5 ``--fail-unlicensed`` with some content not licensed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.clitools import assert_one_line_failure, mp4, run_ledger
from tests.cli.test_flow import GRANT_TERMS, grant_ids, party

UNKNOWN_GRANT = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def granted(user_env: dict[str, str], tmp_path: Path) -> dict[str, object]:
    """A creator, a buyer, a non-revocable grant of one clip, and a clip nobody granted."""
    creator_pem, _ = party(tmp_path, user_env, "Exit Maker")
    buyer_pem, buyer = party(tmp_path, user_env, "Exit Buyer")
    (tmp_path / "a.mp4").write_bytes(mp4())
    (tmp_path / "b.mp4").write_bytes(mp4(1000, 7000))
    made = run_ledger(
        "grant", "--key", creator_pem, "--buyer", buyer, *GRANT_TERMS, tmp_path / "a.mp4",
        env=user_env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    [grant_id] = grant_ids(made.stdout)
    return {"creator": creator_pem, "buyer_pem": buyer_pem, "buyer": buyer, "grant": grant_id}


def test_a_nonexistent_grant_is_refused_with_its_code(
    user_env: dict[str, str], granted: dict[str, object]
) -> None:
    buyer_pem = granted["buyer_pem"]
    result = run_ledger("accept", "--yes", "--key", buyer_pem, UNKNOWN_GRANT, env=user_env)
    assert_one_line_failure(result, 4, "the log refused it (not_found)", "404")


def test_accepting_twice_is_refused_with_its_code(
    user_env: dict[str, str], granted: dict[str, object]
) -> None:
    args = ["accept", "--yes", "--key", granted["buyer_pem"], granted["grant"]]
    assert run_ledger(*args, env=user_env).returncode == 0
    again = run_ledger(*args, env=user_env)
    assert_one_line_failure(again, 4, "already_accepted")


def test_revoking_a_non_revocable_grant_is_refused_with_its_code(
    user_env: dict[str, str], granted: dict[str, object]
) -> None:
    # an offer not yet accepted may be withdrawn (docs/LICENSING.md); an accepted one may not
    args = ["accept", "--yes", "--key", granted["buyer_pem"], granted["grant"]]
    assert run_ledger(*args, env=user_env).returncode == 0
    result = run_ledger(
        "revoke", "--key", granted["creator"], granted["grant"], "--effective", "now",
        env=user_env,
    )  # fmt: skip
    assert_one_line_failure(result, 4, "(not_revocable)", "not revocable under its terms")


def test_status_at_a_future_time_is_refused_with_its_code(
    user_env: dict[str, str], granted: dict[str, object], tmp_path: Path
) -> None:
    result = run_ledger(
        "status", tmp_path / "a.mp4", "--buyer", granted["buyer"], "--at", "2099-01-01",
        env=user_env,
    )  # fmt: skip
    assert_one_line_failure(result, 4, "the log refused it (")


def test_a_wrong_key_for_accept_is_refused_before_signing(
    user_env: dict[str, str], granted: dict[str, object], tmp_path: Path
) -> None:
    intruder_pem, _ = party(tmp_path, user_env, "Exit Intruder")
    result = run_ledger("accept", "--yes", "--key", intruder_pem, granted["grant"], env=user_env)
    assert_one_line_failure(result, 4, "would refuse it (not_your_grant)", "as its buyer")


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "localhost", "ftp://example.org", "http://"])
def test_a_url_without_an_http_scheme_is_a_usage_error(tmp_path: Path, url: str) -> None:
    result = run_ledger("log", "--url", url, "--state", tmp_path / "state")
    assert result.returncode == 2, result.stderr
    assert "is not an http(s) URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists()


def test_fail_unlicensed_fails_a_pipeline_on_any_unlicensed_clip(
    user_env: dict[str, str], granted: dict[str, object], tmp_path: Path
) -> None:
    buyer, a, b = granted["buyer"], tmp_path / "a.mp4", tmp_path / "b.mp4"
    accept = ["accept", "--yes", "--key", granted["buyer_pem"], granted["grant"]]
    accepted = run_ledger(*accept, env=user_env)
    assert accepted.returncode == 0, accepted.stderr
    # status: one clip; licensed -> 0 with or without the flag; not licensed -> 0 without, 5 with
    ok = run_ledger("status", a, "--buyer", buyer, "--fail-unlicensed", env=user_env)
    assert ok.returncode == 0, ok.stderr
    plain = run_ledger("status", b, "--buyer", buyer, env=user_env)
    assert plain.returncode == 0
    assert "NOT licensed" in plain.stdout
    failed = run_ledger("status", b, "--buyer", buyer, "--fail-unlicensed", env=user_env)
    assert failed.returncode == 5, failed.stderr
    assert "NOT licensed" in failed.stdout  # the answer is still printed
    assert "--fail-unlicensed: 1 of 1 item(s) not licensed" in failed.stderr
    # prove: the bundle is written all the same, then the exit says some clip is not licensed
    prove = ["prove", "--buyer", buyer, "--use", "ai_training", "--content", a, b]
    proved = run_ledger(*prove, "--out", tmp_path / "e.json", "--fail-unlicensed", env=user_env)
    assert proved.returncode == 5, proved.stderr
    assert (tmp_path / "e.json").is_file()
    only_a = run_ledger(
        "prove", "--buyer", buyer, "--use", "ai_training", "--content", a,
        "--out", tmp_path / "a.json", "--fail-unlicensed", env=user_env,
    )  # fmt: skip
    assert only_a.returncode == 0, only_a.stderr
    # verify (offline): the same bundle, 0 without the flag, 5 with it; 1 still wins when broken
    assert run_ledger("verify", tmp_path / "e.json", env=user_env).returncode == 0
    verified = run_ledger("verify", tmp_path / "e.json", "--fail-unlicensed", env=user_env)
    assert verified.returncode == 5, verified.stdout + verified.stderr
    licensed = run_ledger("verify", tmp_path / "a.json", "--fail-unlicensed", env=user_env)
    assert licensed.returncode == 0
    (tmp_path / "bad.json").write_bytes((tmp_path / "e.json").read_bytes().replace(b'"', b"'", 1))
    broken = run_ledger("verify", tmp_path / "bad.json", "--fail-unlicensed", env=user_env)
    assert broken.returncode == 1


def test_help_lists_every_exit_code() -> None:
    shown = " ".join(run_ledger("--help").stdout.split())
    for code in ("0 ok", "1 verification failed", "2 usage error", "3 server", "4 refused", "5 "):
        assert code in shown
