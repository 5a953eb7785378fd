"""The auditor's map parts (``ledger.core.mapaudit``): a store that keeps only the latest map gives
the roots of the full store while holding exactly the nodes reachable from its root; the replay
folds entries as an audit does; and ``first_difference`` names the first differing key in
key-hash order, wherever two maps differ, without trusting the other map's nodes."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.errors import InvalidParameter, MapProofInvalid, NotFound
from ledger.core.licmap import (
    AuditedStatement,
    LicenceMap,
    content_key,
    derive_map,
    encode_seqs,
)
from ledger.core.mapaudit import (
    LatestNodeStore,
    MapDifference,
    MapReplay,
    checked_reader,
    first_difference,
    first_key_under,
)
from ledger.core.vmap import (
    MAP_EMPTY_HASH,
    MapLeaf,
    MemoryNodeStore,
    SparseMerkleMap,
    key_hash,
)
from tests.core.test_licmap import ACTIONS, CONTENT, history

KEYS = st.binary(min_size=1, max_size=4)
BATCHES = st.lists(
    st.dictionaries(KEYS, st.binary(min_size=1, max_size=3), max_size=30), max_size=10
)


def reachable(store: LatestNodeStore | MemoryNodeStore, root: bytes) -> set[bytes]:
    seen: set[bytes] = set()
    stack = [root]
    while stack:
        at = stack.pop()
        if at == MAP_EMPTY_HASH or at in seen:
            continue
        seen.add(at)
        node = store.get_node(at)
        if not isinstance(node, MapLeaf):
            stack.extend(node)
    return seen


@settings(max_examples=80, deadline=None)
@given(BATCHES)
def test_the_latest_store_holds_the_latest_tree_and_nothing_else(
    batches: list[dict[bytes, bytes]],
) -> None:
    full, latest = SparseMerkleMap(), SparseMerkleMap(LatestNodeStore())
    store = latest.store
    assert isinstance(store, LatestNodeStore)
    for version, batch in enumerate(batches, start=1):
        assert latest.append_values(version, batch) == full.append_values(version, batch)
        assert set(store.nodes) == reachable(store, latest.root)  # no orphan, none missing
        assert set(store.refs) == set(store.nodes)
        assert dict(latest.items()) == dict(full.items())
    assert len(store.nodes) <= len(full.store.nodes)  # type: ignore[attr-defined]
    if len(batches) > 1 and any(batches[1:]):
        with pytest.raises(NotFound):
            store.root_at(1)


def test_the_latest_store_stays_flat_while_the_full_store_grows() -> None:
    """One key updated 200 times: the full store keeps every version's path, the latest one
    the current tree only."""
    keys = [b"k%d" % i for i in range(64)]
    full, latest = SparseMerkleMap(), SparseMerkleMap(LatestNodeStore())
    full.append_values(1, dict.fromkeys(keys, b"\x00"))
    latest.append_values(1, dict.fromkeys(keys, b"\x00"))
    size_after_one = len(latest.store.nodes)  # type: ignore[attr-defined]
    for version in range(2, 202):
        full.append_values(version, {keys[version % 64]: b"\x01"})
        latest.append_values(version, {keys[version % 64]: b"\x01"})
    assert latest.root == full.root
    assert len(latest.store.nodes) == size_after_one  # type: ignore[attr-defined]
    assert len(full.store.nodes) > 5 * size_after_one  # type: ignore[attr-defined]


@settings(max_examples=60, deadline=None)
@given(ACTIONS, st.lists(st.integers(1, 5), max_size=8), st.sampled_from([1, 2, 5, 200_000]))
def test_the_replay_gives_the_roots_of_the_derivation(
    actions: list[tuple[str, int, int, int]], cuts: list[int], batch_keys: int
) -> None:
    """Whatever the versions the replay applies on its own (every ``batch_keys`` keys) and the
    sizes a root is asked at, each root is the derivation's from scratch."""
    log = history(actions)
    replay = MapReplay(batch_keys)
    checkpoints = {0, len(log.parsed)}
    position = 0
    for cut in cuts:
        position += cut
        checkpoints.add(min(position, len(log.parsed)))
    assert replay.root_at(0) == MAP_EMPTY_HASH
    for leaf in log.parsed:
        signed = leaf.signed
        replay.add(leaf.seq, AuditedStatement(signed.statement, signed.statement_hash))
        if replay.size in checkpoints:
            assert replay.root_at(replay.size) == derive_map(log.parsed[: replay.size]).root
    assert len(replay.store.nodes) == len(reachable(replay.store, replay.map.root))


def test_the_replay_refuses_a_gap_or_a_size_it_does_not_hold() -> None:
    log = history([("register", 0, 0, 0), ("register", 1, 1, 0)])
    replay = MapReplay()
    with pytest.raises(InvalidParameter):
        replay.add(1, log.parsed[1].signed)
    replay.add(0, log.parsed[0].signed)
    with pytest.raises(InvalidParameter):
        replay.root_at(2)


# --- first_difference -----------------------------------------------------------------------------


def map_of(contents: dict[bytes, bytes]) -> SparseMerkleMap:
    tree = SparseMerkleMap()
    if contents:
        tree.append_values(1, contents)
    return tree


def expected_first(a: dict[bytes, bytes], b: dict[bytes, bytes]) -> bytes | None:
    differing = [k for k in a.keys() | b.keys() if a.get(k) != b.get(k)]
    return min(differing, key=key_hash) if differing else None


CONTENTS = st.dictionaries(KEYS, st.binary(min_size=1, max_size=2), max_size=40)
EDITS = st.lists(
    st.tuples(st.sampled_from(["drop", "add", "change"]), KEYS, st.binary(min_size=1, max_size=2)),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(CONTENTS, EDITS)
def test_first_difference_names_the_smallest_differing_key_hash(
    contents: dict[bytes, bytes], edits: list[tuple[str, bytes, bytes]]
) -> None:
    other = dict(contents)
    for kind, key, value in edits:
        if kind == "drop" and other:
            other.pop(sorted(other)[key[0] % len(other)])
        elif kind == "add":
            other[key] = value
        elif other:
            target = sorted(other)[key[0] % len(other)]
            other[target] = other[target] + value
    mine, theirs = map_of(contents), map_of(other)
    found = first_difference(
        mine.root, mine.store.get_node, theirs.root, checked_reader(theirs.store.get_node)
    )
    want = expected_first(contents, other)
    if want is None:
        assert found is None
        return
    assert found is not None
    assert (found.key, found.expected, found.claimed) == (want, contents.get(want), other.get(want))
    assert found.key_hash == key_hash(want)


def test_a_node_that_does_not_hash_to_its_name_is_refused() -> None:
    mine, theirs = map_of({b"a": b"1", b"b": b"2"}), map_of({b"a": b"1", b"b": b"3"})

    def lying(h: bytes) -> MapLeaf | tuple[bytes, bytes]:
        node = theirs.store.get_node(h)
        return node if isinstance(node, MapLeaf) else (node[1], node[0])

    with pytest.raises(MapProofInvalid):
        first_difference(mine.root, mine.store.get_node, theirs.root, checked_reader(lying))


def test_a_node_the_other_map_lacks_is_not_found() -> None:
    mine, theirs = map_of({b"a": b"1", b"b": b"2"}), map_of({b"a": b"1", b"b": b"3"})
    with pytest.raises(NotFound):
        first_difference(mine.root, mine.store.get_node, theirs.root, MemoryNodeStore().get_node)


def test_the_difference_says_which_licence_key_and_seqs() -> None:
    clip = hashlib.sha256(b"clip").hexdigest()
    diff = MapDifference(
        key_hash(content_key(clip)), content_key(clip), encode_seqs([4, 9]), encode_seqs([4])
    )
    assert diff.describe() == (
        f"content {clip}: the entries list seqs 4, 9, the log's map lists seqs 4"
    )
    absent = MapDifference(b"\x07" * 32, None, None, b"\x00")
    assert absent.describe() == (
        f"key hash {'07' * 32}: the entries list nothing (no such key), "
        "the log's map lists the value 00 (not a list of seqs)"
    )


def test_first_key_under() -> None:
    contents = {b"k%d" % i: b"v" for i in range(20)}
    tree = map_of(contents)
    leaf = first_key_under(tree.root, tree.store.get_node)
    assert leaf is not None
    assert leaf.key == min(contents, key=key_hash)
    assert first_key_under(MAP_EMPTY_HASH, tree.store.get_node) is None


def test_a_licence_map_over_the_latest_store_proves_at_its_latest_size() -> None:
    log = history([("register", 0, 0, 0), ("grant", 0, 1, 3), ("accept", 1, 1, 0)])
    licence_map = LicenceMap(LatestNodeStore())
    licence_map.apply(log.parsed)
    assert licence_map.root == derive_map(log.parsed).root
    assert licence_map.get(content_key(CONTENT[3])) == (1,)


def test_a_replay_of_both_versions_follows_a_log_that_moved_to_version_2() -> None:
    """FORMAT §14.6: a replay made for versions 1 and 2 gives each checkpoint the root of the
    version its line names, drops version 1 once a version-2 root is asked for, and refuses a
    version-1 root after that (a log's map version never goes back)."""
    log = history([("register", 0, 0, 0), ("register", 1, 0, 0), ("grant", 0, 1, 7)])
    replay = MapReplay(versions=(1, 2))
    for leaf in log.parsed[:2]:
        replay.add(leaf.seq, leaf.signed)
    assert replay.root_at(2, 1) == derive_map(log.parsed[:2], version=1).root
    replay.add(2, log.parsed[2].signed)
    assert replay.root_at(3, 2) == derive_map(log.parsed).root
    assert replay.root_at(3, 2) != derive_map(log.parsed, version=1).root
    with pytest.raises(InvalidParameter, match="never goes back"):
        replay.root_at(3, 1)
    assert list(replay.maps) == [2]
