"""Choosing the Ed25519 primitive for the offline verifier: PyNaCl (libsodium) when installed.

Measured on the project machine (``scripts/bench_verify.py``), libsodium verifies about twice as
fast as ``cryptography``'s OpenSSL backend, so the verifier uses it when PyNaCl is importable. It
is an optional accelerator only: the pure core verifies with ``cryptography`` alone, and
``ledger verify --no-accel`` forces that path. libsodium is at least as strict as OpenSSL (it also
refuses small-order and non-canonical points), so switching can only turn a pass into a failure for
deliberately malformed signatures, never the reverse. This module imports nothing but the core and,
optionally, ``nacl``.
"""

from __future__ import annotations

from typing import Any

from .core.evidence import SignatureCheck, cryptography_check

_crypto_sign_open: Any
_BadSignature: Any
try:
    from nacl.bindings import crypto_sign_open as _crypto_sign_open
    from nacl.exceptions import BadSignatureError as _BadSignature
except ImportError:  # PyNaCl is optional
    _crypto_sign_open = None
    _BadSignature = None


def nacl_available() -> bool:
    return _crypto_sign_open is not None


def nacl_check(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification with libsodium (``crypto_sign_open``); requires PyNaCl."""
    if _crypto_sign_open is None:
        raise RuntimeError("PyNaCl is not installed")
    try:
        _crypto_sign_open(signature + message, public_key)
    except (_BadSignature, ValueError):
        return False
    return True


def signature_check(accelerate: bool = True) -> tuple[str, SignatureCheck]:
    """(name, primitive): PyNaCl when allowed and installed, else ``cryptography``."""
    if accelerate and nacl_available():
        return "pynacl", nacl_check
    return "cryptography", cryptography_check
