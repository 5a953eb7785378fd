"""Write tests/vectors/tlog.json: worked examples for tiles, cosignatures, policies, proof files.

Deterministic (seeded keys, fixed timestamp, Ed25519 is deterministic): running it again must
reproduce the file byte for byte, which tests/core/test_tlog_vectors.py checks. The published
vectors from C2SP and transparency-dev live in the same file under "published" and are copied by
hand (see tests/vectors/README-tlog.md), never generated.

    python scripts/make_tlog_vectors.py [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.core import merkle
from ledger.core.checkpoint import Checkpoint, sign_checkpoint
from ledger.core.cosignature import Cosigner, cosigned_message
from ledger.core.note import NoteSigner
from ledger.core.tiles import Tile, encode_entry_bundle
from ledger.core.tlogproof import format_proof

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "tlog.json"
ORIGIN = "ledger.example/log"
TIMESTAMP = 1772366400  # 2026-03-01T12:00:00Z
LEAVES = [b"leaf 0", b"leaf 1", b"leaf 2"]


def _key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)


def generated() -> dict[str, Any]:
    log = NoteSigner.from_private_key(ORIGIN, _key(0x10))
    w1 = Cosigner("witness.example/w1", _key(0x11))
    w2 = Cosigner("witness.example/w2", _key(0x12))
    store = merkle.MemoryHashStore()
    store.append_leaf_hashes([merkle.leaf_hash(leaf) for leaf in LEAVES])
    root = merkle.tree_hash(len(LEAVES), store)
    note = sign_checkpoint(Checkpoint(ORIGIN, len(LEAVES), root), log)
    body = Checkpoint(ORIGIN, len(LEAVES), root).body()
    line1 = w1.cosign(body, TIMESTAMP).line()
    cosigned = note + line1
    tile = Tile(0, 0, len(LEAVES))
    policy = (
        f"log {log.verifier().to_vkey()} http://127.0.0.1:8000\n"
        f"witness w1 {w1.verifier().to_vkey()} http://127.0.0.1:8101\n"
        f"witness w2 {w2.verifier().to_vkey()} http://127.0.0.1:8102\n"
        "group one-of-two any w1 w2\n"
        "quorum one-of-two\n"
    )
    proof = merkle.inclusion_proof(len(LEAVES), 1, store)
    return {
        "log_seed_hex": "10" * 32,
        "log_vkey": log.verifier().to_vkey(),
        "leaves_hex": [leaf.hex() for leaf in LEAVES],
        "tile_path": tile.path(),
        "tile_hex": b"".join(store.read_hashes(tile.stored_hash_indexes())).hex(),
        "entry_bundle_path": Tile(None, 0, len(LEAVES)).path(),
        "entry_bundle_hex": encode_entry_bundle(LEAVES).hex(),
        "checkpoint_note": note,
        "witness_seed_hex": "11" * 32,
        "witness_name": w1.name,
        "witness_vkey": w1.verifier().to_vkey(),
        "witness2_vkey": w2.verifier().to_vkey(),
        "timestamp": TIMESTAMP,
        "cosigned_message": cosigned_message(body, TIMESTAMP).decode(),
        "cosignature_line": line1,
        "cosigned_note": cosigned,
        "policy": policy,
        "proof_file": format_proof(1, proof, cosigned, extra=LEAVES[1]),
    }


def main() -> int:
    current = json.loads(OUT.read_text()) if OUT.exists() else {}
    data = {"generated": generated(), "published": current.get("published", {})}
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        return 0 if OUT.exists() and OUT.read_text() == text else 1
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
