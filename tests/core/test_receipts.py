"""COSE receipts (RFC 9942, RFC9162_SHA256): docs/FORMAT.md §15. ``ledger.core.receipts``.

The worked example is what the code builds and verifies from the document alone; one log gives
the same root in a receipt and in the C2SP checkpoint of that size; every malformed receipt of
the table is refused by the decoder with ``malformed_receipt``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core import cbor, merkle
from ledger.core.checkpoint import open_checkpoint
from ledger.core.cose import key_thumbprint, sig_structure
from ledger.core.errors import (
    BadSignature,
    MalformedProof,
    MalformedReceipt,
    ProofError,
    ReceiptRootMismatch,
)
from ledger.core.receipts import (
    ReceiptSigner,
    check_receipt_root,
    decode_receipt,
    encode_receipt,
    verify_consistency_receipt,
    verify_inclusion_receipt,
    verify_inclusion_receipt_of_hash,
    verify_receipt_at_checkpoint,
)
from ledger.core.tlogproof import format_proof, verify_proof
from tests.support.scripts import load_script

SCRIPT = load_script("make_receipt_example")
FORMAT = (SCRIPT.FORMAT_PATH).read_text(encoding="utf-8")
BLOCKS = SCRIPT.doc_blocks(FORMAT)
LOG = SCRIPT.evidence_example.example_log()
SIGNER = ReceiptSigner(LOG.signer.private_key, LOG.signer.name)


def _hex(block: str) -> bytes:
    return bytes.fromhex(re.sub(r"\s+", "", block))


def _field(block: str, name: str) -> bytes:
    match = re.search(rf"^{name}\s+([0-9a-f]+)$", block, re.M)
    assert match, name
    return bytes.fromhex(match.group(1))


def test_doc_blocks_are_what_the_code_builds() -> None:
    assert set(BLOCKS) == {"key", "protected", "roots", "leaf", "inclusion", "consistency"}
    assert SCRIPT.blocks() == BLOCKS


def test_the_worked_example_verifies_from_the_document_alone() -> None:
    """§15.2-15.5 by hand: the thumbprint, the Sig_structure and the proof, with no receipt
    code, from the documented bytes; then the reference verifier agrees."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public = _field(BLOCKS["key"], "public key")
    kid = _field(BLOCKS["key"], "kid")
    assert kid == hashlib.sha256(bytes.fromhex("a301012006215820") + public).digest()
    receipt = _hex(BLOCKS["inclusion"])
    root7 = _field(BLOCKS["roots"], "root 7")
    protected = _hex(BLOCKS["protected"])
    # The receipt: d2 84, the protected bstr (58 40 ...), then the unprotected vdp map.
    assert receipt.startswith(bytes.fromhex("d284") + b"\x58" + bytes([len(protected)]) + protected)
    signature = receipt[-64:]
    assert receipt[-67:-64] == bytes.fromhex("f65840")  # null payload, then a 64-byte bstr
    message = (
        (bytes.fromhex("846a") + b"Signature1" + b"\x58" + bytes([len(protected)]) + protected)
        + bytes.fromhex("405820")
        + root7
    )
    Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    leaf = LOG.leaves[2]
    assert merkle.leaf_hash(leaf) == _field(BLOCKS["leaf"], "leaf hash")
    verified = verify_inclusion_receipt(receipt, leaf, public)
    assert (verified.tree_size, verified.leaf_index, verified.root) == (7, 2, root7)
    old = verify_consistency_receipt(
        _hex(BLOCKS["consistency"]), _field(BLOCKS["roots"], "root 3"), public
    )
    assert (old.old_size, old.tree_size, old.root) == (3, 7, root7)


def test_one_log_two_proof_formats_one_root() -> None:
    """The receipt's root at a size is the root the C2SP checkpoint of that size signs, and the
    tlog-proof file of the same entry leads to it too."""
    note = LOG.checkpoint()
    cp, _ = open_checkpoint(note, LOG.signer.verifier())
    for seq in range(cp.tree_size):
        path = merkle.inclusion_proof(cp.tree_size, seq, LOG.store)
        receipt = SIGNER.inclusion(cp.tree_size, seq, path, cp.root_hash)
        verified = verify_inclusion_receipt(receipt, LOG.leaves[seq], SIGNER.public_key)
        assert verified.root == cp.root_hash
        assert verified.tree_size == cp.tree_size
        report = verify_proof(
            format_proof(seq, path, note), LOG.signer.verifier(), leaf=LOG.leaves[seq]
        )
        assert report.checkpoint.root_hash == verified.root


def test_a_receipt_is_checked_against_the_checkpoint_of_its_size() -> None:
    """check_receipt_root: the checkpoint's root at the receipt's size passes; another root, or
    a checkpoint of another size, is receipt_root_mismatch. The leaf-hash entry point agrees
    with the leaf-bytes one."""
    cp, _ = open_checkpoint(LOG.checkpoint(), LOG.signer.verifier())
    path = merkle.inclusion_proof(cp.tree_size, 2, LOG.store)
    receipt = SIGNER.inclusion(cp.tree_size, 2, path, cp.root_hash)
    by_hash = verify_inclusion_receipt_of_hash(
        receipt, merkle.leaf_hash(LOG.leaves[2]), SIGNER.public_key
    )
    assert by_hash == verify_inclusion_receipt(receipt, LOG.leaves[2], SIGNER.public_key)
    check_receipt_root(by_hash, cp.tree_size, cp.root_hash)
    with pytest.raises(ReceiptRootMismatch):
        check_receipt_root(by_hash, cp.tree_size, bytes(32))
    with pytest.raises(ReceiptRootMismatch):
        check_receipt_root(by_hash, cp.tree_size - 1, cp.root_hash)
    with pytest.raises(MalformedProof):
        verify_inclusion_receipt_of_hash(receipt, bytes(31), SIGNER.public_key)


def test_a_proof_files_receipt_is_held_to_its_checkpoint() -> None:
    """verify_receipt_at_checkpoint (FORMAT §12): the entry's receipt at the checkpoint's size
    passes; another entry's, one at another size or root, is receipt_root_mismatch before any
    signature is checked; under another key, bad_signature."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    cp, _ = open_checkpoint(LOG.checkpoint(), LOG.signer.verifier())
    n, root, key = cp.tree_size, cp.root_hash, SIGNER.public_key
    receipt = SIGNER.inclusion(n, 2, merkle.inclusion_proof(n, 2, LOG.store), root)
    assert verify_receipt_at_checkpoint(receipt, LOG.leaves[2], 2, key, n, root).root == root
    for args in ((LOG.leaves[3], 3, key, n, root), (LOG.leaves[2], 2, key, n, bytes(32))):
        with pytest.raises(ReceiptRootMismatch):
            verify_receipt_at_checkpoint(receipt, *args)
    older = SIGNER.inclusion(n - 1, 2, merkle.inclusion_proof(n - 1, 2, LOG.store),
                             merkle.tree_hash(n - 1, LOG.store))  # fmt: skip
    with pytest.raises(ReceiptRootMismatch):
        verify_receipt_at_checkpoint(older, LOG.leaves[2], 2, key, n, root)
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(BadSignature):
        verify_receipt_at_checkpoint(receipt, LOG.leaves[2], 2, other, n, root)


def test_the_receipt_key_is_the_checkpoint_key() -> None:
    assert SIGNER.public_key == LOG.signer.verifier().public_key
    assert SIGNER.kid == key_thumbprint(SIGNER.public_key)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=300), st.data())
def test_receipts_verify_for_any_size_and_index(size: int, data: st.DataObject) -> None:
    store = merkle.MemoryHashStore()
    leaves = [b"leaf %d" % i for i in range(size)]
    store.append_leaf_hashes([merkle.leaf_hash(leaf) for leaf in leaves])
    root = merkle.tree_hash(size, store)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    receipt = SIGNER.inclusion(size, index, merkle.inclusion_proof(size, index, store), root)
    assert verify_inclusion_receipt(receipt, leaves[index], SIGNER.public_key).root == root
    with pytest.raises((ProofError, BadSignature)):
        verify_inclusion_receipt(receipt, leaves[index] + b"x", SIGNER.public_key)
    old = data.draw(st.integers(min_value=1, max_value=size - 1))
    consistency = SIGNER.consistency(old, size, merkle.consistency_proof(old, size, store), root)
    old_root = merkle.tree_hash(old, store)
    assert verify_consistency_receipt(consistency, old_root, SIGNER.public_key).root == root
    # Another old root: the proof does not start there, or leads to a root nobody signed.
    with pytest.raises((ProofError, BadSignature)):
        verify_consistency_receipt(consistency, bytes(32), SIGNER.public_key)


def test_a_receipt_under_another_key_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(BadSignature):
        verify_inclusion_receipt(_hex(BLOCKS["inclusion"]), LOG.leaves[2], other)


def test_a_tree_of_one_entry_has_no_receipt() -> None:
    with pytest.raises(Exception, match="at least 2"):
        SIGNER.inclusion(1, 0, [], merkle.leaf_hash(b"x"))


# --- the malformed table -------------------------------------------------------------------------

Parts = list[Any]


def _parts() -> Parts:
    """The example receipt as [protected map, unprotected, payload, signature, proof list]."""
    item = cbor.decode(_hex(BLOCKS["inclusion"]))
    protected, unprotected, payload, signature = item.value
    proof = cbor.decode(unprotected[396][-1][0])
    return [cbor.decode(protected), unprotected, payload, signature, proof]


def _build(p: Parts, *, proof_bytes: bytes | None = None, tag: int = 18) -> bytes:
    protected, unprotected, payload, signature, proof = p
    label = next(iter(unprotected[396]))
    unprotected = {**unprotected, 396: {label: [proof_bytes or cbor.encode(proof)]}}
    return cbor.encode(cbor.Tag(tag, [cbor.encode(protected), unprotected, payload, signature]))


def _edit(change: Callable[[Parts], None], **kw: Any) -> bytes:
    p = _parts()
    change(p)
    return _build(p, **kw)


def _set_proof(i: int, value: Any) -> Callable[[Parts], None]:
    return lambda p: p[4].__setitem__(i, value)


def _proof() -> bytes:
    return cbor.encode(_parts()[4])


def _with_vdp(vdp: dict[int, list[bytes]]) -> bytes:
    p = _parts()
    return cbor.encode(cbor.Tag(18, [cbor.encode(p[0]), {396: vdp}, None, p[3]]))


MALFORMED: dict[str, bytes] = {
    "tree_size equal to leaf_index": _edit(_set_proof(1, 7)),
    "tree_size below leaf_index": _edit(_set_proof(0, 2)),
    "path one node short": _edit(lambda p: p[4][2].pop()),
    "path one node long": _edit(lambda p: p[4][2].append(bytes(32))),
    "empty path": _edit(_set_proof(2, [])),
    "a 31-byte node": _edit(lambda p: p[4][2].__setitem__(0, bytes(31))),
    "a 33-byte node": _edit(lambda p: p[4][2].__setitem__(0, bytes(33))),
    "attached payload": _edit(lambda p: p.__setitem__(2, bytes(32))),
    "wrong vds": _edit(lambda p: p[0].__setitem__(395, 2)),
    "no vds": _edit(lambda p: p[0].pop(395)),
    "vds in the unprotected header": _edit(lambda p: (p[0].pop(395), p[1].__setitem__(395, 1))),
    "vds in both headers": _edit(lambda p: p[1].__setitem__(395, 1)),
    "vdp in the protected header": _edit(lambda p: p[0].__setitem__(396, {})),
    "alg ES256": _edit(lambda p: p[0].__setitem__(1, -7)),
    "alg in the unprotected header": _edit(lambda p: p[1].__setitem__(1, -8)),
    "unknown critical header": _edit(lambda p: p[0].update({2: [99], 99: 0})),
    "untagged": _edit(lambda p: None, tag=17),
    "two proofs": _with_vdp({-1: [_proof()] * 2}),
    "inclusion and consistency proofs": _with_vdp({-1: [_proof()], -2: [_proof()]}),
    "no proof": _with_vdp({-1: []}),
    "proof not an array of three": _edit(lambda p: p[4].pop()),
    "negative tree size": _edit(_set_proof(0, -7)),
    "proof not CBOR": _edit(lambda p: None, proof_bytes=b"\xff"),
    "kid not bytes": _edit(lambda p: p[0].__setitem__(4, "kid")),
    "short signature": _edit(lambda p: p.__setitem__(3, bytes(63))),
    "trailing byte": _build(_parts()) + b"\x00",
    "non-shortest length": _build(_parts()).replace(
        b"\xd2\x84\x58\x40", b"\xd2\x84\x59\x00\x40", 1
    ),
    "indefinite array": b"\xd2\x9f" + _build(_parts())[2:] + b"\xff",
    "consistency with size1 = 0": _edit(
        lambda p: (p[1].__setitem__(396, {-2: []}), p[4].__setitem__(0, 0))
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_receipts_are_refused(name: str) -> None:
    with pytest.raises(MalformedReceipt):
        decode_receipt(MALFORMED[name])
    with pytest.raises(MalformedReceipt):
        verify_inclusion_receipt(MALFORMED[name], LOG.leaves[2], SIGNER.public_key)


def test_the_unedited_receipt_decodes() -> None:
    """The table's edits start from a receipt that is fine."""
    assert _build(_parts()) == _hex(BLOCKS["inclusion"])
    assert decode_receipt(_build(_parts())).kind == "inclusion"


def test_the_signature_covers_the_protected_header() -> None:
    p = _parts()
    p[0][15] = {1: "another.example/log"}
    with pytest.raises(BadSignature):
        verify_inclusion_receipt(_build(p), LOG.leaves[2], SIGNER.public_key)
    assert sig_structure(b"", b"").startswith(b"\x84\x6aSignature1")


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["inclusion", "consistency"]),
    first=st.integers(0, 2**64 - 1),
    second=st.integers(0, 2**64 - 1),
    path=st.lists(st.binary(min_size=0, max_size=40), max_size=64),
    protected=st.binary(max_size=300),
    signature=st.binary(max_size=70),
)
def test_receipt_encoding_is_the_deterministic_cbor_of_its_structure(
    kind: str, first: int, second: int, path: list[bytes], protected: bytes, signature: bytes
) -> None:
    """``encode_receipt`` builds the bytes by concatenation: exactly ``cbor.encode``'s."""
    label = -1 if kind == "inclusion" else -2
    proof = cbor.encode([first, second, path])
    structure = cbor.Tag(18, [protected, {396: {label: [proof]}}, None, signature])
    built = encode_receipt(protected, kind, first, second, path, signature)  # type: ignore[arg-type]
    assert built == cbor.encode(structure)
