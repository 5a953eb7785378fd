"""Log leaves and the hash chain: ``ledger.core.leaf``."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest

from ledger.core import builders
from ledger.core.errors import (
    BadSignature,
    ChainError,
    InvalidStatement,
    LeafTooLarge,
    LedgerError,
    MalformedJSON,
    MalformedLeaf,
)
from ledger.core.leaf import (
    GENESIS_PREV_HASH,
    LEAF_MAGIC,
    MAX_LEAF_SIZE,
    Leaf,
    check_chain,
    datetime_from_micros,
    format_log_time,
    leaf_hash,
    leaf_size,
    micros_from_datetime,
    parse_leaf,
)
from ledger.core.statements import SignedStatement
from tests.support.factories import T0, seeded_key

MAGIC = b"consent-ledger/leaf/v1\n"  # written out, not imported: the format is frozen
NONCE = "0123456789abcdef0123456789abcdef"
GRANT_ID = "6f1c9a2e-3b4d-4c5e-8f70-112233445566"
T0_MICROS = 1_772_366_400 * 10**6  # 2026-03-01T12:00:00Z
PREV = bytes(range(32))


def _grant(**overrides: object) -> SignedStatement:
    items = overrides.pop("items", [builders.Item(sha256="ab" * 32, bytes=1000, duration_s=60)])
    return builders.grant(
        seeded_key(1),
        seeded_key(2).key_id,
        GRANT_ID,
        items,  # type: ignore[arg-type]
        builders.TermsSpec(),
        issued_at=T0,
        nonce=str(overrides.pop("nonce", NONCE)),
    )


GRANT = _grant()
ROTATE = builders.key_rotate(seeded_key(1), seeded_key(3), issued_at=T0, nonce=NONCE)


@dataclass(frozen=True)
class Parts:
    """The fields of a leaf, packed by ``pack`` exactly as docs/FORMAT.md §Leaf spells them."""

    seq: int = 7
    integrated_at: int = T0_MICROS
    prev: bytes = PREV
    statement: bytes = GRANT.statement_bytes
    sigs: tuple[tuple[bytes, bytes], ...] = tuple(
        (s.public_key.raw, s.signature) for s in GRANT.signatures
    )
    count: int | None = None  # override the signature count byte
    length: int | None = None  # override the statement length
    magic: bytes = MAGIC

    def pack(self) -> bytes:
        length = len(self.statement) if self.length is None else self.length
        count = len(self.sigs) if self.count is None else self.count
        return (
            self.magic
            + struct.pack(">Q", self.seq)
            + struct.pack(">Q", self.integrated_at)
            + self.prev
            + struct.pack(">I", length)
            + self.statement
            + bytes([count])
            + b"".join(key + sig for key, sig in self.sigs)
        )


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


def _in_statement(needle: bytes, mask: int = 0x01, after: int = 0) -> bytes:
    """Flip ``mask`` in the statement byte ``after`` bytes past the start of ``needle``."""
    stmt = GRANT.statement_bytes
    return flip(stmt, stmt.index(needle) + after, mask)


def _sig(index: int, edit: Callable[[bytes, bytes], tuple[bytes, bytes]]) -> Parts:
    sigs = list(Parts().sigs)
    sigs[index] = edit(*sigs[index])
    return Parts(sigs=tuple(sigs))


def _spaced_statement() -> bytes:
    return json.dumps(json.loads(GRANT.statement_bytes), sort_keys=True).encode()


# --- Round trip ----------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [GRANT, ROTATE], ids=["grant", "key.rotate"])
def test_leaf_round_trip(signed: SignedStatement) -> None:
    leaf = Leaf(seq=7, integrated_at=T0_MICROS, prev_hash=PREV, signed=signed)
    data = leaf.to_bytes()
    sigs = tuple((s.public_key.raw, s.signature) for s in signed.signatures)
    assert data == Parts(statement=signed.statement_bytes, sigs=sigs).pack()
    assert len(data) == leaf_size(signed)
    parsed = parse_leaf(data)
    assert parsed == leaf
    assert parsed.to_bytes() == data
    assert parsed.signed.statement_hash == signed.statement_hash
    assert parsed.integrated_datetime == T0


def test_leaf_hash_is_rfc9162_leaf_hash() -> None:
    data = Leaf(0, T0_MICROS, GENESIS_PREV_HASH, GRANT).to_bytes()
    assert leaf_hash(data) == hashlib.sha256(b"\x00" + data).digest()
    assert leaf_hash(data) != hashlib.sha256(data).digest()


def test_log_time_spellings() -> None:
    assert micros_from_datetime(T0) == T0_MICROS
    assert datetime_from_micros(T0_MICROS + 5) == T0 + timedelta(microseconds=5)
    assert format_log_time(T0_MICROS + 5) == "2026-03-01T12:00:00.000005Z"
    with pytest.raises(ValueError, match="naive"):
        micros_from_datetime(datetime(2026, 3, 1))


def test_a_grant_with_400_items_is_too_large_for_a_leaf() -> None:
    items = [
        builders.Item(sha256=f"{i:064x}", bytes=10**9, duration_s=3600, c2pa_hash=f"{i:064x}")
        for i in range(400)
    ]
    signed = _grant(items=items)
    assert leaf_size(signed) > MAX_LEAF_SIZE
    with pytest.raises(LeafTooLarge) as exc:
        Leaf(0, T0_MICROS, GENESIS_PREV_HASH, signed).to_bytes()
    assert exc.value.code == "leaf_too_large"
    # And a reader refuses such bytes before parsing the statement.
    with pytest.raises(MalformedLeaf):
        parse_leaf(Parts(statement=signed.statement_bytes).pack())


# --- Tampering ---------------------------------------------------------------------------------

LEAF = Parts().pack()
HEADER_END = len(MAGIC) + 8 + 8 + 32 + 4
STATEMENT_END = HEADER_END + len(GRANT.statement_bytes)
IDENTITY_POINT = bytes([1]) + bytes(31)
ROTATE_SIGS = tuple((s.public_key.raw, s.signature) for s in ROTATE.signatures)

TAMPERED: dict[str, tuple[bytes, type[LedgerError]]] = {
    # Framing.
    "empty": (b"", MalformedLeaf),
    "magic only": (MAGIC, MalformedLeaf),
    "truncated in the header": (LEAF[: HEADER_END - 1], MalformedLeaf),
    "truncated in the statement": (LEAF[: HEADER_END + 10], MalformedLeaf),
    "truncated before the count": (LEAF[:STATEMENT_END], MalformedLeaf),
    "truncated by one byte": (LEAF[:-1], MalformedLeaf),
    "trailing byte": (LEAF + b"\x00", MalformedLeaf),
    "bad magic (v2)": (Parts(magic=b"consent-ledger/leaf/v2\n").pack(), MalformedLeaf),
    "bad magic (no newline)": (Parts(magic=MAGIC[:-1] + b" ").pack(), MalformedLeaf),
    "signature count 0": (Parts(count=0).pack(), MalformedLeaf),
    "signature count 0, no signatures": (Parts(count=0, sigs=()).pack(), MalformedLeaf),
    "signature count 3": (Parts(count=3).pack(), MalformedLeaf),
    "three signatures": (Parts(sigs=Parts().sigs * 3).pack(), MalformedLeaf),
    "count 2, one signature": (Parts(count=2).pack(), MalformedLeaf),
    "statement length + 1": (Parts(length=len(GRANT.statement_bytes) + 1).pack(), MalformedLeaf),
    "statement length - 1": (Parts(length=len(GRANT.statement_bytes) - 1).pack(), MalformedLeaf),
    "statement length 2^32 - 1": (Parts(length=2**32 - 1).pack(), MalformedLeaf),
    "over 65,535 bytes": (LEAF + bytes(MAX_LEAF_SIZE), MalformedLeaf),
    "public key small order": (_sig(0, lambda k, s: (IDENTITY_POINT, s)).pack(), MalformedLeaf),
    "public key y >= p": (_sig(0, lambda k, s: (b"\xff" * 32, s)).pack(), MalformedLeaf),
    # The statement bytes: which error depends on what the flipped bit breaks.
    "'{' becomes 'z'": (Parts(statement=_in_statement(b"{")).pack(), MalformedJSON),
    "a letter becomes invalid UTF-8": (
        Parts(statement=_in_statement(b'"grant"', 0x80, after=1)).pack(),
        MalformedJSON,
    ),
    "a quote becomes '#'": (Parts(statement=_in_statement(b'"v"', 0x01)).pack(), MalformedJSON),
    '"v":1 becomes "v":3': (
        Parts(statement=_in_statement(b'"v":1', 0x02, 4)).pack(),
        InvalidStatement,
    ),
    "'nonce' becomes 'nonbe'": (
        Parts(statement=_in_statement(b'"nonce"', 0x01, after=4)).pack(),
        InvalidStatement,
    ),
    "a nonce digit 0 becomes 1": (
        Parts(statement=_in_statement(NONCE.encode(), 0x01)).pack(),
        BadSignature,
    ),
    "duration 60 becomes 61": (
        Parts(statement=_in_statement(b'"duration_s":60', 0x01, after=14)).pack(),
        BadSignature,
    ),
    "same JSON with spaces (non-canonical)": (
        Parts(statement=_spaced_statement()).pack(),
        InvalidStatement,
    ),
    "another grant's statement": (
        Parts(statement=_grant(nonce="f" * 32).statement_bytes).pack(),
        BadSignature,
    ),
    # The signature block.
    "flipped bit in the signature": (_sig(0, lambda k, s: (k, flip(s, 0))).pack(), BadSignature),
    "flipped bit in the last signature byte": (
        _sig(0, lambda k, s: (k, flip(s, 63, 0x10))).pack(),
        BadSignature,
    ),
    "flipped bit in the public key": (_sig(0, lambda k, s: (flip(k, 0), s)).pack(), BadSignature),
    "signature of another key": (
        _sig(0, lambda k, s: (seeded_key(2).public_key.raw, s)).pack(),
        BadSignature,
    ),
    "key.rotate signatures swapped": (
        Parts(statement=ROTATE.statement_bytes, sigs=ROTATE_SIGS[::-1]).pack(),
        BadSignature,
    ),
    "key.rotate with one signature": (
        Parts(statement=ROTATE.statement_bytes, sigs=ROTATE_SIGS[:1]).pack(),
        BadSignature,
    ),
}


def test_tamper_rows_change_only_what_they_say() -> None:
    # The statement-flip rows must still be the same length and differ in exactly one byte.
    for name in ("'{' becomes 'z'", '"v":1 becomes "v":3', "a nonce digit 0 becomes 1"):
        data = TAMPERED[name][0]
        assert len(data) == len(LEAF)
        assert sum(a != b for a, b in zip(data, LEAF, strict=True)) == 1, name


@pytest.mark.parametrize(("data", "error"), TAMPERED.values(), ids=TAMPERED.keys())
def test_tampered_leaf_is_refused(data: bytes, error: type[LedgerError]) -> None:
    with pytest.raises(LedgerError) as exc:
        parse_leaf(data)
    assert type(exc.value) is error, exc.value
    assert exc.value.code == error.code


# --- The hash chain ------------------------------------------------------------------------------

LEAF0 = Leaf(0, T0_MICROS, GENESIS_PREV_HASH, GRANT)
LEAF0_HASH = leaf_hash(LEAF0.to_bytes())
LEAF1 = Leaf(1, T0_MICROS + 1, LEAF0_HASH, ROTATE)


def test_genesis_is_32_zero_bytes() -> None:
    assert bytes(32) == GENESIS_PREV_HASH
    check_chain(LEAF0, None)
    check_chain(LEAF0, b"\xaa" * 32)  # seq 0 ignores any "previous" hash: it links to genesis


def test_a_valid_link() -> None:
    check_chain(LEAF1, LEAF0_HASH, LEAF0.integrated_at)
    check_chain(replace(LEAF1, integrated_at=LEAF0.integrated_at), LEAF0_HASH, LEAF0.integrated_at)


@pytest.mark.parametrize(
    ("leaf", "prev_hash", "prev_time"),
    [
        pytest.param(
            replace(LEAF0, prev_hash=b"\x00" * 31 + b"\x01"), None, 0, id="genesis-not-zero"
        ),
        pytest.param(LEAF1, hashlib.sha256(LEAF0.to_bytes()).digest(), 0, id="wrong-prev-hash"),
        pytest.param(LEAF1, flip(LEAF0_HASH, 31), 0, id="prev-hash-one-bit-off"),
        pytest.param(LEAF1, None, 0, id="prev-hash-missing"),
        pytest.param(LEAF1, LEAF0_HASH, LEAF1.integrated_at + 1, id="time-goes-back"),
    ],
)
def test_broken_link_raises_chain_error(
    leaf: Leaf, prev_hash: bytes | None, prev_time: int
) -> None:
    with pytest.raises(ChainError) as exc:
        check_chain(leaf, prev_hash, prev_time)
    assert exc.value.code == "chain_broken"


@pytest.mark.parametrize(
    ("seq", "integrated_at", "prev_hash", "what"),
    [
        (-1, 0, bytes(32), "seq"),
        (2**63, 0, bytes(32), "seq"),
        (0, -1, bytes(32), "integrated_at"),
        (0, 253402300800000000, bytes(32), "integrated_at"),
        (0, 0, bytes(31), "prev_leaf_hash"),
        (0, 0, bytes(33), "prev_leaf_hash"),
    ],
)
def test_leaf_header_fields_out_of_range_are_refused(
    make_grant: Callable[..., SignedStatement],
    seq: int,
    integrated_at: int,
    prev_hash: bytes,
    what: str,
) -> None:
    leaf = Leaf(seq, integrated_at, prev_hash, make_grant())
    with pytest.raises(MalformedLeaf, match=what):
        leaf.to_bytes()


def test_leaf_with_log_time_after_year_9999_is_malformed(
    make_grant: Callable[..., SignedStatement],
) -> None:
    data = bytearray(Leaf(0, 0, bytes(32), make_grant()).to_bytes())
    struct.pack_into(">Q", data, len(LEAF_MAGIC) + 8, 253402300800000000)
    with pytest.raises(MalformedLeaf, match="integrated_at"):
        parse_leaf(bytes(data))
