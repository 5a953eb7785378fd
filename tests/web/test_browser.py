"""The explorer in a real browser (Debian's Chromium under Playwright) against a real gunicorn
server on SQLite and on PostgreSQL: every page says what its JSON twin says, the search box
dispatches on shape, pages read with JavaScript off, injected markup stays text, the HTML is
valid, axe-core finds nothing serious, and nothing comes from elsewhere or sets a cookie."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import html5lib
import pytest

from ledger.core.statements import parse_statement
from ledger.report.plain import term_clauses
from ledger.server.web import CONTENT_SECURITY_POLICY
from ledger.server.web.present import DISCLAIMER
from tests.web.conftest import ODD_MEDIA_TYPE, SCREENSHOTS, Story, get_json

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
INJECTED = "<script>alert(1)</script>"


def pages(story: Story) -> dict[str, tuple[str, int]]:
    """Every kind of page, by name: its path and the status it answers."""
    buyer = story.buyer.key_id
    return {
        "home": ("/", 200),
        "entry": (f"/entries/{story.seqs['grant']}", 200),
        "grant": (f"/grants/{story.accepted_grant}", 200),
        "grant-revoked": (f"/grants/{story.revoked_grant}", 200),
        "party": (f"/parties/{story.creator.key_id}", 200),
        "party-revoked-key": (f"/parties/{story.other.key_id}", 200),
        "content": (f"/content/{story.items[0]}?buyer={buyer}&use=ai_training", 200),
        "account": (f"/parties/{story.creator_new.key_id}/account", 200),
        "checkpoint": ("/checkpoints/latest?from=3", 200),
        "search-several": (f"/search?q={story.items[1]}", 200),
        "search-bad": (f"/search?q={quote(INJECTED)}", 400),
        "docs": ("/docs", 200),
        "not-found": ("/entries/999999", 404),
        "bad-seq": ("/entries/01", 400),
    }


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    yield ctx
    ctx.close()


class Visit:
    """A page opened in the browser, with what it logged and requested."""

    def __init__(self, context: Any, story: Story, path: str, name: str = "") -> None:
        self.page = page = context.new_page()
        self.console: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.response = page.goto(story.url + path)
        if SCREENSHOTS and name:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)

    def field(self, name: str) -> str:
        return str(self.page.locator(f'[data-field="{name}"]').first.inner_text()).strip()

    def fields(self, name: str) -> list[str]:
        return [t.strip() for t in self.page.locator(f'[data-field="{name}"]').all_inner_texts()]


def visit(context: Any, story: Story, path: str, name: str = "") -> Visit:
    return Visit(context, story, path, name)


# --- each page against its JSON twin --------------------------------------------------------------


def test_home_says_what_the_log_api_says(context: Any, story: Story) -> None:
    v = visit(context, story, "/", "home")
    info = get_json(story.url + "/v1/log")
    for name in ("origin", "verifier_key", "root_hash"):
        assert v.field(name) == info[name]
    assert int(v.field("tree_size")) == info["tree_size"] == len(story.seqs)
    with urllib.request.urlopen(story.url + "/v1/checkpoint") as r:
        assert v.field("note") == r.read().decode().strip()
    shown = [int(s) for s in v.page.locator("tr[data-seq]").evaluate_all(
        "rows => rows.map(r => r.dataset.seq)")]  # fmt: skip
    assert shown == list(range(info["tree_size"]))[::-1]
    assert "Studio Nord" in v.page.locator("table").last.inner_text()  # signers by pseudonym


def test_entry_page_matches_its_twin_and_its_downloads(context: Any, story: Story) -> None:
    for seq in (0, story.seqs["grant"], story.seqs["rotate"]):
        v = visit(context, story, f"/entries/{seq}", f"entry-{seq}")
        twin = get_json(f"{story.url}/v1/entries/{seq}")
        for name in ("type", "integrated_at", "statement_hash", "leaf_hash"):
            assert v.field(name) == twin[name]
        assert int(v.field("seq")) == seq
        assert v.field("signer") == twin["statement"]["signer"]
        assert json.loads(v.field("statement")) == twin["statement"]
        leaf = base64.b64decode(twin["leaf"])
        # The chain link: the leaf hash of the entry before (zeros before the first).
        before = get_json(f"{story.url}/v1/entries/{seq - 1}")["leaf_hash"] if seq else "00" * 32
        assert v.field("prev_hash") == before
        with v.page.expect_download() as download:
            v.page.get_by_role("link", name=re.compile("Raw leaf")).click()
        assert Path(download.value.path()).read_bytes() == leaf
        proof = v.page.get_by_role("link", name=re.compile("Proof file"))
        with urllib.request.urlopen(story.url + proof.get_attribute("href")) as r:
            assert f"\nextra {twin['leaf']}\n" in r.read().decode()  # it carries this leaf
        commands = v.page.locator("pre.command").inner_text()
        assert f"ledger verify-proof entry-{seq}.tlog-proof --log-key" in commands
    assert visit(context, story, f"/entries/{story.seqs['creator']}").field("pseudonym") == (
        "Studio Nord"
    )


def test_grant_page_matches_its_twin_in_the_reports_words(context: Any, story: Story) -> None:
    v = visit(context, story, f"/grants/{story.accepted_grant}", "grant")
    twin = get_json(f"{story.url}/v1/grants/{story.accepted_grant}")
    assert v.field("grant_id") == twin["grant_id"]
    assert v.field("statement_hash") == twin["statement_hash"]
    assert v.field("accepted_seq") == str(twin["accepted_seq"]) == str(story.seqs["accept"])
    assert v.field("revoked_seq") == "Not revoked"
    statement = twin["entry"]["statement"]
    # The terms: exactly the evidence report's sentences for the signed terms.
    clauses = term_clauses(parse_statement(statement).terms)  # type: ignore[attr-defined]
    for topic, sentence in clauses:
        assert v.page.locator(f'[data-term="{topic}"]').inner_text().strip() == sentence
    assert "revocable with 30 days' notice" in v.page.inner_text("dl.terms")
    assert v.fields("media_type") == [i["media_type"] for i in statement["content"]]
    assert "1:02:03" in v.page.inner_text("main")  # 3723 s
    # Status per use now: what /v1/content/{item}/status answers for the grant's buyer.
    for use in ("ai_training", "data_mining", "ai_inference", "ai_generative_training"):
        row = v.page.locator(f'tr[data-use="{use}"]')
        answer = get_json(
            f"{story.url}/v1/content/{story.items[0]}/status?buyer={statement['buyer']}&use={use}"
        )
        assert row.locator('[data-field="reason"]').get_attribute("data-code") == answer["reason"]
        head = "licensed" if answer["licensed"] else "not licensed"
        assert row.locator('[data-field="status"]').inner_text().startswith(head + ":")
    revoked = visit(context, story, f"/grants/{story.revoked_grant}", "grant-revoked")
    twin = get_json(f"{story.url}/v1/grants/{story.revoked_grant}")
    assert revoked.field("revoked_seq") == str(twin["revoked_seq"])
    assert revoked.field("revocation_effective_at") == twin["revocation_effective_at"]
    assert revoked.field("accepted_seq") == "Not accepted"


def test_party_page_matches_its_twins(context: Any, story: Story) -> None:
    for key, name in ((story.creator_new, "party"), (story.other, "party-revoked-key")):
        v = visit(context, story, f"/parties/{key.key_id}", name)
        twin = get_json(f"{story.url}/v1/parties/{key.key_id}")
        grants = get_json(f"{story.url}/v1/parties/{key.key_id}/grants")
        assert v.field("pseudonym") == twin["pseudonym"]
        assert v.field("party_id") == twin["party_id"]
        assert v.field("registered_seq") == str(twin["registered_seq"])
        statuses = v.fields("key-status")
        assert len(statuses) == len(twin["keys"])
        for shown, k in zip(statuses, twin["keys"], strict=True):
            assert shown.split()[0] == k["status"]
        assert v.field("made_total") == str(grants["made_total"])
        assert v.field("received_total") == str(grants["received_total"])
        made = v.page.locator('table[data-role="made"] tr[data-grant]').evaluate_all(
            "rows => rows.map(r => r.dataset.grant)"
        )
        assert made == [g["grant_id"] for g in grants["made"]]
    assert [k["status"] for k in twin["keys"]] == ["revoked"]
    creator = get_json(f"{story.url}/v1/parties/{story.creator.key_id}")
    assert [k["status"] for k in creator["keys"]] == ["rotated", "valid"]


def test_account_page_matches_its_twin_for_both_sides(context: Any, story: Story) -> None:
    """The creator's earnings and the buyer's spend, each as its account bundle says; the two
    sides agree, and a period before the grants shows nothing accrued."""
    shown: dict[str, str] = {}
    for key, role in ((story.creator_new, "earned"), (story.buyer, "owed")):
        v = visit(context, story, f"/parties/{key.key_id}/account", f"account-{role}")
        twin = get_json(f"{story.url}/v1/parties/{key.key_id}/account")["statement"]
        assert v.field("party") == twin["party"]
        assert twin["totals"][role], twin  # the accepted grant accrued
        for currency, amount in twin["totals"][role].items():
            assert v.field(f"total-{role}-{currency}") == amount
            shown[role] = f"{amount} {currency}"
        rows = v.page.locator('table[data-table="grants"] tr[data-line]')
        assert rows.evaluate_all("rows => rows.map(r => r.dataset.line)") == [
            g["grant_id"] for g in twin["grants"]
        ]
        assert v.fields("amount") == [
            f"{g['amount']} {g['price']['currency']}" for g in twin["grants"]
        ]
        twin_link = v.page.locator("[data-twin]").first.get_attribute("href")
        assert twin_link == f"/v1/parties/{key.key_id}/account"
        v.page.close()
    assert shown["earned"] == shown["owed"]
    period = "from=2001-01-01T00:00:00Z&to=2002-01-01T00:00:00Z"
    v = visit(context, story, f"/parties/{story.buyer.key_id}/account?{period}")
    twin = get_json(f"{story.url}/v1/parties/{story.buyer.key_id}/account?{period}")["statement"]
    assert v.field("no-totals") == "Nothing accrued in this period."
    assert twin["grants"] == []
    assert twin["totals"] == {}
    assert (v.field("from"), v.field("to")) == (twin["from"], twin["to"])
    assert twin["from"].startswith("2001-01-01T00:00:00")


def test_content_page_and_its_status_form(context: Any, story: Story) -> None:
    v = visit(context, story, f"/content/{story.items[0]}")
    twin = get_json(f"{story.url}/v1/content/{story.items[0]}")
    assert v.field("sha256") == twin["sha256"]
    assert int(v.field("grant_count")) == len(twin["grants"]) == 2
    v.page.get_by_label("Buyer's key id").fill(story.buyer.key_id)
    v.page.get_by_label("Use").select_option("data_mining")
    v.page.get_by_role("button", name="Ask the log").click()
    v.page.wait_for_load_state()
    answer = get_json(
        f"{story.url}/v1/content/{story.items[0]}/status?buyer={story.buyer.key_id}&use=data_mining"
    )
    assert answer["licensed"] is True
    assert v.field("licensed") == "Licensed"
    assert v.page.locator('[data-field="reason"]').get_attribute("data-code") == answer["reason"]
    assert f"--content {story.items[0]} --buyer {story.buyer.key_id} --use data_mining" in (
        v.page.locator("pre.command").inner_text()
    )
    if SCREENSHOTS:
        v.page.screenshot(path=f"{SCREENSHOTS}/content-status.png", full_page=True)


def test_checkpoint_page_and_a_typed_consistency_check(context: Any, story: Story) -> None:
    v = visit(context, story, "/checkpoints/latest")
    size = get_json(story.url + "/v1/log")["tree_size"]
    assert v.field("tree_size") == str(size)
    v.page.get_by_label("Earlier tree size").fill("3")
    v.page.get_by_role("button", name="Get the proof").click()
    v.page.wait_for_load_state()
    proof = get_json(f"{story.url}/v1/proofs/consistency?first=3&second={size}")
    shown = [t.strip() for t in v.page.locator('[data-field="hashes"] li').all_inner_texts()]
    assert shown == proof["hashes"] != []
    assert v.field("first") == "3"
    if SCREENSHOTS:
        v.page.screenshot(path=f"{SCREENSHOTS}/checkpoint-consistency.png", full_page=True)
    v.page.get_by_label("Earlier tree size").fill(str(size + 5))
    v.page.get_by_role("button", name="Get the proof").click()
    assert "beyond" in v.page.inner_text(".problem") or "exceed" in v.page.inner_text(".problem")


# --- the search box -------------------------------------------------------------------------------


def test_search_box_dispatches_on_shape(context: Any, story: Story) -> None:
    grant_hash = get_json(f"{story.url}/v1/grants/{story.accepted_grant}")["statement_hash"]
    cases = {
        str(story.seqs["accept"]): f"/entries/{story.seqs['accept']}",
        story.accepted_grant.upper(): f"/grants/{story.accepted_grant}",  # typed as people do
        f"  {story.buyer.key_id}  ": f"/parties/{story.buyer.key_id}",
        grant_hash: f"/entries/{story.seqs['grant']}",
        story.items[0]: f"/content/{story.items[0]}",
    }
    page = context.new_page()
    for typed, landing in cases.items():
        page.goto(story.url + "/")
        page.get_by_label("Search the log").fill(typed)
        page.get_by_label("Search the log").press("Enter")
        page.wait_for_load_state()
        assert page.url == story.url + landing
        matches = get_json(f"{story.url}/v1/search?q={typed.strip().lower()}")["matches"]
        assert len(matches) == 1
        assert landing.endswith(matches[0]["id"])
    for typed in ("999999", "c3" * 32, str(uuid_of(9))):
        page.goto(story.url + "/search?q=" + typed)
        assert "Nothing in this log matches" in page.inner_text("main")
        assert get_json(f"{story.url}/v1/search?q={typed}")["matches"] == []


def uuid_of(n: int) -> str:
    return str(uuid.UUID(int=n))


# --- errors: an HTML page, and the same problem on the JSON twin ---------------------------------


@pytest.mark.parametrize(
    ("page_path", "twin_path", "status"),
    [
        ("/entries/01", "/v1/entries/01", 400),
        ("/entries/999999", "/v1/entries/999999", 404),
        ("/grants/NOT-A-UUID", "/v1/grants/NOT-A-UUID", 400),
        (f"/grants/{uuid_of(7)}", f"/v1/grants/{uuid_of(7)}", 404),
        ("/parties/" + "AB" * 32, "/v1/parties/" + "AB" * 32, 400),
        ("/parties/" + "ab" * 32, "/v1/parties/" + "ab" * 32, 404),
        ("/content/xyz", "/v1/content/xyz", 400),
        ("/checkpoints/999", "/v1/checkpoint?tree_size=999", 404),
        ("/checkpoints/-1", "/v1/checkpoint?tree_size=-1", 400),
    ],
)
def test_bad_and_unknown_names_are_clear_pages_and_problems(
    context: Any, story: Story, page_path: str, twin_path: str, status: int
) -> None:
    v = visit(context, story, page_path)
    assert v.response.status == status
    assert v.response.headers["content-type"].startswith("text/html")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(story.url + twin_path)
    assert caught.value.code == status
    assert caught.value.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(caught.value.read())
    if page_path != "/checkpoints/-1":  # the API's query schema words that one its own way
        assert v.field("code") == problem["code"]
    assert v.field("status") == str(status)


# --- with JavaScript off, injected markup, HTML checker, accessibility, CSP ----------------------


def test_every_page_reads_with_javascript_disabled(browser: Any, story: Story) -> None:
    ctx = browser.new_context(java_script_enabled=False)
    try:
        for name, (path, status) in pages(story).items():
            v = visit(ctx, story, path, f"nojs-{name}")
            assert v.response.status == status, name
            assert v.page.locator("h1").is_visible()
            assert DISCLAIMER in v.page.inner_text("footer")
            if status == 200 and name != "docs":
                verify = v.page.locator("section.verify")
                assert verify.is_visible(), name
                assert "This page proves nothing by itself" in verify.inner_text()
        # Forms work without scripts: the search box and the status form are plain GET forms.
        page = ctx.new_page()
        page.goto(story.url + "/")
        page.get_by_label("Search the log").fill(story.accepted_grant)
        page.get_by_role("button", name="Search").click()
        page.wait_for_load_state()
        assert page.url == f"{story.url}/grants/{story.accepted_grant}"
    finally:
        ctx.close()


def test_injected_markup_renders_as_text(context: Any, story: Story) -> None:
    # The search query is echoed in the page and in the box.
    v = visit(context, story, "/search?q=" + quote(INJECTED), "injected-search")
    assert v.response.status == 400
    assert v.field("query") == INJECTED
    assert v.page.get_by_label("Search the log").input_value() == INJECTED
    # The status form echoes what was typed; the time is quoted in the error it makes.
    hostile = '"><img src=x id=pwned>' + INJECTED
    asked = (
        f"/content/{story.items[0]}?buyer={story.buyer.key_id}&use=ai_training&at={quote(hostile)}"
    )
    v2 = visit(context, story, asked, "injected-status")
    assert v2.page.get_by_label("At (RFC 3339 UTC").input_value() == hostile
    assert v2.page.locator("#pwned").count() == 0
    # A logged media type the format allows, whose '&' HTML would read as an entity.
    v3 = visit(context, story, f"/grants/{story.accepted_grant}")
    assert ODD_MEDIA_TYPE in v3.fields("media_type")
    for page in (v, v2, v3):
        assert page.dialogs == []
        assert page.page.locator("script").count() == 0


def _html(story: Story, path: str) -> bytes:
    try:
        with urllib.request.urlopen(story.url + path) as r:
            return bytes(r.read())
    except urllib.error.HTTPError as e:
        return bytes(e.read())


def test_every_page_passes_the_html_checker(story: Story) -> None:
    # html5lib's strict mode raises on every parse error the WHATWG HTML standard defines.
    for name, (path, _status) in pages(story).items():
        html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(_html(story, path))
        assert _html(story, path).startswith(b"<!doctype html>"), name


def test_every_page_has_no_serious_accessibility_findings(context: Any, story: Story) -> None:
    source = AXE.read_text()
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() == AXE_SHA256  # tests/web/vendor/README
    for name, (path, _status) in pages(story).items():
        v = visit(context, story, path)
        v.page.evaluate(source)  # in the page's world by the browser's debugger, not a <script>
        found = v.page.evaluate("axe.run(document).then(r => r.violations)")
        serious = [
            f"{x['id']} ({x['impact']}): {x['help']} at {[n['target'] for n in x['nodes']]}"
            for x in found
            if x["impact"] in ("serious", "critical")
        ]
        assert serious == [], name


def test_pages_load_only_their_own_assets_under_a_strict_csp_and_set_no_cookie(
    context: Any, story: Story
) -> None:
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'none': no script at all
    for name, (path, _status) in pages(story).items():
        v = visit(context, story, path)
        headers = v.response.headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, name
        assert "set-cookie" not in headers
        assert all(url.startswith(story.url + "/") for url in v.requests), v.requests
        assert [m for m in v.console if "Content Security Policy" in m] == [], name
        assert v.page.evaluate("getComputedStyle(document.body).margin") == "0px"  # css applied
    assert context.cookies() == []
