"""``ledger prove --entry``, ``ledger verify-proof`` and ``ledger witness vkey`` against a real
gunicorn server on both backends; exit codes as documented (0 ok, 1 verification, 2 usage,
3 server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.cli import main
from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner
from ledger.server.storage.db import Database
from tests.support.live import LiveServer, free_port
from tests.support.tlog_helpers import bulk_append

ORIGIN = "test.example/log"


@pytest.fixture
def served_log(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, NoteSigner]]:
    key = SigningKey.generate()
    key.save(tmp_path / "log-key.pem")
    signer = NoteSigner.from_private_key(ORIGIN, key.private_key)
    db = Database(database_url)
    bulk_append(db, signer, 20)
    db.dispose()
    server = LiveServer(database_url, tmp_path / "log-key.pem", tmp_path / "g", workers=1)
    with server:
        yield server, signer


def test_entry_proof_and_verify_proof(
    served_log: tuple[LiveServer, NoteSigner], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, signer = served_log
    vkey = signer.verifier().to_vkey()
    out = tmp_path / "e7.tlog-proof"
    argv = ["prove", "--entry", "7", "--out", str(out), "--url", server.url, "--log-key", vkey]
    assert main(argv) == 0
    assert "in tree 20" in capsys.readouterr().out
    assert main(["verify-proof", str(out), "--log-key", vkey]) == 0
    assert "ok: entry 7 is in test.example/log at tree size 20" in capsys.readouterr().out
    # Tampering: another leaf in the extra line fails verification (exit 1).
    text = out.read_text()
    extra = text.split("\n")[1]
    out.write_text(text.replace(extra, "extra bGVhZiA5"))
    assert main(["verify-proof", str(out), "--log-key", vkey]) == 1
    assert "verification failed" in capsys.readouterr().err
    other = NoteSigner.from_private_key(ORIGIN, SigningKey.generate().private_key)
    out.write_text(text)
    assert main(["verify-proof", str(out), "--log-key", other.verifier().to_vkey()]) == 1


def test_entry_proof_errors(
    served_log: tuple[LiveServer, NoteSigner], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = served_log
    out = tmp_path / "p"
    # no such entry: the log refuses it by its rules (exit 4, its code printed)
    assert main(["prove", "--entry", "20", "--out", str(out), "--url", server.url]) == 4
    assert "not_found" in capsys.readouterr().err
    dead = f"http://127.0.0.1:{free_port()}"
    assert main(["prove", "--entry", "1", "--out", str(out), "--url", dead]) == 3
    assert not out.exists()
    assert main(["prove", "--entry", "1", "--out", str(out), "--url", server.url]) == 0
    # a proof that does not verify under the given log key is refused (exit 1), not written
    other = NoteSigner.from_private_key(ORIGIN, SigningKey.generate().private_key)
    out2 = tmp_path / "p2"
    argv = ["prove", "--entry", "1", "--out", str(out2), "--url", server.url, "--log-key"]
    assert main([*argv, other.verifier().to_vkey()]) == 1
    assert not out2.exists()
    # a dataset proof still needs its question
    assert main(["prove", "--content", "ab" * 32, "--out", str(out2), "--url", server.url]) == 2
    assert "--buyer and --use are required" in capsys.readouterr().err
    assert main(["verify-proof", str(tmp_path / "missing"), "--log-key", "x+1+AA=="]) == 2


def test_witness_vkey(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = SigningKey.from_seed(b"\x11" * 32)
    key.save(tmp_path / "w.pem")
    argv = ["witness", "vkey", "--key", str(tmp_path / "w.pem"), "--name", "witness.example/w1"]
    assert main(argv) == 0
    # The §10.1 example of docs/FORMAT.md: the same seed and name.
    vkey = "witness.example/w1+f65f8fd1+BNBKsjJ0K7SrOhNovUYV5ObQIkq3GgFrr4UgozLJd4c3"
    assert capsys.readouterr().out == vkey + "\n"
