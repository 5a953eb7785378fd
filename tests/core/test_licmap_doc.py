"""docs/FORMAT.md §14: the worked licence map is exactly what the code derives, and its two proofs
verify both with the code and with an independent verifier written from the section alone."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from ledger.core import errors
from ledger.core.licmap import KEY_TAGS, content_key
from ledger.core.vmap import verify_membership, verify_non_membership
from tests.support.scripts import load_script

REPO = Path(__file__).resolve().parents[2]
FORMAT = (REPO / "docs" / "FORMAT.md").read_text(encoding="utf-8")
SECTION = FORMAT[FORMAT.index("## 14. The licence map") :]


SCRIPT = load_script("make_map_example")
BLOCKS = SCRIPT.doc_blocks(FORMAT)


def _hex(block: str) -> bytes:
    return bytes.fromhex(re.sub(r"\s+", "", block))


def _field(block: str, name: str) -> bytes:
    match = re.search(rf"^{name}\s+([0-9a-f]+)$", block, re.M)
    assert match, name
    return bytes.fromhex(match.group(1))


ROOT_7 = bytes.fromhex(json.loads(BLOCKS["roots"])["7"])


def test_doc_blocks_are_what_the_code_builds() -> None:
    assert set(BLOCKS) == {
        "contents",
        "roots",
        "present_hashes",
        "membership_proof",
        "absent_key",
        "non_membership_proof",
    }
    assert SCRIPT.blocks() == BLOCKS


def test_the_documented_proofs_verify_with_the_code() -> None:
    present = _field(BLOCKS["present_hashes"], "key")
    value = _field(BLOCKS["present_hashes"], "value")
    assert present == content_key(SCRIPT.PRESENT_CLIP)
    assert verify_membership(ROOT_7, present, value, _hex(BLOCKS["membership_proof"]))
    absent = _field(BLOCKS["absent_key"], "key")
    assert absent == b"\x01" + hashlib.sha256(b"example clip 3").digest()
    assert verify_non_membership(ROOT_7, absent, _hex(BLOCKS["non_membership_proof"]))


# --- An independent verifier, written from §14.3-§14.5 alone (no import from ledger.core) ------

KEY_CTX = b"consent-ledger/map/v1/key\n"
VALUE_CTX = b"consent-ledger/map/v1/value\n"
LEAF_CTX = b"consent-ledger/map/v1/leaf\n"
NODE_CTX = b"consent-ledger/map/v1/node\n"
EMPTY = hashlib.sha256(b"consent-ledger/map/v1/empty\n").digest()


def _sha(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def _bit(data: bytes, i: int) -> int:
    return (data[i // 8] >> (7 - i % 8)) & 1


def independent(root: bytes, key: bytes, proof: bytes) -> tuple[str, bytes | None]:
    """§14.5 steps 1-6: ("present", value hash) or ("absent", None); raises ValueError."""
    depth = int.from_bytes(proof[:2], "big")
    nbytes = (depth + 7) // 8
    bitmap, rest = proof[2 : 2 + nbytes], proof[2 + nbytes :]
    siblings = []
    for i in range(depth):
        if _bit(bitmap, i):
            siblings.append(rest[:32])
            rest = rest[32:]
        else:
            siblings.append(EMPTY)
    kh = _sha(KEY_CTX, key)
    if rest == b"\x00":
        r, leaf = EMPTY, None
    elif len(rest) == 65 and rest[0] == 1:
        leaf = (rest[1:33], rest[33:])
        if any(_bit(leaf[0], i) != _bit(kh, i) for i in range(depth)):
            raise ValueError("leaf off the path")
        r = _sha(LEAF_CTX, *leaf)
    else:
        raise ValueError("bad terminal")
    for i in reversed(range(depth)):
        r = _sha(NODE_CTX, r, siblings[i]) if _bit(kh, i) == 0 else _sha(NODE_CTX, siblings[i], r)
    if r != root:
        raise ValueError("root mismatch")
    if leaf is not None and leaf[0] == kh:
        return "present", leaf[1]
    return "absent", None


def test_the_documented_proofs_verify_independently() -> None:
    present = _field(BLOCKS["present_hashes"], "key")
    value = _field(BLOCKS["present_hashes"], "value")
    assert _field(BLOCKS["present_hashes"], "key hash") == _sha(KEY_CTX, present)
    assert _field(BLOCKS["present_hashes"], "value hash") == _sha(VALUE_CTX, value)
    assert independent(ROOT_7, present, _hex(BLOCKS["membership_proof"])) == (
        "present",
        _sha(VALUE_CTX, value),
    )
    absent = _field(BLOCKS["absent_key"], "key")
    assert independent(ROOT_7, absent, _hex(BLOCKS["non_membership_proof"])) == ("absent", None)
    with pytest.raises(ValueError, match="root mismatch"):
        independent(ROOT_7, present, _hex(BLOCKS["non_membership_proof"])[:-1] + b"\x00")


def test_the_documented_root_is_the_documented_contents() -> None:
    """§14.3's tree definition, applied by hand to the documented keys and values."""
    pairs = [
        (_sha(KEY_CTX, bytes.fromhex(e["key_bytes"])), bytes.fromhex(e["value"]))
        for e in json.loads(BLOCKS["contents"])
    ]

    def subtree(items: list[tuple[bytes, bytes]], depth: int) -> bytes:
        if not items:
            return EMPTY
        if len(items) == 1:
            return _sha(LEAF_CTX, items[0][0], _sha(VALUE_CTX, items[0][1]))
        left = [p for p in items if _bit(p[0], depth) == 0]
        right = [p for p in items if _bit(p[0], depth) == 1]
        return _sha(NODE_CTX, subtree(left, depth + 1), subtree(right, depth + 1))

    assert subtree(pairs, 0) == ROOT_7
    assert json.loads(BLOCKS["roots"])["0"] == EMPTY.hex()
    for entry in json.loads(BLOCKS["contents"]):
        value = bytes.fromhex(entry["value"])
        assert [int.from_bytes(value[i : i + 8], "big") for i in range(0, len(value), 8)] == (
            entry["seqs"]
        )


def test_every_map_error_code_is_specified_in_section_14() -> None:
    for cls in (
        errors.MalformedProof,
        errors.MapProofInvalid,
        errors.MapKeyAbsent,
        errors.MapValueMismatch,
        errors.MapKeyPresent,
    ):
        assert f"`{cls.code}`" in SECTION, cls.code


def test_every_key_tag_is_in_the_table_of_section_14_1() -> None:
    for tag, (name, length) in KEY_TAGS.items():
        assert f"| `0x{tag:02x}` | `{name}` |" in SECTION, name
        assert f"| 1 + {length} |" in SECTION, name
    assert len(re.findall(r"^\| `0x0[0-9a-f]` \| `", SECTION, re.M)) == len(KEY_TAGS)


def test_the_version_1_root_is_the_documented_contents_without_party_grants() -> None:
    """§14.6, §14.8: the version-1 map of the §7 log is the documented map without its
    ``party_grants`` keys; its root, by hand and by the code, is the one §14.8 gives (the root
    checkpoints signed before version 2 committed, so they keep verifying)."""
    from ledger.core.licmap import TAG_PARTY_GRANTS, derive_map

    example_log = load_script("make_evidence_example").example_log()

    match = re.search(r"has root\s+`([0-9a-f]{64})` at size 7", SECTION)
    assert match
    documented = bytes.fromhex(match.group(1))
    contents = json.loads(BLOCKS["contents"])
    kept = [e for e in contents if bytes.fromhex(e["key_bytes"])[0] != TAG_PARTY_GRANTS]
    assert len(contents) - len(kept) == 2  # the creator's and the buyer's grants

    def subtree(items: list[tuple[bytes, bytes]], depth: int) -> bytes:
        if not items:
            return EMPTY
        if len(items) == 1:
            return _sha(LEAF_CTX, items[0][0], _sha(VALUE_CTX, items[0][1]))
        left = [p for p in items if _bit(p[0], depth) == 0]
        right = [p for p in items if _bit(p[0], depth) == 1]
        return _sha(NODE_CTX, subtree(left, depth + 1), subtree(right, depth + 1))

    pairs = [
        (_sha(KEY_CTX, bytes.fromhex(e["key_bytes"])), bytes.fromhex(e["value"])) for e in kept
    ]
    assert subtree(pairs, 0) == documented
    assert derive_map(example_log.parsed, version=1).root == documented
    assert derive_map(example_log.parsed).root == ROOT_7 != documented
