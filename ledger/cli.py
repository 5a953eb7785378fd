"""The ``ledger`` command. Exit codes: 0 ok, 1 verification failed, 2 usage error,
3 server or network error. Expected failures print one line, never a traceback.

Only key generation exists so far; the creator, buyer and auditor commands come with the CLI issue.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .core.errors import LedgerError
from .core.keys import SigningKey

EXIT_OK, EXIT_VERIFY, EXIT_USAGE, EXIT_SERVER = 0, 1, 2, 3


def _passphrase(var: str | None) -> bytes | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise SystemExit(f"ledger: environment variable {var} is empty or unset")
    return value.encode()


def cmd_keygen(args: argparse.Namespace) -> int:
    """Generate an Ed25519 key into a new PKCS8 PEM file (mode 0600)."""
    key = SigningKey.generate()
    path = Path(args.out)
    try:
        key.save(path, _passphrase(args.passphrase_env))
    except FileExistsError:
        print(f"ledger: {path} exists; refusing to overwrite a key", file=sys.stderr)
        return EXIT_USAGE
    print(f"key_id     {key.key_id}")
    print(f"public_key {key.public_key.b64}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledger", description="Consent Ledger command line")
    parser.add_argument("--version", action="version", version=f"ledger {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser("keygen", help=cmd_keygen.__doc__, description=cmd_keygen.__doc__)
    keygen.add_argument("--out", required=True, help="the new key file (must not exist)")
    keygen.add_argument(
        "--passphrase-env", metavar="VAR", help="encrypt the key with the passphrase in $VAR"
    )
    keygen.set_defaults(func=cmd_keygen)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LedgerError as e:
        print(f"ledger: {e.message}", file=sys.stderr)
        return EXIT_VERIFY if e.status < 500 else EXIT_SERVER


if __name__ == "__main__":
    sys.exit(main())
