"""RFC 9162 Merkle trees and proofs over an append-only store of hashes.

Two halves:

* **Producing** (log side): every complete subtree hash is stored exactly once, in the dense linear
  order of the Go checksum database (``golang.org/x/mod/sumdb/tlog``): appending leaf ``n`` writes
  its leaf hash followed by the hash of every subtree that leaf completes. Tree heads and proofs are
  then computed from O(log n) stored hashes, fetched with a single ``HashReader.read_hashes`` call
  after the needed indexes are worked out by integer arithmetic alone.
* **Verifying** (client side): RFC 9162 §2.1.3.2 and §2.1.4.2, the ``fn``/``sn`` bit-twiddling
  algorithms, which never rebuild a tree.

Proofs are lists of raw 32-byte hashes, ordered from the leaf upwards as RFC 9162 §2.1.3.1 and
§2.1.4.1 emit them. Nothing in this module does I/O: storage is whatever object implements
``HashReader``.

Deliberate edge cases (pinned by the transparency-dev/merkle vectors):

* A consistency proof from the empty tree (``size1 == 0``) is refused with ``InvalidParameter``,
  even for ``size2 == 0``: every tree extends the empty tree, so such a proof proves nothing.
* The leaf hash and every proof hash must be 32 bytes (``MalformedProof``), and so must a root that
  is compared with a computed hash. When ``size1 == size2`` nothing is computed: the two roots are
  compared byte for byte and the (empty) proof is accepted if they are equal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from .encoding import HASH_SIZE, sha256
from .errors import InvalidParameter, LedgerError, MalformedProof, ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "HashReader",
    "MemoryHashStore",
    "border_indexes",
    "consistency_proof",
    "inclusion_proof",
    "inclusion_proofs",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "split_stored_hash_index",
    "stored_hash_count",
    "stored_hash_index",
    "stored_hashes_for_leaf",
    "stored_hashes_for_leaves",
    "tree_hash",
    "verify_consistency",
    "verify_inclusion",
]

#: RFC 9162 §2.1.1 domain separation: leaf hashes and interior node hashes never collide.
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: RFC 9162 §2.1.1: MTH({}) = SHA-256() — the root of the empty tree.
EMPTY_ROOT = sha256(b"")

_sha256 = hashlib.sha256  # bound once: the proof loops call it O(log n) times per proof
#: SHA-256 with NODE_PREFIX already absorbed; the verification loops copy it and add the two
#: children, which is about 10 % cheaper per node than hashing a fresh concatenation. Only ever
#: copied, never updated after this line, so threads may share it.
_NODE_HASH_STATE = hashlib.sha256(NODE_PREFIX)


class HashReader(Protocol):
    """Read access to stored hashes, addressed by ``stored_hash_index``."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """The hashes at ``indexes``, in the same order; raises a LedgerError if one is missing."""
        ...


# --- Hashing (RFC 9162 §2.1.1) --------------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d), RFC 9162 §2.1.1. No I/O; never raises."""
    return sha256(LEAF_PREFIX + leaf)


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), RFC 9162 §2.1.1. Lengths are not checked; no I/O."""
    return sha256(NODE_PREFIX + left + right)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) by the recursive definition of RFC 9162 §2.1.1, from the n leaf hashes.

    O(n): meant for tests and small trees. Raises InvalidParameter if a hash is not 32 bytes.
    No I/O.
    """
    for h in hashes:
        _require_hash(h, "leaf hash", InvalidParameter)
    return _mth(hashes, 0, len(hashes)) if hashes else EMPTY_ROOT


def _mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return hashes[lo]
    # RFC 9162 §2.1.1: k is the largest power of two smaller than n.
    k = _split_point(hi - lo)
    return node_hash(_mth(hashes, lo, lo + k), _mth(hashes, lo + k, hi))


def _split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def _require_hash(value: bytes, what: str, error: type[LedgerError] = MalformedProof) -> None:
    if len(value) != HASH_SIZE:
        raise error(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def _require_size(name: str, value: int) -> None:
    if value < 0:
        raise InvalidParameter(f"{name} must not be negative, got {value}")


# --- Stored-hash layout (golang.org/x/mod/sumdb/tlog) ---------------------------------------------


def stored_hash_index(level: int, n: int) -> int:
    """Where the hash of the n-th complete subtree of 2**level leaves is stored.

    Leaf m's hash is written at m + m/2 + m/4 + ... = 2m - popcount(m), and is followed by the
    hashes of the subtrees that leaf completes, lowest level first; node (level, n) is completed by
    leaf ((n + 1) << level) - 1. Same numbering as tlog.StoredHashIndex. Raises InvalidParameter for
    negative input. No I/O.
    """
    _require_size("level", level)
    _require_size("n", n)
    last_leaf = ((n + 1) << level) - 1
    return 2 * last_leaf - last_leaf.bit_count() + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """The inverse of ``stored_hash_index``: ``(level, n)`` for a storage index.

    Raises InvalidParameter for a negative index. No I/O.
    """
    _require_size("index", index)
    # stored_hash_index(0, n) <= 2n, so the leaf that wrote `index` is in [index/2, index].
    n = index // 2
    leaf_index = stored_hash_count(n)
    while True:
        # Leaf n writes 1 + trailing_zeros(n + 1) hashes.
        next_leaf_index = leaf_index + 1 + _trailing_zeros(n + 1)
        if next_leaf_index > index:
            break
        n += 1
        leaf_index = next_leaf_index
    level = index - leaf_index
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """How many hashes a tree of n leaves stores: 2n - popcount(n).

    This is also the index at which appending leaf n starts writing. Raises InvalidParameter if
    n < 0. No I/O.
    """
    _require_size("n", n)
    return 2 * n - n.bit_count()


def _read(reader: HashReader, indexes: list[int]) -> list[bytes]:
    hashes = reader.read_hashes(indexes)
    if len(hashes) != len(indexes):
        raise LedgerError(f"hash store returned {len(hashes)} hashes for {len(indexes)} indexes")
    return hashes


def stored_hashes_for_leaf(n: int, leaf_hash: bytes, reader: HashReader) -> list[bytes]:
    """The hashes to append when leaf n (0-based) joins a store holding leaves 0..n-1.

    The result goes at indexes stored_hash_count(n) .. stored_hash_count(n + 1) - 1: the leaf hash,
    then one hash per subtree the leaf completes (tlog.StoredHashesForRecordHash). Reads at most
    log2(n) earlier hashes, in one call. Raises InvalidParameter (bad n or hash size) or whatever
    the reader raises. No I/O of its own.
    """
    return stored_hashes_for_leaves(n, [leaf_hash], reader)


def stored_hashes_for_leaves(
    start: int, leaf_hashes: Sequence[bytes], reader: HashReader
) -> list[bytes]:
    """The hashes to append when leaves start .. start+k-1 join a store holding leaves 0..start-1.

    Equal to calling ``stored_hashes_for_leaf`` once per leaf, but the batch's own hashes are kept
    in memory: the reader is asked once, only for the complete subtrees of the first ``start``
    leaves (at most log2(start) hashes). Raises InvalidParameter (bad start or hash size) or
    whatever the reader raises. No I/O of its own.
    """
    _require_size("start", start)
    for h in leaf_hashes:
        _require_hash(h, "leaf hash", InvalidParameter)
    if not leaf_hashes:
        return []
    base = stored_hash_count(start)
    # Every old hash a new subtree consumes is a left sibling on the right border of the old tree,
    # i.e. one of the complete subtrees that make up [0, start).
    old_indexes: list[int] = []
    _range_indexes(0, start, old_indexes)
    old = dict(zip(old_indexes, _read(reader, old_indexes), strict=True)) if old_indexes else {}
    out: list[bytes] = []
    for n, leaf in enumerate(leaf_hashes, start):
        out.append(leaf)
        h = leaf
        # Each trailing 1 bit of n completes a subtree: the new node at `level` joins its stored
        # left sibling (level, (n >> level) - 1), tlog.StoredHashesForRecordHash.
        for level in range(_trailing_zeros(n + 1)):
            last_leaf = ((n >> level) << level) - 1  # last leaf of the left sibling
            index = 2 * last_leaf - last_leaf.bit_count() + level
            left = out[index - base] if index >= base else old[index]
            h = _sha256(NODE_PREFIX + left + h).digest()
            out.append(h)
    return out


def _range_indexes(lo: int, hi: int, need: list[int]) -> int:
    """Append the storage indexes of the complete subtrees that exactly cover leaves [lo, hi).

    Greedy, largest first, as RFC 9162 §2.1.1 splits (tlog.subTreeIndex); ``lo`` must be aligned,
    which holds for every range this module asks about. Returns how many were appended.
    """
    count = 0
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        last_leaf = lo + (1 << level) - 1
        need.append(2 * last_leaf - last_leaf.bit_count() + level)
        lo = last_leaf + 1
        count += 1
    return count


def border_indexes(size: int) -> list[int]:
    """The storage indexes of the complete subtrees that make up a tree of ``size`` leaves, left
    to right: all that ``tree_hash(size)`` reads, and all that ``stored_hashes_for_leaves(size,
    ...)`` reads of what was stored before. Each later size's border is made of hashes of this
    border and hashes stored after it (index >= ``stored_hash_count(size)``). No I/O.
    """
    _require_size("size", size)
    need: list[int] = []
    _range_indexes(0, size, need)
    return need


def _fold(hashes: Sequence[bytes]) -> bytes:
    """The root over consecutive complete subtrees, given left to right (tlog.subTreeHash)."""
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = _sha256(NODE_PREFIX + left + h).digest()
    return h


def tree_hash(tree_size: int, reader: HashReader) -> bytes:
    """MTH(D[tree_size]), RFC 9162 §2.1.1, from at most log2(n) + 1 stored hashes in one read.

    The empty tree gives EMPTY_ROOT without reading. Raises InvalidParameter if tree_size < 0, or
    whatever the reader raises for a size beyond the store. No I/O of its own.
    """
    _require_size("tree_size", tree_size)
    if tree_size == 0:
        return EMPTY_ROOT
    indexes: list[int] = []
    _range_indexes(0, tree_size, indexes)
    return _fold(_read(reader, indexes))


# --- Proof generation (RFC 9162 §2.1.3.1, §2.1.4.1) -----------------------------------------------


def _plan_node_proof(level: int, index: int, size: int, need: list[int]) -> tuple[int, int]:
    """Append the storage indexes proving node (level, index) in the tree of ``size`` leaves.

    The path from the node up to the root first climbs through complete subtrees up to the ``fork``,
    the highest ancestor that does not reach leaf ``size``; then the fork's right neighbour covers
    [end, size) and may be incomplete ("ephemeral": several stored pieces, hashed together); above
    it only left siblings remain, the complete subtrees that make up [0, begin). Returns
    ``(inner, pieces)``: how many sibling hashes precede the ephemeral node, and how many stored
    hashes make it up (0 if the fork reaches the end of the tree).
    """
    inner = (index ^ (size >> level)).bit_length() - 1
    fork_level = level + inner
    begin = (index >> inner) << fork_level
    for lvl in range(level, fork_level):
        sibling = (index >> (lvl - level)) ^ 1
        last_leaf = ((sibling + 1) << lvl) - 1
        need.append(2 * last_leaf - last_leaf.bit_count() + lvl)
    pieces = _range_indexes(begin + (1 << fork_level), size, need)
    rest, lvl = begin >> fork_level, fork_level
    while rest:  # left siblings: the set bits of `begin`, lowest level first
        if rest & 1:
            last_leaf = (rest << lvl) - 1
            need.append(2 * last_leaf - last_leaf.bit_count() + lvl)
        rest >>= 1
        lvl += 1
    return inner, pieces


def _assemble(hashes: list[bytes], inner: int, pieces: int) -> list[bytes]:
    """Turn the stored hashes of a plan into proof hashes: fold the ephemeral node's pieces."""
    if pieces <= 1:  # a single piece is the right sibling itself
        return hashes
    end = inner + pieces
    return [*hashes[:inner], _fold(hashes[inner:end]), *hashes[end:]]


def inclusion_proof(tree_size: int, index: int, reader: HashReader) -> list[bytes]:
    """PATH(index, D[tree_size]), RFC 9162 §2.1.3.1: the audit path of leaf ``index``.

    O(log n) stored hashes fetched in one ``read_hashes`` call (none for a one-leaf tree), then at
    most log2(n) hashes computed. Raises InvalidParameter unless 0 <= index < tree_size, or whatever
    the reader raises for a size beyond the store. No I/O of its own.
    """
    _require_size("index", index)
    if index >= tree_size:
        raise InvalidParameter(f"leaf index {index} is not below tree size {tree_size}")
    need: list[int] = []
    inner, pieces = _plan_node_proof(0, index, tree_size, need)
    if not need:
        return []
    return _assemble(_read(reader, need), inner, pieces)


def inclusion_proofs(
    tree_size: int, indexes: Sequence[int], reader: HashReader
) -> list[list[bytes]]:
    """``inclusion_proof`` for many leaves of one tree, with one ``read_hashes`` call in all.

    The proofs share their upper hashes, so each stored hash is read once. Raises
    InvalidParameter unless every index is in 0 <= index < tree_size, or whatever the reader
    raises. No I/O of its own.
    """
    plans: list[tuple[list[int], int, int]] = []
    for index in indexes:
        _require_size("index", index)
        if index >= tree_size:
            raise InvalidParameter(f"leaf index {index} is not below tree size {tree_size}")
        need: list[int] = []
        inner, pieces = _plan_node_proof(0, index, tree_size, need)
        plans.append((need, inner, pieces))
    unique = list(dict.fromkeys(i for need, _, _ in plans for i in need))
    stored = dict(zip(unique, _read(reader, unique), strict=True)) if unique else {}
    return [
        _assemble([stored[i] for i in need], inner, pieces) if need else []
        for need, inner, pieces in plans
    ]


def consistency_proof(size1: int, size2: int, reader: HashReader) -> list[bytes]:
    """PROOF(size1, D[size2]), RFC 9162 §2.1.4.1: proof that the first size1 leaves are a prefix.

    Empty when size1 == size2. Uses one ``read_hashes`` call. Raises InvalidParameter unless
    0 < size1 <= size2 (from the empty tree there is nothing to prove), or whatever the reader
    raises for a size beyond the store. No I/O of its own.
    """
    _check_consistency_sizes(size1, size2)
    if size1 == size2:
        return []  # RFC 9162 §2.1.4.1: SUBPROOF(m, D[m], true) = {}
    # The largest complete subtree ending at size1 seeds the proof; the rest is its audit path.
    level = _trailing_zeros(size1)
    index = (size1 - 1) >> level
    need: list[int] = []
    if index:  # unless size1 is a power of two: then the seed is root1, which the verifier has
        last_leaf = size1 - 1
        need.append(2 * last_leaf - last_leaf.bit_count() + level)
    inner, pieces = _plan_node_proof(level, index, size2, need)
    hashes = _read(reader, need)
    if index:
        return [hashes[0], *_assemble(hashes[1:], inner, pieces)]
    return _assemble(hashes, inner, pieces)


def _check_consistency_sizes(size1: int, size2: int) -> None:
    _require_size("size1", size1)
    if size1 > size2:
        raise InvalidParameter(f"size1 {size1} is larger than size2 {size2}")
    if size1 == 0:
        raise InvalidParameter("a consistency proof from the empty tree proves nothing")


# --- Verification (RFC 9162 §2.1.3.2, §2.1.4.2) ---------------------------------------------------


def root_from_inclusion_proof(
    index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` leads to from leaf ``index``, RFC 9162 §2.1.3.2 steps 1-4.

    Raises InvalidParameter unless 0 <= index < tree_size, MalformedProof if the leaf hash or a
    proof hash is not 32 bytes or the proof has the wrong number of hashes. No I/O.
    """
    # Step 1: the leaf must be inside the tree.
    if not 0 <= index < tree_size:
        _require_size("index", index)
        raise InvalidParameter(f"leaf index {index} is not below tree size {tree_size}")
    _require_hash(leaf_hash, "leaf hash")
    if proof and set(map(len, proof)) != {HASH_SIZE}:
        raise MalformedProof(f"every proof hash must be {HASH_SIZE} bytes")
    # Steps 2-5 of §2.1.3.2 walk fn and sn down bit by bit. Their path splits in two runs, as in
    # transparency-dev/merkle's RootFromInclusionProof: the first `inner` levels, below the
    # point where the leaf's path leaves the tree's right border, take the sibling on the side
    # bit i of the index says (step 4b/4c); every level above is on the right border, where
    # fn == sn or fn is odd, and the sibling is always on the left (step 4b with step 4b.ii
    # skipping the levels that have no sibling). One hash per level with a sibling: a proof of
    # any other length is one the RFC's loop rejects (step 4a: too many; step 5: too few).
    inner = (index ^ (tree_size - 1)).bit_length()
    expected = inclusion_proof_size(index, tree_size)
    if len(proof) != expected:
        few_or_many = "few" if len(proof) < expected else "many"
        raise MalformedProof(f"inclusion proof has too {few_or_many} hashes")
    # Each step is node_hash(p, r) or node_hash(r, p): SHA-256(0x01 || left || right).
    r, node, bits = leaf_hash, _NODE_HASH_STATE.copy, index
    for p in proof[:inner]:
        h = node()
        if bits & 1:  # r is a right child
            h.update(p)
            h.update(r)
        else:
            h.update(r)
            h.update(p)
        r = h.digest()
        bits >>= 1
    for p in proof[inner:]:
        h = node()
        h.update(p)
        h.update(r)
        r = h.digest()
    return r


def inclusion_proof_size(index: int, tree_size: int) -> int:
    """How many hashes the inclusion proof of leaf ``index`` in a tree of ``tree_size`` holds
    (0 <= index < tree_size): one per level below the root where its path has a sibling."""
    inner = (index ^ (tree_size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> bytes:
    """The root of the tree of ``size2`` that ``proof`` leads to from ``root1`` at ``size1``
    (0 < size1 < size2), RFC 9162 §2.1.4.2 with step 7's check of root1; what a verifier that is
    given the newer root only through a signature over it (a COSE consistency receipt) needs.

    Raises InvalidParameter for sizes out of order, MalformedProof for a proof of the wrong shape,
    ProofError if the proof does not lead to ``root1``. No I/O.
    """
    _check_consistency_sizes(size1, size2)
    if size1 == size2:
        raise InvalidParameter("a consistency proof needs a smaller first size")
    _require_hash(root1, "root1")
    if not proof:
        raise MalformedProof("consistency proof is empty")
    fr, sr = _consistency_roots(size1, size2, proof, root1)
    if fr != root1:
        raise ProofError("consistency proof does not lead to root1")
    return sr


def verify_inclusion(
    index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf ``index`` with ``leaf_hash`` is in the tree of ``tree_size`` with ``root``.

    RFC 9162 §2.1.3.2. Returns None on success. Raises InvalidParameter unless
    0 <= index < tree_size, MalformedProof for a hash that is not 32 bytes (including the root) or a
    proof of the wrong length, ProofError if the proof leads to another root. No I/O.
    """
    computed = root_from_inclusion_proof(index, tree_size, leaf_hash, proof)
    _require_hash(root, "root")
    # Step 5, second half.
    if computed != root:
        raise ProofError("inclusion proof does not lead to the expected root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of size1 with root1 is a prefix of the tree of size2 with root2.

    RFC 9162 §2.1.4.2. Returns None on success. Raises InvalidParameter unless 0 < size1 <= size2,
    MalformedProof for a hash that is not 32 bytes or a proof of the wrong length (a non-empty proof
    for size1 == size2 included), ProofError if either root does not match. For size1 == size2 the
    roots are only compared with each other. No I/O.
    """
    _check_consistency_sizes(size1, size2)
    if size1 == size2:
        if proof:
            raise MalformedProof("a consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise ProofError("equal tree sizes with different roots")
        return
    _require_hash(root1, "root1")
    _require_hash(root2, "root2")
    # Step 1: an empty proof can only be right for equal sizes, handled above.
    if not proof:
        raise MalformedProof("consistency proof is empty")
    fr, sr = _consistency_roots(size1, size2, proof, root1)
    # Step 7.
    if fr != root1:
        raise ProofError("consistency proof does not lead to root1")
    if sr != root2:
        raise ProofError("consistency proof does not lead to root2")


def _consistency_roots(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 2-7 (sn check): the roots (fr, sr) the proof leads to."""
    for c in proof:
        _require_hash(c, "proof hash")
    # Step 2: if size1 is a power of two, the path starts from root1 itself.
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else proof
    # Steps 3-4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    node = _NODE_HASH_STATE.copy
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise MalformedProof("consistency proof has too many hashes")
        if fn & 1 or fn == sn:
            h = node()
            h.update(c)
            h.update(fr)
            fr = h.digest()
            h = node()
            h.update(c)
            h.update(sr)
            sr = h.digest()
            while fn and not fn & 1:  # step 6, first branch, iii
                fn >>= 1
                sn >>= 1
        else:
            h = node()
            h.update(sr)
            h.update(c)
            sr = h.digest()
        fn >>= 1
        sn >>= 1
    # Step 7, last check: the path must end at the root of the second tree.
    if sn != 0:
        raise MalformedProof("consistency proof has too few hashes")
    return fr, sr


# --- An in-memory store ---------------------------------------------------------------------------


class MemoryHashStore:
    """An append-only list of stored hashes in tlog order; implements HashReader. No I/O.

    For tests, benchmarks and offline tools; the database-backed store keeps the same layout.
    """

    def __init__(self) -> None:
        self._hashes: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hash_count(self) -> int:
        """Number of hashes stored (== stored_hash_count(size))."""
        return len(self._hashes)

    def append_leaf_hash(self, h: bytes) -> None:
        """Append a leaf hash and the subtree hashes it completes. InvalidParameter if not 32 B."""
        self.append_leaf_hashes([h])

    def append_leaf_hashes(self, hashes: Sequence[bytes]) -> None:
        """Append consecutive leaf hashes in one batch. InvalidParameter if one is not 32 bytes."""
        self._hashes.extend(stored_hashes_for_leaves(self._size, hashes, self))
        self._size += len(hashes)

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """The stored hashes at ``indexes``, in order. InvalidParameter if one is not stored."""
        stored = self._hashes
        try:
            if indexes and min(indexes) < 0:
                raise IndexError
            return [stored[i] for i in indexes]
        except IndexError:
            raise InvalidParameter(
                f"hash index out of range: {len(stored)} hashes stored ({self._size} leaves)"
            ) from None
