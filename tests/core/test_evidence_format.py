"""docs/FORMAT.md §13: the worked evidence bundle is exactly what the code builds, it verifies under
the documented log key, and every failure and reason code is documented."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

from ledger.core.canonical import canonicalize
from ledger.core.checkpoint import Checkpoint
from ledger.core.evidence import (
    FAILURE_CODES,
    EvidenceBundle,
    EvidenceReport,
    summary_lines,
    verify_bundle,
)
from ledger.core.leaf import micros_from_datetime
from ledger.core.licensing import REASONS, LicenceState
from ledger.core.licmap import checkpoint_map_root
from ledger.core.receipts import decode_receipt
from tests.support.scripts import load_script

REPO = Path(__file__).resolve().parents[2]
FORMAT = (REPO / "docs" / "FORMAT.md").read_text(encoding="utf-8")
LICENSING = (REPO / "docs" / "LICENSING.md").read_text(encoding="utf-8")


SCRIPT = load_script("make_evidence_example")
BLOCKS = SCRIPT.doc_blocks(FORMAT)


def test_doc_blocks_are_what_the_code_builds() -> None:
    assert set(BLOCKS) == {"log_key", "bundle", "receipts"}
    assert SCRIPT.blocks() == BLOCKS


def test_worked_receipts_verify_with_the_bundle_and_are_section_15_7s() -> None:
    """§13.5: the §13.4 bundle with the documented receipts verifies (each held to the
    checkpoint's root); entry 2's receipt is §15.7's inclusion receipt, byte for byte; without
    the member the bundle is §13.4's, unchanged."""
    bundle = json.loads(BLOCKS["bundle"])
    receipts = json.loads(BLOCKS["receipts"])
    report = verify_bundle({**bundle, "receipts": receipts}, BLOCKS["log_key"].strip())
    assert report, report.failures
    assert report.receipts_verified == len(bundle["entries"]) == 7
    assert "receipts" not in bundle
    section_15_7 = SCRIPT.doc_blocks(FORMAT, "receipt-example")["inclusion"]
    assert base64.b64decode(receipts[2]["receipt"]).hex() == "".join(section_15_7.split())
    cp = report.checkpoint
    assert cp is not None
    for r in receipts:
        receipt = decode_receipt(base64.b64decode(r["receipt"]))
        assert (receipt.first, receipt.second) == (cp.tree_size, r["seq"])


def test_worked_bundle_verifies_under_the_documented_key() -> None:
    bundle = json.loads(BLOCKS["bundle"])
    report = verify_bundle(bundle, BLOCKS["log_key"].strip())
    assert report, report.failures
    assert [(v.licensed, v.reason, v.grant_seq) for v in report.verdicts] == [
        (True, "licensed", 2),
        (True, "licensed", 2),
        (False, "no_grant", None),
    ]
    assert [e["seq"] for e in bundle["entries"]] == list(range(7))
    # RFC 8785 bytes are what `ledger prove` writes; the parser round-trips them.
    assert EvidenceBundle.from_json(bundle).to_bytes() == canonicalize(bundle)


def test_worked_bundle_commits_the_map_root_of_section_14_8() -> None:
    bundle = json.loads(BLOCKS["bundle"])
    checkpoint = Checkpoint.parse(bundle["checkpoint"].split("\n\n")[0] + "\n")
    roots = json.loads(SCRIPT.doc_blocks(FORMAT, "map-example")["roots"])
    assert checkpoint_map_root(checkpoint).hex() == roots[str(checkpoint.tree_size)]
    assert len(bundle["map"]) == 8  # the required keys §13.4 lists
    assert [m["seqs"] for m in bundle["map"] if m["key"].startswith("05")] == [[0, 5], [1], [5, 6]]


def test_the_documented_revocation_takes_effect_on_april_first() -> None:
    log = SCRIPT.example_log()
    clip, buyer = json.loads(BLOCKS["bundle"])["items"][0]["sha256"], SCRIPT.golden.seeded("buyer")
    for day, reason in ((31, "licensed"), (32, "revoked")):  # March 31, then April 1
        at = micros_from_datetime(datetime(2026, 3, 1, tzinfo=UTC)) + (day - 1) * 86_400_000_000
        verdict = LicenceState.replay(log.parsed, at).verdict(clip, buyer.key_id, "ai_training")
        assert verdict.reason == reason


def test_every_failure_code_is_specified_in_format_section_9() -> None:
    section = FORMAT[FORMAT.index("## 13. Evidence bundles") :]
    for code in FAILURE_CODES:
        assert f"`{code}`" in section, code


def test_every_reason_code_is_specified_in_licensing() -> None:
    for code in REASONS:
        assert f"`{code}`" in LICENSING, code


def test_witness_times_print_even_beyond_the_platform_calendar() -> None:
    # A witness may sign any u64 time; the summary must still print, never raise.
    report = EvidenceReport(witness_times=[("w1", 1_764_163_207), ("w2", 2**63 - 1)])
    lines = summary_lines(report)
    assert "witness    w1 cosigned at 2025-11-26T13:20:07Z" in lines
    assert f"witness    w2 cosigned at {2**63 - 1} seconds after 1970-01-01T00:00:00Z" in lines
