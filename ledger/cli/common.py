"""What every subcommand shares: exit codes, the usage error, key loading, the server option,
``--log-key`` and ``--state`` (the trust decision itself is ``ledger.client.trust``)."""

from __future__ import annotations

import argparse
import getpass
import json
import math
import os
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from ledger.client import LogClient
from ledger.client.trust import (
    KeySource,
    LogKey,
    TrustedLog,
    default_state_dir,
    pinned_key,
    resolve_log_key,
)
from ledger.core.errors import LedgerError
from ledger.core.keys import SigningKey, is_encrypted_pem
from ledger.core.note import NoteVerifier, is_valid_key_name
from ledger.core.policy import WitnessPolicy, parse_policy
from ledger.files import atomic_write

EXIT_OK, EXIT_VERIFY, EXIT_USAGE, EXIT_SERVER = 0, 1, 2, 3
#: the log refused the request by its rules (a problem+json 4xx; its code is printed)
EXIT_REFUSED = 4
#: ``--fail-unlicensed``: every check held, but some content is not licensed (and ``card``
#: given no choice of what to do with it)
EXIT_UNLICENSED = 5
#: the one line ``ledger --help`` and the package docstring give
EXIT_CODES = (
    "Exit codes: 0 ok, 1 verification failed, 2 usage error, 3 server or network unreachable or"
    " a 5xx, 4 refused by the log's rules (its code printed), 5 some content not licensed"
    " (--fail-unlicensed; card without --include-unlicensed or --only-licensed)."
)
DEFAULT_URL = "http://127.0.0.1:8000"
#: seconds to wait for an answer to one request (``--timeout``)
DEFAULT_TIMEOUT = 30.0


class CliError(Exception):
    """An expected failure: printed as one line, the command exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def read_policy(path: str | None) -> WitnessPolicy | None:
    """``--policy FILE``: a witness policy (c2sp.org/tlog-policy), or None without one."""
    if path is None:
        return None
    try:
        return parse_policy(Path(path).read_bytes())
    except OSError as e:
        raise CliError(f"cannot read policy {path}: {e.strerror}") from e
    except LedgerError as e:
        raise CliError(f"policy {path}: {e.message}") from e


def read_log_key(value: str) -> str:
    """``--log-key``: the verifier key text itself, or the path of a file holding it (trimmed).

    A value naming an existing file is read; anything else is taken as the key itself, which is
    only parsed later (``log_verifier``, or the verifier that checks the bundle), so a bad key is
    reported there. Raises CliError (usage) for a file that cannot be read.
    """
    path = Path(value)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a vkey too long to be a file name, or holding a NUL
        is_file = False
    if not is_file:
        return value
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else str(e)
        raise CliError(f"--log-key: cannot read {value}: {reason}") from e


def log_verifier(vkey: str) -> NoteVerifier:
    """The log's verifier for a ``--log-key`` value's key text; CliError (usage) if malformed."""
    try:
        return NoteVerifier.from_vkey(vkey)
    except LedgerError as e:
        raise CliError(f"--log-key: {e.message}") from e


def log_key_arg(args: argparse.Namespace) -> str | None:
    """``--log-key``'s key text (read from a file if it names one), checked: CliError (usage) for
    an unreadable file or a malformed key; None when the option was not given."""
    value: str | None = getattr(args, "log_key", None)
    if value is None:
        return None
    vkey = read_log_key(value)
    log_verifier(vkey)
    return vkey


def add_log_key_args(parser: argparse.ArgumentParser, default: str) -> None:
    """``--log-key`` and ``--state``, as every command that verifies takes them."""
    parser.add_argument(
        "--log-key",
        metavar="VKEY",
        help="the log's verifier key (C2SP vkey text, or a file holding it); it must equal the"
        f" key pinned for the log in --state, if any. Default: {default}",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="folder keeping the pinned log key and last verified checkpoint"
        " (default: $XDG_CONFIG_HOME/consent-ledger or ~/.config/consent-ledger)",
    )


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    """``--json``: the result as one JSON object on stdout, of the schema docs/CLI.md gives for
    the command (messages stay on stderr; the exit code is the same)."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON object (schema: docs/CLI.md) instead of text",
    )


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def print_json(doc: dict[str, Any]) -> None:
    """The one JSON object a ``--json`` command prints: one line, keys sorted."""
    print(json.dumps(doc, sort_keys=True, ensure_ascii=False))


def state_dir(args: argparse.Namespace) -> Path:
    state: Path | None = getattr(args, "state", None)
    return state if state is not None else default_state_dir()


def say(message: str) -> None:
    """One line for the user on stderr (stdout carries only results)."""
    print(f"ledger: {message}", file=sys.stderr, flush=True)


def say_log_key(key: LogKey) -> None:
    """The one wording for the trust decision."""
    say(key.describe())


def say_notices(log: TrustedLog) -> None:
    """What the trusted state has to tell (a key pinned, a checkpoint saved), once each."""
    for notice in log.notices:
        say(notice)
    log.notices.clear()


def offline_log_key(
    args: argparse.Namespace, origin: str | None, named: str | None, what: str
) -> LogKey | None:
    """The key for a file checked offline (no server, so nothing to trust on first use):
    ``--log-key``, else the key pinned in the state folder for the file's ``origin``, else the key
    the file itself names (``named``), said loudly and never pinned. None when there is none of
    the three (or the named one is not a key). Said on stderr. CliError for a malformed
    ``--log-key``, TrustError when it differs from the pinned key."""
    given = log_key_arg(args)
    if named is not None:
        try:
            NoteVerifier.from_vkey(named)
        except LedgerError:
            named = None  # not a key: whoever verifies the file reports it
    if origin is None or not is_valid_key_name(origin):
        # a file that names no usable origin: no pinned key can be looked up
        vkey, source = (given, KeySource.GIVEN) if given else (named, KeySource.FIRST_USE)
        if vkey is None:
            return None
        key = LogKey(NoteVerifier.from_vkey(vkey), source, None, False, f"the {what} itself")
    else:
        state = state_dir(args)
        if given is None and named is None and pinned_key(state, origin) is None:
            return None
        key = resolve_log_key(
            state, origin, given, None if named is None else lambda: named,
            first_use_from=f"the {what} itself",
        )  # fmt: skip
    say_log_key(key)
    return key


def passphrase_from_env(var: str | None) -> bytes | None:
    """The passphrase in ``$var`` (None when no variable is named)."""
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise CliError(f"environment variable {var} is empty or unset")
    return value.encode()


def has_terminal() -> bool:
    """Whether a person can be asked something (stdin is a terminal)."""
    return sys.stdin.isatty()


def ask_passphrase(prompt: str) -> bytes:
    """A passphrase typed at the terminal, not echoed; CliError when there is no terminal."""
    if not has_terminal():
        raise CliError(f"{prompt}: no terminal to ask on; give it with --passphrase-env VAR")
    try:
        typed = getpass.getpass(f"{prompt}: ")
    except EOFError:
        raise CliError("no passphrase given") from None
    if not typed:
        raise CliError("no passphrase given")
    return typed.encode()


def add_key_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True, type=Path, help="your private key (PKCS8 PEM)")
    parser.add_argument(
        "--passphrase-env",
        metavar="VAR",
        help="for an encrypted key: its passphrase is in $VAR (for scripts; else it is asked)",
    )


def load_key(args: argparse.Namespace) -> SigningKey:
    """The private key named by ``--key`` (and ``--passphrase-env``); never sent anywhere."""
    return read_key(args.key, args.passphrase_env)


def read_key(path: Path, passphrase_env: str | None) -> SigningKey:
    """A private key file; an encrypted one is opened with the passphrase in ``$passphrase_env``,
    else one asked at the terminal (hidden). CliError (usage) saying what to do otherwise."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CliError(f"cannot read key file {path}: {e.strerror}") from e
    passphrase = passphrase_from_env(passphrase_env)
    if passphrase is None and is_encrypted_pem(data):
        passphrase = ask_passphrase(f"Passphrase for {path}")
    try:
        return SigningKey.from_pem(data, passphrase)
    except LedgerError as e:
        raise CliError(f"{path}: {e.message}") from e


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def url_arg(text: str) -> str:
    """``--url``: an http(s) URL with a host (a usage error, exit 2, otherwise)."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL: give the scheme too, e.g. http://{text}"
            if "://" not in text
            else f"{text!r} is not an http(s) URL"
        )
    return text


def add_url_arg(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--timeout``: every command that talks to the log server takes both."""
    parser.add_argument(
        "--url",
        type=url_arg,
        default=os.environ.get("LEDGER_URL", DEFAULT_URL),
        help="the log server (default: $LEDGER_URL or %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="give up on a request the server has not answered within SECONDS (default:"
        " %(default)g; a write is tried up to 4 times)",
    )


def client(args: argparse.Namespace) -> LogClient:
    return LogClient(args.url, timeout=args.timeout)


def add_force_arg(parser: argparse.ArgumentParser) -> None:
    """``--force``, for a command that writes ``--out``: without it an existing file is kept
    (``refuse_overwrite``, checked before any work)."""
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def refuse_overwrite(args: argparse.Namespace) -> None:
    """CliError (usage) when ``--out`` names an existing file and ``--force`` was not given (a
    folder is left to the write, which says it cannot write there)."""
    out = getattr(args, "out", None)
    if out is None or getattr(args, "force", True) is not False or os.path.isdir(out):
        return
    if os.path.lexists(out):
        raise CliError(f"{out} exists: give --force to overwrite it, or another --out")


def write_output(path: Path, data: bytes) -> None:
    """Write a file meant to be passed on (a bundle, a report) whole or not at all (0644)."""
    try:
        atomic_write(path, data, mode=0o644)
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror}") from e
