"""``ledger hash``: fingerprints of footage (SHA-256, size, media type, duration) and manifests."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ledger.cli.common import EXIT_OK, CliError, say
from ledger.content.hashing import Skipped, collect, hash_files, make_progress
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


def hash_paths(paths: Sequence[Path], jobs: int, progress_mode: str) -> list[ManifestItem]:
    """Hash every file under ``paths``; says on stderr what it skipped and why."""
    if jobs < 1:
        raise CliError("--jobs must be at least 1")
    try:
        files, skipped = collect(paths)
    except FileNotFoundError as e:
        raise CliError(f"no such file or folder: {e.filename}") from e
    except OSError as e:
        raise CliError(f"cannot read {e.filename}: {e.strerror}") from e
    progress = make_progress(files, progress_mode)
    items: list[ManifestItem] = []
    for result in hash_files(files, jobs, progress):
        if isinstance(result, Skipped):
            skipped.append(result)
        else:
            items.append(result)
    progress.finish()
    for s in skipped:
        print(f"ledger: skipped {s.path}: {s.reason}", file=sys.stderr)
    if skipped:
        print(f"ledger: {len(skipped)} path(s) skipped, {len(items)} hashed", file=sys.stderr)
    if not items:
        raise CliError("no files to hash")
    return items


def cmd_hash(args: argparse.Namespace) -> int:
    """SHA-256 (streamed), size, media type and duration of files and folders (recursive)."""
    items = hash_paths(args.paths, args.jobs, args.progress)
    for i in items:
        duration = "-" if i.duration_s is None else str(i.duration_s)
        print(f"{i.sha256}  {i.bytes}  {duration}  {i.media_type or '-'}  {i.path}")
    if args.out is not None:
        try:
            write_manifest(args.out, items)
        except OSError as e:
            raise CliError(f"cannot write {args.out}: {e.strerror}") from e
        print(f"ledger: wrote {len(items)} item(s) to {os.fspath(args.out)}", file=sys.stderr)
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "hash",
        help=cmd_hash.__doc__,
        description=f"{cmd_hash.__doc__}"
        " Prints one line per file: sha256, bytes, duration in seconds, media type, path"
        " ('-' where unknown).",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    p.add_argument(
        "--out",
        type=Path,
        help="write a manifest for grant/prove: JSON if FILE ends in .json, else CSV",
    )
    add_hash_args(p)
    p.set_defaults(func=cmd_hash)
