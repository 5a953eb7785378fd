"""Signing in the browser (the creator's desk, ``/creator``) in Debian's Chromium against a real
gunicorn server: a key made in the browser is exported to the CLI and a CLI key imported, both
stored non-extractable; the browser's canonical bytes are the core's; clips are hashed locally
exactly as ``ledger hash`` hashes them and never sent; a grant signed in the browser is logged,
accepted, proven and verified by ``ledger verify``, then revoked; the browser pins the log key,
keeps its checkpoint and refuses a log whose key changed or whose history forked; the page passes
the HTML checker, axe-core and a strict CSP without ``unsafe-inline``.

One server and one browser serve the whole module (``desk_log``); the trust test starts two more
logs (another key; the same key with another history) and points the page at them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import html5lib
import pytest
import rfc8785

from ledger.core import builders
from ledger.core.canonical import canonicalize
from ledger.core.keys import SigningKey
from ledger.core.statements import parse_statement, parse_timestamp, statement_hash
from ledger.report.plain import term_clauses
from ledger.server.web.desk import APP_CONTENT_SECURITY_POLICY
from tests.cli.clitools import mp4, run_ledger
from tests.support.factories import seeded_key
from tests.support.live import LiveServer
from tests.web.conftest import SCREENSHOTS, get_json, post
from tests.web.test_browser import AXE, AXE_SHA256

ROOT = Path(__file__).parents[2]
VENDOR = ROOT / "ledger" / "server" / "web" / "static" / "vendor"
VERIFY_SCRIPT = ROOT / "scripts" / "verify_evidence.py"
HASH_WASM_SHA256 = "0ab0ba5a8242ca02d4403e08a60b9308cb7322a175c3a5c3071c595fad1e65de"
PASSPHRASE = "correct horse battery"


@dataclass
class DeskLog:
    url: str
    server: LiveServer
    tmp: Path
    buyer: SigningKey


def _start(tmp: Path, template: Path, name: str, key_file: Path) -> LiveServer:
    shutil.copyfile(template, tmp / f"{name}.db")
    return LiveServer(
        f"sqlite:///{tmp / f'{name}.db'}", key_file, tmp / f"gunicorn-{name}", workers=1
    )


@pytest.fixture(scope="module")
def desk_log(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskLog]:
    """gunicorn on a new SQLite log holding a registered buyer; one for the module."""
    tmp = tmp_path_factory.mktemp("desk")
    with _start(tmp, sqlite_template, "desk", tmp / "log-key.pem") as server:
        buyer = seeded_key(21)
        post(server.url, builders.party_register(buyer, "Acme AI"))
        yield DeskLog(server.url, server, tmp, buyer)


@pytest.fixture
def desk(browser: Any, desk_log: DeskLog) -> Iterator[Any]:
    """The creator's desk in a fresh browser profile (its own IndexedDB and localStorage)."""
    ctx = browser.new_context(accept_downloads=True)
    page = ctx.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
    page.on("dialog", lambda d: d.accept())
    open_desk(page, desk_log.url)
    yield page
    assert page.errors == []  # type: ignore[attr-defined]
    ctx.close()


def open_desk(page: Any, url: str) -> None:
    page.goto(url + "/creator")
    page.wait_for_selector("body[data-ready=yes]")


def shot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)


def create_key(page: Any, tmp: Path) -> tuple[str, Path]:
    """Create a key in the browser; its backup saved to ``tmp``. Returns (key id, backup)."""
    page.fill("#create-pass", PASSPHRASE)
    page.fill("#create-pass2", PASSPHRASE)
    page.get_by_role("button", name="Create key").click()
    link = page.get_by_role("link", name=re.compile("Download the key's backup"))
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    backup = tmp / f"backup-{uuid.uuid4().hex[:8]}.pem"
    download.value.save_as(backup)
    return str(page.get_attribute("#key-current", "data-key-id")), backup


def register(page: Any, name: str) -> int:
    page.fill("#pseudonym", name)
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector("#register-result[data-seq], #register-result.problem")
    return int(page.get_attribute("#register-result", "data-seq"))


def stored_keys(page: Any) -> list[dict[str, Any]]:
    """What IndexedDB holds, and whether the page could read a key's private half out."""
    return page.evaluate(  # type: ignore[no-any-return]
        """async () => {
          const L = await import('/assets/app/ledger.js');
          const out = [];
          for (const k of await L.loadKeys()) {
            let exported = true;
            try { await crypto.subtle.exportKey('pkcs8', k.privateKey); }
            catch { exported = false; }
            out.push({keyId: k.keyId, extractable: k.privateKey.extractable, exported,
                      type: k.privateKey.algorithm.name, usages: k.privateKey.usages});
          }
          return out;
        }"""
    )


# --- keys: made here and exported to the CLI, made by the CLI and imported here -----------------


def test_a_key_made_in_the_browser_is_stored_unreadable_and_its_backup_works_in_the_cli(
    desk: Any, desk_log: DeskLog, tmp_path: Path
) -> None:
    key_id, backup = create_key(desk, tmp_path)
    assert backup.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = SigningKey.load(backup, PASSPHRASE.encode())  # the CLI's loader
    assert loaded.key_id == key_id
    assert [(k["keyId"], k["extractable"], k["exported"]) for k in stored_keys(desk)] == [
        (key_id, False, False)
    ]
    # The CLI signs with the backup: register through `ledger register`, then the browser
    # sees its key registered (no grants yet).
    state = tmp_path / "state"
    out = run_ledger(
        "register", "--key", backup, "--name", "Backup Studio", "--url", desk_log.url,
        "--state", state, "--passphrase-env", "PASS", env={"PASS": PASSPHRASE},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    desk.get_by_role("button", name="Refresh").click()
    desk.wait_for_selector("#grants-status:has-text('0 grant(s)')")
    # A wrong passphrase is the CLI's own refusal: the backup is really encrypted.
    assert run_ledger(
        "register", "--key", backup, "--name", "X", "--url", desk_log.url, "--state", state,
        "--passphrase-env", "PASS", env={"PASS": "wrong"},
    ).returncode != 0  # fmt: skip


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plain"])
def test_a_key_made_by_ledger_keygen_is_imported_and_signs(
    desk: Any, desk_log: DeskLog, tmp_path: Path, encrypted: bool
) -> None:
    key_file = tmp_path / "cli.pem"
    how = ["--passphrase-env", "PASS"] if encrypted else ["--no-encrypt"]
    made = run_ledger("keygen", "--out", key_file, *how, "--json", env={"PASS": PASSPHRASE})
    assert made.returncode == 0, made.stderr
    key_id = json.loads(made.stdout)["key_id"]
    desk.set_input_files("#import-file", str(key_file))
    if encrypted:  # a wrong passphrase first: refused, nothing stored
        desk.fill("#import-pass", "not it")
        desk.get_by_role("button", name="Import key").click()
        desk.wait_for_selector("#key-current.problem")
        assert "wrong passphrase" in desk.inner_text("#key-current")
        assert stored_keys(desk) == []
        desk.set_input_files("#import-file", str(key_file))
        desk.fill("#import-pass", PASSPHRASE)
    desk.get_by_role("button", name="Import key").click()
    desk.wait_for_selector(f"#key-current[data-key-id='{key_id}']")
    assert [(k["extractable"], k["exported"], k["usages"]) for k in stored_keys(desk)] == [
        (False, False, ["sign"])
    ]
    seq = register(desk, f"Imported {'E' if encrypted else 'P'}")
    entry = get_json(f"{desk_log.url}/v1/entries/{seq}")
    assert entry["statement"]["signer"] == key_id  # signed by the imported key, accepted by the log


def test_a_file_that_is_not_a_key_is_refused_saying_why(desk: Any, tmp_path: Path) -> None:
    for text, passphrase, said in [
        ("hello", "", "not a PKCS8 PEM private key"),
        (SigningKey.from_seed(bytes(32)).to_pem(b"pw").decode(), "", "a passphrase is needed"),
        (SigningKey.from_seed(bytes(32)).to_pem().decode(), "pw", "give no passphrase"),
    ]:
        path = tmp_path / "k.pem"
        path.write_text(text)
        desk.set_input_files("#import-file", str(path))
        desk.fill("#import-pass", passphrase)
        desk.get_by_role("button", name="Import key").click()
        desk.wait_for_selector(f"#key-current.problem:has-text('{said}')")
    assert stored_keys(desk) == []


# --- canonical bytes: the browser's are the core's -----------------------------------------------

TRICKY = [
    {"b": 1, "a": [True, False, None], "": "empty name"},
    {"\u00e9": 1, "e": 2, "\U0001f600": 3, "\ue000": 4, "z": 5},  # UTF-16 order: astral < U+E000
    {"s": '\x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f "\\/ \u2028\u2029 é 日本 \U0001f600'},
    {"n": [0, -1, 9007199254740991, -9007199254740991, 10, 100]},
    {"deep": [[[{"x": []}]]], "o": {}},
]


def test_the_browsers_canonical_bytes_are_the_cores(desk: Any) -> None:
    script = """async (values) => {
      const L = await import('/assets/app/ledger.js');
      return values.map((v) => L.hex(L.canonicalize(v)));
    }"""
    shown = desk.evaluate(script, TRICKY)
    for value, got in zip(TRICKY, shown, strict=True):
        assert bytes.fromhex(got) == canonicalize(value) == rfc8785.dumps(value)
    refused = desk.evaluate(
        """async () => {
          const L = await import('/assets/app/ledger.js');
          const out = [];
          for (const v of [1.5, 2 ** 53, {a: NaN}, "\\ud800", {["\\udc00"]: 1}, undefined]) {
            try { L.canonicalize(v); out.push('accepted'); } catch (e) { out.push(e.message); }
          }
          return out;
        }"""
    )
    assert "accepted" not in refused, refused


# --- the whole creator story: clips, terms, review, sign, verify, revoke -------------------------


def clips_folder(root: Path) -> Path:
    """Three clips as a camera writes them, a hidden file and an empty one (both left out)."""
    folder = root / "footage"
    (folder / "day2").mkdir(parents=True)
    (folder / "a.mp4").write_bytes(mp4(duration=61_500, media=os.urandom(9_000_000)))
    (folder / "day2" / "b.mov").write_bytes(mp4(brand=b"qt  ", timescale=600, duration=6_000))
    (folder / "day2" / "c.mp4").write_bytes(mp4(version=1, timescale=90_000, duration=90_000))
    (folder / ".DS_Store").write_bytes(b"junk")
    (folder / "empty.mp4").write_bytes(b"")
    return folder


def buyer_desk(browser: Any, desk_log: DeskLog, tmp: Path) -> Any:
    """The buyer's desk in its own browser profile, with the buyer's key imported."""
    key_file = tmp / "buyer.pem"
    key_file.write_bytes(desk_log.buyer.to_pem())
    page = browser.new_context(accept_downloads=True).new_page()
    page.goto(desk_log.url + "/buyer")
    page.wait_for_selector("body[data-ready=yes]")
    page.set_input_files("#import-file", str(key_file))
    page.get_by_role("button", name="Import key").click()
    page.wait_for_selector(f"#key-current[data-key-id='{desk_log.buyer.key_id}']")
    return page


def fill_terms(page: Any, buyer: str, *, end: str = "2030-12-31") -> None:
    page.fill("#buyer", buyer)
    page.check("input[name=use][value=data_mining]")
    page.check("input[name=prohibit][value=replicate_likeness]")
    page.fill("#price", "3.75")
    page.select_option("#currency", "EUR")
    page.select_option("#unit", "per_clip")
    page.fill("#territory", "de, fr")
    page.fill("#start", "2026-01-01")
    page.fill("#end", end)
    page.check("#revocable")
    page.fill("#notice", "0")
    page.check("#attribution")


def test_a_grant_signed_in_the_browser_is_logged_accepted_and_verified_by_the_cli(
    desk: Any, desk_log: DeskLog, tmp_path: Path
) -> None:
    key_id, _backup = create_key(desk, tmp_path)
    register(desk, "Studio Browser")
    folder = clips_folder(tmp_path)
    sent: list[tuple[str, str, bytes]] = []
    desk.on("request", lambda r: sent.append((r.method, r.url, r.post_data_buffer or b"")))
    desk.set_input_files("#clip-folder", str(folder))
    desk.wait_for_selector("#hash-status[data-done='3']", timeout=60_000)
    assert "2 hidden or empty file(s) left out" in desk.inner_text("#hash-status")
    assert sent == []  # choosing and hashing footage sends nothing at all
    # The clips as `ledger hash` reads them (the CLI's own implementation, independently).
    manifest = tmp_path / "clips.json"
    hashed = run_ledger("hash", folder, "--out", manifest)
    assert hashed.returncode == 0, hashed.stderr
    expected = {
        i["sha256"]: (i["bytes"], i["duration_s"], i["media_type"])
        for i in json.loads(manifest.read_text())["items"]
    }
    rows = desk.locator("#clip-table tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.textContent))"
    )
    shown = {r[1]: (int(r[2]), int(r[3]), r[4]) for r in rows}
    assert shown == expected
    assert [r[0] for r in rows] == ["footage/a.mp4", "footage/day2/b.mov", "footage/day2/c.mp4"]

    fill_terms(desk, desk_log.buyer.key_id)
    desk.get_by_role("button", name="Review the statement").click()
    desk.wait_for_selector("#sign:not([disabled])")
    shot(desk, "creator-review")
    text = desk.inner_text("#statement")
    statement = json.loads(text)
    # What is shown is exactly the bytes the core makes of it, and the core reads it as valid.
    assert text.encode() == canonicalize(statement)
    assert desk.inner_text("#statement-hash") == statement_hash(text.encode()).hex()
    parsed = parse_statement(statement)
    assert statement["signer"] == key_id
    assert statement["buyer"] == desk_log.buyer.key_id
    assert statement["terms"] == {
        "uses": ["ai_training", "data_mining"],
        "prohibitions": ["replicate_likeness"],
        "exclusive": False,
        "territory": ["DE", "FR"],
        "start": "2026-01-01T00:00:00Z",
        "end": "2031-01-01T00:00:00Z",  # a bare end date is all of that day, as in the CLI
        "revocable": True,
        "notice_days": 0,
        "consideration": {"amount": "3.75", "currency": "EUR", "unit": "per_clip"},
        "attribution": True,
        "sublicensing": False,
    }
    assert {c["sha256"] for c in statement["content"]} == set(expected)
    assert parsed.grant_id == statement["grant_id"]  # type: ignore[attr-defined]
    for topic, sentence in term_clauses(parsed.terms):  # type: ignore[attr-defined]
        assert desk.inner_text(f'#review-terms [data-term="{topic}"]') == sentence

    desk.get_by_role("button", name="Sign and submit").click()
    desk.wait_for_selector("#sign-result[data-seq], #sign-result.problem")
    seq = int(desk.get_attribute("#sign-result", "data-seq"))
    grant_id = statement["grant_id"]
    entry = get_json(f"{desk_log.url}/v1/entries/{seq}")
    assert entry["statement"] == statement  # the log holds exactly what was reviewed
    posted = [body for method, _url, body in sent if method == "POST"]
    assert all(b"mdat" not in b and len(b) < 10_000 for b in posted)  # no footage went out
    desk.wait_for_selector(f"tr[data-grant='{grant_id}'][data-state='offered']")

    # The buyer, in their own browser with the key `ledger keygen` gave them, reads the offer
    # (every term in the report's words, from the entry it verified) and accepts it there.
    buyer_page = buyer_desk(desk.context.browser, desk_log, tmp_path)
    card = buyer_page.locator(f"article.offer[data-grant='{grant_id}']")
    card.wait_for()
    for topic, sentence in term_clauses(parsed.terms):  # type: ignore[attr-defined]
        assert card.locator(f'[data-term="{topic}"]').inner_text() == sentence
    assert statement_hash(text.encode()).hex() in card.inner_text()
    accept_button = card.get_by_role("button", name="Accept this offer")
    assert accept_button.is_disabled()  # not before the terms were marked as read
    card.get_by_label("I have read every term of this offer").check()
    shot(buyer_page, "buyer-offer")
    accept_button.click()
    buyer_page.wait_for_selector(f"article.offer[data-grant='{grant_id}'][data-accepted]")
    accepted = get_json(f"{desk_log.url}/v1/grants/{grant_id}")
    assert accepted["accepted_seq"] == int(card.get_attribute("data-accepted"))
    assert accepted["acceptance"]["statement"]["signer"] == desk_log.buyer.key_id
    # An auditor's view: the explorer's grant page shows the acceptance the buyer signed.
    auditor = buyer_page.context.new_page()
    auditor.goto(f"{desk_log.url}/grants/{grant_id}")
    assert auditor.inner_text('[data-field="accepted_seq"]').strip() == str(
        accepted["accepted_seq"]
    )
    auditor.close()
    # Then checks the dataset by its manifest: a bundle and its report, downloaded.
    buyer_page.set_input_files("#manifest-file", str(manifest))
    buyer_page.select_option("#use", "data_mining")
    buyer_page.get_by_role("button", name="Get the evidence").click()
    buyer_page.wait_for_selector("#evidence-files:not([hidden]), #evidence-status.problem")
    assert buyer_page.get_attribute("#evidence-status", "data-licensed") == "3"
    shot(buyer_page, "buyer-evidence")
    files = {}
    for name in ("bundle", "report-html", "report-pdf"):
        with buyer_page.expect_download() as download:
            buyer_page.click(f"#{name}-link")
        files[name] = tmp_path / f"browser-{name}"
        download.value.save_as(files[name])
    assert files["report-pdf"].read_bytes().startswith(b"%PDF-")
    # The report is of this very bundle (it names its SHA-256), verified under the pinned key.
    report_html = files["report-html"].read_text()
    assert hashlib.sha256(files["bundle"].read_bytes()).hexdigest() in report_html
    assert "pinned in the browser that asked" in report_html
    log_key = get_json(desk_log.url + "/v1/log")["verifier_key"]
    browser_verified = run_ledger(
        "verify", files["bundle"], "--log-key", log_key,
        "--manifest", manifest, "--buyer", desk_log.buyer.key_id, "--use", "data_mining",
    )  # fmt: skip
    assert browser_verified.returncode == 0, browser_verified.stdout + browser_verified.stderr
    offline = subprocess.run(  # the offline verifier: the pure core only
        [sys.executable, str(VERIFY_SCRIPT), str(files["bundle"]), "--log-key", log_key],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert offline.returncode == 0, offline.stdout + offline.stderr
    buyer_page.context.close()

    # `ledger prove` and `ledger verify` accept a bundle over the browser's grant too.
    state, bundle = tmp_path / "cli-state", tmp_path / "bundle.json"
    proved = run_ledger(
        "prove", "--manifest", manifest, "--buyer", desk_log.buyer.key_id, "--use",
        "data_mining", "--out", bundle, "--url", desk_log.url, "--state", state,
        "--log-key", log_key,
    )  # fmt: skip
    assert proved.returncode == 0, proved.stderr
    verified = run_ledger(
        "verify", bundle, "--log-key", log_key, "--manifest", manifest, "--buyer",
        desk_log.buyer.key_id, "--use", "data_mining", "--json",
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    answer = json.loads(verified.stdout)
    assert answer["verified"] is True, answer
    assert answer["failures"] == []
    assert (answer["licensed"], answer["not_licensed"]) == (3, 0), answer

    # The grant's state follows, and the creator revokes it (revocable, no notice).
    desk.get_by_role("button", name="Refresh").click()
    row = desk.locator(f"tr[data-grant='{grant_id}'][data-state='accepted']")
    row.wait_for()
    row.get_by_role("button", name=re.compile("Revoke")).click()
    desk.wait_for_selector(f"tr[data-grant='{grant_id}'][data-state='revoked']")
    shot(desk, "creator-grants")
    assert get_json(f"{desk_log.url}/v1/grants/{grant_id}")["revoked_seq"] is not None


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"#buyer": "ab" * 31}, "64 hex digits"),
        ({"#price": "2,50"}, "decimal like 2.50"),
        ({"#territory": "worldwide DE"}, "stands alone"),
        ({"#territory": "XX"}, "XX is not an ISO 3166-1"),
        ({"#end": "2025-12-31"}, "end must be later than the start"),
        ({"#notice": "3651"}, "0 to 3650"),
    ],
)
def test_bad_terms_are_refused_before_signing_saying_what_to_change(
    desk: Any, desk_log: DeskLog, tmp_path: Path, change: dict[str, str], said: str
) -> None:
    create_key(desk, tmp_path)
    (tmp_path / "one.mp4").write_bytes(mp4())
    desk.set_input_files("#clip-files", str(tmp_path / "one.mp4"))
    desk.wait_for_selector("#hash-status[data-done='1']")
    fill_terms(desk, desk_log.buyer.key_id)
    for selector, value in change.items():
        desk.fill(selector, value)
    desk.get_by_role("button", name="Review the statement").click()
    desk.wait_for_selector("#terms-error:not([hidden])")
    assert said in desk.inner_text("#terms-error")
    assert desk.is_disabled("#sign")
    assert desk.inner_text("#statement") == ""


# --- trust: pinned key, kept checkpoint, another key, a fork --------------------------------------


def trust_error(page: Any) -> str:
    page.wait_for_selector("#trust-error:not([hidden])")
    return str(page.inner_text("#trust-error"))


def test_the_browser_pins_the_log_and_refuses_a_changed_key_or_a_fork(
    browser: Any, desk_log: DeskLog, sqlite_template: Path, tmp_path: Path
) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        open_desk(page, desk_log.url)
        assert "trusted on first use" in page.inner_text("#trust")
        size = int(page.get_attribute("[data-field=trust]", "data-size"))
        open_desk(page, desk_log.url)  # again: pinned now, and the checkpoint kept
        assert "pinned in this browser" in page.inner_text("#trust")
        kept = page.evaluate("Object.entries(localStorage)")
        assert len(kept) == 1
        assert json.loads(kept[0][1])["checkpoint"]["size"] >= size
        # Another log answering at this address: same origin, another key.
        with _start(tmp_path, sqlite_template, "other", tmp_path / "other.pem") as other:
            post(other.url, builders.party_register(seeded_key(31), "Someone"))
            forward(page, other.url)
            open_desk(page, desk_log.url)
            assert "the log's key changed" in trust_error(page)
            shot(page, "creator-trust-key-changed")
        # A fork: the same key and origin, another history, longer than what the browser kept.
        fork_key = tmp_path / "fork.pem"
        shutil.copyfile(desk_log.tmp / "log-key.pem", fork_key)
        with _start(tmp_path, sqlite_template, "fork", fork_key) as fork:
            for n in range(size + 2):
                post(fork.url, builders.party_register(seeded_key(40 + n), f"Fork {n}"))
            forward(page, fork.url)
            open_desk(page, desk_log.url)
            assert "the log forked" in trust_error(page)
            shot(page, "creator-trust-fork")
        assert (
            json.loads(page.evaluate("Object.values(localStorage)")[0])["checkpoint"]["size"]
            == json.loads(kept[0][1])["checkpoint"]["size"]
        )  # the kept state did not move
        page.unroute("**/v1/**")
        open_desk(page, desk_log.url)  # the real log again: still consistent
        assert "pinned in this browser" in page.inner_text("#trust")
    finally:
        ctx.close()


def forward(page: Any, other: str) -> None:
    """The page's API requests answered by the log at ``other`` (a real server), as if the log
    at the page's own address had changed."""
    page.unroute("**/v1/**")
    page.route(
        "**/v1/**",
        lambda route: route.fulfill(
            response=route.fetch(url=other + "/v1/" + route.request.url.split("/v1/", 1)[1])
        ),
    )


# --- the page itself: HTML, accessibility, CSP, its assets ---------------------------------------


def axe_serious(page: Any) -> list[str]:
    found = page.evaluate("axe.run(document).then(r => r.violations)")
    return [
        f"{x['id']} ({x['impact']}): {x['help']} at {[n['target'] for n in x['nodes']]}"
        for x in found
        if x["impact"] in ("serious", "critical")
    ]


def test_the_desk_passes_the_html_checker_axe_and_a_strict_csp(
    desk: Any, desk_log: DeskLog, tmp_path: Path
) -> None:
    with urllib.request.urlopen(desk_log.url + "/creator") as r:
        headers, body = r.headers, r.read()
    html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(body)
    assert body.startswith(b"<!doctype html>")
    assert headers["Content-Security-Policy"] == APP_CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in APP_CONTENT_SECURITY_POLICY
    assert "'unsafe-eval'" not in APP_CONTENT_SECURITY_POLICY
    assert "Set-Cookie" not in headers
    # Every script is a file of this app; the one inline element is data, never run.
    scripts = desk.locator("script").evaluate_all(
        "s => s.map(e => [e.getAttribute('src'), e.getAttribute('type')])"
    )
    assert all(
        src and src.startswith("/assets/") for src, kind in scripts if kind != "application/json"
    )
    assert [kind for src, kind in scripts if not src] == ["application/json"]
    assert hashlib.sha256((VENDOR / "hash-wasm-sha256.umd.min.js").read_bytes()).hexdigest() == (
        HASH_WASM_SHA256  # ledger/server/web/static/vendor/README.md
    )
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() == AXE_SHA256
    desk.evaluate(AXE.read_text())
    assert axe_serious(desk) == []  # as it opens
    create_key(desk, tmp_path)  # with a key, a backup link, the buyer refused
    desk.fill("#buyer", "not a key")
    desk.get_by_role("button", name="Review the statement").click()
    desk.wait_for_selector("#terms-error:not([hidden])")
    assert axe_serious(desk) == []
    shot(desk, "creator-error")
    assert desk.context.cookies() == []


# --- the browser's RFC 9162 verifiers against the RFC's own definitions ---------------------------


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, written out here independently of ledger.core.merkle."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if b else [_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], b), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def test_the_browsers_proof_checks_agree_with_rfc_9162(desk: Any) -> None:
    leaves = [bytes([i]) * 3 for i in range(13)]
    inclusion, consistency = [], []
    for n in range(1, len(leaves) + 1):
        root = _mth(leaves[:n]).hex()
        for i in range(n):
            leaf = hashlib.sha256(b"\x00" + leaves[i]).hexdigest()
            proof = [h.hex() for h in _path(i, leaves[:n])]
            inclusion.append([i, n, leaf, proof, root, True])
            if proof:  # tampered: a flipped hash, a wrong index
                inclusion.append([i, n, leaf, [proof[0][::-1], *proof[1:]], root, False])
            inclusion.append([(i + 1) % n if n > 1 else 1, n, leaf, proof, root, False])
        for m in range(1, n + 1):
            proof = [h.hex() for h in _subproof(m, leaves[:n], True)]
            first = _mth(leaves[:m]).hex()
            consistency.append([m, n, first, root, proof, True])
            if m < n:
                consistency.append([m, n, root, root, proof, False])  # not the first root
                consistency.append([m, n, first, root, proof[:-1], False])  # a hash short
    got = desk.evaluate(
        """async ([inclusion, consistency]) => {
          const T = await import('/assets/app/trust.js');
          const L = await import('/assets/app/ledger.js');
          const a = [], b = [];
          for (const [i, n, leaf, proof, root] of inclusion)
            a.push(await T.verifyInclusion(i, n, L.fromHex(leaf), proof, root));
          for (const [m, n, first, second, proof] of consistency)
            b.push(await T.verifyConsistency(m, n, first, second, proof));
          return [a, b];
        }""",
        [inclusion, consistency],
    )
    assert got[0] == [case[-1] for case in inclusion]
    assert got[1] == [case[-1] for case in consistency]


# --- the buyer's desk: the terms in the report's words, the page itself ---------------------------

TERMS = [
    builders.TermsSpec(),
    builders.TermsSpec(
        uses=("data_mining", "ai_inference", "ai_training", "ai_generative_training"),
        end=datetime(2030, 1, 1, tzinfo=UTC),
        prohibitions=("replicate_voice", "biometric_identification", "redistribute_content"),
        exclusive=True,
        territory=("FR", "DE", "JP"),
        revocable=True,
        notice_days=1,
        amount="100",
        currency="JPY",
        unit="flat",
        attribution=True,
        sublicensing=True,
    ),
    builders.TermsSpec(revocable=True, notice_days=0, territory=("US",), unit="per_clip"),
    builders.TermsSpec(revocable=True, notice_days=3650, amount="0.00000001", currency="CHF"),
]


def test_the_browser_words_every_term_as_the_evidence_report_does(
    browser: Any, desk_log: DeskLog
) -> None:
    page = browser.new_page()
    try:
        page.goto(desk_log.url + "/buyer")
        got = page.evaluate(
            """async (all) => {
              const P = await import('/assets/app/plain.js');
              const vocab = JSON.parse(document.getElementById('vocabulary').textContent);
              return all.map((t) => P.termClauses(t, vocab));
            }""",
            [t.to_json() for t in TERMS],
        )
        assert got == [[list(c) for c in term_clauses(parse_terms(t))] for t in TERMS]
    finally:
        page.context.close()


def parse_terms(spec: builders.TermsSpec) -> Any:
    creator, buyer = seeded_key(51), seeded_key(52)
    item = builders.Item(sha256="ab" * 32, bytes=1, duration_s=1)
    signed = builders.grant(creator, buyer.key_id, str(uuid.uuid4()), [item], spec)
    return signed.statement.terms  # type: ignore[attr-defined]


def test_the_buyers_desk_passes_the_html_checker_axe_and_a_strict_csp(
    browser: Any, desk_log: DeskLog, tmp_path: Path
) -> None:
    with urllib.request.urlopen(desk_log.url + "/buyer") as r:
        headers, body = r.headers, r.read()
    html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(body)
    assert headers["Content-Security-Policy"] == APP_CONTENT_SECURITY_POLICY
    page = buyer_desk(browser, desk_log, tmp_path)  # with a key, and no offers
    try:
        page.wait_for_selector("#offers-status[data-count='0']")
        page.evaluate(AXE.read_text())
        assert axe_serious(page) == []
        page.get_by_role("button", name="Get the evidence").click()  # nothing chosen: said
        page.wait_for_selector("#evidence-status.problem")
        assert "choose a manifest or a folder" in page.inner_text("#evidence-status")
        assert axe_serious(page) == []
    finally:
        page.context.close()


def test_without_javascript_the_desks_say_to_use_the_command(
    browser: Any, desk_log: DeskLog
) -> None:
    ctx = browser.new_context(java_script_enabled=False)
    try:
        page = ctx.new_page()
        for path, command in (("/creator", "ledger grant"), ("/buyer", "ledger accept")):
            page.goto(desk_log.url + path)
            note = page.locator("p.problem", has_text="needs JavaScript")
            assert note.is_visible()
            assert command in note.inner_text()
    finally:
        ctx.close()


def test_more_clips_than_one_entry_holds_are_split_into_grants_as_the_cli_splits_them(
    desk: Any, desk_log: DeskLog, tmp_path: Path
) -> None:
    create_key(desk, tmp_path)
    register(desk, "Studio Many")
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(700):  # about 590 items fit one 65,535-byte leaf
        (folder / f"clip{n:03}.mp4").write_bytes(mp4(duration=1000 * (n + 1)))
    desk.set_input_files("#clip-folder", str(folder))
    desk.wait_for_selector("#hash-status[data-done='700']", timeout=120_000)
    fill_terms(desk, desk_log.buyer.key_id)
    desk.select_option("#unit", "flat")  # a flat fee would be owed once per grant: refused
    desk.get_by_role("button", name="Review the statement").click()
    desk.wait_for_selector("#terms-error:has-text('flat price would be owed once per grant')")
    desk.select_option("#unit", "per_minute")
    desk.get_by_role("button", name="Review the statement").click()
    desk.wait_for_selector("#statement[data-count='2']")
    texts = desk.inner_text("#statement").split("\n\n")
    statements = [json.loads(t) for t in texts]
    assert [len(t.encode()) + 76 + 96 <= 65_535 for t in texts] == [True, True]
    assert [c["sha256"] for st in statements for c in st["content"]] == [
        hashlib.sha256((folder / f"clip{n:03}.mp4").read_bytes()).hexdigest() for n in range(700)
    ]
    assert len({st["grant_id"] for st in statements}) == 2
    # The same split as the core's (ledger grant): the same items in each part.
    t = statements[0]["terms"]
    spec = builders.TermsSpec(
        uses=t["uses"], start=parse_timestamp(t["start"]), end=parse_timestamp(t["end"]),
        prohibitions=t["prohibitions"], exclusive=t["exclusive"], territory=t["territory"],
        revocable=t["revocable"], notice_days=t.get("notice_days"),
        amount=t["consideration"]["amount"], currency=t["consideration"]["currency"],
        unit=t["consideration"]["unit"], attribution=t["attribution"],
        sublicensing=t["sublicensing"],
    )  # fmt: skip
    items = [builders.Item(**c) for st in statements for c in st["content"]]
    core = builders.grants_for_items(seeded_key(61), desk_log.buyer.key_id, items, spec)
    assert [len(g.statement.content) for g in core] == [len(st["content"]) for st in statements]  # type: ignore[attr-defined]
    desk.get_by_role("button", name="Sign and submit").click()
    desk.wait_for_selector("#sign-result[data-grants], #sign-result.problem")
    ids = desk.get_attribute("#sign-result", "data-grants").split()
    assert ids == [st["grant_id"] for st in statements]
    for st in statements:
        logged = get_json(f"{desk_log.url}/v1/grants/{st['grant_id']}")
        assert logged["entry"]["statement"] == st


def _tampered(route: Any, change: str) -> None:
    """The real log's answer, with one thing changed on its way to the page."""
    response = route.fetch()
    body = response.json()
    if change == "leaf":  # flip the last byte of the leaf (its signature)
        leaf = bytearray(base64.b64decode(body["leaf"]))
        leaf[-1] ^= 1
        body["leaf"] = base64.b64encode(bytes(leaf)).decode()
    else:  # a wrong sibling hash in the inclusion proof
        body["hashes"] = ["00" * 32, *body["hashes"][1:]] if body["hashes"] else ["00" * 32]
    route.fulfill(response=response, json=body)


@pytest.mark.parametrize(
    ("pattern", "change", "said"),
    [
        ("**/v1/entries/*", "leaf", "does not hold exactly the statement and signatures"),
        ("**/v1/proofs/inclusion*", "proof", "inclusion proof does not verify"),
    ],
)
def test_a_submission_the_log_answers_with_a_tampered_entry_or_proof_is_refused(
    desk: Any, tmp_path: Path, pattern: str, change: str, said: str
) -> None:
    create_key(desk, tmp_path)
    desk.route(pattern, lambda route: _tampered(route, change))
    desk.fill("#pseudonym", "Studio Tampered")
    desk.get_by_role("button", name="Register").click()
    desk.wait_for_selector("#register-result.problem")
    assert said in desk.inner_text("#register-result")
    assert "Do not trust this log" in trust_error(desk)
    assert desk.is_disabled("#sign")  # and nothing more is signed for it


def test_a_folders_clips_come_in_ledger_hashs_order_and_leave_out_what_it_leaves_out(
    desk: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "shoot"
    for name in ("a-b/x.mp4", "a/x.mp4", "B.mp4", "b.mp4", "a/.hidden/y.mp4", ".git/z.mp4"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(mp4(duration=len(name) * 1000))
    desk.set_input_files("#clip-folder", str(folder))
    desk.wait_for_selector("#hash-status[data-done='4']")
    shown = desk.locator("#clip-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.sha256)")
    listed = run_ledger("hash", folder)
    assert listed.returncode == 0, listed.stderr
    assert shown == [line.split()[0] for line in listed.stdout.splitlines()]
    assert len(shown) == 4
