"""The offline verifier of evidence bundles: the checks of ``ledger.core.evidence``'s
docstring, in that order, and ``summary_lines`` to read a report. No I/O here.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, Final

from ..checkpoint import Checkpoint, open_checkpoint
from ..errors import (
    BadSignature,
    EvidenceInvalid,
    LedgerError,
    QuorumNotMet,
)
from ..leaf import Leaf, check_chain, parse_leaf
from ..licensing import LicenceState, Verdict, format_instant
from ..licmap import checkpoint_map_root, describe_key, encode_seqs
from ..merkle import LEAF_PREFIX
from ..multiproof import InclusionBatch
from ..note import NoteVerifier
from ..policy import WitnessPolicy, verify_cosigned_checkpoint
from ..sigcheck import SignatureCheck, cryptography_check
from ..vmap import verify_membership, verify_non_membership
from .bundle import (
    BAD_SIGNATURE,
    BUNDLE_MALFORMED,
    CHAIN_BROKEN,
    CHECKPOINT_INVALID,
    COSIGNATURE_INVALID,
    ENTRY_MISSING,
    ENTRY_OMITTED,
    INCLUSION_PROOF_INVALID,
    LEAF_HASH_MISMATCH,
    LEAF_INVALID,
    LOG_KEY_MISMATCH,
    MAP_PROOF_MISSING,
    MAP_ROOT_MISSING,
    QUERY_MISMATCH,
    QUORUM_NOT_MET,
    SEQ_MISMATCH,
    VERDICT_MISMATCH,
    EvidenceBundle,
    EvidenceEntry,
    MapMember,
)
from .complete import closure_from, initial_keys

_sha256: Final = hashlib.sha256


@dataclass(frozen=True)
class Failure:
    """One check that did not hold."""

    code: str
    message: str
    seq: int | None = None
    sha256: str | None = None

    def __str__(self) -> str:
        where = "" if self.seq is None else f" (entry {self.seq})"
        where += "" if self.sha256 is None else f" (item {self.sha256})"
        return f"{self.code}{where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "seq": self.seq, "sha256": self.sha256}


@dataclass
class EvidenceReport:
    """What ``verify_bundle`` found. True when every check held."""

    failures: list[Failure] = field(default_factory=list)
    bundle: EvidenceBundle | None = None
    checkpoint: Checkpoint | None = None
    #: The verdicts recomputed from the verified entries, in item order.
    verdicts: tuple[Verdict, ...] = ()
    entries_verified: int = 0
    #: The map root the checkpoint commits, and how many required map keys were proven.
    map_root: bytes | None = None
    map_keys_verified: int = 0
    #: With a policy: (witness policy name, cosignature time in POSIX seconds) of each witness
    #: counted towards the quorum, in policy order. Empty without a policy or when it failed.
    witness_times: list[tuple[str, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return not self.failures

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.failures]

    def fail(self, code: str, message: str, **where: Any) -> None:
        self.failures.append(Failure(code, message, **where))


def verify_bundle(
    bundle: object,
    log_key: str | NoteVerifier,
    *,
    check: SignatureCheck = cryptography_check,
    policy: WitnessPolicy | None = None,
) -> EvidenceReport:
    """Verify a bundle (parsed JSON or ``EvidenceBundle``) against the log key ``log_key``,
    and its checkpoint's cosignatures against the witness ``policy`` when one is given.

    Never raises for any input: every problem is a ``Failure`` in the report. The cyclic
    garbage collector is paused meanwhile (``gc_paused``).
    """
    with gc_paused():
        return _verify_bundle(bundle, log_key, check, policy)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration, then restore its state.

    Verifying allocates a few container objects per entry and keeps most of them (the leaves and
    their statements), so the collector would otherwise walk the whole, growing set of live
    objects again and again: about a sixth of the verifier's time, for no garbage (it makes no
    reference cycles; plain garbage is freed by reference counting as always).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _verify_bundle(
    bundle: object,
    log_key: str | NoteVerifier,
    check: SignatureCheck,
    policy: WitnessPolicy | None,
) -> EvidenceReport:
    report = EvidenceReport()
    try:
        verifier = log_key if isinstance(log_key, NoteVerifier) else NoteVerifier.from_vkey(log_key)
    except LedgerError as e:
        report.fail(LOG_KEY_MISMATCH, f"the log key given is not a verifier key: {e.message}")
        return report
    try:
        parsed = bundle if isinstance(bundle, EvidenceBundle) else EvidenceBundle.from_json(bundle)
    except LedgerError as e:
        report.fail(BUNDLE_MALFORMED, e.message)
        return report
    report.bundle = parsed
    _check_log(parsed, verifier, report)
    if policy is not None and report.checkpoint is not None:
        _check_witnesses(parsed.checkpoint, policy, verifier, report)
    leaves = _check_entries(parsed, report, check)
    _check_map(parsed, leaves, report)
    _check_items(parsed, leaves, report)
    return report


def check_bundle(
    bundle: object,
    log_key: str | NoteVerifier,
    *,
    check: SignatureCheck = cryptography_check,
    policy: WitnessPolicy | None = None,
) -> EvidenceReport:
    """Like ``verify_bundle`` but raises EvidenceInvalid (listing every failure) on failure."""
    report = verify_bundle(bundle, log_key, check=check, policy=policy)
    if not report:
        summary = "; ".join(str(f) for f in report.failures[:5])
        raise EvidenceInvalid(
            f"{len(report.failures)} check(s) failed: {summary}",
            failures=[f.to_json() for f in report.failures],
        )
    return report


def _check_log(bundle: EvidenceBundle, verifier: NoteVerifier, report: EvidenceReport) -> None:
    """Steps 1-2: the bundle names the trusted key, and the checkpoint verifies under it."""
    if bundle.verifier_key != verifier.to_vkey() or bundle.origin != verifier.name:
        report.fail(
            LOG_KEY_MISMATCH,
            f"the bundle names the log {bundle.origin!r} with key {bundle.verifier_key!r}, "
            f"not the trusted key {verifier.to_vkey()!r}",
        )
    try:
        report.checkpoint, _ = open_checkpoint(bundle.checkpoint, verifier)
    except LedgerError as e:
        report.fail(CHECKPOINT_INVALID, e.message)


def _check_witnesses(
    note: str, policy: WitnessPolicy, verifier: NoteVerifier, report: EvidenceReport
) -> None:
    """Step 2 with a policy: the cosignatures meet the quorum; record each witness's time."""
    try:
        cosigned = verify_cosigned_checkpoint(note, policy, verifier)
    except QuorumNotMet as e:
        report.fail(QUORUM_NOT_MET, e.message)
    except LedgerError as e:
        # The log signature already verified: what fails here is a witness's line.
        report.fail(COSIGNATURE_INVALID, e.message)
    else:
        report.witness_times = list(cosigned.witness_times.items())


def format_posix(seconds: int) -> str:
    """A cosignature timestamp (POSIX seconds) as RFC 3339 UTC, e.g. 2026-11-26T13:20:00Z."""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    except (OverflowError, OSError, ValueError):
        # A witness may sign any u64 time; one beyond the platform's calendar is shown raw.
        return f"{seconds} seconds after 1970-01-01T00:00:00Z"


def _check_entries(
    bundle: EvidenceBundle, report: EvidenceReport, check: SignatureCheck
) -> dict[int, Leaf]:
    """Step 3-4: each entry on its own, then chain links; returns the entries that verified."""
    leaves: dict[int, Leaf] = {}
    cp = report.checkpoint
    # Every proof is against the one checkpoint: check them as a batch sharing interior nodes.
    proofs = None if cp is None else InclusionBatch(cp.tree_size, cp.root_hash)
    for entry in bundle.entries:
        leaf = _check_entry(entry, report, check, proofs)
        if leaf is not None:
            leaves[entry.seq] = leaf
    hashes = {e.seq: e.leaf_hash for e in bundle.entries if e.seq in leaves}
    for seq, leaf in sorted(leaves.items()):
        if seq == 0:  # the first entry names the genesis value (docs/FORMAT.md §4.2)
            try:
                check_chain(leaf, None)
            except LedgerError as e:
                report.fail(CHAIN_BROKEN, e.message, seq=seq)
            continue
        prev = leaves.get(seq - 1)
        if prev is not None:
            if leaf.prev_hash == hashes[seq - 1] and leaf.integrated_at >= prev.integrated_at:
                continue  # the link holds (check_chain's two checks; seq > 0 here)
            try:
                # docs/FORMAT.md §4.2: prev_leaf_hash names the entry before; time never goes back.
                check_chain(leaf, hashes[seq - 1], prev.integrated_at)
            except LedgerError as e:
                report.fail(CHAIN_BROKEN, e.message, seq=seq)
    report.entries_verified = len(leaves)
    return leaves


def _check_entry(
    entry: EvidenceEntry,
    report: EvidenceReport,
    check: SignatureCheck,
    proofs: InclusionBatch | None,
) -> Leaf | None:
    seq = entry.seq
    computed = _sha256(LEAF_PREFIX + entry.leaf).digest()  # leaf_hash, RFC 9162 §2.1.1
    if computed != entry.leaf_hash:
        report.fail(LEAF_HASH_MISMATCH, "leaf_hash is not SHA-256(0x00 || leaf)", seq=seq)
        return None
    leaf: Leaf | None = None
    try:
        leaf = parse_leaf(entry.leaf, check=check)
    except BadSignature as e:
        report.fail(BAD_SIGNATURE, e.message, seq=seq)
    except LedgerError as e:
        report.fail(LEAF_INVALID, e.message, seq=seq)
    if leaf is not None and leaf.seq != seq:
        report.fail(SEQ_MISMATCH, f"the leaf holds seq {leaf.seq}", seq=seq)
        leaf = None
    if proofs is not None:
        try:
            # RFC 9162 §2.1.3.2 against the root the log signed (multiproof.py: same verdicts).
            proofs.verify(seq, computed, entry.inclusion_proof)
        except LedgerError as e:
            report.fail(INCLUSION_PROOF_INVALID, e.message, seq=seq)
            leaf = None
    return leaf


def _check_map(bundle: EvidenceBundle, leaves: Mapping[int, Leaf], report: EvidenceReport) -> None:
    """Step 6: every map proof against the checkpoint's map root, then the required keys walked
    from the question (``complete.initial_keys``): each must have a proof, and every entry its
    value lists must be in the bundle."""
    check_map_closure(
        bundle.map,
        {e.seq for e in bundle.entries},
        leaves,
        report,
        lambda: initial_keys((v.sha256 for v in bundle.items), bundle.query.buyer),
        rests_on="the verdicts rest on",
        partial="the answer may rest on a partial history; ask the log for the complete bundle",
    )


def check_map_closure(
    members: Sequence[MapMember],
    present: Set[int],
    leaves: Mapping[int, Leaf],
    report: EvidenceReport,
    initial: Callable[[], Iterable[bytes]],
    *,
    rests_on: str,
    partial: str,
) -> None:
    """Check ``members`` against the map root of ``report.checkpoint`` (none when it did not
    verify), then walk the required keys from ``initial()`` over the verified ``leaves``
    (``complete.closure_from``): a required key without a member fails ``map_proof_missing``, a
    listed seq not among the entries (``present``) ``entry_omitted``. ``rests_on`` and
    ``partial`` word the failures for what the bundle answers."""
    cp = report.checkpoint
    if cp is None:
        return  # the checkpoint did not verify: there is no root to check against
    try:
        root = checkpoint_map_root(cp)
    except LedgerError as e:
        report.fail(MAP_ROOT_MISSING, f"{e.message}; ask the log for a checkpoint with its map")
        return
    report.map_root = root
    proven = {m.key: m.seqs for m in members if _check_map_entry(root, m, report)}
    report.map_keys_verified = len(proven)
    claimed = {m.key for m in members}

    def values(keys: Sequence[bytes]) -> dict[bytes, tuple[int, ...]]:
        for key in keys:
            if key not in claimed:
                report.fail(
                    MAP_PROOF_MISSING,
                    f"no map proof for {describe_key(key)}, which {rests_on}: the "
                    "bundle cannot show that nothing was left out; ask the log for a new one",
                )
        return {k: proven[k] for k in keys if k in proven}  # a failed proof is not followed

    def found(seqs: Sequence[int]) -> dict[int, Leaf]:
        # An entry present but failing its own checks was reported in step 4: not omitted.
        return {s: leaves[s] for s in seqs if s in leaves}

    closure = closure_from(initial(), values, found)
    for key, seq in closure.omitted:
        if seq not in present:
            report.fail(
                ENTRY_OMITTED,
                f"the log's map lists entry {seq} under {describe_key(key)}, and the bundle does "
                f"not carry it: {partial}, and do not rely on this one",
                seq=seq,
            )


def _check_map_entry(root: bytes, member: MapMember, report: EvidenceReport) -> bool:
    """One map proof (FORMAT §14.5 steps 7-8): membership with exactly its seqs, or absence."""
    try:
        if member.seqs:
            verify_membership(root, member.key, encode_seqs(member.seqs), member.proof)
        else:
            verify_non_membership(root, member.key, member.proof)
    except LedgerError as e:
        report.fail(e.code, f"{describe_key(member.key)}: {e.message}")
        return False
    return True


def _check_items(
    bundle: EvidenceBundle, leaves: Mapping[int, Leaf], report: EvidenceReport
) -> None:
    """Step 7: cited entries present, and every verdict recomputed from the verified entries."""
    q = bundle.query
    state = LicenceState.replay(leaves.values(), q.at)
    present = {e.seq for e in bundle.entries}
    recomputed: list[Verdict] = []
    for item in bundle.items:
        cited_present = present.issuperset(item.entries) and (
            item.grant_seq is None or item.grant_seq in present
        )
        missing = (
            []
            if cited_present
            else [s for s in (*item.entries, *_grant_seq(item)) if s not in present]
        )
        if missing:
            report.fail(
                ENTRY_MISSING,
                f"cites entries not in the bundle: {missing[:10]}",
                sha256=item.sha256,
            )
        verdict = state.verdict(item.sha256, q.buyer, q.use)
        recomputed.append(verdict)
        if verdict != item:
            report.fail(VERDICT_MISMATCH, _difference(item, verdict), sha256=item.sha256)
    report.verdicts = tuple(recomputed)


def _grant_seq(item: Verdict) -> Sequence[int]:
    return () if item.grant_seq is None else (item.grant_seq,)


def _difference(claimed: Verdict, recomputed: Verdict) -> str:
    if claimed.licensed != recomputed.licensed:  # in words, not as a Python value
        said, given = (("licensed", "not licensed") if claimed.licensed else
                       ("not licensed", "licensed"))  # fmt: skip
        return f"the bundle says {said}; the entries give {given} ({recomputed.reason})"
    for name in ("reason", "grant_seq", "entries", "conflicts"):
        a, b = getattr(claimed, name), getattr(recomputed, name)
        if a != b:
            return f"the bundle says {name} {_plain(a)}; the entries give {_plain(b)}"
    return "verdicts differ"  # pragma: no cover - only the fields above exist


def _plain(value: object) -> str:
    """A verdict field for people: a code or number as it is, a list of seqs comma-separated,
    none as "none" (never Python's ``None`` or ``(1, 2)``)."""
    if value is None or value == ():
        return "none"
    if isinstance(value, tuple):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def check_answers(
    report: EvidenceReport, buyer: str, use: str, at: int | None, contents: Sequence[str]
) -> EvidenceReport:
    """Add ``query_mismatch`` unless the bundle answers exactly this question.

    A client that asked about ``contents`` (duplicates allowed) for ``buyer``, ``use`` and ``at``
    (None: "now", any time) must get a bundle about exactly that, items in the order asked.
    """
    return check_question(report, buyer=buyer, use=use, at=at, contents=contents)


def check_question(
    report: EvidenceReport,
    *,
    buyer: str | None = None,
    use: str | None = None,
    at: int | None = None,
    contents: Sequence[str] | None = None,
) -> EvidenceReport:
    """``check_answers`` for the parts of the question given (None: not asked about), each
    mismatch a ``query_mismatch`` that names the part: what an auditor binding a bundle to the
    question they asked (``ledger verify --manifest --buyer --use --at``) checks."""
    bundle = report.bundle
    if bundle is None:
        return report
    q = bundle.query
    asked: list[tuple[str, str | None, str]] = [
        ("buyer", buyer and buyer.lower(), q.buyer),
        ("use", use, q.use),
        ("at", None if at is None else format_instant(at), format_instant(q.at)),
    ]
    for name, value, claimed in asked:
        if value is not None and claimed != value:
            report.fail(
                QUERY_MISMATCH,
                f"the bundle answers {name} {claimed}, not {value} as asked: it answers another "
                "question",
            )
    if contents is not None:
        wanted = list(dict.fromkeys(c.lower() for c in contents))
        items = [v.sha256 for v in bundle.items]
        if items != wanted:
            report.fail(QUERY_MISMATCH, _items_difference(items, wanted))
    return report


def _items_difference(items: Sequence[str], wanted: Sequence[str]) -> str:
    extra = [s for s in items if s not in set(wanted)]
    lacking = [s for s in wanted if s not in set(items)]
    if extra or lacking:
        return (
            f"the bundle's items are not the content asked about: {len(lacking)} asked about "
            f"and not answered (first {lacking[:1]}), {len(extra)} answered and not asked about "
            f"(first {extra[:1]})"
        )
    return "the bundle's items are the content asked about, in another order"


# --- reading a report ----------------------------------------------------------------------------


def summary_lines(report: EvidenceReport) -> list[str]:
    """A plain-text account of a report: what was checked, the verdicts, every failure."""
    lines: list[str] = []
    if report.bundle is not None:
        q = report.bundle.query
        lines.append(f"query      buyer {q.buyer} use {q.use} at {format_instant(q.at)}")
    if report.checkpoint is not None:
        cp = report.checkpoint
        lines.append(f"checkpoint {cp.origin} size {cp.tree_size} root {cp.root_hash.hex()}")
    for name, seconds in report.witness_times:
        # A witness's clock, not the log's: independent evidence the tree existed by then.
        lines.append(f"witness    {name} cosigned at {format_posix(seconds)}")
    lines.append(f"entries    {report.entries_verified} verified")
    if report.map_root is not None:
        complete = ": nothing the verdicts rest on was left out" if report else ""
        lines.append(
            f"map        {report.map_keys_verified} keys proven against map root "
            f"{report.map_root.hex()}{complete}"
        )
    counts: dict[str, int] = {}
    for verdict in report.verdicts:
        counts[verdict.reason] = counts.get(verdict.reason, 0) + 1
    licensed = counts.get("licensed", 0)
    detail = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))
    lines.append(f"items      {len(report.verdicts)}: {licensed} licensed ({detail or 'none'})")
    if report:
        lines.append("result     OK: every check holds (verdicts recomputed from the entries)")
    else:
        lines.append(f"result     FAILED: {len(report.failures)} check(s) did not hold")
        lines.extend(f"  {failure}" for failure in report.failures)
    return lines
