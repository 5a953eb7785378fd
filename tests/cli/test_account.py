"""``ledger account`` against a real gunicorn server (SQLite and PostgreSQL): the statement a
creator and a buyer see, verified offline; its CSV and journals read by hledger and beancount with
the same totals; and a lying server (an edited line, a dropped entry) caught before printing."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.core.accounts import account_statement
from ledger.core.leaf import parse_leaf
from ledger.core.licmap import content_key, grant_id_key, grant_key
from tests.cli.clitools import run_ledger, value
from tests.support.live import LiveServer
from tests.support.proxy import LyingProxy


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def _grant(env: dict[str, str], tmp: Path, buyer: str, name: str, *terms: str) -> str:
    clips = []
    for i, seconds in enumerate((42, 57)):
        clip = tmp / f"{name}-{i}.mp4"
        clip.write_bytes(f"{name} {i}".encode())
        clips.append((clip, seconds))
    grant_ids = []
    for clip, seconds in clips:  # one grant per clip, so each has its own duration
        out = _ok(
            run_ledger(
                "grant",
                "--key",
                tmp / "creator.pem",
                "--buyer",
                buyer,
                "--use",
                "ai_training",
                *terms,
                "--end",
                "2030-12-31",
                "--duration",
                seconds,
                "--media-type",
                "video/mp4",
                clip,
                env=env,
            )
        )
        grant_ids.append(value(out, "grant_id"))
    return " ".join(grant_ids)


@pytest.fixture
def story(live: LiveServer, tmp_path: Path) -> dict[str, Any]:
    """A creator with two grants in USD (42 s and 57 s at 2.50 a minute) and one in JPY, all
    accepted by the buyer."""
    env = {"LEDGER_URL": live.url, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    creator = value(_ok(run_ledger("keygen", "--out", tmp_path / "creator.pem")), "key_id")
    buyer = value(_ok(run_ledger("keygen", "--out", tmp_path / "buyer.pem")), "key_id")
    _ok(run_ledger("register", "--key", tmp_path / "creator.pem", "--name", "Studio", env=env))
    _ok(run_ledger("register", "--key", tmp_path / "buyer.pem", "--name", "Acme", env=env))
    usd = _grant(
        env, tmp_path, buyer, "usd", "--price", "2.50", "--currency", "USD", "--per", "minute"
    )
    jpy = _grant(
        env, tmp_path, buyer, "jpy", "--price", "100", "--currency", "JPY", "--per", "minute"
    )
    for grant_id in (*usd.split(), *jpy.split()):
        _ok(run_ledger("accept", "--yes", "--key", tmp_path / "buyer.pem", grant_id, env=env))
    return {"env": env, "creator": creator, "buyer": buyer, "tmp": tmp_path}


TOTALS = {"JPY": Decimal("165"), "USD": Decimal("4.13")}  # 70 + 95 yen; 1.75 + 2.38 dollars


def test_creator_and_buyer_statements_agree(story: dict[str, Any]) -> None:
    env, tmp = story["env"], story["tmp"]
    text = _ok(run_ledger("account", "--key", tmp / "creator.pem", env=env))
    assert "total earned           4.13 USD" in text
    assert "total earned            165 JPY" in text
    assert "verified   against checkpoint" in text
    mine = json.loads(_ok(run_ledger("account", "--key", tmp / "creator.pem", "--json", env=env)))
    theirs = json.loads(_ok(run_ledger("account", "--key", story["buyer"], "--json", env=env)))
    assert mine["totals"] == {"earned": {"JPY": "165", "USD": "4.13"}}
    assert theirs["totals"] == {"owed": {"JPY": "165", "USD": "4.13"}}
    strip = ("role",)
    assert [{k: v for k, v in g.items() if k not in strip} for g in mine["grants"]] == [
        {k: v for k, v in g.items() if k not in strip} for g in theirs["grants"]
    ]
    # A period that ends before anything was accepted is empty; the bundle can be kept.
    early = run_ledger(
        "account",
        "--key",
        tmp / "creator.pem",
        "--to",
        "2020-01-01T00:00:00Z",
        "--json",
        "--out",
        tmp / "account.json",
        env=env,
    )
    assert json.loads(_ok(early))["grants"] == []
    assert json.loads((tmp / "account.json").read_text())["format"] == "consent-ledger/account/v1"


def test_bad_arguments_are_usage_errors(story: dict[str, Any]) -> None:
    env, tmp = story["env"], story["tmp"]
    bad = run_ledger("account", "--key", tmp / "creator.pem", "--from", "yesterday", env=env)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    unknown = run_ledger("account", "--key", "ab" * 32, env=env)
    assert unknown.returncode == 4  # the log refused it by its rules, its code printed
    assert "not_found" in unknown.stderr


def _csv_totals(text: str) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for row in csv.DictReader(io.StringIO(text)):
        totals[row["currency"]] = totals.get(row["currency"], Decimal(0)) + Decimal(row["amount"])
    return totals


def test_csv_totals(story: dict[str, Any]) -> None:
    out = _ok(run_ledger("account", "--key", story["tmp"] / "creator.pem", "--csv", **_env(story)))
    assert _csv_totals(out) == TOTALS


def _env(story: dict[str, Any]) -> dict[str, Any]:
    return {"env": story["env"]}


def _hledger_totals(path: Path, account: str) -> dict[str, Decimal]:
    out = subprocess.run(
        ["hledger", "-f", str(path), "balance", account, "--flat", "-N", "-O", "csv"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    totals: dict[str, Decimal] = {}
    for row in list(csv.reader(io.StringIO(out)))[1:]:
        for amount in row[1].split(", "):
            number, currency = amount.split()
            totals[currency] = totals.get(currency, Decimal(0)) + Decimal(number)
    return totals


def test_hledger_reads_the_journal_with_our_totals(story: dict[str, Any]) -> None:
    if shutil.which("hledger") is None:
        if os.environ.get("LEDGER_REQUIRE_HLEDGER") == "1":
            pytest.fail("hledger is not installed, and LEDGER_REQUIRE_HLEDGER=1 (CI) requires it")
        pytest.skip("hledger is not installed: apt-get install hledger (.ci/run does)")
    for key, account, sign in (
        ("creator.pem", "Income:Licences", -1),
        ("buyer.pem", "Expenses:Licences", 1),
    ):
        journal = story["tmp"] / f"{key}.journal"
        journal.write_text(
            _ok(run_ledger("account", "--key", story["tmp"] / key, "--journal", **_env(story)))
        )
        assert {c: sign * v for c, v in _hledger_totals(journal, account).items()} == TOTALS


def test_beancount_reads_the_journal_with_our_totals(story: dict[str, Any]) -> None:
    from beancount import loader
    from beancount.core import data

    path = story["tmp"] / "creator.beancount"
    args = ("account", "--key", story["tmp"] / "creator.pem", "--journal", "beancount")
    path.write_text(_ok(run_ledger(*args, **_env(story))))
    entries, errors, _ = loader.load_file(str(path))
    assert errors == []
    totals: dict[str, Decimal] = {}
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for posting in entry.postings:
                if posting.account == "Income:Licences":
                    cur = posting.units.currency
                    totals[cur] = totals.get(cur, Decimal(0)) - posting.units.number
    assert totals == TOTALS
    check = subprocess.run(["bean-check", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def _lie(edit: Callable[[dict[str, Any]], None]) -> Callable[[str, str, int, bytes], bytes]:
    def lie(method: str, path: str, status: int, body: bytes) -> bytes:
        if method != "GET" or "/account" not in path or status != 200:
            return body
        doc = json.loads(body)
        edit(doc)
        return json.dumps(doc).encode()

    return lie


def _edit_line(doc: dict[str, Any]) -> None:
    doc["statement"]["grants"][0]["amount"] = "9.99"


def _drop_acceptance(doc: dict[str, Any]) -> None:
    seq = doc["statement"]["grants"][0]["accept_seq"]
    doc["entries"] = [e for e in doc["entries"] if e["seq"] != seq]


def _drop_whole_grant(doc: dict[str, Any]) -> None:
    """The careful lie: one grant left out altogether (its line, its entries, the map keys only
    it needed) and the statement recomputed over what is left, so every remaining check holds;
    only the party's ``party_grants`` key (docs/FORMAT.md §14.1) still lists the grant."""
    line = doc["statement"]["grants"][-1]
    gone = {line["grant_seq"], line["accept_seq"]}
    keys = {
        grant_key(line["grant_hash"]).hex(),
        grant_id_key(line["grant_id"]).hex(),
        *(content_key(item["sha256"]).hex() for item in line["items"]),
    }
    doc["entries"] = [e for e in doc["entries"] if e["seq"] not in gone]
    doc["map"] = [m for m in doc["map"] if m["key"] not in keys]
    leaves = [parse_leaf(base64.b64decode(e["leaf"])) for e in doc["entries"]]
    doc["statement"] = account_statement(leaves, doc["query"]["key_id"]).to_json()
    assert line["grant_seq"] not in [g["grant_seq"] for g in doc["statement"]["grants"]]


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (_edit_line, "statement_mismatch"),
        (_drop_acceptance, "entry_omitted"),
        (_drop_whole_grant, "entry_omitted"),
    ],
    ids=["edited line", "dropped acceptance", "dropped grant"],
)
def test_a_lying_server_is_caught(
    live: LiveServer, story: dict[str, Any], edit: Callable[[dict[str, Any]], None], code: str
) -> None:
    with LyingProxy(live.url, _lie(edit)) as proxy:
        env = {**story["env"], "LEDGER_URL": proxy.url}
        result = run_ledger("account", "--key", story["tmp"] / "creator.pem", "--csv", env=env)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""  # nothing printed from an unverified statement
    assert code in result.stderr
    if edit is _drop_whole_grant:  # named: the grant's seq under the party's grants
        assert "under party_grants" in result.stderr, result.stderr
