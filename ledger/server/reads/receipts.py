"""Receipts (docs/FORMAT.md §15) of entries inside the published tree, from the stored hashes.

A receipt is issued at the size of the published checkpoint (``ledger.server.reads.published``):
a checkpoint of that size exists and signs the same root, and with a witness policy nothing is
receipted before the witnesses cosigned it. Reads only: the log's key signs the root
(``ReceiptSigner``, once per root), nothing is written.

What a receipt costs (docs/BENCHMARKS.md, ``bench_receipts``): one index-only read of the
published size, the root of that size from ``CheckpointRoots`` (read once per size: it changes
once per commit), and one read of those of the path's stored hashes that ``StoredHashCache``
does not hold (the upper nodes, shared by many paths, stay there).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from ledger.core import merkle
from ledger.core.errors import InvalidParameter, NotFound
from ledger.core.merkle import HashReader
from ledger.core.receipts import ReceiptSigner
from ledger.server.reads.published import published_size
from ledger.server.storage import repository as repo


class CheckpointRoots:
    """The roots of signed checkpoints by tree size, the most recent ``capacity`` sizes. A
    checkpoint's root never changes (its table is append-only), so an entry is never stale; one
    per app (per database). Thread-safe."""

    def __init__(self, capacity: int = 64) -> None:
        self._roots: OrderedDict[int, bytes] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def root(self, session: repo.Reads, tree_size: int) -> bytes | None:
        """The root the checkpoint of ``tree_size`` signs, or None if the log signed none."""
        with self._lock:
            root = self._roots.get(tree_size)
        if root is not None:
            return root
        root = repo.checkpoint_root(session, tree_size)
        if root is not None:
            with self._lock:
                self._roots[tree_size] = root
                while len(self._roots) > self._capacity:
                    self._roots.popitem(last=False)
        return root


class StoredHashCache:
    """Stored tree hashes by storage index, the latest ``capacity`` read (first in, first out).
    A stored hash never changes (the table is append-only), so an entry is never stale and needs
    no invalidation across processes. Receipts of different entries share the upper nodes of
    their paths (one node at level k serves 2**k leaves): those are asked for again long before
    they leave, while the lowest, rarely shared ones come and go. One per app (per database).
    Thread-safe: a lookup is one dict read each (atomic), an insertion takes the lock."""

    def __init__(self, capacity: int = 65_536) -> None:
        self._hashes: OrderedDict[int, bytes] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def reader(self, session: repo.Reads) -> HashReader:
        """A HashReader over ``session``'s stored hashes that asks the database only for those
        this cache does not hold, and keeps what it reads."""
        return _CachedHashReader(self, repo.SessionHashReader(session))

    def get(self, indexes: Sequence[int]) -> dict[int, bytes]:
        """The hashes of ``indexes`` this cache holds."""
        lookup = self._hashes.get
        return {i: h for i in indexes if (h := lookup(i)) is not None}

    def put(self, found: dict[int, bytes]) -> None:
        hashes = self._hashes
        with self._lock:
            hashes.update(found)
            while len(hashes) > self._capacity:
                hashes.popitem(last=False)


class _CachedHashReader:
    def __init__(self, cache: StoredHashCache, store: repo.SessionHashReader) -> None:
        self.cache = cache
        self.store = store

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        found = self.cache.get(indexes)
        missing = [i for i in indexes if i not in found]
        if missing:
            read = dict(zip(missing, self.store.read_hashes(missing), strict=True))
            self.cache.put(read)
            found.update(read)
        return [found[i] for i in indexes]


def _root(session: repo.Reads, tree_size: int, roots: CheckpointRoots | None) -> bytes:
    if roots is None:
        root = repo.checkpoint_root(session, tree_size)
    else:
        root = roots.root(session, tree_size)
    if root is None:
        raise NotFound(f"no checkpoint of size {tree_size}: the log signs one per commit")
    return root


def entry_receipt(
    session: repo.Reads,
    seq: int,
    signer: ReceiptSigner,
    *,
    witnessed: bool,
    roots: CheckpointRoots | None = None,
    hashes: StoredHashCache | None = None,
    tree_size: int | None = None,
) -> bytes | None:
    """The inclusion receipt of entry ``seq`` at the published size; None while the entry is
    logged but not yet inside a published tree of at least 2 entries (§15.3). Raises NotFound
    for a seq the log does not hold. ``roots``, ``hashes``: the app's caches of checkpoint roots
    and stored hashes.

    With ``tree_size``, the receipt at that size instead, which must be the size of a published
    checkpoint holding the entry (a proof file's, docs/FORMAT.md §12): InvalidParameter beyond
    the published size, below 2 or not above ``seq``; NotFound when the log signed no checkpoint
    of that size (it signs one per commit)."""
    size = published_size(session, witnessed=witnessed)
    if tree_size is not None:
        if tree_size > size:
            raise InvalidParameter(f"tree_size {tree_size} is beyond the published size {size}")
        if not seq < tree_size or tree_size < 2:
            raise InvalidParameter(
                f"entry {seq} has no receipt at tree size {tree_size}: the tree must hold it "
                "and at least 2 entries"
            )
        size = tree_size
    elif seq >= size or size < 2:
        if seq >= repo.latest_size(session):
            raise NotFound(f"no entry {seq} in this log")
        return None
    root = _root(session, size, roots)
    reader = repo.SessionHashReader(session) if hashes is None else hashes.reader(session)
    path = merkle.inclusion_proof(size, seq, reader)
    return signer.inclusion(size, seq, path, root)


def consistency_receipt(
    session: repo.Reads,
    first: int,
    second: int | None,
    signer: ReceiptSigner,
    *,
    witnessed: bool,
    roots: CheckpointRoots | None = None,
) -> bytes:
    """The consistency receipt (§15.5) from the tree of ``first`` to the tree of ``second``
    (default: the published size), which must be the size of a published checkpoint.

    Raises InvalidParameter unless 0 < first < second <= the published size, NotFound when no
    checkpoint has size ``second`` (the log signs one per commit, not one per entry)."""
    published = published_size(session, witnessed=witnessed)
    size = published if second is None else second
    if size > published:
        raise InvalidParameter(f"second {size} is beyond the published size {published}")
    if not 0 < first < size:
        raise InvalidParameter(f"a consistency receipt needs 0 < first < second ({first}, {size})")
    root = _root(session, size, roots)
    path = merkle.consistency_proof(first, size, repo.SessionHashReader(session))
    return signer.consistency(first, size, path, root)
