"""Receipts (docs/FORMAT.md §15) of entries inside the published tree, from the stored hashes.

A receipt is issued at the size of the published checkpoint (``ledger.server.reads.published``):
a checkpoint of that size exists and signs the same root, and with a witness policy nothing is
receipted before the witnesses cosigned it. Reads only: the log's key signs the root
(``ReceiptSigner``, once per root), nothing is written.

What a receipt costs (docs/BENCHMARKS.md, ``bench_receipts``): one index-only read of the
published size, the root of that size from ``CheckpointRoots`` (read once per size: it changes
once per commit), and one read of the path's stored hashes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy.orm import Session

from ledger.core import merkle
from ledger.core.errors import InvalidParameter, NotFound
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

    def root(self, session: Session, tree_size: int) -> bytes | None:
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


def _root(session: Session, tree_size: int, roots: CheckpointRoots | None) -> bytes:
    if roots is None:
        root = repo.checkpoint_root(session, tree_size)
    else:
        root = roots.root(session, tree_size)
    if root is None:
        raise NotFound(f"no checkpoint of size {tree_size}: the log signs one per commit")
    return root


def entry_receipt(
    session: Session,
    seq: int,
    signer: ReceiptSigner,
    *,
    witnessed: bool,
    roots: CheckpointRoots | None = None,
) -> bytes | None:
    """The inclusion receipt of entry ``seq`` at the published size; None while the entry is
    logged but not yet inside a published tree of at least 2 entries (§15.3). Raises NotFound
    for a seq the log does not hold. ``roots``: the app's cache of checkpoint roots."""
    size = published_size(session, witnessed=witnessed)
    if seq >= size or size < 2:
        if seq >= repo.latest_size(session):
            raise NotFound(f"no entry {seq} in this log")
        return None
    path = merkle.inclusion_proof(size, seq, repo.SessionHashReader(session))
    return signer.inclusion(size, seq, path, _root(session, size, roots))


def consistency_receipt(
    session: Session,
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
