"""``ledger.client`` is a library a buyer uses from Python: its documented example runs for real
against a live server, and nothing in it prints or needs ``ledger.cli``."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ledger.client
from tests.support.live import LiveServer


def test_the_documented_example_runs_against_a_live_log(
    live: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"a clip of twelve seconds, more or less" * 1000)
    globs = {"url": live.url, "state": tmp_path / "state", "clip": clip}
    finder = doctest.DocTestFinder(recurse=False)
    (test,) = finder.find(ledger.client, "ledger.client", globs=globs)
    assert len(test.examples) > 10
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test, out=lambda text: print(text, file=sys.stderr))
    assert result.failed == 0, capsys.readouterr().err
    assert result.attempted == len(test.examples)
    # the example pinned the log key it trusted on first use
    (pinned,) = (tmp_path / "state").glob("*/log-key.vkey")
    assert (
        pinned.read_text().strip() == ledger.client.LogClient(live.url).log_info()["verifier_key"]
    )


def test_the_library_loads_without_the_cli() -> None:
    code = (
        "import json, sys, ledger.client\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[:2] == ['ledger', 'cli'])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []
