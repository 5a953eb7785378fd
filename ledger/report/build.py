"""From an evidence bundle to a ``Report``: verify it again, then describe it for people.

Verification is re-done here with the offline verifier (``ledger.core.evidence.verify_bundle``);
the bundle's own verdicts are shown only as "what the bundle says", next to the recomputed ones.
The descriptive parts (parties, terms, timeline) are read from the leaf bytes; an entry that did
not verify is still described, marked as such, so a reader can see what was tampered with.
No I/O here: the caller reads the bundle and writes the rendering.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from ledger.core import logstate
from ledger.core.canonical import parse_json
from ledger.core.checkpoint import Checkpoint
from ledger.core.encoding import sha256
from ledger.core.errors import LedgerError
from ledger.core.evidence import (
    BAD_SIGNATURE,
    CHAIN_BROKEN,
    CHECKPOINT_INVALID,
    COSIGNATURE_INVALID,
    ENTRY_MISSING,
    INCLUSION_PROOF_INVALID,
    LEAF_HASH_MISMATCH,
    LEAF_INVALID,
    LOG_KEY_MISMATCH,
    MAP_CODES,
    QUORUM_NOT_MET,
    SEQ_MISMATCH,
    VERDICT_MISMATCH,
    EvidenceBundle,
    EvidenceReport,
    Failure,
    format_posix,
    load_bundle,
    verify_bundle,
)
from ledger.core.leaf import datetime_from_micros, format_log_time, split_leaf
from ledger.core.licensing import Verdict, format_instant
from ledger.core.note import NoteVerifier, parse_note
from ledger.core.policy import WitnessPolicy
from ledger.core.statements import (
    ContentItem,
    Grant,
    GrantAccept,
    GrantRevoke,
    KeyRevoke,
    KeyRotate,
    PartyRegister,
    Statement,
    parse_statement,
    statement_hash,
)
from ledger.report.model import (
    FAIL,
    NOT_APPLICABLE,
    NOT_CHECKED,
    PASS,
    CheckpointView,
    ContentRow,
    EntryCheck,
    Event,
    GrantView,
    Party,
    Report,
    Step,
    TermsGroup,
)
from ledger.report.plain import (
    answer_line,
    reason_words,
    term_clauses,
    terms_summary,
    use_words,
)
from ledger.sigverify import signature_check

TITLE: Final = "Consent Ledger evidence report"
_ENTRY_FAILURES: Final = (LEAF_HASH_MISMATCH, LEAF_INVALID, BAD_SIGNATURE, SEQ_MISMATCH)


@dataclass(frozen=True)
class _Entry:
    """A bundle entry read for display only. ``statement`` is None when it cannot be read; then
    ``raw`` holds what could be read of it (shown, escaped, so a reader sees what is wrong)."""

    seq: int
    integrated_at: int | None
    statement: Statement | None
    statement_hash: str
    raw: str = ""


#: How much of an unreadable statement the timeline shows.
_RAW_LIMIT: Final = 300


def _read_entry(seq: int, leaf: bytes) -> _Entry:
    # Display only: signatures are the verifier's business, so a tampered entry is still shown.
    try:
        parts = split_leaf(leaf)
    except LedgerError as e:
        return _Entry(seq, None, None, "", f"the leaf cannot be split: {e.message}")
    raw = parts.statement_bytes[:_RAW_LIMIT].decode("utf-8", "replace")
    try:
        stmt = parse_statement(parse_json(parts.statement_bytes))
    except LedgerError as e:
        return _Entry(seq, parts.integrated_at, None, "", f"{e.message}; the statement: {raw}")
    return _Entry(seq, parts.integrated_at, stmt, statement_hash(parts.statement_bytes).hex())


def _replayed_keys(entries: Iterable[_Entry]) -> dict[str, logstate.KeyState]:
    """The keys the bundle's readable entries register, replayed with the append rules."""
    state, _ = logstate.replay(
        (e.statement, bytes.fromhex(e.statement_hash), datetime_from_micros(e.integrated_at))
        for e in entries
        if e.statement is not None and e.integrated_at is not None
    )
    return {k: key for k, key in state.keys.items() if key is not None}


class _Context:
    """The verified bundle plus lookups the sections share (names, grant labels, failures)."""

    def __init__(self, bundle: EvidenceBundle, result: EvidenceReport, log_url: str = "") -> None:
        self.bundle = bundle
        self.result = result
        self.log_url = log_url
        self.entries = [_read_entry(e.seq, e.leaf) for e in bundle.entries]
        self.by_seq = {e.seq: e for e in self.entries}
        self.grant_labels: dict[int, str] = {}
        self.grant_by_hash: dict[str, int] = {}
        # Names and parties as the log's own rules build them (ledger.core.logstate): a key
        # counts for the party that registered it, or that rotated to it while valid.
        keys = _replayed_keys(self.entries)
        self.names: dict[str, str] = {k: key.pseudonym for k, key in keys.items()}
        #: key id -> the key id that registered its party
        self.party_of: dict[str, str] = {k: key.party_id for k, key in keys.items()}
        for e in self.entries:
            if isinstance(e.statement, Grant):
                self.grant_labels[e.seq] = f"G{len(self.grant_labels) + 1}"
                self.grant_by_hash[e.statement_hash] = e.seq
        self.failed: dict[tuple[str, int], Failure] = {}
        for f in result.failures:
            if f.seq is not None:
                self.failed.setdefault((f.code, f.seq), f)

    def name(self, key_id: str) -> str:
        """``pseudonym (key 1a2b3c4d...)``; a key without a registration in the bundle says so."""
        pseudonym = self.names.get(key_id, "unregistered in this bundle")
        return f"{pseudonym} (key {key_id[:12]}...)"

    def grant_label(self, grant_hash: str) -> str:
        seq = self.grant_by_hash.get(grant_hash)
        return (
            f"grant {grant_hash[:12]}... (not in the bundle)"
            if seq is None
            else (f"grant {self.grant_labels[seq]}")
        )

    def failure(self, seq: int, codes: Iterable[str]) -> Failure | None:
        for code in codes:
            found = self.failed.get((code, seq))
            if found is not None:
                return found
        return None


# --- sections ------------------------------------------------------------------------------------


def _question(ctx: _Context, key_source: str) -> list[tuple[str, str]]:
    q = ctx.bundle.query
    return [
        ("Buyer", ctx.name(q.buyer)),
        ("Buyer key id", q.buyer),
        ("Use", f"{use_words(q.use)} ({q.use})"),
        ("At (UTC)", format_instant(q.at)),
        ("Content items", f"{len(ctx.bundle.items):,}"),
        ("Log entries in the bundle", f"{len(ctx.bundle.entries):,}"),
        ("Log", ctx.bundle.origin),
        ("Log URL", ctx.log_url or "not known to the machine that made this report"),
        ("Log key used to verify", key_source),
    ]


def _parties(ctx: _Context) -> list[Party]:
    # Roles by party, so that a key rotated in later still counts for the party it belongs to.
    buyer = {ctx.party_of.get(ctx.bundle.query.buyer)}
    creators = {
        ctx.party_of.get(e.statement.signer) for e in ctx.entries if isinstance(e.statement, Grant)
    }
    parties = []
    for e in ctx.entries:
        stmt = e.statement
        if not isinstance(stmt, PartyRegister):
            continue
        roles = [r for r, keys in (("buyer", buyer), ("creator", creators)) if stmt.signer in keys]
        time = None if e.integrated_at is None else format_log_time(e.integrated_at)
        parties.append(
            Party(" and ".join(roles) or "party", stmt.signer, stmt.pseudonym, e.seq, time)
        )
    return parties


def _terms(ctx: _Context) -> list[TermsGroup]:
    """Grants grouped by terms that read the same (a bundle may hold hundreds of grants made
    from one template); groups in order of their first grant."""
    groups: dict[tuple[tuple[str, str], ...], list[tuple[GrantView, Grant]]] = {}
    for e in ctx.entries:
        stmt = e.statement
        if not isinstance(stmt, Grant):
            continue
        view = GrantView(
            label=ctx.grant_labels[e.seq],
            grant_id=stmt.grant_id,
            statement_hash=e.statement_hash,
            seq=e.seq,
            integrated_at=_log_time(e),
            creator=ctx.name(stmt.signer),
            buyer=ctx.name(stmt.buyer),
            items=len(stmt.content),
        )
        groups.setdefault(tuple(term_clauses(stmt.terms)), []).append((view, stmt))
    return [
        TermsGroup(
            label=f"Terms {_letters(n)}",
            summary=terms_summary(members[0][1].terms),
            clauses=clauses,
            grants=[view for view, _ in members],
        )
        for n, (clauses, members) in enumerate(groups.items())
    ]


def _letters(n: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: spreadsheet-style labels."""
    text = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        text = chr(ord("A") + rest) + text
    return text


def _log_time(e: _Entry) -> str:
    return "unreadable" if e.integrated_at is None else format_log_time(e.integrated_at)


def _describe_register(ctx: _Context, stmt: PartyRegister) -> str:
    return f"{stmt.pseudonym} registers key {stmt.signer[:12]}..."


def _describe_rotate(ctx: _Context, stmt: KeyRotate) -> str:
    return f"{ctx.name(stmt.signer)} rotates to key {stmt.new_public_key.key_id[:12]}..."


def _describe_key_revoke(ctx: _Context, stmt: KeyRevoke) -> str:
    return f"{ctx.name(stmt.signer)} revokes key {stmt.key_id[:12]}... ({stmt.reason})"


def _describe_grant(ctx: _Context, stmt: Grant) -> str:
    items = f"{len(stmt.content):,} item{'s' if len(stmt.content) != 1 else ''}"
    return f"{ctx.name(stmt.signer)} offers a grant ({items}) to {ctx.name(stmt.buyer)}"


def _describe_accept(ctx: _Context, stmt: GrantAccept) -> str:
    return f"{ctx.name(stmt.signer)} accepts {ctx.grant_label(stmt.grant_hash)}"


def _describe_grant_revoke(ctx: _Context, stmt: GrantRevoke) -> str:
    effective = stmt.effective_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"{ctx.name(stmt.signer)} revokes {ctx.grant_label(stmt.grant_hash)}, effective {effective}"
    )


#: One line of the timeline per statement type: who did what, named by pseudonym and short key id.
DESCRIPTIONS: Final[dict[type[Statement], Callable[[_Context, Any], str]]] = {
    PartyRegister: _describe_register,
    KeyRotate: _describe_rotate,
    KeyRevoke: _describe_key_revoke,
    Grant: _describe_grant,
    GrantAccept: _describe_accept,
    GrantRevoke: _describe_grant_revoke,
}


def _describe(ctx: _Context, stmt: Statement) -> str:
    describe = DESCRIPTIONS.get(type(stmt))
    if describe is None:
        raise TypeError(f"the report cannot describe statement type {type(stmt).__name__}")
    return describe(ctx, stmt)


def _timeline(ctx: _Context) -> list[Event]:
    at = ctx.bundle.query.at
    events = []
    asked = Event(format_instant(at), None, "(question)", "the time the bundle asks about")
    for e in ctx.entries:
        if e.statement is None:
            text = f"THIS ENTRY CANNOT BE READ: {e.raw}"
            events.append(Event(_log_time(e), e.seq, "unreadable", text))
            continue
        kind = e.statement.type_name
        if isinstance(e.statement, Grant):
            kind = f"{kind} {ctx.grant_labels[e.seq]}"
        text = _describe(ctx, e.statement)
        if e.integrated_at is not None and e.integrated_at > at:
            text += " - logged after the time asked about, so it does not count"
        if ctx.failure(e.seq, (*_ENTRY_FAILURES, INCLUSION_PROOF_INVALID)):
            text += " - THIS ENTRY DID NOT VERIFY"
        events.append(Event(_log_time(e), e.seq, kind, text))
    # The question's time goes after every entry integrated at or before it.
    position = sum(1 for e in ctx.entries if e.integrated_at is not None and e.integrated_at <= at)
    events.insert(position, asked)
    return events


def _status(failure: Failure | None, checkable: bool = True) -> str:
    if failure is not None:
        return FAIL
    return PASS if checkable else NOT_CHECKED


def _entry_checks(ctx: _Context) -> list[EntryCheck]:
    """One row per entry, in the verifier's order (ledger/core/evidence/verify.py): a leaf whose
    hash is wrong is not checked further; proofs need a verified checkpoint; a chain link is
    checked between two consecutive entries that both verified."""
    checkpoint_ok = ctx.result.checkpoint is not None
    verified = {
        e.seq
        for e in ctx.bundle.entries
        if ctx.failure(e.seq, (*_ENTRY_FAILURES, INCLUSION_PROOF_INVALID)) is None
    }
    rows = []
    for e in ctx.entries:
        hash_failure = ctx.failure(e.seq, (LEAF_HASH_MISMATCH,))
        readable = hash_failure is None
        sig_failure = ctx.failure(e.seq, (LEAF_INVALID, BAD_SIGNATURE, SEQ_MISMATCH))
        proof_failure = ctx.failure(e.seq, (INCLUSION_PROOF_INVALID,))
        chain_failure = ctx.failure(e.seq, (CHAIN_BROKEN,))
        if e.seq - 1 in ctx.by_seq:
            chain = _status(chain_failure, e.seq in verified and e.seq - 1 in verified)
        else:
            chain = NOT_APPLICABLE
        problems = [
            f.message for f in (hash_failure, sig_failure, proof_failure, chain_failure) if f
        ]
        rows.append(
            EntryCheck(
                seq=e.seq,
                statement=_entry_label(ctx, e),
                leaf_hash=_status(hash_failure),
                signatures=_status(sig_failure, readable),
                inclusion=_status(proof_failure, readable and checkpoint_ok),
                chain=chain,
                detail="; ".join(problems) or _signers(ctx, e),
            )
        )
    return rows


def _entry_label(ctx: _Context, e: _Entry) -> str:
    if e.statement is None:
        return "unreadable"
    if isinstance(e.statement, Grant):
        return f"grant {ctx.grant_labels[e.seq]}"
    return e.statement.type_name


def _signers(ctx: _Context, e: _Entry) -> str:
    stmt = e.statement
    if stmt is None:
        return ""
    return "signed by " + " and ".join(ctx.name(k) for k in stmt.required_signers())


def _global_steps(ctx: _Context, key: NoteVerifier, key_from_bundle: bool) -> list[Step]:
    codes = ctx.result.codes
    first = {f.code: f for f in reversed(ctx.result.failures)}
    key_detail = f"the bundle names the log key {key.to_vkey()}"
    if key_from_bundle:
        key_detail += (
            "; no key was supplied, so this key was taken from the bundle itself: the checks"
            " below show the bundle is consistent, not that it comes from the log you trust"
        )
    cp = ctx.result.checkpoint
    cp_detail = (
        f"C2SP signed note verified under {key.name}+{key.key_id:08x}: tree size {cp.tree_size:,}"
        if cp is not None
        else "not verified"
    )
    n = len(ctx.bundle.items)
    mismatches = codes.count(VERDICT_MISMATCH)
    missing = codes.count(ENTRY_MISSING)
    return [
        Step(
            "Log key",
            _status(first.get(LOG_KEY_MISMATCH)),
            _detail(first, LOG_KEY_MISMATCH, key_detail),
        ),
        Step(
            "Checkpoint signature",
            _status(first.get(CHECKPOINT_INVALID)),
            _detail(first, CHECKPOINT_INVALID, cp_detail),
        ),
        Step(
            "Log entries",
            _entries_status(ctx),
            f"{ctx.result.entries_verified:,} of {len(ctx.entries):,} entries verified: leaf "
            "hash, statement signatures, inclusion proof, chain links (table below)"
            + ("" if cp is not None else "; inclusion proofs NOT CHECKED: no verified checkpoint"),
        ),
        _map_step(ctx),
        Step(
            "Cited entries present",
            FAIL if missing else PASS,
            f"{n - missing:,} of {n:,} items cite only entries that are in the bundle",
        ),
        Step(
            "Verdicts recomputed",
            FAIL if mismatches else PASS,
            f"{n - mismatches:,} of {n:,} verdicts in the bundle equal the verdict recomputed"
            " from the verified entries (docs/LICENSING.md)",
        ),
    ]


def _witness_step(ctx: _Context) -> Step:
    """The cosignatures under the reader's witness policy, and each witness's time."""
    first = {f.code: f for f in reversed(ctx.result.failures)}
    failure = first.get(COSIGNATURE_INVALID) or first.get(QUORUM_NOT_MET)
    name = "Witness cosignatures"
    if failure is not None:
        return Step(name, FAIL, failure.message)
    if ctx.result.checkpoint is None:
        return Step(name, NOT_CHECKED, "not checked: the checkpoint did not verify")
    times = [
        f"witness {w} cosigned the checkpoint at {format_posix(t)}"
        for w, t in ctx.result.witness_times
    ]
    return Step(
        name,
        PASS,
        "the quorum of the witness policy is met"
        + (
            "; independent evidence of time (each witness's own clock): " + "; ".join(times)
            if times
            else " (the policy's quorum needs no cosignature)"
        ),
    )


def _map_step(ctx: _Context) -> Step:
    """The licence-map proofs: no entry the verdicts rest on was left out (FORMAT §13.3 step 6)."""
    name = "Nothing left out (licence map)"
    failures = [f for f in ctx.result.failures if f.code in MAP_CODES]
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        return Step(name, FAIL, f"{failures[0]}{more}")
    root = ctx.result.map_root
    if root is None:
        return Step(name, NOT_CHECKED, "not checked: the checkpoint did not verify")
    return Step(
        name,
        PASS,
        f"{ctx.result.map_keys_verified:,} map keys proven against the map root "
        f"{root.hex()} the checkpoint commits: every entry they list is in the bundle",
    )


def _entries_status(ctx: _Context) -> str:
    """FAIL when an entry failed; NOT CHECKED when the proofs could not be checked at all."""
    failed = {f.code for f in ctx.result.failures if f.seq is not None and f.code not in MAP_CODES}
    if failed or ctx.result.entries_verified != len(ctx.entries):
        return FAIL
    return PASS if ctx.result.checkpoint is not None else NOT_CHECKED


def _detail(first: dict[str, Failure], code: str, otherwise: str) -> str:
    failure = first.get(code)
    return otherwise if failure is None else failure.message


def _verdict_text(v: Verdict) -> str:
    return "licensed" if v.licensed else f"not licensed ({v.reason})"


def _content(ctx: _Context, names: Mapping[str, str]) -> list[ContentRow]:
    items: dict[str, ContentItem] = {}
    for e in ctx.entries:
        if isinstance(e.statement, Grant):
            for item in e.statement.content:
                items.setdefault(item.sha256, item)
    recomputed = ctx.result.verdicts
    rows = []
    for i, claimed in enumerate(ctx.bundle.items):
        mine = recomputed[i] if i < len(recomputed) else None
        meta = items.get(claimed.sha256)
        decided = mine if mine is not None else claimed
        conflicts = ", ".join(
            f"{ctx.grant_labels.get(a, a)}/{ctx.grant_labels.get(b, b)}"
            for a, b in decided.conflicts
        )
        rows.append(
            ContentRow(
                sha256=claimed.sha256,
                bytes=None if meta is None else meta.bytes,
                duration_s=None if meta is None else meta.duration_s,
                media_type="" if meta is None else meta.media_type,
                grants=""
                if decided.grant_seq is None
                else ctx.grant_labels.get(decided.grant_seq, f"seq {decided.grant_seq}"),
                claimed=_verdict_text(claimed),
                recomputed="not recomputed" if mine is None else _verdict_text(mine),
                reason=reason_words(decided.reason),
                conflicts=f"exclusivity conflict: {conflicts}" if conflicts else "",
                agrees=mine == claimed,
                name=names.get(claimed.sha256, ""),
                licensed=None if mine is None else mine.licensed,
            )
        )
    return rows


def _answer(ctx: _Context) -> str:
    """The answer the report leads with: recomputed, or, for a bundle that failed, what it
    claims, said so."""
    q = ctx.bundle.query
    if ctx.result and len(ctx.result.verdicts) == len(ctx.bundle.items):
        return answer_line([(v.licensed, v.reason) for v in ctx.result.verdicts], q.use, _at(q.at))
    claimed = answer_line([(v.licensed, v.reason) for v in ctx.bundle.items], q.use, _at(q.at))
    return f"Not established: the bundle does not verify. It claims: {claimed}"


def _at(micros: int) -> str:
    return format_instant(micros)


def _checkpoint(ctx: _Context | None, note: str, key: NoteVerifier | None) -> CheckpointView:
    """The checkpoint as verified; if it did not verify, what it claims (marked unverified)."""
    cp = None if ctx is None else ctx.result.checkpoint
    verified = cp is not None
    if cp is None:
        try:
            cp = Checkpoint.parse(parse_note(note)[0])
        except LedgerError:
            cp = None
    return CheckpointView(
        origin="unreadable" if cp is None else cp.origin,
        tree_size=None if cp is None else cp.tree_size,
        root_hex="unreadable" if cp is None else cp.root_hash.hex(),
        key_name="no key" if key is None else key.name,
        key_id="" if key is None else f"{key.key_id:08x}",
        verified=verified,
        note=note,
    )


#: Columns of the "verify it yourself" commands: longer ones go on several lines, each a
#: shell continuation (`` \``) between two arguments, so that no key or path is ever broken
#: and a pasted command runs as it is.
COMMAND_WIDTH: Final = 88


def shell_command(*groups: Sequence[str]) -> str:
    r"""A command from argument groups (each shell-quoted, kept on one line), continued with
    `` \`` before a group that would pass ``COMMAND_WIDTH``."""
    lines = [""]
    for group in groups:
        text = " ".join(shlex.quote(word) for word in group)
        if lines[-1] and len(lines[-1]) + 1 + len(text) + 2 > COMMAND_WIDTH:
            lines[-1] += " \\"
            lines.append("    " + text)
        else:
            lines[-1] = f"{lines[-1]} {text}" if lines[-1] else text
    return "\n".join(lines)


def _reverify(
    name: str,
    digest: str,
    vkey: str | None,
    tree_size: int | None,
    log_url: str = "",
    manifest: str | None = None,
) -> list[tuple[str, str]]:
    # Every value is shell-quoted: the file name and (without --log-key) the key come from
    # outside, and a reader will paste these lines into a terminal.
    key = vkey or "<the log's verifier key>"
    size = "<tree size above>" if tree_size is None else str(tree_size)
    asked = [] if manifest is None else [("--manifest", manifest)]
    base = log_url.rstrip("/") if log_url else "<the log's URL>"
    return [
        (
            "1. Check that you hold the same bundle: its SHA-256 must be " + digest + ".",
            shell_command(("sha256sum", name)),
        ),
        (
            "2. Obtain the log's verifier key independently of this bundle: from the log's "
            "operator, or as verifier_key from GET /v1/log on the log's server"
            + (f" ({log_url})" if log_url else "")
            + ". This report used:",
            vkey or "(no usable key)",
        ),
        (
            "3. Run the offline verifier from a checkout of Consent Ledger. It imports only the "
            "pure core (the Python standard library, cryptography and rfc8785), checks the "
            "checkpoint signature, every leaf hash, statement signature, inclusion proof and "
            "chain link, and "
            "recomputes every verdict; it exits 0 only when every check holds.",
            shell_command(("python", "scripts/verify_evidence.py", name), ("--log-key", key)),
        ),
        (
            "The same check with the ledger command installed (pip install -r requirements.txt)"
            + (", with the file names of the manifest:" if manifest else ":"),
            shell_command(("ledger", "verify", name), ("--log-key", key), *asked, ("-v",))
            if manifest
            else shell_command(("ledger", "verify", name), ("--log-key", key)),
        ),
        (
            "4. To write a verifier of your own: the bundle format is specified byte for byte in "
            "docs/FORMAT.md (section 'Evidence bundles'), the licence rules in "
            "docs/LICENSING.md.",
            "",
        ),
        (
            "5. To check that the log has not rewritten its history since this checkpoint, fetch "
            "its latest checkpoint and a consistency proof from this tree size (docs/FORMAT.md "
            "section 5.3):",
            f"curl {base}/v1/checkpoint\n"
            f"curl '{base}/v1/proofs/consistency?first={size}&second=<latest size>'",
        ),
    ]


_NOTES: Final = (
    "Made by the ledger report command, which verified the bundle again with the offline verifier "
    "(ledger.core.evidence) and recomputed every verdict; the bundle's own verdicts are shown "
    "only as what the bundle says.",
    "Times: statement times are as the signer wrote them; log times are the log's integration "
    "times (UTC), which order events (docs/LICENSING.md).",
)


_PRIMITIVES: Final = {"pynacl": "PyNaCl (libsodium)", "cryptography": "cryptography (OpenSSL)"}


def _bundle_key(obj: Any) -> str | None:
    log = obj.get("log") if isinstance(obj, dict) else None
    key = log.get("verifier_key") if isinstance(log, dict) else None
    return key if isinstance(key, str) else None


def build_report(
    data: bytes,
    *,
    bundle_name: str,
    log_key: str | None,
    log_key_note: str | None = None,
    now: datetime | None = None,
    policy: WitnessPolicy | None = None,
    names: Mapping[str, str] | None = None,
    manifest_name: str | None = None,
    log_url: str | None = None,
) -> Report:
    """Verify ``data`` (a bundle file's bytes) again and describe it.

    ``names`` maps content hashes to the file names a buyer's manifest gives them (shown next
    to each item; ``manifest_name`` is that manifest, for the commands to verify again), and
    ``log_url`` is where the log answers, when the reader knows it.

    With a witness ``policy`` the checkpoint's cosignatures must meet its quorum, and each
    witness's cosignature time is shown as evidence of time independent of the log.

    ``log_key`` is the verifier key the reader trusts, ``log_key_note`` why (default "given with
    --log-key"; the CLI says "pinned in ..." for a key pinned in its state folder); None uses the
    key the bundle names, and the report says so. Raises InvalidKey for a malformed ``log_key``
    (the caller's mistake); every problem with the bundle itself becomes a failure in the
    report, never an exception.
    """
    base = {
        "title": TITLE,
        "bundle_name": bundle_name,
        "bundle_sha256": sha256(data).hex(),
        "generated_at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notes": _NOTES,
        "log_url": log_url or "",
    }
    given = None if log_key is None else NoteVerifier.from_vkey(log_key)
    try:
        obj = load_bundle(data)
    except LedgerError as e:
        return _unusable(
            base, [f"bundle_malformed: the file is not strict JSON: {e.message}"], given
        )
    key = given
    if key is None:
        try:
            key = NoteVerifier.from_vkey(_bundle_key(obj) or "")
        except LedgerError as e:
            return _unusable(
                base,
                [
                    f"log_key_mismatch: no --log-key given and the bundle names "
                    f"no usable log key: {e.message}"
                ],
                None,
            )
    primitive, check = signature_check()
    library = _PRIMITIVES.get(primitive, primitive)
    base["notes"] = (*_NOTES, f"Ed25519 signatures were checked with {library}.")
    result = verify_bundle(obj, key, check=check, policy=policy)
    if result.bundle is None:
        return _unusable(base, [str(f) for f in result.failures], key)
    ctx = _Context(result.bundle, result, log_url or "")
    note = log_key_note or "given with --log-key"
    return _full(
        base,
        ctx,
        key,
        key_from_bundle=given is None,
        witnessed=policy is not None,
        note=note,
        names=names,
        manifest=manifest_name,
    )


def _full(
    base: dict[str, Any],
    ctx: _Context,
    key: NoteVerifier,
    key_from_bundle: bool,
    witnessed: bool = False,
    note: str = "given with --log-key",
    names: Mapping[str, str] | None = None,
    manifest: str | None = None,
) -> Report:
    source = key.to_vkey() + (
        " (taken from the bundle: not independent)" if key_from_bundle else f" ({note})"
    )
    checkpoint = _checkpoint(ctx, ctx.bundle.checkpoint, key)
    return Report(
        **base,
        question=_question(ctx, source),
        failures=[str(f) for f in ctx.result.failures],
        steps=_global_steps(ctx, key, key_from_bundle)
        + ([_witness_step(ctx)] if witnessed else []),
        entry_checks=_entry_checks(ctx),
        parties=_parties(ctx),
        terms=_terms(ctx),
        timeline=_timeline(ctx),
        content=_content(ctx, names or {}),
        checkpoint=checkpoint,
        reverify=_reverify(
            base["bundle_name"],
            base["bundle_sha256"],
            key.to_vkey(),
            checkpoint.tree_size,
            base["log_url"],
            manifest,
        ),
        caveats=[KEY_FROM_BUNDLE] if key_from_bundle else [],
        answer=_answer(ctx),
    )


def _unusable(base: dict[str, Any], failures: Sequence[str], key: NoteVerifier | None) -> Report:
    """A report for a file the verifier could not even read as a bundle."""
    vkey = None if key is None else key.to_vkey()
    return Report(
        **base,
        question=[("Bundle", "could not be read as an evidence bundle")],
        failures=failures,
        steps=[Step("Bundle format", FAIL, failures[0])],
        entry_checks=[],
        parties=[],
        terms=[],
        timeline=[],
        content=[],
        checkpoint=_checkpoint(None, "", key),
        reverify=_reverify(base["bundle_name"], base["bundle_sha256"], vkey, None, base["log_url"]),
        answer="Not established: the file could not be read as an evidence bundle",
        caveats=[],
    )


KEY_FROM_BUNDLE: Final = (
    "No log key was supplied (--log-key), so the key named in the bundle itself was used. The "
    "checks show that the bundle is consistent under that key, not that it comes from the log "
    "you trust: verify again with the log's key obtained independently."
)
