"""The log's state machine: per statement type, what it requires of the log's state and what it
changes. The one definition of the append rules (docs/FORMAT.md §3.6).

``RULES`` has one ``Rule`` per statement type in ``statements.STATEMENT_TYPES`` (a test walks it):
``refers`` names the keys, grants and grant ids a statement reads, so that a database-backed view
can read a whole batch at once; ``check`` reads a ``StateView`` and returns the ``Effect``s the
statement has, or raises the ``StateError`` that refuses it. ``check_statement`` is the entry point
(it also checks ``issued_at`` against the log clock); ``LogState`` is the in-memory state, which
``apply`` updates with the effects.

Who uses it, and how:
- the server (``ledger/server/rules.py``) applies it **strictly** over a database-backed view and
  turns the effects into rows of its index tables;
- licence replay (``licensing.LicenceState``, hence the evidence verifier) applies it
  **tolerantly** over the entries it is given: a refused statement has no effect, except that a
  grant or an acceptance refused for its keys is remembered to explain a verdict, and a revocation
  that cuts the notice period short takes effect when the notice period allows (``lenient_notice``;
  docs/LICENSING.md);
- ``ledger audit --strict`` replays it over the whole log and names the first entry the log should
  have refused; the report (``ledger/report/build.py``) takes its key -> party map from it.

A statement never changes the state it was refused in, and every type's rule refuses a second copy
of a statement it accepted (``tests/core/test_logstate.py``), so "a statement hash is logged once"
needs no state of its own here. Exclusivity is not an append rule: conflicts are reported by the
licence semantics, never refused. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

from .errors import (
    AlreadyAccepted,
    AlreadyRevoked,
    BuyerNotRegistered,
    GrantIdTaken,
    GrantRevoked,
    IssuedInFuture,
    KeyAlreadyRegistered,
    KeyRevoked,
    NotGrantBuyer,
    NotGrantCreator,
    NoticePeriod,
    NotKeyOwner,
    NotRevocable,
    StateError,
    UnknownGrant,
    UnknownKey,
)
from .leaf import datetime_from_micros
from .statements import (
    Grant,
    GrantAccept,
    GrantRevoke,
    KeyRevoke,
    KeyRotate,
    PartyRegister,
    Statement,
)

ROTATED: Final = "rotated"
REVOKED: Final = "revoked"

# --- the state ------------------------------------------------------------------------------------


@dataclass(slots=True)
class KeyState:
    """A registered key: its party (the key id that registered the party) and pseudonym."""

    key_id: str
    party_id: str
    pseudonym: str
    ended: str | None = None  # None while valid; ROTATED or REVOKED after


@dataclass(slots=True)
class GrantState:
    """What the rules need of a logged grant."""

    grant_id: str
    statement_hash: bytes
    creator_party: str
    buyer_party: str
    revocable: bool
    notice_days: int | None
    accepted: bool = False
    revoked: bool = False


class StateView(Protocol):
    """The log's state as the rules read it (``LogState`` in memory; the server's over the
    database, ``ledger.server.rules.DatabaseState``)."""

    def key(self, key_id: str) -> KeyState | None: ...
    def grant(self, statement_hash: bytes) -> GrantState | None: ...
    def grant_id_taken(self, grant_id: str) -> bool: ...


# --- what a statement changes ---------------------------------------------------------------------


@dataclass(slots=True)
class AddKey:
    """A key becomes valid for its party (a registration, or a rotation from ``rotated_from``)."""

    key: KeyState
    public_key: bytes
    rotated_from: str | None = None


@dataclass(slots=True)
class EndKey:
    """A key stops being valid: ``kind`` is ROTATED or REVOKED."""

    key_id: str
    kind: str


@dataclass(slots=True)
class AddGrant:
    """A grant is logged (``statement``: the grant itself, whose items it covers)."""

    grant: GrantState
    statement: Grant

    @property
    def content(self) -> tuple[str, ...]:
        """The sha256 (hex) of each item the grant covers."""
        return tuple([item.sha256 for item in self.statement.content])


@dataclass(slots=True)
class AcceptGrant:
    grant: GrantState


@dataclass(slots=True)
class RevokeGrant:
    """The grant is revoked from ``effective_at`` on."""

    grant: GrantState
    effective_at: datetime


Effect = AddKey | EndKey | AddGrant | AcceptGrant | RevokeGrant
#: Every kind of effect: a consumer that stores effects has one writer per kind (a test checks).
EFFECTS: Final = (AddKey, EndKey, AddGrant, AcceptGrant, RevokeGrant)


class At:
    """Where a statement is checked: its statement hash and the log time it is integrated at
    (``now``, a datetime; or ``micros`` since the epoch, turned into ``now`` only if a rule asks).

    ``lenient_notice`` (licence replay only): a revocation that cuts an accepted grant's notice
    period short is accepted, effective at the earliest instant the notice period allows.
    """

    __slots__ = ("_micros", "_now", "lenient_notice", "statement_hash")

    def __init__(
        self,
        statement_hash: bytes,
        now: datetime | None = None,
        *,
        micros: int = 0,
        lenient_notice: bool = False,
    ) -> None:
        self.statement_hash = statement_hash
        self._now = now
        self._micros = micros
        self.lenient_notice = lenient_notice

    @property
    def now(self) -> datetime:
        if self._now is None:  # most rules never ask: replay converts only when one does
            self._now = datetime_from_micros(self._micros)
        return self._now


@dataclass
class Refs:
    """The keys, grants (by statement hash) and new grant ids statements read."""

    key_ids: set[str] = field(default_factory=set)
    grant_hashes: set[bytes] = field(default_factory=set)
    grant_ids: set[str] = field(default_factory=set)


# --- the rules, per type --------------------------------------------------------------------------


def valid_key(view: StateView, key_id: str, error: type[StateError] = UnknownKey) -> KeyState:
    """The key, registered and neither rotated away nor revoked; raises ``error``/KeyRevoked."""
    key = view.key(key_id)
    if key is None:
        raise error(f"key {key_id} is not registered")
    if key.ended is not None:
        raise KeyRevoked(f"key {key_id} was {key.ended}")
    return key


def _new_key(view: StateView, key_id: str) -> None:
    if view.key(key_id) is not None:
        raise KeyAlreadyRegistered(f"key {key_id} is already registered")


def _register(view: StateView, stmt: PartyRegister, at: At) -> tuple[Effect, ...]:
    _new_key(view, stmt.signer)
    key = KeyState(stmt.signer, stmt.signer, stmt.pseudonym)
    return (AddKey(key, stmt.public_key.raw),)


def _rotate(view: StateView, stmt: KeyRotate, at: At) -> tuple[Effect, ...]:
    old = valid_key(view, stmt.signer)
    new_id = stmt.new_public_key.key_id
    _new_key(view, new_id)
    new = KeyState(new_id, old.party_id, old.pseudonym)
    return AddKey(new, stmt.new_public_key.raw, old.key_id), EndKey(old.key_id, ROTATED)


def _key_revoke(view: StateView, stmt: KeyRevoke, at: At) -> tuple[Effect, ...]:
    signer = valid_key(view, stmt.signer)
    target = view.key(stmt.key_id)
    if target is None:
        raise UnknownKey(f"key {stmt.key_id} is not registered")
    if target.party_id != signer.party_id:
        raise NotKeyOwner("a key may be revoked only by a key of the same party")
    if target.ended is not None:
        raise KeyRevoked(f"key {stmt.key_id} was already {target.ended}")
    return (EndKey(stmt.key_id, REVOKED),)


def _grant(view: StateView, stmt: Grant, at: At) -> tuple[Effect, ...]:
    # A party has one valid key at a time and the core refuses buyer == signer, so the buyer is
    # always another party here.
    creator = valid_key(view, stmt.signer)
    buyer = valid_key(view, stmt.buyer, BuyerNotRegistered)
    if view.grant_id_taken(stmt.grant_id):
        raise GrantIdTaken(f"grant id {stmt.grant_id} is already in the log")
    terms = stmt.terms
    state = GrantState(
        stmt.grant_id,
        at.statement_hash,
        creator.party_id,
        buyer.party_id,
        terms.revocable,
        terms.notice_days,
    )
    return (AddGrant(state, stmt),)


def logged_grant(view: StateView, grant_hash: str) -> GrantState:
    """The grant with this statement hash (hex); raises UnknownGrant."""
    grant = view.grant(bytes.fromhex(grant_hash))
    if grant is None:
        raise UnknownGrant(f"no grant with statement hash {grant_hash}")
    return grant


def _accept(view: StateView, stmt: GrantAccept, at: At) -> tuple[Effect, ...]:
    signer = valid_key(view, stmt.signer)
    grant = logged_grant(view, stmt.grant_hash)
    if signer.party_id != grant.buyer_party:
        raise NotGrantBuyer("only the buyer named in the grant may accept it")
    if grant.accepted:
        raise AlreadyAccepted(f"grant {grant.grant_id} was already accepted")
    if grant.revoked:
        raise GrantRevoked(f"grant {grant.grant_id} was revoked")
    return (AcceptGrant(grant),)


def _grant_revoke(view: StateView, stmt: GrantRevoke, at: At) -> tuple[Effect, ...]:
    signer = valid_key(view, stmt.signer)
    grant = logged_grant(view, stmt.grant_hash)
    if signer.party_id != grant.creator_party:
        raise NotGrantCreator("only the grant's creator may revoke it")
    if grant.revoked:
        raise AlreadyRevoked(f"grant {grant.grant_id} was already revoked")
    effective = stmt.effective_at
    if grant.accepted:  # an offer not yet accepted may always be withdrawn
        if not grant.revocable:
            raise NotRevocable(f"grant {grant.grant_id} is not revocable under its terms")
        earliest = at.now + timedelta(days=grant.notice_days or 0)
        if effective < earliest.replace(microsecond=0):
            if not at.lenient_notice:
                raise NoticePeriod(
                    f"with {grant.notice_days} days' notice the revocation may take effect "
                    f"at {earliest.strftime('%Y-%m-%dT%H:%M:%SZ')} at the earliest",
                    earliest=earliest.isoformat(),
                )
            effective = earliest.replace(microsecond=0)
    return (RevokeGrant(grant, effective),)


def _refers_signer(stmt: Statement, refs: Refs) -> None:
    refs.key_ids.add(stmt.signer)


def _refers_rotate(stmt: KeyRotate, refs: Refs) -> None:
    refs.key_ids.update((stmt.signer, stmt.new_public_key.key_id))


def _refers_key_revoke(stmt: KeyRevoke, refs: Refs) -> None:
    refs.key_ids.update((stmt.signer, stmt.key_id))


def _refers_grant(stmt: Grant, refs: Refs) -> None:
    refs.key_ids.update((stmt.signer, stmt.buyer))
    refs.grant_ids.add(stmt.grant_id)


def _refers_grant_event(stmt: GrantAccept | GrantRevoke, refs: Refs) -> None:
    refs.key_ids.add(stmt.signer)
    refs.grant_hashes.add(bytes.fromhex(stmt.grant_hash))


# The rule functions take their own statement class; the table pairs each with it.
Check = Callable[[StateView, Statement, At], tuple[Effect, ...]]
Refers = Callable[[Statement, Refs], None]


@dataclass(frozen=True)
class Rule:
    """One statement type's rule: what it reads, what it requires, what it may change."""

    statement: type[Statement]
    refers: Refers
    check: Check
    #: The effects ``check`` may return (walked by tests; a store needs a writer for each).
    changes: tuple[type[Effect], ...]
    #: The refusals ``check`` may raise, besides IssuedInFuture (docs and tests walk them).
    refusals: tuple[type[StateError], ...]


def _rule(
    statement: type[Statement],
    refers: Callable[..., None],
    check: Callable[..., tuple[Effect, ...]],
    changes: tuple[type[Effect], ...],
    refusals: tuple[type[StateError], ...],
) -> Rule:
    return Rule(statement, refers, check, changes, refusals)


_VALID_SIGNER: Final = (UnknownKey, KeyRevoked)

#: The append rules, one per statement type, by type name (``statements.STATEMENT_TYPES``).
RULES: Final[Mapping[str, Rule]] = {
    r.statement.type_name: r
    for r in (
        _rule(PartyRegister, _refers_signer, _register, (AddKey,), (KeyAlreadyRegistered,)),
        _rule(
            KeyRotate,
            _refers_rotate,
            _rotate,
            (AddKey, EndKey),
            (*_VALID_SIGNER, KeyAlreadyRegistered),
        ),
        _rule(KeyRevoke, _refers_key_revoke, _key_revoke, (EndKey,), (*_VALID_SIGNER, NotKeyOwner)),
        _rule(
            Grant,
            _refers_grant,
            _grant,
            (AddGrant,),
            (*_VALID_SIGNER, BuyerNotRegistered, GrantIdTaken),
        ),
        _rule(
            GrantAccept,
            _refers_grant_event,
            _accept,
            (AcceptGrant,),
            (*_VALID_SIGNER, UnknownGrant, NotGrantBuyer, AlreadyAccepted, GrantRevoked),
        ),
        _rule(
            GrantRevoke,
            _refers_grant_event,
            _grant_revoke,
            (RevokeGrant,),
            (
                *_VALID_SIGNER,
                UnknownGrant,
                NotGrantCreator,
                AlreadyRevoked,
                NotRevocable,
                NoticePeriod,
            ),
        ),
    )
}
_BY_CLASS: Final[Mapping[type[Statement], Rule]] = {r.statement: r for r in RULES.values()}


def rule_for(stmt: Statement) -> Rule:
    """The rule of ``stmt``'s type; raises TypeError for a type without one (never silent)."""
    rule = _BY_CLASS.get(type(stmt))
    if rule is None:
        raise TypeError(f"no append rule for statement type {type(stmt).__name__}")
    return rule


def referenced(statements: Iterable[Statement]) -> Refs:
    """What ``statements`` read of the log's state (for one batched read)."""
    refs = Refs()
    for stmt in statements:
        rule_for(stmt).refers(stmt, refs)
    return refs


def check_statement(
    view: StateView, stmt: Statement, at: At, skew: timedelta | None = None
) -> tuple[Effect, ...]:
    """The effects of ``stmt`` on ``view`` at ``at``, or the StateError that refuses it.

    With ``skew`` (the server), ``issued_at`` may lie at most that far after ``at.now``
    (IssuedInFuture); replay without the log's configured skew passes None. Changes nothing:
    the caller applies the effects (``LogState.apply``). Raises TypeError for a statement type
    without a rule.
    """
    if skew is not None and stmt.issued_at > at.now + skew:
        raise IssuedInFuture(f"issued_at {stmt.issued_at.isoformat()} is ahead of the log clock")
    return rule_for(stmt).check(view, stmt, at)


# --- the in-memory state --------------------------------------------------------------------------


@dataclass
class LogState:
    """The state as effects build it, in memory: a ``StateView`` plus ``apply``.

    ``keys`` and ``grants`` may also hold None for "looked up: not there" (the server's view
    caches its database reads so).
    """

    keys: dict[str, KeyState | None] = field(default_factory=dict)
    grants: dict[bytes, GrantState | None] = field(default_factory=dict)
    grant_ids: set[str] = field(default_factory=set)

    def key(self, key_id: str) -> KeyState | None:
        return self.keys.get(key_id)

    def grant(self, statement_hash: bytes) -> GrantState | None:
        return self.grants.get(statement_hash)

    def grant_id_taken(self, grant_id: str) -> bool:
        return grant_id in self.grant_ids

    def apply(self, effects: Iterable[Effect]) -> None:
        for effect in effects:
            _APPLY[type(effect)](self, effect)  # every kind of effect has a row (a test checks)

    def party(self, key_id: str) -> str | None:
        """The party of a key (the key id that registered it), valid or not; None if unknown."""
        key = self.keys.get(key_id)
        return None if key is None else key.party_id


def _apply_add_key(state: LogState, e: AddKey) -> None:
    state.keys[e.key.key_id] = e.key


def _apply_end_key(state: LogState, e: EndKey) -> None:
    key = state.key(e.key_id)
    assert key is not None  # the rule read it
    key.ended = e.kind


def _apply_add_grant(state: LogState, e: AddGrant) -> None:
    state.grants[e.grant.statement_hash] = e.grant
    state.grant_ids.add(e.grant.grant_id)


def _apply_accept(state: LogState, e: AcceptGrant) -> None:
    e.grant.accepted = True
    state.grants[e.grant.statement_hash] = e.grant


def _apply_revoke(state: LogState, e: RevokeGrant) -> None:
    e.grant.revoked = True
    state.grants[e.grant.statement_hash] = e.grant


_APPLY: Final[Mapping[type, Callable[[LogState, Effect], None]]] = {
    AddKey: _apply_add_key,  # type: ignore[dict-item]
    EndKey: _apply_end_key,  # type: ignore[dict-item]
    AddGrant: _apply_add_grant,  # type: ignore[dict-item]
    AcceptGrant: _apply_accept,  # type: ignore[dict-item]
    RevokeGrant: _apply_revoke,  # type: ignore[dict-item]
}


def replay(
    statements: Iterable[tuple[Statement, bytes, datetime]],
    state: LogState | None = None,
) -> tuple[LogState, list[tuple[int, StateError]]]:
    """Apply ``(statement, statement hash, integration time)`` in order, tolerantly: a refused
    statement has no effect. Returns the state and each refusal, by position."""
    state = LogState() if state is None else state
    refused = []
    for i, (stmt, h, now) in enumerate(statements):
        try:
            state.apply(check_statement(state, stmt, At(h, now)))
        except StateError as e:
            refused.append((i, e))
    return state, refused


class AcceptanceReplay:
    """The append rules replayed over a whole log, in order, by an auditor: ``step`` returns the
    refusal of the first entry the log should have refused (None while every entry is one the
    rules accept). ``issued_at`` is not checked: the log's clock skew is its own setting."""

    def __init__(self) -> None:
        self.state = LogState()

    def step(self, stmt: Statement, statement_hash: bytes, integrated_at: int) -> StateError | None:
        """Apply one entry (its statement, statement hash and log time in microseconds)."""
        try:
            at = At(statement_hash, micros=integrated_at)
            effects = check_statement(self.state, stmt, at)
        except StateError as e:
            return e
        self.state.apply(effects)
        return None
