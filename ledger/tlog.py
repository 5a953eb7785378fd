"""Read side of the tlog-tiles API and of tlog-proof files, from the stored hashes.

The *published* checkpoint is what a tlog client may rely on: without a witness policy it is the
log's latest signed checkpoint; with one it is the latest checkpoint whose cosignatures met the
quorum (``cosigned_checkpoints``). Tiles and entry bundles are served only inside the published
tree. Tile hashes are stored hashes read by index (Go sumdb layout), never recomputed.

Full tiles never change once they exist, so a bounded in-process cache serves them without
touching the database (a full tile in the cache was inside the published tree when it was read,
and the published tree only grows).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from . import repository as repo
from .core import merkle
from .core.errors import MissingTreeHash, NotFound
from .core.merkle import stored_hash_count
from .core.tiles import TILE_WIDTH, Tile, encode_entry_bundle, tile_in_tree
from .core.tlogproof import format_proof

if TYPE_CHECKING:
    from .publisher import WitnessPublisher


def published_checkpoint(session: Session, witnessed: bool) -> tuple[int, str] | None:
    """``(tree size, note)`` of the published checkpoint, or None before the first one."""
    row = repo.latest_cosigned_checkpoint(session) if witnessed else repo.latest_checkpoint(session)
    return None if row is None else (row.tree_size, row.note)


def published_size(session: Session, witnessed: bool) -> int:
    published = published_checkpoint(session, witnessed)
    return 0 if published is None else published[0]


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


def entry_proof(session: Session, seq: int, witnessed: bool) -> str:
    """The tlog-proof@v1 file of entry ``seq`` against the published checkpoint.

    The leaf bytes go in the ``extra`` line. Raises NotFound if the entry is not (yet) inside the
    published tree.
    """
    published = published_checkpoint(session, witnessed)
    if published is None or seq >= published[0]:
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


class TlogState:
    """What the tlog views need, kept in ``app.extensions["tlog"]``."""

    def __init__(self, witnessed: bool) -> None:
        #: True when a witness policy is configured: only cosigned checkpoints are published.
        self.witnessed = witnessed
        self.tile_cache = FullTileCache()
        #: The witness publisher, with a witness policy only.
        self.publisher: WitnessPublisher | None = None
