"""``ledger witness serve``: run a c2sp.org/tlog-witness witness; ``ledger witness vkey``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from ledger.cli.common import EXIT_OK, CliError, add_key_args, load_key
from ledger.core.cosignature import Cosigner
from ledger.core.errors import LedgerError
from ledger.core.note import NoteVerifier
from ledger.witness import StateStore, Witness, make_server

DEFAULT_NAME = "localhost/witness"


def _cosigner(args: argparse.Namespace) -> Cosigner:
    try:
        return Cosigner(args.name, load_key(args).private_key)
    except LedgerError as e:
        raise CliError(f"{args.name}: {e.message}") from e


def _log_verifiers(spec: str) -> list[NoteVerifier]:
    try:
        return [NoteVerifier.from_vkey(v.strip()) for v in spec.split(",") if v.strip()]
    except LedgerError as e:
        raise CliError(f"--log: {e.message}") from e


def cmd_serve(args: argparse.Namespace) -> int:
    """Run a witness: cosign checkpoints of the given logs that extend what it saw before."""
    cosigner = _cosigner(args)
    logs = _log_verifiers(args.log)
    if not logs:
        raise CliError("--log needs at least one log verifier key")
    witness = Witness(cosigner, logs, StateStore(Path(args.state)))
    try:
        server = make_server(witness, args.host, args.port)
    except OSError as e:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {e.strerror}", 3) from e
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # The first line of stdout is the witness key, for policies and for scripts waiting on it.
    print(f"vkey {cosigner.verifier().to_vkey()}", flush=True)
    print(f"listening on http://{args.host}:{server.server_port}", file=sys.stderr, flush=True)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def cmd_vkey(args: argparse.Namespace) -> int:
    """Print the witness's verifier key (signature type 0x04) for a policy file."""
    print(_cosigner(args).verifier().to_vkey())
    return EXIT_OK


def register(sub: Any) -> None:
    witness = sub.add_parser(
        "witness", help="run a transparency log witness (c2sp.org/tlog-witness)"
    )
    wsub = witness.add_subparsers(dest="witness_command", required=True, metavar="COMMAND")
    serve = wsub.add_parser("serve", help=cmd_serve.__doc__, description=cmd_serve.__doc__)
    add_key_args(serve)
    serve.add_argument("--name", default=DEFAULT_NAME, help="the witness name (%(default)s)")
    serve.add_argument("--state", required=True, help="directory for the witness's state")
    serve.add_argument(
        "--log", required=True, metavar="VKEY[,VKEY...]", help="verifier keys of the logs to follow"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument("--port", type=int, default=8100, help="port to listen on (%(default)s)")
    serve.set_defaults(func=cmd_serve)
    vkey = wsub.add_parser("vkey", help=cmd_vkey.__doc__, description=cmd_vkey.__doc__)
    add_key_args(vkey)
    vkey.add_argument("--name", default=DEFAULT_NAME, help="the witness name (%(default)s)")
    vkey.set_defaults(func=cmd_vkey)
