"""``InclusionBatch`` accepts and refuses exactly what ``merkle.verify_inclusion`` does, call by
call, whatever it accepted before: every flipped sibling of every proof still fails."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import merkle
from ledger.core.errors import LedgerError
from ledger.core.multiproof import InclusionBatch

SIZES = [*range(1, 34), 63, 64, 65, 100, 255, 257]


def _tree(n: int) -> tuple[list[bytes], bytes, list[tuple[bytes, ...]]]:
    leaves = [merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(n)]
    store = merkle.MemoryHashStore()
    store.append_leaf_hashes(leaves)
    root = merkle.tree_hash(n, store)
    return leaves, root, [tuple(merkle.inclusion_proof(n, i, store)) for i in range(n)]


def _flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def _outcome(call: object, *args: object) -> str | None:
    """None when the call returns, else the exception's class and message."""
    try:
        call(*args)  # type: ignore[operator]
    except LedgerError as e:
        return f"{type(e).__name__}: {e.message}"
    return None


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("order", ["up", "down", "shuffled"])
def test_every_honest_proof_verifies_in_any_order(n: int, order: str) -> None:
    leaves, root, proofs = _tree(n)
    indexes = list(range(n))
    if order == "down":
        indexes.reverse()
    elif order == "shuffled":
        random.Random(n).shuffle(indexes)
    batch = InclusionBatch(n, root)
    for i in indexes:
        batch.verify(i, leaves[i], proofs[i])
    for i in indexes:  # again, now that every state is known
        batch.verify(i, leaves[i], proofs[i])


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "after-all-honest"])
def test_each_flipped_sibling_fails_as_it_fails_alone(n: int, warm: bool) -> None:
    leaves, root, proofs = _tree(n)
    batch = InclusionBatch(n, root)
    if warm:  # the shortcut knows every node of the tree: it must still see each change
        for i in range(n):
            batch.verify(i, leaves[i], proofs[i])
    for i in range(n):
        for j in range(len(proofs[i])):
            for bit in (0, 7):
                bad = list(proofs[i])
                bad[j] = _flip(bad[j], bit)
                expected = _outcome(merkle.verify_inclusion, i, n, leaves[i], bad, root)
                assert expected is not None
                assert _outcome(batch.verify, i, leaves[i], bad) == expected, (i, j)
        # the leaf hash itself, too
        assert _outcome(batch.verify, i, _flip(leaves[i]), proofs[i]) is not None


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 100])
def test_malformed_calls_fail_with_the_single_proof_errors(n: int) -> None:
    leaves, root, proofs = _tree(n)
    batch = InclusionBatch(n, root)
    for i in range(n):
        batch.verify(i, leaves[i], proofs[i])
    last = n - 1
    cases = [
        (n, leaves[last], proofs[last]),  # index beyond the tree
        (-1, leaves[0], proofs[0]),
        (last, leaves[last][:31], proofs[last]),  # a short leaf hash
        (last, leaves[last], (*proofs[last], root)),  # one hash too many
        (last, leaves[last], (*proofs[last], b"x")),
    ]
    if proofs[last]:
        cases += [
            (last, leaves[last], proofs[last][:-1]),  # one too few
            (last, leaves[last], (proofs[last][0][:31], *proofs[last][1:])),  # a short hash
            (last, leaves[last], (proofs[last][0] + b"\0", *proofs[last][1:])),
        ]
    if n > 1:
        cases.append((0, leaves[0], proofs[1]))  # another leaf's proof
    for index, leaf, proof in cases:
        expected = _outcome(merkle.verify_inclusion, index, n, leaf, proof, root)
        assert expected is not None
        assert _outcome(batch.verify, index, leaf, proof) == expected, (index, proof)


def test_a_wrong_root_refuses_every_proof() -> None:
    leaves, root, proofs = _tree(20)
    for wrong in (_flip(root), root[:31]):
        batch = InclusionBatch(20, wrong)
        for i in range(20):
            expected = _outcome(merkle.verify_inclusion, i, 20, leaves[i], proofs[i], wrong)
            assert expected is not None
            assert _outcome(batch.verify, i, leaves[i], proofs[i]) == expected


def test_lists_and_tuples_are_the_same_proof() -> None:
    leaves, root, proofs = _tree(10)
    batch = InclusionBatch(10, root)
    for i in range(10):
        batch.verify(i, leaves[i], list(proofs[i]) if i % 2 else proofs[i])
    bad = list(proofs[3])
    bad[-1] = _flip(bad[-1])
    with pytest.raises(LedgerError):
        batch.verify(3, leaves[3], bad)


_TAMPERS = st.sampled_from(["none", "sibling", "leaf", "other-proof", "drop", "extra"])


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=1, max_value=140),
    st.lists(st.tuples(st.integers(min_value=0), _TAMPERS, st.integers(min_value=0)), max_size=60),
)
def test_any_sequence_of_calls_matches_the_single_proof_check(
    n: int, calls: list[tuple[int, str, int]]
) -> None:
    """Honest and tampered proofs interleaved, in any order: each call's outcome is exactly
    ``verify_inclusion``'s (class and message)."""
    leaves, root, proofs = _tree(n)
    batch = InclusionBatch(n, root)
    for raw_index, tamper, k in calls:
        i = raw_index % n
        leaf, proof = leaves[i], list(proofs[i])
        if tamper == "sibling" and proof:
            j = k % len(proof)
            proof[j] = _flip(proof[j], k % 8)
        elif tamper == "leaf":
            leaf = _flip(leaf, k % 8)
        elif tamper == "other-proof":
            proof = list(proofs[k % n])
        elif tamper == "drop" and proof:
            del proof[k % len(proof)]
        elif tamper == "extra":
            proof.insert(k % (len(proof) + 1), hashlib.sha256(bytes([k % 256])).digest())
        expected = _outcome(merkle.verify_inclusion, i, n, leaf, proof, root)
        assert _outcome(batch.verify, i, leaf, proof) == expected
