"""SCITT Signed Statements (a COSE_Sign1 whose payload is one of our statements) mapped to the
envelope of ``POST /v1/entries``: docs/FORMAT.md §15.6. Pure: no I/O.

The COSE signature proves that the holder of the signer's key sent the statement this way; what
goes into the log is the statement and its own signatures (docs/FORMAT.md §3.4), so the entry is
the same as through ``POST /v1/entries`` and every verifier and audit reads it as any other. The
COSE headers are checked here and then dropped: nothing of them is logged.
"""

from __future__ import annotations

from typing import Any

from .canonical import canonicalize, parse_json
from .cose import (
    CWT_ISS,
    CWT_SUB,
    HDR_ALG,
    HDR_CONTENT_TYPE,
    HDR_CRIT,
    HDR_CWT_CLAIMS,
    HDR_KID,
    check_crit,
    decode_sign1,
)
from .encoding import b64_encode, sha256
from .errors import InvalidRequest, MalformedSignedStatement

#: The content type (protected label 3) of a statement's canonical JSON bytes.
STATEMENT_CONTENT_TYPE = "application/vnd.consent-ledger.statement+json"
#: The protected header label carrying the statement's own signatures (a text label: it
#: cannot collide with a registered integer label).
HDR_SIGNATURES = "consent-ledger/v1/signatures"
UNDERSTOOD = frozenset(
    {HDR_ALG, HDR_CRIT, HDR_CONTENT_TYPE, HDR_KID, HDR_CWT_CLAIMS, HDR_SIGNATURES}
)


def envelope_from_signed_statement(data: bytes) -> dict[str, Any]:
    """The envelope (docs/FORMAT.md §3.5) a SCITT Signed Statement carries, after checking its
    COSE signature with the key its ``kid`` names; raises MalformedSignedStatement for a shape
    §15.6 does not allow and BadSignature when the COSE signature does not verify.

    The envelope is then the service's to read and verify as any other (its statement's shape,
    its §3.4 signatures, the log's rules).
    """
    sign1 = decode_sign1(data, MalformedSignedStatement)
    check_crit(sign1, UNDERSTOOD, MalformedSignedStatement)
    header = sign1.protected
    if header.get(HDR_CONTENT_TYPE) != STATEMENT_CONTENT_TYPE:
        raise MalformedSignedStatement(f"the content type (3) must be {STATEMENT_CONTENT_TYPE!r}")
    if sign1.payload is None:
        raise MalformedSignedStatement("the payload (the statement bytes) must be attached")
    statement = _canonical_statement(sign1.payload)
    pairs = _signature_pairs(header.get(HDR_SIGNATURES))
    kid = header.get(HDR_KID)
    signer = statement.get("signer")
    if not isinstance(kid, bytes) or kid.hex() != signer or sha256(pairs[0][0]) != kid:
        raise MalformedSignedStatement(
            "kid (4) must be the 32-byte key id of the statement's signer, whose public key "
            "comes with the first signature"
        )
    _check_claims(header.get(HDR_CWT_CLAIMS), statement)
    sign1.verify(pairs[0][0])  # proof of possession of the signer's key
    return {
        "statement": statement,
        "signatures": [{"public_key": b64_encode(k), "signature": b64_encode(s)} for k, s in pairs],
    }


def _canonical_statement(payload: bytes) -> dict[str, Any]:
    try:
        statement = parse_json(payload)
    except InvalidRequest as e:
        raise MalformedSignedStatement(f"the payload is not a statement: {e.message}") from e
    if not isinstance(statement, dict) or canonicalize(statement) != payload:
        raise MalformedSignedStatement("the payload must be a statement in canonical JSON (§1.6)")
    return statement


def _signature_pairs(value: object) -> list[tuple[bytes, bytes]]:
    shape = f"{HDR_SIGNATURES!r} is an array of 1 or 2 [public key (32 bytes), signature (64)]"
    if not isinstance(value, list) or not 1 <= len(value) <= 2:
        raise MalformedSignedStatement(shape)
    pairs = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise MalformedSignedStatement(shape)
        key, signature = pair
        if not (isinstance(key, bytes) and len(key) == 32):
            raise MalformedSignedStatement(shape)
        if not (isinstance(signature, bytes) and len(signature) == 64):
            raise MalformedSignedStatement(shape)
        pairs.append((key, signature))
    return pairs


def _check_claims(claims: object, statement: dict[str, Any]) -> None:
    if claims is None:
        return
    if not isinstance(claims, dict):
        raise MalformedSignedStatement("CWT Claims (15) is a map")
    if CWT_ISS in claims and claims[CWT_ISS] != statement.get("signer"):
        raise MalformedSignedStatement("the CWT claim iss must be the signer's key id in hex")
    if CWT_SUB in claims and claims[CWT_SUB] != statement.get("type"):
        raise MalformedSignedStatement("the CWT claim sub must be the statement's type")
