"""The write commands' common end: submit through ``ledger.client.submit``, then print.

Statements are signed on this machine; ``ledger.client.submit`` posts them and verifies that the
log holds exactly them in a checkpoint consistent with what this machine saw. This module only
builds the trusted log from the options and tells the user what happened.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ledger.cli.common import (
    EXIT_SERVER,
    CliError,
    add_log_key_args,
    add_url_arg,
    client,
    log_key_arg,
    state_dir,
)
from ledger.client.submit import Submitted, submit
from ledger.client.trust import TrustedLog, VerifiedCheckpoint
from ledger.core.statements import SignedStatement


def add_log_args(parser: argparse.ArgumentParser) -> None:
    """``--url``, ``--log-key`` and ``--state``: where the log is and what this machine trusts."""
    add_url_arg(parser)
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
    still tells the user what got in. Raises CliError (exit 3) naming the first refusal."""
    log = log or trusted_log(args)
    result = submit(log, statements)
    if result.checkpoint is not None:
        n = len(result.accepted)
        report(log, result.checkpoint, f"{n} new entr{'y' if n == 1 else 'ies'}")
    if show is not None:
        for done in result.accepted:
            show(done)
    if result.refused:
        for refused in result.refused[1:]:
            print(f"ledger: {refused.message}", file=sys.stderr)
        raise CliError(result.refused[0].message, EXIT_SERVER)
    return result.accepted


def report(log: TrustedLog, checkpoint: VerifiedCheckpoint, what: str) -> None:
    """Tell the user what was verified (stderr: stdout carries only results)."""
    for notice in log.notices:
        print(f"ledger: {notice}", file=sys.stderr)
    log.notices.clear()
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
