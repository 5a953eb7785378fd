"""Content manifests: the list of files that ``ledger hash`` writes and ``grant``/``prove`` read.

Two equivalent encodings, chosen by the file name's ending:

- JSON (``.json``): ``{"manifest": "consent-ledger/v1", "items": [ITEM, ...]}`` where ITEM is
  ``{"path": str, "sha256": 64 lowercase hex, "bytes": int, "duration_s": int | null,
  "media_type": str | null}``;
- CSV (anything else, e.g. ``.csv``): a header row ``sha256,bytes,duration_s,media_type,path``
  then one row per file; an empty ``duration_s`` or ``media_type`` cell means unknown.

``path`` is informational (where the file was when hashed); the content is identified by
``sha256`` alone. Reading is strict: a malformed manifest raises ``InvalidManifest`` naming the
row. No I/O beyond the manifest file itself.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.core.errors import InvalidManifest

MANIFEST_TAG = "consent-ledger/v1"
CSV_FIELDS = ("sha256", "bytes", "duration_s", "media_type", "path")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ManifestItem:
    """One hashed file."""

    sha256: str
    bytes: int
    duration_s: int | None = None
    media_type: str | None = None
    path: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "duration_s": self.duration_s,
            "media_type": self.media_type,
        }


def _item(raw: dict[str, Any], where: str) -> ManifestItem:
    sha = raw.get("sha256")
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
        raise InvalidManifest(f"{where}: sha256 must be 64 lowercase hex digits")
    size = raw.get("bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidManifest(f"{where}: bytes must be a non-negative integer")
    duration = raw.get("duration_s")
    if duration is not None and (
        not isinstance(duration, int) or isinstance(duration, bool) or duration < 0
    ):
        raise InvalidManifest(f"{where}: duration_s must be a non-negative integer or empty")
    media_type = raw.get("media_type")
    if media_type is not None and (not isinstance(media_type, str) or not media_type):
        raise InvalidManifest(f"{where}: media_type must be a non-empty string or empty")
    path = raw.get("path", "")
    if not isinstance(path, str):
        raise InvalidManifest(f"{where}: path must be a string")
    return ManifestItem(sha, size, duration, media_type, path)


def _int_cell(cell: str, name: str, where: str) -> int | None:
    if cell == "":
        return None
    if not cell.isdigit():
        raise InvalidManifest(f"{where}: {name} must be a non-negative integer")
    return int(cell)


def parse_manifest(text: str, *, is_json: bool) -> list[ManifestItem]:
    """Parse manifest text (JSON or CSV); raises ``InvalidManifest``."""
    if is_json:
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise InvalidManifest(f"not JSON: {e}") from e
        if not isinstance(doc, dict) or doc.get("manifest") != MANIFEST_TAG:
            raise InvalidManifest(f'a JSON manifest is {{"manifest": "{MANIFEST_TAG}", ...}}')
        items = doc.get("items")
        if not isinstance(items, list):
            raise InvalidManifest("items must be a list")
        return [
            _item(raw if isinstance(raw, dict) else {}, f"item {i}") for i, raw in enumerate(items)
        ]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != CSV_FIELDS:
        raise InvalidManifest(f"a CSV manifest starts with the header {','.join(CSV_FIELDS)}")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        where = f"line {n}"
        if len(row) != len(CSV_FIELDS):
            raise InvalidManifest(f"{where}: expected {len(CSV_FIELDS)} cells, got {len(row)}")
        sha, size, duration, media_type, path = row
        raw = {
            "sha256": sha,
            "bytes": _int_cell(size, "bytes", where),
            "duration_s": _int_cell(duration, "duration_s", where),
            "media_type": media_type or None,
            "path": path,
        }
        out.append(_item(raw, where))
    return out


def read_manifest(path: Path) -> list[ManifestItem]:
    """Read a manifest file; JSON when its name ends in ``.json``, CSV otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidManifest(f"cannot read manifest {path}: {e}") from e
    return parse_manifest(text, is_json=str(path).lower().endswith(".json"))


def format_manifest(items: Iterable[ManifestItem], *, as_json: bool) -> str:
    if as_json:
        doc = {"manifest": MANIFEST_TAG, "items": [i.to_json() for i in items]}
        return json.dumps(doc, indent=1) + "\n"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for i in items:
        writer.writerow(
            [
                i.sha256,
                i.bytes,
                "" if i.duration_s is None else i.duration_s,
                i.media_type or "",
                i.path,
            ]
        )
    return buf.getvalue()


def write_manifest(path: Path, items: Sequence[ManifestItem]) -> None:
    """Write a manifest (JSON when the name ends in ``.json``, else CSV)."""
    text = format_manifest(items, as_json=str(path).lower().endswith(".json"))
    Path(path).write_text(text, encoding="utf-8")
