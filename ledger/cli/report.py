"""``ledger report``: an evidence bundle as a report for people (HTML or PDF).

The report re-does every verification with the offline verifier (``ledger.core.evidence``); it
never shows the bundle's own verdicts as facts. A bundle that fails verification is still
rendered, with the failures at the top, and the command exits 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

from ledger.cli.common import (
    EXIT_OK,
    EXIT_VERIFY,
    CliError,
    add_force_arg,
    add_log_key_args,
    offline_log_key,
    read_policy,
    state_dir,
    write_output,
)
from ledger.client.evidence import named_log
from ledger.client.trust import KeySource, LogKey, urls_of
from ledger.content.manifest import read_manifest
from ledger.core.errors import LedgerError
from ledger.core.evidence import load_bundle
from ledger.report import FORMATS, build_report, render
from ledger.report.model import MAX_LISTED, FontsMissing


def _named_log(data: bytes) -> tuple[str | None, str | None]:
    try:
        return named_log(load_bundle(data))
    except LedgerError:
        return None, None  # the report says what is wrong with the file


def _note(key: LogKey) -> str:
    if key.source is KeySource.PINNED:
        return f"pinned in {key.pin_path}"
    return "given with --log-key"


def manifest_names(path: Path | None) -> dict[str, str]:
    """The file names a manifest gives each content hash (several joined by ``, ``); empty
    without a manifest. CliError (usage) for one that cannot be read."""
    if path is None:
        return {}
    try:
        items = read_manifest(path)
    except LedgerError as e:
        raise CliError(e.message) from e
    names: dict[str, list[str]] = {}
    for item in items:
        names.setdefault(item.sha256, []).append(item.path or "(no name)")
    return {sha256: ", ".join(paths) for sha256, paths in names.items()}


def _known_url(args: argparse.Namespace, origin: str | None) -> str | None:
    """The URL this machine reached the bundle's log at, if it did (one, else none)."""
    if origin is None:
        return None
    try:
        urls = urls_of(state_dir(args), origin)
    except LedgerError:
        return None  # an unreadable state folder only costs the report the log's URL
    return urls[0] if len(urls) == 1 else None


def cmd_report(args: argparse.Namespace) -> int:
    """Verify an evidence bundle again and write a report for people (HTML or PDF)."""
    bundle_path = Path(args.bundle)
    try:
        data = bundle_path.read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {bundle_path}: {e.strerror}") from e
    fmt = args.format or ("pdf" if str(args.out).lower().endswith(".pdf") else "html")
    if fmt == "pdf" and importlib.util.find_spec("fpdf") is None:
        raise CliError(
            "PDF reports need fpdf2: pip install 'consent-ledger[report]' (or --format html)"
        )
    names = manifest_names(args.manifest)
    origin, named = _named_log(data)
    key = offline_log_key(args, origin, named, "bundle")
    given = key is not None and key.source is not KeySource.FIRST_USE
    report = build_report(
        data,
        bundle_name=bundle_path.name,
        # the key the bundle names is left to the report, which flags it as not independent
        log_key=key.verifier.to_vkey() if key is not None and given else None,
        log_key_note=None if key is None or not given else _note(key),
        policy=read_policy(args.policy),
        names=names,
        manifest_name=None if args.manifest is None else str(args.manifest),
        log_url=args.log_url or _known_url(args, origin),
    )
    try:
        rendered = render(report, fmt)
    except FontsMissing as e:
        raise CliError(str(e)) from e
    write_output(Path(args.out), rendered)
    print(report.answer)  # the answer first, then whether it holds
    if report.ok and not given:
        print(
            f"{args.out}: VERIFIED under the key the bundle itself names, not one you trust:"
            " give --log-key (the log's key, obtained independently) for a verification"
            " that means something"
        )
        return EXIT_OK
    if report.ok:
        print(f"{args.out}: VERIFIED ({len(report.steps)} checks passed)")
        return EXIT_OK
    print(f"{args.out}: VERIFICATION FAILED ({len(report.failures)} problem(s))", file=sys.stderr)
    for failure in report.failures[:MAX_LISTED]:
        print(f"  {failure}", file=sys.stderr)
    if len(report.failures) > MAX_LISTED:
        print(
            f"  ... and {len(report.failures) - MAX_LISTED} more (see the report)", file=sys.stderr
        )
    return EXIT_VERIFY


def register(sub: Any) -> None:
    report = sub.add_parser("report", help=cmd_report.__doc__, description=cmd_report.__doc__)
    report.add_argument("bundle", metavar="BUNDLE", help="the evidence bundle (JSON)")
    report.add_argument("--out", required=True, type=Path, help="the report file to write")
    add_force_arg(report)
    report.add_argument(
        "--format",
        choices=FORMATS,
        help="html or pdf (default: pdf if --out ends in .pdf, else html)",
    )
    report.add_argument(
        "--manifest",
        type=Path,
        metavar="FILE",
        help="the buyer's manifest (ledger hash --out): its file names are shown next to each"
        " content item",
    )
    report.add_argument(
        "--log-url",
        metavar="URL",
        help="where the log answers, for the report's readers (default: the URL this machine"
        " reached the bundle's log at, if it did)",
    )
    add_log_key_args(
        report,
        "the key pinned for the bundle's log, else the key the bundle names (which the report"
        " then flags as not independent); obtain it independently of the bundle",
    )
    report.add_argument(
        "--policy",
        metavar="FILE",
        help="a witness policy (c2sp.org/tlog-policy): check the checkpoint's cosignatures meet "
        "its quorum and show each witness's time",
    )
    report.set_defaults(func=cmd_report)
