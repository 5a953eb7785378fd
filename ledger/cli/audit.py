"""``ledger audit``: check a whole log, from its server's API or (operators) its database.

Exit codes: 0 every check held, 1 the log is wrong (the first bad seq and what is wrong are
printed), 3 the server or database could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from ledger.cli.common import (
    EXIT_OK,
    EXIT_SERVER,
    EXIT_VERIFY,
    CliError,
    add_log_key_args,
    add_url_arg,
    client,
    log_key_arg,
    log_verifier,
    say_notices,
    state_dir,
)
from ledger.client.audit import AuditReport, LogAuditor
from ledger.client.trust import TrustedLog


def add_audit_args(parser: argparse.ArgumentParser) -> None:
    add_log_key_args(
        parser,
        "the key pinned for the log, else trust on first use (the server's /v1/log, with a"
        " warning; pinned once an audit passed under it). --database needs --log-key",
    )
    parser.add_argument("--database", metavar="URL", help="audit this database directly")
    parser.add_argument("--strict", action="store_true", help="also validate every statement")
    parser.add_argument(
        "--all-checkpoints",
        action="store_true",
        help="also verify every stored checkpoint and its consistency proof (2 requests/entry)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes verifying signatures (default: one per CPU, %(default)s)",
    )
    parser.add_argument("--page-size", type=int, default=1000, help="entries per request")
    parser.add_argument(
        "--no-accel",
        action="store_true",
        help="verify signatures with cryptography only (default: PyNaCl when installed)",
    )
    parser.add_argument("--follow", action="store_true", help="keep auditing new checkpoints")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between polls")
    parser.add_argument(
        "--max-rounds", type=int, default=None, help="with --follow: stop after N polls"
    )
    parser.add_argument("--json", action="store_true", help="print reports as JSON lines")


def cmd_audit(args: argparse.Namespace) -> int:
    """Audit a whole log: every signature, chain link and the Merkle root against its checkpoint."""
    if args.workers < 0 or args.page_size < 1 or args.interval < 0:
        raise CliError("--workers, --page-size and --interval must not be negative")
    vkey = log_key_arg(args)  # a usage error before any request
    if args.database:
        return _database_audit(args, vkey)
    trusted = TrustedLog(client(args), state_dir(args), vkey)
    trusted.identify()
    say_notices(trusted)
    auditor = LogAuditor(
        trusted.client,
        trusted.verifier,
        workers=args.workers,
        page_size=args.page_size,
        strict=args.strict,
        all_checkpoints=args.all_checkpoints,
        accelerate=not args.no_accel,
    )
    report = auditor.audit()
    _print(args, report, "audit")
    if report:
        trusted.save_identity()  # the key held for the whole log: pin it if it was not
        say_notices(trusted)
    if not report or not args.follow:
        return EXIT_OK if report else EXIT_VERIFY
    return _follow(args, auditor)


def _follow(args: argparse.Namespace, auditor: LogAuditor) -> int:
    rounds = 0
    while args.max_rounds is None or rounds < args.max_rounds:
        time.sleep(args.interval)
        rounds += 1
        report = auditor.follow_once()
        _print(args, report, "follow")
        if not report:
            return EXIT_VERIFY
    return EXIT_OK


def _print(args: argparse.Namespace, report: AuditReport, what: str) -> None:
    if args.json:
        print(json.dumps({"kind": what, **report.to_json()}), flush=True)
        return
    if report.failure is not None:
        print(f"AUDIT FAILED {report.failure}", flush=True)
        return
    rate = report.entries_checked / report.seconds if report.seconds > 0 else 0.0
    print(
        f"{what} ok: {report.origin} tree size {report.tree_size} root "
        f"{report.root_hash.hex()}; {report.entries_checked} entries checked in "
        f"{report.seconds:.1f} s ({rate:,.0f}/s); "
        + _map_summary(report.map_roots_checked, report.checkpoints_without_map),
        flush=True,
    )


def _map_summary(checked: int, without: int) -> str:
    """What the audit said of the licence map roots, in words."""
    text = f"licence map recomputed, its root checked in {checked} checkpoint(s)"
    if without:
        text += f"; {without} checkpoint(s) signed before the log committed its map (no map line)"
    return text


def _database_audit(args: argparse.Namespace, vkey: str | None) -> int:
    # imported here: auditing a server needs no database driver
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from ledger.server.dbaudit import audit_database  # noqa: PLC0415

    if vkey is None:
        raise CliError("--database needs --log-key: the database cannot vouch for its own key")
    if args.follow:
        raise CliError("--follow works with a server, not --database")
    try:
        report = audit_database(args.database, log_verifier(vkey), strict=args.strict)
    except (SQLAlchemyError, ValueError) as e:
        print(f"ledger: cannot read the database: {e}", file=sys.stderr)
        return EXIT_SERVER
    if args.json:
        print(json.dumps({"kind": "database", **report.to_json()}), flush=True)
    elif report:
        print(
            f"database ok: tree size {report.tree_size} root {report.root_hash.hex()}; "
            f"{report.tree_hashes_checked} tree hashes and {report.checkpoints_checked} "
            f"checkpoints checked in {report.seconds:.1f} s; "
            + _map_summary(report.map_roots_checked, report.checkpoints_without_map),
            flush=True,
        )
    for failure in report.failures:
        if not args.json:
            print(f"AUDIT FAILED {failure}", flush=True)
    return EXIT_OK if report else EXIT_VERIFY


def register(sub: Any) -> None:
    parser = sub.add_parser("audit", help=cmd_audit.__doc__, description=cmd_audit.__doc__)
    add_url_arg(parser)
    add_audit_args(parser)
    parser.set_defaults(func=cmd_audit)
