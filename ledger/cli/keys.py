"""``ledger keygen``: a new Ed25519 key, on this machine only."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ledger.cli.common import (
    EXIT_OK,
    CliError,
    add_json_arg,
    ask_passphrase,
    has_terminal,
    passphrase_from_env,
    print_json,
)
from ledger.core.keys import SigningKey


def _new_passphrase(args: argparse.Namespace, path: Path) -> bytes | None:
    """The passphrase to encrypt the new key with: ``$VAR`` (``--passphrase-env``), else typed
    twice at the terminal with ``--encrypt`` or, at a terminal, when the user types one (empty:
    none); None for an unencrypted key."""
    if args.passphrase_env is not None:
        return passphrase_from_env(args.passphrase_env)
    if args.no_encrypt or not (args.encrypt or has_terminal()):
        return None
    if not args.encrypt:
        typed = _ask_optional(f"Passphrase to encrypt {path} (empty for none)")
        if typed is None:
            return None
    else:
        typed = ask_passphrase(f"Passphrase to encrypt {path}")
    if ask_passphrase("The same passphrase again") != typed:
        raise CliError("the two passphrases differ; no key written")
    return typed


def _ask_optional(prompt: str) -> bytes | None:
    try:
        return ask_passphrase(prompt)
    except CliError:  # an empty answer: no encryption
        return None


def cmd_keygen(args: argparse.Namespace) -> int:
    """Generate an Ed25519 key into a new PKCS8 PEM file (mode 0600), encrypted if you wish."""
    path = Path(args.out)
    if path.exists():  # before asking a passphrase for nothing
        raise CliError(f"{path} exists; refusing to overwrite a key")
    passphrase = _new_passphrase(args, path)
    key = SigningKey.generate()
    try:
        key.save(path, passphrase)
    except FileExistsError:
        raise CliError(f"{path} exists; refusing to overwrite a key") from None
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror}") from e
    if args.json:
        print_json({"key_id": key.key_id, "public_key": key.public_key.b64, "out": str(path)})
        return EXIT_OK
    print(f"key_id     {key.key_id}")
    print(f"public_key {key.public_key.b64}")
    return EXIT_OK


def register(sub: Any) -> None:
    keygen = sub.add_parser(
        "keygen",
        help=cmd_keygen.__doc__,
        description=f"{cmd_keygen.__doc__} At a terminal it offers to encrypt the key with a"
        " passphrase (typed twice, not shown); commands that use the key then ask for it, or read"
        " it from --passphrase-env VAR.",
    )
    keygen.add_argument("--out", required=True, help="the new key file (must not exist)")
    how = keygen.add_mutually_exclusive_group()
    how.add_argument(
        "--passphrase-env", metavar="VAR", help="encrypt the key with the passphrase in $VAR"
    )
    how.add_argument(
        "--encrypt", action="store_true", help="encrypt the key: ask for a passphrase (hidden)"
    )
    how.add_argument(
        "--no-encrypt", action="store_true", help="do not offer encryption at a terminal"
    )
    add_json_arg(keygen)
    keygen.set_defaults(func=cmd_keygen)
