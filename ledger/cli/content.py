"""``ledger hash``: fingerprints of footage (SHA-256, size, media type, duration) and manifests."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ledger.cli.common import EXIT_OK, CliError, add_force_arg, add_json_arg, print_json, say
from ledger.content.c2pa import NONE, C2paSummary
from ledger.content.hashing import (
    EMPTY,
    EXCLUDED,
    HIDDEN,
    SIDECAR,
    Selection,
    Skipped,
    collect,
    hash_files,
    make_progress,
)
from ledger.content.manifest import ManifestItem, read_manifest, unique_items, write_manifest
from ledger.core.errors import LedgerError


def manifest_items(path: Path) -> list[ManifestItem]:
    """``--manifest FILE``'s items, each content once (repeats said on stderr); CliError
    (usage) naming the file and line of what is malformed."""
    try:
        items = read_manifest(path)
    except LedgerError as e:
        raise CliError(e.message) from e
    return listed_once(items)


def listed_once(items: Sequence[ManifestItem]) -> list[ManifestItem]:
    """``items`` with each content once; says on stderr which items repeat which."""
    unique, repeats = unique_items(items)
    for item, first in repeats:
        say(f"{item.describe()} has the same content as {first.describe()}: listed once")
    if repeats:
        say(f"{len(repeats)} repeated item(s) left out, {len(unique)} distinct")
    return unique


def add_hash_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="hash N files at once (default 1; one core hashes about 1.5 GB/s)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: when stderr is a terminal)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="leave out files and folders whose name, or path under the folder given, matches"
        " PATTERN (shell-style: '*.txt', 'proxies/*'); repeatable",
    )
    parser.add_argument(
        "--include-hidden",
        action="store_true",
        help="also hash hidden files and folders (.DS_Store, .git), left out by default",
    )
    parser.add_argument(
        "--include-empty", action="store_true", help="also hash empty files, left out by default"
    )
    parser.add_argument(
        "--no-c2pa",
        action="store_true",
        help="do not read the files' C2PA manifests (read by default: docs/CLI.md)",
    )


#: What each reason for leaving a file out is called, and the option that takes it instead.
_LEFT_OUT = {
    HIDDEN: ("hidden", "--include-hidden hashes them"),
    EMPTY: ("empty", "--include-empty hashes them"),
    EXCLUDED: ("matching --exclude", None),
    SIDECAR: ("C2PA sidecar manifest(s), read with their clips", "name one to hash it"),
}


def hash_paths(args: argparse.Namespace) -> list[ManifestItem]:
    """Hash every file under ``args.paths`` that the options select (``add_hash_args``); says
    on stderr what it left out and skipped, and why."""
    if args.jobs < 1:
        raise CliError("--jobs must be at least 1")
    selection = Selection(tuple(args.exclude), args.include_hidden, args.include_empty)
    try:
        files, skipped = collect(args.paths, selection)
    except FileNotFoundError as e:
        raise CliError(f"no such file or folder: {e.filename}") from e
    except OSError as e:
        raise CliError(f"cannot read {e.filename}: {e.strerror}") from e
    progress = make_progress(files, args.progress)
    items: list[ManifestItem] = []
    for result in hash_files(files, args.jobs, progress, read_c2pa=not args.no_c2pa):
        if isinstance(result, Skipped):
            skipped.append(result)
        else:
            items.append(result)
    progress.finish()
    _say_left_out([s for s in skipped if s.reason in _LEFT_OUT])
    errors = [s for s in skipped if s.reason not in _LEFT_OUT]
    for s in errors:
        say(f"skipped {s.path}: {s.reason}")
    if errors:
        say(f"{len(errors)} path(s) skipped, {len(items)} hashed")
    if not items:
        raise CliError("no files to hash")
    unread = [i.path for i in items if i.c2pa is None]
    if unread and not args.no_c2pa:
        say(
            f"C2PA manifests not read for {len(unread)} file(s) (such as {unread[0]}): that needs"
            " the c2pa-python library, pip install 'consent-ledger[c2pa]'"
        )
    return items


def _say_left_out(left_out: Sequence[Skipped]) -> None:
    for reason, (words, opt_in) in _LEFT_OUT.items():
        paths = [s.path for s in left_out if s.reason == reason]
        if paths:
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            say(f"left out {len(paths)} {words}: {shown}" + (f" ({opt_in})" if opt_in else ""))


def cmd_hash(args: argparse.Namespace) -> int:
    """SHA-256 (streamed), size, media type and duration of files and folders (recursive)."""
    items = hash_paths(args)
    if args.json:
        print_json({"items": [_item_json(i) for i in items]})
    for i in items if not args.json else ():
        duration = "-" if i.duration_s is None else str(i.duration_s)
        print(f"{i.sha256}  {i.bytes}  {duration}  {i.media_type or '-'}  {i.path}")
        if i.c2pa is not None and i.c2pa.state != NONE:
            for line in c2pa_lines(i.c2pa):
                print(f"  {line}")
    if args.out is not None:
        try:
            write_manifest(args.out, items)
        except OSError as e:
            raise CliError(f"cannot write {args.out}: {e.strerror}") from e
        print(f"ledger: wrote {len(items)} item(s) to {os.fspath(args.out)}", file=sys.stderr)
    return EXIT_OK


def _item_json(item: ManifestItem) -> dict[str, Any]:
    keys = ("sha256", "bytes", "duration_s", "media_type", "path")
    out = {k: getattr(item, k) for k in keys}
    out["c2pa"] = None if item.c2pa is None else item.c2pa.to_json()
    return out


def c2pa_lines(c2pa: C2paSummary) -> list[str]:
    """What a file's manifest says, for people: state, signer, each training-mining entry."""
    where = f" ({c2pa.where})" if c2pa.where else ""
    lines = [f"c2pa {c2pa.state}{where}" + (f", signed by {c2pa.signer}" if c2pa.signer else "")]
    if c2pa.problems:
        lines.append(f"c2pa problems: {', '.join(c2pa.problems)}")
    for p in c2pa.training:
        text = f": {p.constraint}" if p.constraint else ""
        lines.append(f"c2pa {p.use} {p.value}{text}")
    if c2pa.binding is not None:
        b = c2pa.binding
        lines.append(f"c2pa bound to grant {b.grant_id} (seq {b.seq}, log {b.origin})")
    return lines


def register(sub: Any) -> None:
    p = sub.add_parser(
        "hash",
        help=cmd_hash.__doc__,
        description=f"{cmd_hash.__doc__}"
        " Prints one line per file: sha256, bytes, duration in seconds, media type, path"
        " ('-' where unknown); below a file that carries a C2PA manifest, indented lines: its"
        " validation state and signer, and each use its training-and-data-mining assertion"
        " allows, does not allow or constrains.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    p.add_argument(
        "--out",
        type=Path,
        help="write a manifest for grant/prove: JSON if FILE ends in .json, else CSV",
    )
    add_force_arg(p)
    add_json_arg(p)
    add_hash_args(p)
    p.set_defaults(func=cmd_hash)
