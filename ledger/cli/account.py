"""``ledger account``: a party's statement of account, verified offline before it is printed
(docs/ACCOUNTS.md). Which log key to trust is ``ledger.client.trust``'s one decision, as for
``status`` and ``prove``."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from ledger.cli.common import (
    EXIT_OK,
    EXIT_VERIFY,
    CliError,
    add_url_arg,
    client,
    load_key,
    read_policy,
    write_output,
)
from ledger.cli.evidence import _add_verify_args, _done, _online_log
from ledger.client.accounts import JOURNALS, account, summary_lines, to_csv, to_journal
from ledger.core.canonical import canonicalize
from ledger.core.errors import LedgerError
from ledger.core.evidence import summary_lines as evidence_lines
from ledger.core.licensing import parse_instant
from ledger.sigverify import signature_check

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _key_id(args: argparse.Namespace) -> str:
    """``--key``: a key id (64 hex digits), or a private key file whose key id is used."""
    if _HEX64.fullmatch(str(args.key)) and not Path(args.key).exists():
        return str(args.key).lower()
    args.key = Path(args.key)
    return load_key(args).key_id


def cmd_account(args: argparse.Namespace) -> int:
    """What your party earned (as creator) and owes (as buyer) over a period, verified offline
    first: checkpoint, entries, inclusion and map proofs, and the statement recomputed."""
    key_id = _key_id(args)
    for name in ("from_", "to"):
        value = getattr(args, name)
        if value is not None:
            try:
                parse_instant(value, "--" + name.rstrip("_"))
            except LedgerError as e:
                raise CliError(e.message) from e
    trusted = _online_log(args, client(args))
    name, check = signature_check(accelerate=not args.no_accel)
    bundle, report = account(
        trusted.client,
        key_id,
        trusted.verifier,
        start=args.from_,
        end=args.to,
        check=check,
        policy=read_policy(args.policy),
    )
    if not report:
        print("the server's statement does not verify:", file=sys.stderr)
        for line in evidence_lines(report.evidence)[-len(report.failures) - 1 :]:
            print(line, file=sys.stderr)
        return EXIT_VERIFY
    _done(trusted)
    if args.out is not None:
        write_output(Path(args.out), canonicalize(bundle))
    statement = report.statement
    assert statement is not None  # a report without failures recomputed it
    if args.json:
        sys.stdout.write(canonicalize(statement.to_json()).decode() + "\n")
    elif args.csv:
        sys.stdout.write(to_csv(statement))
    elif args.journal is not None:
        sys.stdout.write(to_journal(statement, args.journal))
    else:
        cp = report.evidence.checkpoint
        assert cp is not None
        for line in summary_lines(statement):
            print(line)
        print(f"verified   against checkpoint {cp.origin} size {cp.tree_size} ({name})")
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser("account", help=cmd_account.__doc__, description=cmd_account.__doc__)
    p.add_argument(
        "--key",
        required=True,
        metavar="FILE|KEY_ID",
        help="your private key file (its key id is used; nothing is signed) or any key id of "
        "the party",
    )
    p.add_argument("--passphrase-env", metavar="VAR", help="the key passphrase is in $VAR")
    p.add_argument("--from", dest="from_", metavar="TIME", help="start, included (RFC 3339 UTC)")
    p.add_argument("--to", metavar="TIME", help="end, excluded (RFC 3339 UTC; default: now)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="the statement as JSON")
    fmt.add_argument("--csv", action="store_true", help="one row per item, for spreadsheets")
    fmt.add_argument(
        "--journal",
        nargs="?",
        const="hledger",
        choices=JOURNALS,
        help="a plain-text journal for hledger (default) or beancount",
    )
    p.add_argument("--out", metavar="FILE", help="also write the verified account bundle here")
    add_url_arg(p)
    _add_verify_args(p, online=True)
    p.set_defaults(func=cmd_account)
