"""Manifests round-trip in both encodings, read what other tools write (Excel, PowerShell,
sha256sum), reject malformed rows naming the file and line, and repeats are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.content.manifest import (
    InvalidManifest,
    ManifestItem,
    parse_manifest,
    read_manifest,
    unique_items,
    write_manifest,
)
from tests.cli.clitools import assert_one_line_failure, run_ledger
from tests.cli.test_flow import party

ITEMS = [
    ManifestItem("ab" * 32, 1_000_000, 60, "video/mp4", "clips/a.mp4"),
    ManifestItem("cd" * 32, 5, None, None, "notes, with comma.txt"),
]


@pytest.mark.parametrize("name", ["m.json", "m.csv"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    write_manifest(tmp_path / name, ITEMS)
    assert read_manifest(tmp_path / name) == ITEMS


@pytest.mark.parametrize(
    ("text", "is_json", "fragment"),
    [
        ("sha256,bytes,duration_s,media_type,path\nAB,1,,,x\n", False, "line 2: sha256"),
        ("sha256,bytes,duration_s,media_type,path\n" + "ab" * 32 + ",\u0661,,,x\n", False, "bytes"),
        ("sha256,bytes,duration_s,media_type,path\n" + "ab" * 32 + ",-1,,,x\n", False, "bytes"),
        ("sha256,bytes,duration_s,media_type,path\n" + "ab" * 32 + ",1,,\n", False, "4"),
        ('{"items": []}', True, "manifest"),
        ('{"manifest": "consent-ledger/v1", "items": [{"sha256": 1}]}', True, "item 0"),
        ("{", True, "not JSON"),
    ],
)
def test_malformed_manifests_are_rejected(text: str, is_json: bool, fragment: str) -> None:
    with pytest.raises(InvalidManifest, match=fragment):
        parse_manifest(text, is_json=is_json)


A, B, C = "ab" * 32, "cd" * 32, "ef" * 32
# What other tools write for the same files (one test each, by name)
FOREIGN = {
    "excel csv (BOM, CRLF, blank line, comment)": (
        "\ufeffsha256,bytes,duration_s,media_type,path\r\n"
        f"# exported from the archive\r\n\r\n{A},10,60,video/mp4,a.mp4\r\n{B},20,,,b.mov\r\n"
    ),
    "columns in another order and case": f"Path,SHA256,Bytes\na.mp4,{A},10\nb.mov,{B},20\n",
    "Get-FileHash | Export-Csv": (
        '#TYPE Microsoft.Powershell.Utility.FileHash\n"Algorithm","Hash","Path"\n'
        f'"SHA256","{A.upper()}","C:\\clips\\a.mp4"\n"SHA256","{B.upper()}","C:\\clips\\b.mov"\n'
    ),
    "sha256sum": f"{A}  a.mp4\n{B} *b.mov\n",
    "shasum -a 256 --tag": f"SHA256 (a.mp4) = {A}\nSHA256 (b.mov) = {B}\n",
    "hash-only list (no path)": f"# the dataset\n{A.upper()}\n\n{B}\n",
}


@pytest.mark.parametrize("text", FOREIGN.values(), ids=FOREIGN.keys())
def test_what_other_tools_write_is_read(tmp_path: Path, text: str) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(text.encode())
    items = read_manifest(path)
    assert [i.sha256 for i in items] == [A, B]
    assert items[0].path.endswith("a.mp4") or "path" not in text.lower()
    assert str(items[0].where).startswith(f"{path}, line ")


def test_sha256sum_escaped_paths_and_sizes_left_unknown() -> None:
    items = parse_manifest(f"\\{A}  dir\\\\odd\\nname.mp4\n{B}  plain.mp4\n", is_json=False)
    assert [(i.path, i.bytes) for i in items] == [("dir\\odd\nname.mp4", None), ("plain.mp4", None)]


def test_repeats_are_kept_for_the_caller_with_their_lines() -> None:
    items = parse_manifest(f"{A}  a.mp4\n{B}  b.mp4\n{A.upper()}  copy-of-a.mp4\n", is_json=False)
    unique, repeats = unique_items(items)
    assert [i.sha256 for i in unique] == [A, B]
    [(repeat, first)] = repeats
    assert (repeat.describe(), first.describe()) == ("copy-of-a.mp4 (line 3)", "a.mp4 (line 1)")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("\n# only a comment\n", "no items"),
        (f"{A}  a.mp4\nnot a hash line\n", "line 2: expected a SHA-256 and a path"),
        (f"Algorithm,Hash,Path\nMD5,{A},a\n", "line 2: the algorithm is MD5, not SHA256"),
        ("path,size\na,1\n", "line 1: a CSV manifest starts with the header"),
        (f"sha256,hash\n{A},{B}\n", "line 1: a CSV manifest starts with the header"),
        (f"sha256,bytes\n\n\n{A[:-1]}x,1\n", "line 4: sha256 must be 64 hex digits"),
    ],
)
def test_errors_name_the_line(text: str, fragment: str) -> None:
    with pytest.raises(InvalidManifest, match=fragment):
        parse_manifest(text, is_json=False)


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dataset.csv"
    path.write_text(f"sha256,bytes\n{A},-1\n")
    with pytest.raises(InvalidManifest, match=rf"{path}: line 2: bytes must be"):
        read_manifest(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(InvalidManifest, match=rf"{path}: not UTF-8 text"):
        read_manifest(path)


def test_prove_takes_sha256sum_output_and_reports_repeats(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    """Through the real command and server: no grant exists, so every clip is NOT licensed,
    but the bundle is built from the hashes of a sha256sum list with a repeat reported."""
    _, buyer = party(tmp_path, user_env, "Manifest Buyer")  # the log is not empty
    listing = tmp_path / "SHA256SUMS"
    listing.write_text(f"# sums\n{A.upper()}  a.mp4\n\n{B}  b.mp4\n{A}  again/a.mp4\n")
    out = tmp_path / "evidence.json"
    proved = run_ledger(
        "prove", "--buyer", buyer, "--use", "ai_training", "--manifest", listing, "--out", out,
        env=user_env,
    )  # fmt: skip
    assert proved.returncode == 0, proved.stderr
    assert (
        f"ledger: again/a.mp4 ({listing}, line 5) has the same content as a.mp4 ({listing},"
        " line 2): listed once" in proved.stderr
    )
    bundle = json.loads(out.read_text())
    assert sorted(i["sha256"] for i in bundle["items"]) == [A, B]


def test_grant_refuses_a_list_without_sizes_naming_the_item(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    assert run_ledger("keygen", "--out", tmp_path / "k.pem").returncode == 0
    listing = tmp_path / "sums.txt"
    listing.write_text(f"{A}  a.mp4\n")
    granted = run_ledger(
        "grant", "--key", tmp_path / "k.pem", "--buyer", C, "--use", "ai_training", "--price",
        "1", "--currency", "USD", "--per", "clip", "--end", "2031-01-01", "--manifest", listing,
        env=user_env,
    )  # fmt: skip
    assert_one_line_failure(granted, 2, f"the size of a.mp4 ({listing}, line 1) is unknown")


def test_a_bad_manifest_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    listing = tmp_path / "dataset.csv"
    listing.write_text(f"sha256,bytes\n{A},1\n{B},x\n")
    proved = run_ledger(
        "prove", "--buyer", C, "--use", "ai_training", "--manifest", listing, "--out",
        tmp_path / "e.json", "--url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert_one_line_failure(proved, 2, f"{listing}: line 3: bytes must be a non-negative integer")
