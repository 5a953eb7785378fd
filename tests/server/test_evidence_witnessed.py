"""Evidence under a witness policy: answers cite the cosigned checkpoint, and the offline verifier
checks the quorum and reports each witness's time (issue 6, item 2), on both backends with real
witness subprocesses.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main
from ledger.core.evidence import format_posix, verify_bundle
from ledger.core.policy import parse_policy
from ledger.report import build_report, render
from ledger.server.config import PROJECT_ROOT
from tests.support.factories import seeded_key
from tests.support.tlog_helpers import Witnessed, write_policy

BUYER = seeded_key(11).public_key.key_id  # the first party Witnessed.append registers
CONTENT = "ab" * 32


def _evidence(witnessed: Witnessed) -> tuple[int, Any]:
    assert witnessed.app is not None
    body = {"buyer": BUYER, "use": "ai_training", "content": [CONTENT]}
    resp = witnessed.app.test_client().post("/v1/evidence", json=body)
    return resp.status_code, resp.get_json()


def _tamper_cosignature(note: str, witness: str, byte: int | None) -> str:
    """Flip one byte of ``witness``'s cosignature (4 key id, 8 time, 64 signature bytes), or
    drop the line when ``byte`` is None."""
    lines = note.split("\n")
    i = next(n for n, line in enumerate(lines) if line.startswith(f"— {witness} "))
    if byte is None:
        del lines[i]
    else:
        raw = bytearray(base64.b64decode(lines[i].rsplit(" ", 1)[1]))
        raw[byte] ^= 0x01
        lines[i] = f"— {witness} {base64.b64encode(bytes(raw)).decode()}"
    return "\n".join(lines)


TAMPERING = [
    ("signature bytes", 75, "cosignature_invalid"),
    ("timestamp (a forged time)", 11, "cosignature_invalid"),
    ("cosignature line removed", None, "quorum_not_met"),
]


def test_evidence_carries_the_cosigned_checkpoint_and_witness_times(
    witnessed: Witnessed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = witnessed.make_app("quorum w1\n")
    vkey = witnessed.log.verifier().to_vkey()
    policy_file = tmp_path / "policy.txt"
    witnessed.append(2)
    assert app.test_client().get("/v1/checkpoint").status_code == 200
    assert _evidence(witnessed)[0] == 404  # signed, but nothing cosigned yet: nothing to cite

    witnessed.ws[1].stop()  # only w1 cosigns this round
    before = int(time.time())
    assert witnessed.publisher.run_once().published  # type: ignore[union-attr]
    after = time.time()
    witnessed.append(1)  # the log's own head moves on past the published checkpoint
    status, bundle = _evidence(witnessed)
    assert status == 200
    published = witnessed.published()
    assert bundle["checkpoint"] == published
    assert "\n— witness.test/w1 " in published

    report = verify_bundle(bundle, vkey, policy=parse_policy(policy_file.read_text()))
    assert report, report.failures
    assert report.checkpoint is not None
    assert report.checkpoint.tree_size == 2
    [(name, seconds)] = report.witness_times
    assert name == "w1"
    assert before <= seconds <= after
    assert verify_bundle(bundle, vkey).witness_times == []  # no policy: cosignatures not read

    both = write_policy(tmp_path / "both.txt", witnessed.log, witnessed.ws, "group b all w1 w2")
    both.write_text(both.read_text() + "\nquorum b\n")
    assert verify_bundle(bundle, vkey, policy=parse_policy(both.read_text())).codes == [
        "quorum_not_met"
    ]
    for what, byte, code in TAMPERING:
        bad = {**bundle, "checkpoint": _tamper_cosignature(published, "witness.test/w1", byte)}
        result = verify_bundle(bad, vkey, policy=parse_policy(policy_file.read_text()))
        assert result.codes == [code], what
        assert verify_bundle(bad, vkey), what  # the log's own signature still holds

    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    when = format_posix(seconds)
    assert main(["verify", str(path), "--log-key", vkey, "--policy", str(policy_file)]) == 0
    assert f"witness    w1 cosigned at {when}" in capsys.readouterr().out
    assert main(["verify", str(path), "--log-key", vkey, "--policy", str(both)]) == 1
    assert "quorum_not_met" in capsys.readouterr().out

    script = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "scripts" / "verify_evidence.py"),
            str(path),
            "--log-key",
            vkey,
            "--policy",
            str(policy_file),
            "--no-accel",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert script.returncode == 0, script.stdout + script.stderr
    assert f"witness    w1 cosigned at {when}" in script.stdout

    human = build_report(
        path.read_bytes(),
        bundle_name="bundle.json",
        log_key=vkey,
        policy=parse_policy(policy_file.read_text()),
    )
    step = next(s for s in human.steps if s.name == "Witness cosignatures")
    assert step.ok
    assert f"witness w1 cosigned the checkpoint at {when}" in step.detail
    assert f"witness w1 cosigned the checkpoint at {when}" in render(human, "html").decode()
    unmet = build_report(
        path.read_bytes(), bundle_name="b", log_key=vkey, policy=parse_policy(both.read_text())
    )
    assert not unmet.ok
    assert [s.status for s in unmet.steps if s.name == "Witness cosignatures"] == ["FAIL"]


def test_status_answers_cite_the_cosigned_checkpoint(witnessed: Witnessed) -> None:
    app = witnessed.make_app("quorum w1\n")
    witnessed.append(1)
    assert witnessed.publisher.run_once().published  # type: ignore[union-attr]
    witnessed.append(1)
    resp = app.test_client().get(
        f"/v1/content/{CONTENT}/status", query_string={"buyer": BUYER, "use": "ai_training"}
    )
    assert resp.status_code == 200, resp.data
    evidence = resp.get_json()["evidence"]
    assert evidence["checkpoint"] == witnessed.published()
    policy = parse_policy((witnessed.tmp_path / "policy.txt").read_text())
    report = verify_bundle(evidence, witnessed.log.verifier().to_vkey(), policy=policy)
    assert report
    assert [w for w, _ in report.witness_times] == ["w1", "w2"]
