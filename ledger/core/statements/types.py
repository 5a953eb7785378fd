"""The v1 statement types: their members, as frozen dataclasses, and the constants of the format.

Every statement has a signer, an issue time and a nonce (``Statement``); each type adds its own
members (docs/FORMAT.md §3). ``required_signers`` says which keys must sign, in which order. How a
statement is read from JSON is ``parse.py`` (strict) and ``fastparse.py``; how it is signed and
hashed is ``envelope.py``. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Final

from ..errors import BadSignature
from ..keys import PublicKey

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
MAX_NOTICE_DAYS: Final = 3650


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
    #: uses the creator licenses although the C2PA manifest ``c2pa_hash`` marks them notAllowed
    c2pa_override: tuple[str, ...] = ()


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
