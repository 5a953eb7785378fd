"""``ledger keygen``: a new Ed25519 key, on this machine only."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ledger.cli.common import EXIT_OK, CliError, passphrase_from_env
from ledger.core.keys import SigningKey


def cmd_keygen(args: argparse.Namespace) -> int:
    """Generate an Ed25519 key into a new PKCS8 PEM file (mode 0600)."""
    key = SigningKey.generate()
    path = Path(args.out)
    try:
        key.save(path, passphrase_from_env(args.passphrase_env))
    except FileExistsError:
        raise CliError(f"{path} exists; refusing to overwrite a key") from None
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror}") from e
    print(f"key_id     {key.key_id}")
    print(f"public_key {key.public_key.b64}")
    return EXIT_OK


def register(sub: Any) -> None:
    keygen = sub.add_parser("keygen", help=cmd_keygen.__doc__, description=cmd_keygen.__doc__)
    keygen.add_argument("--out", required=True, help="the new key file (must not exist)")
    keygen.add_argument(
        "--passphrase-env", metavar="VAR", help="encrypt the key with the passphrase in $VAR"
    )
    keygen.set_defaults(func=cmd_keygen)
