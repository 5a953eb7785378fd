"""``ledger verify``, ``ledger status`` and ``ledger prove``: licence answers a person can check.

Every answer from the server is verified here with ``ledger.core`` before it is printed or written:
the checkpoint signature under the log key, every inclusion proof and statement signature, and
each verdict recomputed from the entries. ``--log-key`` pins the log's verifier key; without it the
key is fetched from the server's ``/v1/log`` (which proves the answer is the log's own, not that
the log is the one you meant: pin the key for evidence that matters).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ledger.cli.common import (
    EXIT_OK,
    EXIT_VERIFY,
    CliError,
    add_url_arg,
    client,
    log_verifier,
    read_log_key,
    read_policy,
    write_output,
)
from ledger.client import LogClient
from ledger.client.evidence import Question, content_sha256, prove, status
from ledger.client.proofs import write_entry_proof
from ledger.content.manifest import read_manifest
from ledger.core.canonical import canonicalize
from ledger.core.errors import LedgerError
from ledger.core.evidence import (
    EvidenceReport,
    format_posix,
    load_bundle,
    summary_lines,
    verify_bundle,
)
from ledger.sigverify import signature_check


def _log_key(args: argparse.Namespace, log: LogClient | None = None) -> str:
    """``--log-key`` (a verifier key, or a file holding one), else the server's own key."""
    value: str | None = args.log_key
    if value is None:
        if log is None:
            raise CliError("--log-key is required")
        return str(log.log_info()["verifier_key"])
    return read_log_key(value)


def _verify(bundle: object, args: argparse.Namespace, vkey: str) -> EvidenceReport:
    return verify_bundle(bundle, vkey, **_checks(args))


def _print_report(report: EvidenceReport) -> int:
    for line in summary_lines(report):
        print(line)
    return EXIT_OK if report else EXIT_VERIFY


# --- ledger verify -----------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify an evidence bundle offline: checkpoint, proofs, signatures, chain, every verdict."""
    try:
        data = Path(args.bundle).read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {args.bundle}: {e.strerror}") from e
    try:
        bundle: Any = load_bundle(data)
    except LedgerError as e:
        print(f"result     FAILED: bundle_malformed: {e.message}")
        return EXIT_VERIFY
    return _print_report(_verify(bundle, args, _log_key(args)))


# --- ledger status -----------------------------------------------------------------------------


def content_hash(value: str) -> str:
    """A sha256 given as 64 hex digits, or the SHA-256 of the file at that path."""
    try:
        return content_sha256(value)
    except LedgerError as e:
        raise CliError(e.message) from e


def _question(args: argparse.Namespace) -> Question:
    """Refuse a bad use or time here (exit 2) rather than as a server refusal."""
    try:
        return Question.of(args.buyer, args.use, args.at)
    except LedgerError as e:
        raise CliError(e.message) from e


def _checks(args: argparse.Namespace) -> dict[str, Any]:
    name, check = signature_check(accelerate=not args.no_accel)
    if args.verbose:
        print(f"signatures {name}")
    return {"check": check, "policy": read_policy(args.policy)}


def cmd_status(args: argparse.Namespace) -> int:
    """Is this content licensed to the buyer for the use, now or at --at? (proof verified)"""
    question = _question(args)
    sha256 = content_hash(args.content)
    log = client(args)
    report = status(log, question, sha256, _log_key(args, log), **_checks(args))
    if not report:
        print("the server's answer does not verify:")
        return _print_report(report)
    verdict = report.verdicts[0]
    cp = report.checkpoint
    assert cp is not None  # a report without failures has a verified checkpoint
    state = "LICENSED" if verdict.licensed else f"NOT licensed ({verdict.reason})"
    print(f"{sha256}  {state}")
    if verdict.grant_seq is not None:
        print(f"deciding grant  seq {verdict.grant_seq}")
    for first, second in verdict.conflicts:
        print(f"exclusivity conflict between grants at seq {first} and {second}")
    print(f"verified against checkpoint {cp.origin} size {cp.tree_size}")
    for name, seconds in report.witness_times:
        print(f"witness {name} cosigned at {format_posix(seconds)}")
    return EXIT_OK


# --- ledger prove ------------------------------------------------------------------------------


def _prove_request(args: argparse.Namespace) -> tuple[Question, list[str]]:
    """The evidence request ``prove`` sends: the question and the content hashes.

    The one place that turns prove's arguments into a request; other proof modes (such as a
    single entry's tlog proof) plug in next to this function.
    """
    if args.buyer is None or args.use is None:
        raise CliError("--buyer and --use are required with --manifest or --content")
    question = _question(args)
    if args.manifest is not None:
        try:
            contents = [item.sha256 for item in read_manifest(args.manifest)]
        except LedgerError as e:
            raise CliError(e.message) from e
    else:
        contents = [content_hash(c) for c in args.content]
    if not contents:
        raise CliError("no content to prove")
    return question, contents


def cmd_prove(args: argparse.Namespace) -> int:
    """Fetch an evidence bundle for a dataset (or a single entry's tlog-proof file with
    --entry), verify it offline, then write it."""
    log = client(args)
    if args.entry is not None:
        return _prove_entry(args, log)
    question, contents = _prove_request(args)
    bundle, report = prove(log, question, contents, _log_key(args, log), **_checks(args))
    if not report:
        print(f"the server's bundle does not verify; {args.out} not written:")
        return _print_report(report)
    write_output(Path(args.out), canonicalize(bundle))
    for line in summary_lines(report):
        print(line)
    print(f"written    {args.out}")
    return EXIT_OK


def _prove_entry(args: argparse.Namespace, log: LogClient) -> int:
    """``prove --entry SEQ``: the entry's c2sp.org/tlog-proof@v1 file, checked with the log key."""
    verifier = log_verifier(_log_key(args, log))
    report = write_entry_proof(log, args.entry, args.out, verifier)
    size = "" if report is None else f" in tree {report.checkpoint.tree_size}"
    print(f"wrote proof of entry {args.entry}{size} to {args.out}")
    return EXIT_OK


# --- the parsers -------------------------------------------------------------------------------


def _add_verify_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-key", help="the log's verifier key (name+id+key), or a file holding it"
    )
    parser.add_argument(
        "--no-accel", action="store_true", help="verify signatures with cryptography only"
    )
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="a witness policy (c2sp.org/tlog-policy): the checkpoint's cosignatures must meet "
        "its quorum, and each witness's time is reported",
    )
    parser.add_argument("-v", "--verbose", action="store_true")


def _add_question_args(parser: argparse.ArgumentParser, use_required: bool) -> None:
    # prove checks --buyer and --use itself: with --entry it needs neither
    is_prove = parser.prog.endswith(" prove")
    parser.add_argument(
        "--buyer", required=not is_prove, metavar="KEY_ID", help="the buyer's key id"
    )
    if use_required:
        parser.add_argument("--use", required=not is_prove, help="e.g. ai_training")
    else:
        parser.add_argument("--use", default="ai_training", help="default: %(default)s")
    parser.add_argument("--at", metavar="TIME", help="RFC 3339 UTC time (default: now)")
    add_url_arg(parser)
    _add_verify_args(parser)


def register(sub: Any) -> None:
    verify = sub.add_parser("verify", help=cmd_verify.__doc__, description=cmd_verify.__doc__)
    verify.add_argument("bundle", help="an evidence bundle (JSON)")
    _add_verify_args(verify)
    verify.set_defaults(func=cmd_verify)

    status = sub.add_parser("status", help=cmd_status.__doc__, description=cmd_status.__doc__)
    status.add_argument("content", metavar="SHA256|PATH", help="a content hash or a file")
    _add_question_args(status, use_required=False)
    status.set_defaults(func=cmd_status)

    prove = sub.add_parser("prove", help=cmd_prove.__doc__, description=cmd_prove.__doc__)
    what = prove.add_mutually_exclusive_group(required=True)
    what.add_argument("--manifest", type=Path, help="a content manifest (JSON or CSV)")
    what.add_argument("--content", nargs="+", metavar="SHA256", help="content hashes or files")
    what.add_argument(
        "--entry",
        type=int,
        metavar="SEQ",
        help="instead: entry SEQ's offline proof file (c2sp.org/tlog-proof@v1)",
    )
    prove.add_argument("--out", required=True, help="where to write the bundle or proof file")
    _add_question_args(prove, use_required=True)
    prove.set_defaults(func=cmd_prove)
