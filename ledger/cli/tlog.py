"""``ledger verify-proof``: check an offline proof file (c2sp.org/tlog-proof) — ``ledger prove
--entry SEQ`` writes them."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.cli.common import EXIT_OK, CliError, add_log_key_args, offline_log_key, read_policy
from ledger.core.errors import LedgerError
from ledger.core.note import parse_note
from ledger.core.receipts import verify_receipt_at_checkpoint
from ledger.core.tlogproof import parse_proof, verify_proof


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {what} {path}: {e.strerror}") from e


def _proof_origin(data: bytes) -> str | None:
    """The origin the proof's checkpoint names (a claim, checked by its signature), or None."""
    try:
        return parse_note(parse_proof(data).note)[0].split("\n", 1)[0]
    except (LedgerError, ValueError):
        return None  # verify_proof reports what is wrong with the file


def cmd_verify_proof(args: argparse.Namespace) -> int:
    """Verify a proof file offline: log signature, witness quorum (with --policy), inclusion."""
    data = _read(args.file, "proof")
    key = offline_log_key(args, _proof_origin(data), None, "proof file")
    if key is None:  # a proof file names no key: a pinned one or --log-key
        raise CliError("--log-key is required: no key is pinned for the proof's log")
    leaf = None if args.leaf is None else _read(args.leaf, "leaf")
    report = verify_proof(data, key.verifier, leaf=leaf, policy=read_policy(args.policy))
    cp = report.checkpoint
    if args.receipt is not None:  # docs/FORMAT.md §12: held to the proof file's checkpoint
        receipt = _read(args.receipt, "receipt")
        verify_receipt_at_checkpoint(
            receipt, report.leaf, report.index, key.verifier.public_key, cp.tree_size, cp.root_hash
        )
    print(f"ok: entry {report.index} is in {cp.origin} at tree size {cp.tree_size}")
    print(f"root_hash {cp.root_hash.hex()}")
    if args.receipt is not None:
        print(f"receipt {args.receipt}: COSE receipt (RFC 9942) of this entry at this root, ok")
    for name, ts in report.witness_times.items():
        when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"witness {name} cosigned at {when} ({ts})")
    return EXIT_OK


def register(sub: Any) -> None:
    v = sub.add_parser(
        "verify-proof", help=cmd_verify_proof.__doc__, description=cmd_verify_proof.__doc__
    )
    v.add_argument("file", help="a c2sp.org/tlog-proof@v1 file")
    add_log_key_args(v, "the key pinned for the proof's log (a proof file names no key)")
    v.add_argument("--policy", help="a witness policy (c2sp.org/tlog-policy): require its quorum")
    v.add_argument("--leaf", help="the entry's leaf bytes, if the proof carries none")
    v.add_argument(
        "--receipt",
        metavar="FILE",
        help="the entry's COSE receipt (ledger prove --entry --receipts writes FILE.cose): it "
        "must be this entry's, at the proof's tree size and root, signed by the log key",
    )
    v.set_defaults(func=cmd_verify_proof)
