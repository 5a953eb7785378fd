"""The fast path for the common statements, and the parser's entry points.

``parse_statement`` and ``parse_statement_text`` try the fast parser for a statement object of
exactly a grant's or an acceptance's members (in canonical order) and otherwise, or on any doubt,
the strict parser (``parse.py``), which decides and words every refusal. No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from ..errors import InvalidStatement
from .parse import (
    _HEX64_RE,
    _MEDIA_TYPE_RE,
    _NONCE_RE,
    _STATEMENT_MEMBERS,
    _TERMS_MEMBERS,
    _UUID_RE,
    _parse_statement_strict,
    _terms,
    parse_timestamp,
)
from .types import (
    STATEMENT_VERSION,
    ContentItem,
    Grant,
    GrantAccept,
    Statement,
    Terms,
)

# sort_keys and no whitespace: with only ASCII text, safe integers, booleans and null, this is
# exactly RFC 8785 (see envelope._statement_bytes).
_ASCII_JCS = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":"), sort_keys=True
)


def parse_statement(obj: object) -> Statement:
    """Validate a statement object against the v1 schema and return its typed form.

    Raises InvalidStatement (never anything else) when a member is missing, unknown, of the wrong
    type or out of its range. Does not check signatures or the log's state.
    """
    if type(obj) is dict:
        fast = _FAST_PARSERS.get(tuple(obj))
        if fast is not None:
            parsed = fast(obj, False)  # no canonical text: nobody asked for it
            if parsed is not None:
                return parsed[0]
    return _parse_statement_strict(obj)


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
            parsed = fast(obj, True)
            if parsed is not None:
                return parsed
    return _parse_statement_strict(obj), None


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


def _fast_content(items: object, text: bool = True) -> tuple[tuple[ContentItem, ...], str] | None:
    """``_content`` of a content list of the usual shape, and its canonical text (``text``; else
    ""); or None."""
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
        if not text:
            continue
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


def _fast_grant(obj: dict[str, Any], text: bool) -> tuple[Grant, str] | None:
    """The Grant and its canonical text (``text``; else "") for ``obj`` with exactly a grant's
    members in canonical order, when every check passes; None on any doubt (the strict parser
    then decides)."""
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
    items = _fast_content(content, text)
    parsed_terms = _fast_terms(terms)
    if moment is None or items is None or parsed_terms is None:
        return None
    grant = Grant(signer, moment, nonce, grant_id, buyer, items[0], parsed_terms[0])
    if not text:
        return grant, ""
    canonical = (
        f'{{"buyer":"{buyer}","content":[{items[1]}],"grant_id":"{grant_id}",'
        f'"issued_at":"{issued_at}","nonce":"{nonce}","signer":"{signer}",'
        f'"terms":{parsed_terms[1]},"type":"grant","v":1}}'
    )
    return grant, canonical


def _fast_accept(obj: dict[str, Any], text: bool) -> tuple[GrantAccept, str] | None:
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
    accept = GrantAccept(signer, moment, nonce, grant_hash)
    if not text:
        return accept, ""
    canonical = (
        f'{{"grant_hash":"{grant_hash}","issued_at":"{issued_at}","nonce":"{nonce}",'
        f'"signer":"{signer}","type":"grant.accept","v":1}}'
    )
    return accept, canonical


#: The fast parser for a statement object with exactly these member names, in this order.
_FAST_PARSERS: Final[
    dict[tuple[str, ...], Callable[[dict[str, Any], bool], tuple[Statement, str] | None]]
] = {
    tuple(sorted(_STATEMENT_MEMBERS[Grant.type_name])): _fast_grant,
    tuple(sorted(_STATEMENT_MEMBERS[GrantAccept.type_name])): _fast_accept,
}
