"""``ledger register``, ``ledger rotate``, ``ledger revoke-key``: a party and its keys."""

from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path
from typing import Any

from ledger.cli.common import (
    EXIT_OK,
    CliError,
    add_key_args,
    client,
    has_terminal,
    load_key,
    print_json,
    read_key,
    wants_json,
)
from ledger.cli.submit import add_log_args, submit_and_show
from ledger.client.http import ServerError, ServerRefused
from ledger.core import builders
from ledger.core.keys import parse_key_id
from ledger.core.statements import KEY_REVOCATION_REASONS, SignedStatement


def _submit_and_print(args: argparse.Namespace, signed: SignedStatement, **lines: str) -> int:
    """Submit one statement (bad input already raised InvalidStatement: exit 2), then print
    ``name value`` lines and the entry's seq."""
    (done,) = submit_and_show(args, [signed])
    if wants_json(args):
        print_json({**lines, "seq": done.seq})
        return EXIT_OK
    for name, text in {**lines, "seq": str(done.seq)}.items():
        print(f"{name:<10} {text}")
    return EXIT_OK


#: What a pseudonym may hold (docs/FORMAT.md §3: ASCII only, so that it reads the same everywhere).
PSEUDONYM_CHARS = "1-64 ASCII letters, digits, '.', '_', '-' and spaces"


def _check_pseudonym(name: str) -> None:
    """A pseudonym outside ASCII refused here, naming the character and an ASCII spelling;
    the rest of the rule is the statement's own (``builders.party_register``)."""
    odd = [c for c in name if not c.isascii()]
    if odd:
        plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        hint = f" (e.g. {plain!r})" if plain.strip() else ""
        raise CliError(
            f"--name {name!r}: {odd[0]!r} is not allowed; a pseudonym is {PSEUDONYM_CHARS}"
            f" (docs/FORMAT.md §3){hint}"
        )


def _check_name_taken(args: argparse.Namespace, name: str, key_id: str) -> None:
    """Warn (stderr) when other parties are registered under ``name``: pseudonyms are public
    and not unique, so others would tell this party from them by key id alone. At a terminal,
    ask before signing (unless --yes); a script is warned and goes on."""
    try:
        found = client(args).parties_named(name).get("parties")
    except ServerRefused as e:  # a log from before the lookup: say so, and go on
        print(f"ledger: could not check whether {name!r} is taken: {e}", file=sys.stderr)
        return
    except ServerError:  # advisory: the submission that follows reports a failing log (one line)
        return
    listed = found if isinstance(found, list) else []
    others = [p for p in listed if isinstance(p, dict) and p.get("party_id") != key_id]
    if not others:
        return
    shown = ", ".join(
        f"{str(p.get('party_id'))[:16]}… (seq {p.get('registered_seq')})" for p in others[:3]
    )
    more = f" and {len(others) - 3} more" if len(others) > 3 else ""
    print(
        f"ledger: warning: the pseudonym {name!r} is already used by {len(others)} other "
        f"part{'y' if len(others) == 1 else 'ies'}: {shown}{more}. Pseudonyms are public and "
        "not unique: others tell parties apart by key id alone, and may take you for them; "
        "pick another --name, or keep this one (--yes)",
        file=sys.stderr,
    )
    if args.yes or not has_terminal():
        return
    sys.stderr.write(f"Register as {name!r} anyway? [y/N]: ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CliError(f"nothing signed: not registered as {name!r}; pick another --name")


def cmd_register(args: argparse.Namespace) -> int:
    """Register your key under a pseudonym (party.register, self-signed); warns if another
    party already uses the pseudonym."""
    _check_pseudonym(args.name)
    key = load_key(args)
    _check_name_taken(args, args.name, key.key_id)
    signed = builders.party_register(key, args.name, identity_commitment=args.identity_commitment)
    return _submit_and_print(args, signed, key_id=key.key_id)


def cmd_rotate(args: argparse.Namespace) -> int:
    """Hand your party over from --key to --new-key (key.rotate, signed by both)."""
    old = load_key(args)
    new = read_key(args.new_key, args.new_passphrase_env)
    signed = builders.key_rotate(old, new)
    return _submit_and_print(args, signed, old_key_id=old.key_id, key_id=new.key_id)


def cmd_revoke_key(args: argparse.Namespace) -> int:
    """Revoke a key of your party (key.revoke); by default the key you sign with."""
    key = load_key(args)
    target = parse_key_id(args.key_id, "--key-id") if args.key_id else key.key_id
    signed = builders.key_revoke(key, target, args.reason)
    return _submit_and_print(args, signed, revoked=target)


def register(sub: Any) -> None:
    reg = sub.add_parser("register", help=cmd_register.__doc__, description=cmd_register.__doc__)
    add_key_args(reg)
    reg.add_argument(
        "--name", required=True, metavar="PSEUDONYM", help=f"{PSEUDONYM_CHARS}, as in 'Studio Nord'"
    )
    reg.add_argument(
        "--identity-commitment",
        metavar="HEX",
        help="a salted SHA-256 of your legal identity, kept outside the log (64 hex digits)",
    )
    reg.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="register even if another party uses the pseudonym (without asking)",
    )
    add_log_args(reg)
    reg.set_defaults(func=cmd_register)

    rot = sub.add_parser("rotate", help=cmd_rotate.__doc__, description=cmd_rotate.__doc__)
    add_key_args(rot)
    rot.add_argument("--new-key", required=True, type=Path, help="the new key (ledger keygen)")
    rot.add_argument(
        "--new-passphrase-env",
        metavar="VAR",
        help="for an encrypted new key: its passphrase is in $VAR (else it is asked)",
    )
    add_log_args(rot)
    rot.set_defaults(func=cmd_rotate)

    rev = sub.add_parser(
        "revoke-key", help=cmd_revoke_key.__doc__, description=cmd_revoke_key.__doc__
    )
    add_key_args(rev)
    rev.add_argument("--key-id", help="the key to revoke (default: the one in --key)")
    rev.add_argument(
        "--reason", choices=sorted(KEY_REVOCATION_REASONS), default="compromised", help="why"
    )
    add_log_args(rev)
    rev.set_defaults(func=cmd_revoke_key)
