"""The one contract for checking an Ed25519 signature: ``SignatureCheck``, and the reference.

Every place in the core that verifies a statement's signature (``SignedStatement.from_json`` and
``from_parts``, ``leaf.parse_leaf``, the evidence verifier, the audit's per-entry check) takes a
``check`` argument of this type, ``cryptography_check`` by default. The log's rule is what
``cryptography`` (OpenSSL) accepts (docs/FORMAT.md §2.1); a faster primitive may be passed in only
if it decides exactly the same: ``ledger.sigverify.nacl_check`` (libsodium, every refusal
confirmed by OpenSSL) is the one the server, the client, the audit and the report pass when PyNaCl
is installed. There is no process-wide setting: the caller that chooses the primitive passes it.
No I/O here.
"""

from __future__ import annotations

import functools
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["SignatureCheck", "cryptography_check"]


class SignatureCheck(Protocol):
    """``check(public_key, message, signature) -> valid``: raw 32-byte Ed25519 public key, the
    exact message signed (context string included), 64-byte signature. Never raises for bad
    input: a key or signature of the wrong size is simply not valid."""

    def __call__(self, public_key: bytes, message: bytes, signature: bytes, /) -> bool: ...


@functools.lru_cache(maxsize=4096)
def _ed25519_key(raw: bytes) -> Ed25519PublicKey:
    # Many signatures are by few keys (a party signs many statements): load each key once.
    return Ed25519PublicKey.from_public_bytes(raw)


def cryptography_check(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification with ``cryptography`` (the reference; always available)."""
    try:
        _ed25519_key(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
