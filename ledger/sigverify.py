"""Choosing the Ed25519 primitive for the offline verifier: PyNaCl (libsodium) when installed.

Measured on the project machine (``scripts/bench_verify.py``), libsodium verifies about twice as
fast as ``cryptography``'s OpenSSL backend, so the verifier uses it when PyNaCl is importable. It
is an optional accelerator only: the pure core verifies with ``cryptography`` alone, and
``ledger verify --no-accel`` forces that path. libsodium is stricter than OpenSSL, the log's rule
(docs/FORMAT.md §2.1): it also refuses small-order and non-canonical points, including a small-order
R that any key holder can put into a signature the log accepts. So ``nacl_check`` confirms every
refusal with ``cryptography``: it decides exactly as the log does, at libsodium's speed for valid
signatures. This module imports nothing but the core and, optionally, ``nacl``.
"""

from __future__ import annotations

from typing import Any

from ledger.core.sigcheck import SignatureCheck, cryptography_check

_crypto_sign_open: Any
_BadSignature: Any
try:
    from nacl.bindings import crypto_sign_open as _crypto_sign_open
    from nacl.exceptions import BadSignatureError as _BadSignature
except ImportError:  # PyNaCl is optional
    _crypto_sign_open = None
    _BadSignature = None

_SIGNATURE_SIZE = 64
_PUBLIC_KEY_SIZE = 32


def nacl_available() -> bool:
    return _crypto_sign_open is not None


def _binding_check(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification with libsodium through PyNaCl's public ``crypto_sign_open``."""
    if _crypto_sign_open is None:
        raise RuntimeError("PyNaCl is not installed")
    try:
        _crypto_sign_open(signature + message, public_key)
    except (_BadSignature, ValueError):
        return False
    return True


def _direct_check() -> Any:
    """``_binding_check`` calling libsodium's ``crypto_sign_open`` through PyNaCl's cffi module.

    The same C function as the public binding, without its per-call wrapping (a length buffer
    and a copy of the message back into Python: ~4 % of a verification). It reaches into PyNaCl's
    private ``nacl._sodium``, so it is only used when that module looks as expected and it agrees
    with ``_binding_check`` on good and bad signatures; otherwise None (use that one).
    """
    try:
        from nacl import _sodium  # noqa: PLC0415 - optional, private: looked up once, guarded

        ffi, lib = _sodium.ffi, _sodium.lib
        sign_open = lib.crypto_sign_open
        new, null = ffi.new, ffi.NULL
    except (ImportError, AttributeError):
        return None

    def check(public_key: bytes, message: bytes, signature: bytes) -> bool:
        # The wrapper's own checks: libsodium reads exactly 32 key bytes and needs 64 signature
        # bytes in front of the message.
        if len(public_key) != _PUBLIC_KEY_SIZE or len(signature) != _SIGNATURE_SIZE:
            return False
        signed = signature + message
        n = len(signed)
        return bool(sign_open(new("unsigned char[]", n), null, signed, n, public_key) == 0)

    try:
        good = _self_test(check)
    except Exception:  # any surprise in a private module: do not use it
        return None
    return check if good else None


def _self_test(check: SignatureCheck) -> bool:
    """RFC 8032 §7.1 test 2 (one-byte message): accepted as is, refused with a flipped bit."""
    public_key = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
    signature = bytes.fromhex(
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
    )
    message = b"\x72"
    assert _crypto_sign_open is not None
    return (
        check(public_key, message, signature)
        and _binding_check(public_key, message, signature)
        and not check(public_key, b"\x73", signature)
        and not check(public_key, message, signature[:-1] + b"\x01")
    )


_direct = _direct_check() if nacl_available() else None


def nacl_check(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification with libsodium (``crypto_sign_open``), deciding exactly as the log.

    The log accepts a signature when ``cryptography`` (OpenSSL) does (docs/FORMAT.md §2.1).
    libsodium accepts a subset of that: it also refuses, for instance, a signature whose R is a
    point of small order, which OpenSSL's equation check lets through and which any registered
    party can produce with its own key. So a refusal by libsodium is confirmed with
    ``cryptography`` before it counts: valid signatures, the normal case, cost one libsodium
    verification, and every answer equals OpenSSL's.

    Calls the C function directly when that passed its self-test (``_direct_check``), else
    through PyNaCl's public binding. Raises RuntimeError when PyNaCl is not installed.
    """
    if _direct is not None:
        ok = bool(_direct(public_key, message, signature))
    else:
        ok = _binding_check(public_key, message, signature)
    return ok or cryptography_check(public_key, message, signature)


def signature_check(accelerate: bool = True) -> tuple[str, SignatureCheck]:
    """(name, primitive): PyNaCl when allowed and installed, else ``cryptography``."""
    if accelerate and nacl_available():
        return "pynacl", nacl_check
    return "cryptography", cryptography_check
