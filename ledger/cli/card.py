"""``ledger card``: a dataset card (Croissant or SPDX 3) for a verified evidence bundle and the
manifest it answers for; and the card check ``ledger verify --card`` runs (docs/CARDS.md).

The bundle is verified offline first (as ``ledger verify`` does, with the same log key choice)
and must answer exactly the manifest's contents; the card is built from the recomputed verdicts
by ``ledger.report.card``. Items not licensed are never put in a card silently: without
``--include-unlicensed`` (listed as NOT licensed) or ``--only-licensed`` (left out, said so) the
command writes nothing and exits 5.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.cli.common import (
    EXIT_OK,
    EXIT_UNLICENSED,
    EXIT_VERIFY,
    CliError,
    add_force_arg,
    add_json_arg,
    add_log_key_args,
    offline_log_key,
    print_json,
    read_policy,
    say,
    wants_json,
    write_output,
)
from ledger.cli.content import manifest_items
from ledger.cli.times import SPELLINGS, instant_arg
from ledger.client.evidence import named_log
from ledger.core.errors import LedgerError
from ledger.core.evidence import EvidenceReport, check_question, load_bundle, verify_bundle
from ledger.report import CARD_FORMATS
from ledger.report.card import (
    DROPPED,
    LISTED,
    Card,
    CardOptions,
    CardReport,
    StatedFile,
    build_card,
    check_card,
    minutes,
)
from ledger.report.plain import REASON_SHORT
from ledger.sigverify import signature_check


def _read_bundle(path: str) -> tuple[bytes, Any]:
    """The bundle's bytes and parsed JSON; CliError (usage) when it cannot be read, exit 1
    (``bundle_malformed``) when it is not a bundle."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {path}: {e.strerror}") from e
    try:
        return data, load_bundle(data)
    except LedgerError as e:
        raise CliError(f"{path}: bundle_malformed: {e.message}", EXIT_VERIFY) from e


def verified_bundle(args: argparse.Namespace, path: str) -> tuple[bytes, EvidenceReport]:
    """Read and verify a bundle offline under the log key ``--log-key`` (else pinned, else the
    one it names, said loudly), with ``--policy`` and ``--no-accel`` as ``verify`` takes them."""
    data, bundle = _read_bundle(path)
    origin, named = named_log(bundle)
    key = offline_log_key(args, origin, named, "bundle")
    if key is None:
        raise CliError(
            "--log-key is required: no key is pinned for the bundle's log and it names none"
        )
    _, check = signature_check(accelerate=not args.no_accel)
    return data, verify_bundle(bundle, key.verifier, check=check, policy=read_policy(args.policy))


def _created(args: argparse.Namespace) -> str:
    if args.created is not None:
        return str(args.created)[:19] + "Z"  # RFC 3339 UTC from instant_arg, whole seconds
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unlicensed_policy(args: argparse.Namespace, report: EvidenceReport) -> str | None:
    """LISTED or DROPPED; None (after saying why) when items are not licensed and neither
    ``--include-unlicensed`` nor ``--only-licensed`` says what to do with them."""
    missing = [v for v in report.verdicts if not v.licensed]
    if args.only_licensed:
        if missing:
            say(f"--only-licensed: {len(missing):,} item(s) not licensed left out of the card"
                f" ({_reasons(missing)})")  # fmt: skip
        return DROPPED
    if missing and not args.include_unlicensed:
        say(
            f"{len(missing):,} of {len(report.verdicts):,} item(s) are not licensed"
            f" ({_reasons(missing)}); no card written: give --include-unlicensed to list them"
            " as NOT licensed, or --only-licensed to leave them out"
        )
        return None
    return LISTED


def _reasons(verdicts: list[Any]) -> str:
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.reason] = counts.get(v.reason, 0) + 1
    return ", ".join(f"{n:,} {REASON_SHORT.get(r, r)}" for r, n in sorted(counts.items()))


def card_json(card: Card, fmt: str, out: str | None) -> dict[str, Any]:
    """``ledger card --json`` (docs/CLI.md)."""
    seconds = sum(f.duration_s or 0 for f in card.files)
    return {
        "format": fmt,
        "out": out,
        "bundle_sha256": card.bundle_sha256,
        "checkpoint": {
            "origin": card.origin,
            "tree_size": card.tree_size,
            "root_hash": card.root_hash,
        },
        "unlicensed": card.options.unlicensed,
        "items": len(card.files),
        "licensed": card.licensed,
        "not_licensed_listed": card.not_licensed,
        "not_licensed_dropped": card.dropped,
        "minutes": minutes(seconds),
    }


def cmd_card(args: argparse.Namespace) -> int:
    """Write a dataset card (Croissant JSON-LD with RAI fields, or SPDX 3.0) for an evidence
    bundle, verified offline first, and the manifest of the dataset it answers for."""
    if args.out is None and wants_json(args):
        raise CliError("--json needs --out: without it the card itself goes to stdout")
    items = manifest_items(args.manifest)
    data, report = verified_bundle(args, args.bundle)
    check_question(report, contents=[item.sha256 for item in items])
    if not report:
        for failure in report.failures:
            say(f"{failure}")
        say(f"{args.bundle} does not verify, or does not answer for {args.manifest}: no card")
        return EXIT_VERIFY
    policy = _unlicensed_policy(args, report)
    if policy is None:
        return EXIT_UNLICENSED
    if not any(v.licensed for v in report.verdicts) and policy == DROPPED:
        say("no item is licensed: an --only-licensed card would be empty; none written")
        return EXIT_UNLICENSED
    options = CardOptions(
        name=args.name or Path(args.manifest).stem,
        description=args.description
        or f"The files of {Path(args.manifest).name}, with their licence evidence",
        created=_created(args),
        unlicensed=policy,
        model=args.model,
    )
    stated = [StatedFile(i.sha256, i.path, i.bytes, i.duration_s, i.media_type) for i in items]
    try:
        card = build_card(data, report, options, stated)
    except LedgerError as e:
        raise CliError(e.message) from e
    doc = CARD_FORMATS[args.format].render(card)
    # One line: json's C encoder writes 100,000 files in a fraction of the time its indenting
    # (pure Python) takes; pretty-print with jq for reading.
    text = json.dumps(doc, ensure_ascii=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return EXIT_OK
    write_output(Path(args.out), text.encode("utf-8"))
    if wants_json(args):
        print_json(card_json(card, args.format, args.out))
        return EXIT_OK
    summary = card.summary["2.2.1_commercially_licensed"]
    left = (
        f"; {card.dropped:,} not licensed left out (--only-licensed)"
        if card.dropped
        else (f"; {card.not_licensed:,} listed as NOT licensed" if card.not_licensed else "")
    )
    print(
        f"{args.format} card of {len(card.files):,} file(s): {card.licensed:,} licensed"
        f" ({summary['minutes']} minutes, {summary['rightsholders']:,} rightsholder(s)){left}"
    )
    print(f"bundle     {card.bundle_sha256} (checkpoint {card.origin} size {card.tree_size})")
    print(f"written    {args.out}")
    return EXIT_OK


# --- ledger verify --card ------------------------------------------------------------------------


def check_card_file(path: Path, bundle_data: bytes, report: EvidenceReport) -> CardReport:
    """``verify --card FILE``: the card read and checked against the verified bundle."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise CliError(f"cannot read {path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        result = CardReport()
        result.fail("card_malformed", f"{path} is not UTF-8 text (byte {e.start})")
        return result
    try:
        doc = json.loads(text)
    except ValueError as e:
        result = CardReport()
        result.fail("card_malformed", f"{path} is not JSON: {e}")
        return result
    return check_card(doc, bundle_data, report, CARD_FORMATS)


def card_result_json(result: CardReport | None) -> dict[str, Any]:
    """The ``card`` member of ``verify --card --json`` (docs/CLI.md)."""
    if result is None:
        return {
            "format": None,
            "verified": False,
            "files": None,
            "failures": [
                {"code": "card_unchecked", "message": "the bundle does not verify: card unchecked"}
            ],
        }
    return {
        "format": result.format,
        "verified": bool(result),
        "files": None if result.card is None else len(result.card.files),
        "failures": [{"code": code, "message": message} for code, message in result.failures],
    }


def card_lines(result: CardReport | None) -> list[str]:
    if result is None:
        return ["card       NOT CHECKED: the bundle does not verify"]
    if result:
        assert result.card is not None
        return [
            f"card       OK: every claim of the {result.format} card ({len(result.card.files):,}"
            " file(s)) is what the bundle gives"
        ]
    return [f"card       FAILED: {code}: {message}" for code, message in result.failures]


def register(sub: Any) -> None:
    card = sub.add_parser("card", help=cmd_card.__doc__, description=cmd_card.__doc__)
    card.add_argument("bundle", metavar="BUNDLE", help="the evidence bundle (ledger prove --out)")
    card.add_argument(
        "--manifest",
        type=Path,
        required=True,
        help="the dataset's manifest (ledger hash --out): the bundle must answer for exactly its"
        " contents",
    )
    card.add_argument(
        "--format",
        choices=sorted(CARD_FORMATS),
        required=True,
        help="croissant: Croissant 1.0 JSON-LD with RAI fields; spdx: an SPDX 3.0.1 document",
    )
    card.add_argument(
        "-o", "--out", metavar="FILE", help="where to write the card (default: stdout)"
    )
    add_force_arg(card)
    unlicensed = card.add_mutually_exclusive_group()
    unlicensed.add_argument(
        "--include-unlicensed",
        action="store_true",
        help="list items not licensed in the card, marked NOT licensed with the reason",
    )
    unlicensed.add_argument(
        "--only-licensed",
        action="store_true",
        help="leave items not licensed out of the card (the card and the output say how many)",
    )
    card.add_argument("--name", help="the dataset's name (default: the manifest's file name)")
    card.add_argument("--description", help="the dataset's description")
    card.add_argument(
        "--model",
        metavar="NAME",
        help="the model trained on the dataset (SPDX: an AI-profile package trainedOn it)",
    )
    card.add_argument(
        "--created",
        metavar="TIME",
        type=instant_arg,
        help=f"the card's creation time, {SPELLINGS} (default: now)",
    )
    add_log_key_args(
        card, "the key pinned for the bundle's log, else the key the bundle names (with a warning)"
    )
    card.add_argument(
        "--policy", metavar="FILE", help="a witness policy the checkpoint's cosignatures must meet"
    )
    card.add_argument(
        "--no-accel", action="store_true", help="verify signatures with cryptography only"
    )
    add_json_arg(card)
    card.set_defaults(func=cmd_card)
