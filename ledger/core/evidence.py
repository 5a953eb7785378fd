"""Evidence bundles and their offline verifier (docs/FORMAT.md §13, docs/LICENSING.md).

An evidence bundle answers "was each of these clips licensed to buyer B for use U at time T?" with
everything needed to check the answer without trusting the server: the log's signed checkpoint,
every deciding entry once (exact leaf bytes plus an inclusion proof against that checkpoint) and a
verdict per item. ``verify_bundle`` checks, in this order:

1. the bundle's shape (``bundle_malformed``) and that it names the log key the caller trusts
   (``log_key_mismatch``);
2. the checkpoint signature under that key, C2SP signed-note / tlog-checkpoint
   (``checkpoint_invalid``);
3. per entry: its leaf hash (``leaf_hash_mismatch``), seq (``seq_mismatch``), the leaf format and
   statement (``leaf_invalid``), every statement signature (``bad_signature``), and its RFC 9162
   §2.1.3.2 inclusion proof against the checkpoint root (``inclusion_proof_invalid``; the proofs
   are checked as one batch that does not hash a shared interior node twice,
   ``ledger.core.multiproof``, with exactly the single-proof outcome for every entry);
4. the hash chain between consecutive entries present (``chain_broken``);
5. per item: that the entries it cites are present (``entry_missing``) and that its verdict equals
   the verdict **recomputed** from the verified entries with ``ledger.core.licensing``
   (``verdict_mismatch``). The server's verdict is never trusted.

With a witness ``policy`` (c2sp.org/tlog-policy, ``ledger.core.policy``), step 2 also checks the
checkpoint's cosignature lines: every line by a policy witness must verify (``cosignature_invalid``)
and the witnesses must meet the quorum (``quorum_not_met``); each counted witness's cosignature
timestamp is reported (``EvidenceReport.witness_times``) as evidence, independent of the log, that
the tree existed by then. Without a policy, cosignature lines are ignored.

``verify_bundle`` returns an ``EvidenceReport`` (``bool()`` is True when every check held; a "not
licensed" verdict is a result, not a failure); ``check_bundle`` raises ``EvidenceInvalid`` instead.
Signature checks use ``cryptography`` unless a faster ``SignatureCheck`` is passed in (the CLI
passes PyNaCl's when it is installed; see ``ledger/sigverify.py``). No I/O here.
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import gc
import hashlib
import itertools
import struct
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .canonical import canonicalize, parse_json
from .checkpoint import Checkpoint, open_checkpoint
from .encoding import b64_decode, b64_encode, hash_from_hex
from .errors import (
    BadSignature,
    EvidenceInvalid,
    LedgerError,
    MalformedBundle,
    QuorumNotMet,
)
from .leaf import Leaf, check_chain, leaf_hash, parse_leaf
from .licensing import REASONS, LicenceState, Verdict, check_use, format_instant, parse_instant
from .merkle import LEAF_PREFIX
from .multiproof import InclusionBatch
from .note import NoteVerifier
from .policy import WitnessPolicy, verify_cosigned_checkpoint
from .sigcheck import SignatureCheck, cryptography_check

BUNDLE_FORMAT: Final = "consent-ledger/evidence/v1"

# Failure codes of the offline verifier (stable; docs/FORMAT.md §13.3).
BUNDLE_MALFORMED: Final = "bundle_malformed"
LOG_KEY_MISMATCH: Final = "log_key_mismatch"
CHECKPOINT_INVALID: Final = "checkpoint_invalid"
LEAF_HASH_MISMATCH: Final = "leaf_hash_mismatch"
SEQ_MISMATCH: Final = "seq_mismatch"
LEAF_INVALID: Final = "leaf_invalid"
BAD_SIGNATURE: Final = "bad_signature"
INCLUSION_PROOF_INVALID: Final = "inclusion_proof_invalid"
CHAIN_BROKEN: Final = "chain_broken"
ENTRY_MISSING: Final = "entry_missing"
VERDICT_MISMATCH: Final = "verdict_mismatch"
QUERY_MISMATCH: Final = "query_mismatch"
QUORUM_NOT_MET: Final = "quorum_not_met"
COSIGNATURE_INVALID: Final = "cosignature_invalid"
FAILURE_CODES: Final = (
    BUNDLE_MALFORMED,
    LOG_KEY_MISMATCH,
    CHECKPOINT_INVALID,
    LEAF_HASH_MISMATCH,
    SEQ_MISMATCH,
    LEAF_INVALID,
    BAD_SIGNATURE,
    INCLUSION_PROOF_INVALID,
    CHAIN_BROKEN,
    ENTRY_MISSING,
    VERDICT_MISMATCH,
    QUERY_MISMATCH,
    QUORUM_NOT_MET,
    COSIGNATURE_INVALID,
)

_sha256: Final = hashlib.sha256

# --- the bundle ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceQuery:
    buyer: str  # key id (64 hex)
    use: str
    at: int  # microseconds since the epoch

    def to_json(self) -> dict[str, Any]:
        return {"buyer": self.buyer, "use": self.use, "at": format_instant(self.at)}


@dataclass(frozen=True)
class EvidenceEntry:
    """One log entry: exact leaf bytes, leaf hash and inclusion proof against the checkpoint."""

    seq: int
    leaf: bytes
    leaf_hash: bytes
    inclusion_proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "leaf_hash": self.leaf_hash.hex(),
            "leaf": b64_encode(self.leaf),
            "inclusion_proof": [h.hex() for h in self.inclusion_proof],
        }


@dataclass(frozen=True)
class EvidenceBundle:
    """A self-contained answer for one buyer, use and time over many content items."""

    origin: str
    verifier_key: str
    checkpoint: str
    query: EvidenceQuery
    entries: tuple[EvidenceEntry, ...]
    items: tuple[Verdict, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "log": {"origin": self.origin, "verifier_key": self.verifier_key},
            "checkpoint": self.checkpoint,
            "query": self.query.to_json(),
            "entries": [e.to_json() for e in self.entries],
            "items": [v.to_json() for v in self.items],
        }

    def to_bytes(self) -> bytes:
        """The RFC 8785 canonical JSON of the bundle (what ``ledger prove`` writes)."""
        return canonicalize(self.to_json())

    @classmethod
    def from_json(cls, obj: object) -> EvidenceBundle:
        """Parse the v1 shape strictly; raises MalformedBundle. Verifies nothing."""
        return _parse_bundle(obj)


# --- parsing the JSON shape ----------------------------------------------------------------------


def _members(obj: object, names: Iterable[str], where: str) -> dict[str, Any]:
    expected = names if isinstance(names, frozenset) else frozenset(names)
    if not isinstance(obj, dict) or obj.keys() != expected:
        got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise MalformedBundle(f"{where} must be an object with members {sorted(expected)}: {got}")
    return obj


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedBundle(f"{where} must be a non-negative integer")
    return value


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedBundle(f"{where} must be a string")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedBundle(f"{where} must be a list")
    return value


def _hash(value: object, where: str) -> bytes:
    raw = _hex32(value)
    if raw is not None:
        return raw
    try:
        return hash_from_hex(value, where)  # refuses, with the message
    except LedgerError as e:
        raise MalformedBundle(f"{where}: {e.message}") from e


def _hex32(value: object) -> bytes | None:
    """The 32 bytes that exactly 64 lowercase hex digits spell; None for anything else.

    Without a regex: the hex round trip refuses uppercase and whitespace.
    """
    if type(value) is str and len(value) == 64:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            return None
        if raw.hex() == value:
            return raw
    return None


def _hex32_list(items: list[Any]) -> tuple[bytes, ...] | None:
    """``_hex32`` of every item in one pass (proofs hold many); None if any item is not so."""
    try:
        joined = " ".join(items)  # refuses anything but strings
        raw = bytes.fromhex(joined)
    except (TypeError, ValueError):
        return None
    # One space between items: fromhex skips it, and with 32 bytes an item, the spaced hex of the
    # result gives back exactly that text only when each item is 64 lowercase hex digits.
    if len(raw) != 32 * len(items) or raw.hex(" ", 32) != joined:
        return None
    if len(items) > _SPLITTER_MAX:  # no proof is that long; a hostile bundle may be
        return tuple(raw[i : i + 32] for i in range(0, len(raw), 32))
    return _hash_splitter(len(items)).unpack(raw) if items else ()


def _parse_query(obj: object) -> EvidenceQuery:
    q = _members(obj, ("buyer", "use", "at"), "query")
    _hash(q["buyer"], "query.buyer")
    try:
        use = check_use(q["use"])
        at = parse_instant(q["at"], "query.at")
    except LedgerError as e:
        raise MalformedBundle(e.message) from e
    if format_instant(at) != q["at"]:
        raise MalformedBundle("query.at must have exactly six fractional digits")
    return EvidenceQuery(q["buyer"], use, at)


_ENTRY_MEMBERS: Final = frozenset(("seq", "leaf_hash", "leaf", "inclusion_proof"))


def _parse_entries(value: object) -> tuple[EvidenceEntry, ...]:
    """The bundle's entries: each by the fast parser, or by the strict one when that declines."""
    return tuple(
        _fast_entry(e) or _parse_entry(e, i) for i, e in enumerate(_list(value, "entries"))
    )


def _fast_entry(obj: object) -> EvidenceEntry | None:
    """``_parse_entry`` for an entry that passes its checks, in fewer steps; otherwise None.

    Same checks: canonical base64 as ``encoding.b64_decode`` takes it (``_canonical_b64``), hashes
    as ``_hash`` and ``_hashes`` take them. On any doubt ``_parse_entry`` decides.
    """
    if type(obj) is not dict or obj.keys() != _ENTRY_MEMBERS:
        return None
    seq, text, hash_text, proof = obj["seq"], obj["leaf"], obj["leaf_hash"], obj["inclusion_proof"]
    if not (
        type(seq) is int
        and seq >= 0
        and type(text) is str
        and type(hash_text) is str
        and len(hash_text) == 64
        and type(proof) is list
        and 0 < len(proof) <= _SPLITTER_MAX
    ):
        return None
    leaf = _canonical_b64(text)
    digest = _hex32(hash_text)
    hashes = _hex32_list(proof)
    if leaf is None or digest is None or hashes is None:
        return None
    return EvidenceEntry(seq, leaf, digest, hashes)


def _canonical_b64(text: str) -> bytes | None:
    """What ``encoding.b64_decode`` gives for canonical base64 text; None for any other text.

    Cheaper than its round trip for a leaf: strict decoding refuses every character outside the
    alphabet, misplaced padding and data after it; the length rules out missing or extra padding;
    and the last character before the padding must leave the unused bits zero (RFC 4648 §3.5).
    """
    if len(text) % 4:
        return None
    try:
        data = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    if text[-2:] == "==":
        return data if text[-3] in _ZERO_LOW_4_BITS else None
    if text[-1:] == "=":
        return data if text[-2] in _ZERO_LOW_2_BITS else None
    return data


#: Base64 digits whose value has the low 4 (2) bits zero: the last one before "==" ("=").
_ZERO_LOW_4_BITS: Final = frozenset("AQgw")
_ZERO_LOW_2_BITS: Final = frozenset("AEIMQUYcgkosw048")


def _parse_entry(obj: object, i: int) -> EvidenceEntry:
    e = _members(obj, _ENTRY_MEMBERS, f"entries[{i}]")
    leaf = _leaf_bytes(e["leaf"], f"entries[{i}].leaf")
    seq = e["seq"]
    if type(seq) is not int or seq < 0:
        _int(seq, f"entries[{i}].seq")
    return EvidenceEntry(
        seq,
        leaf,
        _hash(e["leaf_hash"], f"entries[{i}].leaf_hash"),
        _hashes(e["inclusion_proof"], f"entries[{i}].inclusion_proof"),
    )


def _leaf_bytes(text: object, where: str) -> bytes:
    """Canonical standard base64 (``encoding.b64_decode``), refused as a malformed bundle."""
    try:
        return b64_decode(text, what=where)
    except LedgerError as err:
        raise MalformedBundle(err.message) from err


def _hashes(value: object, where: str) -> tuple[bytes, ...]:
    """A list of 64-hex-digit hashes, checked in one pass (proofs hold many)."""
    hashes = _hex32_list(_list(value, where))
    if hashes is None:
        raise MalformedBundle(f"{where} must list hashes of 64 lowercase hex digits")
    return hashes


#: Longest hash list cut apart with one precompiled struct (an RFC 9162 proof has at most 64).
_SPLITTER_MAX = 128


@functools.lru_cache(maxsize=128)
def _hash_splitter(count: int) -> struct.Struct:
    """Cuts ``count`` concatenated 32-byte hashes apart in one call."""
    return struct.Struct("32s" * count)


_VERDICT_MEMBERS: Final = frozenset(
    ("sha256", "licensed", "reason", "grant_seq", "entries", "conflicts")
)
_INT_ONLY: Final = frozenset((int,))


def _fast_verdict(obj: object) -> Verdict | None:
    """``_parse_verdict`` for an item without conflicts that passes its checks; otherwise None."""
    if type(obj) is not dict or obj.keys() != _VERDICT_MEMBERS:
        return None
    sha, licensed, reason = obj["sha256"], obj["licensed"], obj["reason"]
    grant_seq, seqs = obj["grant_seq"], obj["entries"]
    if not (
        _hex32(sha) is not None
        and type(licensed) is bool
        and type(reason) is str
        and reason in REASONS
        and (grant_seq is None or (type(grant_seq) is int and grant_seq >= 0))
        and type(seqs) is list
        and obj["conflicts"] == []
        and (not seqs or (set(map(type, seqs)) == _INT_ONLY and min(seqs) >= 0))
    ):
        return None
    return Verdict(sha, licensed, reason, grant_seq, tuple(seqs), ())


def _parse_verdict(obj: object, i: int) -> Verdict:
    where = f"items[{i}]"
    names = ("sha256", "licensed", "reason", "grant_seq", "entries", "conflicts")
    v = _members(obj, names, where)
    _hash(v["sha256"], f"{where}.sha256")
    if not isinstance(v["licensed"], bool) or v["reason"] not in REASONS:
        raise MalformedBundle(f"{where}: licensed must be a boolean and reason a known code")
    grant_seq = None if v["grant_seq"] is None else _int(v["grant_seq"], f"{where}.grant_seq")
    seqs = tuple(_int(s, f"{where}.entries") for s in _list(v["entries"], f"{where}.entries"))
    conflicts = []
    for pair in _list(v["conflicts"], f"{where}.conflicts"):
        if not isinstance(pair, list) or len(pair) != 2:
            raise MalformedBundle(f"{where}.conflicts holds pairs of seqs")
        conflicts.append((_int(pair[0], where), _int(pair[1], where)))
    return Verdict(v["sha256"], v["licensed"], v["reason"], grant_seq, seqs, tuple(conflicts))


def _parse_bundle(obj: object) -> EvidenceBundle:
    names = ("format", "log", "checkpoint", "query", "entries", "items")
    b = _members(obj, names, "bundle")
    if b["format"] != BUNDLE_FORMAT:
        raise MalformedBundle(f"format must be {BUNDLE_FORMAT!r}")
    log = _members(b["log"], ("origin", "verifier_key"), "log")
    entries = _parse_entries(b["entries"])
    if any(a.seq >= b_.seq for a, b_ in itertools.pairwise(entries)):
        raise MalformedBundle("entries must be in strictly increasing seq order")
    items = tuple(
        _fast_verdict(v) or _parse_verdict(v, i) for i, v in enumerate(_list(b["items"], "items"))
    )
    if len({v.sha256 for v in items}) != len(items):
        raise MalformedBundle("items must not list the same sha256 twice")
    return EvidenceBundle(
        _str(log["origin"], "log.origin"),
        _str(log["verifier_key"], "log.verifier_key"),
        _str(b["checkpoint"], "checkpoint"),
        _parse_query(b["query"]),
        entries,
        items,
    )


def load_bundle(data: bytes | str) -> Any:
    """Strict JSON (docs/FORMAT.md §1.5) of a bundle file; raises MalformedJSON."""
    return parse_json(data)


# --- verifying -----------------------------------------------------------------------------------


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


def _check_items(
    bundle: EvidenceBundle, leaves: Mapping[int, Leaf], report: EvidenceReport
) -> None:
    """Step 5: cited entries present, and every verdict recomputed from the verified entries."""
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
    for name in ("licensed", "reason", "grant_seq", "entries", "conflicts"):
        a, b = getattr(claimed, name), getattr(recomputed, name)
        if a != b:
            return f"the bundle says {name}={a!r}; the entries give {b!r}"
    return "verdicts differ"  # pragma: no cover - only the fields above exist


# --- building ------------------------------------------------------------------------------------


def make_bundle(
    *,
    origin: str,
    verifier_key: str,
    checkpoint: str,
    query: EvidenceQuery,
    contents: Iterable[str],
    leaves: Sequence[tuple[bytes, Leaf]],
    proofs: Mapping[int, Sequence[bytes]],
) -> EvidenceBundle:
    """Assemble a bundle: verdicts computed with ``licensing`` over exactly ``leaves``.

    ``leaves`` are (stored bytes, parsed leaf) pairs, each once; ``proofs`` maps each seq to its
    inclusion proof against ``checkpoint``. Duplicate content hashes collapse to their first
    occurrence. The verifier recomputes the verdicts over the same entries, so a server that uses
    this function and an honest verifier always agree. No I/O.
    """
    state = LicenceState.replay((leaf for _, leaf in leaves), query.at)
    unique = list(dict.fromkeys(contents))
    items = tuple(state.verdict(sha256, query.buyer, query.use) for sha256 in unique)
    entries = tuple(
        EvidenceEntry(leaf.seq, data, leaf_hash(data), tuple(proofs[leaf.seq]))
        for data, leaf in sorted(leaves, key=lambda pair: pair[1].seq)
    )
    return EvidenceBundle(origin, verifier_key, checkpoint, query, entries, items)


def check_answers(
    report: EvidenceReport, buyer: str, use: str, at: int | None, contents: Sequence[str]
) -> EvidenceReport:
    """Add ``query_mismatch`` unless the bundle answers exactly this question.

    A client that asked about ``contents`` (duplicates allowed) for ``buyer``, ``use`` and ``at``
    (None: "now", any time) must get a bundle about exactly that, items in the order asked.
    """
    bundle = report.bundle
    if bundle is None:
        return report
    q = bundle.query
    asked = list(dict.fromkeys(c.lower() for c in contents))
    if (q.buyer, q.use) != (buyer, use) or (at is not None and q.at != at):
        report.fail(QUERY_MISMATCH, "the bundle answers another buyer, use or time")
    if [v.sha256 for v in bundle.items] != asked:
        report.fail(QUERY_MISMATCH, "the bundle's items are not the content asked about")
    return report


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
