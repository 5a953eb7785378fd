"""The strict statement parser: the reference for what a v1 statement is, and every refusal's
wording.

``_parse_statement_strict`` reads a statement member by member with ``_Fields``, refusing wrong
types, unknown members and values out of range with InvalidStatement; the fast parsers
(``fastparse.py``) must decide exactly as it does (tests/core/test_statements_fast.py). No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from ..encoding import hash_from_hex
from ..errors import (
    MAX_LISTED_PROBLEMS,
    InvalidEncoding,
    InvalidStatement,
    LedgerError,
    quoted,
)
from ..iso import ISO_3166_ALPHA2, ISO_4217
from ..keys import PublicKey, parse_key_id
from .types import (
    CONSIDERATION_UNITS,
    KEY_REVOCATION_REASONS,
    MAX_NOTICE_DAYS,
    PROHIBITIONS,
    STATEMENT_VERSION,
    USES,
    WORLDWIDE,
    Consideration,
    ContentItem,
    Grant,
    GrantAccept,
    GrantRevoke,
    KeyRevoke,
    KeyRotate,
    PartyRegister,
    Statement,
    Terms,
)

_TERRITORIES: Final = ISO_3166_ALPHA2 | {WORLDWIDE}

# [0-9], not \d: \d also matches other scripts' digits, which strptime reads as the same instant.
_TIMESTAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_NONCE_RE = re.compile(r"[0-9a-f]{32}")
#: A key id or SHA-256 value: 64 lowercase hex digits (the one spelling hex_decode accepts).
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: What a pseudonym may be (FORMAT §3.2.1), also for the readers that take one outside a
#: statement (the whole string must match).
PSEUDONYM_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9._ -]{0,62}[A-Za-z0-9._-])?"
PSEUDONYM_RULE = "1-64 letters, digits, '.', '_', '-', ' '"
_PSEUDONYM_RE = re.compile(PSEUDONYM_PATTERN)


_MEDIA_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")
_AMOUNT_RE = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,8})?")
#: The patterns above that a client checks input against before it signs (the browser's forms,
#: ledger/server/web/desk.py): each is also a valid ECMAScript regular expression.
FIELD_PATTERNS: Final = {
    "pseudonym": _PSEUDONYM_RE,
    "media_type": _MEDIA_TYPE_RE,
    "amount": _AMOUNT_RE,
    "key_id": _HEX64_RE,
}


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
            # Named cut and counted, not copied whole: the answer stays small.
            names = sorted(unknown)
            shown = ", ".join(quoted(n) for n in names[:MAX_LISTED_PROBLEMS])
            more = (
                f" and {len(names) - MAX_LISTED_PROBLEMS} more"
                if len(names) > MAX_LISTED_PROBLEMS
                else ""
            )
            raise InvalidStatement(f"{self.where} has unknown member(s): {shown}{more}")


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
    pseudonym = f.string("pseudonym", _PSEUDONYM_RE, PSEUDONYM_RULE)
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
    {"sha256", "bytes", "duration_s", "media_type", "c2pa_hash", "c2pa_override"}
)


def _content_item(obj: object, where: str) -> ContentItem:
    f = _Fields(obj, where, _CONTENT_ITEM_MEMBERS)
    item = ContentItem(
        sha256=_hash_hex(f, "sha256") or "",
        bytes=f.integer("bytes", 0, 2**53 - 1),
        duration_s=f.integer("duration_s", 0, 10**9),
        media_type=f.string("media_type", _MEDIA_TYPE_RE, "a lowercase media type like video/mp4"),
        c2pa_hash=_hash_hex(f, "c2pa_hash", required=False),
        c2pa_override=_c2pa_override(f),
    )
    f.done()
    return item


def _c2pa_override(f: _Fields) -> tuple[str, ...]:
    """docs/FORMAT.md §3.7: 1 or more distinct uses, only next to a ``c2pa_hash``."""
    values = f.opt("c2pa_override", list)
    if values is None:
        return ()
    where = f"{f.where}.c2pa_override"
    if f.opt("c2pa_hash", str) is None:
        raise InvalidStatement(f"{where} needs the c2pa_hash of the manifest it overrides")
    return _unique_strings(values, where, USES.__contains__, "a known use", False)


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
    for i, item in enumerate(stmt.content):
        if not set(item.c2pa_override) <= set(stmt.terms.uses):
            raise InvalidStatement(
                f"grant.content[{i}].c2pa_override names a use that grant.terms.uses does not"
            )
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
