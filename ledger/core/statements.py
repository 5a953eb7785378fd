"""Signed statements, version 1: their shapes, their signing rules, and their hashes.

A statement is a JSON object. Its *statement bytes* are its RFC 8785 canonical form; a signature is
Ed25519 over ``STATEMENT_SIGNING_CONTEXT || statement bytes`` and the *statement hash* is
``SHA-256(STATEMENT_HASH_CONTEXT || statement bytes)``. On the wire a statement travels in an
envelope ``{"statement": {...}, "signatures": [{"public_key": b64, "signature": b64}, ...]}``.

This module checks shapes and signatures only. Rules that need the log's state (is this key
registered? was this grant accepted already?) belong to the service layer. No I/O here.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Final

from .canonical import canonicalize, parse_json
from .encoding import b64_decode, b64_encode, hash_from_hex, sha256
from .errors import BadSignature, InvalidEncoding, InvalidStatement, LedgerError
from .iso import ISO_3166_ALPHA2, ISO_4217
from .keys import SIGNATURE_SIZE, PublicKey, SigningKey, parse_key_id
from .sigcheck import SignatureCheck, cryptography_check

STATEMENT_SIGNING_CONTEXT: Final = b"consent-ledger/v1/statement-signature\n"
STATEMENT_HASH_CONTEXT: Final = b"consent-ledger/v1/statement-hash\n"
STATEMENT_VERSION: Final = 1

#: The CAWG training-and-data-mining vocabulary of permitted uses.
USES: Final = frozenset({"ai_training", "ai_generative_training", "ai_inference", "data_mining"})
PROHIBITIONS: Final = frozenset(
    {"replicate_likeness", "replicate_voice", "biometric_identification", "redistribute_content"}
)
CONSIDERATION_UNITS: Final = frozenset({"per_minute", "per_clip", "flat"})
KEY_REVOCATION_REASONS: Final = frozenset({"compromised", "lost", "retired"})
WORLDWIDE: Final = "worldwide"
_TERRITORIES: Final = ISO_3166_ALPHA2 | {WORLDWIDE}
MAX_NOTICE_DAYS: Final = 3650

# [0-9], not \d: \d also matches other scripts' digits, which strptime reads as the same instant.
_TIMESTAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_NONCE_RE = re.compile(r"[0-9a-f]{32}")
#: A key id or SHA-256 value: 64 lowercase hex digits (the one spelling hex_decode accepts).
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PSEUDONYM_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._ -]{0,62}[A-Za-z0-9._-])?")
_MEDIA_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")
_AMOUNT_RE = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,8})?")


# --- Field readers ---------------------------------------------------------------------------

_MISSING: Final = object()


class _Fields:
    """Reads the members of one JSON object, refusing wrong types and unknown members.

    ``members`` are the names the object may hold. Its parser reads every one of them (a missing
    optional member reads as None) before it calls ``done``, so a member ``done`` lets through has
    always been checked; ``test_every_member_of_a_statement_is_read`` holds the parsers to that.
    Naming them up front, rather than collecting the names read, keeps the per-member reads cheap.
    """

    __slots__ = ("members", "obj", "where")

    def __init__(self, obj: object, where: str, members: frozenset[str]) -> None:
        if not isinstance(obj, dict):
            raise InvalidStatement(f"{where} must be a JSON object")
        self.obj: dict[str, Any] = obj
        self.where = where
        self.members = members

    def _get(self, name: str, kind: type | tuple[type, ...], required: bool) -> Any:
        value = self.obj.get(name, _MISSING)
        if type(value) is kind:  # the common case; also keeps bool out of int fields
            return value
        if value is _MISSING:
            if required:
                raise InvalidStatement(f"{self.where}.{name} is required")
            return None
        # bool is a subclass of int: an int field must not accept true/false.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            expected = (
                kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            )
            raise InvalidStatement(f"{self.where}.{name} must be of type {expected}")
        return value

    def req(self, name: str, kind: type | tuple[type, ...]) -> Any:
        value = self.obj.get(name, _MISSING)
        if type(value) is kind:  # inlined fast path of _get: this runs ~30 times per grant
            return value
        return self._get(name, kind, required=True)

    def opt(self, name: str, kind: type | tuple[type, ...]) -> Any:
        return self._get(name, kind, required=False)

    def string(self, name: str, pattern: re.Pattern[str], what: str, required: bool = True) -> Any:
        value = self.obj.get(name, _MISSING)
        if type(value) is str and pattern.fullmatch(value):  # the common case, inlined
            return value
        value = self._get(name, str, required)
        if value is not None and not pattern.fullmatch(value):
            raise InvalidStatement(f"{self.where}.{name} must be {what}")
        return value

    def integer(self, name: str, low: int, high: int) -> int:
        value: int = self.req(name, int)
        if not low <= value <= high:
            raise InvalidStatement(f"{self.where}.{name} must be between {low} and {high}")
        return value

    def done(self) -> None:
        if self.obj.keys() <= self.members:
            return
        unknown = self.obj.keys() - self.members
        if unknown:
            names = ", ".join(sorted(unknown))
            raise InvalidStatement(f"{self.where} has unknown member(s): {names}")


def _wrap_encoding(func: Callable[[], Any], where: str) -> Any:
    try:
        return func()
    except InvalidEncoding as e:
        raise InvalidStatement(f"{where}: {e.message}") from e


def parse_timestamp(text: object, where: str = "timestamp") -> datetime:
    """A UTC instant written ``YYYY-MM-DDTHH:MM:SSZ`` (whole seconds, one spelling only)."""
    if not isinstance(text, str) or not _TIMESTAMP_RE.fullmatch(text):
        raise InvalidStatement(f"{where} must be a UTC timestamp like 2026-01-31T12:00:00Z")
    # The pattern fixed every field's digits (ASCII only) and the "Z" (UTC, read by fromisoformat
    # since Python 3.11). fromisoformat refuses what is not a real instant (month 13, 30 February,
    # minute 60, second 60) as datetime() and strptime did, at a tenth of their cost; hour 24 is
    # refused here, since newer Pythons may read "24:00:00" as the next midnight.
    if text[11:13] >= "24":
        raise InvalidStatement(f"{where} is not a real date and time")
    try:
        return datetime.fromisoformat(text)
    except ValueError as e:
        raise InvalidStatement(f"{where} is not a real date and time") from e


def format_timestamp(moment: datetime) -> str:
    """The canonical statement spelling of an instant (UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unique_strings(
    values: object, where: str, allowed: Callable[[str], bool], what: str, allow_empty: bool
) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise InvalidStatement(f"{where} must be a list")
    if not values and not allow_empty:
        raise InvalidStatement(f"{where} must not be empty")
    for value in values:
        if not isinstance(value, str) or not allowed(value):
            raise InvalidStatement(f"{where} contains {value!r}, which is not {what}")
    if len(set(values)) != len(values):
        raise InvalidStatement(f"{where} lists a value twice")
    return tuple(values)


# --- Statement types ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """Members common to every v1 statement."""

    type_name: ClassVar[str]

    signer: str
    issued_at: datetime
    nonce: str

    def required_signers(self) -> tuple[str, ...]:
        """Key ids that must sign, in the order their signatures appear."""
        return (self.signer,)

    def check_signature_keys(self, keys: tuple[PublicKey, ...]) -> None:
        """Raise BadSignature unless ``keys`` are exactly the required signers, in order."""
        expected = self.required_signers()
        actual = tuple([k.key_id for k in keys])
        if actual != expected:
            raise BadSignature(
                f"{self.type_name} must be signed by {len(expected)} key(s) in this order: "
                + ", ".join(e[:16] + "…" for e in expected)
            )


@dataclass(frozen=True)
class PartyRegister(Statement):
    """A party introduces its key, self-signed as proof of possession."""

    type_name: ClassVar[str] = "party.register"
    public_key: PublicKey
    pseudonym: str
    identity_commitment: str | None


@dataclass(frozen=True)
class KeyRotate(Statement):
    """The signer's key hands over to a new key; signed by both."""

    type_name: ClassVar[str] = "key.rotate"
    new_public_key: PublicKey

    def required_signers(self) -> tuple[str, ...]:
        return (self.signer, self.new_public_key.key_id)


@dataclass(frozen=True)
class KeyRevoke(Statement):
    """A key of the signer's party (possibly the signer's own) stops being valid."""

    type_name: ClassVar[str] = "key.revoke"
    key_id: str
    reason: str


@dataclass(frozen=True)
class ContentItem:
    sha256: str
    bytes: int
    duration_s: int
    media_type: str
    c2pa_hash: str | None


@dataclass(frozen=True)
class Consideration:
    amount: Decimal
    currency: str
    unit: str


@dataclass(frozen=True)
class Terms:
    uses: tuple[str, ...]
    prohibitions: tuple[str, ...]
    exclusive: bool
    territory: tuple[str, ...]
    start: datetime
    end: datetime | None
    revocable: bool
    notice_days: int | None
    consideration: Consideration
    attribution: bool
    sublicensing: bool


@dataclass(frozen=True)
class Grant(Statement):
    """A creator (the signer) licenses content items to a buyer under terms."""

    type_name: ClassVar[str] = "grant"
    grant_id: str
    buyer: str
    content: tuple[ContentItem, ...]
    terms: Terms


@dataclass(frozen=True)
class GrantAccept(Statement):
    """The buyer named in a grant (the signer) accepts it, naming it by its statement hash."""

    type_name: ClassVar[str] = "grant.accept"
    grant_hash: str


@dataclass(frozen=True)
class GrantRevoke(Statement):
    """The grant's creator (the signer) revokes it from ``effective_at`` on."""

    type_name: ClassVar[str] = "grant.revoke"
    grant_hash: str
    effective_at: datetime


# --- Parsing each type ---------------------------------------------------------------------------


def _key_id(f: _Fields, name: str) -> str:
    value: str = f.req(name, str)
    if _HEX64_RE.fullmatch(value):  # what parse_key_id accepts, without decoding
        return value
    return str(_wrap_encoding(lambda: parse_key_id(value), f"{f.where}.{name}"))


def _hash_hex(f: _Fields, name: str, required: bool = True) -> str | None:
    value = f.req(name, str) if required else f.opt(name, str)
    if value is not None and not _HEX64_RE.fullmatch(value):  # what hash_from_hex accepts
        _wrap_encoding(lambda: hash_from_hex(value), f"{f.where}.{name}")
    return value  # type: ignore[no-any-return]


def _public_key(f: _Fields, name: str) -> PublicKey:
    where = f"{f.where}.{name}"
    value = f.req(name, str)
    try:
        return PublicKey.from_b64(value, where)
    except LedgerError as e:
        raise InvalidStatement(f"{where}: {e.message}") from e


def _party_register(f: _Fields, common: dict[str, Any]) -> PartyRegister:
    pseudonym = f.string("pseudonym", _PSEUDONYM_RE, "1-64 letters, digits, '.', '_', '-', ' '")
    stmt = PartyRegister(
        **common,
        public_key=_public_key(f, "public_key"),
        pseudonym=pseudonym,
        identity_commitment=_hash_hex(f, "identity_commitment", required=False),
    )
    if stmt.public_key.key_id != stmt.signer:
        raise InvalidStatement("party.register: signer must be the key id of public_key")
    return stmt


def _key_rotate(f: _Fields, common: dict[str, Any]) -> KeyRotate:
    stmt = KeyRotate(**common, new_public_key=_public_key(f, "new_public_key"))
    if stmt.new_public_key.key_id == stmt.signer:
        raise InvalidStatement("key.rotate: the new key must differ from the old one")
    return stmt


def _key_revoke(f: _Fields, common: dict[str, Any]) -> KeyRevoke:
    reason = f.req("reason", str)
    if reason not in KEY_REVOCATION_REASONS:
        raise InvalidStatement(f"key.revoke.reason must be one of {sorted(KEY_REVOCATION_REASONS)}")
    return KeyRevoke(**common, key_id=_key_id(f, "key_id"), reason=reason)


_CONTENT_ITEM_MEMBERS: Final = frozenset(
    {"sha256", "bytes", "duration_s", "media_type", "c2pa_hash"}
)


def _content_item(obj: object, where: str) -> ContentItem:
    f = _Fields(obj, where, _CONTENT_ITEM_MEMBERS)
    item = ContentItem(
        sha256=_hash_hex(f, "sha256") or "",
        bytes=f.integer("bytes", 0, 2**53 - 1),
        duration_s=f.integer("duration_s", 0, 10**9),
        media_type=f.string("media_type", _MEDIA_TYPE_RE, "a lowercase media type like video/mp4"),
        c2pa_hash=_hash_hex(f, "c2pa_hash", required=False),
    )
    f.done()
    return item


def _content(f: _Fields) -> tuple[ContentItem, ...]:
    items = f.req("content", list)
    if not items:
        raise InvalidStatement("grant.content must list at least one item")
    content = tuple([_content_item(obj, f"grant.content[{i}]") for i, obj in enumerate(items)])
    if len({c.sha256 for c in content}) != len(content):
        raise InvalidStatement("grant.content lists the same sha256 twice")
    return content


_CONSIDERATION_MEMBERS: Final = frozenset({"amount", "currency", "unit"})


def _consideration(obj: object) -> Consideration:
    f = _Fields(obj, "grant.terms.consideration", _CONSIDERATION_MEMBERS)
    amount = f.string("amount", _AMOUNT_RE, "a decimal string like 2.50 (up to 8 decimals)")
    currency = f.req("currency", str)
    if currency not in ISO_4217:
        raise InvalidStatement("grant.terms.consideration.currency must be an ISO 4217 code")
    unit = f.req("unit", str)
    if unit not in CONSIDERATION_UNITS:
        raise InvalidStatement(f"consideration.unit must be one of {sorted(CONSIDERATION_UNITS)}")
    f.done()
    return Consideration(amount=Decimal(amount), currency=currency, unit=unit)


def _territory(values: object) -> tuple[str, ...]:
    territory = _unique_strings(
        values,
        "grant.terms.territory",
        _TERRITORIES.__contains__,
        "an ISO 3166-1 alpha-2 code or 'worldwide'",
        allow_empty=False,
    )
    if WORLDWIDE in territory and len(territory) > 1:
        raise InvalidStatement("grant.terms.territory: 'worldwide' stands alone")
    return territory


_TERMS_MEMBERS: Final = frozenset(
    {
        "uses",
        "prohibitions",
        "start",
        "end",
        "revocable",
        "notice_days",
        "exclusive",
        "territory",
        "consideration",
        "attribution",
        "sublicensing",
    }
)


def _terms(obj: object) -> Terms:
    f = _Fields(obj, "grant.terms", _TERMS_MEMBERS)
    uses = _unique_strings(
        f.req("uses", list), "grant.terms.uses", USES.__contains__, "a known use", False
    )
    prohibitions = _unique_strings(
        f.req("prohibitions", list),
        "grant.terms.prohibitions",
        PROHIBITIONS.__contains__,
        "a known prohibition",
        allow_empty=True,
    )
    start = parse_timestamp(f.req("start", str), "grant.terms.start")
    end_text = f.opt("end", str)
    end = None if end_text is None else parse_timestamp(end_text, "grant.terms.end")
    if end is not None and end <= start:
        raise InvalidStatement("grant.terms.end must be later than grant.terms.start")
    revocable: bool = f.req("revocable", bool)
    notice_days: int | None = f.opt("notice_days", int)
    if revocable != (notice_days is not None):
        raise InvalidStatement("grant.terms.notice_days is required exactly when revocable")
    if notice_days is not None and not 0 <= notice_days <= MAX_NOTICE_DAYS:
        raise InvalidStatement(f"grant.terms.notice_days must be 0..{MAX_NOTICE_DAYS}")
    terms = Terms(
        uses=uses,
        prohibitions=prohibitions,
        exclusive=f.req("exclusive", bool),
        territory=_territory(f.req("territory", list)),
        start=start,
        end=end,
        revocable=revocable,
        notice_days=notice_days,
        consideration=_consideration(f.req("consideration", dict)),
        attribution=f.req("attribution", bool),
        sublicensing=f.req("sublicensing", bool),
    )
    f.done()
    return terms


def _grant(f: _Fields, common: dict[str, Any]) -> Grant:
    # The pattern is the canonical 8-4-4-4-12 lowercase spelling: every match is a UUID.
    grant_id = f.string("grant_id", _UUID_RE, "a lowercase UUID")
    stmt = Grant(
        **common,
        grant_id=grant_id,
        buyer=_key_id(f, "buyer"),
        content=_content(f),
        terms=_terms(f.req("terms", dict)),
    )
    if stmt.buyer == stmt.signer:
        raise InvalidStatement("grant.buyer must differ from the creator (signer)")
    return stmt


def _grant_accept(f: _Fields, common: dict[str, Any]) -> GrantAccept:
    return GrantAccept(**common, grant_hash=_hash_hex(f, "grant_hash") or "")


def _grant_revoke(f: _Fields, common: dict[str, Any]) -> GrantRevoke:
    effective_at = parse_timestamp(f.req("effective_at", str), "grant.revoke.effective_at")
    return GrantRevoke(
        **common, grant_hash=_hash_hex(f, "grant_hash") or "", effective_at=effective_at
    )


_PARSERS: Final[dict[str, Callable[[_Fields, dict[str, Any]], Statement]]] = {
    PartyRegister.type_name: _party_register,
    KeyRotate.type_name: _key_rotate,
    KeyRevoke.type_name: _key_revoke,
    Grant.type_name: _grant,
    GrantAccept.type_name: _grant_accept,
    GrantRevoke.type_name: _grant_revoke,
}
STATEMENT_TYPES: Final = tuple(_PARSERS)

_COMMON_MEMBERS: Final = frozenset({"type", "v", "signer", "issued_at", "nonce"})
#: The members a statement of each type may hold: the common ones and those its parser reads.
_STATEMENT_MEMBERS: Final[dict[str, frozenset[str]]] = {
    PartyRegister.type_name: _COMMON_MEMBERS | {"public_key", "pseudonym", "identity_commitment"},
    KeyRotate.type_name: _COMMON_MEMBERS | {"new_public_key"},
    KeyRevoke.type_name: _COMMON_MEMBERS | {"reason", "key_id"},
    Grant.type_name: _COMMON_MEMBERS | {"grant_id", "buyer", "content", "terms"},
    GrantAccept.type_name: _COMMON_MEMBERS | {"grant_hash"},
    GrantRevoke.type_name: _COMMON_MEMBERS | {"grant_hash", "effective_at"},
}


def parse_statement(obj: object) -> Statement:
    """Validate a statement object against the v1 schema and return its typed form.

    Raises InvalidStatement (never anything else) when a member is missing, unknown, of the wrong
    type or out of its range. Does not check signatures or the log's state.
    """
    return parse_statement_text(obj)[0]


def parse_statement_text(obj: object) -> tuple[Statement, str | None]:
    """``parse_statement``, and where the fast path read the statement, its canonical JSON text.

    The text is what RFC 8785 (and, for such a statement, sorted compact ``json``) gives for
    ``obj``, made from the values just checked without a second pass over the object; None when
    the strict parser read it. Raises InvalidStatement as ``parse_statement`` does. Only the
    offline verifier uses the text (it compares it with the leaf's statement bytes); the append
    path encodes statements itself.
    """
    if type(obj) is dict:
        fast = _FAST_PARSERS.get(tuple(obj))
        if fast is not None:
            parsed = fast(obj)
            if parsed is not None:
                return parsed
    return _parse_statement_strict(obj), None


def _parse_statement_strict(obj: object) -> Statement:
    """``parse_statement`` member by member: the reference, and every refusal's message."""
    f = _Fields(obj, "statement", _COMMON_MEMBERS)
    kind = f.req("type", str)
    parser = _PARSERS.get(kind)
    if parser is None:
        raise InvalidStatement(f"statement.type must be one of {', '.join(STATEMENT_TYPES)}")
    if f.req("v", int) != STATEMENT_VERSION:
        raise InvalidStatement(f"statement.v must be {STATEMENT_VERSION}")
    common = {
        "signer": _key_id(f, "signer"),
        "issued_at": parse_timestamp(f.req("issued_at", str), "statement.issued_at"),
        "nonce": f.string("nonce", _NONCE_RE, "32 lowercase hex digits (16 random bytes)"),
    }
    f.where, f.members = kind, _STATEMENT_MEMBERS[kind]
    statement = parser(f, common)
    f.done()
    return statement


# --- The fast path for the common statements ----------------------------------------------------
#
# A log is mostly grants and acceptances, and a verifier parses every one. ``_fast_grant`` and
# ``_fast_accept`` read a statement whose members are exactly those of the type, in sorted order
# (as canonical bytes decode), with one check per member instead of a _Fields call each. They
# return a statement only where every check of the strict parser holds, built from the same
# values; on any doubt they return None and ``_parse_statement_strict`` decides (and words the
# refusal). tests/core/test_statements_fast.py pins them to the strict parser.

#: Results of parse_timestamp by text, and of _terms by the terms' member values: statements
#: repeat both. Bounded; emptied when full.
_CACHE_SIZE: Final = 4096
_TIMESTAMPS: dict[str, datetime] = {}
_TERMS: dict[tuple[Any, ...], tuple[Terms, str]] = {}


def _timestamp(text: str) -> datetime | None:
    """parse_timestamp of a str, remembered; None where it refuses."""
    moment = _TIMESTAMPS.get(text)
    if moment is None:
        try:
            moment = parse_timestamp(text)
        except InvalidStatement:
            return None
        _remember(_TIMESTAMPS, text, moment)
    return moment


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Keep ``value`` under ``key`` in a bounded cache, emptied when full."""
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value


_TERMS_KEYS: Final = frozenset(
    tuple(sorted(_TERMS_MEMBERS - dropped))
    for dropped in ({"end", "notice_days"}, {"end"}, {"notice_days"}, set())
)
_TERM_TYPES: Final[dict[str, type]] = {
    "attribution": bool,
    "consideration": dict,
    "end": str,
    "exclusive": bool,
    "notice_days": int,
    "prohibitions": list,
    "revocable": bool,
    "start": str,
    "sublicensing": bool,
    "territory": list,
    "uses": list,
}
#: For each member order the fast path takes, the exact type of each value in that order.
_TERMS_SHAPES: Final = {keys: tuple(_TERM_TYPES[k] for k in keys) for keys in _TERMS_KEYS}
_THREE_STRINGS: Final = (str, str, str)


def _fast_terms(obj: object) -> tuple[Terms, str] | None:
    """``_terms(obj)`` and the canonical text of ``obj`` for a terms object of the usual shape,
    remembered by its values; or None."""
    if type(obj) is not dict:
        return None
    shape = _TERMS_SHAPES.get(tuple(obj))
    # Every value of its exact type first, so that equal values in the key mean equal JSON
    # (1 == True would otherwise collide); the list members are checked to be strings below, and
    # strings are equal only when their texts are.
    if shape is None or tuple(map(type, obj.values())) != shape:
        return None
    consideration = obj["consideration"]
    if tuple(map(type, consideration.values())) != _THREE_STRINGS:
        return None
    get = obj.get
    try:
        key = (
            tuple(obj["uses"]),
            tuple(obj["prohibitions"]),
            tuple(obj["territory"]),
            obj["start"],
            get("end"),
            get("notice_days"),
            obj["revocable"],
            obj["exclusive"],
            obj["attribution"],
            obj["sublicensing"],
            tuple(consideration.items()),
        )
        known = _TERMS.get(key)
    except TypeError:  # an unhashable list member (a list or object where a string belongs)
        return None
    if known is None:
        try:
            known = _terms(obj), _ASCII_JCS.encode(obj)
        except InvalidStatement:
            return None
        _remember(_TERMS, key, known)
    return known


_CONTENT_ITEM_KEYS: Final = ("bytes", "c2pa_hash", "duration_s", "media_type", "sha256")
_PLAIN_CONTENT_ITEM_KEYS: Final = ("bytes", "duration_s", "media_type", "sha256")
_MAX_BYTES: Final = 2**53 - 1
_MAX_DURATION: Final = 10**9


def _fast_content(items: object) -> tuple[tuple[ContentItem, ...], str] | None:
    """``_content`` of a content list of the usual shape, and its canonical text; or None."""
    if type(items) is not list or not items:
        return None
    content = []
    texts = []
    hex64 = _HEX64_RE.fullmatch
    for obj in items:
        if type(obj) is not dict:
            return None
        keys = tuple(obj)
        if keys == _PLAIN_CONTENT_ITEM_KEYS:
            size, duration, media_type, sha = obj.values()
            c2pa, c2pa_ok = None, True
        elif keys == _CONTENT_ITEM_KEYS:
            size, c2pa, duration, media_type, sha = obj.values()
            c2pa_ok = type(c2pa) is str and hex64(c2pa) is not None  # present: never null
        else:
            return None
        if not (
            c2pa_ok
            and type(sha) is str
            and hex64(sha)
            and type(size) is int
            and 0 <= size <= _MAX_BYTES
            and type(duration) is int
            and 0 <= duration <= _MAX_DURATION
            and type(media_type) is str
            and _MEDIA_TYPE_RE.fullmatch(media_type)
        ):
            return None
        content.append(ContentItem(sha, size, duration, media_type, c2pa))
        hash_member = "" if c2pa is None else f'"c2pa_hash":"{c2pa}",'
        texts.append(
            f'{{"bytes":{size},{hash_member}"duration_s":{duration},'
            f'"media_type":"{media_type}","sha256":"{sha}"}}'
        )
    if len(content) > 1 and len({c.sha256 for c in content}) != len(content):
        return None
    return tuple(content), ",".join(texts)


def _fast_common(signer: object, issued_at: object, nonce: object) -> datetime | None:
    """issued_at read, if the members common to every statement pass their checks; or None."""
    if not (
        type(signer) is str
        and _HEX64_RE.fullmatch(signer)
        and type(nonce) is str
        and _NONCE_RE.fullmatch(nonce)
        and type(issued_at) is str
    ):
        return None
    return _timestamp(issued_at)


def _fast_grant(obj: dict[str, Any]) -> tuple[Grant, str] | None:
    """The Grant and its canonical text for ``obj`` with exactly a grant's members in canonical
    order, when every check passes; None on any doubt (the strict parser then decides)."""
    buyer, content, grant_id, issued_at, nonce, signer, terms, kind, v = obj.values()
    if not (
        type(kind) is str
        and kind == Grant.type_name
        and type(v) is int
        and v == STATEMENT_VERSION
        and type(grant_id) is str
        and _UUID_RE.fullmatch(grant_id)
        and type(buyer) is str
        and _HEX64_RE.fullmatch(buyer)
        and buyer != signer
    ):
        return None
    moment = _fast_common(signer, issued_at, nonce)
    items = _fast_content(content)
    parsed_terms = _fast_terms(terms)
    if moment is None or items is None or parsed_terms is None:
        return None
    grant = Grant(signer, moment, nonce, grant_id, buyer, items[0], parsed_terms[0])
    text = (
        f'{{"buyer":"{buyer}","content":[{items[1]}],"grant_id":"{grant_id}",'
        f'"issued_at":"{issued_at}","nonce":"{nonce}","signer":"{signer}",'
        f'"terms":{parsed_terms[1]},"type":"grant","v":1}}'
    )
    return grant, text


def _fast_accept(obj: dict[str, Any]) -> tuple[GrantAccept, str] | None:
    """``_fast_grant`` for an acceptance."""
    grant_hash, issued_at, nonce, signer, kind, v = obj.values()
    if not (
        type(kind) is str
        and kind == GrantAccept.type_name
        and type(v) is int
        and v == STATEMENT_VERSION
        and type(grant_hash) is str
        and _HEX64_RE.fullmatch(grant_hash)
    ):
        return None
    moment = _fast_common(signer, issued_at, nonce)
    if moment is None:
        return None
    text = (
        f'{{"grant_hash":"{grant_hash}","issued_at":"{issued_at}","nonce":"{nonce}",'
        f'"signer":"{signer}","type":"grant.accept","v":1}}'
    )
    return GrantAccept(signer, moment, nonce, grant_hash), text


#: The fast parser for a statement object with exactly these member names, in this order.
_FAST_PARSERS: Final[
    dict[tuple[str, ...], Callable[[dict[str, Any]], tuple[Statement, str] | None]]
] = {
    tuple(sorted(_STATEMENT_MEMBERS[Grant.type_name])): _fast_grant,
    tuple(sorted(_STATEMENT_MEMBERS[GrantAccept.type_name])): _fast_accept,
}


# --- Signed envelopes -------------------------------------------------------------------------


_ENVELOPE_MEMBERS: Final = frozenset({"statement", "signatures"})
_SIGNATURE_MEMBERS: Final = frozenset({"public_key", "signature"})


@dataclass(frozen=True)
class Signature:
    public_key: PublicKey
    signature: bytes

    def to_json(self) -> dict[str, str]:
        return {"public_key": self.public_key.b64, "signature": b64_encode(self.signature)}


# sort_keys and no whitespace: with only ASCII text, safe integers, booleans and null, this is
# exactly RFC 8785 (see _statement_bytes).
_ASCII_JCS = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":"), sort_keys=True
)


def _statement_bytes(body: object) -> bytes:
    """The RFC 8785 bytes of a body that ``parse_statement`` has just accepted.

    parse_statement checked every member: names from the v1 schema, no unknown member, integers
    in range (never floats: ``bool``/``int`` are read by exact type), and every string against an
    ASCII pattern or a fixed set. For such a value JCS is plain sorted, compact JSON (code point
    order equals UTF-16 order for ASCII names; the escapes are the same), which json's C encoder
    writes without walking the tree in Python. Should the output not be pure ASCII (a future
    free-text member), the general ``canonicalize`` decides. The tests compare both with the
    ``rfc8785`` package.
    """
    text = _ASCII_JCS.encode(body)
    if text.isascii():
        return text.encode("ascii")
    return canonicalize(body)


def statement_hash(statement_bytes: bytes) -> bytes:
    """SHA-256(STATEMENT_HASH_CONTEXT || statement bytes): the statement's identity in the log."""
    return sha256(STATEMENT_HASH_CONTEXT + statement_bytes)


@dataclass(frozen=True)
class SignedStatement:
    """A statement with its exact canonical bytes and its verified signatures."""

    statement: Statement
    body: Mapping[str, Any]
    statement_bytes: bytes
    signatures: tuple[Signature, ...]

    @property
    def type_name(self) -> str:
        return self.statement.type_name

    @functools.cached_property
    def statement_hash(self) -> bytes:
        """Computed once per object (its bytes never change): the log and the verifier ask for it
        several times per statement."""
        return statement_hash(self.statement_bytes)

    def to_json(self) -> dict[str, Any]:
        """A fresh envelope, read back from the signed bytes: mutating it cannot touch ``self``."""
        statement = parse_json(self.statement_bytes)
        return {"statement": statement, "signatures": [s.to_json() for s in self.signatures]}

    @classmethod
    def from_parts(
        cls,
        body: object,
        signatures: Iterable[Signature],
        *,
        statement_bytes: bytes | None = None,
        check: SignatureCheck = cryptography_check,
    ) -> SignedStatement:
        """Validate ``body``, check each signature over its canonical bytes, and bind the signers.

        With ``statement_bytes`` (from a stored leaf) those exact bytes are verified and must be
        the canonical form of ``body``. Signatures are verified with ``check`` (``sigcheck``).
        Raises InvalidStatement, MalformedJSON or BadSignature.
        """
        statement = parse_statement(body)
        canonical = _statement_bytes(body)
        if statement_bytes is not None and statement_bytes != canonical:
            raise InvalidStatement("statement bytes are not in RFC 8785 canonical form")
        sigs = tuple(signatures)
        _verify_signatures(statement, canonical, sigs, check)
        assert isinstance(body, dict)
        return cls(statement, body, canonical, sigs)

    @classmethod
    def from_statement_bytes(
        cls,
        statement_bytes: bytes,
        signatures: Iterable[Signature],
        *,
        check: SignatureCheck = cryptography_check,
    ) -> SignedStatement:
        """Parse and verify stored statement bytes (a leaf's), which must be canonical.

        Decides and words every refusal exactly as ``from_parts(parse_json(statement_bytes),
        signatures, statement_bytes=statement_bytes, check=check)``, faster for bytes that pass
        (``parse_canonical_statement``). Raises MalformedJSON, InvalidStatement or BadSignature.
        """
        body, statement = parse_canonical_statement(statement_bytes)
        sigs = tuple(signatures)
        _verify_signatures(statement, statement_bytes, sigs, check)
        return cls(statement, body, statement_bytes, sigs)

    @classmethod
    def from_json(
        cls, envelope: object, *, check: SignatureCheck = cryptography_check
    ) -> SignedStatement:
        """Parse and verify a wire envelope ``{"statement": ..., "signatures": [...]}``."""
        f = _Fields(envelope, "envelope", _ENVELOPE_MEMBERS)
        body = f.req("statement", dict)
        raw_sigs = f.req("signatures", list)
        f.done()
        if not 1 <= len(raw_sigs) <= 2:
            raise InvalidStatement("envelope.signatures must hold one or two signatures")
        sigs = [_signature(obj, i) for i, obj in enumerate(raw_sigs)]
        return cls.from_parts(body, sigs, check=check)

    @classmethod
    def from_bytes(
        cls, data: bytes, *, check: SignatureCheck = cryptography_check
    ) -> SignedStatement:
        """Parse a JSON envelope from raw bytes (strict JSON), then as ``from_json``."""
        return cls.from_json(parse_json(data), check=check)


def _verify_signatures(
    statement: Statement, canonical: bytes, sigs: tuple[Signature, ...], check: SignatureCheck
) -> None:
    """The signers are the ones ``statement`` requires, in order, and each signature verifies
    over ``STATEMENT_SIGNING_CONTEXT || canonical`` with ``check``; raises BadSignature."""
    statement.check_signature_keys(tuple([s.public_key for s in sigs]))
    message = STATEMENT_SIGNING_CONTEXT + canonical
    for sig in sigs:
        if len(sig.signature) != SIGNATURE_SIZE:
            raise BadSignature("an Ed25519 signature is 64 bytes")
        if not check(sig.public_key.raw, message, sig.signature):
            raise BadSignature(f"signature by key {sig.public_key.key_id[:16]}… does not verify")


def parse_canonical_statement(statement_bytes: bytes) -> tuple[dict[str, Any], Statement]:
    """The body and statement of bytes that must be a statement's RFC 8785 form (a leaf's).

    The reference is the strict path: ``parse_json`` (docs/FORMAT.md §1.5), ``parse_statement``,
    then the bytes must equal ``_statement_bytes`` of the body. ``_fast_canonical_statement``
    first tries a shorter way that accepts only what that path accepts, with the same result;
    on any doubt the strict path decides and words the refusal
    (tests/core/test_evidence_parse_fast.py pins both). Raises MalformedJSON or InvalidStatement.
    """
    try:
        text = statement_bytes.decode("utf-8")
    except UnicodeDecodeError:
        text = None  # parse_json refuses it, with its message
    if text is not None:
        fast = _fast_canonical_statement(text)
        if fast is not None:
            return fast
    body = parse_json(statement_bytes)
    statement = parse_statement(body)
    if _statement_bytes(body) != statement_bytes:
        raise InvalidStatement("statement bytes are not in RFC 8785 canonical form")
    assert isinstance(body, dict)
    return body, statement


def _fast_canonical_statement(text: str) -> tuple[dict[str, Any], Statement] | None:
    """``parse_canonical_statement`` of a statement that passes, in fewer steps; else None.

    Reads the text once, with raw_decode (no whitespace scans: canonical text has none) and
    without the strict integer checks. Grants and acceptances then go through the statement
    parser's fast path, which gives the statement and its canonical text
    (tests/core/test_statements_fast.py pins both to the strict parser and the encoder); the
    other types through the strict parser, and their text through the sorted encoder. Where
    either parser accepts, every integer was range-checked by it (v, bytes, duration_s,
    notice_days: none above 2^53 - 1), and every string matched an ASCII pattern or a fixed set,
    so the sorted compact text is the RFC 8785 text; equal to ``text``, it also rules out
    duplicate members, whitespace, unsorted members, non-minimal escapes and a BOM. On any other
    outcome the strict path decides.
    """
    try:
        body, end = _FAST_DECODER.raw_decode(text)
        if end != len(text) or type(body) is not dict:
            return None
        statement, canonical = parse_statement_text(body)
        if canonical is None:  # the strict parser read it: no second decoding and parse
            canonical = _SORTED_ENCODER.encode(body)
    except (LedgerError, ValueError, RecursionError):
        return None
    if canonical != text:
        return None
    return body, statement


def _reject_number(text: str) -> Any:
    raise ValueError(f"not an integer: {text[:40]}")


# One decoder and one encoder, made once (json.loads/dumps with options build one per call).
_SORTED_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
#: Refuses floats and constants (NaN, Infinity) while decoding; integers are range-checked by the
#: statement parser (see _fast_canonical_statement).
_FAST_DECODER: Final = json.JSONDecoder(parse_float=_reject_number, parse_constant=_reject_number)


def _signature(obj: object, index: int) -> Signature:
    where = f"envelope.signatures[{index}]"
    f = _Fields(obj, where, _SIGNATURE_MEMBERS)
    public_key = _public_key(f, "public_key")
    raw = _wrap_encoding(
        lambda: b64_decode(f.req("signature", str), size=SIGNATURE_SIZE, what="signature"), where
    )
    f.done()
    return Signature(public_key, raw)


def sign_statement(body: Mapping[str, Any], *keys: SigningKey) -> SignedStatement:
    """Sign a statement body with ``keys`` (in the order its type requires) and verify it."""
    canonical = canonicalize(dict(body))
    sigs = [Signature(k.public_key, k.sign(STATEMENT_SIGNING_CONTEXT, canonical)) for k in keys]
    return SignedStatement.from_parts(dict(body), sigs)


def new_nonce() -> str:
    """16 random bytes as 32 lowercase hex digits."""
    return secrets.token_hex(16)
