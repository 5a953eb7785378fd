"""``ledger grant``, ``ledger accept``, ``ledger revoke``: licences, signed on this machine.

The private key never leaves the machine: statements are built and signed here and only the
signed envelopes are sent. ``accept`` and ``revoke`` first fetch the grant and verify it locally
(signatures, that it names a key of your party in the right role — any key of the party, as for
the log: docs/LICENSING.md §1 —, and its inclusion in a checkpoint consistent with what this
machine saw) before signing anything that names its hash; ``accept`` shows every term and asks.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger.cli.common import (
    EXIT_OK,
    CliError,
    add_key_args,
    has_terminal,
    load_key,
    print_json,
    say,
    wants_json,
)
from ledger.cli.content import add_hash_args, hash_paths, listed_once, manifest_items
from ledger.cli.submit import add_log_args, report, submit_and_show, trusted_log
from ledger.cli.times import SPELLINGS, statement_end, statement_time
from ledger.client.grants import VerifiedGrant, fetch_verified_grants
from ledger.client.parties import VerifiedParty, verified_party
from ledger.client.submit import Submitted
from ledger.client.trust import TrustedLog, VerifiedCheckpoint
from ledger.content.c2pa import CONSTRAINED as C2PA_CONSTRAINED
from ledger.content.c2pa import NONE as C2PA_NONE
from ledger.content.c2pa import NOT_ALLOWED as C2PA_NOT_ALLOWED
from ledger.content.manifest import ManifestItem
from ledger.core import builders
from ledger.core.errors import LedgerError
from ledger.core.keys import SigningKey, parse_key_id
from ledger.core.statements import PROHIBITIONS, USES, Grant, GrantAccept, format_timestamp
from ledger.report.plain import join_words, term_clauses

UNITS = {"minute": "per_minute", "clip": "per_clip", "flat": "flat"}
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def grant_id_arg(text: str) -> str:
    """A grant id, a UUID in either case (the log spells it in lowercase)."""
    if not _UUID_RE.fullmatch(text.lower()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a grant id (a UUID)")
    return text.lower()


# --- grant ---------------------------------------------------------------------------------------


def cmd_grant(args: argparse.Namespace) -> int:
    """License content to a buyer: sign grant(s) here, submit them, verify they are logged."""
    key = load_key(args)
    terms = _terms(args)
    try:
        buyer = parse_key_id(args.buyer.lower(), "--buyer")
    except LedgerError as e:
        raise CliError(e.message) from e
    items = _items(args, terms.uses)  # after the cheap checks: hashing may take minutes
    try:
        signed = builders.grants_for_items(key, buyer, items, terms)
    except LedgerError as e:
        raise CliError(e.message) from e
    if len(signed) > 1 and terms.unit == "flat":
        # docs/ACCOUNTS.md §1: a flat amount is owed per grant entry, so once per part.
        raise CliError(
            f"--per flat: {len(items)} items need {len(signed)} grants, and a flat price would "
            "be owed once per grant; price them --per minute or --per clip, or grant them in "
            "smaller sets, each with its own flat price"
        )
    if len(signed) > 1:
        print(f"ledger: {len(items)} items split into {len(signed)} grants", file=sys.stderr)
    made: list[dict[str, Any]] = []
    submit_and_show(args, signed, show=lambda done: _show_grant(done, made, wants_json(args)))
    if wants_json(args):
        print_json({"grants": made})
    return EXIT_OK


def _show_grant(done: Submitted, made: list[dict[str, Any]], quiet: bool) -> None:
    stmt = done.signed.statement
    assert isinstance(stmt, Grant)
    made.append({"grant_id": stmt.grant_id, "seq": done.seq, "items": len(stmt.content)})
    if not quiet:
        print(f"grant_id   {stmt.grant_id}  seq {done.seq}  items {len(stmt.content)}")


def grant_json(grant: Grant) -> dict[str, Any]:
    """A grant's statement fields for ``--json`` (docs/CLI.md): times in RFC 3339, amounts as
    decimal strings, as the statement itself spells them."""
    return {"creator": grant.signer, **_plain(dataclasses.asdict(grant))}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in ("signer", "nonce")}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def _terms(args: argparse.Namespace) -> builders.TermsSpec:
    if args.revocable != (args.notice_days is not None):
        raise CliError("--revocable and --notice-days N go together")
    start = args.start or datetime.now(UTC).replace(microsecond=0)
    if args.end <= start:
        raise CliError(
            f"--end must be later than --start (default: now): {format_timestamp(args.end)} is"
            f" not after {format_timestamp(start)}"
        )
    say(
        f"term from {format_timestamp(start)} until {format_timestamp(args.end)}, that instant"
        " excluded (a bare --end date is the end of that day, UTC)"
    )
    return builders.TermsSpec(
        uses=tuple(dict.fromkeys(args.use)),
        start=start,
        end=args.end,
        prohibitions=tuple(dict.fromkeys(args.prohibit or ())),
        exclusive=args.exclusive,
        territory=tuple(dict.fromkeys(t if t == "worldwide" else t.upper() for t in args.territory))
        if args.territory
        else ("worldwide",),
        revocable=args.revocable,
        notice_days=args.notice_days,
        amount=args.price,
        currency=args.currency.upper(),
        unit=UNITS[args.per],
        attribution=args.attribution,
        sublicensing=args.sublicensing,
    )


def _items(args: argparse.Namespace, uses: Sequence[str]) -> list[builders.Item]:
    if bool(args.paths) == bool(args.manifest):
        raise CliError("give the content as PATH... or as --manifest FILE (one of the two)")
    found = manifest_items(args.manifest) if args.manifest else listed_once(hash_paths(args))
    if args.no_c2pa and not args.manifest:
        say("--no-c2pa: what the files' C2PA manifests say about AI training is not checked")
    overrides = set(args.c2pa_override or ())
    if not overrides <= set(uses):
        raise CliError(
            f"--c2pa-override {join_words(sorted(overrides - set(uses)))}: a use this grant does"
            " not license (give it with --use too, or drop the override)"
        )
    items = [_item(m, args, _c2pa_check(m, uses, overrides)) for m in found]
    unused = overrides - {use for item in items for use in item.c2pa_override}
    if unused:
        raise CliError(
            f"--c2pa-override {join_words(sorted(unused))}: no file's valid C2PA manifest forbids"
            " it, so there is nothing to override; drop the option"
        )
    return items


def _c2pa_check(m: ManifestItem, uses: Sequence[str], overrides: set[str]) -> tuple[str, ...]:
    """What the file's own C2PA manifest says about the uses granted (docs/FORMAT.md §3.7),
    said on stderr before anything is signed. Refuses a use its valid training-mining assertion
    marks notAllowed unless ``overrides`` names it; returns the uses overridden."""
    c2pa = m.c2pa
    if c2pa is None or c2pa.state == C2PA_NONE:
        return ()
    if not c2pa.valid:
        say(
            f"{m.describe()}: its C2PA manifest is {c2pa.state} ({', '.join(c2pa.problems)}):"
            " what it says about AI training is not relied on"
        )
        return ()
    for p in c2pa.uses(C2PA_CONSTRAINED):
        if p.use in uses:
            say(f"{m.describe()}: its C2PA manifest constrains {p.use}: {p.constraint or '-'}")
    forbidden = [p.use for p in c2pa.uses(C2PA_NOT_ALLOWED) if p.use in uses]
    refused = [use for use in forbidden if use not in overrides]
    if refused:
        raise CliError(
            f"nothing signed: the C2PA manifest of {m.describe()}, signed by"
            f" {c2pa.signer or 'an unnamed signer'}, marks {join_words(refused)} notAllowed;"
            f" drop that --use, or license it all the same with --c2pa-override"
            f" {refused[0]} (recorded in the grant)"
        )
    if forbidden and c2pa.manifest_hash is None:
        raise CliError(
            f"nothing signed: {m.describe()} forbids {join_words(forbidden)} in a C2PA manifest"
            " whose hash this tool cannot record (not a sidecar, MP4, MOV, WAV or AVI), so an"
            " override cannot be recorded in the grant"
        )
    for use in forbidden:
        say(f"{m.describe()}: licensing {use} against its C2PA manifest (--c2pa-override)")
    return tuple(forbidden)


def _item(m: ManifestItem, args: argparse.Namespace, overridden: tuple[str, ...]) -> builders.Item:
    if m.bytes is None:
        raise CliError(
            f"the size of {m.describe()} is unknown: a grant needs each file's size; list the"
            " files with ledger hash --out FILE"
        )
    duration = m.duration_s if m.duration_s is not None else args.duration
    if duration is None:
        raise CliError(
            f"the duration of {m.describe()} is unknown: give --duration SECONDS"
            " (used for every item whose duration could not be read)"
        )
    media = m.media_type or args.media_type
    if media is None:
        raise CliError(f"the media type of {m.describe()} is unknown: give --media-type")
    return builders.Item(
        sha256=m.sha256,
        bytes=m.bytes,
        duration_s=duration,
        media_type=media,
        c2pa_hash=None if m.c2pa is None else m.c2pa.manifest_hash,
        c2pa_override=overridden,
    )


# --- accept and revoke ---------------------------------------------------------------------------


def _verified_grants(
    args: argparse.Namespace, key: SigningKey, role: str
) -> tuple[TrustedLog, VerifiedCheckpoint, VerifiedParty, list[VerifiedGrant]]:
    """Each grant in ``args.grant_ids`` checked and proven (``ledger.client.grants``): it names a
    key of your party in ``role``, current or rotated away, and your key is still valid."""
    log = trusted_log(args)
    checkpoint, party, grants = fetch_verified_grants(log, args.grant_ids, key.key_id, role)
    report(log, checkpoint, f"{len(grants)} grant(s) and the keys of {party.pseudonym!r}")
    return log, checkpoint, party, grants


def grant_lines(
    grant: Grant, creator: VerifiedParty | None = None, buyer: VerifiedParty | None = None
) -> list[str]:
    """A grant for people: who grants what to whom, and every term in the report's words, one
    per line. Nothing is left out: each term the creator signed has its line."""
    minutes, seconds = divmod(sum(c.duration_s for c in grant.content), 60)
    media = join_words(sorted({c.media_type for c in grant.content}))
    lines = [
        f"from          {_party(grant.signer, creator)}",
        f"to            {_party(grant.buyer, buyer)}",
        f"content       {len(grant.content):,} item(s), {minutes:,} min {seconds} s in all"
        f" ({media})",
    ]
    lines += [f"{topic:<13} {clause}" for topic, clause in term_clauses(grant.terms)]
    if grant.terms.start > datetime.now(UTC):
        lines.append(
            f"{'':<13} not yet in force: the term starts {format_timestamp(grant.terms.start)}"
        )
    return lines


def _party(key_id: str, party: VerifiedParty | None) -> str:
    if party is None:
        return f"key {key_id}"
    return f"{party.pseudonym!r} (key {key_id})"


def cmd_accept(args: argparse.Namespace) -> int:
    """Accept grants made to your party: verify each one against the log, show every term, and
    sign only once you confirm (--yes for scripts)."""
    key = load_key(args)
    log, checkpoint, party, grants = _verified_grants(args, key, "buyer")
    for g in grants:
        creator = verified_party(log, g.grant.signer, checkpoint)
        print(f"ledger: grant {g.grant.grant_id}, seq {g.seq}", file=sys.stderr)
        for line in grant_lines(g.grant, creator, party):
            print(f"ledger:   {line}", file=sys.stderr)
    if args.dry_run:
        print("ledger: --dry-run: nothing signed", file=sys.stderr)
        if wants_json(args):
            print_json({"accepted": [], "dry_run": True})
        return EXIT_OK
    if not args.yes:
        _confirm(f"Accept {len(grants)} grant(s) on these terms, signed by {party.pseudonym!r}?")
    by_hash = {g.statement_hash.hex(): g.grant.grant_id for g in grants}
    accepted: list[dict[str, Any]] = []

    def show(done: Submitted) -> None:
        stmt = done.signed.statement
        assert isinstance(stmt, GrantAccept)
        accepted.append({"grant_id": by_hash[stmt.grant_hash], "seq": done.seq})
        if not wants_json(args):
            print(f"accepted   {by_hash[stmt.grant_hash]}  seq {done.seq}")

    try:
        signed = [builders.grant_accept(key, g.statement_hash) for g in grants]
        submit_and_show(args, signed, log, show)
    finally:  # a batch partly refused: what got in, before the refusal's one line
        if wants_json(args) and accepted:
            print_json({"accepted": accepted, "dry_run": False})
    if wants_json(args) and not accepted:
        print_json({"accepted": [], "dry_run": False})
    return EXIT_OK


def _confirm(question: str) -> None:
    """Ask ``question`` at the terminal; CliError unless the answer is yes. Without a terminal
    (a script, a pipe) there is nobody to ask: refuse, saying how to agree in advance."""
    if not has_terminal():
        raise CliError(
            "nothing signed: accept asks before it signs, and there is no terminal to ask on;"
            " read the terms above (or ledger show GRANT_ID) and run it again with --yes"
        )
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise CliError("nothing signed: not confirmed")


def cmd_revoke(args: argparse.Namespace) -> int:
    """Revoke a grant your party made, from --effective on (if its terms allow)."""
    key = load_key(args)
    log, _, _, (g,) = _verified_grants(args, key, "creator")
    signed = builders.grant_revoke(key, g.statement_hash, args.effective)
    (done,) = submit_and_show(args, [signed], log)
    effective = format_timestamp(args.effective)
    if wants_json(args):
        print_json({"grant_id": g.grant.grant_id, "seq": done.seq, "effective_at": effective})
    else:
        print(f"revoked    {g.grant.grant_id}  seq {done.seq}  effective {effective}")
    return EXIT_OK


# --- argument parsers ----------------------------------------------------------------------------


def _grant_parser(sub: Any) -> None:
    p = sub.add_parser("grant", help=cmd_grant.__doc__, description=cmd_grant.__doc__)
    add_key_args(p)
    p.add_argument("--buyer", required=True, metavar="KEY_ID", help="the buyer's key id")
    p.add_argument(
        "--use", action="append", required=True, choices=sorted(USES), help="a use (repeatable)"
    )
    p.add_argument("--price", required=True, metavar="AMOUNT", help="a decimal like 2.50")
    p.add_argument("--currency", required=True, help="ISO 4217, e.g. USD")
    p.add_argument("--per", required=True, choices=sorted(UNITS), help="what the price is per")
    p.add_argument(
        "--start",
        type=statement_time,
        metavar="TIME",
        help=f"when the licence starts: {SPELLINGS}; a date is its first instant, UTC"
        " (default: now)",
    )
    p.add_argument(
        "--end",
        type=statement_end,
        required=True,
        metavar="TIME",
        help="when it ends, that instant excluded: a date like 2030-12-31 means the end of that"
        " day, UTC (stored as 2031-01-01T00:00:00Z); or an instant with any offset",
    )
    p.add_argument(
        "--exclusive", action="store_true", help="an exclusive licence (docs/LICENSING.md)"
    )
    p.add_argument("--revocable", action="store_true", help="the creator may revoke it")
    p.add_argument("--notice-days", type=int, metavar="N", help="notice before a revocation")
    p.add_argument("--territory", action="append", help="ISO 3166 code; default worldwide")
    p.add_argument(
        "--prohibit",
        action="append",
        choices=sorted(PROHIBITIONS),
        help="something the buyer must not do with it (repeatable)",
    )
    p.add_argument(
        "--c2pa-override",
        action="append",
        choices=sorted(USES),
        metavar="USE",
        help="license USE even where a file's own valid C2PA manifest marks it notAllowed"
        " (refused otherwise); recorded in the grant (repeatable)",
    )
    p.add_argument("--attribution", action="store_true", help="the buyer must credit you")
    p.add_argument("--sublicensing", action="store_true", help="the buyer may sublicense")
    p.add_argument("--duration", type=int, metavar="SECONDS", help="for items of unknown length")
    p.add_argument("--media-type", help="for items of unknown media type, e.g. video/mp4")
    p.add_argument("--manifest", type=Path, help="a manifest written by ledger hash --out")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or folders")
    add_hash_args(p)
    add_log_args(p)
    p.set_defaults(func=cmd_grant)


def register(sub: Any) -> None:
    _grant_parser(sub)
    acc = sub.add_parser("accept", help=cmd_accept.__doc__, description=cmd_accept.__doc__)
    add_key_args(acc)
    acc.add_argument("grant_ids", nargs="+", type=grant_id_arg, metavar="GRANT_ID")
    acc.add_argument("--yes", "-y", action="store_true", help="accept without asking (for scripts)")
    acc.add_argument(
        "--dry-run", action="store_true", help="verify and show the terms; sign nothing"
    )
    add_log_args(acc)
    acc.set_defaults(func=cmd_accept)

    rev = sub.add_parser("revoke", help=cmd_revoke.__doc__, description=cmd_revoke.__doc__)
    add_key_args(rev)
    rev.add_argument("grant_ids", nargs=1, type=grant_id_arg, metavar="GRANT_ID")
    rev.add_argument(
        "--effective",
        type=statement_time,
        required=True,
        metavar="TIME",
        help=f"from when: {SPELLINGS} (a date is its first instant, UTC)",
    )
    add_log_args(rev)
    rev.set_defaults(func=cmd_revoke)
