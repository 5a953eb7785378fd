"""``ledger report``: a real evidence bundle (the real app on SQLite and PostgreSQL, through
``POST /v1/evidence``) rendered as HTML and PDF, and what a reader finds in it; tampered bundles
render with their failures at the top and exit 1; every value from the bundle is escaped."""

from __future__ import annotations

import base64
import copy
import dataclasses
import html
import io
import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient
from pypdf import PdfReader

from ledger.cli import main
from ledger.core import builders
from ledger.core.canonical import canonicalize
from ledger.core.checkpoint import Checkpoint
from ledger.core.evidence import EvidenceQuery
from ledger.core.leaf import (
    LEAF_MAGIC,
    format_log_time,
    leaf_hash,
    micros_from_datetime,
    split_leaf,
)
from ledger.core.memlog import MemoryLog
from ledger.core.note import NoteSigner, parse_note, sign_note
from ledger.core.statements import STATEMENT_SIGNING_CONTEXT
from ledger.report import build_report, render
from ledger.report.model import (
    FAIL,
    NOT_APPLICABLE,
    NOT_CHECKED,
    PASS,
    CheckpointView,
    ContentRow,
    EntryCheck,
    Event,
    GrantView,
    Party,
    Report,
    Step,
    TermsGroup,
)
from ledger.server.config import PROJECT_ROOT
from ledger.server.service import LogService
from tests.cli.test_keygen import run
from tests.core.test_purity import BANNED
from tests.support.factories import seeded_key
from tests.support.fresh import loaded_after_importing

CREATOR, BUYER = seeded_key(1), seeded_key(2)
X = {
    name: f"{n:02x}" * 32
    for name, n in (
        ("licensed", 0xA1),
        ("second", 0xA2),
        ("generative", 0xB1),
        ("offer", 0xC1),
        ("withdrawn", 0xD1),
        ("unknown", 0xE1),
    )
}
TERMS = builders.TermsSpec(
    uses=("ai_training", "data_mining"),
    start=datetime(2026, 1, 1, tzinfo=UTC),
    end=datetime(2099, 12, 31, tzinfo=UTC),
    revocable=True,
    notice_days=30,
    amount="2.50",
    currency="USD",
    unit="per_minute",
    attribution=True,
)
PLAIN_TERMS = [
    "may be used for AI training and data mining",
    "not for generative AI training or AI inference",
    "worldwide",
    "from 2026-01-01T00:00:00Z up to (not including) 2099-12-31T00:00:00Z",
    "revocable with 30 days' notice",
    "2.50 USD per minute",
    "attribution required",
    "no sublicensing",
    "non-exclusive",
]


@dataclasses.dataclass
class World:
    """A bundle the real app served, and what the test knows about the log behind it."""

    path: Path
    vkey: str
    bundle: dict[str, Any]
    log_times: dict[int, str]  # seq -> log time as the API spells it


def _grant(items: list[builders.Item], terms: builders.TermsSpec = TERMS) -> Any:
    return builders.grant(CREATOR, BUYER.key_id, str(uuid.uuid4()), items, terms)


@pytest.fixture
def world(service: LogService, client: FlaskClient, tmp_path: Path) -> World:
    """Alice Films grants clips to Acme AI: one licensed grant (two clips), one for generative
    training only, one offer never accepted, one offer withdrawn; one clip in no grant."""
    licensed = _grant(
        [
            builders.Item(X["licensed"], 10_485_760, 60),
            builders.Item(X["second"], 52_428_800, 300, "video/quicktime"),
        ]
    )
    generative = _grant(
        [builders.Item(X["generative"], 1000, 7)],
        dataclasses.replace(TERMS, uses=("ai_generative_training",)),
    )
    offer = _grant([builders.Item(X["offer"], 2000, 8)])
    withdrawn = _grant([builders.Item(X["withdrawn"], 3000, 9)])
    statements = [
        builders.party_register(CREATOR, "Alice Films"),
        builders.party_register(BUYER, "Acme AI"),
        licensed,
        generative,
        offer,
        withdrawn,
        builders.grant_accept(BUYER, licensed.statement_hash),
        builders.grant_accept(BUYER, generative.statement_hash),
        builders.grant_revoke(CREATOR, withdrawn.statement_hash, datetime(2026, 2, 1, tzinfo=UTC)),
    ]
    log_times = {}
    for signed in statements:
        done = service.append_one(signed)
        log_times[done.seq] = format_log_time(micros_from_datetime(done.integrated_at))
    resp = client.post(
        "/v1/evidence",
        json={"buyer": BUYER.key_id, "use": "ai_training", "content": list(X.values())},
    )
    assert resp.status_code == 200, resp.get_json()
    path = tmp_path / "bundle.json"
    path.write_bytes(resp.data)
    vkey = client.get("/v1/log").get_json()["verifier_key"]
    return World(path, vkey, json.loads(resp.data), log_times)


# --- reading the renderings back as text ---------------------------------------------------------


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(doc: str) -> str:
    parser = _Text()
    parser.feed(doc)
    return " ".join(parser.parts)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def squeeze(text: str) -> str:
    """Without whitespace: a hash or a phrase wrapped over two lines still matches (and a
    command continued over lines, `` \\`` at a line's end, reads as the shell reads it)."""
    return re.sub(r"\s+", "", shell_joined(text))


def shell_joined(text: str) -> str:
    """Commands continued over lines joined back into one, as a shell does."""
    return re.sub(r"\s*\\\n\s*", " ", text)


def expected_phrases(world: World) -> list[str]:
    """What a reader must find: parties, content, terms, timeline, checks, checkpoint, re-verify."""
    bundle = world.bundle
    cp = Checkpoint.parse(parse_note(bundle["checkpoint"])[0])
    seqs = [e["seq"] for e in bundle["entries"]]
    return [
        # the parties: pseudonyms and full key ids
        "Alice Films",
        "Acme AI",
        CREATOR.key_id,
        BUYER.key_id,
        # the content: every hash asked about, sizes, durations, media types
        *X.values(),
        "10,485,760",
        "52,428,800",
        "video/quicktime",
        "video/mp4",
        # the terms in plain language
        *PLAIN_TERMS,
        # the timeline: every entry's log time, the acceptance and the withdrawal
        *(world.log_times[s] for s in seqs),
        "Acme AI (key " + BUYER.key_id[:12] + "...) accepts grant G1",
        "revokes grant G4, effective 2026-02-01T00:00:00Z",
        # every verification step, and the verdicts recomputed
        "Checkpoint signature",
        "Log entries",
        f"{len(seqs)} of {len(seqs)} entries verified",
        "Nothing left out (licence map)",
        "every entry they list is in the bundle",
        "Cited entries present",
        "Verdicts recomputed",
        "6 of 6 verdicts in the bundle equal",
        "not licensed (use_not_permitted)",
        "not licensed (not_accepted)",
        "not licensed (revoked)",
        "not licensed (no_grant)",
        # the checkpoint
        cp.origin,
        f"{cp.tree_size} entries",
        cp.root_hash.hex(),
        world.vkey.split("+")[1],
        # how to verify it again
        f"python scripts/verify_evidence.py bundle.json --log-key {world.vkey}",
        f"ledger verify bundle.json --log-key {world.vkey}",
        "docs/FORMAT.md",
        "docs/LICENSING.md",
    ]


def assert_shows(text: str, phrases: list[str]) -> None:
    flat = squeeze(text)
    missing = [p for p in phrases if squeeze(p) not in flat]
    assert not missing, f"not in the report: {missing}"


# --- a real bundle, rendered ---------------------------------------------------------------------


def test_html_report_of_a_real_bundle(world: World, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run("report", str(world.path), "--out", str(out), "--log-key", world.vkey)
    assert result.returncode == 0, result.stderr
    assert "VERIFIED" in result.stdout
    doc = out.read_text(encoding="utf-8")
    assert_shows(html_text(doc), ["VERIFIED", *expected_phrases(world)])
    # self-contained and static: no script, no external asset
    assert not re.search(r"<script|<link|<img|<iframe|\ssrc=|@import|url\(", doc, re.I)


def test_pdf_report_of_a_real_bundle(world: World, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    result = run(
        "report", str(world.path), "--out", str(out), "--log-key", world.vkey, "--format", "pdf"
    )
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert_shows(pdf_text(data), ["VERIFIED", *expected_phrases(world)])


def test_report_model_checks_every_entry_and_item(world: World) -> None:
    report = build_report(world.path.read_bytes(), bundle_name="b.json", log_key=world.vkey)
    seqs = [e["seq"] for e in world.bundle["entries"]]
    assert report.ok
    assert report.failures == []
    assert [c.seq for c in report.entry_checks] == seqs
    for check in report.entry_checks:
        assert (check.leaf_hash, check.signatures, check.inclusion) == (PASS, PASS, PASS)
        assert check.chain == (PASS if check.seq - 1 in seqs else NOT_APPLICABLE)
    assert [s.status for s in report.steps] == [PASS] * 6  # the map step too
    assert [(r.sha256, r.recomputed, r.agrees) for r in report.content] == [
        (X["licensed"], "licensed", True),
        (X["second"], "licensed", True),
        (X["generative"], "not licensed (use_not_permitted)", True),
        (X["offer"], "not licensed (not_accepted)", True),
        (X["withdrawn"], "not licensed (revoked)", True),
        (X["unknown"], "not licensed (no_grant)", True),
    ]
    [terms_for_training, terms_for_generative] = report.terms
    assert [g.label for g in terms_for_training.grants] == ["G1", "G3", "G4"]
    assert [g.label for g in terms_for_generative.grants] == ["G2"]
    assert {p.role for p in report.parties} == {"creator", "buyer"}


def test_format_follows_the_file_name(world: World, tmp_path: Path) -> None:
    out = tmp_path / "report.PDF"
    assert main(["report", str(world.path), "--out", str(out), "--log-key", world.vkey]) == 0
    assert out.read_bytes().startswith(b"%PDF-")


def test_without_log_key_the_bundle_key_is_used_and_flagged(world: World, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(world.path), "--out", str(out)]) == 0
    text = html_text(out.read_text(encoding="utf-8"))
    assert "Caution:" in text
    assert "taken from the bundle: not independent" in text


# --- tampered bundles ----------------------------------------------------------------------------


def _flip(b64: str, index: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _entry(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    """The first entry whose statement is of type ``kind``."""
    for entry in bundle["entries"]:
        if f'"type":"{kind}"'.encode() in base64.b64decode(entry["leaf"]):
            return entry  # type: ignore[no-any-return]
    raise AssertionError(kind)


def flip_leaf_byte(b: dict[str, Any]) -> None:
    entry = _entry(b, "grant")
    entry["leaf"] = _flip(entry["leaf"], len(LEAF_MAGIC) + 60)


def flip_signature(b: dict[str, Any]) -> None:
    # The leaf hash is recomputed, so the signature check itself must catch it.
    entry = _entry(b, "grant.accept")
    entry["leaf"] = _flip(entry["leaf"], -1)
    entry["leaf_hash"] = leaf_hash(base64.b64decode(entry["leaf"])).hex()


def flip_proof(b: dict[str, Any]) -> None:
    entry = next(e for e in b["entries"] if e["inclusion_proof"])
    proof = entry["inclusion_proof"]
    proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]


def flip_checkpoint_signature(b: dict[str, Any]) -> None:
    text, _ = parse_note(b["checkpoint"])
    line = b["checkpoint"][len(text) + 1 :]
    name, sig = line.rstrip("\n").rsplit(" ", 1)
    b["checkpoint"] = text + "\n" + name + " " + _flip(sig, 10) + "\n"


def no_to_yes(b: dict[str, Any]) -> None:
    item = next(i for i in b["items"] if i["reason"] == "not_accepted")
    item.update(licensed=True, reason="licensed")


def remove_grant_entry(b: dict[str, Any]) -> None:
    b["entries"].remove(_entry(b, "grant"))


def foreign_checkpoint(b: dict[str, Any]) -> None:
    # A checkpoint for the same origin signed by another key.
    text, _ = parse_note(b["checkpoint"])
    other = NoteSigner.from_private_key(b["log"]["origin"], Ed25519PrivateKey.generate())
    b["checkpoint"] = sign_note(text, other)


def another_log_key(b: dict[str, Any]) -> None:
    signer = NoteSigner.from_private_key(b["log"]["origin"], Ed25519PrivateKey.generate())
    b["log"]["verifier_key"] = signer.verifier().to_vkey()


TAMPERING: list[tuple[Callable[[dict[str, Any]], None], str]] = [
    (flip_leaf_byte, "leaf_hash_mismatch"),
    (flip_signature, "bad_signature"),
    (flip_proof, "inclusion_proof_invalid"),
    (flip_checkpoint_signature, "checkpoint_invalid"),
    (no_to_yes, "verdict_mismatch"),
    (remove_grant_entry, "entry_missing"),
    (foreign_checkpoint, "checkpoint_invalid"),
    (another_log_key, "log_key_mismatch"),
]


@pytest.mark.parametrize(("tamper", "code"), TAMPERING, ids=[t.__name__ for t, _ in TAMPERING])
def test_tampered_bundle_renders_with_the_failure_on_top(
    world: World,
    tmp_path: Path,
    tamper: Callable[[dict[str, Any]], None],
    code: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = copy.deepcopy(world.bundle)
    tamper(bundle)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(bundle))
    out = tmp_path / "report.html"
    assert main(["report", str(path), "--out", str(out), "--log-key", world.vkey]) == 1
    assert code in capsys.readouterr().err
    text = html_text(out.read_text(encoding="utf-8"))
    top = text[: text.index("1. What this bundle answers")]
    assert "VERIFICATION FAILED" in top
    assert code in top
    assert "VERIFIED" not in top.replace("VERIFICATION FAILED", "")
    report = build_report(path.read_bytes(), bundle_name="t.json", log_key=world.vkey)
    assert code in {f.split(" ")[0].rstrip(":") for f in report.failures}
    assert FAIL in {s.status for s in report.steps} | {
        s for c in report.entry_checks for s in (c.leaf_hash, c.signatures, c.inclusion, c.chain)
    }


def test_tampered_bundle_pdf_states_the_failure(world: World, tmp_path: Path) -> None:
    bundle = copy.deepcopy(world.bundle)
    no_to_yes(bundle)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(bundle))
    out = tmp_path / "report.pdf"
    result = run("report", str(path), "--out", str(out), "--log-key", world.vkey)
    assert result.returncode == 1
    first_page = PdfReader(io.BytesIO(out.read_bytes())).pages[0].extract_text()
    assert "VERIFICATION FAILED" in first_page
    assert "verdict_mismatch" in squeeze(first_page)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{not json", "bundle_malformed"),
        (b'{"format": "consent-ledger/evidence/v1"}', "bundle_malformed"),
        (b"[]", "bundle_malformed"),
    ],
)
def test_unreadable_bundle_still_renders(
    world: World, tmp_path: Path, data: bytes, fragment: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(data)
    for fmt in ("html", "pdf"):
        out = tmp_path / f"report.{fmt}"
        assert main(["report", str(path), "--out", str(out), "--log-key", world.vkey]) == 1
        text = html_text(out.read_text()) if fmt == "html" else pdf_text(out.read_bytes())
        assert "VERIFICATION FAILED" in text
        assert fragment in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--log-key", "not-a-key"], "verifier key"),
        (["--format", "docx"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(world: World, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "r.html"
    result = run("report", str(world.path), "--out", str(out), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_missing_bundle_file_exits_2(tmp_path: Path) -> None:
    result = run("report", str(tmp_path / "nope.json"), "--out", str(tmp_path / "r.html"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr


# --- escaping: everything in a bundle is untrusted -----------------------------------------------


def _leaf_with_statement(entry: dict[str, Any], body: dict[str, Any], key: Any) -> None:
    """Replace the statement of a leaf by ``body`` signed with ``key``, bypassing every schema
    check (what a hostile bundle maker can do), and fix the leaf hash to match."""
    old = base64.b64decode(entry["leaf"])
    header_end = len(LEAF_MAGIC) + 8 + 8 + 32
    statement = canonicalize(body)
    signature = key.sign(STATEMENT_SIGNING_CONTEXT, statement)
    leaf = (
        old[:header_end]
        + len(statement).to_bytes(4, "big")
        + statement
        + b"\x01"
        + key.public_key.raw
        + signature
    )
    entry["leaf"] = base64.b64encode(leaf).decode()
    entry["leaf_hash"] = leaf_hash(leaf).hex()


HOSTILE = "<script>alert(1)</script>"
HOSTILE_FILE = "<img src=x onerror=alert(1)>'$(touch pwned).json"  # no '/' in a file name


def test_values_from_the_bundle_are_escaped(world: World, tmp_path: Path) -> None:
    bundle = copy.deepcopy(world.bundle)
    register = _entry(bundle, "party.register")
    body = json.loads(split_leaf(base64.b64decode(register["leaf"])).statement_bytes)
    body["pseudonym"] = HOSTILE
    _leaf_with_statement(register, body, CREATOR)
    bundle["log"]["origin"] = f'"><img src=x onerror=alert(1)>{HOSTILE}'
    path = tmp_path / HOSTILE_FILE
    path.write_text(json.dumps(bundle))
    out = tmp_path / "report.html"
    assert main(["report", str(path), "--out", str(out), "--log-key", world.vkey]) == 1
    doc = out.read_text(encoding="utf-8")
    assert "<script" not in doc.lower()
    assert "<img" not in doc.lower()
    assert html.escape(HOSTILE) in doc  # the pseudonym is shown, as text
    assert HOSTILE_FILE in html_text(doc)
    # The commands to paste into a terminal quote the hostile file name.
    command = f"python scripts/verify_evidence.py {shlex.quote(HOSTILE_FILE)} --log-key"
    assert command in shell_joined(html_text(doc))
    pdf = tmp_path / "report.pdf"
    assert main(["report", str(path), "--out", str(pdf), "--log-key", world.vkey]) == 1
    assert "VERIFICATION FAILED" in pdf_text(pdf.read_bytes())


def test_renderer_escapes_every_field_of_the_model() -> None:
    """A model whose every string is hostile renders with no live markup, in both formats."""
    h = HOSTILE
    grant = GrantView(h, h, h, 1, h, h, h, 1)
    report = Report(
        title=h,
        bundle_name=h,
        bundle_sha256=h,
        generated_at=h,
        question=[(h, h)],
        failures=[h],
        steps=[Step(h, FAIL, h)],
        entry_checks=[EntryCheck(1, h, PASS, FAIL, h, h, h)],
        parties=[Party(h, h, h, 1, h)],
        terms=[TermsGroup(h, h, [(h, h)], [grant])],
        timeline=[Event(h, 1, h, h), Event(h, None, h, h)],
        content=[ContentRow(h, 1, 1, h, h, h, h, h, h, False)],
        checkpoint=CheckpointView(h, 1, h, h, h, False, h),
        reverify=[(h, h)],
        caveats=[h],
        notes=[h],
    )
    rendered = render(report, "html").decode()
    assert "<script" not in rendered
    # every field appears, escaped: 40-odd of them
    assert rendered.count(html.escape(h)) >= 40
    assert HOSTILE in pdf_text(render(report, "pdf"))


# --- a 10,000-clip bundle ------------------------------------------------------------------------


def ten_thousand_clip_bundle(tmp_path: Path) -> tuple[Path, str, list[str]]:
    """25 grants of 400 clips from an in-memory log: 5,000 clips licensed, 5,000 withdrawn."""
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    log = MemoryLog(NoteSigner.from_private_key("test.example/log", Ed25519PrivateKey.generate()))
    log.add(builders.party_register(CREATOR, "Alice Films", issued_at=t0), t0)
    log.add(builders.party_register(BUYER, "Acme AI", issued_at=t0), t0 + timedelta(seconds=1))
    clips = [f"{i:064x}" for i in range(10_000)]
    grants = []
    for n in range(25):
        items = [builders.Item(c, 1_000_000 + i, 60) for i, c in enumerate(clips[n * 400 :][:400])]
        grants.append(
            builders.grant(CREATOR, BUYER.key_id, str(uuid.uuid4()), items, TERMS, issued_at=t0)
        )
        log.add(grants[-1], t0 + timedelta(minutes=n + 1))
    for n, grant in enumerate(grants[:13]):
        log.add(
            builders.grant_accept(BUYER, grant.statement_hash, issued_at=t0),
            t0 + timedelta(hours=1, minutes=n),
        )
    at = micros_from_datetime(datetime(2026, 6, 1, tzinfo=UTC))
    bundle = log.bundle(EvidenceQuery(BUYER.key_id, "ai_training", at), clips)
    path = tmp_path / "big.json"
    path.write_bytes(bundle.to_bytes())
    return path, log.verifier_key, clips


@pytest.mark.slow
def test_ten_thousand_clips_render_readably(tmp_path: Path) -> None:
    path, vkey, clips = ten_thousand_clip_bundle(tmp_path)
    report = build_report(path.read_bytes(), bundle_name="big.json", log_key=vkey)
    assert report.ok, report.failures[:3]
    assert report.verdict_counts() == [
        ("licensed", "a grant permits it; accepted and in force", 5200),
        ("not licensed (not_accepted)", "the buyer had not accepted the grant", 4800),
    ]
    assert len(report.terms) == 1  # 25 grants with the same terms share one table
    pdf = PdfReader(io.BytesIO(render(report, "pdf")))
    # Every clip on its own line: at least 38 lines a page, the table headed on every page.
    content_pages = [p for p in pdf.pages if p.mediabox.width > p.mediabox.height]
    assert 10_000 / 60 <= len(content_pages) <= 10_000 / 38
    first = content_pages[0].extract_text()
    assert "5,200" in first
    assert "4,800" in first
    assert clips[0] in squeeze(first)
    last = content_pages[-1].extract_text()
    assert clips[-1] in squeeze(last)
    assert "SHA-256" in last
    assert "Recomputed" in last
    doc = render(report, "html").decode()
    assert all(c in doc for c in (clips[0], clips[4_999], clips[-1]))


def test_unwritable_out_exits_2_and_leaves_nothing(world: World, tmp_path: Path) -> None:
    before = set(tmp_path.iterdir())
    result = run("report", str(world.path), "--out", str(tmp_path), "--log-key", world.vkey)
    assert result.returncode == 2
    assert "cannot write" in result.stderr
    assert set(tmp_path.iterdir()) == before  # no temporary file left behind


def test_the_printed_commands_verify_the_bundle(world: World, tmp_path: Path) -> None:
    """The re-verify commands, pasted as printed (from the bundle's folder, in a checkout)."""
    report = build_report(world.path.read_bytes(), bundle_name="bundle.json", log_key=world.vkey)
    commands = [cmd for _, cmd in report.reverify if cmd.startswith(("python ", "ledger "))]
    assert len(commands) == 2
    # by a real shell, continuation lines and all, with this venv's python and ledger first
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in commands:
        result = subprocess.run(
            ["bash", "-c", command.replace("scripts/", f"{PROJECT_ROOT}/scripts/")],
            cwd=world.path.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert "every check holds" in result.stdout


def _steps(report: Report) -> dict[str, str]:
    return {s.name: s.status for s in report.steps}


def test_a_bad_checkpoint_leaves_the_proofs_unchecked(world: World) -> None:
    bundle = copy.deepcopy(world.bundle)
    foreign_checkpoint(bundle)
    report = build_report(json.dumps(bundle).encode(), bundle_name="b", log_key=world.vkey)
    assert _steps(report)["Checkpoint signature"] == FAIL
    assert _steps(report)["Log entries"] == NOT_CHECKED
    assert {c.inclusion for c in report.entry_checks} == {NOT_CHECKED}
    assert {c.signatures for c in report.entry_checks} == {PASS}
    assert report.checkpoint.verified is False


def test_a_bad_leaf_hash_stops_that_entry_only(world: World) -> None:
    bundle = copy.deepcopy(world.bundle)
    flip_leaf_byte(bundle)
    bad = _entry(bundle, "grant")["seq"]
    report = build_report(json.dumps(bundle).encode(), bundle_name="b", log_key=world.vkey)
    rows = {c.seq: c for c in report.entry_checks}
    assert (rows[bad].leaf_hash, rows[bad].signatures, rows[bad].inclusion) == (
        FAIL,
        NOT_CHECKED,
        NOT_CHECKED,
    )
    assert all(c.ok for seq, c in rows.items() if seq not in (bad, bad + 1))
    assert rows[bad + 1].chain in (NOT_CHECKED, NOT_APPLICABLE)  # its predecessor is unverified
    assert _steps(report)["Log entries"] == FAIL


def test_a_rotated_key_keeps_its_party_name_and_role() -> None:
    """A grant signed after a key rotation is still Alice Films', and she is still the creator."""
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    new_key = seeded_key(9)
    log = MemoryLog(NoteSigner.from_private_key("test.example/log", Ed25519PrivateKey.generate()))
    log.add(builders.party_register(CREATOR, "Alice Films", issued_at=t0), t0)
    log.add(builders.party_register(BUYER, "Acme AI", issued_at=t0), t0 + timedelta(seconds=1))
    log.add(builders.key_rotate(CREATOR, new_key, issued_at=t0), t0 + timedelta(seconds=2))
    grant = builders.grant(
        new_key,
        BUYER.key_id,
        str(uuid.uuid4()),
        [builders.Item(X["licensed"], 1, 1)],
        TERMS,
        issued_at=t0,
    )
    log.add(grant, t0 + timedelta(seconds=3))
    log.add(
        builders.grant_accept(BUYER, grant.statement_hash, issued_at=t0), t0 + timedelta(seconds=4)
    )
    at = micros_from_datetime(t0 + timedelta(days=1))
    bundle = log.bundle(EvidenceQuery(BUYER.key_id, "ai_training", at), [X["licensed"]])
    report = build_report(bundle.to_bytes(), bundle_name="b.json", log_key=log.verifier_key)
    assert report.ok, report.failures
    assert {(p.pseudonym, p.role) for p in report.parties} == {
        ("Alice Films", "creator"),
        ("Acme AI", "buyer"),
    }
    assert report.terms[0].grants[0].creator == f"Alice Films (key {new_key.key_id[:12]}...)"
    assert any("rotates to key " + new_key.key_id[:12] in e.description for e in report.timeline)
    assert [r.recomputed for r in report.content] == ["licensed"]


def test_the_report_needs_no_web_or_database_library() -> None:
    """An auditor can make reports with the core and fpdf2 alone (no Flask, no SQLAlchemy)."""
    modules = ["ledger.report", "ledger.report.pdf", "ledger.cli.report"]
    assert loaded_after_importing(modules, BANNED) == []
