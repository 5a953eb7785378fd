"""``ledger verify`` / ``scripts/verify_evidence.py`` exit codes through a subprocess, the script's
import diet, and ``ledger status`` / ``ledger prove`` against a real gunicorn server."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from ledger.client import LogClient
from ledger.content.manifest import ManifestItem, write_manifest
from ledger.core import builders
from ledger.core.canonical import canonicalize
from ledger.core.note import NoteSigner
from ledger.server.config import PROJECT_ROOT
from tests.support.evidence_helpers import BUNDLE, LICENSED, LOG_, REFUSED, UNKNOWN, B
from tests.support.factories import seeded_key
from tests.support.live import LiveServer

SCRIPT = PROJECT_ROOT / "scripts" / "verify_evidence.py"
BANNED = ("flask", "sqlalchemy", "marshmallow", "werkzeug", "alembic", "psycopg")


def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ledger(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run("-m", "ledger.cli", *args)


def write(tmp_path: Path, bundle: Any, name: str = "bundle.json") -> Path:
    path = tmp_path / name
    path.write_bytes(canonicalize(bundle))
    return path


def _tampered() -> dict[str, Any]:
    bundle = copy.deepcopy(BUNDLE)
    bundle["items"][1].update(licensed=True, reason="licensed")  # a "no" turned into a "yes"
    return bundle


@pytest.mark.parametrize("command", ["ledger", "script"])
@pytest.mark.parametrize("accel", [[], ["--no-accel"]], ids=["auto", "no-accel"])
def test_verify_exit_codes(tmp_path: Path, command: str, accel: list[str]) -> None:
    def verify(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        args = [path, "--log-key", LOG_.verifier_key, *accel, *extra]
        return ledger("verify", *args) if command == "ledger" else run(SCRIPT, *args)

    honest = verify(write(tmp_path, BUNDLE))
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "1 licensed" in honest.stdout  # "not licensed" verdicts are results, not failures
    assert "1 expired" in honest.stdout
    tampered = verify(write(tmp_path, _tampered(), "tampered.json"))
    assert tampered.returncode == 1
    assert "verdict_mismatch" in tampered.stdout
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"format": 1, "format": 2}')
    assert verify(garbage).returncode == 1
    assert verify(tmp_path / "missing.json").returncode == 2


def _manifest(tmp_path: Path, hashes: list[str], name: str = "asked.json") -> Path:
    path = tmp_path / name
    write_manifest(path, [ManifestItem(h, 1, path=f"clip{i}.mp4") for i, h in enumerate(hashes)])
    return path


def test_verify_binds_the_bundle_to_the_question_asked(tmp_path: Path) -> None:
    """``--manifest``/``--buyer``/``--use``/``--at``: each part given must be what the bundle
    answers (query_mismatch, naming the part), duplicates in the manifest counted once."""
    path = write(tmp_path, BUNDLE)
    asked = [LICENSED, REFUSED, UNKNOWN, LICENSED]
    question = [
        "--manifest", _manifest(tmp_path, asked), "--buyer", B.key_id.upper(),
        "--use", "ai_training", "--at", BUNDLE["query"]["at"].replace(".000000", ""),
    ]  # fmt: skip

    def verify(*extra: str | Path) -> subprocess.CompletedProcess[str]:
        return ledger("verify", path, "--log-key", LOG_.verifier_key, *question, *extra)

    honest = verify()
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "nothing the verdicts rest on was left out" in honest.stdout
    other_items = _manifest(tmp_path, [LICENSED, UNKNOWN], "other.json")
    for extra, fragment in (
        (["--manifest", other_items], "1 answered and not asked about"),
        (["--buyer", "aa" * 32], f"answers buyer {B.key_id}, not {'aa' * 32}"),
        (["--use", "ai_inference"], "answers use ai_training, not ai_inference"),
        (["--at", "2026-03-01T00:00:00Z"], "not 2026-03-01T00:00:00.000000Z as asked"),
    ):
        wrong = verify(*extra)  # argparse: the last of a repeated option wins
        assert wrong.returncode == 1, wrong.stdout
        assert "query_mismatch" in wrong.stdout
        assert fragment in wrong.stdout
    bad = verify("--use", "world_domination")
    assert bad.returncode == 2
    assert "use" in bad.stderr


def test_a_changed_no_grant_item_no_longer_passes(tmp_path: Path) -> None:
    """The hole of issue 18: a ``no_grant`` item's hash changed still recomputed to ``no_grant``.
    Now the item's content key has no map proof in the bundle; with --manifest, also the
    question differs."""
    bundle = copy.deepcopy(BUNDLE)
    bundle["items"][2]["sha256"] = "12" * 32
    path = write(tmp_path, bundle)
    plain = ledger("verify", path, "--log-key", LOG_.verifier_key)
    assert plain.returncode == 1
    assert "map_proof_missing" in plain.stdout
    asked = _manifest(tmp_path, [LICENSED, REFUSED, UNKNOWN])
    bound = ledger("verify", path, "--log-key", LOG_.verifier_key, "--manifest", asked)
    assert "query_mismatch" in bound.stdout


def test_verify_script_loads_no_web_or_database_library(tmp_path: Path) -> None:
    path = write(tmp_path, BUNDLE)
    probe = (
        "import json, runpy, sys\n"
        f"sys.argv = ['verify_evidence.py', {str(path)!r}, '--log-key', {LOG_.verifier_key!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        f"banned = sorted(m for m in sys.modules if m.split('.')[0] in {BANNED!r})\n"
        "print(json.dumps({'code': code, 'banned': banned}))\n"
    )
    result = run("-c", probe)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"code": 0, "banned": []}


# --- against a real server -----------------------------------------------------------------------


def _populate(url: str, clip_file: Path) -> tuple[str, str, str]:
    """C and B registered, a grant of two clips accepted; returns (buyer, clip, other clip)."""
    creator, buyer = seeded_key(1), seeded_key(2)
    log = LogClient(url)
    clip = hashlib.sha256(clip_file.read_bytes()).hexdigest()
    other = "ee" * 32
    log.append(builders.party_register(creator, "creator").to_json())
    log.append(builders.party_register(buyer, "buyer").to_json())
    items = [builders.Item(clip, clip_file.stat().st_size, 60), builders.Item(other, 5, 1)]
    terms = builders.TermsSpec(uses=("ai_training",))
    g = builders.grant(creator, buyer.key_id, str(uuid.uuid4()), items, terms)
    log.append(g.to_json())
    log.append(builders.grant_accept(buyer, g.statement_hash).to_json())
    return buyer.key_id, clip, other


@pytest.mark.slow  # starts gunicorn
def test_status_and_prove_against_a_live_server(database_url: str, tmp_path: Path) -> None:
    clip_file = tmp_path / "clip.mp4"
    clip_file.write_bytes(b"not really a video" * 1000)
    server = LiveServer(database_url, tmp_path / "log-key.pem", tmp_path / "gunicorn", workers=2)
    with server:
        url = server.url
        buyer, clip, other = _populate(url, clip_file)
        vkey = LogClient(url).log_info()["verifier_key"]

        by_hash = ledger("status", clip, "--buyer", buyer, "--url", url, "--log-key", vkey)
        assert by_hash.returncode == 0, by_hash.stdout + by_hash.stderr
        assert f"{clip}  LICENSED" in by_hash.stdout
        by_path = ledger("status", clip_file, "--buyer", buyer, "--url", url)
        assert by_path.returncode == 0
        assert f"{clip}  LICENSED" in by_path.stdout
        other_use = ledger("status", clip, "--buyer", buyer, "--use", "ai_inference", "--url", url)
        assert other_use.returncode == 0, other_use.stderr  # "not licensed" is a result
        assert "NOT licensed (use_not_permitted)" in other_use.stdout

        foreign = NoteSigner.from_private_key(server.origin, seeded_key(8).private_key)
        wrong = foreign.verifier().to_vkey()
        fresh = ["--state", tmp_path / "fresh"]  # no key pinned for the log yet
        ask = ("status", clip, "--buyer", buyer, "--url", url)
        wrong_key = ledger(*ask, "--log-key", wrong, *fresh)
        assert wrong_key.returncode == 1
        assert "checkpoint_invalid" in wrong_key.stdout
        assert not (tmp_path / "fresh").exists()  # a key that did not verify is not pinned
        # the first status above pinned the key it was given: another one is refused
        refused = ledger(*ask, "--log-key", wrong)
        assert refused.returncode == 1
        assert "--log-key differs from the key pinned" in refused.stderr

        out = tmp_path / "evidence.json"
        content = [clip, other, "dd" * 32]
        proved = ledger(
            "prove", "--buyer", buyer, "--use", "ai_training", "--content", *content,
            "--out", out, "--url", url, "--log-key", vkey,
        )  # fmt: skip
        assert proved.returncode == 0, proved.stdout + proved.stderr
        assert "3: 2 licensed" in proved.stdout
        bundle = json.loads(out.read_bytes())
        assert [i["reason"] for i in bundle["items"]] == ["licensed", "licensed", "no_grant"]
        assert ledger("verify", out, "--log-key", vkey).returncode == 0

        manifest = tmp_path / "dataset.csv"
        write_manifest(manifest, [ManifestItem(clip, 1, path="clip.mp4"), ManifestItem(other, 5)])
        from_manifest = ledger(
            "prove", "--buyer", buyer, "--use", "ai_training", "--manifest", manifest,
            "--out", out, "--force", "--url", url,
        )  # fmt: skip
        assert from_manifest.returncode == 0, from_manifest.stdout + from_manifest.stderr
        assert "2: 2 licensed" in from_manifest.stdout

        bad_use = ledger("prove", "--buyer", buyer, "--use", "x", "--content", clip, "--out", out)
        assert bad_use.returncode == 2
    down = ledger("status", clip, "--buyer", buyer, "--url", url)
    assert down.returncode == 3
