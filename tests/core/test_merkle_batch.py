"""``merkle.inclusion_proofs`` (one read for many) equals ``inclusion_proof`` leaf by leaf."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import merkle
from ledger.core.encoding import sha256
from ledger.core.errors import InvalidParameter


class CountingStore(merkle.MemoryHashStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        self.reads += 1
        return super().read_hashes(indexes)


def _store(size: int) -> CountingStore:
    store = CountingStore()
    store.append_leaf_hashes([sha256(i.to_bytes(8, "big")) for i in range(size)])
    store.reads = 0
    return store


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_batch_equals_single_proofs(size: int, data: st.DataObject) -> None:
    store = _store(size)
    indexes = data.draw(st.lists(st.integers(min_value=0, max_value=size - 1), max_size=20))
    batch = merkle.inclusion_proofs(size, indexes, store)
    assert store.reads <= 1
    assert batch == [merkle.inclusion_proof(size, i, store) for i in indexes]


@pytest.mark.parametrize("index", [-1, 7])
def test_batch_refuses_leaves_outside_the_tree(index: int) -> None:
    with pytest.raises(InvalidParameter):
        merkle.inclusion_proofs(7, [0, index], _store(7))
