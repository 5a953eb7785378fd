"""The verifiable map (``ledger.core.vmap``): roots, proofs of membership and non-membership,
canonical proof bytes, tampering, versions and the node store (docs/FORMAT.md §14.3-§14.5)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.errors import (
    InvalidParameter,
    LedgerError,
    MalformedProof,
    MapKeyAbsent,
    MapKeyPresent,
    MapProofInvalid,
    MapValueMismatch,
    NotFound,
)
from ledger.core.vmap import (
    MAP_EMPTY_HASH,
    MapLeaf,
    MapProof,
    MemoryNodeStore,
    SparseMerkleMap,
    check_membership,
    check_non_membership,
    decode_proof,
    hash_of,
    key_hash,
    root_of,
    value_hash,
    verify_map_proof,
    verify_membership,
    verify_non_membership,
)

KEYS = st.binary(min_size=1, max_size=6)
# A history: batches of {key: bytes appended to its value}; the map holds their concatenation.
BATCHES = st.lists(
    st.dictionaries(KEYS, st.binary(min_size=1, max_size=3), max_size=40), max_size=12
)


def build(batches: list[dict[bytes, bytes]]) -> tuple[SparseMerkleMap, list[dict[bytes, bytes]]]:
    """The map after each batch, and the expected contents at every version (index = version)."""
    tree = SparseMerkleMap()
    states: list[dict[bytes, bytes]] = [{}]
    for version, batch in enumerate(batches, start=1):
        state = dict(states[-1])
        for key, suffix in batch.items():
            state[key] = state.get(key, b"") + suffix
        tree.append_values(version, batch)
        states.append(state)
    return tree, states


@settings(max_examples=60, deadline=None)
@given(BATCHES, st.lists(KEYS, max_size=8))
def test_proofs_verify_for_present_and_absent_keys_at_every_version(
    batches: list[dict[bytes, bytes]], probes: list[bytes]
) -> None:
    tree, states = build(batches)
    for version, state in enumerate(states):
        root = tree.store.root_at(version)
        assert root == root_of(state.items())  # incremental == the reference definition
        for key, value in state.items():
            proof = tree.prove(key, version).to_bytes()
            report = verify_membership(root, key, value, proof)
            assert report
            assert report.value_hash == value_hash(value)
            assert tree.get(key, version) == value
        for key in probes:
            if key in state:
                continue
            proof = tree.prove(key, version).to_bytes()
            assert verify_non_membership(root, key, proof).present is False
            assert tree.get(key, version) is None
    assert dict(tree.items()) == states[-1]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(KEYS, st.binary(min_size=1, max_size=3)), max_size=60), st.randoms())
def test_the_root_depends_on_the_contents_only_not_on_batching(
    pairs: list[tuple[bytes, bytes]], rnd: object
) -> None:
    final = {}
    for key, value in pairs:
        final[key] = value
    items = list(final.items())
    one = SparseMerkleMap()
    one.append_values(1, dict(items))
    rnd.shuffle(items)  # type: ignore[attr-defined]
    many = SparseMerkleMap()
    for version, (key, value) in enumerate(items, start=1):
        many.append_values(version, {key: value})
    assert one.root == many.root == root_of(final.items())


@pytest.mark.parametrize("size", [1, 2, 3, 100, 1000, 5000])
def test_proofs_stay_logarithmic(size: int) -> None:
    tree = SparseMerkleMap()
    keys = [i.to_bytes(4, "big") for i in range(size)]
    tree.append_values(1, dict.fromkeys(keys, b"v"))
    depth_bound = 2 * size.bit_length() + 8  # random key hashes: depth ~ log2(n) + O(1)
    for key in [*keys[:50], b"absent", b"also absent"]:
        proof = tree.prove(key)
        assert len(proof.siblings) <= depth_bound
        data = proof.to_bytes()
        assert decode_proof(data) == proof
        assert len(data) <= 2 + 32 + 32 * depth_bound + 65
        if key in keys:
            assert verify_membership(tree.root, key, b"v", data)
        else:
            assert verify_non_membership(tree.root, key, data)


def test_the_empty_map() -> None:
    tree = SparseMerkleMap()
    assert tree.root == MAP_EMPTY_HASH == hashlib.sha256(b"consent-ledger/map/v1/empty\n").digest()
    proof = tree.prove(b"anything").to_bytes()
    assert proof == b"\x00\x00\x00"
    assert verify_non_membership(MAP_EMPTY_HASH, b"anything", proof)
    with pytest.raises(MapKeyAbsent):
        verify_membership(MAP_EMPTY_HASH, b"anything", b"v", proof)


# --- Tampering: one table, the exact error each time -------------------------------------------

MAP = SparseMerkleMap()
MAP.append_values(1, {i.to_bytes(2, "big"): bytes([i % 251 + 1]) for i in range(300)})
PRESENT = (7).to_bytes(2, "big")
PRESENT_VALUE = bytes([8])
ROOT = MAP.root
GOOD = MAP.prove(PRESENT).to_bytes()


def _absent_key(on_path: bool) -> bytes:
    """An absent key whose first key-hash bit equals (or differs from) that of PRESENT."""
    bit = key_hash(PRESENT)[0] >> 7
    for i in range(1000, 100000):
        key = i.to_bytes(3, "big")
        if (key_hash(key)[0] >> 7 == bit) != on_path:
            continue
        proof = MAP.prove(key)
        if proof.leaf is not None and (on_path or len(proof.siblings) > 0):
            return key
    raise AssertionError("no such key")


ABSENT_OFF_PATH = _absent_key(on_path=False)
ABSENT_PROOF = MAP.prove(ABSENT_OFF_PATH).to_bytes()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def _nbytes(data: bytes) -> int:
    return (int.from_bytes(data[:2], "big") + 7) // 8


MEMBERSHIP_CASES: list[tuple[str, Callable[[], object], type[LedgerError]]] = [
    (
        "a sibling altered",
        lambda: verify_membership(ROOT, PRESENT, PRESENT_VALUE, _flip(GOOD, 2 + _nbytes(GOOD))),
        MapProofInvalid,
    ),
    (
        "the leaf's value hash altered",
        lambda: verify_membership(ROOT, PRESENT, PRESENT_VALUE, _flip(GOOD, len(GOOD) - 1)),
        MapProofInvalid,
    ),
    (
        "the leaf's key hash altered",
        lambda: verify_membership(ROOT, PRESENT, PRESENT_VALUE, _flip(GOOD, len(GOOD) - 40)),
        MapProofInvalid,
    ),
    (
        "another key's proof, off its path",
        lambda: verify_membership(ROOT, PRESENT, PRESENT_VALUE, ABSENT_PROOF),
        MapProofInvalid,
    ),
    (
        "the proof for a key on another path",
        lambda: verify_membership(ROOT, ABSENT_OFF_PATH, PRESENT_VALUE, GOOD),
        MapProofInvalid,
    ),
    ("a wrong value", lambda: verify_membership(ROOT, PRESENT, b"\x99", GOOD), MapValueMismatch),
    (
        "a wrong root",
        lambda: verify_membership(hashlib.sha256(b"x").digest(), PRESENT, PRESENT_VALUE, GOOD),
        MapProofInvalid,
    ),
    (
        "the empty root",
        lambda: verify_membership(MAP_EMPTY_HASH, PRESENT, PRESENT_VALUE, GOOD),
        MapProofInvalid,
    ),
    (
        "a valid proof of absence",
        lambda: verify_membership(ROOT, ABSENT_OFF_PATH, b"v", ABSENT_PROOF),
        MapKeyAbsent,
    ),
    (
        "a proof of presence as absence",
        lambda: verify_non_membership(ROOT, PRESENT, GOOD),
        MapKeyPresent,
    ),
    (
        "absence proof with a sibling altered",
        lambda: verify_non_membership(
            ROOT, ABSENT_OFF_PATH, _flip(ABSENT_PROOF, 2 + _nbytes(ABSENT_PROOF))
        ),
        MapProofInvalid,
    ),
    (
        "absence proof against a wrong root",
        lambda: verify_non_membership(bytes(32), ABSENT_OFF_PATH, ABSENT_PROOF),
        MapProofInvalid,
    ),
    (
        "truncated",
        lambda: verify_membership(ROOT, PRESENT, PRESENT_VALUE, GOOD[:-1]),
        MalformedProof,
    ),
    (
        "a trailing byte",
        lambda: verify_membership(ROOT, PRESENT, PRESENT_VALUE, GOOD + b"\x00"),
        MalformedProof,
    ),
    ("two bytes only", lambda: verify_non_membership(ROOT, PRESENT, b"\x00\x00"), MalformedProof),
    (
        "an unknown end tag",
        lambda: verify_non_membership(ROOT, PRESENT, GOOD[:-65] + b"\x02" + GOOD[-64:]),
        MalformedProof,
    ),
    (
        "depth over 256",
        lambda: verify_non_membership(ROOT, PRESENT, b"\x01\x01" + bytes(33) + b"\x00"),
        MalformedProof,
    ),
    (
        "a root of 31 bytes",
        lambda: verify_membership(ROOT[:31], PRESENT, PRESENT_VALUE, GOOD),
        MalformedProof,
    ),
]


@pytest.mark.parametrize(
    ("case", "call", "error"), MEMBERSHIP_CASES, ids=[c[0] for c in MEMBERSHIP_CASES]
)
def test_tampered_and_misapplied_proofs_fail_with_the_exact_error(
    case: str, call: Callable[[], object], error: type[LedgerError]
) -> None:
    with pytest.raises(LedgerError) as raised:
        call()
    assert type(raised.value) is error, case


def test_the_untampered_proofs_verify() -> None:
    assert verify_membership(ROOT, PRESENT, PRESENT_VALUE, GOOD).present
    assert verify_non_membership(ROOT, ABSENT_OFF_PATH, ABSENT_PROOF).present is False


def test_the_reports_carry_the_same_codes() -> None:
    assert check_membership(ROOT, PRESENT, PRESENT_VALUE, GOOD)
    bad = check_membership(ROOT, PRESENT, b"\x99", GOOD)
    assert not bad
    assert bad.code == "map_value_mismatch"
    assert check_non_membership(ROOT, PRESENT, GOOD).code == "map_key_present"
    assert check_non_membership(ROOT, PRESENT, GOOD[:-1]).code == "malformed_proof"
    assert check_membership(bytes(32), PRESENT, PRESENT_VALUE, GOOD).code == "map_proof_invalid"


# --- Canonical bytes -----------------------------------------------------------------------------


def _spell(flags: list[bool], siblings: list[bytes], end: bytes) -> bytes:
    """Proof bytes written by hand: depth, bitmap from ``flags``, ``siblings``, ``end``."""
    bitmap = bytearray((len(flags) + 7) // 8)
    for i, flag in enumerate(flags):
        if flag:
            bitmap[i >> 3] |= 0x80 >> (i & 7)
    return len(flags).to_bytes(2, "big") + bytes(bitmap) + b"".join(siblings) + end


def test_one_proof_has_one_spelling() -> None:
    proof = MAP.prove(PRESENT)
    present = [s for s in proof.siblings if s != MAP_EMPTY_HASH]
    flags = [s != MAP_EMPTY_HASH for s in proof.siblings]
    end = GOOD[-65:]
    assert _spell(flags, present, end) == GOOD
    # An empty sibling spelled out as a hash instead of a zero bit in the bitmap.
    with pytest.raises(MalformedProof, match="empty sibling as a hash"):
        decode_proof(_spell([*flags, True], [*present, MAP_EMPTY_HASH], end))
    # A path ending next to an empty sibling is never canonical (the parent would be the leaf).
    with pytest.raises(MalformedProof, match="next to an empty sibling"):
        decode_proof(_spell([*flags, False], present, end))
    # Padding bits of the bitmap set.
    depth = len(flags)
    padded = bytearray(GOOD)
    padded[2 + (depth + 7) // 8 - 1] |= 1 if depth % 8 else 0
    if depth % 8:
        with pytest.raises(MalformedProof, match="beyond its depth"):
            decode_proof(bytes(padded))


def test_a_leaf_proof_with_siblings_ends_next_to_a_non_empty_one() -> None:
    tree = SparseMerkleMap()
    tree.append_values(1, {b"a": b"1", b"b": b"2"})
    for key in (b"a", b"b"):
        proof = tree.prove(key)
        assert proof.siblings[-1] != MAP_EMPTY_HASH
        assert verify_map_proof(tree.root, key, proof.to_bytes()).present


# --- Versions and the store ----------------------------------------------------------------------


def test_versions_must_move_forward_and_roots_are_kept() -> None:
    tree = SparseMerkleMap()
    tree.append_values(3, {b"a": b"1"})
    with pytest.raises(InvalidParameter):
        tree.append_values(3, {b"b": b"1"})
    with pytest.raises(InvalidParameter):
        tree.append_values(2, {b"b": b"1"})
    tree.append_values(5, {})  # no change still records the size
    assert tree.store.root_at(5) == tree.store.root_at(3) != MAP_EMPTY_HASH
    assert tree.store.root_at(0) == MAP_EMPTY_HASH
    with pytest.raises(NotFound):
        tree.store.root_at(4)  # sizes inside a batch have no root of their own
    with pytest.raises(NotFound):
        tree.prove(b"a", 4)


def test_the_store_only_grows_and_holds_each_node_under_its_hash() -> None:
    store = MemoryNodeStore()
    tree = SparseMerkleMap(store)
    tree.append_values(1, {bytes([i]): b"x" for i in range(50)})
    before = dict(store.nodes)
    tree.append_values(2, {bytes([i]): b"y" for i in range(0, 100, 7)})
    assert all(store.nodes[h] == node for h, node in before.items())  # nothing overwritten
    for h, node in store.nodes.items():
        assert hash_of(node) == h
        assert isinstance(node, MapLeaf) or (type(node) is tuple and len(node) == 2)
    with pytest.raises(InvalidParameter):
        store.put_root(1, bytes(32))
    with pytest.raises(NotFound):
        store.get_node(bytes(32))
    # A map reopened over the store at an old version answers as it did then.
    reopened = SparseMerkleMap(store, version=1)
    assert reopened.get(bytes([0])) == b"x"
    assert tree.get(bytes([0])) == b"xy"


def test_no_single_bit_change_to_a_proof_verifies() -> None:
    """Every bit of a membership and of a non-membership proof matters: flipping any one of
    them makes verification fail (malformed, or not leading to the root, or another answer)."""
    for key, proof, check in (
        (PRESENT, GOOD, lambda data: verify_membership(ROOT, PRESENT, PRESENT_VALUE, data)),
        (
            ABSENT_OFF_PATH,
            ABSENT_PROOF,
            lambda data: verify_non_membership(ROOT, ABSENT_OFF_PATH, data),
        ),
    ):
        check(proof)
        for at in range(len(proof)):
            for bit in range(8):
                changed = proof[:at] + bytes([proof[at] ^ (1 << bit)]) + proof[at + 1 :]
                with pytest.raises(
                    (MalformedProof, MapProofInvalid, MapKeyAbsent, MapValueMismatch, MapKeyPresent)
                ):
                    check(changed)
        assert key  # both proofs were exercised


def test_proof_objects_are_checked_like_bytes() -> None:
    proof = MAP.prove(PRESENT)
    with pytest.raises(MalformedProof):
        verify_map_proof(ROOT, PRESENT, MapProof((*proof.siblings[:-1], b"short"), proof.leaf))
    with pytest.raises(MalformedProof):
        verify_map_proof(ROOT, PRESENT, MapProof((b"\x01" * 32,) * 257, proof.leaf))
    assert verify_map_proof(ROOT, PRESENT, proof).present
