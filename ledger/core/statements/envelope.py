"""Signed envelopes: a statement's exact canonical bytes, its hash, and its verified signatures.

A statement's *statement bytes* are its RFC 8785 canonical form; a signature is Ed25519 over
``STATEMENT_SIGNING_CONTEXT || statement bytes`` and the *statement hash* is
``SHA-256(STATEMENT_HASH_CONTEXT || statement bytes)``. On the wire a statement travels in an
envelope ``{"statement": {...}, "signatures": [{"public_key": b64, "signature": b64}, ...]}``.
Signatures are checked with a ``sigcheck.SignatureCheck`` the caller passes (``cryptography`` by
default). No I/O here.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..canonical import canonicalize, parse_json
from ..encoding import b64_decode, b64_encode, sha256
from ..errors import BadSignature, InvalidStatement, LedgerError
from ..keys import SIGNATURE_SIZE, PublicKey, SigningKey
from ..sigcheck import SignatureCheck, cryptography_check
from .fastparse import _ASCII_JCS, parse_statement, parse_statement_text
from .parse import _Fields, _public_key, _wrap_encoding
from .types import (
    STATEMENT_HASH_CONTEXT,
    STATEMENT_SIGNING_CONTEXT,
    Statement,
)

# --- Signed envelopes -------------------------------------------------------------------------


_ENVELOPE_MEMBERS: Final = frozenset({"statement", "signatures"})
_SIGNATURE_MEMBERS: Final = frozenset({"public_key", "signature"})


@dataclass(frozen=True)
class Signature:
    public_key: PublicKey
    signature: bytes

    def to_json(self) -> dict[str, str]:
        return {"public_key": self.public_key.b64, "signature": b64_encode(self.signature)}


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
        sigs = signatures if type(signatures) is tuple else tuple(signatures)
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
