"""Ed25519 keys, key ids, PEM files and domain-separated signatures: ``ledger.core.keys``."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519

from ledger.core.errors import BadSignature, InvalidEncoding, InvalidKey
from ledger.core.keys import PublicKey, SigningKey, key_id, parse_key_id
from tests.support.factories import seeded_key

CONTEXT_A = b"consent-ledger/v1/statement-signature\n"
CONTEXT_B = b"consent-ledger/v1/checkpoint-signature\n"

# RFC 8032 §7.1, TEST 1 (empty message).
RFC8032_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_SIGNATURE = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
    "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_rfc8032_vector() -> None:
    key = SigningKey.from_seed(bytes.fromhex(RFC8032_SECRET))
    assert key.public_key.raw.hex() == RFC8032_PUBLIC
    # With an empty context, sign() is plain Ed25519 over the message.
    assert key.sign(b"", b"").hex() == RFC8032_SIGNATURE
    key.public_key.verify(b"", b"", bytes.fromhex(RFC8032_SIGNATURE))


def test_key_id_is_sha256_hex_of_the_raw_public_key() -> None:
    key = seeded_key(1)
    expected = hashlib.sha256(key.public_key.raw).hexdigest()
    assert key.key_id == key.public_key.key_id == key_id(key.public_key.raw) == expected
    assert parse_key_id(expected) == expected
    assert PublicKey.from_b64(key.public_key.b64) == key.public_key


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("AB" * 32, id="uppercase"),
        pytest.param("ab" * 31, id="short"),
        pytest.param("ab" * 33, id="long"),
        pytest.param("a" * 63, id="odd"),
        pytest.param(" " + "ab" * 32, id="space"),
        pytest.param(b"ab" * 32, id="bytes"),
        pytest.param(None, id="none"),
    ],
)
def test_parse_key_id_rejects(text: object) -> None:
    with pytest.raises(InvalidEncoding):
        parse_key_id(text)


# --- Signatures ----------------------------------------------------------------------------------


def test_signature_under_one_context_fails_under_another() -> None:
    key = seeded_key(1)
    signature = key.sign(CONTEXT_A, b"message")
    key.public_key.verify(CONTEXT_A, b"message", signature)
    assert key.public_key.is_valid_signature(CONTEXT_A, b"message", signature)
    with pytest.raises(BadSignature) as exc:
        key.public_key.verify(CONTEXT_B, b"message", signature)
    assert exc.value.code == "bad_signature"
    assert not key.public_key.is_valid_signature(CONTEXT_B, b"message", signature)
    # Nor does it verify as a bare Ed25519 signature of the message.
    assert not key.public_key.is_valid_signature(b"", b"message", signature)


@pytest.mark.parametrize(
    ("describe", "signature"),
    [
        ("truncated", lambda sig: sig[:63]),
        ("extended", lambda sig: sig + b"\x00"),
        ("bit flipped", lambda sig: bytes([sig[0] ^ 1]) + sig[1:]),
        ("empty", lambda sig: b""),
        ("by another key", lambda sig: seeded_key(2).sign(CONTEXT_A, b"message")),
    ],
)
def test_tampered_signature_raises_bad_signature(describe: str, signature: object) -> None:
    key = seeded_key(1)
    bad = signature(key.sign(CONTEXT_A, b"message"))  # type: ignore[operator]
    with pytest.raises(BadSignature):
        key.public_key.verify(CONTEXT_A, b"message", bad)


# libsodium's blocklist of small-order edwards25519 encodings (ed25519_ref10.c), and y >= p.
SMALL_ORDER = {
    "order-4-zero": "00" * 32,
    "order-1-identity": "01" + "00" * 31,
    "order-8-a": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "order-8-b": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order-2-p-minus-1": "ec" + "ff" * 30 + "7f",
    "non-canonical-p": "ed" + "ff" * 30 + "7f",
    "non-canonical-p-plus-1": "ee" + "ff" * 30 + "7f",
    "non-canonical-2^255-1": "ff" * 32,
}


@pytest.mark.parametrize("sign_bit", [0, 0x80])
@pytest.mark.parametrize("encoding", SMALL_ORDER.values(), ids=SMALL_ORDER.keys())
def test_small_order_and_non_canonical_public_keys_are_refused(
    encoding: str, sign_bit: int
) -> None:
    raw = bytearray.fromhex(encoding)
    raw[31] |= sign_bit
    with pytest.raises(InvalidKey):
        PublicKey(bytes(raw))


def test_from_b64_reuses_a_loaded_key() -> None:
    key = seeded_key(5).public_key
    first = PublicKey.from_b64(key.b64)
    assert first == key
    assert PublicKey.from_b64(key.b64) is first  # loaded once, then remembered
    assert PublicKey.from_b64(key.b64).key_id == key.key_id


def test_from_raw_reuses_a_loaded_key_and_refuses_as_the_constructor() -> None:
    key = seeded_key(6).public_key
    first = PublicKey.from_raw(key.raw)
    assert first == key
    assert PublicKey.from_raw(bytes(key.raw)) is first
    identity = bytes.fromhex(SMALL_ORDER["order-1-identity"])
    for raw in (identity, identity, b"\x07" * 31):  # a refusal is never remembered
        with pytest.raises(InvalidKey):
            PublicKey.from_raw(raw)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        pytest.param(
            _b64(bytes.fromhex(SMALL_ORDER["order-1-identity"])), InvalidKey, "small-order"
        ),
        pytest.param(_b64(b"\x07" * 32)[:-2] + "B=", InvalidEncoding, "signer: .* not canonical"),
        pytest.param(_b64(b"\x07" * 31), InvalidEncoding, "signer: .* 32 bytes"),
        pytest.param(_b64(b"\x07" * 33), InvalidEncoding, "signer: .* 32 bytes"),
        pytest.param("!" * 44, InvalidEncoding, "signer: .* not valid"),
        pytest.param(b"A" * 44, InvalidEncoding, "signer: .* base64 text"),
    ],
)
def test_from_b64_refuses_every_time_in_the_callers_words(
    text: object, error: type[Exception], match: str
) -> None:
    for _ in range(2):  # a refusal is never remembered
        with pytest.raises(error, match=match):
            PublicKey.from_b64(text, "signer: public key")


def test_identity_key_forgery_is_refused_at_the_door() -> None:
    # With the identity point as public key, OpenSSL accepts R = identity, S = 0 over any
    # message: such a key must never get as far as verify().
    identity = bytes.fromhex(SMALL_ORDER["order-1-identity"])
    with pytest.raises(InvalidKey):
        PublicKey(identity)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_public_key_must_be_32_bytes(size: int) -> None:
    with pytest.raises(InvalidKey):
        PublicKey(b"\x07" * size)


def test_seed_must_be_32_bytes() -> None:
    with pytest.raises(InvalidKey):
        SigningKey.from_seed(b"\x01" * 31)


def test_signing_key_checks_the_key_type() -> None:
    with pytest.raises(InvalidKey):
        SigningKey(x25519.X25519PrivateKey.generate())  # type: ignore[arg-type]


# --- PEM files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("passphrase", [None, b"correct horse"])
def test_pem_round_trip(passphrase: bytes | None) -> None:
    key = seeded_key(3)
    pem = key.to_pem(passphrase)
    header = b"ENCRYPTED PRIVATE KEY" if passphrase else b"BEGIN PRIVATE KEY"  # PKCS8
    assert header in pem.splitlines()[0]
    assert SigningKey.from_pem(pem, passphrase).key_id == key.key_id


def _foreign_pem(private_key: object) -> bytes:
    return private_key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


_KEY = seeded_key(3)
BAD_PEMS = [
    pytest.param(_KEY.to_pem(b"right"), b"wrong", id="wrong-passphrase"),
    pytest.param(_KEY.to_pem(b"right"), None, id="missing-passphrase"),
    pytest.param(_KEY.to_pem(), b"unexpected", id="passphrase-for-plain-key"),
    pytest.param(
        _foreign_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        None,
        id="rsa",
    ),
    pytest.param(_foreign_pem(ec.generate_private_key(ec.SECP256R1())), None, id="ec-p256"),
    pytest.param(_foreign_pem(x25519.X25519PrivateKey.generate()), None, id="x25519"),
    pytest.param(
        _KEY.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        None,
        id="public-key-pem",
    ),
    pytest.param(
        b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n", None, id="garbage"
    ),
    pytest.param(b"", None, id="empty"),
    pytest.param(_KEY.to_pem()[:60], None, id="truncated"),
]


@pytest.mark.parametrize(("pem", "passphrase"), BAD_PEMS)
def test_from_pem_rejects(pem: bytes, passphrase: bytes | None) -> None:
    with pytest.raises(InvalidKey) as exc:
        SigningKey.from_pem(pem, passphrase)
    assert type(exc.value) is InvalidKey
    assert exc.value.code == "invalid_key"


@pytest.mark.parametrize("passphrase", [None, b"s3cret"])
def test_save_writes_mode_0600_and_loads_back(tmp_path: Path, passphrase: bytes | None) -> None:
    key = seeded_key(4)
    path = tmp_path / "creator.pem"
    key.save(path, passphrase)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SigningKey.load(path, passphrase).key_id == key.key_id


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "creator.pem"
    seeded_key(4).save(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        seeded_key(5).save(path)
    assert path.read_bytes() == before


def test_load_of_a_missing_file_is_invalid_key(tmp_path: Path) -> None:
    with pytest.raises(InvalidKey):
        SigningKey.load(tmp_path / "absent.pem")
