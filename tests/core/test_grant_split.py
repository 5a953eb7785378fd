"""``builders.grants_for_items``: as few grants as needed, each leaf within 65,535 bytes."""

from __future__ import annotations

import itertools

import pytest

from ledger.core import builders
from ledger.core.canonical import canonicalize
from ledger.core.leaf import MAX_LEAF_SIZE, leaf_size
from ledger.core.statements import Grant
from tests.support.factories import seeded_key


def items(n: int) -> list[builders.Item]:
    return [
        builders.Item(sha256=f"{i:064x}", bytes=10**9 + i, duration_s=i, media_type="video/mp4")
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [1, 2, 300, 301, 1000, 2500])
def test_split_keeps_every_item_in_order_and_fits(n: int) -> None:
    creator, buyer = seeded_key(1), seeded_key(2)
    signed = builders.grants_for_items(creator, buyer.key_id, items(n), builders.TermsSpec())
    grants = [s.statement for s in signed]
    assert all(isinstance(g, Grant) for g in grants)
    listed = [c.sha256 for g in grants if isinstance(g, Grant) for c in g.content]
    assert listed == [i.sha256 for i in items(n)]
    assert all(leaf_size(s) <= MAX_LEAF_SIZE for s in signed)
    assert len({g.grant_id for g in grants if isinstance(g, Grant)}) == len(signed)
    # greedy packing: each grant is full, the first item of the next one would not have fitted
    for full, following in itertools.pairwise(grants):
        assert isinstance(full, Grant)
        assert isinstance(following, Grant)
        first = following.content[0]
        extra = 1 + len(
            canonicalize(
                {
                    "sha256": first.sha256,
                    "bytes": first.bytes,
                    "duration_s": first.duration_s,
                    "media_type": first.media_type,
                }
            )
        )
        size = next(leaf_size(s) for s in signed if s.statement is full)
        assert size + extra > MAX_LEAF_SIZE


def test_each_grant_gets_a_fresh_id_from_the_factory() -> None:
    ids = iter(f"00000000-0000-4000-8000-{i:012x}" for i in range(100))
    creator, buyer = seeded_key(1), seeded_key(2)
    signed = builders.grants_for_items(
        creator, buyer.key_id, items(700), builders.TermsSpec(), new_grant_id=lambda: next(ids)
    )
    grant_ids = [s.statement.grant_id for s in signed if isinstance(s.statement, Grant)]
    assert len(grant_ids) == len(signed) > 1
    assert len(set(grant_ids)) == len(grant_ids)
