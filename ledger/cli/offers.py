"""``ledger show`` and ``ledger offers``: a grant's every term in plain language, and the grants
made to your party that wait for your answer (worded by ``ledger.cli.grants.grant_lines``, as
``ledger accept`` shows them before it asks).

Everything shown is proven first (``ledger.client.grants``): the grant's entry and its inclusion
in a checkpoint consistent with what this machine saw, both parties' keys, and its acceptance and
revocation through the licence map, which lists every entry that names the grant.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ledger.cli.common import EXIT_OK, add_key_args, load_key, print_json, wants_json
from ledger.cli.grants import grant_id_arg, grant_json, grant_lines
from ledger.cli.submit import add_log_args, report, trusted_log
from ledger.client.grants import GrantRecord, grant_record, open_offers
from ledger.core.leaf import format_log_time
from ledger.core.statements import GrantRevoke, format_timestamp

# --- show ----------------------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> int:
    """Show a grant: its parties, content, every term in plain language, and whether it was
    accepted or revoked, all verified against the log."""
    log = trusted_log(args)
    record = grant_record(log, args.grant_id)
    report(log, record.checkpoint, f"grant {args.grant_id} and its history")
    g = record.grant
    if wants_json(args):
        print_json(_record_json(record, args.content))
        return EXIT_OK
    print(f"grant         {g.grant.grant_id}")
    print(f"logged        seq {g.seq} at {format_log_time(record.integrated_at)}")
    for line in grant_lines(g.grant, record.creator, record.buyer):
        print(line)
    print(f"status        {_status(record)}")
    if args.content:
        print("sha256                                                            "
              "bytes  duration  media_type")  # fmt: skip
        for c in g.grant.content:
            print(f"{c.sha256}  {c.bytes:>12}  {c.duration_s:>6} s  {c.media_type}")
    return EXIT_OK


def _record_json(record: GrantRecord, content: bool) -> dict[str, Any]:
    """``show --json`` (docs/CLI.md): the grant, its parties, acceptance and revocation."""
    g, accepted, revoked = record.grant, record.acceptance, record.revocation
    grant = grant_json(g.grant)
    if not content:
        grant["content"] = None
    revocation = None
    if revoked is not None and isinstance(revoked.statement, GrantRevoke):
        effective = format_timestamp(revoked.statement.effective_at)
        revocation = {"seq": revoked.seq, "effective_at": effective}
    return {
        "grant": grant,
        "seq": g.seq,
        "logged_at": format_log_time(record.integrated_at),
        "creator_pseudonym": record.creator.pseudonym,
        "buyer_pseudonym": record.buyer.pseudonym,
        "accepted": None if accepted is None else {"seq": accepted.seq},
        "revoked": revocation,
    }


def _status(record: GrantRecord) -> str:
    accepted, revoked = record.acceptance, record.revocation
    parts = []
    if accepted is None:
        parts.append("offered, not accepted (the buyer accepts with ledger accept)")
    else:
        parts.append(f"accepted at seq {accepted.seq} ({format_log_time(accepted.integrated_at)})")
    if revoked is not None and isinstance(revoked.statement, GrantRevoke):
        effective = format_timestamp(revoked.statement.effective_at)
        parts.append(f"revoked at seq {revoked.seq}, effective {effective}")
    return "; ".join(parts)


# --- offers --------------------------------------------------------------------------------------


def cmd_offers(args: argparse.Namespace) -> int:
    """List the grants made to your party that you have not accepted yet (nor the creator
    withdrawn), each with its terms; accept one with ledger accept."""
    key_id = load_key(args).key_id
    log = trusted_log(args)
    found = open_offers(log, key_id, args.limit)
    report(log, found.checkpoint, f"{len(found.grants)} open offer(s)")
    if found.received > found.looked_at:
        print(
            f"ledger: looked at the latest {found.looked_at:,} of the {found.received:,} grants"
            " made to your party: give --limit N to look further",
            file=sys.stderr,
        )
    if found.party.ended is not None:
        print(
            f"ledger: your key {found.party.key_id} {found.party.ended.describe()}; these are the"
            " offers to its party, which accepts them with its current key",
            file=sys.stderr,
        )
    if not found.grants:
        print(f"ledger: no open offers to {found.party.pseudonym!r}", file=sys.stderr)
    if wants_json(args):
        offers = [{"seq": g.seq, "grant": grant_json(g.grant)} for g in found.grants]
        print_json({"party": found.party.pseudonym, "offers": offers})
        return EXIT_OK
    for g in found.grants:
        print(f"grant         {g.grant.grant_id}  seq {g.seq}")
        for line in grant_lines(g.grant, None, found.party):
            print(f"  {line}")
    return EXIT_OK


def _limit(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to 1000")
    return n


def register(sub: Any) -> None:
    show = sub.add_parser("show", help=cmd_show.__doc__, description=cmd_show.__doc__)
    show.add_argument("grant_id", type=grant_id_arg, metavar="GRANT_ID", help="the grant's id")
    show.add_argument(
        "--content", action="store_true", help="also list every item (sha256, bytes, duration)"
    )
    add_log_args(show)
    show.set_defaults(func=cmd_show)

    offers = sub.add_parser("offers", help=cmd_offers.__doc__, description=cmd_offers.__doc__)
    add_key_args(offers)
    offers.add_argument(
        "--limit",
        type=_limit,
        default=100,
        metavar="N",
        help="look at the latest N grants made to your party (default: %(default)s)",
    )
    add_log_args(offers)
    offers.set_defaults(func=cmd_offers)
