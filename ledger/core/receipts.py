"""COSE Receipts (RFC 9942) for the RFC9162_SHA256 verifiable data structure: the log's signed
inclusion and consistency proofs, for SCITT verifiers. Pure: no I/O. docs/FORMAT.md §15.

A receipt is a COSE_Sign1 (tag 18) by the log's Ed25519 key (EdDSA) whose protected header names
the algorithm, the key (``kid``: its RFC 9679 thumbprint), the log (CWT claim ``iss``: the origin)
and ``vds`` = RFC9162_SHA256, whose unprotected ``vdp`` holds one proof, and whose payload is
detached: the Merkle root at the proof's tree size, which the verifier recomputes from the proof.
The entry bytes a receipt commits to are the leaf bytes (docs/FORMAT.md §4.1), so the leaf hash
stays SHA-256(0x00 || leaf). Nothing in the log changes: the proof is the RFC 9162 proof the log
serves today and the signature covers the root its checkpoint of that size signs.

The signature covers the protected header and the root only, never the unprotected proof, so
every receipt at one tree size carries the same signature: ``ReceiptSigner`` signs each root once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import cbor
from .cose import (
    ALG_EDDSA,
    COSE_SIGN1_TAG,
    CWT_ISS,
    HDR_ALG,
    HDR_CRIT,
    HDR_CWT_CLAIMS,
    HDR_KID,
    Sign1,
    check_crit,
    decode_sign1,
    key_thumbprint,
    sig_structure,
)
from .encoding import HASH_SIZE
from .errors import (
    BadSignature,
    InvalidParameter,
    MalformedProof,
    MalformedReceipt,
    ReceiptRootMismatch,
)
from .merkle import (
    inclusion_proof_size,
    leaf_hash,
    root_from_consistency_proof,
    root_from_inclusion_proof,
)

#: Header labels of RFC 9942 §2: the verifiable data structure and its proofs.
HDR_VDS = 395
HDR_VDP = 396
#: vds value of RFC9162_SHA256 (RFC 9942 §4.1), and its two proof types (§4.2, §4.3).
VDS_RFC9162_SHA256 = 1
VDP_INCLUSION = -1
VDP_CONSISTENCY = -2
#: The largest tree a receipt may name (as a checkpoint: a Go uint64), and so the longest path.
MAX_TREE_SIZE = 2**64 - 1
MAX_PATH = 64
#: Protected header labels a receipt verifier here processes (for ``crit``).
UNDERSTOOD = frozenset({HDR_ALG, HDR_CRIT, HDR_KID, HDR_CWT_CLAIMS, HDR_VDS})

Kind = Literal["inclusion", "consistency"]


def receipt_protected_header(public_key: bytes, origin: str) -> bytes:
    """The protected header of every receipt of the log with ``public_key`` and ``origin``."""
    return cbor.encode(
        {
            HDR_ALG: ALG_EDDSA,
            HDR_KID: key_thumbprint(public_key),
            HDR_VDS: VDS_RFC9162_SHA256,
            HDR_CWT_CLAIMS: {CWT_ISS: origin},
        }
    )


def encode_receipt(
    protected: bytes, kind: Kind, first: int, second: int, path: Sequence[bytes], signature: bytes
) -> bytes:
    """A receipt's bytes. ``first, second`` are ``tree_size, leaf_index`` for an inclusion
    receipt and ``tree_size_1, tree_size_2`` for a consistency receipt (RFC 9942 §4.2, §4.3).

    Built by concatenation, in the order the deterministic encoding puts it (``cbor.encode`` of
    ``18([protected, {396: {label: [proof]}}, null, signature])`` gives the same bytes, as
    tests/core/test_receipts.py checks): a receipt is issued per request, and the generic
    encoder walking the structure was most of what the core spends on one (docs/BENCHMARKS.md).
    """
    head = cbor.head
    nodes = b"".join(
        [
            _NODE_HEAD + node if len(node) == HASH_SIZE else head(2, len(node)) + node
            for node in path
        ]
    )
    proof = _PROOF_HEAD + head(0, first) + head(0, second) + head(4, len(path)) + nodes
    return b"".join(
        (
            _SIGN1_HEAD,
            head(2, len(protected)),
            protected,
            _VDP_HEAD[kind],
            head(2, len(proof)),
            proof,
            _DETACHED,
            head(2, len(signature)),
            signature,
        )
    )


#: The fixed pieces of a receipt's encoding (``encode_receipt``).
_SIGN1_HEAD = cbor.head(6, COSE_SIGN1_TAG) + cbor.head(4, 4)
_VDP_KINDS: tuple[tuple[Kind, int], ...] = (
    ("inclusion", VDP_INCLUSION),
    ("consistency", VDP_CONSISTENCY),
)
_VDP_HEAD: dict[Kind, bytes] = {
    kind: cbor.head(5, 1) + cbor.encode(HDR_VDP) + cbor.head(5, 1) + cbor.encode(label)
    + cbor.head(4, 1)
    for kind, label in _VDP_KINDS
}  # fmt: skip
_PROOF_HEAD = cbor.head(4, 3)
_NODE_HEAD = cbor.head(2, HASH_SIZE)
_DETACHED = cbor.encode(None)


class ReceiptSigner:
    """Issues receipts with the log's Ed25519 key (the key that signs its checkpoints).

    Each root is signed once and its signature kept (the most recent ``cache_size`` roots): all
    receipts at one tree size share it. Thread-safe. Callers pass proofs and roots they read from
    the log; this class checks only their shapes, never that they are the log's.
    """

    def __init__(self, private_key: Ed25519PrivateKey, origin: str, cache_size: int = 64) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("the receipt key must be an Ed25519 private key")
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes_raw()
        self.kid = key_thumbprint(self.public_key)
        self.protected = receipt_protected_header(self.public_key, origin)
        self._signatures: OrderedDict[bytes, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def sign_root(self, root: bytes) -> bytes:
        """The receipt signature over ``root`` (computed once per root)."""
        with self._lock:
            signature = self._signatures.get(root)
        if signature is None:
            if len(root) != HASH_SIZE:
                raise MalformedProof(f"a root is {HASH_SIZE} bytes")
            signature = self._key.sign(sig_structure(self.protected, root))
            with self._lock:
                self._signatures[root] = signature
                while len(self._signatures) > self._cache_size:
                    self._signatures.popitem(last=False)
        return signature

    def inclusion(
        self, tree_size: int, leaf_index: int, path: Sequence[bytes], root: bytes
    ) -> bytes:
        """The inclusion receipt of leaf ``leaf_index`` in the tree of ``tree_size`` with ``root``.

        Raises InvalidParameter for a tree of one leaf (its path is empty, which RFC 9942's CDDL
        does not allow: docs/FORMAT.md §15.3) and MalformedProof for a path of the wrong length.
        """
        if tree_size < 2:
            raise InvalidParameter("a receipt needs a tree of at least 2 entries")
        if len(path) != inclusion_proof_size(leaf_index, tree_size):
            raise MalformedProof("inclusion path of the wrong length")
        signature = self.sign_root(root)
        return encode_receipt(self.protected, "inclusion", tree_size, leaf_index, path, signature)

    def consistency(self, size1: int, size2: int, path: Sequence[bytes], root2: bytes) -> bytes:
        """The consistency receipt from the tree of ``size1`` to the tree of ``size2`` (root2);
        raises InvalidParameter unless 0 < size1 < size2."""
        if not 0 < size1 < size2:
            raise InvalidParameter("a consistency receipt needs 0 < size1 < size2")
        signature = self.sign_root(root2)
        return encode_receipt(self.protected, "consistency", size1, size2, path, signature)


# --- decoding and verifying ----------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """A receipt decoded and checked for shape (``decode_receipt``), not yet verified."""

    kind: Kind
    #: ``tree_size, leaf_index`` (inclusion) or ``tree_size_1, tree_size_2`` (consistency).
    first: int
    second: int
    path: tuple[bytes, ...]
    kid: bytes
    issuer: str | None
    protected: bytes
    signature: bytes

    def signed_message(self, root: bytes) -> bytes:
        """What the signature covers when the detached payload is ``root``."""
        return sig_structure(self.protected, root)

    def verify_signature(self, public_key: bytes, root: bytes) -> None:
        """RFC 9942 §4.2's last step: the COSE signature over ``root`` (the detached payload)
        under the Ed25519 ``public_key``; raises BadSignature. The ``kid`` is not checked here."""
        Sign1(self.protected, {}, {}, None, self.signature).verify(public_key, root)


def decode_receipt(data: bytes) -> Receipt:
    """Decode a receipt and check its shape (docs/FORMAT.md §15.4); raises MalformedReceipt.

    Refused: anything but a tagged COSE_Sign1 of this log's algorithm; ``vds`` missing, other
    than RFC9162_SHA256, or in the unprotected header; ``vdp`` in the protected header or not
    holding exactly one inclusion or consistency proof; an attached payload; a proof that is not
    ``[uint, uint, [+ bstr]]``; ``tree_size <= leaf_index``; a path of the wrong length (for an
    inclusion proof: the RFC 9162 length for its index and size); a node that is not 32 bytes.
    """
    sign1 = decode_sign1(data, MalformedReceipt)
    check_crit(sign1, UNDERSTOOD, MalformedReceipt)
    header = sign1.protected
    if HDR_VDS in sign1.unprotected or HDR_VDP in header:
        raise MalformedReceipt("vds belongs in the protected header and vdp in the unprotected")
    if header.get(HDR_VDS) != VDS_RFC9162_SHA256:
        raise MalformedReceipt(f"vds must be RFC9162_SHA256 ({VDS_RFC9162_SHA256})")
    if sign1.payload is not None:
        raise MalformedReceipt("a receipt's payload (the root) is detached: nil")
    kid = header.get(HDR_KID)
    if not isinstance(kid, bytes):
        raise MalformedReceipt("the protected header names the key: kid, a byte string")
    kind, first, second, path = _proof(sign1.unprotected.get(HDR_VDP))
    claims = header.get(HDR_CWT_CLAIMS, {})
    issuer = claims.get(CWT_ISS) if isinstance(claims, dict) else None
    if issuer is not None and not isinstance(issuer, str):
        raise MalformedReceipt("the CWT claim iss is a text string")
    return Receipt(kind, first, second, path, kid, issuer, sign1.protected_bytes, sign1.signature)


def _proof(vdp: Any) -> tuple[Kind, int, int, tuple[bytes, ...]]:
    if not isinstance(vdp, dict) or len(vdp) != 1:
        raise MalformedReceipt("vdp is a map holding one proof type")
    ((label, proofs),) = vdp.items()
    if label not in (VDP_INCLUSION, VDP_CONSISTENCY):
        raise MalformedReceipt("vdp holds inclusion (-1) or consistency (-2) proofs")
    if not isinstance(proofs, list) or len(proofs) != 1 or not isinstance(proofs[0], bytes):
        raise MalformedReceipt("a receipt of this log holds exactly one proof, a byte string")
    try:
        proof = cbor.decode(proofs[0])
    except cbor.CborError as e:
        raise MalformedReceipt(f"the proof is not CBOR this log reads: {e}") from e
    if not isinstance(proof, list) or len(proof) != 3:
        raise MalformedReceipt("a proof is [size, index or size, [+ node]]")
    first, second, path = proof
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (first, second)):
        raise MalformedReceipt("a proof's sizes and index are unsigned integers")
    if not isinstance(path, list) or not 0 < len(path) <= MAX_PATH:
        raise MalformedReceipt(f"a proof's path is an array of 1 to {MAX_PATH} nodes")
    if not all(isinstance(node, bytes) and len(node) == HASH_SIZE for node in path):
        raise MalformedReceipt(f"every node of a path is {HASH_SIZE} bytes")
    if label == VDP_INCLUSION:
        if first <= second:
            raise MalformedReceipt(f"leaf_index {second} is not below tree_size {first}")
        if len(path) != inclusion_proof_size(second, first):
            raise MalformedReceipt("the inclusion path's length is not RFC 9162's for its index")
        return "inclusion", first, second, tuple(path)
    if not 0 < first < second:
        raise MalformedReceipt("a consistency proof needs 0 < tree_size_1 < tree_size_2")
    return "consistency", first, second, tuple(path)


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a verified receipt proves: for an inclusion receipt that the leaf is entry
    ``leaf_index`` of the tree of ``tree_size`` whose root is ``root``; for a consistency
    receipt that the tree of ``old_size`` is a prefix of the tree of ``tree_size`` (``root``)."""

    kind: Kind
    tree_size: int
    root: bytes
    leaf_index: int | None = None
    old_size: int | None = None


def _check_signature(receipt: Receipt, public_key: bytes, root: bytes) -> None:
    """RFC 9942 §4.2 second step: the COSE signature over the recomputed root."""
    if receipt.kid != key_thumbprint(public_key):
        raise BadSignature("the receipt's kid is not the thumbprint of the log key given")
    receipt.verify_signature(public_key, root)


def verify_inclusion_receipt(data: bytes, leaf: bytes, public_key: bytes) -> VerifiedReceipt:
    """Verify an inclusion receipt of ``leaf`` (the entry's leaf bytes) under the log's Ed25519
    ``public_key``; raises MalformedReceipt, MalformedProof or BadSignature.

    RFC 9942 §4.2: (1) decode; (2) apply the inclusion proof to SHA-256(0x00 || leaf), which gives
    a root (RFC 9162 §2.1.3.2); (3) check the signature with that root as the detached payload.
    """
    return verify_inclusion_receipt_of_hash(data, leaf_hash(leaf), public_key)


def verify_inclusion_receipt_of_hash(
    data: bytes, entry_hash: bytes, public_key: bytes
) -> VerifiedReceipt:
    """``verify_inclusion_receipt`` given the entry's leaf hash (§4.3) instead of its bytes."""
    if len(entry_hash) != HASH_SIZE:
        raise MalformedProof(f"a leaf hash is {HASH_SIZE} bytes")
    receipt = decode_receipt(data)
    if receipt.kind != "inclusion":
        raise MalformedReceipt("this is a consistency receipt, not an inclusion receipt")
    root = root_from_inclusion_proof(receipt.second, receipt.first, entry_hash, receipt.path)
    _check_signature(receipt, public_key, root)
    return VerifiedReceipt("inclusion", receipt.first, root, leaf_index=receipt.second)


def check_receipt_root(verified: VerifiedReceipt, tree_size: int, root: bytes) -> None:
    """The receipt's root is the one a checkpoint of ``tree_size`` (signature already checked by
    the caller) signs; raises ReceiptRootMismatch otherwise, or when the sizes differ."""
    if verified.tree_size != tree_size:
        raise ReceiptRootMismatch(
            f"the receipt is at tree size {verified.tree_size}, the checkpoint at {tree_size}"
        )
    if verified.root != root:
        raise ReceiptRootMismatch(
            f"the receipt's root at tree size {tree_size} is not the root its checkpoint signs"
        )


def verify_receipt_at_checkpoint(
    data: bytes, leaf: bytes, seq: int, public_key: bytes, tree_size: int, root: bytes
) -> VerifiedReceipt:
    """An inclusion receipt checked as entry ``seq``'s with ``leaf``, held to a checkpoint of
    ``tree_size`` and ``root`` whose signature the caller checked, then verified under the log
    key: what a proof file's receipt must be (docs/FORMAT.md §12). The receipt's entry, size and
    root are compared before the signature, so that a receipt of another entry or tree says so.
    Raises MalformedReceipt, MalformedProof, ReceiptRootMismatch or BadSignature."""
    receipt = decode_receipt(data)
    if receipt.kind != "inclusion":
        raise MalformedReceipt("this is a consistency receipt, not an inclusion receipt")
    if receipt.second != seq:
        raise ReceiptRootMismatch(f"the receipt is for entry {receipt.second}, not entry {seq}")
    proven = root_from_inclusion_proof(receipt.second, receipt.first, leaf_hash(leaf), receipt.path)
    verified = VerifiedReceipt("inclusion", receipt.first, proven, leaf_index=receipt.second)
    check_receipt_root(verified, tree_size, root)
    _check_signature(receipt, public_key, proven)
    return verified


def verify_consistency_receipt(data: bytes, old_root: bytes, public_key: bytes) -> VerifiedReceipt:
    """Verify a consistency receipt from a tree whose root ``old_root`` the verifier trusts (from
    a checkpoint or an inclusion receipt of that size); returns the newer root it proves.

    RFC 9942 §4.3 with RFC 9162 §2.1.4.2: the proof leads from ``old_root`` to one newer root,
    and the signature must verify over it. Raises MalformedReceipt, MalformedProof, ProofError
    (the proof does not start at ``old_root``) or BadSignature.
    """
    receipt = decode_receipt(data)
    if receipt.kind != "consistency":
        raise MalformedReceipt("this is an inclusion receipt, not a consistency receipt")
    root = root_from_consistency_proof(receipt.first, receipt.second, receipt.path, old_root)
    _check_signature(receipt, public_key, root)
    return VerifiedReceipt("consistency", receipt.second, root, old_size=receipt.first)
