"""``ledger entry-proof`` and ``ledger verify-proof``: offline proof files (c2sp.org/tlog-proof)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.errors import LedgerError
from ..core.note import NoteVerifier
from ..core.policy import WitnessPolicy, parse_policy
from ..core.tlogproof import verify_proof
from ..tlog_proof import write_entry_proof
from .common import EXIT_OK, CliError, add_url_arg, client


def _log_verifier(vkey: str | None) -> NoteVerifier | None:
    if vkey is None:
        return None
    try:
        return NoteVerifier.from_vkey(vkey)
    except LedgerError as e:
        raise CliError(f"--log-key: {e.message}") from e


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {what} {path}: {e.strerror}") from e


def _policy(path: str | None) -> WitnessPolicy | None:
    return None if path is None else parse_policy(_read(path, "policy"))


def cmd_entry_proof(args: argparse.Namespace) -> int:
    """Fetch entry SEQ's offline proof file (c2sp.org/tlog-proof@v1) and check it."""
    report = write_entry_proof(client(args), args.seq, args.out, _log_verifier(args.log_key))
    size = "" if report is None else f" in tree {report.checkpoint.tree_size}"
    print(f"wrote proof of entry {args.seq}{size} to {args.out}")
    return EXIT_OK


def cmd_verify_proof(args: argparse.Namespace) -> int:
    """Verify a proof file offline: log signature, witness quorum (with --policy), inclusion."""
    verifier = _log_verifier(args.log_key)
    assert verifier is not None  # --log-key is required
    leaf = None if args.leaf is None else _read(args.leaf, "leaf")
    report = verify_proof(
        _read(args.file, "proof"), verifier, leaf=leaf, policy=_policy(args.policy)
    )
    cp = report.checkpoint
    print(f"ok: entry {report.index} is in {cp.origin} at tree size {cp.tree_size}")
    print(f"root_hash {cp.root_hash.hex()}")
    for name, ts in report.witness_times.items():
        when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"witness {name} cosigned at {when} ({ts})")
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "entry-proof", help=cmd_entry_proof.__doc__, description=cmd_entry_proof.__doc__
    )
    p.add_argument("seq", type=int, help="the entry's sequence number")
    p.add_argument("--out", required=True, help="where to write the proof file (.tlog-proof)")
    p.add_argument("--log-key", help="the log's verifier key: also check the log's signature")
    add_url_arg(p)
    p.set_defaults(func=cmd_entry_proof)
    v = sub.add_parser(
        "verify-proof", help=cmd_verify_proof.__doc__, description=cmd_verify_proof.__doc__
    )
    v.add_argument("file", help="a c2sp.org/tlog-proof@v1 file")
    v.add_argument("--log-key", required=True, help="the log's verifier key (vkey)")
    v.add_argument("--policy", help="a witness policy (c2sp.org/tlog-policy): require its quorum")
    v.add_argument("--leaf", help="the entry's leaf bytes, if the proof carries none")
    v.set_defaults(func=cmd_verify_proof)
