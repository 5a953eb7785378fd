"""``ledger verify``, ``ledger status`` and ``ledger prove``: licence answers a person can check.

Every answer from the server is verified here with ``ledger.core`` before it is printed or written:
the checkpoint signature under the log key, every inclusion proof and statement signature, and
each verdict recomputed from the entries. Which log key to trust is ``ledger.client.trust``'s one
decision: ``--log-key``, else the key pinned in the state folder, else trust on first use (online:
the server's ``/v1/log``, pinned once its answer verified; offline: the key the bundle names,
never pinned), said on stderr.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ledger.cli.card import card_lines, card_result_json, check_card_file
from ledger.cli.common import (
    EXIT_OK,
    EXIT_UNLICENSED,
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
    read_policy,
    say,
    say_notices,
    state_dir,
    wants_json,
    write_output,
)
from ledger.cli.content import manifest_items
from ledger.cli.times import SPELLINGS, at_time, instant_arg
from ledger.client import LogClient
from ledger.client.evidence import (
    Question,
    buyer_key_id,
    content_sha256,
    named_log,
    prove,
    status,
)
from ledger.client.grants import VerifiedGrant, fetch_grant
from ledger.client.proofs import write_entry_proof
from ledger.client.receipts import fetch_proof_receipt
from ledger.client.trust import TrustedLog
from ledger.content import c2pa
from ledger.content.manifest import ManifestItem
from ledger.core.canonical import canonicalize
from ledger.core.errors import LedgerError
from ledger.core.evidence import (
    EvidenceReport,
    check_question,
    format_posix,
    load_bundle,
    summary_lines,
    verify_bundle,
)
from ledger.core.licensing import check_use, format_instant, parse_instant
from ledger.core.note import NoteVerifier
from ledger.report.plain import REASON_SHORT, answer_line
from ledger.sigverify import signature_check


def _online_log(args: argparse.Namespace, log: LogClient) -> TrustedLog:
    """The log behind ``log`` and the key to trust for it (``resolve_log_key``: ``--log-key``,
    else the key pinned for its origin, else the server's own on first use), said on stderr.
    Nothing is pinned until ``_done`` after the answer verified."""
    trusted = TrustedLog(log, state_dir(args), log_key_arg(args))
    trusted.identify()
    say_notices(trusted)
    return trusted


def _done(trusted: TrustedLog) -> None:
    """The answer verified under the key: pin it if it was not (first use, or --log-key)."""
    trusted.save_identity()
    say_notices(trusted)


def _verify(bundle: object, args: argparse.Namespace, vkey: NoteVerifier) -> EvidenceReport:
    return verify_bundle(bundle, vkey, **_checks(args))


def evidence_json(
    report: EvidenceReport, files: Sequence[ManifestItem] = (), out: str | None = None
) -> dict[str, Any]:
    """``status``, ``prove`` and ``verify`` with ``--json`` (docs/CLI.md): what was verified,
    the question, each verdict (with its file's path when the manifest gives one), the counts."""
    paths = {item.sha256: item.path for item in files if item.path}
    cp = report.checkpoint
    return {
        "verified": bool(report),
        "failures": [f.to_json() for f in report.failures],
        "query": None if report.bundle is None else report.bundle.query.to_json(),
        "checkpoint": None
        if cp is None
        else {"origin": cp.origin, "tree_size": cp.tree_size, "root_hash": cp.root_hash.hex()},
        "verdicts": [{**v.to_json(), "path": paths.get(v.sha256)} for v in report.verdicts],
        "licensed": sum(v.licensed for v in report.verdicts),
        "not_licensed": sum(not v.licensed for v in report.verdicts),
        "witnesses": [
            {"name": name, "cosigned_at": format_posix(seconds)}
            for name, seconds in report.witness_times
        ],
        "out": out,
        "receipts_verified": report.receipts_verified,
    }


def _answer(
    args: argparse.Namespace,
    report: EvidenceReport,
    files: Sequence[ManifestItem] = (),
    out: str | None = None,
) -> int:
    """The report as ``--json`` asks, else for people; exit 1 when a check failed."""
    if not wants_json(args):
        return _print_report(report, files)
    print_json(evidence_json(report, files, out))
    return EXIT_OK if report else EXIT_VERIFY


def _print_report(report: EvidenceReport, files: Sequence[ManifestItem] = ()) -> int:
    """The answer first (when every check held), then what was verified, then, given the
    manifest's ``files``, each file with its verdict."""
    if report and report.bundle is not None:
        q = report.bundle.query
        verdicts = [(v.licensed, v.reason) for v in report.verdicts]
        print(answer_line(verdicts, q.use, format_instant(q.at)))
    for line in summary_lines(report):
        print(line)
    by_hash = {v.sha256: v for v in report.verdicts} if report else {}
    for item in files:
        v = by_hash.get(item.sha256)
        if v is not None:
            label = (
                "licensed"
                if v.licensed
                else f"NOT licensed: {REASON_SHORT.get(v.reason, v.reason)}"
            )
            print(f"{label:<40} {item.path or item.sha256}")
    return EXIT_OK if report else EXIT_VERIFY


# --- ledger verify -----------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify an evidence bundle offline: checkpoint, proofs, signatures, chain, the map proofs
    that nothing was left out, every verdict; and with --manifest/--buyer/--use/--at, that it
    answers the question you asked; with --card, that a dataset card says what it gives."""
    asked = _asked(args)
    try:
        data = Path(args.bundle).read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {args.bundle}: {e.strerror}") from e
    try:
        bundle: Any = load_bundle(data)
    except LedgerError as e:
        if wants_json(args):
            malformed = EvidenceReport()
            malformed.fail("bundle_malformed", e.message)
            print_json(evidence_json(malformed))
        else:
            print(f"result     FAILED: bundle_malformed: {e.message}")
        return EXIT_VERIFY
    origin, named = named_log(bundle)
    key = offline_log_key(args, origin, named, "bundle")
    if key is None:
        raise CliError(
            "--log-key is required: no key is pinned for the bundle's log and it names none"
        )
    files = asked.pop("files", [])
    report = check_question(_verify(bundle, args, key.verifier), **asked)
    shown = files if args.verbose or wants_json(args) else ()
    if args.card is not None:
        return _verify_card(args, data, report, shown)
    return _unlicensed(args, report, _answer(args, report, shown))


def _verify_card(
    args: argparse.Namespace, data: bytes, report: EvidenceReport, files: Sequence[ManifestItem]
) -> int:
    """``verify --card``: the bundle first, then, if it holds, every claim of the card against
    it (``ledger.report.card.check_card``); exit 1 when either fails."""
    card = check_card_file(args.card, data, report) if report else None
    ok = bool(report) and bool(card)
    if wants_json(args):
        print_json({**evidence_json(report, files), "card": card_result_json(card)})
        return _unlicensed(args, report, EXIT_OK if ok else EXIT_VERIFY)
    _print_report(report, files)
    for line in card_lines(card):
        print(line)
    return _unlicensed(args, report, EXIT_OK if ok else EXIT_VERIFY)


def _unlicensed(args: argparse.Namespace, report: EvidenceReport, code: int) -> int:
    """``--fail-unlicensed``: exit 5 when every check held but some content is not licensed."""
    if code == EXIT_OK and args.fail_unlicensed and any(not v.licensed for v in report.verdicts):
        n = sum(not v.licensed for v in report.verdicts)
        say(f"--fail-unlicensed: {n} of {len(report.verdicts)} item(s) not licensed")
        return EXIT_UNLICENSED
    return code


def _asked(args: argparse.Namespace) -> dict[str, Any]:
    """The question ``verify`` binds the bundle to: the parts given, checked before anything
    is read (a bad use or time is a usage error, exit 2)."""
    try:
        asked: dict[str, Any] = {
            "buyer": None if args.buyer is None else buyer_key_id(args.buyer),
            "use": None if args.use is None else check_use(args.use),
            "at": None if args.at is None else parse_instant(args.at, "--at"),
        }
        if args.manifest is not None:
            items = manifest_items(args.manifest)
            asked["contents"] = [item.sha256 for item in items]
            asked["files"] = items
    except LedgerError as e:
        raise CliError(e.message) from e
    return asked


# --- ledger status -----------------------------------------------------------------------------


def content_hash(value: str) -> str:
    """A sha256 given as 64 hex digits, or the SHA-256 of the file at that path."""
    try:
        return content_sha256(value)
    except LedgerError as e:
        raise CliError(e.message) from e


def _question(args: argparse.Namespace) -> Question:
    """Refuse a bad use or time here (exit 2) rather than as a server refusal."""
    try:
        return Question.of(args.buyer, args.use, args.at)
    except LedgerError as e:
        raise CliError(e.message) from e


def _checks(args: argparse.Namespace) -> dict[str, Any]:
    name, check = signature_check(accelerate=not args.no_accel)
    if args.verbose:
        (say if wants_json(args) else print)(f"signatures {name}")
    return {"check": check, "policy": read_policy(args.policy)}


def cmd_status(args: argparse.Namespace) -> int:
    """Is this content licensed to the buyer for the use, now or at --at? (proof verified) For
    a file whose C2PA manifest names its grant (ledger c2pa bind), --buyer defaults to that
    grant's buyer."""
    found = _bound_grant(args.content)
    if args.buyer is None and found is None:
        raise CliError(
            "--buyer is required (unless CONTENT is a file whose C2PA manifest names its grant,"
            " as ledger c2pa bind writes it)"
        )
    if args.buyer is not None:
        _question(args)  # a bad --use or --at before any network
    sha256 = content_hash(args.content)
    trusted = _online_log(args, client(args))
    if found is not None:
        sha256 = _bound_content(args, trusted, found, sha256)
    question = _question(args)
    report = status(
        trusted.client, question, sha256, trusted.verifier, receipts=args.receipts, **_checks(args)
    )
    if not report:
        if not wants_json(args):
            print("the server's answer does not verify:")
        return _answer(args, report)
    _done(trusted)
    if wants_json(args):
        return _unlicensed(args, report, _answer(args, report))
    verdict = report.verdicts[0]
    cp = report.checkpoint
    assert cp is not None  # a report without failures has a verified checkpoint
    state = "LICENSED" if verdict.licensed else f"NOT licensed ({verdict.reason})"
    print(f"{sha256}  {state}")
    if verdict.grant_seq is not None:
        print(f"deciding grant  seq {verdict.grant_seq}")
    for first, second in verdict.conflicts:
        print(f"exclusivity conflict between grants at seq {first} and {second}")
    print(f"verified against checkpoint {cp.origin} size {cp.tree_size}")
    for name, seconds in report.witness_times:
        print(f"witness {name} cosigned at {format_posix(seconds)}")
    return _unlicensed(args, report, EXIT_OK)


def _bound_grant(content: str) -> c2pa.C2paSummary | None:
    """A file's valid C2PA manifest that names a grant (``ledger c2pa bind``), if any. Without
    the C2PA library, or for a hash rather than a file, None."""
    path = Path(content)
    if not path.is_file():
        return None
    try:
        found = c2pa.read_file(path)
    except (LedgerError, OSError):
        return None  # no library, or unreadable: the file is asked about by its hash alone
    if found.binding is not None and not found.valid:
        say(
            f"{path}'s C2PA manifest names grant {found.binding.grant_id} but is {found.state}"
            f" ({', '.join(found.problems)}): not used"
        )
        return None
    return found if found.binding is not None and found.valid else None


def _bound_content(
    args: argparse.Namespace, trusted: TrustedLog, found: c2pa.C2paSummary, sha256: str
) -> str:
    """For a bound file: the grant its manifest names, checked against the log
    (``_check_binding``), said on stdout; --buyer defaults to its buyer. Returns the content to
    ask about (``_content_of``)."""
    assert found.binding is not None
    g = _check_binding(trusted, found.binding, sha256)
    if args.buyer is None:
        args.buyer = g.grant.buyer
    if not wants_json(args):
        print(
            f"bound grant     {g.grant.grant_id}  seq {g.seq} (named by the file's C2PA"
            " manifest, checked against the log)"
        )
    return _content_of(found, g, sha256)


def _check_binding(trusted: TrustedLog, binding: c2pa.GrantBinding, sha256: str) -> VerifiedGrant:
    """The grant the manifest names, fetched and checked (signature, id), and checked to be
    what the manifest says: this log, the same entry, the same statement hash, listing this
    content. The manifest is only a pointer: the verdict comes from the log, as for any other
    content."""
    if binding.origin != trusted.verifier.name:
        raise CliError(
            f"the file's C2PA manifest names grant {binding.grant_id} in the log"
            f" {binding.origin!r}, not in {trusted.verifier.name!r}: ask that log (--url)"
        )
    try:
        g = fetch_grant(trusted, binding.grant_id)
    except LedgerError as e:
        raise CliError(
            f"the file's C2PA manifest names grant {binding.grant_id}, which the log does not"
            f" give: {e}"
        ) from e
    if (g.seq, g.statement_hash.hex()) != (binding.seq, binding.statement_hash):
        raise CliError(
            f"the file's C2PA manifest names grant {binding.grant_id} at seq {binding.seq} with"
            f" statement hash {binding.statement_hash}; the log holds it at seq {g.seq} with"
            f" {g.statement_hash.hex()}: the manifest does not describe this log's grant"
        )
    listed = {item.sha256 for item in g.grant.content}
    if sha256 not in listed and binding.content_sha256 not in listed:
        raise CliError(
            f"the file's C2PA manifest names grant {binding.grant_id}, which does not list this"
            f" file's content {sha256}: the manifest was copied from another file"
        )
    return g


def _content_of(found: c2pa.C2paSummary, g: VerifiedGrant, sha256: str) -> str:
    """The content to ask about: the file's own, or — for a copy with the manifest embedded,
    whose bytes the grant cannot list — the clip the manifest names, when the grant's creator
    key signed that manifest (the certificate's key, not its name)."""
    if any(item.sha256 == sha256 for item in g.grant.content):
        return sha256
    assert found.binding is not None
    if found.signer_key != g.grant.signer:
        raise CliError(
            f"the file's C2PA manifest says it is the clip {found.binding.content_sha256} of"
            f" grant {found.binding.grant_id}, but it is signed by"
            f" {found.signer_key or 'a key that is not Ed25519'}, not by the grant's creator key"
            f" {g.grant.signer}: its word is not taken"
        )
    say(
        f"this file ({sha256}) embeds a C2PA manifest signed by the grant's creator key: it is"
        f" the clip {found.binding.content_sha256} the grant lists, with its manifest"
    )
    return found.binding.content_sha256


# --- ledger prove ------------------------------------------------------------------------------


def _prove_request(
    args: argparse.Namespace,
) -> tuple[Question, list[str], list[ManifestItem]]:
    """The evidence request ``prove`` sends: the question and the content hashes.

    The one place that turns prove's arguments into a request; other proof modes (such as a
    single entry's tlog proof) plug in next to this function.
    """
    if args.buyer is None or args.use is None:
        raise CliError("--buyer and --use are required with --manifest or --content")
    question = _question(args)
    files: list[ManifestItem] = []
    if args.manifest is not None:
        files = manifest_items(args.manifest)
        contents = [item.sha256 for item in files]
    else:
        contents = [content_hash(c) for c in args.content]
    if not contents:
        raise CliError("no content to prove")
    return question, contents, files


def cmd_prove(args: argparse.Namespace) -> int:
    """Fetch an evidence bundle for a dataset (or a single entry's tlog-proof file with
    --entry), verify it offline, then write it."""
    if args.entry is not None:
        return _prove_entry(args, _online_log(args, client(args)))
    question, contents, files = _prove_request(args)
    trusted = _online_log(args, client(args))
    bundle, report = prove(
        trusted.client, question, contents, trusted.verifier, receipts=args.receipts,
        **_checks(args),
    )  # fmt: skip
    if not report:
        if not wants_json(args):
            print(f"the server's bundle does not verify; {args.out} not written:")
        return _answer(args, report)
    _done(trusted)
    write_output(Path(args.out), canonicalize(bundle))
    if wants_json(args):
        return _unlicensed(args, report, _answer(args, report, files, args.out))
    _print_report(report, files)
    print(f"written    {args.out}")
    return _unlicensed(args, report, EXIT_OK)


def _prove_entry(args: argparse.Namespace, trusted: TrustedLog) -> int:
    """``prove --entry SEQ``: the entry's c2sp.org/tlog-proof@v1 file, checked with the log key."""
    report = write_entry_proof(trusted.client, args.entry, args.out, trusted.verifier)
    receipt_out = None
    if args.receipts and report is not None:
        # docs/FORMAT.md §12: the receipt at the proof file's size, checked, next to the file.
        receipt = fetch_proof_receipt(trusted.client, report, trusted.verifier.public_key)
        receipt_out = f"{args.out}.cose"
        write_output(Path(receipt_out), receipt)
    _done(trusted)
    if wants_json(args):
        tree_size = None if report is None else report.checkpoint.tree_size
        print_json(
            {"entry": args.entry, "tree_size": tree_size, "out": args.out, "receipt": receipt_out}
        )
        return EXIT_OK
    size = "" if report is None else f" in tree {report.checkpoint.tree_size}"
    print(f"wrote proof of entry {args.entry}{size} to {args.out}")
    if receipt_out is not None:
        print(f"wrote its COSE receipt (RFC 9942) at the same tree size to {receipt_out}")
    return EXIT_OK


# --- the parsers -------------------------------------------------------------------------------


def _add_verify_args(parser: argparse.ArgumentParser, online: bool) -> None:
    add_log_key_args(
        parser,
        "the key pinned for the log, else trust on first use (the server's /v1/log, pinned once"
        " its answer verified)"
        if online
        else "the key pinned for the bundle's log, else the key the bundle names (with a warning)",
    )
    parser.add_argument(
        "--no-accel", action="store_true", help="verify signatures with cryptography only"
    )
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="a witness policy (c2sp.org/tlog-policy): the checkpoint's cosignatures must meet "
        "its quorum, and each witness's time is reported",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also say which library checks signatures"
    )


def _add_answer_args(parser: argparse.ArgumentParser) -> None:
    """What ``status``, ``prove`` and ``verify`` answer with: ``--fail-unlicensed``, ``--json``."""
    parser.add_argument(
        "--fail-unlicensed",
        action="store_true",
        help="for pipelines: exit 5 when every check holds but some content is not licensed"
        " (without it, 'not licensed' is an answer and exits 0)",
    )
    add_json_arg(parser)


def _add_question_args(parser: argparse.ArgumentParser, use_required: bool) -> None:
    # prove checks --buyer and --use itself: with --entry it needs neither
    is_prove = parser.prog.endswith(" prove")
    is_status = parser.prog.endswith(" status")  # a bound file names its grant, and so its buyer
    parser.add_argument(
        "--buyer",
        required=not (is_prove or is_status),
        metavar="KEY_ID",
        help="the buyer's key id"
        + (" (default for a bound file: its grant's buyer)" if is_status else ""),
    )
    if use_required:
        parser.add_argument("--use", required=not is_prove, help="e.g. ai_training")
    else:
        parser.add_argument("--use", default="ai_training", help="default: %(default)s")
    parser.add_argument("--at", metavar="TIME", type=at_time, help=f"{SPELLINGS} (default: now)")
    parser.add_argument(
        "--receipts",
        action="store_true",
        help="ask the log to put each entry's COSE receipt (RFC 9942) in the bundle, and check "
        "them (docs/FORMAT.md §13.2)"
        + ("; with --entry, write the entry's receipt next to the proof file, as OUT.cose"
           if is_prove else ""),
    )  # fmt: skip
    add_url_arg(parser)
    _add_verify_args(parser, online=True)
    _add_answer_args(parser)


def register(sub: Any) -> None:
    verify = sub.add_parser("verify", help=cmd_verify.__doc__, description=cmd_verify.__doc__)
    verify.add_argument("bundle", help="an evidence bundle (JSON)")
    asked = verify.add_argument_group(
        "the question asked (each given part must be what the bundle answers: query_mismatch)"
    )
    asked.add_argument(
        "--manifest", type=Path, help="a content manifest: the items, in order (duplicates once)"
    )
    asked.add_argument("--buyer", metavar="KEY_ID", help="the buyer's key id")
    asked.add_argument("--use", help="e.g. ai_training")
    asked.add_argument("--at", metavar="TIME", type=instant_arg, help=SPELLINGS)
    verify.add_argument(
        "--card",
        type=Path,
        metavar="CARD",
        help="also check a dataset card (ledger card) against the bundle: every claim in it"
        " (exit 1 at the first difference, named)",
    )
    _add_verify_args(verify, online=False)
    _add_answer_args(verify)
    verify.set_defaults(func=cmd_verify)

    status = sub.add_parser("status", help=cmd_status.__doc__, description=cmd_status.__doc__)
    status.add_argument("content", metavar="SHA256|PATH", help="a content hash or a file")
    _add_question_args(status, use_required=False)
    status.set_defaults(func=cmd_status)

    prove = sub.add_parser("prove", help=cmd_prove.__doc__, description=cmd_prove.__doc__)
    what = prove.add_mutually_exclusive_group(required=True)
    what.add_argument("--manifest", type=Path, help="a content manifest (JSON or CSV)")
    what.add_argument("--content", nargs="+", metavar="SHA256", help="content hashes or files")
    what.add_argument(
        "--entry",
        type=int,
        metavar="SEQ",
        help="instead: entry SEQ's offline proof file (c2sp.org/tlog-proof@v1)",
    )
    prove.add_argument("--out", required=True, help="where to write the bundle or proof file")
    add_force_arg(prove)
    _add_question_args(prove, use_required=True)
    prove.set_defaults(func=cmd_prove)
