"""The licence state machine at append time, on both backends: each rule, its exact error, and
that a refused statement writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ledger.core import builders
from ledger.core.errors import (
    AlreadyAccepted,
    AlreadyRevoked,
    BuyerNotRegistered,
    DuplicateStatement,
    GrantIdTaken,
    GrantRevoked,
    IssuedInFuture,
    KeyAlreadyRegistered,
    KeyRevoked,
    LedgerError,
    NotGrantBuyer,
    NotGrantCreator,
    NoticePeriod,
    NotKeyOwner,
    NotRevocable,
    UnknownGrant,
    UnknownKey,
)
from ledger.core.keys import SigningKey
from ledger.core.statements import SignedStatement
from ledger.core.statements.types import Grant
from ledger.server.service import Appended, LogService
from tests.support.factories import seeded_key

CREATOR, BUYER, OTHER, STRANGER, NEWKEY = (seeded_key(n) for n in (1, 2, 3, 9, 4))


def log_size(service: LogService) -> int:
    from ledger.server.reads.published import signed_size

    with service.db.read_session() as session:
        return signed_size(session)


@pytest.fixture
def world(service: LogService) -> LogService:
    for key, name in ((CREATOR, "creator"), (BUYER, "buyer"), (OTHER, "other")):
        service.append_one(builders.party_register(key, name))
    return service


def grant(**kw: object) -> SignedStatement:
    terms = builders.TermsSpec(
        **{k: v for k, v in kw.items() if k not in ("creator", "buyer", "grant_id")}
    )  # type: ignore[arg-type]
    creator = kw.get("creator", CREATOR)
    buyer = kw.get("buyer", BUYER)
    assert isinstance(creator, SigningKey)
    assert isinstance(buyer, SigningKey)
    return builders.grant(
        creator,
        buyer.key_id,
        str(kw.get("grant_id", uuid.uuid4())),
        [builders.Item("cd" * 32, 1000, 60)],
        terms,
    )


def accept(g: SignedStatement, by: SigningKey = BUYER) -> SignedStatement:
    return builders.grant_accept(by, g.statement_hash)


def revoke(g: SignedStatement, by: SigningKey = CREATOR, days: int = 0) -> SignedStatement:
    when = datetime.now(UTC) + timedelta(days=days, minutes=1)
    return builders.grant_revoke(by, g.statement_hash, when)


def _fixed_grant_id() -> list[SignedStatement]:
    gid = str(uuid.uuid4())
    return [grant(grant_id=gid), grant(grant_id=gid)]


def _revocable(notice: int) -> SignedStatement:
    return grant(revocable=True, notice_days=notice)


def _scenario_accept_twice() -> list[SignedStatement]:
    g = grant()
    return [g, accept(g), builders.grant_accept(BUYER, g.statement_hash)]


def _scenario_revoke_twice() -> list[SignedStatement]:
    g = _revocable(0)
    return [
        g,
        revoke(g),
        builders.grant_revoke(CREATOR, g.statement_hash, datetime(2030, 1, 1, tzinfo=UTC)),
    ]


def _scenario_not_revocable() -> list[SignedStatement]:
    g = grant()
    return [g, accept(g), revoke(g)]


def _scenario_notice() -> list[SignedStatement]:
    g = _revocable(30)
    return [g, accept(g), revoke(g, days=29)]


def _scenario_accept_after_revoke() -> list[SignedStatement]:
    g = grant()
    return [g, revoke(g), accept(g)]


def _scenario_rotated_key_signs() -> list[SignedStatement]:
    return [builders.key_rotate(CREATOR, NEWKEY), grant()]


def _scenario_revoked_key_signs() -> list[SignedStatement]:
    return [builders.key_revoke(CREATOR, CREATOR.key_id), grant()]


def _scenario_buyer_key_revoked() -> list[SignedStatement]:
    return [builders.key_revoke(BUYER, BUYER.key_id, "lost"), grant()]


# Each row: (description, statements — all but the last must be accepted, expected error class).
REFUSALS: list[tuple[str, Callable[[], list[SignedStatement]], type[LedgerError]]] = [
    (
        "a key registers twice",
        lambda: [builders.party_register(CREATOR, "again")],
        KeyAlreadyRegistered,
    ),
    ("an unregistered key signs", lambda: [grant(creator=STRANGER)], UnknownKey),
    ("the buyer is not registered", lambda: [grant(buyer=STRANGER)], BuyerNotRegistered),
    ("a grant id is reused", _fixed_grant_id, GrantIdTaken),
    ("another party accepts", lambda: [g := grant(), accept(g, by=OTHER)], NotGrantBuyer),
    (
        "the creator accepts its own grant",
        lambda: [g := grant(), accept(g, by=CREATOR)],
        NotGrantBuyer,
    ),
    ("a grant is accepted twice", _scenario_accept_twice, AlreadyAccepted),
    ("an unknown grant is accepted", lambda: [accept(grant())], UnknownGrant),
    ("another party revokes", lambda: [g := _revocable(0), revoke(g, by=OTHER)], NotGrantCreator),
    ("the buyer revokes", lambda: [g := _revocable(0), revoke(g, by=BUYER)], NotGrantCreator),
    ("a grant is revoked twice", _scenario_revoke_twice, AlreadyRevoked),
    ("an accepted grant that is not revocable", _scenario_not_revocable, NotRevocable),
    ("revocation inside the notice period", _scenario_notice, NoticePeriod),
    ("acceptance after revocation", _scenario_accept_after_revoke, GrantRevoked),
    ("a rotated-away key signs", _scenario_rotated_key_signs, KeyRevoked),
    ("a revoked key signs", _scenario_revoked_key_signs, KeyRevoked),
    ("a grant names a revoked buyer key", _scenario_buyer_key_revoked, KeyRevoked),
    (
        "a key of another party is revoked",
        lambda: [builders.key_revoke(OTHER, CREATOR.key_id)],
        NotKeyOwner,
    ),
    (
        "an unknown key is revoked",
        lambda: [builders.key_revoke(CREATOR, STRANGER.key_id)],
        UnknownKey,
    ),
    (
        "rotation to a registered key",
        lambda: [builders.key_rotate(CREATOR, OTHER)],
        KeyAlreadyRegistered,
    ),
    (
        "issued_at beyond the clock skew",
        lambda: [
            builders.party_register(STRANGER, "x", issued_at=datetime.now(UTC) + timedelta(hours=1))
        ],
        IssuedInFuture,
    ),
]


@pytest.mark.parametrize(
    ("description", "scenario", "error"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_refusal(
    world: LogService,
    description: str,
    scenario: Callable[[], list[SignedStatement]],
    error: type[LedgerError],
) -> None:
    *setup, last = scenario()
    for signed in setup:
        world.append_one(signed)
    before = log_size(world)
    with pytest.raises(error) as info:
        world.append_one(last)
    assert info.value.code == error.code
    assert info.value.status == (422 if error is not DuplicateStatement else 409)
    assert log_size(world) == before, "a refused statement must write nothing"


ALLOWED: list[tuple[str, Callable[[], list[SignedStatement]]]] = [
    ("the buyer accepts", lambda: [g := grant(), accept(g)]),
    (
        "an offer not yet accepted is withdrawn, whatever its terms",
        lambda: [g := grant(), revoke(g)],
    ),
    (
        "revocation after exactly the notice period",
        lambda: [g := _revocable(30), accept(g), revoke(g, days=30)],
    ),
    ("revocation with zero notice", lambda: [g := _revocable(0), accept(g), revoke(g)]),
    (
        "the new key signs after rotation",
        lambda: [builders.key_rotate(CREATOR, NEWKEY), grant(creator=NEWKEY)],
    ),
    (
        "a grant to a buyer's new key",
        lambda: [builders.key_rotate(BUYER, NEWKEY), grant(buyer=NEWKEY)],
    ),
    (
        "the buyer accepts with its rotated key",
        lambda: [g := grant(), builders.key_rotate(BUYER, NEWKEY), accept(g, by=NEWKEY)],
    ),
    (
        "issued_at a little ahead, within the skew",
        lambda: [
            builders.party_register(
                STRANGER, "x", issued_at=datetime.now(UTC) + timedelta(minutes=2)
            )
        ],
    ),
]


@pytest.mark.parametrize(("description", "scenario"), ALLOWED, ids=[r[0] for r in ALLOWED])
def test_allowed(
    world: LogService, description: str, scenario: Callable[[], list[SignedStatement]]
) -> None:
    for signed in scenario():
        result = world.append_one(signed)
        assert isinstance(result, Appended)


def test_duplicate_statement_names_the_existing_entry(world: LogService) -> None:
    g = grant()
    first = world.append_one(g)
    with pytest.raises(DuplicateStatement) as info:
        world.append_one(g)
    assert info.value.details["seq"] == first.seq
    assert info.value.status == 409


def test_batch_sees_its_own_earlier_statements(service: LogService) -> None:
    g = grant()
    a = accept(g)
    results = service.append(
        [
            builders.party_register(CREATOR, "creator"),
            builders.party_register(BUYER, "buyer"),
            g,
            a,
            a,  # the same statement twice inside the batch
            accept(g),  # a second, different acceptance
        ]
    )
    assert [type(r) for r in results[:4]] == [Appended] * 4
    assert isinstance(results[4], DuplicateStatement)
    assert isinstance(results[5], AlreadyAccepted)
    assert [r.seq for r in results[:4] if isinstance(r, Appended)] == [0, 1, 2, 3]
    assert log_size(service) == 4


def test_batch_with_nothing_acceptable_writes_nothing(world: LogService) -> None:
    before = log_size(world)
    results = world.append([grant(creator=STRANGER), builders.party_register(CREATOR, "again")])
    assert [type(r) for r in results] == [UnknownKey, KeyAlreadyRegistered]
    assert log_size(world) == before


def test_grant_ids_read_with_the_batch_need_no_query_of_their_own(
    world: LogService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's reads ask which of its grant ids are in use: a grant id is then decided from
    them (free, taken before, or taken earlier in the batch) without a query per grant."""
    from ledger.server import rules
    from ledger.server.storage import repository

    taken = grant()
    world.append_one(taken)
    calls: list[str] = []
    real = repository.get_grant

    def counted(session: object, grant_id: str) -> object:
        calls.append(grant_id)
        return real(session, grant_id)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "get_grant", counted)
    again = str(uuid.uuid4())
    results = world.append(
        [grant(), grant(grant_id=again), grant(grant_id=again), grant(grant_id=taken_id(taken))]
    )
    assert [type(r) for r in results] == [Appended, Appended, GrantIdTaken, GrantIdTaken]
    assert calls == []
    # A grant id the batch's reads did not cover is still looked up, once.
    with world.db.read_session() as session:
        state = rules.DatabaseState(session)
        assert state.grant_id_taken(taken_id(taken))
        assert state.grant_id_taken(taken_id(taken))  # remembered: no second query
        assert not state.grant_id_taken(str(uuid.uuid4()))
    assert len(calls) == 2


def taken_id(signed: SignedStatement) -> str:
    assert isinstance(signed.statement, Grant)
    return signed.statement.grant_id
