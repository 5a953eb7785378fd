"""Licence semantics: is content X licensed to buyer B for use U at time T?

One function family, used by the server (``GET /v1/content/{sha256}/status`` and
``POST /v1/evidence``) and by the offline verifier (``ledger.core.evidence``), over parsed log
entries (``Leaf``: statement, seq and integration time). The rules are documented in
``docs/LICENSING.md``; in short:

1. **Time travel.** Only entries integrated at or before T count (``integrated_at <= T``, in
   microseconds). The log's order (seq, which follows integration time) orders events.
2. **Replay.** The entries are replayed in seq order with the append rules of
   ``ledger.core.logstate`` (§3.6 of docs/FORMAT.md), tolerantly: a statement the rules refuse has
   no effect. So a statement whose signing key was not registered, or had been rotated away or
   revoked, when it was integrated has no effect (a grant signed so is still remembered, to be
   reported as ``unknown_key`` / ``key_revoked``, and so is the first acceptance signed so);
   acceptances count once, by the buyer's party, not after a revocation; revocations count once, by
   the creator's party, and take effect at ``effective_at`` but never earlier than the notice
   period allows for an accepted grant (the one refusal replay turns into an effect: a revocation
   that cuts the notice short takes effect when the notice ends; a revocation of an accepted,
   non-revocable grant has no effect).
3. **Verdict.** Every grant covering X that names B's party gets an outcome from the checks of
   ``GRANT_CHECKS`` in order; the first that fails is the grant's reason. If any grant passes, X is
   licensed and the deciding grant is the earliest such grant. Otherwise the reason is that of the
   grant that passed the most checks (ties: the earliest grant); with no such grant, ``no_grant``.

Exclusivity conflicts between grants covering X are detected and reported with each verdict; they
do not change it (see docs/LICENSING.md). Pure: no I/O; never raises for any list of valid leaves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from .errors import BuyerNotRegistered, InvalidParameter, KeyRevoked, StateError, UnknownKey
from .leaf import Leaf, format_log_time, micros_from_datetime
from .logstate import (
    AcceptGrant,
    AddGrant,
    AddKey,
    At,
    EndKey,
    LogState,
    RevokeGrant,
    rule_for,
)
from .statements import USES, WORLDWIDE, Grant, GrantAccept, Statement

LICENSED: Final = "licensed"
NO_GRANT: Final = "no_grant"
UNKNOWN_KEY: Final = "unknown_key"
KEY_REVOKED: Final = "key_revoked"
USE_NOT_PERMITTED: Final = "use_not_permitted"
NOT_YET_VALID: Final = "not_yet_valid"
EXPIRED: Final = "expired"
REVOKED: Final = "revoked"
NOT_ACCEPTED: Final = "not_accepted"

#: The checks a grant goes through, in order. A grant that fails check i gets that check's
#: reason; among several grants the one that failed latest decides (precedence, docs/LICENSING.md).
#: The first check yields ``unknown_key`` or ``key_revoked``; the last yields ``not_accepted``, or
#: ``unknown_key``/``key_revoked`` when the only acceptance was signed by an invalid key.
GRANT_CHECKS: Final = ("keys", USE_NOT_PERMITTED, NOT_YET_VALID, EXPIRED, REVOKED, "acceptance")

#: Every reason a verdict can carry, "yes" first. Stable: clients and bundles rely on these codes.
REASONS: Final = (
    LICENSED,
    NO_GRANT,
    UNKNOWN_KEY,
    KEY_REVOKED,
    USE_NOT_PERMITTED,
    NOT_YET_VALID,
    EXPIRED,
    REVOKED,
    NOT_ACCEPTED,
)

_US_PER_SECOND: Final = 1_000_000
_US_PER_DAY: Final = 86_400 * _US_PER_SECOND
_NEVER: Final = 2**63  # later than any log time
#: An RFC 3339 UTC instant as ``parse_instant`` takes it (the HTTP schemas document it too).
INSTANT_PATTERN = r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,6})?Z"
_INSTANT_RE = re.compile(INSTANT_PATTERN)


# --- instants ------------------------------------------------------------------------------------


def parse_instant(text: object, what: str = "at") -> int:
    """An RFC 3339 UTC instant (``...Z``, 0-6 fractional digits) as microseconds since the epoch.

    Raises InvalidParameter for anything else (offsets, lowercase ``z``, invalid dates).
    """
    if not isinstance(text, str):
        raise InvalidParameter(f"{what} must be an RFC 3339 UTC time like 2026-03-01T12:00:00Z")
    match = _INSTANT_RE.fullmatch(text)
    if match is None:
        raise InvalidParameter(f"{what} must be an RFC 3339 UTC time like 2026-03-01T12:00:00Z")
    try:
        moment = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError as e:
        raise InvalidParameter(f"{what} is not a real date and time") from e
    fraction = (match.group(2) or ".")[1:].ljust(6, "0")
    return micros_from_datetime(moment) + int(fraction)


def format_instant(micros: int) -> str:
    """The one spelling of an instant in a bundle: log time with six fractional digits."""
    return format_log_time(micros)


# --- the replayed state --------------------------------------------------------------------------


@dataclass
class _Key:
    key_id: str
    party: str
    intro_seq: int
    chain: tuple[int, ...]  # seqs of the entries introducing this key and its predecessors
    end_seq: int | None = None


@dataclass
class _GrantRecord:
    entry: Leaf
    grant: Grant
    key_problem: str | None  # unknown_key / key_revoked: the grant had no effect
    creator_party: str | None
    buyer_party: str | None
    accept: Leaf | None = None
    bad_accept: tuple[Leaf, str] | None = None  # first acceptance signed by an invalid key
    revoke: Leaf | None = None
    revoke_effective: int = _NEVER
    start: int = 0  # the terms in microseconds, converted once
    end: int = _NEVER

    def __post_init__(self) -> None:
        terms = self.grant.terms
        self.start = micros_from_datetime(terms.start)
        self.end = _NEVER if terms.end is None else micros_from_datetime(terms.end)

    @property
    def seq(self) -> int:
        return self.entry.seq


@dataclass(frozen=True)
class Verdict:
    """The answer for one content item: licensed or not, why, and the entries that decide it."""

    sha256: str
    licensed: bool
    reason: str
    grant_seq: int | None
    entries: tuple[int, ...]
    conflicts: tuple[tuple[int, int], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "licensed": self.licensed,
            "reason": self.reason,
            "grant_seq": self.grant_seq,
            "entries": list(self.entries),
            "conflicts": [list(pair) for pair in self.conflicts],
        }


@dataclass
class LicenceState:
    """The licence-relevant state of a log replayed up to time ``at`` (microseconds).

    Build it with ``LicenceState.replay(entries, at)``; then ask ``verdict`` and ``conflicts``.
    Entries integrated after ``at`` are ignored. Entries need not be contiguous: what is absent is
    simply unknown (an offline verifier cannot see omitted entries).
    """

    at: int
    #: The state the append rules read (``ledger.core.logstate``), as the replay built it.
    rules: LogState = field(default_factory=LogState)
    #: Each key the rules accepted, with the entries that made it what it is.
    keys: dict[str, _Key] = field(default_factory=dict)
    #: Grants by statement hash: those the rules accepted, and those refused for their keys.
    grants: dict[bytes, _GrantRecord] = field(default_factory=dict)
    grant_ids: set[str] = field(default_factory=set)
    #: ``by_content``, built on first use: a statement of account never asks it.
    _by_content: dict[str, list[_GrantRecord]] | None = field(default=None, repr=False)
    #: (grant seq, buyer) -> the entries a verdict by that grant cites, as a set and sorted.
    _cited_cache: dict[tuple[int, str], tuple[set[int], tuple[int, ...]]] = field(
        default_factory=dict, repr=False
    )
    #: key id -> ``_key_evidence`` of it: a key's entries are asked for by every verdict citing it.
    _key_cache: dict[str, frozenset[int]] = field(default_factory=dict, repr=False)

    @classmethod
    def replay(cls, entries: Iterable[Leaf], at: int) -> LicenceState:
        state = cls(at)
        for entry in sorted((e for e in entries if e.integrated_at <= at), key=lambda e: e.seq):
            state._apply(entry)
        return state

    # --- replay ---------------------------------------------------------------------------------

    def party(self, key_id: str) -> str | None:
        return self.rules.party(key_id)

    def _apply(self, entry: Leaf) -> None:
        """Apply one entry with the append rules, tolerantly (the module docstring, step 2)."""
        if self._cited_cache or self._key_cache:  # answers given so far may change
            self._cited_cache.clear()
            self._key_cache.clear()
        signed = entry.signed
        stmt = signed.statement
        try:
            at = At(signed.statement_hash, micros=entry.integrated_at, lenient_notice=True)
            effects = rule_for(stmt).check(self.rules, stmt, at)  # check_statement, minus skew
        except StateError as e:
            self._refused(entry, stmt, e)
            return
        self.rules.apply(effects)
        for effect in effects:
            note = _NOTES.get(type(effect))
            if note is None:
                raise TypeError(f"no licence record for effect {type(effect).__name__}")
            note(self, entry, effect)

    # What verdicts cite of each kind of effect: the entries behind keys, grants and events.

    def _note_add_key(self, entry: Leaf, effect: AddKey) -> None:
        old = effect.rotated_from
        chain = (entry.seq,) if old is None else (*self.keys[old].chain, entry.seq)
        key = effect.key
        self.keys[key.key_id] = _Key(key.key_id, key.party_id, entry.seq, chain)

    def _note_end_key(self, entry: Leaf, effect: EndKey) -> None:
        self.keys[effect.key_id].end_seq = entry.seq

    def _note_add_grant(self, entry: Leaf, effect: AddGrant) -> None:
        g = effect.grant
        self._record(_GrantRecord(entry, effect.statement, None, g.creator_party, g.buyer_party))

    def _note_accept(self, entry: Leaf, effect: AcceptGrant) -> None:
        self.grants[effect.grant.statement_hash].accept = entry

    def _note_revoke(self, entry: Leaf, effect: RevokeGrant) -> None:
        record = self.grants[effect.grant.statement_hash]
        record.revoke = entry
        record.revoke_effective = micros_from_datetime(effect.effective_at)

    def _record(self, record: _GrantRecord) -> None:
        self.grants[record.entry.signed.statement_hash] = record
        self.grant_ids.add(record.grant.grant_id)
        if self._by_content is not None:
            self._index_content(self._by_content, record)

    @property
    def by_content(self) -> dict[str, list[_GrantRecord]]:
        """Content hash -> the grant records covering it, in the order they were recorded."""
        if self._by_content is None:
            index: dict[str, list[_GrantRecord]] = {}
            for record in self.grants.values():  # in the order _record added them
                self._index_content(index, record)
            self._by_content = index
        return self._by_content

    @staticmethod
    def _index_content(index: dict[str, list[_GrantRecord]], record: _GrantRecord) -> None:
        for item in record.grant.content:
            index.setdefault(item.sha256, []).append(record)

    def _refused(self, entry: Leaf, stmt: Statement, error: StateError) -> None:
        """A refused statement has no effect; one refused for its keys may explain a verdict."""
        if not isinstance(error, UnknownKey | KeyRevoked | BuyerNotRegistered):
            return
        problem = KEY_REVOKED if isinstance(error, KeyRevoked) else UNKNOWN_KEY
        if isinstance(stmt, Grant):
            h = entry.signed.statement_hash
            if h in self.grants or stmt.grant_id in self.grant_ids:
                return
            creator, buyer = self.party(stmt.signer), self.party(stmt.buyer)
            self._record(_GrantRecord(entry, stmt, problem, creator, buyer))
        elif isinstance(stmt, GrantAccept):
            record = self.grants.get(bytes.fromhex(stmt.grant_hash))
            if record is not None and record.key_problem is None and record.bad_accept is None:
                record.bad_accept = (entry, problem)

    # --- questions ------------------------------------------------------------------------------

    def _outcome(self, record: _GrantRecord, use: str) -> tuple[int, str]:  # noqa: PLR0911
        """(index of the first failing check in GRANT_CHECKS, reason); all pass: (len, licensed)."""
        terms = record.grant.terms
        at = self.at
        if record.key_problem is not None:
            return 0, record.key_problem
        if use not in terms.uses:
            return 1, USE_NOT_PERMITTED
        if at < record.start:
            return 2, NOT_YET_VALID
        if at >= record.end:
            return 3, EXPIRED
        if record.revoke is not None and record.revoke_effective <= at:
            return 4, REVOKED
        if record.accept is None:
            return 5, NOT_ACCEPTED if record.bad_accept is None else record.bad_accept[1]
        return len(GRANT_CHECKS), LICENSED

    def verdict(self, sha256: str, buyer: str, use: str) -> Verdict:
        """Is ``sha256`` licensed to the party of key ``buyer`` for ``use`` at ``self.at``?"""
        buyer_party = self.party(buyer)
        records = self.by_content.get(sha256, ())
        candidates = [
            r
            for r in records
            if r.grant.buyer == buyer or (buyer_party is not None and r.buyer_party == buyer_party)
        ]  # the grants naming the buyer's key, or another key of its party
        conflicts = self.conflicts(sha256) if len(records) > 1 else ()  # a conflict takes two
        conflict_seqs = {s for pair in conflicts for s in pair} if conflicts else set()
        if not candidates:
            seqs = self._key_evidence(buyer) | conflict_seqs
            return Verdict(sha256, False, NO_GRANT, None, tuple(sorted(seqs)), conflicts)
        # The grant that passed the most checks decides; among equals the earliest (lowest seq).
        if len(candidates) == 1:
            best = candidates[0]
            _, reason = self._outcome(best, use)
        else:
            outcomes = [(self._outcome(r, use), r) for r in candidates]
            (_, reason), best = max(outcomes, key=lambda o: (o[0][0], -o[1].seq))
        key = (best.seq, buyer)
        known = self._cited_cache.get(key)
        if known is None:  # many items share a grant: collect its entries once
            cited = self._grant_evidence(best) | self._key_evidence(buyer)
            known = self._cited_cache[key] = cited, tuple(sorted(cited))
        ordered = tuple(sorted(known[0] | conflict_seqs)) if conflicts else known[1]
        return Verdict(sha256, reason == LICENSED, reason, best.seq, ordered, conflicts)

    def _key_evidence(self, key_id: str) -> frozenset[int]:
        """The entries that make ``key_id`` what it is now: its registration and rotations, and
        its end (rotation away or revocation) if any."""
        known = self._key_cache.get(key_id)
        if known is None:
            key = self.keys.get(key_id)
            seqs = set() if key is None else set(key.chain)
            if key is not None and key.end_seq is not None:
                seqs.add(key.end_seq)
            known = self._key_cache[key_id] = frozenset(seqs)
        return known

    def grant_entries(self, statement_hash: bytes) -> tuple[int, ...]:
        """The entries a grant rests on, ascending: the grant, its counted acceptance and
        revocation, a refused acceptance that explains a key problem, and the key entries of
        every key that signed or is named (docs/LICENSING.md §7, "a deciding grant")."""
        return tuple(sorted(self._grant_evidence(self.grants[statement_hash])))

    def _grant_evidence(self, record: _GrantRecord) -> set[int]:
        seqs = {record.seq}
        stmt = record.grant
        signers = [stmt.signer, stmt.buyer]
        for event in (record.accept, record.revoke, record.bad_accept and record.bad_accept[0]):
            if event:
                seqs.add(event.seq)
                signers.append(event.signed.statement.signer)
        for key_id in signers:
            seqs |= self._key_evidence(key_id)
        return seqs

    def conflicts(self, sha256: str) -> tuple[tuple[int, int], ...]:
        """Pairs of grant seqs covering ``sha256`` that exclusivity forbids (docs/LICENSING.md).

        Two grants conflict when both are in effect (valid keys, accepted at or before ``at``), at
        least one is exclusive, they name different buyer parties, and their uses, territories and
        terms (cut short by a revocation known at ``at``) overlap.
        """
        live = [
            r
            for r in self.by_content.get(sha256, ())
            if r.key_problem is None and r.accept is not None
        ]
        if not any(r.grant.terms.exclusive for r in live):
            return ()
        pairs = []
        for i, a in enumerate(live):
            for b in live[i + 1 :]:
                if _conflict(a, b):
                    pairs.append((min(a.seq, b.seq), max(a.seq, b.seq)))
        return tuple(sorted(pairs))


_NOTES: Final[dict[type, Callable[[LicenceState, Leaf, Any], None]]] = {
    AddKey: LicenceState._note_add_key,
    EndKey: LicenceState._note_end_key,
    AddGrant: LicenceState._note_add_grant,
    AcceptGrant: LicenceState._note_accept,
    RevokeGrant: LicenceState._note_revoke,
}


def _interval(record: _GrantRecord) -> tuple[int, int]:
    return record.start, min(record.end, record.revoke_effective)


def _conflict(a: _GrantRecord, b: _GrantRecord) -> bool:
    ta, tb = a.grant.terms, b.grant.terms
    if not (ta.exclusive or tb.exclusive):
        return False
    same_buyer = a.grant.buyer == b.grant.buyer or (
        a.buyer_party is not None and a.buyer_party == b.buyer_party
    )
    if same_buyer or not set(ta.uses) & set(tb.uses):
        return False
    worldwide = WORLDWIDE in ta.territory or WORLDWIDE in tb.territory
    if not worldwide and not set(ta.territory) & set(tb.territory):
        return False
    (start_a, end_a), (start_b, end_b) = _interval(a), _interval(b)
    return start_a < end_b and start_b < end_a


def check_use(use: object) -> str:
    """A use from the v1 vocabulary; raises InvalidParameter."""
    if not isinstance(use, str) or use not in USES:
        raise InvalidParameter(f"use must be one of {', '.join(sorted(USES))}")
    return use
