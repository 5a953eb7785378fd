"""Submitting signed statements and checking that the log really holds them.

Every write command ends here: statements are signed on this machine, posted (one at a time or
through the batch endpoint), and then *verified* against the client's trusted state
(``ledger.client.trust``): the latest checkpoint is signed by the pinned log key, consistent with
the last one this machine saw, and includes each new entry, whose leaf holds exactly the bytes and
signatures that were signed. Only then is the new checkpoint saved and the results printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.cli.common import EXIT_SERVER, CliError, add_url_arg, client
from ledger.client import ServerError
from ledger.client.trust import TrustedLog, VerifiedCheckpoint, default_state_dir
from ledger.core.errors import EntryMismatch, TrustError
from ledger.core.statements import SignedStatement

#: Batches stay well under the server's default limits (1,000 statements, 32 MiB).
BATCH_STATEMENTS = 500
BATCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Submitted:
    """A statement the log accepted: where it is, and the tree size it was committed with."""

    signed: SignedStatement
    seq: int
    tree_size: int


def add_log_args(parser: argparse.ArgumentParser) -> None:
    """``--url``, ``--state`` and ``--log-key``: where the log is and what this machine trusts."""
    add_url_arg(parser)
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="folder keeping the pinned log key and last verified checkpoint"
        " (default: $XDG_CONFIG_HOME/consent-ledger or ~/.config/consent-ledger)",
    )
    parser.add_argument(
        "--log-key",
        metavar="VKEY",
        help="the log's verifier key (C2SP vkey) to pin; default: trust it on first use",
    )


def trusted_log(args: argparse.Namespace) -> TrustedLog:
    state = args.state if args.state is not None else default_state_dir()
    return TrustedLog(client(args), state, args.log_key)


def submit(
    args: argparse.Namespace,
    statements: Sequence[SignedStatement],
    log: TrustedLog | None = None,
    show: Callable[[Submitted], None] | None = None,
) -> list[Submitted]:
    """Post ``statements`` and verify the accepted ones are in the log (see module docstring).

    ``show`` is called for each accepted statement once verified, before refusals are raised: a
    batch partly refused still tells the user what got in. Raises CliError (exit 3) naming the
    first refusal, and VerificationError subclasses (exit 1) when the log does not hold what it
    acknowledged.
    """
    log = log or trusted_log(args)
    if len(statements) == 1:
        ack = log.client.append(statements[0].to_json())
        accepted, refusals = [_submitted(statements[0], ack)], list[str]()
    else:
        accepted, refusals = _post_batches(log, statements)
    if accepted:
        verify_submitted(log, accepted)
    if show is not None:
        for done in accepted:
            show(done)
    if refusals:
        for line in refusals[1:]:
            print(f"ledger: {line}", file=sys.stderr)
        raise CliError(refusals[0], EXIT_SERVER)
    return accepted


def _submitted(signed: SignedStatement, ack: dict[str, Any]) -> Submitted:
    if ack.get("statement_hash") != signed.statement_hash.hex():
        raise EntryMismatch("the log acknowledged a statement hash that is not the one you signed")
    seq, size = ack.get("seq"), ack.get("tree_size")
    if not isinstance(seq, int) or not isinstance(size, int):
        raise ServerError("the log's acknowledgement has no seq or tree_size")
    return Submitted(signed, seq, size)


def _post_batches(
    log: TrustedLog, statements: Sequence[SignedStatement]
) -> tuple[list[Submitted], list[str]]:
    accepted: list[Submitted] = []
    refusals: list[str] = []
    for batch in _batches(statements):
        answer = log.client.append_batch([s.to_json() for s in batch])
        results = answer.get("results")
        if not isinstance(results, list) or len(results) != len(batch):
            raise ServerError("the batch answer does not hold one result per statement")
        for signed, result in zip(batch, results, strict=True):
            if not isinstance(result, dict):
                raise ServerError("the batch answer holds a result that is not an object")
            if result.get("status") == 201:
                ack = {**result, "tree_size": answer.get("tree_size")}
                accepted.append(_submitted(signed, ack))
            else:
                error = result.get("error") or {}
                refusals.append(
                    f"{signed.type_name} refused: {error.get('code')}: {error.get('detail')}"
                )
    return accepted, refusals


def _batches(statements: Sequence[SignedStatement]) -> list[list[SignedStatement]]:
    out: list[list[SignedStatement]] = [[]]
    size = 0
    for s in statements:
        n = len(json.dumps(s.to_json()))
        if out[-1] and (len(out[-1]) >= BATCH_STATEMENTS or size + n > BATCH_BYTES):
            out.append([])
            size = 0
        out[-1].append(s)
        size += n
    return out


def verify_submitted(log: TrustedLog, accepted: Sequence[Submitted]) -> VerifiedCheckpoint:
    """Check each accepted entry against a fresh, consistent checkpoint; save it; report."""
    checkpoint = log.refresh()
    acked = max(s.tree_size for s in accepted)
    if checkpoint.tree_size < acked:
        raise TrustError(
            f"the log acknowledged a tree of {acked} entries but its checkpoint has only"
            f" {checkpoint.tree_size}"
        )
    for s in accepted:
        leaf = log.fetch_entry(s.seq, s.signed)
        log.verify_included(s.seq, leaf, checkpoint)
    log.save(checkpoint)
    report(log, checkpoint, f"{len(accepted)} new entr{'y' if len(accepted) == 1 else 'ies'}")
    return checkpoint


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
