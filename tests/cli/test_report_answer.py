"""The answer first, with the buyer's file names: ``prove``, ``verify -v`` and ``report`` (HTML
and PDF/A with embedded fonts) of a real bundle from a real server, through the installed
``ledger`` command, on SQLite and PostgreSQL.

The story: four clips; a grant of two, accepted; an offer of one, never accepted; one clip in
no grant. So 2 of 4 are licensed, and the two others are not, each for its own reason.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.cli.clitools import mp4, run_ledger, value
from tests.cli.test_flow import GRANT_TERMS, grant_ids, party
from tests.support.live import LiveServer

CLIPS = ("dawn.mp4", "noon.mp4", "dusk.mp4", "night.mp4")
ANSWER = re.compile(
    r"^2 of 4 clips licensed for AI training at \d{4}-\d\d-\d\dT[\d:.]+Z; 2 not: 1 no grant,"
    r" 1 not accepted$"
)


@pytest.fixture
def story(live: LiveServer, user_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    creator_pem, _ = party(tmp_path, user_env, "Studio")
    buyer_pem, buyer = party(tmp_path, user_env, "Acme")
    footage = tmp_path / "footage"
    footage.mkdir()
    for i, name in enumerate(CLIPS):
        (footage / name).write_bytes(mp4(1000, 10_000 + i))
    # relative names, as the README's walkthrough writes them
    hashed = run_ledger("hash", "footage", "--out", "footage.csv", cwd=tmp_path)
    assert hashed.returncode == 0, hashed.stderr
    ids = []
    for clips in ((footage / "dawn.mp4", footage / "noon.mp4"), (footage / "dusk.mp4",)):
        granted = run_ledger(
            "grant", "--key", creator_pem, "--buyer", buyer, *GRANT_TERMS, *clips, env=user_env
        )
        assert granted.returncode == 0, granted.stderr
        ids += grant_ids(granted.stdout)
    accepted = run_ledger("accept", "--yes", "--key", buyer_pem, ids[0], env=user_env)
    assert accepted.returncode == 0, accepted.stderr
    proved = run_ledger(
        "prove", "--buyer", buyer, "--use", "ai_training", "--manifest", tmp_path / "footage.csv",
        "--out", tmp_path / "evidence.json", env=user_env,
    )  # fmt: skip
    assert proved.returncode == 0, proved.stderr
    vkey = value(run_ledger("log", env=user_env).stdout, "log_key")
    return {"buyer": buyer, "vkey": vkey, "prove": proved.stdout, "url": live.url}


def file_lines(stdout: str) -> dict[str, str]:
    """``{file: verdict}`` from the per-file lines (``<verdict>   footage/x.mp4``)."""
    out = {}
    for line in stdout.splitlines():
        match = re.fullmatch(r"(licensed|NOT licensed: [a-z ]+?)\s+(\S*footage/\S+)", line)
        if match:
            out[match.group(2).split("/")[-1]] = match.group(1)
    return out


EXPECTED = {
    "dawn.mp4": "licensed",
    "noon.mp4": "licensed",
    "dusk.mp4": "NOT licensed: not accepted",
    "night.mp4": "NOT licensed: no grant",
}


def test_prove_and_verify_lead_with_the_answer_and_name_the_files(
    story: dict[str, str], user_env: dict[str, str], tmp_path: Path
) -> None:
    assert ANSWER.match(story["prove"].splitlines()[0]), story["prove"]
    assert file_lines(story["prove"]) == EXPECTED
    verified = run_ledger(
        "verify", tmp_path / "evidence.json", "--log-key", story["vkey"], "-v",
        "--manifest", tmp_path / "footage.csv", "--buyer", story["buyer"], "--use", "ai_training",
        env=user_env,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    lines = [line for line in verified.stdout.splitlines() if not line.startswith("signatures")]
    assert ANSWER.match(lines[0]), verified.stdout
    assert file_lines(verified.stdout) == EXPECTED
    quiet = run_ledger("verify", tmp_path / "evidence.json", "--log-key", story["vkey"])
    assert ANSWER.match(quiet.stdout.splitlines()[0])
    assert file_lines(quiet.stdout) == {}  # names only with -v and a manifest


def test_html_report_leads_with_the_answer_and_marks_unlicensed_files(
    story: dict[str, str], user_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    made = run_ledger(
        "report", tmp_path / "evidence.json", "--out", out, "--log-key", story["vkey"],
        "--manifest", tmp_path / "footage.csv", env=user_env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    first, second = made.stdout.splitlines()[:2]
    assert ANSWER.match(first)
    assert second.startswith(f"{out}: VERIFIED")
    doc = out.read_text(encoding="utf-8")
    answer = doc.index('class="answer"')
    assert answer < doc.index("VERIFIED")
    # every file named; the two not licensed in marked rows, the licensed ones not
    rows = re.findall(r"<tr( class=\"unlicensed\")?>(.*?)</tr>", doc, re.S)
    named = {m: cls for cls, row in rows for m in CLIPS if f"footage/{m}" in row}
    assert named == {
        "dawn.mp4": "",
        "noon.mp4": "",
        "dusk.mp4": ' class="unlicensed"',
        "night.mp4": ' class="unlicensed"',
    }
    # the log's URL (this machine reached the log there), also in the commands
    assert f"{story['url']}/v1/checkpoint" in doc
    assert "--manifest" in doc


def test_pdf_report_is_pdfa_with_embedded_fonts_and_copy_safe_commands(
    story: dict[str, str], user_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "report.pdf"
    made = run_ledger(
        "report", tmp_path / "evidence.json", "--out", out, "--log-key", story["vkey"],
        "--manifest", tmp_path / "footage.csv", env=user_env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert ANSWER.match(made.stdout.splitlines()[0])
    data = out.read_bytes()
    # PDF/A-2u, as its XMP metadata declares
    reader = PdfReader(io.BytesIO(data))
    xmp = reader.xmp_metadata
    assert xmp is not None
    assert "<pdfaid:part>2</pdfaid:part>" in xmp.stream.get_data().decode()
    assert "<pdfaid:conformance>U</pdfaid:conformance>" in xmp.stream.get_data().decode()
    # every font embedded (pdffonts, poppler's own reader), and they are DejaVu
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True)
    rows = fonts.stdout.splitlines()[2:]
    assert rows
    for row in rows:
        assert "DejaVu" in row, fonts.stdout
        assert re.search(r"\byes\s+yes\s+yes\b", row), fonts.stdout  # emb, sub, uni
    text = "\n".join(page.extract_text() for page in reader.pages)
    lines = text.splitlines()
    # the answer on page 1, before the verification result
    assert "2 of 4 clips licensed for AI training" in " ".join(
        text[: text.index("VERIFIED")].split()
    )
    for clip in CLIPS:
        assert f"footage/{clip}" in text
    # the key never broken: it stands whole on a line of each command that uses it
    vkey = story["vkey"]
    assert any(vkey in line and "--log-key" in line for line in lines), text
    assert sum(vkey in line for line in lines) >= 3
    # every command line is either complete or continued with a shell backslash
    commands = [line for line in lines if line.startswith(("ledger verify", "python scripts"))]
    assert commands
    assert f"{story['url']}/v1/checkpoint" in text


def test_a_tampered_bundle_fails_in_plain_words(
    story: dict[str, str], user_env: dict[str, str], tmp_path: Path
) -> None:
    bundle = json.loads((tmp_path / "evidence.json").read_text())
    night = next(i for i in bundle["items"] if i["reason"] == "no_grant")
    night.update(licensed=True, reason="licensed")  # a "no" turned into a "yes"
    (tmp_path / "tampered.json").write_text(json.dumps(bundle))
    out = tmp_path / "tampered.pdf"
    made = run_ledger(
        "report", tmp_path / "tampered.json", "--out", out, "--log-key", story["vkey"],
        env=user_env,
    )  # fmt: skip
    assert made.returncode == 1
    assert made.stdout.startswith("Not established: the bundle does not verify. It claims:")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages)
    assert "the bundle says licensed; the entries give not licensed (no_grant)" in " ".join(
        text.split()
    )
    assert "licensed=True" not in text
    assert "=True" not in made.stderr
    assert "=False" not in made.stderr


def test_pdf_without_the_fonts_says_how_to_get_them(
    story: dict[str, str], user_env: dict[str, str], tmp_path: Path
) -> None:
    made = run_ledger(
        "report", tmp_path / "evidence.json", "--out", tmp_path / "r.pdf",
        "--log-key", story["vkey"],
        env={**user_env, "LEDGER_REPORT_FONTS": str(tmp_path / "no-fonts")},
    )  # fmt: skip
    assert made.returncode == 2, made.stderr
    assert "apt-get install fonts-dejavu-core" in made.stderr
    assert not (tmp_path / "r.pdf").exists()
