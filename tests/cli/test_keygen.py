"""``ledger keygen`` and encrypted keys through the installed console command, as a user runs
it: at a terminal (a pseudo-terminal here) and from scripts."""

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
from tests.cli.clitools import assert_one_line_failure, run_ledger, run_ledger_tty, value


def ledger_cmd() -> list[str]:
    exe = shutil.which("ledger", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "ledger.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ledger_cmd(), *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,  # never a terminal: keygen would offer a passphrase
        timeout=60,
        check=False,
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


# --- encrypted keys: offered by keygen, asked (hidden) when used, --passphrase-env for scripts ---


def test_keygen_at_a_terminal_offers_encryption_and_register_asks_for_it(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    key = tmp_path / "enc.pem"
    code, shown = run_ledger_tty("keygen", "--out", key, answers=["s3cret pass", "s3cret pass"])
    assert code == 0, shown
    assert "Passphrase to encrypt" in shown
    assert "s3cret" not in shown  # typed, never shown
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    key_id = value(shown, "key_id")
    # a command that uses the key asks for its passphrase, on the terminal, hidden
    code, shown = run_ledger_tty(
        "register", "--key", key, "--name", "Tty Films", answers=["s3cret pass"], env=user_env
    )
    assert code == 0, shown
    assert f"Passphrase for {key}:" in shown
    assert "s3cret" not in shown
    assert value(shown, "key_id") == key_id


def test_keygen_at_a_terminal_an_empty_answer_means_no_encryption(tmp_path: Path) -> None:
    key = tmp_path / "plain.pem"
    code, shown = run_ledger_tty("keygen", "--out", key, answers=[""])
    assert code == 0, shown
    SigningKey.load(key)  # no passphrase needed


def test_keygen_encrypt_refuses_two_different_passphrases(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    code, shown = run_ledger_tty("keygen", "--out", key, "--encrypt", answers=["one", "two"])
    assert code == 2, shown
    assert "the two passphrases differ; no key written" in shown
    assert not key.exists()


def test_keygen_encrypt_without_a_terminal_says_what_to_do(tmp_path: Path) -> None:
    result = run_ledger("keygen", "--out", tmp_path / "k.pem", "--encrypt")
    assert_one_line_failure(result, 2, "no terminal to ask on; give it with --passphrase-env VAR")


@pytest.fixture
def encrypted_key(tmp_path: Path) -> Path:
    key = tmp_path / "enc.pem"
    made = run_ledger("keygen", "--out", key, "--passphrase-env", "KP", env={"KP": "right"})
    assert made.returncode == 0, made.stderr
    return key


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({}, "Passphrase for {key}: no terminal to ask on; give it with --passphrase-env VAR"),
        ({"KP": "wrong"}, "{key}: wrong passphrase"),
    ],
    ids=["no passphrase, no terminal", "wrong passphrase"],
)
def test_an_encrypted_key_without_its_passphrase_is_one_plain_line(
    encrypted_key: Path, env: dict[str, str], fragment: str
) -> None:
    args = ["register", "--key", encrypted_key, "--name", "X", "--url", "http://127.0.0.1:9"]
    if env:
        args += ["--passphrase-env", "KP"]
    result = run_ledger(*args, env=env)
    assert_one_line_failure(result, 2, fragment.format(key=encrypted_key))
    assert "Password" not in result.stderr  # no library message


def test_a_wrong_passphrase_typed_at_the_terminal(encrypted_key: Path) -> None:
    code, shown = run_ledger_tty(
        "register", "--key", encrypted_key, "--name", "X", "--url", "http://127.0.0.1:9",
        answers=["nope"],
    )  # fmt: skip
    assert code == 2, shown
    assert f"ledger: {encrypted_key}: wrong passphrase" in shown


def test_a_passphrase_for_a_plain_key_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "plain.pem"
    assert run_ledger("keygen", "--out", key).returncode == 0
    result = run_ledger(
        "register", "--key", key, "--name", "X", "--passphrase-env", "KP", env={"KP": "x"}
    )
    assert_one_line_failure(result, 2, f"{key}: the key is not encrypted: give no passphrase")


def test_scripts_give_the_passphrase_in_a_variable(
    user_env: dict[str, str], encrypted_key: Path
) -> None:
    registered = run_ledger(
        "register", "--key", encrypted_key, "--name", "Script Films", "--passphrase-env", "KP",
        env={**user_env, "KP": "right"},
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
