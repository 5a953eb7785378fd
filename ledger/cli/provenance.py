"""``ledger c2pa bind``: a C2PA manifest, signed with the creator's key, that names the clip's
grant (docs/FORMAT.md §3.7). The grant is fetched and verified first (its signature, that it is
yours, its inclusion in a checkpoint consistent with what this machine saw), the clip must be
one of its items, and the manifest written is read back through the C2PA library before the
command reports success."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ledger import __version__
from ledger.cli.common import (
    EXIT_OK,
    CliError,
    add_key_args,
    load_key,
    print_json,
    say,
    wants_json,
    write_output,
)
from ledger.cli.grants import grant_id_arg
from ledger.cli.submit import add_log_args, report, trusted_log
from ledger.client.grants import fetch_verified_grants
from ledger.content import c2pa
from ledger.content.hashing import file_sha256
from ledger.core.errors import LedgerError
from ledger.core.statements import Grant, format_timestamp


def cmd_bind(args: argparse.Namespace) -> int:
    """Write a C2PA manifest that binds a clip to its grant: a sidecar .c2pa by default (the
    clip is left as it is), or with --embed a copy of the clip carrying it."""
    key = load_key(args)
    clip: Path = args.clip
    out = _destination(args)
    try:
        c2pa.library()  # before the network: say how to install it first
        sha256 = file_sha256(clip)
        own = c2pa.read_file(clip)
    except LedgerError as e:
        raise CliError(e.message) from e
    except OSError as e:
        raise CliError(f"cannot read {clip}: {e.strerror}") from e
    if own.where == "embedded" and own.state != c2pa.NONE and not args.embed:
        # The library hashes a sidecar's clip with any embedded manifest taken out: the
        # clip as it is would not validate against it.
        raise CliError(
            f"{clip} already embeds a C2PA manifest, which a sidecar cannot describe the clip"
            " with: give --embed --out FILE (a copy carrying both manifests, the clip's own as"
            " its ingredient)"
        )
    log = trusted_log(args)
    checkpoint, _, (g,) = fetch_verified_grants(log, [args.grant_id], key.key_id, "creator")
    report(log, checkpoint, f"grant {g.grant.grant_id}")
    item = next((i for i in g.grant.content if i.sha256 == sha256), None)
    if item is None:
        raise CliError(
            f"grant {g.grant.grant_id} does not list {clip} (SHA-256 {sha256}): bind a clip to"
            " the grant that licenses it (ledger show GRANT_ID --content lists its items)"
        )
    binding = c2pa.GrantBinding(
        checkpoint.checkpoint.origin,
        g.grant.grant_id,
        g.seq,
        g.statement_hash.hex(),
        sha256,
    )
    request = c2pa.BindRequest(binding, g.grant.terms.uses, clip.name, _constraint(g.grant))
    try:
        store = c2pa.bind(
            key,
            clip,
            item.media_type,
            request,
            embed_to=out if args.embed else None,
            generator_version=__version__,
        )
    except LedgerError as e:
        raise CliError(e.message) from e
    except OSError as e:
        raise CliError(f"cannot write {out}: {e.strerror}") from e
    if not args.embed:
        write_output(out, store)
    return _show(args, clip if not args.embed else out, out, binding, store, key.key_id)


def _constraint(grant: Grant) -> str:
    """The constraint each licensed use carries: the licence is the buyer's alone, on the grant's
    terms — "allowed" would tell every reader of the file that it may train on it."""
    terms = grant.terms
    until = f" until {format_timestamp(terms.end)}" if terms.end is not None else ""
    return (
        f"licensed only to the buyer key {grant.buyer} by grant {grant.grant_id}, from"
        f" {format_timestamp(terms.start)}{until}, territory {', '.join(terms.territory)},"
        " on the terms the grant's log entry holds"
    )


def _destination(args: argparse.Namespace) -> Path:
    """Where the manifest goes: the clip's sidecar, or --out (required with --embed, never the
    clip itself); an existing file only with --force."""
    if args.embed and args.out is None:
        raise CliError("--embed writes a new copy of the clip: give it a name with --out FILE")
    out: Path = args.out if args.out is not None else c2pa.sidecar_path(args.clip)
    if out.resolve() == args.clip.resolve():
        raise CliError(f"{out} is the clip itself: give another --out")
    if not args.embed and out != c2pa.sidecar_path(args.clip):
        say(f"{out} is not where C2PA readers look for {args.clip}'s sidecar")
    if os.path.lexists(out) and not args.force:
        raise CliError(f"{out} exists: give --force to overwrite it")
    return out


def _show(
    args: argparse.Namespace,
    bound: Path,
    out: Path,
    binding: c2pa.GrantBinding,
    store: bytes,
    key_id: str,
) -> int:
    """Read what was written back through the C2PA library, check it names the grant and is
    signed by your key, print."""
    try:
        found = c2pa.read_file(bound)
    except LedgerError as e:
        raise CliError(e.message) from e
    if found.binding != binding or not found.valid or found.signer_key != key_id:
        raise CliError(
            f"the manifest written to {out} does not read back as signed (state {found.state},"
            f" {', '.join(found.problems) or 'no grant named'}): do not pass it on"
        )
    where = "embedded" if args.embed else "sidecar"
    result: dict[str, Any] = {
        "file": str(bound),
        "manifest": str(out),
        "where": where,
        **binding.to_json(),
        "manifest_hash": c2pa.c2pa_hash_of(store),
        "state": found.state,
    }
    if wants_json(args):
        print_json(result)
        return EXIT_OK
    print(f"bound      {bound} to grant {binding.grant_id} (seq {binding.seq}, {binding.origin})")
    print(f"manifest   {out} ({where}), SHA-256 {result['manifest_hash']}")
    print(
        f"c2pa       {found.state}, signed by your key {key_id}: no certificate authority vouches"
        " for it (signingCredential.untrusted); its registration in the log does"
    )
    return EXIT_OK


def register(sub: Any) -> None:
    group = sub.add_parser("c2pa", help="C2PA manifests that travel with your clips")
    csub = group.add_subparsers(dest="c2pa_command", required=True, metavar="COMMAND")
    bind = csub.add_parser("bind", help=cmd_bind.__doc__, description=cmd_bind.__doc__)
    add_key_args(bind)
    bind.add_argument("clip", type=Path, metavar="CLIP", help="a clip the grant licenses")
    bind.add_argument(
        "--grant",
        dest="grant_id",
        required=True,
        type=grant_id_arg,
        metavar="GRANT_ID",
        help="the logged grant that licenses the clip (yours: it is verified first)",
    )
    bind.add_argument(
        "--embed",
        action="store_true",
        help="embed the manifest in a copy of the clip written to --out (its SHA-256 differs)",
    )
    bind.add_argument(
        "--out", type=Path, metavar="FILE", help="where to write (default: the clip's .c2pa)"
    )
    bind.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    add_log_args(bind)
    bind.set_defaults(func=cmd_bind)
