"""``--log-key`` as every command reads it: ``read_log_key`` and ``log_verifier`` (cli.common)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.cli.common import EXIT_USAGE, CliError, log_verifier, read_log_key
from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner

VERIFIER = NoteSigner.from_private_key("test.example/log", SigningKey.generate().private_key)
VKEY = VERIFIER.verifier().to_vkey()


def test_the_key_itself_is_taken_as_it_is() -> None:
    assert read_log_key(VKEY) == VKEY


@pytest.mark.parametrize("name", ["log.vkey", "log+key.vkey"])
def test_a_file_is_read_and_trimmed(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(f"  {VKEY}\n\n", encoding="utf-8")
    assert read_log_key(str(path)) == VKEY


@pytest.mark.parametrize(
    "value",
    [
        "no-such-file",  # not a file: left for the parser to reject
        "x" * 5000,  # too long to be a file name: no OSError from the file check
        "a\0b",  # not a file name at all: no ValueError from the file check
        ".",  # a directory is not a key file
    ],
)
def test_anything_else_is_left_as_it_is(value: str) -> None:
    assert read_log_key(value) == value


def test_a_file_that_is_not_text_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "key.bin"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CliError) as e:
        read_log_key(str(path))
    assert e.value.exit_code == EXIT_USAGE
    assert e.value.message.startswith(f"--log-key: cannot read {path}: ")


def test_log_verifier_parses_the_key() -> None:
    assert log_verifier(VKEY) == VERIFIER.verifier()


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("not-a-key", "--log-key: malformed verifier key"),
        (VKEY.replace("+", "+0", 1)[:-1], "--log-key: "),
        ("x+1+AA==", "--log-key: "),
    ],
)
def test_a_malformed_key_is_a_usage_error(vkey: str, message: str) -> None:
    with pytest.raises(CliError) as e:
        log_verifier(vkey)
    assert e.value.exit_code == EXIT_USAGE
    assert e.value.message.startswith(message)
