"""Manifests round-trip in both encodings and reject malformed rows by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.content.manifest import (
    InvalidManifest,
    ManifestItem,
    parse_manifest,
    read_manifest,
    write_manifest,
)

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
        ("sha256,bytes\n", False, "header"),
        ("sha256,bytes,duration_s,media_type,path\nAB,1,,,x\n", False, "line 2: sha256"),
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
