"""Content manifests: the list of files that ``ledger hash`` writes and ``grant``/``prove`` read.

Two equivalent encodings are written, chosen by the file name's ending:

- JSON (``.json``): ``{"manifest": "consent-ledger/v1", "items": [ITEM, ...]}`` where ITEM is
  ``{"path": str, "sha256": 64 lowercase hex, "bytes": int, "duration_s": int | null,
  "media_type": str | null}``;
- CSV (anything else, e.g. ``.csv``): a header row
  ``sha256,bytes,duration_s,media_type,path,c2pa,c2pa_signer,c2pa_training,c2pa_hash`` then one
  row per file; an empty ``duration_s`` or ``media_type`` cell means unknown.

The ``c2pa`` columns say what the file's C2PA manifest says (``ledger.content.c2pa``): its
validation state (``none``: no manifest; ``Invalid``, ``Valid``, ``Trusted``, ``unreadable``;
empty: not read, the library being absent), the signer, the training-and-data-mining entries as
compact JSON in the CAWG shape (``{"ai_training":{"use":"notAllowed"}}``) and the manifest
store's hash. In JSON they are one member, ``"c2pa": null | {"state", "signer", "training",
"manifest_hash", "where", "grant", "problems"}``.

Reading also takes what other tools write, since a buyer's list of files rarely comes from us:

- a UTF-8 byte order mark (Excel), CRLF line ends, blank lines and ``#`` comment lines;
- hex in either case (PowerShell's ``Get-FileHash`` writes uppercase), kept in lowercase;
- a CSV whose header names its columns in any order and case, where the hash column is
  ``sha256`` or ``hash`` (``Get-FileHash | Export-Csv`` writes ``"Algorithm","Hash","Path"``;
  its ``Algorithm`` must then be SHA256) and the other columns are optional;
- ``sha256sum`` / ``shasum -a 256`` output (``HASH  path`` or ``HASH *path``, with coreutils'
  ``\\`` escapes), their ``--tag`` form ``SHA256 (path) = HASH``, and lists of one hash a line.

What a format does not say (a size, a duration) is None: ``prove`` needs only the hashes,
``grant`` refuses an item without a size. ``path`` is informational (where the file was when
hashed); the content is identified by ``sha256`` alone. A malformed manifest raises
``InvalidManifest`` naming the file (``read_manifest``) and the line. Repeated contents are kept,
each item with the line it was read from, for the caller to report (``unique_items``). No I/O
beyond the manifest file itself.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ledger.content.c2pa import (
    INVALID,
    NONE,
    TRUSTED,
    UNREADABLE,
    VALID,
    C2paSummary,
    GrantBinding,
    training_from_json,
    training_json,
)
from ledger.core.errors import InvalidManifest

MANIFEST_TAG = "consent-ledger/v1"
CSV_FIELDS = ("sha256", "bytes", "duration_s", "media_type", "path")
C2PA_FIELDS = ("c2pa", "c2pa_signer", "c2pa_training", "c2pa_hash")
_C2PA_STATES = frozenset({NONE, INVALID, VALID, TRUSTED, UNREADABLE})
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
#: ``sha256sum`` / ``shasum -a 256`` lines: ``HASH  path`` (text mode) or ``HASH *path``
#: (binary mode), a ``\`` first when the path is escaped; a single space; or a bare hash.
_SUM_LINE = re.compile(r"(\\?)([0-9a-fA-F]{64})(?:(?:  | \*| )(.*))?")
#: the BSD and ``--tag`` form: ``SHA256 (path) = HASH``.
_TAG_LINE = re.compile(r"(\\?)SHA256 \((.*)\) = ([0-9a-fA-F]{64})")
_HASH_COLUMNS = ("sha256", "hash")


@dataclass(frozen=True)
class ManifestItem:
    """One hashed file."""

    sha256: str
    bytes: int | None
    duration_s: int | None = None
    media_type: str | None = None
    path: str = ""
    #: where the item was read (``line 7``, ``item 3``): for messages, not part of the item
    where: str | None = field(default=None, compare=False)
    #: what its C2PA manifest says; None: not read (docs above)
    c2pa: C2paSummary | None = None

    def describe(self) -> str:
        """The item for a message: its path (else its hash) and where it was read."""
        name = self.path or self.sha256
        return name if self.where is None else f"{name} ({self.where})"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "duration_s": self.duration_s,
            "media_type": self.media_type,
            "c2pa": None if self.c2pa is None else self.c2pa.to_json(),
        }


def _item(raw: dict[str, Any], where: str) -> ManifestItem:
    sha = raw.get("sha256")
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
        shown = sha[:80] if isinstance(sha, str) else sha
        raise InvalidManifest(f"{where}: sha256 must be 64 hex digits, not {shown!r}")
    size = raw.get("bytes")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise InvalidManifest(f"{where}: bytes must be a non-negative integer or empty")
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
    c2pa = _c2pa(raw.get("c2pa"), where)
    return ManifestItem(sha.lower(), size, duration, media_type, path, where, c2pa)


def _c2pa(raw: object, where: str) -> C2paSummary | None:
    """The ``c2pa`` member (JSON) or columns (CSV, gathered into the same shape)."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("state") not in _C2PA_STATES:
        raise InvalidManifest(f"{where}: c2pa state must be one of {sorted(_C2PA_STATES)}")
    signer, store_hash = raw.get("signer"), raw.get("manifest_hash")
    if signer is not None and not isinstance(signer, str):
        raise InvalidManifest(f"{where}: c2pa signer must be a string")
    if store_hash is not None and not (
        isinstance(store_hash, str) and _HEX64.fullmatch(store_hash)
    ):
        raise InvalidManifest(f"{where}: c2pa_hash must be 64 hex digits or empty")
    training = raw.get("training") or {}
    if not isinstance(training, dict):
        raise InvalidManifest(f"{where}: c2pa training must be an object")
    grant = raw.get("grant")
    binding = None
    if isinstance(grant, dict):
        try:
            binding = GrantBinding(**grant)
        except TypeError as e:
            raise InvalidManifest(
                f"{where}: c2pa grant must name origin, grant_id, seq, statement_hash"
            ) from e
    where_found = raw.get("where")
    problems = raw.get("problems") or []
    return C2paSummary(
        state=raw["state"],
        signer=signer or None,
        training=training_from_json(training),
        manifest_hash=store_hash.lower() if store_hash else None,
        where=where_found if isinstance(where_found, str) else None,
        binding=binding,
        problems=tuple(str(p) for p in problems) if isinstance(problems, list) else (),
    )


def _c2pa_cells(cells: dict[str, str], where: str) -> dict[str, Any] | None:
    if not cells.get("c2pa"):
        return None
    text = cells.get("c2pa_training", "")
    try:
        training = json.loads(text) if text else {}
    except ValueError as e:
        raise InvalidManifest(f"{where}: c2pa_training must be a JSON object: {e}") from e
    return {
        "state": cells["c2pa"],
        "signer": cells.get("c2pa_signer") or None,
        "training": training,
        "manifest_hash": cells.get("c2pa_hash") or None,
    }


def _int_cell(cell: str, name: str, where: str) -> int | None:
    if cell == "":
        return None
    if not (cell.isascii() and cell.isdigit()):
        raise InvalidManifest(f"{where}: {name} must be a non-negative integer")
    return int(cell)


def parse_manifest(text: str, *, is_json: bool) -> list[ManifestItem]:
    """Parse manifest text (JSON, or any of the line formats); raises ``InvalidManifest``."""
    text = text.removeprefix("\ufeff")
    if is_json:
        return _parse_json(text)
    lines = text.splitlines()
    first = next((line.strip() for line in lines if _holds_item(line)), None)
    if first is None:
        raise InvalidManifest("no items: the manifest is empty")
    if _SUM_LINE.fullmatch(first) or _TAG_LINE.fullmatch(first):
        return _parse_sums(lines)
    return _parse_csv(text)


def _holds_item(line: str) -> bool:
    """Whether a line holds an item (not blank, not a ``#`` comment)."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _parse_json(text: str) -> list[ManifestItem]:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise InvalidManifest(f"not JSON: {e}") from e
    if not isinstance(doc, dict) or doc.get("manifest") != MANIFEST_TAG:
        raise InvalidManifest(f'a JSON manifest is {{"manifest": "{MANIFEST_TAG}", ...}}')
    items = doc.get("items")
    if not isinstance(items, list):
        raise InvalidManifest("items must be a list")
    return [_item(raw if isinstance(raw, dict) else {}, f"item {i}") for i, raw in enumerate(items)]


def _unescape(path: str) -> str:
    """coreutils' escaping of a path holding a backslash or a newline (the line starts with
    ``\\``): ``\\\\`` is a backslash, ``\\n`` a newline."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), path)


def _parse_sums(lines: list[str]) -> list[ManifestItem]:
    """``sha256sum``/``shasum -a 256`` output (either form) or a list of hashes."""
    out = []
    for n, line in enumerate(lines, start=1):
        if not _holds_item(line):
            continue
        where = f"line {n}"
        text = line.strip()  # a path's own leading or trailing spaces are lost: rare, harmless
        if match := _SUM_LINE.fullmatch(text):
            escaped, sha, path = match.group(1), match.group(2), match.group(3) or ""
        elif match := _TAG_LINE.fullmatch(text):
            escaped, path, sha = match.groups()
        else:
            raise InvalidManifest(
                f"{where}: expected a SHA-256 and a path as sha256sum writes them"
                f" (HASH  path), not {text[:80]!r}"
            )
        out.append(_item({"sha256": sha, "path": _unescape(path) if escaped else path}, where))
    return out


def _parse_csv(text: str) -> list[ManifestItem]:
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    out = []
    for row in reader:
        where = f"line {reader.line_num}"
        if not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue  # blank lines, comments (and Export-Csv's "#TYPE ..." line)
        if header is None:
            header = [cell.strip().lower() for cell in row]
            _check_header(header, where)
            continue
        if len(row) != len(header):
            raise InvalidManifest(f"{where}: expected {len(header)} cells, got {len(row)}")
        cells = dict(zip(header, (cell.strip() for cell in row), strict=True))
        if cells.get("algorithm", "sha256").lower() != "sha256":
            raise InvalidManifest(f"{where}: the algorithm is {cells['algorithm']}, not SHA256")
        raw = {
            "sha256": next(cells[c] for c in _HASH_COLUMNS if c in cells),
            "bytes": _int_cell(cells.get("bytes", ""), "bytes", where),
            "duration_s": _int_cell(cells.get("duration_s", ""), "duration_s", where),
            "media_type": cells.get("media_type") or None,
            "path": cells.get("path", ""),
            "c2pa": _c2pa_cells(cells, where),
        }
        out.append(_item(raw, where))
    return out


def _check_header(header: list[str], where: str) -> None:
    if sum(header.count(c) for c in _HASH_COLUMNS) != 1 or len(set(header)) != len(header):
        raise InvalidManifest(
            f"{where}: a CSV manifest starts with the header {','.join(CSV_FIELDS)} (a sha256 or"
            f" hash column, the others optional), not {','.join(header)[:80]!r};"
            " or give one SHA-256 a line, as sha256sum writes them"
        )


def unique_items(
    items: Sequence[ManifestItem],
) -> tuple[list[ManifestItem], list[tuple[ManifestItem, ManifestItem]]]:
    """The items with each content once (its first item), and each later item that repeats a
    content, paired with that first item."""
    first: dict[str, ManifestItem] = {}
    repeats = []
    for item in items:
        if item.sha256 in first:
            repeats.append((item, first[item.sha256]))
        else:
            first[item.sha256] = item
    return list(first.values()), repeats


def read_manifest(path: Path) -> list[ManifestItem]:
    """Read a manifest file: JSON when its name ends in ``.json``, else CSV or a list of
    SHA-256 lines (detected). Each item's ``where`` names the file and its line (or item).
    Raises ``InvalidManifest``, its message starting with the file's name."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as e:
        raise InvalidManifest(f"cannot read manifest {path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise InvalidManifest(f"{path}: not UTF-8 text (byte {e.start})") from e
    try:
        items = parse_manifest(text, is_json=str(path).lower().endswith(".json"))
    except InvalidManifest as e:
        raise InvalidManifest(f"{path}: {e.message}") from e
    return [replace(i, where=f"{path}, {i.where}") for i in items]


def format_manifest(items: Iterable[ManifestItem], *, as_json: bool) -> str:
    if as_json:
        doc = {"manifest": MANIFEST_TAG, "items": [i.to_json() for i in items]}
        return json.dumps(doc, indent=1) + "\n"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS + C2PA_FIELDS)
    for i in items:
        writer.writerow(
            [
                i.sha256,
                "" if i.bytes is None else i.bytes,
                "" if i.duration_s is None else i.duration_s,
                i.media_type or "",
                i.path,
                *_c2pa_row(i.c2pa),
            ]
        )
    return buf.getvalue()


def _c2pa_row(c2pa: C2paSummary | None) -> list[str]:
    if c2pa is None:
        return ["", "", "", ""]
    training = training_json(c2pa.training)
    return [
        c2pa.state,
        c2pa.signer or "",
        json.dumps(training, separators=(",", ":"), sort_keys=True) if training else "",
        c2pa.manifest_hash or "",
    ]


def write_manifest(path: Path, items: Sequence[ManifestItem]) -> None:
    """Write a manifest (JSON when the name ends in ``.json``, else CSV)."""
    text = format_manifest(items, as_json=str(path).lower().endswith(".json"))
    Path(path).write_text(text, encoding="utf-8")
