"""The README's walkthrough, run exactly as written against a real server.

The fenced block after ``<!-- walkthrough -->`` goes to ``bash`` unchanged (with ``-e -u -o
pipefail`` so that any failing command, or a failing ``ledger`` inside ``$(...)``, fails the
test) in a temporary folder that holds what the prose says the reader has: clips under
``footage/``. The environment is a user's: ``ledger`` on the PATH, ``LEDGER_URL`` naming the live
server, and a private HOME and XDG_CONFIG_HOME for the client state. Whatever commands the block
contains run, so lines added later (status, prove, verify, audit) are covered too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.client import LogClient
from ledger.core.evidence import verify_bundle
from ledger.server.config import PROJECT_ROOT
from tests.cli.clitools import mp4
from tests.support.live import LiveServer

BLOCK_RE = re.compile(r"<!-- walkthrough -->\n```sh\n(.*?)\n```", re.DOTALL)


def walkthrough() -> str:
    match = BLOCK_RE.search((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))
    assert match, "README.md has no <!-- walkthrough --> sh block"
    return match.group(1)


def test_the_walkthrough_block_is_a_dozen_ledger_commands() -> None:
    commands = re.findall(r"\bledger (\w[\w-]*)", walkthrough())
    assert {"keygen", "register", "hash", "grant", "accept"} <= set(commands)
    assert len(commands) <= 16


@pytest.mark.parametrize("clips", [2, 1000])
def test_readme_walkthrough_runs_as_written(live: LiveServer, tmp_path: Path, clips: int) -> None:
    """With 1,000 clips, more than one grant's leaf holds: ``grant`` signs several grants and
    the walkthrough accepts every one (issue 19: it broke above ~450 clips)."""
    (tmp_path / "footage").mkdir()
    (tmp_path / "footage" / "dawn.mp4").write_bytes(mp4(1000, 61_000))
    (tmp_path / "footage" / "dusk.mp4").write_bytes(mp4(1000, 30_000, moov_last=False))
    for i in range(clips - 2):  # distinct contents: distinct durations
        (tmp_path / "footage" / f"clip-{i:04d}.mp4").write_bytes(mp4(1000, 1_000 + i))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LEDGER_URL": live.url,
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    result = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", walkthrough()],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,  # as in CI, whatever runs pytest: no passphrase prompts
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    grant_ids = re.findall(r"^accepted\s+(\S+)", result.stdout, re.MULTILINE)
    assert (len(grant_ids) > 1) == (clips > 2)
    grants = [LogClient(live.url).grant(g) for g in grant_ids]
    assert all(g["accepted_seq"] is not None for g in grants)
    assert sum(len(g["entry"]["statement"]["content"]) for g in grants) == clips
    assert (tmp_path / "config" / "consent-ledger").is_dir()
    # The buyer's evidence holds up offline: both clips licensed, recomputed from the entries.
    bundle = json.loads((tmp_path / "evidence.json").read_text(encoding="utf-8"))
    report = verify_bundle(bundle, LogClient(live.url).log_info()["verifier_key"])
    assert report, report.failures
    assert [v.reason for v in report.verdicts] == ["licensed"] * clips
    html = (tmp_path / "evidence.html").read_text(encoding="utf-8")
    assert "Studio Nord" in html
    assert "Acme AI" in html
