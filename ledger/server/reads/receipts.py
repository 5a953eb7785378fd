"""Receipts (docs/FORMAT.md §15) of entries inside the published tree, from the stored hashes.

A receipt is issued at the size of the published checkpoint (``ledger.server.reads.published``):
a checkpoint of that size exists and signs the same root, and with a witness policy nothing is
receipted before the witnesses cosigned it. Reads only: the log's key signs the root
(``ReceiptSigner``, once per root), nothing is written.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.core import merkle
from ledger.core.errors import NotFound
from ledger.core.receipts import ReceiptSigner
from ledger.server.reads.published import published_size
from ledger.server.storage import repository as repo


def entry_receipt(
    session: Session, seq: int, signer: ReceiptSigner, *, witnessed: bool
) -> bytes | None:
    """The inclusion receipt of entry ``seq`` at the published size; None while the entry is
    logged but not yet inside a published tree of at least 2 entries (§15.3). Raises NotFound
    for a seq the log does not hold."""
    size = published_size(session, witnessed=witnessed)
    if seq >= size or size < 2:
        if seq >= repo.latest_size(session):
            raise NotFound(f"no entry {seq} in this log")
        return None
    checkpoint = repo.get_checkpoint(session, size)
    if checkpoint is None:
        raise NotFound(f"no checkpoint of size {size}")
    path = merkle.inclusion_proof(size, seq, repo.SessionHashReader(session))
    return signer.inclusion(size, seq, path, bytes(checkpoint.root_hash))
