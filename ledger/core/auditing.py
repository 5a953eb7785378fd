"""What an auditor needs to check a whole log as a stream, in constant memory.

* ``CompactRange``: the RFC 9162 Merkle tree head of a growing list of leaf hashes, kept as the
  stack of complete-subtree roots that make up the tree (at most log2(n) + 1 hashes). Appending a
  leaf and reading the root are both O(log n); nothing else is remembered. It can also serve the
  border hashes that ``merkle.stored_hashes_for_leaves`` reads, so an auditor can recompute every
  stored subtree hash of a log (tlog layout) without holding the tree.
* ``check_leaf_signatures``: the fast per-entry check for a full audit: split the leaf, verify
  every Ed25519 signature over its statement bytes, and bind the signing keys to the signers the
  statement names (the same rule as ``Statement.required_signers``). It does *not* validate the
  statement's schema or that its bytes are canonical: ``leaf.parse_leaf`` does all of that at
  about a third of the speed (the audit's ``strict`` mode). Signatures are verified with
  ``cryptography`` unless a faster primitive is passed in (the audit passes PyNaCl's when it is
  installed; see ``ledger/sigverify.py``).

Pure: no I/O.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .encoding import b64_decode
from .errors import BadSignature, InvalidParameter, InvalidStatement, LedgerError, MalformedLeaf
from .keys import PublicKey, key_id
from .leaf import LeafParts, split_leaf
from .merkle import EMPTY_ROOT, HASH_SIZE, NODE_PREFIX, stored_hash_index
from .statements import STATEMENT_SIGNING_CONTEXT

__all__ = [
    "CompactRange",
    "SignatureCheck",
    "check_leaf_signatures",
    "check_part_signatures",
    "required_signer_ids",
]


class CompactRange:
    """The Merkle tree over leaves [0, size) as its complete subtrees, largest (leftmost) first.

    The subtrees are those of RFC 9162 §2.1.1's split of [0, size): one per set bit of ``size``,
    so ``len(self.roots) == size.bit_count()``. Implements ``merkle.HashReader`` for exactly
    those subtrees (the border a new leaf joins), which is what ``stored_hashes_for_leaves``
    reads. No I/O.
    """

    __slots__ = ("roots", "size")

    def __init__(self) -> None:
        self.size = 0
        self.roots: list[bytes] = []

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf; merges the subtrees it completes (one per trailing 1 bit of size)."""
        if len(leaf_hash) != HASH_SIZE:
            raise InvalidParameter(f"leaf hash must be {HASH_SIZE} bytes")
        h, n, roots = leaf_hash, self.size, self.roots
        while n & 1:
            h = _node(roots.pop(), h)
            n >>= 1
        roots.append(h)
        self.size += 1

    def root(self) -> bytes:
        """MTH(D[size]) (RFC 9162 §2.1.1): the subtree roots folded right to left."""
        if not self.roots:
            return EMPTY_ROOT
        h = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            h = _node(left, h)
        return h

    def border_indexes(self) -> list[int]:
        """The tlog storage index of each subtree root, in the order of ``roots``."""
        out, start = [], 0
        for level in range((self.size).bit_length() - 1, -1, -1):
            if self.size >> level & 1:
                out.append(stored_hash_index(level, start >> level))
                start += 1 << level
        return out

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """``merkle.HashReader``: only the border subtrees are known (InvalidParameter else)."""
        known = dict(zip(self.border_indexes(), self.roots, strict=True))
        try:
            return [known[i] for i in indexes]
        except KeyError as e:
            raise InvalidParameter(f"hash index {e.args[0]} is not on the border") from None


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def required_signer_ids(body: Any) -> tuple[str, ...]:
    """The key ids that must sign ``body``, in order (``Statement.required_signers``).

    ``key.rotate`` is signed by the old key (the signer) and then the new one; every other type by
    its signer alone. Raises InvalidStatement if ``signer`` (or ``new_public_key``) is missing.
    """
    if not isinstance(body, dict) or not isinstance(body.get("signer"), str):
        raise InvalidStatement("statement has no signer")
    if body.get("type") != "key.rotate":
        return (body["signer"],)
    try:
        new_key = b64_decode(body.get("new_public_key"), size=32, what="new_public_key")
    except LedgerError as e:
        raise InvalidStatement(f"key.rotate: {e.message}") from e
    return (body["signer"], key_id(new_key))


#: ``check(public_key, message, signature) -> bool``: an Ed25519 verification primitive (the
#: same contract as ``evidence.SignatureCheck``; ``ledger.sigverify`` offers PyNaCl's).
SignatureCheck = Callable[[bytes, bytes, bytes], bool]


def check_leaf_signatures(
    data: bytes, check: SignatureCheck | None = None
) -> tuple[LeafParts, dict[str, Any]]:
    """Split ``data`` and verify its signatures and their signers; returns the parts and body.

    Signatures are verified with ``cryptography`` unless another primitive ``check`` is given.
    Raises MalformedLeaf (framing, or a public key that is not a valid Ed25519 key),
    InvalidStatement (statement bytes that are not a JSON object with a signer) or BadSignature
    (a signature that does not verify, or keys other than the required signers, in order).
    """
    parts = split_leaf(data)
    return parts, check_part_signatures(parts, check)


def check_part_signatures(parts: LeafParts, check: SignatureCheck | None = None) -> dict[str, Any]:
    """``check_leaf_signatures`` for a leaf already split; returns the statement body."""
    try:
        body = json.loads(parts.statement_bytes)
    except ValueError as e:  # UnicodeDecodeError is a ValueError too
        raise InvalidStatement("statement bytes are not JSON") from e
    expected = required_signer_ids(body)
    keys = [_public_key(raw) for raw, _ in parts.signatures]
    if tuple(k[0] for k in keys) != expected:
        raise BadSignature(
            f"{body.get('type')} must be signed by {len(expected)} key(s) in this order: "
            + ", ".join(e[:16] + "…" for e in expected)
        )
    message = STATEMENT_SIGNING_CONTEXT + parts.statement_bytes
    for (kid, key), (raw, signature) in zip(keys, parts.signatures, strict=True):
        if check is not None:
            if not check(raw, message, signature):
                raise BadSignature(f"signature by key {kid[:16]}… does not verify")
            continue
        try:
            key.verify(signature, message)
        except InvalidSignature as e:
            raise BadSignature(f"signature by key {kid[:16]}… does not verify") from e
    return dict(body)


@functools.lru_cache(maxsize=4096)
def _public_key(raw: bytes) -> tuple[str, Ed25519PublicKey]:
    """(key id, loaded key) for a raw key that ``PublicKey`` accepts (small-order and
    non-canonical keys are refused). Cached: a party signs many entries with one key, and
    loading a key costs about a tenth of a verification; the cache is bounded."""
    try:
        key = PublicKey(raw)
    except LedgerError as e:
        raise MalformedLeaf(f"leaf holds an invalid public key: {e.message}") from e
    return key.key_id, Ed25519PublicKey.from_public_bytes(raw)
