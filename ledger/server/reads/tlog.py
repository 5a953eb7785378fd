"""Read side of the tlog-tiles API and of tlog-proof files, from the stored hashes.

Tiles, entry bundles and proof files are served only inside the *published* tree
(``ledger.server.reads.published.published_checkpoint``: cosigned to the witness quorum when a
policy is set), never the signed one. Tile hashes are stored hashes read by index (Go sumdb
layout), never recomputed.

Full tiles never change once they exist, so a bounded in-process cache serves them without
touching the database (a full tile in the cache was inside the published tree when it was read,
and the published tree only grows).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy.orm import Session

from ledger.core import merkle
from ledger.core.errors import MissingTreeHash, NotFound
from ledger.core.merkle import stored_hash_count
from ledger.core.tiles import TILE_WIDTH, Tile, encode_entry_bundle, tile_in_tree
from ledger.core.tlogproof import format_proof
from ledger.server.reads.published import published_checkpoint, published_size
from ledger.server.storage import repository as repo

#: How the tlog-tiles resources are served (docs/FORMAT.md §9.1), by the view, the fast paths and
#: the static publisher alike. Full tiles and full entry bundles never change: any cache may keep
#: them forever. The checkpoint moves; partial tiles are superseded by wider ones: briefly only.
IMMUTABLE = "public, max-age=31536000, immutable"
CHECKPOINT_CACHE = "public, max-age=2"
PARTIAL_CACHE = "public, max-age=10"
OCTETS = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"


def tile_cache_control(tile: Tile) -> str:
    """The ``Cache-Control`` of a tile or entry bundle: immutable when full."""
    return IMMUTABLE if tile.is_full else PARTIAL_CACHE


def read_tile(session: Session, tile: Tile, tree_size: int) -> bytes:
    """The tile's bytes (hashes concatenated); raises NotFound outside a tree of ``tree_size``."""
    if not tile_in_tree(tile, tree_size):
        raise NotFound(f"{tile.path()} is not in the published tree of size {tree_size}")
    indexes = tile.stored_hash_indexes()
    if tile.level == 0:
        # Level-0 hashes of one tile sit within ~2 * width consecutive stored indexes: one
        # primary-key range scan instead of a 256-item IN list.
        first_leaf = tile.index * TILE_WIDTH
        found = repo.read_tree_hash_range(session, stored_hash_count(first_leaf), indexes[-1])
        try:
            return b"".join(found[i] for i in indexes)
        except KeyError as e:
            raise MissingTreeHash(f"stored tree hash {e.args[0]} missing") from e
    return b"".join(repo.read_tree_hashes(session, indexes))


def read_entry_bundle(session: Session, tile: Tile, tree_size: int) -> bytes:
    """The entry bundle's bytes; raises NotFound outside a tree of ``tree_size``."""
    if not tile_in_tree(tile, tree_size):
        raise NotFound(f"{tile.path()} is not in the published tree of size {tree_size}")
    start = tile.index * TILE_WIDTH
    leaves = repo.entry_leaves(session, start, start + tile.width)
    if len(leaves) != tile.width:
        raise MissingTreeHash(f"entries {start}..{start + tile.width - 1} incomplete")
    return encode_entry_bundle(leaves)


def published_tile(session: Session, tile: Tile, *, witnessed: bool) -> bytes:
    """A hash tile's or an entry bundle's bytes, if inside the published tree (NotFound if not):
    what ``/tlog/tile/...`` serves."""
    size = published_size(session, witnessed=witnessed)
    if tile.is_entries:
        return read_entry_bundle(session, tile, size)
    return read_tile(session, tile, size)


def entry_proof(session: Session, seq: int, witnessed: bool) -> str:
    """The tlog-proof@v1 file of entry ``seq`` against the published checkpoint.

    The leaf bytes go in the ``extra`` line. Raises NotFound if the entry is not (yet) inside the
    published tree.
    """
    published = published_checkpoint(session, witnessed=witnessed)
    if published is None or seq >= published.tree_size:
        raise NotFound(f"entry {seq} is not in a published checkpoint (yet)")
    size, note = published
    entry = repo.get_entry(session, seq)
    if entry is None:
        raise NotFound(f"no entry {seq}")
    hashes = merkle.inclusion_proof(size, seq, repo.SessionHashReader(session))
    return format_proof(seq, hashes, note, extra=bytes(entry.leaf))


class FullTileCache:
    """A bounded LRU of full hash tiles by (level, index); thread-safe."""

    def __init__(self, capacity: int = 2048) -> None:
        self.capacity = capacity
        self._tiles: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        #: The same tiles by canonical path, for the WSGI fast path (one dict lookup).
        self._paths: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, tile: Tile) -> bytes | None:
        if not tile.is_full or tile.level is None:
            return None
        key = (tile.level, tile.index)
        with self._lock:
            data = self._tiles.get(key)
            if data is not None:
                self._tiles.move_to_end(key)
            return data

    def get_path(self, path: str) -> bytes | None:
        """The cached tile at a path (after ``tile/``) exactly as the view would parse it;
        None for anything else, malformed paths included (the app answers those)."""
        return self._paths.get(path)  # one dict read: atomic, no lock needed on the hot path

    def put(self, tile: Tile, data: bytes) -> None:
        if not tile.is_full or tile.level is None:
            return
        with self._lock:
            self._tiles[(tile.level, tile.index)] = data
            self._paths[tile.path().removeprefix("tile/")] = data
            while len(self._tiles) > self.capacity:
                (level, index), _ = self._tiles.popitem(last=False)
                self._paths.pop(Tile(level, index).path().removeprefix("tile/"), None)
