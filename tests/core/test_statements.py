"""Signed statements v1: shapes, signatures, envelopes. ``ledger.core.statements``.

The malformed-input table starts from a valid envelope of one type, mutates a deep copy, and
(for shape rows) re-signs the mutated body with the right keys so that the error it provokes is
about the shape and not about the signature. Tampering rows do not re-sign.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from ledger.core import builders
from ledger.core.canonical import canonicalize
from ledger.core.encoding import sha256
from ledger.core.errors import BadSignature, InvalidStatement, LedgerError, MalformedJSON
from ledger.core.keys import SigningKey, key_id
from ledger.core.statements import (
    STATEMENT_HASH_CONTEXT,
    STATEMENT_SIGNING_CONTEXT,
    Grant,
    GrantAccept,
    GrantRevoke,
    KeyRevoke,
    KeyRotate,
    PartyRegister,
    SignedStatement,
    Statement,
    parse_statement,
    parse_timestamp,
    statement_hash,
)
from ledger.core.statements.envelope import _ENVELOPE_MEMBERS, _SIGNATURE_MEMBERS
from ledger.core.statements.parse import (
    _CONSIDERATION_MEMBERS,
    _CONTENT_ITEM_MEMBERS,
    _STATEMENT_MEMBERS,
    _TERMS_MEMBERS,
)
from tests.support.factories import T0, seeded_key

CREATOR = seeded_key(1)
BUYER = seeded_key(2)
NEW_KEY = seeded_key(3)
OTHER = seeded_key(4)
GRANT_ID = "0b7e4c2a-5f1d-4e8b-9a3c-2d6f8e1b7a90"
NONCE = "00112233445566778899aabbccddeeff"
IDENTITY_POINT = bytes([1]) + bytes(31)  # small order: anyone can "sign" for it


def _valid_grant() -> SignedStatement:
    items = [
        builders.Item(sha256="ab" * 32, bytes=10_000_000, duration_s=60, c2pa_hash="cd" * 32),
        builders.Item(sha256="ef" * 32, bytes=0, duration_s=0, media_type="video/webm"),
    ]
    terms = builders.TermsSpec(
        uses=("ai_training", "ai_inference"),
        prohibitions=("replicate_likeness",),
        territory=("US", "DE"),
        end=T0 + timedelta(days=365),
        revocable=True,
        notice_days=30,
        amount="2.50",
        currency="USD",
        unit="per_minute",
    )
    return builders.grant(CREATOR, BUYER.key_id, GRANT_ID, items, terms, issued_at=T0, nonce=NONCE)


@cache
def valid_statements() -> dict[str, SignedStatement]:
    grant = _valid_grant()
    when = {"issued_at": T0, "nonce": NONCE}
    return {
        "party.register": builders.party_register(
            CREATOR, "Alice Films_2.0", identity_commitment="12" * 32, **when
        ),
        "party.register/minimal": builders.party_register(BUYER, "b", **when),
        "key.rotate": builders.key_rotate(CREATOR, NEW_KEY, **when),
        "key.revoke": builders.key_revoke(CREATOR, NEW_KEY.key_id, "lost", **when),
        "grant": grant,
        "grant/minimal": builders.grant(
            CREATOR,
            BUYER.key_id,
            GRANT_ID,
            [builders.Item(sha256="ab" * 32, bytes=1, duration_s=1)],
            builders.TermsSpec(),
            **when,
        ),
        "grant.accept": builders.grant_accept(BUYER, grant.statement_hash, **when),
        "grant.revoke": builders.grant_revoke(
            CREATOR, grant.statement_hash, T0 + timedelta(days=31), **when
        ),
    }


#: Who signs each kind of valid statement, in order.
SIGNERS: dict[str, tuple[SigningKey, ...]] = {
    "party.register": (CREATOR,),
    "party.register/minimal": (BUYER,),
    "key.rotate": (CREATOR, NEW_KEY),
    "key.revoke": (CREATOR,),
    "grant": (CREATOR,),
    "grant/minimal": (CREATOR,),
    "grant.accept": (BUYER,),
    "grant.revoke": (CREATOR,),
}
TYPES: dict[str, type[Statement]] = {
    "party.register": PartyRegister,
    "party.register/minimal": PartyRegister,
    "key.rotate": KeyRotate,
    "key.revoke": KeyRevoke,
    "grant": Grant,
    "grant/minimal": Grant,
    "grant.accept": GrantAccept,
    "grant.revoke": GrantRevoke,
}


def resign(
    body: Any, *keys: SigningKey, context: bytes = STATEMENT_SIGNING_CONTEXT
) -> list[dict[str, str]]:
    """Wire signatures over ``body`` made with the signing primitives, bypassing every check."""
    message = canonicalize(body)
    return [
        {
            "public_key": key.public_key.b64,
            "signature": base64.b64encode(key.sign(context, message)).decode(),
        }
        for key in keys
    ]


# --- Valid statements --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SIGNERS)
def test_valid_statement_round_trips(kind: str) -> None:
    signed = valid_statements()[kind]
    again = SignedStatement.from_json(signed.to_json())
    assert (
        again.statement_bytes
        == signed.statement_bytes
        == canonicalize(signed.to_json()["statement"])
    )
    assert again.statement_hash == signed.statement_hash
    assert again.statement == signed.statement
    assert again.signatures == signed.signatures
    assert [s.public_key for s in again.signatures] == [k.public_key for k in SIGNERS[kind]]
    # Over the wire, too (envelope bytes need not be canonical).
    wire = json.dumps(signed.to_json(), indent=2).encode()
    assert SignedStatement.from_bytes(wire).statement_bytes == signed.statement_bytes


@pytest.mark.parametrize("kind", SIGNERS)
def test_parse_statement_returns_the_typed_class(kind: str) -> None:
    signed = valid_statements()[kind]
    statement = parse_statement(signed.to_json()["statement"])
    assert type(statement) is TYPES[kind]
    assert statement.type_name == signed.type_name == kind.split("/", maxsplit=1)[0]
    assert statement.signer == SIGNERS[kind][0].key_id
    assert statement.issued_at == T0
    assert statement.nonce == NONCE


def test_statement_hash_is_domain_separated() -> None:
    signed = valid_statements()["grant"]
    expected = sha256(STATEMENT_HASH_CONTEXT + signed.statement_bytes)
    assert signed.statement_hash == statement_hash(signed.statement_bytes) == expected
    assert signed.statement_hash != sha256(signed.statement_bytes)


def test_a_c2pa_override_is_signed_with_its_manifest_hash() -> None:
    """docs/FORMAT.md §3.7: the uses licensed against the file's own manifest, by name."""
    item = builders.Item("ab" * 32, 10, 5, c2pa_hash="cd" * 32, c2pa_override=("ai_training",))
    terms = builders.TermsSpec(uses=("ai_training", "ai_inference"), end=T0 + timedelta(days=1))
    signed = builders.grant(CREATOR, BUYER.key_id, GRANT_ID, [item], terms)
    assert b'"c2pa_hash":"' + b"cd" * 32 + b'","c2pa_override":["ai_training"]' in (
        signed.statement_bytes
    )
    parsed = parse_statement(json.loads(signed.statement_bytes))
    assert isinstance(parsed, Grant)
    assert parsed.content[0].c2pa_override == ("ai_training",)


def test_grant_fields_are_typed() -> None:
    grant = valid_statements()["grant"].statement
    assert isinstance(grant, Grant)
    assert grant.buyer == BUYER.key_id
    assert grant.grant_id == GRANT_ID
    assert [c.sha256 for c in grant.content] == ["ab" * 32, "ef" * 32]
    assert grant.content[0].c2pa_hash == "cd" * 32
    assert grant.content[1].c2pa_hash is None
    assert grant.content[0].c2pa_override == grant.content[1].c2pa_override == ()
    assert grant.terms.uses == ("ai_training", "ai_inference")
    assert grant.terms.territory == ("US", "DE")
    assert grant.terms.notice_days == 30
    assert str(grant.terms.consideration.amount) == "2.50"
    assert grant.terms.end == T0 + timedelta(days=365)


def test_to_json_is_a_copy_that_cannot_change_the_signed_statement() -> None:
    signed = _valid_grant()  # not the cached one: this test tries to corrupt it
    envelope = signed.to_json()
    envelope["statement"]["terms"]["uses"].append("data_mining")
    envelope["statement"]["content"][0]["bytes"] = 1
    assert canonicalize(signed.to_json()["statement"]) == signed.statement_bytes


# --- The malformed-input table -------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]
INVALID = (InvalidStatement, "invalid_statement")
BAD_SIG = (BadSignature, "bad_signature")


def _walk(root: Any, path: str) -> tuple[Any, Any]:
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parents:
        root = root[part]
    return root, last


def put(path: str, value: Any) -> Mutation:
    """Set a member of the envelope; ``path`` is dotted, from the envelope (``statement.v``)."""

    def mutate(envelope: dict[str, Any]) -> None:
        parent, last = _walk(envelope, path)
        parent[last] = value

    return mutate


def drop(path: str) -> Mutation:
    def mutate(envelope: dict[str, Any]) -> None:
        parent, last = _walk(envelope, path)
        del parent[last]

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(envelope: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(envelope)

    return mutate


def signed_by(*keys: SigningKey, context: bytes = STATEMENT_SIGNING_CONTEXT) -> Mutation:
    def mutate(envelope: dict[str, Any]) -> None:
        envelope["signatures"] = resign(envelope["statement"], *keys, context=context)

    return mutate


def edit_signature(index: int, edit: Callable[[str], str]) -> Mutation:
    def mutate(envelope: dict[str, Any]) -> None:
        sig = envelope["signatures"][index]
        sig["signature"] = edit(sig["signature"])

    return mutate


def flip_bit(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[10] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def non_canonical_b64(b64: str) -> str:
    # 64 bytes end in one data byte: "Xy==", whose second character has 4 padding bits that a
    # canonical encoder leaves zero. Setting one gives a second spelling of the same bytes.
    assert b64.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(b64[-3]) | 1]
    spelled = b64[:-3] + last + "=="
    assert base64.b64decode(spelled) == base64.b64decode(b64)
    return spelled


def swap_signatures(envelope: dict[str, Any]) -> None:
    envelope["signatures"].reverse()


def non_canonical_signed_bytes(envelope: dict[str, Any]) -> None:
    message = json.dumps(envelope["statement"], sort_keys=True).encode()  # ", " and ": "
    signature = CREATOR.sign(STATEMENT_SIGNING_CONTEXT, message)
    envelope["signatures"][0]["signature"] = base64.b64encode(signature).decode()


def identity_key_body(envelope: dict[str, Any]) -> None:
    body = envelope["statement"]
    body["signer"] = key_id(IDENTITY_POINT)
    body["public_key"] = base64.b64encode(IDENTITY_POINT).decode()


def identity_key_register(envelope: dict[str, Any]) -> None:
    identity_key_body(envelope)
    body = envelope["statement"]
    forged = IDENTITY_POINT + bytes(32)  # R = identity, S = 0 "verifies" for any message
    envelope["signatures"] = [
        {"public_key": body["public_key"], "signature": base64.b64encode(forged).decode()}
    ]


@dataclass(frozen=True)
class Case:
    kind: str
    mutate: Mutation
    error: tuple[type[LedgerError], str]
    match: str = ""
    #: Re-sign a changed statement body with the kind's keys. False where the row is about
    #: tampering, or where the body has no canonical bytes to sign (floats, 2^53).
    resign: bool = True


C = Case
T = "statement.terms"
CI = "statement.content.0"
CONS = "statement.terms.consideration"
FEB30 = "2026-02-30T12:00:00Z"
ARABIC_DIGITS = "\u0662\u0660\u0662\u0666-03-01T12:00:00Z"  # 2026 in Arabic-Indic digits

MALFORMED_CASES: dict[str, Case] = {
    # Missing and unknown members.
    "missing type": C("grant", drop("statement.type"), INVALID, "statement.type"),
    "missing v": C("grant", drop("statement.v"), INVALID, "statement.v"),
    "missing nonce": C("grant", drop("statement.nonce"), INVALID, "nonce"),
    "missing issued_at": C("key.revoke", drop("statement.issued_at"), INVALID, "issued_at"),
    "missing terms": C("grant", drop(T), INVALID, "terms"),
    "missing terms.uses": C("grant", drop(f"{T}.uses"), INVALID, "uses"),
    "missing content sha256": C("grant", drop(f"{CI}.sha256"), INVALID, "sha256"),
    "missing currency": C("grant", drop(f"{CONS}.currency"), INVALID, "currency"),
    "missing grant_hash": C("grant.accept", drop("statement.grant_hash"), INVALID, "grant_hash"),
    "missing new_public_key": C("key.rotate", drop("statement.new_public_key"), INVALID),
    "unknown member, top level": C("grant", put("statement.extra", 1), INVALID, "extra"),
    "unknown member, register": C("party.register", put("statement.email", "a@b"), INVALID),
    "unknown member in terms": C("grant", put(f"{T}.royalty", "5"), INVALID, "royalty"),
    "unknown member in content item": C("grant", put(f"{CI}.title", "x"), INVALID, "title"),
    "unknown member in consideration": C("grant", put(f"{CONS}.tax", "0"), INVALID, "tax"),
    "unknown member in envelope": C("grant", put("comment", "hi"), INVALID, "comment"),
    "unknown member in a signature": C("grant", put("signatures.0.alg", "ed25519"), INVALID),
    "envelope without signatures": C("grant", drop("signatures"), INVALID, "signatures"),
    "envelope without statement": C("grant", drop("statement"), INVALID, "statement", False),
    "no signature": C("grant", put("signatures", []), INVALID, "signatures"),
    "three signatures": C(
        "key.rotate", signed_by(CREATOR, NEW_KEY, OTHER), INVALID, "signatures", False
    ),
    "statement not an object": C("grant", put("statement", "grant"), INVALID, resign=False),
    "signature not an object": C("grant", put("signatures", ["sig"]), INVALID, resign=False),
    "signature missing": C("grant", drop("signatures.0.signature"), INVALID, resign=False),
    # Wrong JSON types.
    "v is a bool": C("grant", put("statement.v", True), INVALID, "statement.v"),
    "v is a string number": C("grant", put("statement.v", "1"), INVALID, "statement.v"),
    "v=2": C("grant", put("statement.v", 2), INVALID, "statement.v"),
    "v=0": C("grant", put("statement.v", 0), INVALID, "statement.v"),
    "unknown type": C("grant", put("statement.type", "grant.amend"), INVALID, "statement.type"),
    "type with other case": C("grant", put("statement.type", "Grant"), INVALID, "statement.type"),
    "type not a string": C("grant", put("statement.type", 1), INVALID, "statement.type"),
    "int where bool": C("grant", put(f"{T}.exclusive", 0), INVALID, "exclusive"),
    "string where bool": C("grant", put(f"{T}.attribution", "false"), INVALID, "attribution"),
    "bool where int": C("grant", put(f"{CI}.bytes", True), INVALID, "bytes"),
    "string number where int": C("grant", put(f"{CI}.bytes", "10000000"), INVALID, "bytes"),
    "null where int": C("grant", put(f"{CI}.duration_s", None), INVALID, "duration_s"),
    "terms not an object": C("grant", put(T, []), INVALID, "terms"),
    "content not a list": C("grant", put("statement.content", {}), INVALID, "content"),
    "content item not an object": C("grant", put(CI, "ab" * 32), INVALID, "content"),
    # Common members.
    "signer uppercase hex": C(
        "grant", put("statement.signer", CREATOR.key_id.upper()), INVALID, "signer"
    ),
    "signer short": C("grant", put("statement.signer", CREATOR.key_id[:62]), INVALID, "signer"),
    "signer not a string": C("grant", put("statement.signer", 7), INVALID, "signer"),
    "issued_at without Z": C(
        "grant", put("statement.issued_at", "2026-03-01T12:00:00"), INVALID, "issued_at"
    ),
    "issued_at with fraction": C(
        "grant", put("statement.issued_at", "2026-03-01T12:00:00.000Z"), INVALID, "issued_at"
    ),
    "issued_at +00:00": C(
        "grant", put("statement.issued_at", "2026-03-01T12:00:00+00:00"), INVALID, "issued_at"
    ),
    "issued_at lowercase t/z": C(
        "grant", put("statement.issued_at", "2026-03-01t12:00:00z"), INVALID, "issued_at"
    ),
    "issued_at date only": C(
        "grant", put("statement.issued_at", "2026-03-01"), INVALID, "issued_at"
    ),
    "issued_at Feb 30": C("grant", put("statement.issued_at", FEB30), INVALID, "issued_at"),
    "issued_at hour 24": C(
        "grant", put("statement.issued_at", "2026-03-01T24:00:00Z"), INVALID, "issued_at"
    ),
    "issued_at leap second": C(
        "grant", put("statement.issued_at", "2026-06-30T23:59:60Z"), INVALID, "issued_at"
    ),
    "issued_at non-ASCII digits": C(
        "grant", put("statement.issued_at", ARABIC_DIGITS), INVALID, "issued_at"
    ),
    "issued_at an integer": C(
        "grant", put("statement.issued_at", 1772366400), INVALID, "issued_at"
    ),
    "nonce uppercase": C("grant", put("statement.nonce", NONCE.upper()), INVALID, "nonce"),
    "nonce short": C("grant", put("statement.nonce", NONCE[:30]), INVALID, "nonce"),
    "nonce long": C("grant", put("statement.nonce", NONCE + "00"), INVALID, "nonce"),
    "nonce not hex": C("grant", put("statement.nonce", "g" * 32), INVALID, "nonce"),
    # party.register
    "pseudonym with a bell": C(
        "party.register", put("statement.pseudonym", "Ali\x07ce"), INVALID, "pseudonym"
    ),
    "pseudonym with a newline": C(
        "party.register", put("statement.pseudonym", "Alice\n"), INVALID, "pseudonym"
    ),
    "pseudonym 65 chars": C(
        "party.register", put("statement.pseudonym", "a" * 65), INVALID, "pseudonym"
    ),
    "pseudonym leading space": C(
        "party.register", put("statement.pseudonym", " Alice"), INVALID, "pseudonym"
    ),
    "pseudonym trailing space": C(
        "party.register", put("statement.pseudonym", "Alice "), INVALID, "pseudonym"
    ),
    "pseudonym Cyrillic a": C(
        "party.register", put("statement.pseudonym", "\u0430lice"), INVALID, "pseudonym"
    ),
    "pseudonym fullwidth A": C(
        "party.register", put("statement.pseudonym", "\uff21lice"), INVALID, "pseudonym"
    ),
    "pseudonym empty": C("party.register", put("statement.pseudonym", ""), INVALID, "pseudonym"),
    "identity_commitment not hex": C(
        "party.register",
        put("statement.identity_commitment", "zz" * 32),
        INVALID,
        "identity_commitment",
    ),
    "identity_commitment uppercase": C(
        "party.register",
        put("statement.identity_commitment", "AB" * 32),
        INVALID,
        "identity_commitment",
    ),
    "identity_commitment short": C(
        "party.register",
        put("statement.identity_commitment", "ab" * 31),
        INVALID,
        "identity_commitment",
    ),
    "public_key of another party": C(
        "party.register",
        put("statement.public_key", OTHER.public_key.b64),
        INVALID,
        "signer must be",
    ),
    "public_key 31 bytes": C(
        "party.register",
        put("statement.public_key", base64.b64encode(bytes(31)).decode()),
        INVALID,
        "public_key",
    ),
    "public_key small order": C(
        "party.register", identity_key_body, INVALID, "party.register.public_key"
    ),
    "forged signature by small-order key": C(
        "party.register", identity_key_register, INVALID, "signatures[0].public_key", resign=False
    ),
    # grant: ids and parties
    "grant_id uppercase": C(
        "grant", put("statement.grant_id", GRANT_ID.upper()), INVALID, "grant_id"
    ),
    "grant_id not a UUID": C("grant", put("statement.grant_id", "grant-0001"), INVALID, "grant_id"),
    "grant_id without hyphens": C(
        "grant", put("statement.grant_id", GRANT_ID.replace("-", "")), INVALID, "grant_id"
    ),
    "buyer == creator": C("grant", put("statement.buyer", CREATOR.key_id), INVALID, "buyer"),
    "buyer uppercase": C("grant", put("statement.buyer", BUYER.key_id.upper()), INVALID, "buyer"),
    # grant: content
    "empty content": C("grant", put("statement.content", []), INVALID, "content"),
    "duplicate content sha256": C(
        "grant", put("statement.content.1.sha256", "ab" * 32), INVALID, "sha256 twice"
    ),
    "negative bytes": C("grant", put(f"{CI}.bytes", -1), INVALID, "bytes"),
    "bytes beyond 2^53-1": C("grant", put(f"{CI}.bytes", 2**53), INVALID, "bytes", resign=False),
    "negative duration": C("grant", put(f"{CI}.duration_s", -60), INVALID, "duration_s"),
    # No canonical bytes exist for a float, so nothing can be re-signed; the shape fails first.
    "duration as float": C(
        "grant", put(f"{CI}.duration_s", 60.0), INVALID, "duration_s", resign=False
    ),
    "media type uppercase": C("grant", put(f"{CI}.media_type", "Video/MP4"), INVALID, "media_type"),
    "media type without subtype": C(
        "grant", put(f"{CI}.media_type", "video"), INVALID, "media_type"
    ),
    "media type with parameter": C(
        "grant", put(f"{CI}.media_type", "video/mp4; codecs=avc1"), INVALID, "media_type"
    ),
    "c2pa_hash short": C("grant", put(f"{CI}.c2pa_hash", "cd" * 31), INVALID, "c2pa_hash"),
    "c2pa_override without c2pa_hash": C(
        "grant", put("statement.content.1.c2pa_override", ["ai_training"]), INVALID, "c2pa_hash"
    ),
    "c2pa_override of a use not granted": C(
        "grant", put(f"{CI}.c2pa_override", ["data_mining"]), INVALID, "terms.uses"
    ),
    "c2pa_override unknown use": C(
        "grant", put(f"{CI}.c2pa_override", ["ai_painting"]), INVALID, "c2pa_override"
    ),
    "c2pa_override empty": C("grant", put(f"{CI}.c2pa_override", []), INVALID, "c2pa_override"),
    "c2pa_override twice": C(
        "grant", put(f"{CI}.c2pa_override", ["ai_training"] * 2), INVALID, "c2pa_override"
    ),
    "c2pa_override not a list": C(
        "grant", put(f"{CI}.c2pa_override", "ai_training"), INVALID, "c2pa_override"
    ),
    "sha256 uppercase": C("grant", put(f"{CI}.sha256", "AB" * 32), INVALID, "sha256"),
    # grant: terms
    "unknown use": C("grant", put(f"{T}.uses", ["ai_painting"]), INVALID, "uses"),
    "duplicate use": C("grant", put(f"{T}.uses", ["ai_training", "ai_training"]), INVALID, "uses"),
    "empty uses": C("grant", put(f"{T}.uses", []), INVALID, "uses"),
    "use not a string": C("grant", put(f"{T}.uses", [1]), INVALID, "uses"),
    "unknown prohibition": C(
        "grant", put(f"{T}.prohibitions", ["replicate_smell"]), INVALID, "prohibitions"
    ),
    "duplicate prohibition": C(
        "grant", put(f"{T}.prohibitions", ["replicate_voice"] * 2), INVALID, "prohibitions"
    ),
    "territory lowercase": C("grant", put(f"{T}.territory", ["us"]), INVALID, "territory"),
    "territory XX": C("grant", put(f"{T}.territory", ["XX"]), INVALID, "territory"),
    "territory alpha-3": C("grant", put(f"{T}.territory", ["USA"]), INVALID, "territory"),
    "territory worldwide plus a code": C(
        "grant", put(f"{T}.territory", ["worldwide", "US"]), INVALID, "worldwide"
    ),
    "territory empty": C("grant", put(f"{T}.territory", []), INVALID, "territory"),
    "territory duplicate": C("grant", put(f"{T}.territory", ["US", "US"]), INVALID, "territory"),
    "end == start": C("grant", put(f"{T}.end", "2026-01-01T00:00:00Z"), INVALID, "end"),
    "end < start": C("grant", put(f"{T}.end", "2025-12-31T23:59:59Z"), INVALID, "end"),
    "end Feb 30": C("grant", put(f"{T}.end", FEB30), INVALID, "end"),
    "start null": C("grant", put(f"{T}.start", None), INVALID, "start"),
    "revocable without notice_days": C("grant", drop(f"{T}.notice_days"), INVALID, "notice_days"),
    "notice_days without revocable": C(
        "grant", put(f"{T}.revocable", False), INVALID, "notice_days"
    ),
    "notice_days 3651": C("grant", put(f"{T}.notice_days", 3651), INVALID, "notice_days"),
    "notice_days -1": C("grant", put(f"{T}.notice_days", -1), INVALID, "notice_days"),
    "notice_days null": C("grant", put(f"{T}.notice_days", None), INVALID, "notice_days"),
    "amount 2.5.0": C("grant", put(f"{CONS}.amount", "2.5.0"), INVALID, "amount"),
    "amount -1": C("grant", put(f"{CONS}.amount", "-1"), INVALID, "amount"),
    "amount 01.5": C("grant", put(f"{CONS}.amount", "01.5"), INVALID, "amount"),
    "amount 1.": C("grant", put(f"{CONS}.amount", "1."), INVALID, "amount"),
    "amount .5": C("grant", put(f"{CONS}.amount", ".5"), INVALID, "amount"),
    "amount 1e3": C("grant", put(f"{CONS}.amount", "1e3"), INVALID, "amount"),
    "amount 9 decimals": C("grant", put(f"{CONS}.amount", "0.123456789"), INVALID, "amount"),
    "amount empty": C("grant", put(f"{CONS}.amount", ""), INVALID, "amount"),
    "amount NaN": C("grant", put(f"{CONS}.amount", "NaN"), INVALID, "amount"),
    "amount non-ASCII digit": C("grant", put(f"{CONS}.amount", "\u0662.50"), INVALID, "amount"),
    "amount as integer": C("grant", put(f"{CONS}.amount", 2), INVALID, "amount"),
    "amount as float": C("grant", put(f"{CONS}.amount", 2.5), INVALID, "amount", resign=False),
    "currency lowercase": C("grant", put(f"{CONS}.currency", "usd"), INVALID, "currency"),
    "currency XXX": C("grant", put(f"{CONS}.currency", "XXX"), INVALID, "currency"),
    "unit unknown": C("grant", put(f"{CONS}.unit", "per_second"), INVALID, "unit"),
    "consideration not an object": C("grant", put(CONS, "2.50 USD"), INVALID, "consideration"),
    # keys
    "key.rotate to the same key": C(
        "key.rotate", put("statement.new_public_key", CREATOR.public_key.b64), INVALID, "differ"
    ),
    "key.revoke bad reason": C("key.revoke", put("statement.reason", "bored"), INVALID, "reason"),
    "key.revoke key_id uppercase": C(
        "key.revoke", put("statement.key_id", NEW_KEY.key_id.upper()), INVALID, "key_id"
    ),
    "grant.accept grant_hash short": C(
        "grant.accept", put("statement.grant_hash", "ab" * 31), INVALID, "grant_hash"
    ),
    "grant.revoke bad effective_at": C(
        "grant.revoke", put("statement.effective_at", "2026-04-01"), INVALID, "effective_at"
    ),
    # Signature encoding.
    "signature non-canonical base64": C(
        "grant", edit_signature(0, non_canonical_b64), INVALID, "canonical", False
    ),
    "signature without padding": C(
        "grant", edit_signature(0, lambda s: s.rstrip("=")), INVALID, "signature", False
    ),
    "signature with a newline": C(
        "grant", edit_signature(0, lambda s: s[:40] + "\n" + s[40:]), INVALID, "signature", False
    ),
    "signature 63 bytes": C(
        "grant",
        edit_signature(0, lambda s: base64.b64encode(base64.b64decode(s)[:63]).decode()),
        INVALID,
        "64 bytes",
        False,
    ),
    "signature public_key not base64": C(
        "grant", put("signatures.0.public_key", "not base64!"), INVALID, "public_key", False
    ),
    # Tampering: nothing is re-signed.
    "flipped bit in signature": C("grant", edit_signature(0, flip_bit), BAD_SIG, resign=False),
    "flipped bit in 2nd rotate signature": C(
        "key.rotate", edit_signature(1, flip_bit), BAD_SIG, resign=False
    ),
    "signature by another key": C("grant", signed_by(OTHER), BAD_SIG, resign=False),
    "member changed after signing": C(
        "grant", put(f"{CONS}.amount", "0.01"), BAD_SIG, resign=False
    ),
    "nonce changed after signing": C(
        "grant", put("statement.nonce", "f" * 32), BAD_SIG, resign=False
    ),
    "terms member changed after signing": C(
        "grant", put(f"{T}.attribution", True), BAD_SIG, resign=False
    ),
    "rotate signatures in wrong order": C(
        "key.rotate", swap_signatures, BAD_SIG, "order", resign=False
    ),
    "rotate signed by old key only": C("key.rotate", signed_by(CREATOR), BAD_SIG, resign=False),
    "rotate signed by new key only": C("key.rotate", signed_by(NEW_KEY), BAD_SIG, resign=False),
    "rotate 2nd signature by a third key": C(
        "key.rotate", signed_by(CREATOR, OTHER), BAD_SIG, resign=False
    ),
    "grant signed by buyer naming creator": C("grant", signed_by(BUYER), BAD_SIG, resign=False),
    "accept signed by creator naming buyer": C(
        "grant.accept", signed_by(CREATOR), BAD_SIG, resign=False
    ),
    "register signed by another key": C("party.register", signed_by(OTHER), BAD_SIG, resign=False),
    "grant signed twice by the creator": C(
        "grant", signed_by(CREATOR, CREATOR), BAD_SIG, resign=False
    ),
    "signed under the hash context": C(
        "grant", signed_by(CREATOR, context=STATEMENT_HASH_CONTEXT), BAD_SIG, resign=False
    ),
    "signed under a v2 context": C(
        "grant",
        signed_by(CREATOR, context=b"consent-ledger/v2/statement-signature\n"),
        BAD_SIG,
        resign=False,
    ),
    "signed with no context": C("grant", signed_by(CREATOR, context=b""), BAD_SIG, resign=False),
    "signed over non-canonical bytes": C(
        "grant", non_canonical_signed_bytes, BAD_SIG, resign=False
    ),
    "right key, swapped public_key field": C(
        "grant", put("signatures.0.public_key", OTHER.public_key.b64), BAD_SIG, resign=False
    ),
}


def _exact(value: Any) -> str:
    # Not ==: in Python True == 1 and 60.0 == 60, which JSON tells apart.
    return json.dumps(value, sort_keys=True)


@pytest.mark.parametrize("case", MALFORMED_CASES.values(), ids=MALFORMED_CASES.keys())
def test_malformed_input_cases(case: Case) -> None:
    envelope = copy.deepcopy(valid_statements()[case.kind].to_json())
    original_body = _exact(envelope["statement"])
    case.mutate(envelope)
    # Rows about the envelope or the signatures leave the body, and its signatures, alone.
    if case.resign and _exact(envelope.get("statement")) != original_body:
        envelope["signatures"] = resign(envelope["statement"], *SIGNERS[case.kind])
    error_class, code = case.error
    with pytest.raises(LedgerError) as exc:
        SignedStatement.from_json(envelope)
    assert type(exc.value) is error_class, exc.value
    assert exc.value.code == code
    assert case.match in exc.value.message


def test_the_table_reaches_every_statement_type() -> None:
    kinds = {case.kind.split("/")[0] for case in MALFORMED_CASES.values()}
    assert kinds == {t.type_name for t in TYPES.values()}


def test_resign_without_mutation_verifies() -> None:
    # The helper itself must produce valid signatures, or every "shape" row proves nothing.
    for kind, keys in SIGNERS.items():
        envelope = copy.deepcopy(valid_statements()[kind].to_json())
        envelope["signatures"] = resign(envelope["statement"], *keys)
        SignedStatement.from_json(envelope)


# --- Wire bytes --------------------------------------------------------------------------------


def _wire(**replace: str) -> bytes:
    text = json.dumps(valid_statements()["grant"].to_json())
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text.encode()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_wire(**{'"duration_s": 60': '"duration_s": 60.0'}), id="float-duration"),
        pytest.param(_wire(**{'"v": 1': '"v": 1, "v": 1'}), id="duplicate-member"),
        pytest.param(_wire(**{'"bytes": 0': '"bytes": 1e0'}), id="exponent"),
        pytest.param(_wire(**{'"ai_training"': '"ai_training\\ud800"'}), id="lone-surrogate"),
        pytest.param(b"\xef\xbb\xbf" + _wire(), id="bom"),
        pytest.param(_wire()[:-1], id="truncated"),
    ],
)
def test_from_bytes_rejects_non_strict_json(data: bytes) -> None:
    with pytest.raises(MalformedJSON) as exc:
        SignedStatement.from_bytes(data)
    assert exc.value.code == "malformed_json"


# --- What the fast paths rest on ------------------------------------------------------------------


class _Recording(dict[str, Any]):
    """A JSON object that remembers which members its parser looked up."""

    def __init__(self, value: dict[str, Any]) -> None:
        super().__init__(value)
        self.looked_up: set[str] = set()

    def get(self, name: str, default: Any = None) -> Any:
        self.looked_up.add(name)
        return super().get(name, default)


def _recording(value: Any, out: list[_Recording]) -> Any:
    if isinstance(value, dict):
        obj = _Recording({k: _recording(v, out) for k, v in value.items()})
        out.append(obj)
        return obj
    if isinstance(value, list):
        return [_recording(v, out) for v in value]
    return value


@pytest.mark.parametrize("kind", SIGNERS)
def test_every_member_of_a_statement_is_read(kind: str) -> None:
    # _Fields lets through, unchecked, exactly the member names it is given: safe only if the
    # parser reads each of them. Between them the valid statements hold every optional member.
    objects: list[_Recording] = []
    envelope = _recording(valid_statements()[kind].to_json(), objects)
    SignedStatement.from_json(envelope)
    body = envelope["statement"]
    expected = [(envelope, _ENVELOPE_MEMBERS), (body, _STATEMENT_MEMBERS[body["type"]])]
    expected += [(sig, _SIGNATURE_MEMBERS) for sig in envelope["signatures"]]
    if body["type"] == "grant":
        expected += [(item, _CONTENT_ITEM_MEMBERS) for item in body["content"]]
        expected += [(body["terms"], _TERMS_MEMBERS)]
        expected += [(body["terms"]["consideration"], _CONSIDERATION_MEMBERS)]
    assert len(expected) == len(objects)
    for obj, members in expected:
        assert obj.looked_up == members
        assert obj.keys() <= members


def _timestamp_by_constructor(text: str) -> datetime | None:
    """The former parse_timestamp after its pattern check: datetime() from the digit fields."""
    fields = (text[0:4], text[5:7], text[8:10], text[11:13], text[14:16], text[17:19])
    try:
        return datetime(*map(int, fields), tzinfo=UTC)
    except ValueError:
        return None


@pytest.mark.parametrize("year", ["0000", "0001", "1900", "2024", "2026", "9999"])
def test_parse_timestamp_agrees_with_the_datetime_constructor(year: str) -> None:
    # Every month and day 00..99 at one time of day, and every time of day 00..99 on a leap day.
    texts = [f"{year}-{m:02}-{d:02}T12:30:30Z" for m in range(100) for d in range(100)]
    texts += [
        f"{year}-02-29T{h:02}:{m:02}:{s:02}Z"
        for h in range(100)
        for m in (0, 59, 60, 99)
        for s in range(100)
    ]
    for text in texts:
        expected = _timestamp_by_constructor(text)
        if expected is None:
            with pytest.raises(InvalidStatement, match="not a real date and time"):
                parse_timestamp(text)
        else:
            parsed = parse_timestamp(text)
            assert parsed == expected, text
            assert parsed.tzinfo is UTC
