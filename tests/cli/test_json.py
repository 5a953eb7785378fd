"""``--json`` on every command that prints a result: the installed ``ledger`` against a real
server, each output checked with ``jsonschema`` against its schema in docs/CLI.md (read from the
doc itself, so the doc cannot drift from the command), and its values against what was done."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ledger.cli import build_parser
from ledger.cli.parser import options, walk
from tests.cli.clitools import mp4, run_ledger
from tests.cli.test_flow import GRANT_TERMS

DOC = Path(__file__).parents[2] / "docs" / "CLI.md"

#: the docs/CLI.md block each command's --json output follows
SCHEMA_OF = {
    "keygen": "keygen",
    "register": "register",
    "rotate": "rotate",
    "revoke-key": "revoke-key",
    "hash": "hash",
    "grant": "grant-made",
    "accept": "accept",
    "revoke": "revoke",
    "show": "show",
    "offers": "offers",
    "log": "log",
    "status": "evidence",
    "prove": "evidence",
    "verify": "evidence",
    "receipt": "receipt",
    "verify-receipt": "verify-receipt",
    "c2pa bind": "c2pa-bind",
    "card": "card",
}
#: --json commands whose format another document gives (docs/CLI.md says where)
ELSEWHERE = {"account", "audit"}


@cache
def _blocks() -> dict[str, Any]:
    found = re.findall(r"^```json (\S+)\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.M | re.S)
    blocks = {name: json.loads(text) for name, text in found}
    assert len(blocks) == len(found), "two schemas of one name in docs/CLI.md"
    return blocks


def schema(name: str) -> dict[str, Any]:
    blocks = _blocks()
    defs = {**blocks["$defs"], **{k: v for k, v in blocks.items() if k != "$defs"}}
    doc = {"$ref": f"#/$defs/{name}", "$defs": defs}
    Draft202012Validator.check_schema(doc)
    return doc


def run_json(name: str, *args: Any, env: dict[str, str], code: int = 0) -> dict[str, Any]:
    """``ledger ARGS --json``: exit ``code``, one line of JSON on stdout, valid under ``name``."""
    result = run_ledger(*args, "--json", env=env)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    doc = json.loads(lines[0])
    Draft202012Validator(schema(name)).validate(doc)
    return doc


def test_every_command_with_json_has_a_documented_schema() -> None:
    with_json = {" ".join(p) for p, parser in walk(build_parser()) if "--json" in options(parser)}
    assert with_json == set(SCHEMA_OF) | ELSEWHERE
    assert set(SCHEMA_OF.values()) | {"prove-entry", "grant", "$defs"} == set(_blocks())
    for command in SCHEMA_OF:
        assert f"`ledger {command} --json`" in DOC.read_text(encoding="utf-8"), command


def test_each_command_prints_json_of_its_schema(user_env: dict[str, str], tmp_path: Path) -> None:
    env = user_env
    creator = run_json("keygen", "keygen", "--out", tmp_path / "c.pem", env=env)
    buyer = run_json("keygen", "keygen", "--out", tmp_path / "b.pem", env=env)
    assert creator["out"] == str(tmp_path / "c.pem")
    c_pem, b_pem = tmp_path / "c.pem", tmp_path / "b.pem"
    reg = run_json("register", "register", "--key", c_pem, "--name", "Json Maker", env=env)
    assert reg["key_id"] == creator["key_id"]
    run_json("register", "register", "--key", b_pem, "--name", "Json Buyer", env=env)

    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(mp4())
    (tmp_path / "clips" / "b.mp4").write_bytes(mp4(1000, 9000))
    hashed = run_json("hash", "hash", tmp_path / "clips", "--out", tmp_path / "m.csv", env=env)[
        "items"
    ]
    assert [Path(i["path"]).name for i in hashed] == ["a.mp4", "b.mp4"]
    assert all(i["duration_s"] for i in hashed)
    a_sha, b_sha = hashed[0]["sha256"], hashed[1]["sha256"]

    made = run_json(
        "grant-made", "grant", "--key", c_pem, "--buyer", buyer["key_id"], *GRANT_TERMS,
        "--revocable", "--notice-days", "0", tmp_path / "clips" / "a.mp4", env=env,
    )["grants"]  # fmt: skip
    assert [g["items"] for g in made] == [1]
    grant_id = made[0]["grant_id"]

    offers = run_json("offers", "offers", "--key", b_pem, env=env)
    assert offers["party"] == "Json Buyer"
    [offer] = offers["offers"]
    assert offer["grant"]["grant_id"] == grant_id
    assert offer["grant"]["creator"] == creator["key_id"]
    assert offer["grant"]["terms"]["end"] == "2031-01-01T00:00:00Z"
    assert offer["grant"]["terms"]["consideration"] == {
        "amount": "2.50", "currency": "USD", "unit": "per_minute",
    }  # fmt: skip

    shown = run_json("show", "show", grant_id, env=env)
    assert shown["grant"]["content"] is None
    assert shown["accepted"] is None
    assert shown["revoked"] is None
    full = run_json("show", "show", grant_id, "--content", env=env)
    assert [c["sha256"] for c in full["grant"]["content"]] == [a_sha]

    dry = run_json("accept", "accept", "--key", b_pem, grant_id, "--dry-run", env=env)
    assert dry == {"accepted": [], "dry_run": True}
    accepted = run_json("accept", "accept", "--yes", "--key", b_pem, grant_id, env=env)
    assert [a["grant_id"] for a in accepted["accepted"]] == [grant_id]
    assert run_json("show", "show", grant_id, env=env)["accepted"] == {
        "seq": accepted["accepted"][0]["seq"]
    }

    licensed = run_json("evidence", "status", a_sha, "--buyer", buyer["key_id"], env=env)
    assert [(v["sha256"], v["licensed"]) for v in licensed["verdicts"]] == [(a_sha, True)]
    assert licensed["verified"] is True
    unlicensed = run_json(
        "evidence", "status", b_sha, "--buyer", buyer["key_id"], "--fail-unlicensed", env=env,
        code=5,
    )  # fmt: skip
    assert (unlicensed["licensed"], unlicensed["not_licensed"]) == (0, 1)

    proved = run_json(
        "evidence", "prove", "--manifest", tmp_path / "m.csv", "--buyer", buyer["key_id"],
        "--use", "ai_training", "--out", tmp_path / "e.json", env=env,
    )  # fmt: skip
    assert proved["out"] == str(tmp_path / "e.json")
    assert [(Path(v["path"]).name, v["licensed"]) for v in proved["verdicts"]] == [
        ("a.mp4", True),
        ("b.mp4", False),
    ]
    verified = run_json(
        "evidence", "verify", tmp_path / "e.json", "--manifest", tmp_path / "m.csv", env=env
    )
    assert verified["verdicts"] == proved["verdicts"]
    assert verified["checkpoint"] == proved["checkpoint"]
    assert (proved["receipts_verified"], verified["receipts_verified"]) == (None, None)
    with_receipts = run_json(
        "evidence", "prove", "--manifest", tmp_path / "m.csv", "--buyer", buyer["key_id"],
        "--use", "ai_training", "--out", tmp_path / "r.json", "--receipts", env=env,
    )  # fmt: skip
    carried = len(json.loads((tmp_path / "r.json").read_text())["receipts"])
    assert with_receipts["receipts_verified"] == carried > 0
    again = run_json("evidence", "verify", tmp_path / "r.json", env=env)
    assert again["receipts_verified"] == carried
    (tmp_path / "bad.json").write_text("{")
    bad = run_json("evidence", "verify", tmp_path / "bad.json", env=env, code=1)
    assert bad["verified"] is False
    assert [f["code"] for f in bad["failures"]] == ["bundle_malformed"]

    entry = run_json("prove-entry", "prove", "--entry", "0", "--out", tmp_path / "p.txt", env=env)
    assert (entry["out"], entry["receipt"]) == (str(tmp_path / "p.txt"), None)
    assert (tmp_path / "p.txt").is_file()
    entry = run_json(
        "prove-entry", "prove", "--entry", "0", "--out", tmp_path / "q.txt", "--receipts", env=env
    )
    assert entry["receipt"] == str(tmp_path / "q.txt.cose")
    assert (tmp_path / "q.txt.cose").read_bytes()[:2] == b"\xd2\x84"

    got = run_json("receipt", "receipt", "1", "--out", tmp_path / "r.cose", env=env)
    assert (got["entry"], got["out"]) == (1, str(tmp_path / "r.cose"))
    leaf_hash = got["leaf_hash"]
    checked = run_json(
        "verify-receipt", "verify-receipt", tmp_path / "r.cose", "--leaf-hash", leaf_hash, env=env
    )
    assert (checked["entry"], checked["root_hash"]) == (1, got["root_hash"])
    assert checked["checkpoint"] is None

    head = run_json("log", "log", env=env)
    assert head["tree_size"] >= accepted["accepted"][0]["seq"] + 1

    revoked = run_json(
        "revoke", "revoke", "--key", c_pem, grant_id, "--effective", "2030-06-01", env=env
    )
    assert revoked["effective_at"] == "2030-06-01T00:00:00Z"

    new = run_json("keygen", "keygen", "--out", tmp_path / "b2.pem", env=env)
    rotated = run_json(
        "rotate", "rotate", "--key", b_pem, "--new-key", tmp_path / "b2.pem", env=env
    )
    assert (rotated["old_key_id"], rotated["key_id"]) == (buyer["key_id"], new["key_id"])
    gone = run_json(
        "revoke-key", "revoke-key", "--key", tmp_path / "b2.pem", "--reason", "retired", env=env
    )
    assert gone["revoked"] == new["key_id"]


@pytest.mark.parametrize("args", [["log"], ["keygen", "--out", "k.pem"]])
def test_without_json_the_output_is_for_people(
    user_env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    result = run_ledger(*args, env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not result.stdout.lstrip().startswith("{")
    assert re.match(r"^(origin|key_id) +\S+$", result.stdout.splitlines()[0])
