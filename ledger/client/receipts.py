"""Fetching an entry's COSE receipt (docs/FORMAT.md §15) and checking it before anyone relies on
it (client side; the format and the verifier live in ``core/receipts.py``). Prints nothing."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.client.http import LogClient
from ledger.client.trust import TrustedLog, VerifiedCheckpoint
from ledger.core.errors import ProofError, ReceiptRootMismatch
from ledger.core.receipts import (
    VerifiedReceipt,
    verify_inclusion_receipt,
    verify_receipt_at_checkpoint,
)
from ledger.core.tlogproof import ProofReport


@dataclass(frozen=True)
class CheckedReceipt:
    """A receipt as the log served it, what it proves, the entry's leaf and the checkpoint it
    was checked against (save it with ``TrustedLog.save``)."""

    data: bytes
    receipt: VerifiedReceipt
    leaf: bytes
    checkpoint: VerifiedCheckpoint


def fetch_receipt(trusted: TrustedLog, seq: int) -> CheckedReceipt:
    """Entry ``seq``'s receipt, verified under the trusted log key: the entry's leaf (checked to
    be entry ``seq``), RFC 9942's proof and signature, and its root tied to the log's latest
    checkpoint (the same root at the same size, else a consistency proof to it), which is checked
    against this machine's saved state as ``TrustedLog.refresh`` does.

    Raises ServerError, EntryMismatch, MalformedReceipt, BadSignature, MalformedProof,
    ReceiptRootMismatch (the receipt's root is not the log's at its size), and what ``refresh``
    raises. The receipt is fetched before the checkpoint, so the checkpoint is never smaller.
    """
    leaf = trusted.fetch_entry(seq)
    data = trusted.client.receipt(seq)
    checkpoint = trusted.refresh()
    receipt = verify_inclusion_receipt(data, leaf, trusted.verifier.public_key)
    if receipt.leaf_index != seq:
        raise ReceiptRootMismatch(
            f"the log's receipt for entry {seq} is for entry {receipt.leaf_index}"
        )
    try:
        trusted.verify_root_at(receipt.tree_size, receipt.root, checkpoint)
    except ProofError as e:
        raise ReceiptRootMismatch(f"the receipt's root is not the log's: {e.message}") from e
    return CheckedReceipt(data, receipt, leaf, checkpoint)


def fetch_proof_receipt(client: LogClient, proof: ProofReport, public_key: bytes) -> bytes:
    """The COSE receipt of the entry a verified proof file proves (``proof``), at the size of the
    proof file's checkpoint, checked to be that entry's under the log key ``public_key`` with the
    checkpoint's root (docs/FORMAT.md §12). Raises ServerError, MalformedReceipt, MalformedProof,
    BadSignature, ReceiptRootMismatch."""
    cp = proof.checkpoint
    data = client.receipt(proof.index, tree_size=cp.tree_size)
    verify_receipt_at_checkpoint(
        data, proof.leaf, proof.index, public_key, cp.tree_size, cp.root_hash
    )
    return data
