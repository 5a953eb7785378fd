"""``ledger log``: the log's identity and head, checked against this machine's trusted state."""

from __future__ import annotations

import argparse
from typing import Any

from ledger.cli.common import EXIT_OK, print_json, say_notices, wants_json
from ledger.cli.submit import add_log_args, trusted_log


def cmd_log(args: argparse.Namespace) -> int:
    """Check the log's latest checkpoint against what this machine saw before (signature with the
    pinned key, never smaller, consistent), save it, and print origin, log key, size and root."""
    log = trusted_log(args)
    verified = log.refresh()
    log.save(verified)
    say_notices(log)
    cp = verified.checkpoint
    if wants_json(args):
        print_json(
            {
                "origin": cp.origin,
                "log_key": log.verifier.to_vkey(),
                "tree_size": cp.tree_size,
                "root_hash": cp.root_hash.hex(),
            }
        )
        return EXIT_OK
    print(f"origin     {cp.origin}")
    print(f"log_key    {log.verifier.to_vkey()}")
    print(f"tree_size  {cp.tree_size}")
    print(f"root_hash  {cp.root_hash.hex()}")
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser("log", help=cmd_log.__doc__, description=cmd_log.__doc__)
    add_log_args(p)
    p.set_defaults(func=cmd_log)
