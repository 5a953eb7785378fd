"""Build the worked example of docs/FORMAT.md §15: COSE receipts of the §7 example log.

An inclusion receipt of entry 2 (the grant) at size 7 and a consistency receipt from size 3 to 7,
signed with the §7 log key; its COSE Key and thumbprint. Ed25519 signatures are deterministic, so
the bytes are fixed.

    python scripts/make_receipt_example.py               # print the blocks
    python scripts/make_receipt_example.py --update-doc  # refill the blocks in docs/FORMAT.md
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import make_evidence_example as evidence_example  # noqa: E402

from ledger.core import cbor  # noqa: E402
from ledger.core.cose import cose_key  # noqa: E402
from ledger.core.merkle import (  # noqa: E402
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    tree_hash,
)
from ledger.core.receipts import ReceiptSigner  # noqa: E402

FORMAT_PATH = ROOT / "docs" / "FORMAT.md"
TAG = "receipt-example"
#: The entry, the tree size of its receipt, and the older size of the consistency receipt.
SEQ, SIZE, OLD_SIZE = 2, 7, 3


def _hex_lines(data: bytes, width: int = 48) -> str:
    text = data.hex()
    return "".join(text[i : i + 2 * width] + "\n" for i in range(0, len(text), 2 * width))


def blocks() -> dict[str, str]:
    log = evidence_example.example_log()
    signer = ReceiptSigner(log.signer.private_key, log.signer.name)
    store = log.store
    root = tree_hash(SIZE, store)
    inclusion = signer.inclusion(SIZE, SEQ, inclusion_proof(SIZE, SEQ, store), root)
    consistency = signer.consistency(OLD_SIZE, SIZE, consistency_proof(OLD_SIZE, SIZE, store), root)
    return {
        "key": (
            f"public key  {signer.public_key.hex()}\n"
            f"kid         {signer.kid.hex()}\n"
            f"COSE Key    {cbor.encode(cose_key(signer.public_key)).hex()}\n"
        ),
        "protected": _hex_lines(signer.protected),
        "roots": f"root 3  {tree_hash(OLD_SIZE, store).hex()}\nroot 7  {root.hex()}\n",
        "leaf": f"leaf hash  {leaf_hash(log.leaves[SEQ]).hex()}\n",
        "inclusion": _hex_lines(inclusion),
        "consistency": _hex_lines(consistency),
    }


def doc_blocks(doc: str) -> dict[str, str]:
    return evidence_example.doc_blocks(doc, TAG)


def update_doc(doc: str) -> str:
    return evidence_example.refill(doc, blocks(), TAG)


def main(argv: list[str] | None = None) -> int:
    return evidence_example.block_script(blocks, TAG, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
