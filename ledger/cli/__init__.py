"""The ``ledger`` command for creators, buyers and auditors.

Exit codes (``common.EXIT_*``): 0 ok, 1 verification failed, 2 usage error, 3 server or network
error. Expected failures print one line on stderr, never a traceback.

Each subcommand lives in a module of this package that exposes ``register(subparsers)``; the
modules are listed in ``COMMAND_MODULES`` in the order ``ledger --help`` shows them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from .. import __version__
from ..client import ServerError
from ..core.errors import LedgerError, VerificationError
from . import audit, keys
from .common import EXIT_SERVER, EXIT_USAGE, EXIT_VERIFY, CliError

COMMAND_MODULES: tuple[ModuleType, ...] = (keys, audit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledger",
        description="Consent Ledger: sign, submit, prove and verify content licences.",
        epilog="Exit codes: 0 ok, 1 verification failed, 2 usage error, 3 server or network error.",
    )
    parser.add_argument("--version", action="version", version=f"ledger {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as e:
        print(f"ledger: {e.message}", file=sys.stderr)
        return e.exit_code
    except ServerError as e:
        print(f"ledger: {e.message}", file=sys.stderr)
        return EXIT_SERVER
    except VerificationError as e:
        print(f"ledger: verification failed: {e}", file=sys.stderr)
        return EXIT_VERIFY
    except LedgerError as e:
        print(f"ledger: {e}", file=sys.stderr)
        return EXIT_USAGE if e.status < 500 else EXIT_SERVER
    except KeyboardInterrupt:
        print("ledger: interrupted", file=sys.stderr)
        return 130
