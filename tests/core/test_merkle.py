"""RFC 9162 Merkle trees: reference roots, published vectors, properties against an oracle."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.core import merkle
from ledger.core.errors import InvalidParameter, LedgerError, MalformedProof, ProofError

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "transparency-dev-merkle"
VECTOR_FILES = sorted(VECTORS.rglob("*.json"))

# The eight RFC 6962 reference leaves and the roots of their prefixes (shared/vectors/README.md).
REF_LEAVES = [
    bytes.fromhex(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
REF_ROOTS = [
    bytes.fromhex(x)
    for x in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
MAX_LEAVES = 300
VERIFY_ERRORS = (ProofError, MalformedProof, InvalidParameter)


# --- An independent oracle: RFC 9162 §2.1 written out recursively, on hashlib alone ------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


def _k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes, §2.1.1."""
    if not d:
        return _h(b"")
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return _node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), §2.1.3.1."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), §2.1.4.1."""
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_root_from_path(m: int, n: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """Rebuild the root by walking the §2.1.3.1 recursion backwards; None if the shape is wrong."""
    if n == 1:
        return leaf if not path else None
    if not path:
        return None
    k = _k(n)
    if m < k:
        sub = ref_root_from_path(m, k, leaf, path[:-1])
        return None if sub is None else _node(sub, path[-1])
    sub = ref_root_from_path(m - k, n - k, leaf, path[:-1])
    return None if sub is None else _node(path[-1], sub)


def ref_consistency_roots(
    m: int, n: int, proof: Sequence[bytes], root1: bytes, b: bool = True
) -> tuple[bytes, bytes] | None:
    """(old root, new root) by walking §2.1.4.1 backwards; None if the shape is wrong."""
    if m == n:
        if b:
            return (root1, root1) if not proof else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = _k(n)
    if m <= k:
        sub = ref_consistency_roots(m, k, proof[:-1], root1, b)
        return None if sub is None else (sub[0], _node(sub[1], proof[-1]))
    sub = ref_consistency_roots(m - k, n - k, proof[:-1], root1, False)
    return None if sub is None else (_node(proof[-1], sub[0]), _node(proof[-1], sub[1]))


def ref_consistency_ok(m: int, n: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> bool:
    """Our verifier's contract: 0 < m <= n, and the proof rebuilds both roots."""
    if not 0 < m <= n:
        return False
    roots = ref_consistency_roots(m, n, proof, root1)
    return roots == (root1, root2)


# --- Fixtures and helpers ----------------------------------------------------------------------


BIG_LEAF_HASHES = tuple(_h(b"\x00" + i.to_bytes(4, "big")) for i in range(MAX_LEAVES))


def _build(leaf_hashes: Sequence[bytes]) -> merkle.MemoryHashStore:
    store = merkle.MemoryHashStore()
    store.append_leaf_hashes(leaf_hashes)
    return store


BIG_STORE = _build(BIG_LEAF_HASHES)
REF_STORE = _build([merkle.leaf_hash(x) for x in REF_LEAVES])


@cache
def big_root(n: int) -> bytes:
    return ref_mth(BIG_LEAF_HASHES[:n])


def _flip(data: bytes, bit: int) -> bytes:
    bit %= 8 * len(data)
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


class CountingReader:
    """Wraps a store and records every read_hashes call."""

    def __init__(self, inner: merkle.MemoryHashStore) -> None:
        self.inner = inner
        self.calls: list[list[int]] = []

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        self.calls.append(list(indexes))
        return self.inner.read_hashes(indexes)


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _run_vector(v: dict[str, Any]) -> None:
    proof = [_b64(p) for p in v["proof"] or []]
    if "leafIdx" in v:
        merkle.verify_inclusion(
            v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), proof, _b64(v["root"])
        )
    else:
        merkle.verify_consistency(v["size1"], v["size2"], proof, _b64(v["root1"]), _b64(v["root2"]))


FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- Constants and the reference tree ----------------------------------------------------------


def test_constants() -> None:
    assert merkle.HASH_SIZE == 32
    assert (merkle.LEAF_PREFIX, merkle.NODE_PREFIX) == (b"\x00", b"\x01")
    assert merkle.EMPTY_ROOT == REF_ROOTS[0] == hashlib.sha256(b"").digest()
    assert merkle.leaf_hash(b"") == _h(b"\x00")
    assert merkle.node_hash(b"a", b"b") == _h(b"\x01ab")


@pytest.mark.parametrize("size", range(9))
def test_reference_roots(size: int) -> None:
    hashes = [merkle.leaf_hash(x) for x in REF_LEAVES[:size]]
    assert merkle.root_from_leaf_hashes(hashes) == REF_ROOTS[size]
    assert merkle.tree_hash(size, REF_STORE) == REF_ROOTS[size]
    assert ref_mth(hashes) == REF_ROOTS[size]


def test_every_reference_proof_matches_the_rfc_and_verifies() -> None:
    d = [merkle.leaf_hash(x) for x in REF_LEAVES]
    for n in range(1, 9):
        for m in range(n):
            proof = merkle.inclusion_proof(n, m, REF_STORE)
            assert proof == ref_path(m, d[:n]), (m, n)
            merkle.verify_inclusion(m, n, d[m], proof, REF_ROOTS[n])
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, n, REF_STORE)
            assert proof == ref_subproof(m, d[:n], True), (m, n)
            merkle.verify_consistency(m, n, proof, REF_ROOTS[m], REF_ROOTS[n])


@pytest.mark.parametrize(
    "path", sorted(VECTORS.glob("*/[0-9]/happy-path.json")), ids=lambda p: p.parent.name
)
def test_vector_happy_paths_are_the_proofs_we_generate(path: Path) -> None:
    v = _load(path)
    proof = [_b64(p) for p in v["proof"] or []]
    if "leafIdx" in v:
        i, n = v["leafIdx"], v["treeSize"]
        assert _b64(v["leafHash"]) == merkle.leaf_hash(REF_LEAVES[i])
        assert _b64(v["root"]) == REF_ROOTS[n]
        assert merkle.inclusion_proof(n, i, REF_STORE) == proof
    else:
        m, n = v["size1"], v["size2"]
        assert (_b64(v["root1"]), _b64(v["root2"])) == (REF_ROOTS[m], REF_ROOTS[n])
        assert merkle.consistency_proof(m, n, REF_STORE) == proof


# --- Every published vector --------------------------------------------------------------------


def test_all_vectors_are_present() -> None:
    assert len(VECTOR_FILES) == 196
    assert (VECTORS / "LICENSE").is_file()


@pytest.mark.parametrize(
    "path", VECTOR_FILES, ids=lambda p: str(p.relative_to(VECTORS)).removesuffix(".json")
)
def test_vector(path: Path) -> None:
    v = _load(path)
    if v["wantErr"]:
        with pytest.raises(LedgerError) as info:
            _run_vector(v)
        assert isinstance(info.value, VERIFY_ERRORS)
    else:
        _run_vector(v)


# --- Edge cases and bad input, with the exact error class ---------------------------------------

H = b"\x11" * 32
SHORT = b"\x11" * 31


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: merkle.inclusion_proof(5, 5, REF_STORE), InvalidParameter),
        (lambda: merkle.inclusion_proof(5, -1, REF_STORE), InvalidParameter),
        (lambda: merkle.inclusion_proof(0, 0, REF_STORE), InvalidParameter),
        (lambda: merkle.inclusion_proof(9, 0, REF_STORE), InvalidParameter),  # beyond the store
        (lambda: merkle.tree_hash(-1, REF_STORE), InvalidParameter),
        (lambda: merkle.tree_hash(9, REF_STORE), InvalidParameter),
        (lambda: merkle.consistency_proof(0, 5, REF_STORE), InvalidParameter),
        (lambda: merkle.consistency_proof(0, 0, REF_STORE), InvalidParameter),
        (lambda: merkle.consistency_proof(6, 5, REF_STORE), InvalidParameter),
        (lambda: merkle.consistency_proof(-1, 5, REF_STORE), InvalidParameter),
        (lambda: merkle.verify_inclusion(0, 0, H, [], H), InvalidParameter),
        (lambda: merkle.verify_inclusion(-1, 2, H, [H], H), InvalidParameter),
        (lambda: merkle.verify_inclusion(0, 1, SHORT, [], SHORT), MalformedProof),
        (lambda: merkle.verify_inclusion(0, 1, H, [], SHORT), MalformedProof),
        (lambda: merkle.verify_inclusion(0, 2, H, [SHORT], H), MalformedProof),
        (lambda: merkle.verify_inclusion(0, 2, H, [], H), MalformedProof),
        (lambda: merkle.verify_inclusion(0, 2, H, [H, H], H), MalformedProof),
        (lambda: merkle.verify_inclusion(0, 1, H, [], b"\x22" * 32), ProofError),
        (lambda: merkle.verify_consistency(0, 0, [], H, H), InvalidParameter),
        (lambda: merkle.verify_consistency(0, 3, [], H, H), InvalidParameter),
        (lambda: merkle.verify_consistency(3, 2, [], H, H), InvalidParameter),
        (lambda: merkle.verify_consistency(2, 2, [H], H, H), MalformedProof),
        (lambda: merkle.verify_consistency(2, 2, [], H, b"\x22" * 32), ProofError),
        (lambda: merkle.verify_consistency(1, 2, [], H, H), MalformedProof),
        (lambda: merkle.verify_consistency(1, 2, [SHORT], H, H), MalformedProof),
        (lambda: merkle.verify_consistency(1, 2, [H, H], H, H), MalformedProof),
        (lambda: merkle.verify_consistency(3, 4, [H], H, H), MalformedProof),
        (lambda: merkle.verify_consistency(1, 2, [H], SHORT, H), MalformedProof),
        (lambda: merkle.verify_consistency(1, 2, [H], H, SHORT), MalformedProof),
        (lambda: merkle.root_from_leaf_hashes([SHORT]), InvalidParameter),
        (lambda: merkle.stored_hash_index(-1, 0), InvalidParameter),
        (lambda: merkle.stored_hash_index(0, -1), InvalidParameter),
        (lambda: merkle.split_stored_hash_index(-1), InvalidParameter),
        (lambda: merkle.stored_hash_count(-1), InvalidParameter),
        (lambda: merkle.MemoryHashStore().append_leaf_hash(SHORT), InvalidParameter),
        (lambda: REF_STORE.read_hashes([-1]), InvalidParameter),
        (lambda: REF_STORE.read_hashes([REF_STORE.hash_count]), InvalidParameter),
    ],
)
def test_bad_input(call: Any, error: type[LedgerError]) -> None:
    with pytest.raises(error):
        call()


def test_equal_sizes_compare_roots_only() -> None:
    # Nothing is hashed when size1 == size2, so the roots are compared as given (vector
    # consistency/additional/sizes-are-equal-one-and-proof-is-empty uses 12-byte placeholders).
    merkle.verify_consistency(1, 1, [], b"don't care 2", b"don't care 2")
    merkle.verify_consistency(7, 7, [], H, H)
    assert merkle.consistency_proof(8, 8, REF_STORE) == []


def test_a_store_that_returns_too_few_hashes_is_an_error() -> None:
    class Lossy:
        def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
            return []

    with pytest.raises(LedgerError):
        merkle.tree_hash(3, Lossy())


# --- Stored-hash layout ---------------------------------------------------------------------------


def test_stored_hash_layout_matches_go_tlog() -> None:
    # tlog's own examples: leaf n at 2n - popcount(n); node (1, 0) right after leaf 1; and so on.
    assert [merkle.stored_hash_index(0, n) for n in range(6)] == [0, 1, 3, 4, 7, 8]
    assert merkle.stored_hash_index(1, 0) == 2
    assert merkle.stored_hash_index(2, 0) == 6
    assert merkle.stored_hash_index(1, 1) == 5
    assert [merkle.stored_hash_count(n) for n in range(6)] == [0, 1, 3, 4, 7, 8]
    for index in range(5000):
        level, n = merkle.split_stored_hash_index(index)
        assert merkle.stored_hash_index(level, n) == index


def test_store_holds_every_complete_subtree_once() -> None:
    store = merkle.MemoryHashStore()
    for n, h in enumerate(BIG_LEAF_HASHES[:70]):
        store.append_leaf_hash(h)
        assert store.size == n + 1
        assert store.hash_count == merkle.stored_hash_count(n + 1)
    for index in range(store.hash_count):
        level, n = merkle.split_stored_hash_index(index)
        lo = n << level
        want = ref_mth(BIG_LEAF_HASHES[lo : lo + (1 << level)])
        assert store.read_hashes([index]) == [want]


@FAST
@given(start=st.integers(0, 80), count=st.integers(0, 80))
def test_batch_append_equals_one_by_one(start: int, count: int) -> None:
    one = merkle.MemoryHashStore()
    for h in BIG_LEAF_HASHES[: start + count]:
        before = one.hash_count
        new = merkle.stored_hashes_for_leaf(one.size, h, one)
        assert before == merkle.stored_hash_count(one.size)
        one.append_leaf_hash(h)
        assert one.read_hashes(range(before, one.hash_count)) == new
    batch = _build(BIG_LEAF_HASHES[:start])
    # The store holds only leaves < start: reading any of the batch's own hashes would raise.
    reader = CountingReader(batch)
    new = merkle.stored_hashes_for_leaves(start, BIG_LEAF_HASHES[start : start + count], reader)
    assert len(reader.calls) <= 1
    assert batch.read_hashes(range(batch.hash_count)) + new == one.read_hashes(
        range(one.hash_count)
    )


# --- Properties over trees of 1..300 leaves -----------------------------------------------------


@FAST
@given(data=st.data())
def test_inclusion_proofs(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, MAX_LEAVES), label="n")
    i = data.draw(st.integers(0, n - 1), label="index")
    leaf, root = BIG_LEAF_HASHES[i], big_root(n)
    proof = merkle.inclusion_proof(n, i, BIG_STORE)
    assert merkle.tree_hash(n, BIG_STORE) == root
    assert proof == ref_path(i, BIG_LEAF_HASHES[:n])
    merkle.verify_inclusion(i, n, leaf, proof, root)
    assert merkle.root_from_inclusion_proof(i, n, leaf, proof) == root

    # Flipping any bit of a proof hash, the leaf hash or the root fails.
    bit = data.draw(st.integers(0, 255), label="bit")
    for j in range(len(proof)):
        bad = [*proof[:j], _flip(proof[j], bit), *proof[j + 1 :]]
        with pytest.raises(ProofError):
            merkle.verify_inclusion(i, n, leaf, bad, root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(i, n, _flip(leaf, bit), proof, root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(i, n, leaf, proof, _flip(root, bit))

    # A neighbouring index always fails.
    for other in (i - 1, i + 1):
        if 0 <= other < n:
            assert ref_root_from_path(other, n, leaf, proof) != root
            with pytest.raises((ProofError, MalformedProof)):
                merkle.verify_inclusion(other, n, leaf, proof, root)

    # Another tree size fails unless the oracle says the same proof also fits that size.
    for size in {n - 1, n + 1, 2 * n, n // 2, data.draw(st.integers(1, MAX_LEAVES), label="m")}:
        expected = i < size and ref_root_from_path(i, size, leaf, proof) == root
        _check(expected, merkle.verify_inclusion, i, size, leaf, proof, root)


@FAST
@given(data=st.data())
def test_consistency_proofs(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, MAX_LEAVES), label="n")
    m = data.draw(st.integers(1, n), label="m")
    root1, root2 = big_root(m), big_root(n)
    proof = merkle.consistency_proof(m, n, BIG_STORE)
    assert proof == ref_subproof(m, BIG_LEAF_HASHES[:n], True)
    merkle.verify_consistency(m, n, proof, root1, root2)

    bit = data.draw(st.integers(0, 255), label="bit")
    for j in range(len(proof)):
        bad = [*proof[:j], _flip(proof[j], bit), *proof[j + 1 :]]
        with pytest.raises(ProofError):
            merkle.verify_consistency(m, n, bad, root1, root2)
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, proof, _flip(root1, bit), root2)
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, proof, root1, _flip(root2, bit))

    # Other sizes: exactly the oracle's verdict (size1 = 0 and size1 > size2 are always refused).
    for m2, n2 in {(m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1), (m // 2, n), (m, 2 * n)}:
        expected = ref_consistency_ok(m2, n2, proof, root1, root2)
        _check(expected, merkle.verify_consistency, m2, n2, proof, root1, root2)


def _check(expected: bool, verify: Any, *args: Any) -> None:
    if expected:
        verify(*args)
    else:
        with pytest.raises(VERIFY_ERRORS):
            verify(*args)


# --- One read per tree head or proof, O(log n) hashes ------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 64, 100, 255, 256, 257, MAX_LEAVES])
def test_one_read_per_call_with_logarithmic_indexes(n: int) -> None:
    bits = n.bit_length()
    reader = CountingReader(BIG_STORE)
    merkle.tree_hash(n, reader)
    assert len(reader.calls) == 1
    assert len(reader.calls[0]) == n.bit_count() <= bits
    for i in range(n):
        reader.calls.clear()
        proof = merkle.inclusion_proof(n, i, reader)
        assert len(reader.calls) == (1 if n > 1 else 0)
        assert all(len(c) <= 2 * bits for c in reader.calls)
        assert len(proof) <= bits
    for m in range(1, n + 1):
        reader.calls.clear()
        merkle.consistency_proof(m, n, reader)
        assert len(reader.calls) == (1 if m < n else 0)
        assert all(len(c) <= 2 * bits for c in reader.calls)
    reader.calls.clear()
    merkle.tree_hash(0, reader)
    assert reader.calls == []


# --- The border of a tree ------------------------------------------------------------------------


def _leaf(i: int) -> bytes:
    return merkle.leaf_hash(i.to_bytes(4, "big"))


@FAST
@given(st.integers(0, 600), st.integers(1, 80))
def test_the_border_is_what_appending_and_the_root_read(size: int, more: int) -> None:
    store = merkle.MemoryHashStore()
    store.append_leaf_hashes([_leaf(i) for i in range(size)])
    reader = CountingReader(store)
    assert merkle.tree_hash(size, reader) == merkle.root_from_leaf_hashes(
        [_leaf(i) for i in range(size)]
    )
    assert [i for call in reader.calls for i in call] == merkle.border_indexes(size)
    reader.calls.clear()
    merkle.stored_hashes_for_leaves(size, [_leaf(size + i) for i in range(more)], reader)
    assert {i for call in reader.calls for i in call} == set(merkle.border_indexes(size))


@FAST
@given(st.integers(0, 600), st.integers(0, 300))
def test_a_later_border_is_the_earlier_one_plus_hashes_stored_since(size: int, more: int) -> None:
    # What the service's append relies on to skip reading the border (service._Border).
    since = merkle.stored_hash_count(size)
    later = merkle.border_indexes(size + more)
    assert set(later) <= set(merkle.border_indexes(size)) | set(
        range(since, max(later, default=0) + 1)
    )
    assert all(i < merkle.stored_hash_count(size + more) for i in later)


def test_border_indexes_refuses_a_negative_size() -> None:
    with pytest.raises(InvalidParameter):
        merkle.border_indexes(-1)
