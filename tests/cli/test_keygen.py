"""``ledger keygen`` through the installed console command, as a user runs it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.core.errors import InvalidKey
from ledger.core.keys import SigningKey


def ledger_cmd() -> list[str]:
    exe = shutil.which("ledger", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "ledger.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ledger_cmd(), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_keygen_writes_a_private_0600_key_and_prints_its_id(tmp_path: Path) -> None:
    out = tmp_path / "creator.pem"
    result = run("keygen", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = SigningKey.load(out)
    assert f"key_id     {key.key_id}" in result.stdout
    assert key.public_key.b64 in result.stdout


def test_keygen_with_passphrase(tmp_path: Path) -> None:
    out = tmp_path / "k.pem"
    env = {**os.environ, "KEYPASS": "correct horse"}
    assert run("keygen", "--out", str(out), "--passphrase-env", "KEYPASS", env=env).returncode == 0
    SigningKey.load(out, b"correct horse")
    with pytest.raises(InvalidKey):
        SigningKey.load(out)


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "k.pem"
    out.write_text("precious")
    result = run("keygen", "--out", str(out))
    assert result.returncode == 2
    assert "refusing to overwrite" in result.stderr
    assert "Traceback" not in result.stderr
    assert out.read_text() == "precious"


def test_usage_error_exits_2() -> None:
    result = run("keygen")
    assert result.returncode == 2
    assert "--out" in result.stderr
