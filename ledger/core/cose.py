"""COSE_Sign1 (RFC 9052 §4.2) with EdDSA over Ed25519, and COSE Keys with their RFC 9679
thumbprints: the envelope of receipts (``ledger.core.receipts``) and of the signed statements
``POST /entries`` takes (``ledger.core.scitt``). Pure: no I/O. docs/FORMAT.md §15.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import cbor
from .errors import BadSignature, InvalidRequest

#: CBOR tag of a COSE_Sign1 message (RFC 9052 §2).
COSE_SIGN1_TAG = 18
#: Common header labels (RFC 9052 §3.1) and CWT Claims (RFC 9597).
HDR_ALG = 1
HDR_CRIT = 2
HDR_CONTENT_TYPE = 3
HDR_KID = 4
HDR_CWT_CLAIMS = 15
#: CWT claim keys (RFC 8392 §3.1).
CWT_ISS = 1
CWT_SUB = 2
#: EdDSA (RFC 9053 §2.2): the algorithm this log signs with and accepts. See docs/FORMAT.md §15.1
#: for why this and not RFC 9864's fully specified Ed25519 (-19).
ALG_EDDSA = -8
#: COSE Key parameters (RFC 9052 §7.1, RFC 9053 §7.2): OKP keys on Ed25519.
KEY_KTY, KEY_KID, KEY_ALG, KEY_CRV, KEY_X = 1, 2, 3, -1, -2
KTY_OKP = 1
CRV_ED25519 = 6
#: The context string of a COSE_Sign1 signature (RFC 9052 §4.4).
SIGNATURE1_CONTEXT = "Signature1"


def key_thumbprint(public_key: bytes) -> bytes:
    """The RFC 9679 COSE Key Thumbprint (SHA-256) of an Ed25519 public key: the hash of the
    deterministic encoding of its required parameters ``{1: 1, -1: 6, -2: x}`` (§3, §4.2)."""
    required = {KEY_KTY: KTY_OKP, KEY_CRV: CRV_ED25519, KEY_X: bytes(public_key)}
    return hashlib.sha256(cbor.encode(required)).digest()


def cose_key(public_key: bytes) -> dict[int, Any]:
    """The COSE Key of an Ed25519 public key, ``kid`` its thumbprint, ``alg`` EdDSA."""
    return {
        KEY_KTY: KTY_OKP,
        KEY_KID: key_thumbprint(public_key),
        KEY_ALG: ALG_EDDSA,
        KEY_CRV: CRV_ED25519,
        KEY_X: bytes(public_key),
    }


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes a COSE_Sign1 signature covers (RFC 9052 §4.4), with no external AAD."""
    return cbor.encode([SIGNATURE1_CONTEXT, protected, b"", payload])


@dataclass(frozen=True)
class Sign1:
    """A decoded COSE_Sign1: the protected header as sent and decoded, the unprotected header,
    the payload (None when detached) and the signature."""

    protected_bytes: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes | None
    signature: bytes

    def verify(self, public_key: bytes, payload: bytes | None = None) -> None:
        """Check the EdDSA signature with ``public_key`` over the attached payload, or over
        ``payload`` for a detached one; raises BadSignature."""
        message = self.payload if payload is None else payload
        if message is None:
            raise BadSignature("the payload is detached and none was given")
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes(public_key))
            key.verify(self.signature, sig_structure(self.protected_bytes, message))
        except (InvalidSignature, ValueError) as e:
            raise BadSignature("the COSE signature does not verify") from e


def decode_sign1(data: bytes, error: type[InvalidRequest]) -> Sign1:
    """A tagged COSE_Sign1 (tag 18) decoded strictly (``ledger.core.cbor``); raises ``error``
    naming what is wrong. Checks the shape only: the algorithm is ``alg`` EdDSA in the protected
    header, no header label is in both headers, no ``crit`` label this log does not know; the
    signature is 64 bytes. Nothing is verified here."""
    try:
        item = cbor.decode(data)
    except cbor.CborError as e:
        raise error(f"not CBOR this log reads: {e}") from e
    if not isinstance(item, cbor.Tag) or item.number != COSE_SIGN1_TAG:
        raise error(f"not a COSE_Sign1 message (CBOR tag {COSE_SIGN1_TAG})")
    parts = item.value
    if not isinstance(parts, list) or len(parts) != 4:
        raise error("a COSE_Sign1 is an array of 4: protected, unprotected, payload, signature")
    protected_bytes, unprotected, payload, signature = parts
    if not isinstance(protected_bytes, bytes):
        raise error("the protected header is a byte string")
    try:
        protected = cbor.decode(protected_bytes) if protected_bytes else {}
    except cbor.CborError as e:
        raise error(f"the protected header is not CBOR this log reads: {e}") from e
    if not isinstance(protected, dict) or not isinstance(unprotected, dict):
        raise error("the protected and unprotected headers are maps")
    if payload is not None and not isinstance(payload, bytes):
        raise error("the payload is a byte string or nil")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise error("the signature is a 64-byte Ed25519 signature")
    if protected.get(HDR_ALG) != ALG_EDDSA or HDR_ALG in unprotected:
        raise error(f"the protected header's alg must be EdDSA ({ALG_EDDSA}), and only there")
    both = set(protected) & set(unprotected)
    if both:
        raise error(f"header label {sorted(both, key=repr)[0]!r} is in both headers")
    return Sign1(protected_bytes, protected, unprotected, payload, signature)


def check_crit(sign1: Sign1, understood: frozenset[Any], error: type[InvalidRequest]) -> None:
    """RFC 9052 §3.1: every label ``crit`` lists must be one this log processes."""
    crit = sign1.protected.get(HDR_CRIT)
    if crit is None:
        return
    if not isinstance(crit, list) or not crit:
        raise error("crit is a non-empty array of header labels")
    unknown = [label for label in crit if label not in understood]
    if unknown:
        raise error(f"critical header {unknown[0]!r} is not one this log processes")
