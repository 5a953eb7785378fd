"""``ledger receipt SEQ``: write an entry's COSE receipt (RFC 9942) once it verified under the
trusted log key; ``ledger verify-receipt FILE``: check one offline (docs/FORMAT.md §15)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ledger.cli.common import (
    EXIT_OK,
    EXIT_VERIFY,
    CliError,
    add_force_arg,
    add_json_arg,
    add_log_key_args,
    add_url_arg,
    client,
    log_key_arg,
    offline_log_key,
    print_json,
    say_notices,
    state_dir,
    wants_json,
    write_output,
)
from ledger.client.receipts import fetch_receipt
from ledger.client.trust import TrustedLog
from ledger.core.checkpoint import open_checkpoint
from ledger.core.errors import LedgerError, MalformedReceipt, VerificationError
from ledger.core.merkle import leaf_hash
from ledger.core.receipts import (
    VerifiedReceipt,
    check_receipt_root,
    decode_receipt,
    verify_inclusion_receipt_of_hash,
)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {what} {path}: {e.strerror}") from e


def _json(receipt: VerifiedReceipt, entry_hash: bytes, **more: Any) -> None:
    """``receipt --json`` and ``verify-receipt --json`` (docs/CLI.md)."""
    print_json(
        {
            "entry": receipt.leaf_index,
            "leaf_hash": entry_hash.hex(),
            "tree_size": receipt.tree_size,
            "root_hash": receipt.root.hex(),
            **more,
        }
    )


def _print(receipt: VerifiedReceipt, entry_hash: bytes) -> None:
    print(f"leaf_hash  {entry_hash.hex()}")
    print(f"tree_size  {receipt.tree_size}")
    print(f"root_hash  {receipt.root.hex()}")


def cmd_receipt(args: argparse.Namespace) -> int:
    """Fetch entry SEQ's COSE receipt (RFC 9942), verify it under the trusted log key (its proof,
    signature, and root against the log's checkpoint), then write it to --out."""
    trusted = TrustedLog(client(args), state_dir(args), log_key_arg(args))
    trusted.identify()
    say_notices(trusted)
    checked = fetch_receipt(trusted, args.seq)
    trusted.save(checked.checkpoint)
    say_notices(trusted)
    write_output(Path(args.out), checked.data)
    if wants_json(args):
        _json(checked.receipt, leaf_hash(checked.leaf), out=args.out)
        return EXIT_OK
    print(f"ok: receipt of entry {args.seq} at tree size {checked.receipt.tree_size}")
    _print(checked.receipt, leaf_hash(checked.leaf))
    print(f"written    {args.out}")
    return EXIT_OK


def _entry_hash(args: argparse.Namespace) -> bytes:
    if args.leaf is not None:
        return leaf_hash(_read(args.leaf, "leaf"))
    try:
        value = bytes.fromhex(args.leaf_hash)
    except ValueError:
        value = b""
    if len(value) != 32 or value.hex() != args.leaf_hash:
        raise CliError("--leaf-hash is the entry's leaf hash: 64 lowercase hex digits")
    return value


def cmd_verify_receipt(args: argparse.Namespace) -> int:
    """Verify a COSE receipt offline: its inclusion proof for the entry, its signature under the
    log key, and with --checkpoint that its root is the one that checkpoint signs."""
    data = _read(args.file, "receipt")
    entry_hash = _entry_hash(args)
    note = None if args.checkpoint is None else _read(args.checkpoint, "checkpoint")
    try:
        issuer = decode_receipt(data).issuer
    except MalformedReceipt as e:
        print(f"ledger: verification failed: {e}", file=sys.stderr)
        return EXIT_VERIFY
    key = offline_log_key(args, issuer, None, "receipt")
    if key is None:
        raise CliError("--log-key is required: no key is pinned for the receipt's log")
    try:
        receipt = verify_inclusion_receipt_of_hash(data, entry_hash, key.verifier.public_key)
        if note is not None:
            checkpoint, _ = open_checkpoint(note.decode("utf-8", "replace"), key.verifier)
            check_receipt_root(receipt, checkpoint.tree_size, checkpoint.root_hash)
    except (VerificationError, MalformedReceipt) as e:
        print(f"ledger: verification failed: {e}", file=sys.stderr)
        return EXIT_VERIFY
    except LedgerError as e:  # a malformed checkpoint or proof: the files, not the receipt
        raise CliError(str(e)) from e
    log = issuer or "the log"
    if wants_json(args):
        _json(receipt, entry_hash, issuer=issuer, checkpoint=args.checkpoint)
        return EXIT_OK
    print(f"ok: entry {receipt.leaf_index} is in {log} at tree size {receipt.tree_size}")
    _print(receipt, entry_hash)
    if note is not None:
        print(f"checkpoint {args.checkpoint} signs the same root")
    return EXIT_OK


def register(sub: Any) -> None:
    r = sub.add_parser("receipt", help=cmd_receipt.__doc__, description=cmd_receipt.__doc__)
    r.add_argument("seq", type=int, metavar="SEQ", help="the entry's sequence number")
    r.add_argument("--out", required=True, help="where to write the receipt (CBOR bytes)")
    add_force_arg(r)
    add_url_arg(r)
    add_log_key_args(
        r,
        "the key pinned for the log, else trust on first use (the server's /v1/log, pinned once"
        " its answer verified)",
    )
    add_json_arg(r)
    r.set_defaults(func=cmd_receipt)

    v = sub.add_parser(
        "verify-receipt", help=cmd_verify_receipt.__doc__, description=cmd_verify_receipt.__doc__
    )
    v.add_argument("file", help="a COSE receipt (RFC 9942), as `ledger receipt` writes it")
    entry = v.add_mutually_exclusive_group(required=True)
    entry.add_argument("--leaf", metavar="FILE", help="the entry's leaf bytes")
    entry.add_argument("--leaf-hash", metavar="HEX", help="the entry's leaf hash (64 hex)")
    v.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="a checkpoint of the log (signed note): the receipt's root must be the one it signs",
    )
    add_log_key_args(v, "the key pinned for the receipt's log (a receipt names only its kid)")
    add_json_arg(v)
    v.set_defaults(func=cmd_verify_receipt)
