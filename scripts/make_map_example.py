"""Build the worked example of docs/FORMAT.md §14: the licence map of the §7 example log.

The seven statements of §7 (``make_golden_vectors.build_statements``) at the §7 log times, as
``make_evidence_example.example_log`` logs them; the map is derived from them entry by entry, so
that it has a root for every size 0 to 7. Everything is deterministic, so the bytes are fixed.

    python scripts/make_map_example.py               # print the blocks
    python scripts/make_map_example.py --update-doc  # refill the blocks in docs/FORMAT.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import make_evidence_example as evidence_example  # noqa: E402

from ledger.core.licmap import LicenceMap, content_key, describe_key, encode_seqs  # noqa: E402
from ledger.core.vmap import key_hash, leaf_hash, value_hash  # noqa: E402

FORMAT_PATH = ROOT / "docs" / "FORMAT.md"
#: The example's membership proof is for example clip 1, its non-membership proof for clip 3.
PRESENT_CLIP = "322097ea72c0f71f60cd6c9a8a79616cc09be695fba845d2b694bb16837fbeab"
ABSENT_CLIP = evidence_example.UNGRANTED


def example_map() -> LicenceMap:
    licence_map = LicenceMap()
    for leaf in evidence_example.example_log().parsed:
        licence_map.apply([leaf])
    return licence_map


def _proof_lines(proof: bytes) -> str:
    """Proof bytes in hex, one field per line (§14.4): depth, bitmap, each sibling, the end."""
    depth = int.from_bytes(proof[:2], "big")
    nbytes = (depth + 7) // 8
    bitmap = proof[2 : 2 + nbytes]
    count = sum(bin(byte).count("1") for byte in bitmap)
    siblings = 2 + nbytes + 32 * count
    lines = [proof[:2].hex(), bitmap.hex()]
    lines += [proof[o : o + 32].hex() for o in range(2 + nbytes, siblings, 32)]
    lines.append(proof[siblings : siblings + 1].hex())
    lines += [proof[o : o + 32].hex() for o in range(siblings + 1, len(proof), 32)]
    return "\n".join(line for line in lines if line) + "\n"


def blocks() -> dict[str, str]:
    licence_map = example_map()
    contents = sorted(licence_map.items(), key=lambda kv: key_hash(kv[0]))
    table = [
        {
            "key": describe_key(key),
            "key_bytes": key.hex(),
            "key_hash": key_hash(key).hex(),
            "seqs": list(seqs),
            "value": encode_seqs(seqs).hex(),
        }
        for key, seqs in contents
    ]
    present, absent = content_key(PRESENT_CLIP), content_key(ABSENT_CLIP)
    value = encode_seqs(licence_map.get(present))
    return {
        "contents": json.dumps(table, indent=2) + "\n",
        "roots": json.dumps(
            {str(n): licence_map.root_at(n).hex() for n in range(licence_map.size + 1)}, indent=2
        )
        + "\n",
        "present_hashes": (
            f"key        {present.hex()}\n"
            f"key hash   {key_hash(present).hex()}\n"
            f"value      {value.hex()}\n"
            f"value hash {value_hash(value).hex()}\n"
            f"leaf hash  {leaf_hash(key_hash(present), value_hash(value)).hex()}\n"
        ),
        "membership_proof": _proof_lines(licence_map.prove(present).to_bytes()),
        "absent_key": f"key        {absent.hex()}\nkey hash   {key_hash(absent).hex()}\n",
        "non_membership_proof": _proof_lines(licence_map.prove(absent).to_bytes()),
    }


TAG = "map-example"


def doc_blocks(doc: str) -> dict[str, str]:
    return evidence_example.doc_blocks(doc, TAG)


def update_doc(doc: str) -> str:
    return evidence_example.refill(doc, blocks(), TAG)


def main(argv: list[str] | None = None) -> int:
    return evidence_example.block_script(blocks, TAG, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
