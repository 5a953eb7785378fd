"""The ``ledger`` command for creators, buyers and auditors.

Exit codes (``common.EXIT_*``, ``common.EXIT_CODES``): 0 ok, 1 verification failed, 2 usage error,
3 server or network unreachable or a 5xx, 4 the log refused the request by its rules (a 4xx
problem, its code printed), 5 some content not licensed (``--fail-unlicensed``). Expected failures
print one line on stderr, never a traceback.

Each subcommand lives in a module of this package that exposes ``register(subparsers)``; the
modules are listed in ``COMMAND_MODULES`` in the order ``ledger --help`` shows them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from ledger import __version__
from ledger.cli import (
    account,
    audit,
    completion,
    content,
    evidence,
    grants,
    keys,
    log,
    offers,
    party,
    provenance,
    receipts,
    report,
    serve,
    tlog,
    witness,
)
from ledger.cli.common import (
    EXIT_CODES,
    EXIT_REFUSED,
    EXIT_SERVER,
    EXIT_USAGE,
    EXIT_VERIFY,
    CliError,
    refuse_overwrite,
)
from ledger.cli.parser import LedgerParser, check_options
from ledger.client import ServerError, ServerRefused
from ledger.core.errors import LedgerError, NotYourGrant, VerificationError

COMMAND_MODULES: tuple[ModuleType, ...] = (
    keys,
    party,
    content,
    grants,
    provenance,
    offers,
    log,
    evidence,
    account,
    report,
    audit,
    tlog,
    receipts,
    witness,
    serve,
    completion,
)


def build_parser() -> argparse.ArgumentParser:
    parser = LedgerParser(
        prog="ledger",
        description="Consent Ledger: sign, submit, prove and verify content licences.",
        epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"ledger {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    check_options(parser, words)
    args = parser.parse_args(words)
    args.argv = words  # "the same command" (cli/submit)
    args.parser = parser  # for `ledger completion`
    try:
        refuse_overwrite(args)  # before any work: a bundle fetched for nothing
        code = int(args.func(args))
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at exit
        return code
    except BrokenPipeError:
        # Whoever read our output went away (`ledger hash DIR | head`): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left
    except (CliError, LedgerError) as e:
        message, code = _failure(e)
        print(f"ledger: {message}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("ledger: interrupted", file=sys.stderr)
        return 130


def _failure(e: CliError | LedgerError) -> tuple[str, int]:
    """The one line to print and the exit code for an expected failure."""
    if isinstance(e, CliError):
        return e.message, e.exit_code
    if isinstance(e, ServerRefused):
        return f"the log refused it ({e.problem_code or e.http_status}): {e.message}", EXIT_REFUSED
    if isinstance(e, NotYourGrant):  # the log's own rule, checked before signing anything
        return f"the log would refuse it ({e.code}): {e}", EXIT_REFUSED
    if isinstance(e, ServerError):
        return e.message, EXIT_SERVER
    if isinstance(e, VerificationError):
        return f"verification failed: {e}", EXIT_VERIFY
    return str(e), EXIT_USAGE if e.status < 500 else EXIT_SERVER
