"""The write commands' common end: submit through ``ledger.client.submit``, then print.

Statements are signed on this machine; ``ledger.client.submit`` posts them and verifies that the
log holds exactly them in a checkpoint consistent with what this machine saw. This module only
builds the trusted log from the options and tells the user what happened.

Until their fate is known the signed envelopes are kept in the state folder
(``ledger.client.pending``), under a hash of the command line and working folder: a command that
ended without knowing (exit 3 after its retries, a crash, Ctrl-C) sends the *same* envelopes
again when it is run again, instead of signing new ones that would be logged a second time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence

from ledger.cli.common import (
    EXIT_REFUSED,
    CliError,
    add_json_arg,
    add_log_key_args,
    add_url_arg,
    client,
    log_key_arg,
    say_notices,
    state_dir,
)
from ledger.client.http import ServerError, ServerRefused
from ledger.client.pending import PendingStatements
from ledger.client.submit import Submitted, submit
from ledger.client.trust import TrustedLog, VerifiedCheckpoint
from ledger.core.errors import VerificationError
from ledger.core.statements import SignedStatement


def add_log_args(parser: argparse.ArgumentParser) -> None:
    """``--url``, ``--log-key`` and ``--state``: where the log is and what this machine trusts;
    and ``--json``, as every command that talks to the log prints a result."""
    add_url_arg(parser)
    add_json_arg(parser)
    add_log_key_args(
        parser,
        "the key pinned for the log, else trust on first use (the server's /v1/log, pinned once"
        " a checkpoint verified under it)",
    )


def trusted_log(args: argparse.Namespace) -> TrustedLog:
    return TrustedLog(client(args), state_dir(args), log_key_arg(args))


def submit_and_show(
    args: argparse.Namespace,
    statements: Sequence[SignedStatement],
    log: TrustedLog | None = None,
    show: Callable[[Submitted], None] | None = None,
) -> list[Submitted]:
    """Submit ``statements`` (``ledger.client.submit``), report the verification on stderr, and
    call ``show`` for each accepted statement before refusals are raised: a batch partly refused
    still tells the user what got in. Raises CliError (exit 4) naming the first refusal."""
    log = log or trusted_log(args)
    log.identify()
    pending = PendingStatements(log.origin_dir / "pending")
    name = _command_name(args)
    kept = pending.load(name)
    if kept is not None:
        _notify(
            f"an earlier run of this command ended before it knew whether its {len(kept)} signed"
            f" statement(s) were logged: sending the same ones again instead of signing new ones"
            f" ({pending.path(name)})"
        )
        statements = kept
    else:
        pending.keep(name, list(statements))
    try:
        result = submit(log, statements, notify=_notify)
    except ServerRefused:
        pending.forget(name)  # refused: not logged, nothing to resend
        raise
    except (ServerError, VerificationError):
        _notify(
            f"the signed statement(s) are kept in {pending.path(name)}: run the same command"
            " again to send them again (not new ones)"
        )
        raise
    pending.forget(name)
    if result.checkpoint is not None:
        n = len(result.accepted)
        report(log, result.checkpoint, f"{n} new entr{'y' if n == 1 else 'ies'}")
    if show is not None:
        for done in result.accepted:
            show(done)
    if result.refused:
        for refused in result.refused[1:]:
            print(f"ledger: {refused.message}", file=sys.stderr)
        raise CliError(result.refused[0].message, EXIT_REFUSED)
    return result.accepted


def _notify(message: str) -> None:
    print(f"ledger: {message}", file=sys.stderr, flush=True)


def _command_name(args: argparse.Namespace) -> str:
    """What identifies "the same command" for pending statements: its arguments and folder."""
    argv: list[str] = getattr(args, "argv", None) or []
    doc = json.dumps({"argv": argv, "cwd": os.getcwd()}, sort_keys=True).encode()
    return hashlib.sha256(doc).hexdigest()


def report(log: TrustedLog, checkpoint: VerifiedCheckpoint, what: str) -> None:
    """Tell the user what was verified (stderr: stdout carries only results)."""
    say_notices(log)
    since = (
        f"consistent with the {checkpoint.previous_size} seen before"
        if checkpoint.previous_size
        else "first checkpoint seen"
    )
    print(
        f"ledger: verified {what} in the signed checkpoint of size {checkpoint.tree_size}"
        f" ({since})",
        file=sys.stderr,
    )
