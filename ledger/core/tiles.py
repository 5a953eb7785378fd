"""Tiled transparency logs (c2sp.org/tlog-tiles): tile paths, which tiles exist, tile hashing.

A tile of level ``L`` and index ``N`` lists up to 256 consecutive Merkle tree hashes at tree
height ``8 * L``: hash ``i`` is ``MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L])``. A full
tile has 256 hashes (8,192 bytes); the rightmost tile of a level may be *partial* (1..255 hashes,
path suffix ``.p/<W>``). Entry bundles (``tile/entries/<N>``) hold the leaves behind level-0
tile ``N``, each prefixed with its length as a big-endian ``u16``.

Because the log stores every complete subtree hash in the Go sumdb layout
(``merkle.stored_hash_index``), hash ``i`` of tile ``(L, N)`` is the stored hash
``stored_hash_index(8 * L, N * 256 + i)``: serving a tile is a lookup, never a recomputation.

This module is pure (no I/O): path encoding and strict parsing, the set of tiles a tree of a given
size has, and the hashing a mirror needs to recompute tiles and the root from what it fetched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .encoding import HASH_SIZE
from .errors import InvalidParameter, MalformedTilePath
from .merkle import EMPTY_ROOT, node_hash, root_from_leaf_hashes, stored_hash_index

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes or entries in a full tile
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE  # 8,192
MAX_LEVEL = 63  # tlog-tiles: <L> is 0..63
MAX_ENTRY_SIZE = 0xFFFF  # the u16 length prefix of an entry bundle
ENTRIES = "entries"

_LEVEL_RE = re.compile(r"0|[1-9][0-9]?")
_WIDTH_RE = re.compile(r"[1-9][0-9]{0,2}")
_GROUP_RE = re.compile(r"x[0-9]{3}")
_LAST_RE = re.compile(r"[0-9]{3}")


@dataclass(frozen=True)
class Tile:
    """A tile coordinate: ``level`` (None for an entry bundle), ``index`` and ``width`` (1..256)."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= MAX_LEVEL:
            raise InvalidParameter(f"tile level must be 0..{MAX_LEVEL}")
        if self.index < 0:
            raise InvalidParameter("tile index must not be negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise InvalidParameter(f"tile width must be 1..{TILE_WIDTH}")

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def is_entries(self) -> bool:
        return self.level is None

    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` (no leading slash)."""
        head = ENTRIES if self.level is None else str(self.level)
        tail = "" if self.is_full else f".p/{self.width}"
        return f"tile/{head}/{encode_index(self.index)}{tail}"

    def min_tree_size(self) -> int:
        """The smallest tree that contains every hash (or entry) of this tile."""
        level = self.level or 0
        return (self.index * TILE_WIDTH + self.width) << (TILE_HEIGHT * level)

    def stored_hash_indexes(self) -> list[int]:
        """Where this tile's hashes live in the Go sumdb stored-hash layout (level tiles only)."""
        if self.level is None:
            raise InvalidParameter("an entry bundle has no stored hashes")
        height = TILE_HEIGHT * self.level
        first = self.index * TILE_WIDTH
        return [stored_hash_index(height, first + i) for i in range(self.width)]


def encode_index(n: int) -> str:
    """``1234067`` -> ``x001/x234/067``: zero-padded 3-digit groups, all but the last with ``x``."""
    if n < 0:
        raise InvalidParameter("tile index must not be negative")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def parse_tile_path(path: str) -> Tile:
    """Parse ``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]`` (the part after ``tile/``).

    Strict, as tlog-tiles spells it: a level 0..63 without leading zeros, index groups of exactly
    three digits (``x`` on all but the last; a leading ``x000`` group is refused so that one index
    has one path), a width 1..255 without leading zeros. Raises MalformedTilePath.
    """
    parts = path.split("/")
    if len(parts) < 2:
        raise MalformedTilePath("a tile path is <L>/<N>[.p/<W>] or entries/<N>[.p/<W>]")
    head, rest = parts[0], parts[1:]
    level = None if head == ENTRIES else _parse_level(head)
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        width = _parse_width(rest[-1])
        rest = [*rest[:-2], rest[-2][:-2]]
    return Tile(level, _parse_index(rest), width)


def _parse_level(text: str) -> int:
    if not _LEVEL_RE.fullmatch(text) or int(text) > MAX_LEVEL:
        raise MalformedTilePath(f"tile level must be 0..{MAX_LEVEL} without leading zeros")
    return int(text)


def _parse_width(text: str) -> int:
    if not _WIDTH_RE.fullmatch(text) or int(text) >= TILE_WIDTH:
        raise MalformedTilePath("a partial tile width is 1..255 without leading zeros")
    return int(text)


def _parse_index(groups: Sequence[str]) -> int:
    if not groups or not _LAST_RE.fullmatch(groups[-1]):
        raise MalformedTilePath("a tile index ends in a group of three digits")
    if any(not _GROUP_RE.fullmatch(g) for g in groups[:-1]):
        raise MalformedTilePath("every tile index group but the last is x followed by 3 digits")
    if len(groups) > 1 and groups[0] == "x000":
        raise MalformedTilePath("a tile index has no leading x000 group")
    if len(groups) > 7:  # 2**64 has 20 digits: 7 groups
        raise MalformedTilePath("tile index too large")
    return int("".join(g.lstrip("x") for g in groups))


# --- Which tiles a tree has ---------------------------------------------------------------------


def partial_width(level: int, tree_size: int) -> int:
    """Width of the partial tile at ``level`` for ``tree_size``: floor(s / 256**l) mod 256."""
    return (tree_size >> (TILE_HEIGHT * level)) % TILE_WIDTH


def tiles_for_size(tree_size: int) -> Iterator[Tile]:
    """Every tile (full, then the partial one if any) of each level for a tree of ``tree_size``.

    Level by level from 0, as tlog-tiles §Partial Tiles describes; the empty tree has no tiles.
    Entry bundles mirror the level-0 tiles (``Tile(None, n, w)``) and are not listed here.
    """
    level = 0
    while tree_size >> (TILE_HEIGHT * level):
        hashes_at_level = tree_size >> (TILE_HEIGHT * level)
        for n in range(hashes_at_level // TILE_WIDTH):
            yield Tile(level, n)
        width = partial_width(level, tree_size)
        if width:
            yield Tile(level, hashes_at_level // TILE_WIDTH, width)
        level += 1


def tile_in_tree(tile: Tile, tree_size: int) -> bool:
    """Whether ``tile`` can be served for a tree of ``tree_size`` (its hashes are all inside)."""
    return tile.min_tree_size() <= tree_size


# --- Encoding and hashing (for a mirror) --------------------------------------------------------


def split_tile(data: bytes, width: int) -> list[bytes]:
    """A tile's bytes to its hashes; raises MalformedTilePath unless it holds ``width`` hashes."""
    if len(data) != width * HASH_SIZE:
        raise MalformedTilePath(f"tile must be {width * HASH_SIZE} bytes, got {len(data)}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def tile_root(hashes: Sequence[bytes]) -> bytes:
    """MTH over a tile's hashes: for a full tile, hash ``N mod 256`` of tile ``(L+1, N / 256)``."""
    return root_from_leaf_hashes(hashes)


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Entries as an entry bundle: each is ``u16(len) || entry``; raises InvalidParameter."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise InvalidParameter(f"an entry is at most {MAX_ENTRY_SIZE} bytes")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def split_entry_bundle(data: bytes) -> list[bytes]:
    """An entry bundle to its entries; raises MalformedTilePath if a length runs past the end."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise MalformedTilePath("entry bundle ends inside a length prefix")
        size = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + size > len(data):
            raise MalformedTilePath("entry bundle ends inside an entry")
        entries.append(data[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return entries


def root_from_tiles(tree_size: int, read_tile: Callable[[Tile], Sequence[bytes]]) -> bytes:
    """MTH(D[tree_size]) from tiles, as a mirror computes it (RFC 9162 §2.1.1).

    The tree splits into complete subtrees, largest first; a subtree of height ``8L + r`` is the
    MTH of ``2**r`` consecutive hashes of one level-``L`` tile. ``read_tile`` returns a tile's
    hashes (the tile asked for is always one that ``tiles_for_size(tree_size)`` lists). No I/O of
    its own; raises InvalidParameter for a negative size.
    """
    if tree_size < 0:
        raise InvalidParameter("tree size must not be negative")
    pieces: list[bytes] = []
    start = 0
    while start < tree_size:
        height = (tree_size - start).bit_length() - 1
        level, r = divmod(height, TILE_HEIGHT)
        first = start >> (TILE_HEIGHT * level)  # index of the subtree's first hash at that level
        n, offset = divmod(first, TILE_WIDTH)
        width = min(TILE_WIDTH, (tree_size >> (TILE_HEIGHT * level)) - n * TILE_WIDTH)
        hashes = read_tile(Tile(level, n, width))
        pieces.append(tile_root(hashes[offset : offset + (1 << r)]))
        start += 1 << height
    if not pieces:
        return EMPTY_ROOT
    root = pieces[-1]
    for left in reversed(pieces[:-1]):
        root = node_hash(left, root)
    return root
