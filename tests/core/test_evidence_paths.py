"""The verifier's fast paths decide exactly as the strict ones: ``leaf.parse_leaf`` (its fast
statement parse, with every signature primitive) against the strict steps it stands for, the
bundle's hash and base64 readers against
``encoding``'s, and every signature primitive (``cryptography``, PyNaCl direct and through its
binding) gives the same report for every tampered bundle."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from ledger import sigverify
from ledger.core import builders
from ledger.core.canonical import parse_json
from ledger.core.encoding import b64_decode, b64_encode, hash_from_hex
from ledger.core.errors import BadSignature, LedgerError, MalformedLeaf
from ledger.core.evidence import SignatureCheck, cryptography_check, verify_bundle
from ledger.core.evidence import parse as bundle_parse
from ledger.core.keys import PublicKey, SigningKey
from ledger.core.leaf import GENESIS_PREV_HASH, LEAF_MAGIC, Leaf, parse_leaf, split_leaf
from ledger.core.statements import STATEMENT_SIGNING_CONTEXT, Signature, SignedStatement
from tests.core.test_evidence_tamper import TAMPERS
from tests.support.evidence_helpers import BUNDLE, LOG_
from tests.support.factories import T0, seeded_key

A, B = seeded_key(1), seeded_key(2)
REGISTER = builders.party_register(A, "alice", issued_at=T0)
GRANT = builders.grant(
    A,
    B.key_id,
    "00000000-0000-0000-0000-000000000001",
    [builders.Item("ab" * 32, 1000, 60)],
    builders.TermsSpec(),
    issued_at=T0,
)
PRIMITIVES: list[tuple[str, SignatureCheck]] = [
    ("cryptography", cryptography_check),
    ("pynacl", sigverify.nacl_check),
    ("pynacl-binding", sigverify._binding_check),
]


def _leaf_of(statement: bytes, key: SigningKey = A) -> bytes:
    """A leaf holding exactly ``statement``, validly signed by ``key`` over those bytes."""
    sig = key.sign(STATEMENT_SIGNING_CONTEXT, statement)
    header = (0).to_bytes(8, "big") + (1).to_bytes(8, "big") + GENESIS_PREV_HASH
    size = len(statement).to_bytes(4, "big")
    return b"".join((LEAF_MAGIC, header, size, statement, b"\x01", key.public_key.raw, sig))


def strict_parse_leaf(data: bytes) -> Leaf:
    """The reference ``parse_leaf`` stands for: split, the keys, strict JSON, the statement
    parsed member by member, its canonical bytes compared, then ``cryptography``."""
    parts = split_leaf(data)
    sigs = []
    for raw, sig in parts.signatures:
        try:
            sigs.append(Signature(PublicKey(raw), sig))
        except LedgerError as e:
            raise MalformedLeaf(f"leaf holds an invalid public key: {e.message}") from e
    body = parse_json(parts.statement_bytes)
    signed = SignedStatement.from_parts(body, sigs, statement_bytes=parts.statement_bytes)
    return Leaf(parts.seq, parts.integrated_at, parts.prev_hash, signed)


def _error(parse: Callable[[bytes], object], data: bytes) -> tuple[type, str] | None:
    try:
        parse(data)
    except LedgerError as e:
        return type(e), e.message
    return None


def _code(parse: Callable[[bytes], object], data: bytes) -> str:
    """What ``evidence.verify._check_entry`` reports for an exception of ``parse`` (ok if none)."""
    try:
        parse(data)
    except BadSignature:
        return "bad_signature"
    except LedgerError:
        return "leaf_invalid"
    return "ok"


def _edit(signed: SignedStatement, old: str, new: str) -> bytes:
    text = signed.statement_bytes.decode()
    assert old in text
    return text.replace(old, new, 1).encode()


def _reordered(signed: SignedStatement) -> bytes:
    body = json.loads(signed.statement_bytes)
    return json.dumps(dict(reversed(body.items())), separators=(",", ":")).encode()


NONCE = GRANT.body["nonce"]
NOT_CANONICAL: list[tuple[str, Callable[[], bytes]]] = [
    ("space after brace", lambda: b"{ " + GRANT.statement_bytes[1:]),
    ("space after colon", lambda: _edit(GRANT, '"v":1', '"v": 1')),
    ("trailing newline", lambda: GRANT.statement_bytes + b"\n"),
    ("leading BOM", lambda: b"\xef\xbb\xbf" + GRANT.statement_bytes),
    ("members unsorted", lambda: _reordered(GRANT)),
    ("member twice", lambda: _edit(GRANT, '"nonce":', f'"nonce":"{NONCE}","nonce":')),
    ("escaped letter", lambda: _edit(REGISTER, '"alice"', '"\\u0061lice"')),
    ("escaped solidus", lambda: _edit(GRANT, "video/mp4", "video\\/mp4")),
    ("float", lambda: _edit(GRANT, '"v":1', '"v":1.0')),
    ("exponent", lambda: _edit(GRANT, '"v":1', '"v":1e0')),
    ("negative zero", lambda: _edit(GRANT, '"duration_s":60', '"duration_s":-0')),
    ("unsafe integer", lambda: _edit(GRANT, '"bytes":1000', '"bytes":9007199254740993')),
    ("huge integer", lambda: _edit(GRANT, '"bytes":1000', '"bytes":' + "9" * 5000)),
    ("NaN", lambda: _edit(GRANT, '"v":1', '"v":NaN')),
    ("Infinity", lambda: _edit(GRANT, '"v":1', '"v":-Infinity')),
    ("leading zero", lambda: _edit(GRANT, '"v":1', '"v":01')),
    ("lone surrogate", lambda: _edit(REGISTER, '"alice"', '"\\ud800alice"')),
    ("invalid UTF-8", lambda: REGISTER.statement_bytes.replace(b'"alice"', b'"al\xffice"')),
    ("raw UTF-8 letter", lambda: _edit(REGISTER, '"alice"', '"alicé"')),
    ("trailing data", lambda: GRANT.statement_bytes + b"{}"),
    ("not an object", lambda: b"[" + GRANT.statement_bytes + b"]"),
    ("unknown member", lambda: _edit(GRANT, '{"buyer"', '{"aaa":1,"buyer"')),
    (
        "deep nesting",
        lambda: _edit(GRANT, '{"buyer"', '{"aaa":' + "[" * 5000 + "]" * 5000 + ',"buyer"'),
    ),
    ("empty", lambda: b""),
]


@pytest.mark.parametrize("check", [c for _, c in PRIMITIVES], ids=[n for n, _ in PRIMITIVES])
@pytest.mark.parametrize(
    "make", [m for _, m in NOT_CANONICAL], ids=[name for name, _ in NOT_CANONICAL]
)
def test_parse_leaf_refuses_what_the_strict_steps_refuse_with_the_same_error(
    make: Callable[[], bytes], check: SignatureCheck
) -> None:
    data = _leaf_of(make())
    assert _code(strict_parse_leaf, data) == "leaf_invalid"
    assert _error(lambda d: parse_leaf(d, check=check), data) == _error(strict_parse_leaf, data)


@pytest.mark.parametrize("check", [c for _, c in PRIMITIVES], ids=[n for n, _ in PRIMITIVES])
def test_parse_leaf_builds_the_leaf_the_strict_steps_build(check: SignatureCheck) -> None:
    for data in LOG_.leaves:
        assert parse_leaf(data, check=check) == strict_parse_leaf(data)
    for signed in (REGISTER, GRANT):
        data = _leaf_of(signed.statement_bytes)
        assert parse_leaf(data, check=check) == strict_parse_leaf(data)
        assert _code(lambda d: parse_leaf(d, check=check), data[:-1]) == "leaf_invalid"
        forged = data[:-1] + bytes([data[-1] ^ 1])
        assert _code(lambda d: parse_leaf(d, check=check), forged) == "bad_signature"
        assert _error(lambda d: parse_leaf(d, check=check), forged) == _error(
            strict_parse_leaf, forged
        )
    small_order = _leaf_of(REGISTER.statement_bytes)[:-96] + bytes([1]) + bytes(95)
    assert _error(lambda d: parse_leaf(d, check=check), small_order) == _error(
        strict_parse_leaf, small_order
    )
    assert _code(lambda d: parse_leaf(d, check=check), small_order) == "leaf_invalid"


HEX_VALUES: list[object] = [
    "ab" * 32, "AB" * 32, "ab" * 31 + "aB", " " + "ab" * 31 + "a", "ab" * 31 + "a ", "ab" * 33,
    "ab" * 31, "zz" * 32, "ab" * 31 + "\u0660\u0661", 12, None, ["ab" * 32], "",
]  # fmt: skip


@pytest.mark.parametrize("value", HEX_VALUES)
def test_the_hash_readers_accept_what_hash_from_hex_accepts(value: object) -> None:
    try:
        expected: bytes | None = hash_from_hex(value)
    except LedgerError:
        expected = None
    for read in (
        lambda v: bundle_parse._hash(v, "x"),
        lambda v: bundle_parse._hashes([v], "x")[0],
        lambda v: bundle_parse._hashes(["cd" * 32, v, "ef" * 32], "x")[1],
    ):
        try:
            got: bytes | None = read(value)
        except LedgerError:
            got = None
        assert got == expected


B64_VALUES: list[object] = [
    b64_encode(b"leaf bytes"), b64_encode(b"leaf byte"), b64_encode(b"leaf by"), "", "QQ==",
    "QR==", "QQ=", "QQ", "QQ==\n", " QQ==", "Q Q==", "QQ==QQ==", "=QQ=", "QUJD", "QUJ-",
    "QUJ_", "QUJ\u00e9", "\u0660QUJ", 5, None, b"QUJD",
]  # fmt: skip


@pytest.mark.parametrize("value", B64_VALUES)
def test_the_leaf_reader_accepts_what_b64_decode_accepts(value: object) -> None:
    try:
        expected: bytes | None = b64_decode(value)
    except LedgerError:
        expected = None
    try:
        got: bytes | None = bundle_parse._leaf_bytes(value, "x")
    except LedgerError:
        got = None
    assert got == expected


def _report(bundle: dict[str, Any], check: SignatureCheck) -> tuple[object, ...]:
    report = verify_bundle(bundle, LOG_.verifier_key, check=check)
    return (
        [f.to_json() for f in report.failures],
        report.verdicts,
        report.entries_verified,
        report.checkpoint,
    )


@pytest.mark.parametrize(
    "tamper", [None] + [t for _, t, _ in TAMPERS], ids=["honest"] + [n for n, _, _ in TAMPERS]
)
def test_every_primitive_gives_the_same_report(
    tamper: Callable[[dict[str, Any]], None] | None,
) -> None:
    bundle = copy.deepcopy(BUNDLE)
    if tamper is not None:
        tamper(bundle)
    reports = {name: _report(bundle, check) for name, check in PRIMITIVES}
    assert reports["pynacl"] == reports["cryptography"]
    assert reports["pynacl-binding"] == reports["cryptography"]


def test_the_direct_pynacl_call_is_in_use_and_checks_lengths() -> None:
    assert sigverify.signature_check() == ("pynacl", sigverify.nacl_check)
    assert sigverify.signature_check(accelerate=False) == ("cryptography", cryptography_check)
    assert sigverify._direct is not None
    message = STATEMENT_SIGNING_CONTEXT + GRANT.statement_bytes
    sig = GRANT.signatures[0].signature
    raw = A.public_key.raw
    for check in (sigverify.nacl_check, sigverify._binding_check, cryptography_check):
        assert check(raw, message, sig)
        assert not check(raw, message + b" ", sig)
        assert not check(raw, message, sig[:63])
        assert not check(raw, message, sig + b"\0")
    assert not sigverify.nacl_check(raw[:31], message, sig)
    assert not sigverify.nacl_check(raw + b"\0", message, sig)


def test_verification_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    assert gc.isenabled()
    assert verify_bundle(BUNDLE, LOG_.verifier_key)
    assert gc.isenabled()
    gc.disable()
    try:
        assert verify_bundle(BUNDLE, LOG_.verifier_key)
        assert not gc.isenabled()
    finally:
        gc.enable()
