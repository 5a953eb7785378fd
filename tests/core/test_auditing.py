"""The streaming auditor's core pieces: the compact Merkle range and the fast signature check."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import builders, merkle
from ledger.core.auditing import CompactRange, check_leaf_signatures, required_signer_ids
from ledger.core.errors import BadSignature, InvalidStatement, LedgerError, MalformedLeaf
from ledger.core.keys import SigningKey
from ledger.core.leaf import GENESIS_PREV_HASH, Leaf
from ledger.core.statements import STATEMENT_SIGNING_CONTEXT, Signature, SignedStatement
from tests.support.factories import T0, seeded_key


def _hashes(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=300))
def test_compact_range_root_is_the_rfc9162_root_at_every_size(n: int) -> None:
    leaves = _hashes(n)
    cr = CompactRange()
    for h in leaves:
        cr.append(h)
    assert cr.root() == merkle.root_from_leaf_hashes(leaves)
    assert len(cr.roots) == n.bit_count()  # O(log n) memory


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=200))
def test_compact_range_recomputes_the_stored_hashes_the_log_writes(n: int) -> None:
    """As a HashReader the range serves exactly what stored_hashes_for_leaves reads, so an
    auditor recomputes the tlog hash store leaf by leaf without holding it."""
    store = merkle.MemoryHashStore()
    cr = CompactRange()
    recomputed: list[bytes] = []
    for i, h in enumerate(_hashes(n)):
        recomputed.extend(merkle.stored_hashes_for_leaves(i, [h], cr))
        cr.append(h)
        store.append_leaf_hash(h)
    assert recomputed == store.read_hashes(range(store.hash_count))


def test_compact_range_refuses_what_it_does_not_hold() -> None:
    cr = CompactRange()
    for h in _hashes(5):
        cr.append(h)
    with pytest.raises(LedgerError):
        cr.read_hashes([1])  # inside the left subtree: not on the border
    with pytest.raises(LedgerError):
        cr.append(b"short")


def _leaf(signed: SignedStatement) -> bytes:
    return Leaf(0, 1, GENESIS_PREV_HASH, signed).to_bytes()


def _resigned(signed: SignedStatement, *keys: SigningKey) -> SignedStatement:
    """The same statement bytes with signatures by other keys (valid signatures, wrong signers)."""
    sigs = tuple(
        Signature(k.public_key, k.sign(STATEMENT_SIGNING_CONTEXT, signed.statement_bytes))
        for k in keys
    )
    return dataclasses.replace(signed, signatures=sigs)


def _flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


A, B = seeded_key(1), seeded_key(2)
ROTATE = builders.key_rotate(A, B, issued_at=T0)
REGISTER = builders.party_register(A, "alice", issued_at=T0)

BAD_LEAVES: list[tuple[str, Callable[[], bytes], type[LedgerError]]] = [
    ("flipped signature byte", lambda: _flip_last(_leaf(REGISTER)), BadSignature),
    ("signed by another key", lambda: _leaf(_resigned(REGISTER, B)), BadSignature),
    ("rotation signed in the wrong order", lambda: _leaf(_resigned(ROTATE, B, A)), BadSignature),
    ("rotation signed by the old key only", lambda: _leaf(_resigned(ROTATE, A)), BadSignature),
    ("framing broken", lambda: _leaf(REGISTER)[:-1], MalformedLeaf),
]


@pytest.mark.parametrize(("case", "make", "error"), BAD_LEAVES, ids=[c[0] for c in BAD_LEAVES])
def test_check_leaf_signatures_refuses(
    case: str, make: Callable[[], bytes], error: type[LedgerError]
) -> None:
    with pytest.raises(error):
        check_leaf_signatures(make())


@pytest.mark.parametrize("signed", [REGISTER, ROTATE], ids=["register", "rotate"])
def test_check_leaf_signatures_accepts_what_parse_leaf_accepts(signed: SignedStatement) -> None:
    parts, body = check_leaf_signatures(_leaf(signed))
    assert body == dict(signed.body)
    assert parts.statement_bytes == signed.statement_bytes
    assert required_signer_ids(body) == signed.statement.required_signers()


def test_required_signers_needs_a_signer() -> None:
    with pytest.raises(InvalidStatement):
        required_signer_ids({"type": "grant"})
    with pytest.raises(InvalidStatement):
        required_signer_ids({"type": "key.rotate", "signer": A.key_id, "new_public_key": "x"})
