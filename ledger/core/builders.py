"""Build and sign v1 statements from Python values.

The CLI, the benchmark scripts and the tests build statements here so that there is one place that
knows the member names. Every builder returns a ``SignedStatement`` that has already been validated
by ``parse_statement`` and verified. No I/O here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .canonical import canonicalize
from .errors import InvalidStatement, LeafTooLarge
from .keys import SigningKey
from .leaf import MAX_LEAF_SIZE, leaf_size
from .statements import (
    STATEMENT_VERSION,
    SignedStatement,
    format_timestamp,
    new_nonce,
    sign_statement,
)


def _common(
    kind: str, signer: SigningKey, issued_at: datetime | None, nonce: str | None
) -> dict[str, Any]:
    return {
        "type": kind,
        "v": STATEMENT_VERSION,
        "signer": signer.key_id,
        "issued_at": format_timestamp(issued_at or datetime.now(UTC)),
        "nonce": nonce or new_nonce(),
    }


def party_register(
    key: SigningKey,
    pseudonym: str,
    *,
    identity_commitment: str | None = None,
    issued_at: datetime | None = None,
    nonce: str | None = None,
) -> SignedStatement:
    body = _common("party.register", key, issued_at, nonce)
    body.update(public_key=key.public_key.b64, pseudonym=pseudonym)
    if identity_commitment is not None:
        body["identity_commitment"] = identity_commitment
    return sign_statement(body, key)


def key_rotate(
    old: SigningKey, new: SigningKey, *, issued_at: datetime | None = None, nonce: str | None = None
) -> SignedStatement:
    body = _common("key.rotate", old, issued_at, nonce)
    body["new_public_key"] = new.public_key.b64
    return sign_statement(body, old, new)


def key_revoke(
    signer: SigningKey,
    key_id: str,
    reason: str = "compromised",
    *,
    issued_at: datetime | None = None,
    nonce: str | None = None,
) -> SignedStatement:
    body = _common("key.revoke", signer, issued_at, nonce)
    body.update(key_id=key_id, reason=reason)
    return sign_statement(body, signer)


@dataclass(frozen=True)
class Item:
    """One content item of a grant, as plain values."""

    sha256: str
    bytes: int
    duration_s: int
    media_type: str = "video/mp4"
    c2pa_hash: str | None = None
    #: uses licensed although the manifest ``c2pa_hash`` marks them notAllowed (FORMAT.md §3.7)
    c2pa_override: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sha256": self.sha256,
            "bytes": self.bytes,
            "duration_s": self.duration_s,
            "media_type": self.media_type,
        }
        if self.c2pa_hash is not None:
            out["c2pa_hash"] = self.c2pa_hash
        if self.c2pa_override:
            out["c2pa_override"] = list(self.c2pa_override)
        return out


@dataclass(frozen=True)
class TermsSpec:
    """Grant terms as plain values; ``to_json`` gives the v1 ``terms`` member."""

    uses: Sequence[str] = ("ai_training",)
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    end: datetime | None = None
    prohibitions: Sequence[str] = ()
    exclusive: bool = False
    territory: Sequence[str] = ("worldwide",)
    revocable: bool = False
    notice_days: int | None = None
    amount: str = "2.50"
    currency: str = "USD"
    unit: str = "per_minute"
    attribution: bool = False
    sublicensing: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uses": list(self.uses),
            "prohibitions": list(self.prohibitions),
            "exclusive": self.exclusive,
            "territory": list(self.territory),
            "start": format_timestamp(self.start),
            "revocable": self.revocable,
            "consideration": {"amount": self.amount, "currency": self.currency, "unit": self.unit},
            "attribution": self.attribution,
            "sublicensing": self.sublicensing,
        }
        if self.end is not None:
            out["end"] = format_timestamp(self.end)
        if self.notice_days is not None:
            out["notice_days"] = self.notice_days
        return out


def grant(
    creator: SigningKey,
    buyer_key_id: str,
    grant_id: str,
    items: Iterable[Item],
    terms: TermsSpec,
    *,
    issued_at: datetime | None = None,
    nonce: str | None = None,
) -> SignedStatement:
    body = _common("grant", creator, issued_at, nonce)
    body.update(
        grant_id=grant_id,
        buyer=buyer_key_id,
        content=[item.to_json() for item in items],
        terms=terms.to_json(),
    )
    return sign_statement(body, creator)


def grant_accept(
    buyer: SigningKey,
    grant_hash: bytes,
    *,
    issued_at: datetime | None = None,
    nonce: str | None = None,
) -> SignedStatement:
    body = _common("grant.accept", buyer, issued_at, nonce)
    body["grant_hash"] = grant_hash.hex()
    return sign_statement(body, buyer)


def grant_revoke(
    creator: SigningKey,
    grant_hash: bytes,
    effective_at: datetime,
    *,
    issued_at: datetime | None = None,
    nonce: str | None = None,
) -> SignedStatement:
    body = _common("grant.revoke", creator, issued_at, nonce)
    body.update(grant_hash=grant_hash.hex(), effective_at=format_timestamp(effective_at))
    return sign_statement(body, creator)


def grants_for_items(
    creator: SigningKey,
    buyer_key_id: str,
    items: Sequence[Item],
    terms: TermsSpec,
    *,
    new_grant_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    issued_at: datetime | None = None,
) -> list[SignedStatement]:
    """Sign as few grants as needed so that each one's leaf fits ``MAX_LEAF_SIZE``.

    Items keep their order; each grant gets its own id from ``new_grant_id``. Items are packed
    greedily by their canonical size (every grant has the same overhead: fixed-length id, nonce
    and timestamp), and each signed grant is measured again; one that still does not fit is split
    in two. Raises LeafTooLarge if a single item cannot fit, InvalidStatement for bad terms.
    """
    if not items:
        raise InvalidStatement("a grant needs at least one content item")
    issued_at = issued_at or datetime.now(UTC)

    def sign(chunk: Sequence[Item]) -> list[SignedStatement]:
        signed = grant(creator, buyer_key_id, new_grant_id(), chunk, terms, issued_at=issued_at)
        if leaf_size(signed) <= MAX_LEAF_SIZE:
            return [signed]
        if len(chunk) == 1:
            raise LeafTooLarge(f"content item {chunk[0].sha256} alone does not fit in a leaf")
        half = len(chunk) // 2
        return sign(chunk[:half]) + sign(chunk[half:])

    sizes = [len(canonicalize(item.to_json())) for item in items]
    overhead = leaf_size(grant(creator, buyer_key_id, new_grant_id(), items[:1], terms)) - sizes[0]
    chunks: list[list[Item]] = [[]]
    used = overhead
    for item, size in zip(items, sizes, strict=True):
        extra = size + (1 if chunks[-1] else 0)  # a comma between array members
        if chunks[-1] and used + extra > MAX_LEAF_SIZE:
            chunks.append([])
            used, extra = overhead, size
        chunks[-1].append(item)
        used += extra
    return [signed for chunk in chunks for signed in sign(chunk)]
