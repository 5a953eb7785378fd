"""Tile math (c2sp.org/tlog-tiles): paths, which tiles a tree has, tile hashing. ``core.tiles``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import merkle
from ledger.core.errors import InvalidParameter, MalformedTilePath
from ledger.core.merkle import MemoryHashStore, root_from_leaf_hashes
from ledger.core.tiles import (
    TILE_WIDTH,
    Tile,
    encode_entry_bundle,
    encode_index,
    parse_tile_path,
    partial_width,
    root_from_tiles,
    split_entry_bundle,
    split_tile,
    tile_in_tree,
    tile_root,
    tiles_for_size,
)


@pytest.mark.parametrize(
    ("index", "path"),
    [
        (0, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),  # the spec's example
        (2**64 - 1, "x018/x446/x744/x073/x709/x551/615"),
    ],
)
def test_index_encoding_round_trips(index: int, path: str) -> None:
    assert encode_index(index) == path
    assert parse_tile_path(f"3/{path}") == Tile(3, index)
    assert parse_tile_path(f"entries/{path}.p/17") == Tile(None, index, 17)


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (Tile(0, 0), "tile/0/000"),
        (Tile(1, 5, 1), "tile/1/005.p/1"),
        (Tile(None, 1234067, 255), "tile/entries/x001/x234/067.p/255"),
        (Tile(63, 1), "tile/63/001"),
    ],
)
def test_tile_paths(tile: Tile, path: str) -> None:
    assert tile.path() == path
    assert parse_tile_path(path.removeprefix("tile/")) == tile


@pytest.mark.parametrize(
    "path",
    [
        "",
        "0",
        "00/000",  # level with a leading zero
        "64/000",  # level beyond 63
        "-1/000",
        "a/000",
        "0/00",  # last group not 3 digits
        "0/0000",
        "0/x000/001",  # leading x000 group: one index, one path
        "0/001/001",  # inner group without x
        "0/x1/001",
        "0/000.p/0",  # width 0
        "0/000.p/256",  # a full tile has no .p
        "0/000.p/07",  # width with a leading zero
        "0/000.p/",
        "0/000.p",
        "0/000/.p/5",
        "0/000.x/5",
        "entries",
        "entries/000.p/300",
        "0/x001/x002/x003/x004/x005/x006/x007/008",  # beyond 2**64
        "0/000/",
    ],
)
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(MalformedTilePath):
        parse_tile_path(path)


def test_tiles_for_the_spec_examples() -> None:
    # tlog-tiles: "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
    # partial level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of
    # width 17, and one partial level 2 tile of width 1".
    tiles = list(tiles_for_size(70_000))
    level0 = [t for t in tiles if t.level == 0]
    assert [t for t in level0 if t.is_full] == [Tile(0, n) for n in range(273)]
    assert [t for t in level0 if not t.is_full] == [Tile(0, 273, 112)]
    assert [t for t in tiles if t.level == 1] == [Tile(1, 0), Tile(1, 1, 17)]
    assert [t for t in tiles if t.level == 2] == [Tile(2, 0, 1)]
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile
    # of width 1".
    assert list(tiles_for_size(256)) == [Tile(0, 0), Tile(1, 0, 1)]
    assert list(tiles_for_size(0)) == []
    assert partial_width(1, 70_000) == 17


@pytest.mark.parametrize(
    ("tile", "size", "inside"),
    [
        (Tile(0, 0), 255, False),
        (Tile(0, 0), 256, True),
        (Tile(0, 0, 255), 255, True),
        (Tile(0, 0, 255), 254, False),
        (Tile(1, 0, 1), 255, False),
        (Tile(1, 0, 1), 256, True),
        (Tile(2, 0, 1), 65_536, True),
        (Tile(2, 0, 1), 65_535, False),
        (Tile(None, 1, 1), 257, True),
        (Tile(None, 1, 2), 257, False),
    ],
)
def test_tile_in_tree(tile: Tile, size: int, inside: bool) -> None:
    assert tile_in_tree(tile, size) is inside


def _store(size: int) -> tuple[MemoryHashStore, list[bytes]]:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    store = MemoryHashStore()
    store.append_leaf_hashes(leaves)
    return store, leaves


def test_stored_hash_indexes_give_the_spec_tile_hashes() -> None:
    # hash i of tile (L, N) is MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L])
    store, leaves = _store(70_000)
    for tile in (Tile(0, 3), Tile(0, 273, 112), Tile(1, 0), Tile(1, 1, 17), Tile(2, 0, 1)):
        got = store.read_hashes(tile.stored_hash_indexes())
        span = TILE_WIDTH ** (tile.level or 0)
        first = tile.index * TILE_WIDTH
        want = [
            root_from_leaf_hashes(leaves[(first + i) * span : (first + i + 1) * span])
            for i in range(tile.width)
        ]
        assert got == want, tile
    with pytest.raises(InvalidParameter):
        Tile(None, 0).stored_hash_indexes()


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=70_000))
def test_root_from_tiles_matches_the_tree(size: int) -> None:
    store, _leaves = _store(size)

    def read(tile: Tile) -> list[bytes]:
        assert tile in set(tiles_for_size(size))
        return store.read_hashes(tile.stored_hash_indexes())

    assert root_from_tiles(size, read) == merkle.tree_hash(size, store)


def test_a_full_tile_root_is_one_hash_of_the_tile_above() -> None:
    store, _ = _store(512)
    above = store.read_hashes(Tile(1, 0, 2).stored_hash_indexes())
    for n in (0, 1):
        assert tile_root(store.read_hashes(Tile(0, n).stored_hash_indexes())) == above[n]


def test_entry_bundles_round_trip_with_u16_lengths() -> None:
    entries = [b"", b"a", b"\x00" * 300, b"x" * 65_535]
    data = encode_entry_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert data[5:7] == (300).to_bytes(2, "big")
    assert split_entry_bundle(data) == entries
    with pytest.raises(InvalidParameter):
        encode_entry_bundle([b"x" * 65_536])


@pytest.mark.parametrize("data", [b"\x00", b"\x00\x02a", b"\x00\x01a\x00"])
def test_truncated_entry_bundles_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedTilePath):
        split_entry_bundle(data)


def test_split_tile_checks_the_width() -> None:
    assert split_tile(b"\x01" * 64, 2) == [b"\x01" * 32] * 2
    with pytest.raises(MalformedTilePath):
        split_tile(b"\x01" * 63, 2)
