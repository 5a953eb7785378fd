"""A verifiable map: a sparse Merkle tree over 256-bit key hashes, with proofs of membership and
of non-membership of O(log n) hashes (docs/FORMAT.md §14).

**The tree.** Conceptually a binary tree of depth 256 with one slot per possible key hash; the bit
``i`` of a key hash (most significant bit of byte 0 first) picks the left (0) or right (1) child at
depth ``i``. Its hashing is that of the Jellyfish Merkle tree (Diem/Aptos), which makes it cheap to
store and to prove:

* a subtree holding no key hashes to ``MAP_EMPTY_HASH``;
* a subtree holding exactly one key hashes to that key's **leaf hash**
  ``SHA-256(MAP_LEAF_CONTEXT || key hash || value hash)``, wherever the subtree sits;
* any other subtree hashes to ``SHA-256(MAP_NODE_CONTEXT || left hash || right hash)``.

So a leaf sits at the shallowest depth where it is alone, and a path from the root has about
``log2(n)`` nodes for random key hashes. The structure is a function of the set of (key, value)
pairs only, never of the order of insertion.

**Storage.** Nodes are addressed by their hash (content-addressed, as in a Git object store), so a
store only ever *adds* nodes: an update writes the O(log n) new nodes on each changed path and
leaves every older node in place. A map root is recorded per version (the log's tree size the map
was derived at); any recorded root, and so any stored version, can be walked and proved from.
``MapNodeStore`` is the interface a database implementation provides; ``MemoryNodeStore`` is the
in-memory one. The map only grows: values change and keys are added, no key is ever removed.

**Proofs.** A proof is the list of sibling hashes on the path to the key's slot, from the root
down, and what the path ends at: nothing (an empty subtree), or a leaf (its key hash and value
hash). A leaf of the key asked about proves membership and its value hash; an empty end or
another key's leaf proves non-membership. ``verify_map_proof`` follows the numbered steps of
FORMAT §14.5; ``verify_membership`` and ``verify_non_membership`` raise typed errors, and
``check_membership`` / ``check_non_membership`` return a report instead.

Nothing in this module does I/O.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

from .encoding import HASH_SIZE
from .errors import (
    InvalidParameter,
    LedgerError,
    MalformedProof,
    MapKeyAbsent,
    MapKeyPresent,
    MapProofInvalid,
    MapValueMismatch,
    NotFound,
)

__all__ = [
    "KEY_BITS",
    "MAP_EMPTY_CONTEXT",
    "MAP_EMPTY_HASH",
    "MAP_KEY_CONTEXT",
    "MAP_LEAF_CONTEXT",
    "MAP_NODE_CONTEXT",
    "MAP_VALUE_CONTEXT",
    "MapInternal",
    "MapLeaf",
    "MapNode",
    "MapNodeReader",
    "MapNodeStore",
    "MapProof",
    "MapProofReport",
    "MemoryNodeStore",
    "SparseMerkleMap",
    "check_membership",
    "check_non_membership",
    "decode_node",
    "decode_proof",
    "encode_node",
    "encode_proof",
    "hash_of",
    "key_hash",
    "leaf_hash",
    "node_hash",
    "root_of",
    "value_hash",
    "verify_map_proof",
    "verify_membership",
    "verify_non_membership",
]

#: Domain separation of every hash the map defines (FORMAT §2.3, §14.3): versioned, newline-ended.
MAP_KEY_CONTEXT: Final = b"consent-ledger/map/v1/key\n"
MAP_VALUE_CONTEXT: Final = b"consent-ledger/map/v1/value\n"
MAP_LEAF_CONTEXT: Final = b"consent-ledger/map/v1/leaf\n"
MAP_NODE_CONTEXT: Final = b"consent-ledger/map/v1/node\n"
MAP_EMPTY_CONTEXT: Final = b"consent-ledger/map/v1/empty\n"
#: The hash of an empty subtree at any depth, and the root of the empty map.
MAP_EMPTY_HASH: Final = hashlib.sha256(MAP_EMPTY_CONTEXT).digest()
KEY_BITS: Final = 256

_sha256 = hashlib.sha256
_TOP: Final = KEY_BITS - 1
_TERMINAL_EMPTY: Final = 0
_TERMINAL_LEAF: Final = 1


def key_hash(key: bytes) -> bytes:
    """SHA-256(MAP_KEY_CONTEXT || key): where ``key`` (its encoded bytes) sits in the tree."""
    return _sha256(MAP_KEY_CONTEXT + key).digest()


def value_hash(value: bytes) -> bytes:
    return _sha256(MAP_VALUE_CONTEXT + value).digest()


def leaf_hash(key_hash_: bytes, value_hash_: bytes) -> bytes:
    return _sha256(MAP_LEAF_CONTEXT + key_hash_ + value_hash_).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(MAP_NODE_CONTEXT + left + right).digest()


#: A subtree with two or more keys: the pair (left child's hash, right child's hash); either may be
#: ``MAP_EMPTY_HASH``. A plain tuple: the update loops make millions of them.
MapInternal = tuple[bytes, bytes]


class MapLeaf(NamedTuple):
    """A subtree with one key: the key's hash (``key_hash(key)``), the key's bytes, the value."""

    key_hash: bytes
    key: bytes
    value: bytes


MapNode = MapInternal | MapLeaf


def hash_of(node: MapNode) -> bytes:
    if isinstance(node, MapLeaf):
        return leaf_hash(node.key_hash, value_hash(node.value))
    if isinstance(node, tuple) and len(node) == 2:
        return node_hash(node[0], node[1])
    raise TypeError(f"not a map node: {type(node).__name__}")


_NODE_INTERNAL: Final = 0x00
_NODE_LEAF: Final = 0x01


def encode_node(node: MapNode) -> bytes:
    """A node's bytes in a store (not part of FORMAT §14: how a server keeps its nodes is its own
    business): ``0x00 || left || right`` for an internal node, ``0x01 || key hash || u16 key
    length || key || value`` for a leaf."""
    if isinstance(node, MapLeaf):
        return b"".join(
            (b"\x01", node.key_hash, len(node.key).to_bytes(2, "big"), node.key, node.value)
        )
    return b"\x00" + node[0] + node[1]


def decode_node(data: bytes) -> MapNode:
    """``encode_node`` reversed; raises MalformedProof on anything else (a damaged store)."""
    if len(data) == 1 + 2 * HASH_SIZE and data[0] == _NODE_INTERNAL:
        return (data[1 : 1 + HASH_SIZE], data[1 + HASH_SIZE :])
    if len(data) >= 3 + HASH_SIZE and data[0] == _NODE_LEAF:
        key_len = int.from_bytes(data[1 + HASH_SIZE : 3 + HASH_SIZE], "big")
        key = data[3 + HASH_SIZE : 3 + HASH_SIZE + key_len]
        if len(key) == key_len:
            return MapLeaf(data[1 : 1 + HASH_SIZE], key, data[3 + HASH_SIZE + key_len :])
    raise MalformedProof("a stored map node is damaged")


# --- Storage -----------------------------------------------------------------------------------


class MapNodeReader(Protocol):
    """Read access to stored nodes and the roots recorded per version."""

    def get_node(self, node_hash: bytes) -> MapNode:
        """The node whose hash is ``node_hash``; raises NotFound if it is not stored."""
        ...

    def root_at(self, version: int) -> bytes:
        """The map root recorded for ``version``; raises NotFound if none was recorded."""
        ...


class MapNodeStore(MapNodeReader, Protocol):
    """A node store that only grows: new nodes and new roots are added, nothing is overwritten.

    ``put_nodes`` may be given a node that is already stored (its hash names the same node), and
    then does nothing for it. ``put_root`` records the root of a version once; recording another
    root for a recorded version raises InvalidParameter. A store may also offer
    ``prefetch(root, key_hashes)``, which ``SparseMerkleMap.append_values`` calls before an update
    with the hashes of its keys, so that a store over a database reads the paths it will walk in a
    few queries.
    """

    def put_nodes(self, nodes: Mapping[bytes, MapNode]) -> None: ...

    def put_root(self, version: int, root: bytes) -> None: ...


class MemoryNodeStore:
    """``MapNodeStore`` in two dicts. Holds every node of every recorded version."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, MapNode] = {}
        self.roots: dict[int, bytes] = {0: MAP_EMPTY_HASH}

    def get_node(self, node_hash: bytes) -> MapNode:
        try:
            return self.nodes[node_hash]
        except KeyError:
            raise NotFound(f"map node {node_hash.hex()} is not stored") from None

    def root_at(self, version: int) -> bytes:
        try:
            return self.roots[version]
        except KeyError:
            raise NotFound(f"no map root is recorded for version {version}") from None

    def put_nodes(self, nodes: Mapping[bytes, MapNode]) -> None:
        self.nodes.update(nodes)

    def put_root(self, version: int, root: bytes) -> None:
        known = self.roots.get(version)
        if known is not None and known != root:
            raise InvalidParameter(f"version {version} already has another map root")
        self.roots[version] = root


# --- Updates -----------------------------------------------------------------------------------


class _Pending(NamedTuple):
    """One key of a batch: its hash as an integer (for bit tests), the hash, the key, and either
    the bytes to append to its value (``node`` is None) or an existing leaf moved down as is."""

    kint: int
    key_hash: bytes
    key: bytes
    suffix: bytes
    node: MapLeaf | None


def _bit(kint: int, depth: int) -> int:
    return (kint >> (_TOP - depth)) & 1


class SparseMerkleMap:
    """The map over a node store, at its latest version.

    ``append_values`` is the only write: for each key, bytes are appended to its value (a key not
    yet in the map starts from the empty value). That is all the log-derived map needs (its values
    are growing lists of seqs), and it lets a batch read each old value on the way down instead of
    in a separate lookup. No I/O here beyond the store's methods.
    """

    def __init__(self, store: MapNodeStore | None = None, version: int = 0) -> None:
        self.store: MapNodeStore = store if store is not None else MemoryNodeStore()
        self.version = version
        self.root = self.store.root_at(version)

    def append_values(self, version: int, suffixes: Mapping[bytes, bytes]) -> bytes:
        """Append ``suffixes[key]`` to each key's value, record the new root as ``version`` and
        return it. Work is shared across the batch: every node on the union of the paths is read
        and rewritten once. Raises InvalidParameter if ``version`` does not move forward."""
        if version <= self.version:
            raise InvalidParameter(f"map version {version} is not after {self.version}")
        new_nodes: dict[bytes, MapNode] = {}
        root = self.root
        if suffixes:
            hashes = [key_hash(key) for key in suffixes]
            prefetch = getattr(self.store, "prefetch", None)
            if prefetch is not None:  # a store over a database reads the paths up front
                prefetch(root, hashes)
            pending = sorted(
                _Pending(int.from_bytes(h, "big"), h, key, suffix, None)
                for h, (key, suffix) in zip(hashes, suffixes.items(), strict=True)
            )
            kints = [p.kint for p in pending]
            root = self._update(root, 0, pending, kints, 0, len(pending), new_nodes)
        # Nodes first, then the root that names them: a store never holds a root it cannot walk.
        self.store.put_nodes(new_nodes)
        self.store.put_root(version, root)
        self.root, self.version = root, version
        return root

    def _update(
        self,
        at: bytes,
        depth: int,
        pending: list[_Pending],
        kints: list[int],
        lo: int,
        hi: int,
        out: dict[bytes, MapNode],
    ) -> bytes:
        """The new hash of the subtree ``at`` (at ``depth``) after applying ``pending[lo:hi]``."""
        if hi - lo == 1:
            return self._update_one(at, depth, pending[lo], out)
        if at == MAP_EMPTY_HASH:
            return self._build(depth, pending[lo:hi], out)
        node = self.store.get_node(at)
        if isinstance(node, MapLeaf):
            return self._build(depth, _merge_leaf(node, pending[lo:hi]), out)
        old_left, old_right = node
        mid = _split(kints, lo, hi, depth)
        depth += 1
        left = self._update(old_left, depth, pending, kints, lo, mid, out) if lo < mid else old_left
        right = (
            self._update(old_right, depth, pending, kints, mid, hi, out) if mid < hi else old_right
        )
        h = _sha256(MAP_NODE_CONTEXT + left + right).digest()
        out[h] = (left, right)
        return h

    def _update_one(
        self, at: bytes, depth: int, item: _Pending, out: dict[bytes, MapNode]
    ) -> bytes:
        """``_update`` for a single key, as a loop: down to where its path stops, then back up."""
        get, empty, context, sha = self.store.get_node, MAP_EMPTY_HASH, MAP_NODE_CONTEXT, _sha256
        bits = format(item.kint, "0256b")  # one character per depth: cheaper than 256-bit shifts
        path: list[tuple[bytes, bool]] = []  # (the sibling's hash, the key goes right) per depth
        found: MapLeaf | None = None
        while at != empty:
            node = get(at)
            if isinstance(node, MapLeaf):
                found = node
                break
            if bits[depth] == "1":
                path.append((node[0], True))
                at = node[1]
            else:
                path.append((node[1], False))
                at = node[0]
            depth += 1
        value = item.suffix
        if found is not None and found.key_hash == item.key_hash:
            value = found.value + item.suffix
            found = None  # replaced by the grown leaf, not moved down
        h = _sha256(MAP_LEAF_CONTEXT + item.key_hash + value_hash(value)).digest()
        out[h] = MapLeaf(item.key_hash, item.key, value)
        if found is not None:
            # Another key's leaf: both go down to the first bit where their hashes differ.
            old = _sha256(MAP_LEAF_CONTEXT + found.key_hash + value_hash(found.value)).digest()
            split = KEY_BITS - (int.from_bytes(found.key_hash, "big") ^ item.kint).bit_length()
            pair = (old, h) if bits[split] == "1" else (h, old)
            h = sha(context + pair[0] + pair[1]).digest()
            out[h] = pair
            for i in range(split - 1, depth - 1, -1):
                pair = (empty, h) if bits[i] == "1" else (h, empty)
                h = sha(context + pair[0] + pair[1]).digest()
                out[h] = pair
        for sibling, right in reversed(path):
            if right:
                pair = (sibling, h)
                h = sha(context + sibling + h).digest()
            else:
                pair = (h, sibling)
                h = sha(context + h + sibling).digest()
            out[h] = pair
        return h

    def _build(self, depth: int, items: list[_Pending], out: dict[bytes, MapNode]) -> bytes:
        """The hash of a subtree holding exactly ``items`` (sorted, at least one), built afresh."""
        return _build(depth, items, [it.kint for it in items], 0, len(items), out)

    # --- Reads ---------------------------------------------------------------------------------

    def get(self, key: bytes, version: int | None = None) -> bytes | None:
        """The value of ``key`` at ``version`` (default: the latest), or None if absent."""
        found = self._walk(key_hash(key), self._root(version))[1]
        return found.value if found is not None and found.key == key else None

    def prove(self, key: bytes, version: int | None = None) -> MapProof:
        """The proof of what ``key``'s slot holds at ``version`` (default: the latest)."""
        return self.lookup(key, version)[1]

    def lookup(self, key: bytes, version: int | None = None) -> tuple[bytes | None, MapProof]:
        """``get`` and ``prove`` in one walk: the value (None if absent) and its proof."""
        kh = key_hash(key)
        siblings, found = self._walk(kh, self._root(version))
        if found is None:
            return None, MapProof(tuple(siblings), None)
        proof = MapProof(tuple(siblings), (found.key_hash, value_hash(found.value)))
        return (found.value if found.key_hash == kh else None), proof

    def _root(self, version: int | None) -> bytes:
        return (
            self.root if version is None or version == self.version else self.store.root_at(version)
        )

    def _walk(self, kh: bytes, at: bytes) -> tuple[list[bytes], MapLeaf | None]:
        kint = int.from_bytes(kh, "big")
        siblings: list[bytes] = []
        depth = 0
        while at != MAP_EMPTY_HASH:
            node = self.store.get_node(at)
            if isinstance(node, MapLeaf):
                return siblings, node
            bit = _bit(kint, depth)
            siblings.append(node[1 - bit])
            at = node[bit]
            depth += 1
        return siblings, None

    def items(self, version: int | None = None) -> Iterable[tuple[bytes, bytes]]:
        """Every (key, value), in key-hash order (for audits and tests: walks the whole tree)."""
        stack = [self._root(version)]
        while stack:
            at = stack.pop()
            if at == MAP_EMPTY_HASH:
                continue
            node = self.store.get_node(at)
            if isinstance(node, MapLeaf):
                yield node.key, node.value
            else:
                stack.extend((node[1], node[0]))


def _build(
    depth: int,
    items: list[_Pending],
    kints: list[int],
    lo: int,
    hi: int,
    out: dict[bytes, MapNode],
) -> bytes:
    if hi - lo == 1:
        item = items[lo]
        if item.node is not None:  # an existing leaf moved down: same hash, already stored
            return leaf_hash(item.key_hash, value_hash(item.node.value))
        h = leaf_hash(item.key_hash, value_hash(item.suffix))
        out[h] = MapLeaf(item.key_hash, item.key, item.suffix)
        return h
    mid = _split(kints, lo, hi, depth)
    left = _build(depth + 1, items, kints, lo, mid, out) if lo < mid else MAP_EMPTY_HASH
    right = _build(depth + 1, items, kints, mid, hi, out) if mid < hi else MAP_EMPTY_HASH
    h = _sha256(MAP_NODE_CONTEXT + left + right).digest()
    out[h] = (left, right)
    return h


def _split(kints: list[int], lo: int, hi: int, depth: int) -> int:
    """The first index in ``[lo, hi)`` whose key has bit ``depth`` set (all share the bits
    above it)."""
    shift = _TOP - depth
    threshold = ((kints[lo] >> (shift + 1)) << (shift + 1)) | (1 << shift)
    return bisect_left(kints, threshold, lo, hi)


def _merge_leaf(leaf: MapLeaf, items: list[_Pending]) -> list[_Pending]:
    """``items`` with the existing ``leaf`` folded in: its value grows if its key is pending, else
    it joins the batch unchanged (to be moved down next to the new keys)."""
    kint = int.from_bytes(leaf.key_hash, "big")
    at = bisect_left([it.kint for it in items], kint)
    if at < len(items) and items[at].kint == kint:
        grown = items[at]._replace(suffix=leaf.value + items[at].suffix)
        return [*items[:at], grown, *items[at + 1 :]]
    return [*items[:at], _Pending(kint, leaf.key_hash, leaf.key, b"", leaf), *items[at:]]


# --- Proofs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapProof:
    """The siblings on a key's path from the root down (``MAP_EMPTY_HASH`` for empty ones), and
    the leaf the path ends at as (key hash, value hash), or None for an empty subtree."""

    siblings: tuple[bytes, ...]
    leaf: tuple[bytes, bytes] | None

    def to_bytes(self) -> bytes:
        return encode_proof(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> MapProof:
        return decode_proof(data)


def encode_proof(proof: MapProof) -> bytes:
    """FORMAT §14.4: u16 depth, a bitmap of the non-empty siblings, those siblings, the end."""
    depth = len(proof.siblings)
    bitmap = 0
    present: list[bytes] = []
    for i, sibling in enumerate(proof.siblings):
        if sibling != MAP_EMPTY_HASH:
            bitmap |= 1 << (7 - (i & 7)) << (8 * ((depth + 7) // 8 - 1 - (i >> 3)))
            present.append(sibling)
    parts = [depth.to_bytes(2, "big"), bitmap.to_bytes((depth + 7) // 8, "big"), *present]
    if proof.leaf is None:
        parts.append(bytes([_TERMINAL_EMPTY]))
    else:
        parts.extend((bytes([_TERMINAL_LEAF]), *proof.leaf))
    return b"".join(parts)


def decode_proof(data: bytes) -> MapProof:
    """Parse the bytes of FORMAT §14.4, refusing every non-canonical form (MalformedProof)."""
    if len(data) < 3:
        raise MalformedProof("map proof is truncated")
    depth = int.from_bytes(data[:2], "big")
    if depth > KEY_BITS:
        raise MalformedProof(f"map proof depth {depth} is over {KEY_BITS}")
    nbytes = (depth + 7) // 8
    bitmap = data[2 : 2 + nbytes]
    if len(bitmap) < nbytes:
        raise MalformedProof("map proof is truncated")
    if depth % 8 and bitmap[-1] & (0xFF >> (depth % 8)):
        raise MalformedProof("map proof bitmap has bits set beyond its depth")
    # One character per sibling, "1" where the bitmap says it is present (most significant
    # bit of the first byte first).
    flags = format(int.from_bytes(bitmap, "big"), f"0{8 * nbytes}b")[:depth]
    offset = 2 + nbytes
    end = offset + HASH_SIZE * flags.count("1")
    if len(data) < end:
        raise MalformedProof("map proof is truncated")
    present = [data[at : at + HASH_SIZE] for at in range(offset, end, HASH_SIZE)]
    if MAP_EMPTY_HASH in present:
        raise MalformedProof("map proof spells an empty sibling as a hash, not in the bitmap")
    given = iter(present)
    siblings = [next(given) if flag == "1" else MAP_EMPTY_HASH for flag in flags]
    offset = end
    tail = data[offset:]
    if tail == bytes([_TERMINAL_EMPTY]):
        leaf = None
    elif len(tail) == 1 + 2 * HASH_SIZE and tail[0] == _TERMINAL_LEAF:
        leaf = (tail[1 : 1 + HASH_SIZE], tail[1 + HASH_SIZE :])
    else:
        raise MalformedProof("map proof does not end in exactly one empty or leaf terminal")
    if depth and flags[-1] == "0":
        # A leaf or an empty subtree never has an empty sibling in a canonical tree: the parent
        # would itself be that leaf, or empty.
        raise MalformedProof("map proof ends next to an empty sibling")
    return MapProof(tuple(siblings), leaf)


@dataclass(frozen=True)
class MapProofReport:
    """What a map proof established, or why it did not.

    ``ok`` is true when the proof verified *and* said what was asked; ``present`` and
    ``value_hash`` say what the proof shows (when it verified); ``error`` is the typed error that
    the raising functions would raise. ``bool(report)`` is ``ok``.
    """

    ok: bool
    present: bool | None = None
    value_hash: bytes | None = None
    depth: int | None = None
    error: LedgerError | None = None

    def __bool__(self) -> bool:
        return self.ok

    @property
    def code(self) -> str | None:
        return None if self.error is None else self.error.code


def verify_map_proof(root: bytes, key: bytes, proof: bytes | MapProof) -> MapProofReport:
    """FORMAT §14.5 steps 1-6: check ``proof`` for ``key`` against ``root`` and say what it shows.

    Returns an ok report with ``present`` (and the key's ``value_hash`` when present). Raises
    MalformedProof for bytes that are not a canonical proof, MapProofInvalid when the proof does
    not lead to ``root`` for this key.
    """
    # 1. Parse the proof (canonical bytes only).
    parsed = proof if isinstance(proof, MapProof) else decode_proof(proof)
    if len(root) != HASH_SIZE:
        raise MalformedProof("a map root is 32 bytes")
    if len(parsed.siblings) > KEY_BITS or {*map(len, parsed.siblings)} - {HASH_SIZE}:
        raise MalformedProof(f"a map proof has at most {KEY_BITS} siblings of 32 bytes")
    # 2. The key's position in the tree.
    kh = key_hash(key)
    kint = int.from_bytes(kh, "big")
    depth = len(parsed.siblings)
    # 3. The hash the path ends at; a leaf must lie on the key's path (share its first bits).
    if parsed.leaf is None:
        at = MAP_EMPTY_HASH
    else:
        leaf_kh, leaf_vh = parsed.leaf
        if len(leaf_kh) != HASH_SIZE or len(leaf_vh) != HASH_SIZE:
            raise MalformedProof("a map proof's leaf holds two 32-byte hashes")
        leaf_kint = int.from_bytes(leaf_kh, "big")
        if depth and (leaf_kint ^ kint) >> (KEY_BITS - depth):
            raise MapProofInvalid("the proof's leaf does not lie on the path of this key")
        at = leaf_hash(leaf_kh, leaf_vh)
    # 4. Hash up from the end to the root, the key's bits choosing the side at each depth
    # (``node_hash`` inlined: this loop is most of an evidence bundle's map checks).
    bits, sha, context = format(kint, "0256b"), _sha256, MAP_NODE_CONTEXT
    for i in range(depth - 1, -1, -1):
        sibling = parsed.siblings[i]
        if bits[i] == "1":
            at = sha(context + sibling + at).digest()
        else:
            at = sha(context + at + sibling).digest()
    # 5. The result must be the root.
    if at != root:
        raise MapProofInvalid("the map proof does not lead to the map root")
    # 6. A leaf of this key proves membership with its value hash; anything else, absence.
    if parsed.leaf is not None and parsed.leaf[0] == kh:
        return MapProofReport(True, present=True, value_hash=parsed.leaf[1], depth=depth)
    return MapProofReport(True, present=False, depth=depth)


def verify_membership(
    root: bytes, key: bytes, value: bytes, proof: bytes | MapProof
) -> MapProofReport:
    """FORMAT §14.5 step 7: the map at ``root`` holds ``key`` with exactly ``value``.

    Raises MalformedProof, MapProofInvalid (as ``verify_map_proof``), MapKeyAbsent when the proof
    is valid and shows the key absent, MapValueMismatch when it shows another value.
    """
    report = verify_map_proof(root, key, proof)
    if not report.present:
        raise MapKeyAbsent("the map proof shows the key absent from the map")
    if report.value_hash != value_hash(value):
        raise MapValueMismatch("the map holds another value for this key")
    return report


def verify_non_membership(root: bytes, key: bytes, proof: bytes | MapProof) -> MapProofReport:
    """FORMAT §14.5 step 8: the map at ``root`` does not hold ``key``.

    Raises MalformedProof, MapProofInvalid (as ``verify_map_proof``), or MapKeyPresent when the
    proof is valid and shows the key present.
    """
    report = verify_map_proof(root, key, proof)
    if report.present:
        raise MapKeyPresent("the map proof shows the key present in the map")
    return report


_CHECK_ERRORS: Final = (
    MalformedProof,
    MapProofInvalid,
    MapKeyAbsent,
    MapKeyPresent,
    MapValueMismatch,
)


def check_membership(
    root: bytes, key: bytes, value: bytes, proof: bytes | MapProof
) -> MapProofReport:
    """``verify_membership`` as a report (``bool()`` false with ``error`` set) for audits."""
    try:
        return verify_membership(root, key, value, proof)
    except _CHECK_ERRORS as e:
        return MapProofReport(False, error=e)


def check_non_membership(root: bytes, key: bytes, proof: bytes | MapProof) -> MapProofReport:
    """``verify_non_membership`` as a report for audits."""
    try:
        return verify_non_membership(root, key, proof)
    except _CHECK_ERRORS as e:
        return MapProofReport(False, error=e)


def root_of(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The root of the map holding exactly ``pairs`` (key, value), computed without a store: the
    reference definition the tests compare the incremental tree with."""
    leaves = sorted((key_hash(k), v) for k, v in pairs)
    if len({kh for kh, _ in leaves}) != len(leaves):
        raise InvalidParameter("a key appears twice")

    def subtree(items: Sequence[tuple[bytes, bytes]], depth: int) -> bytes:
        if not items:
            return MAP_EMPTY_HASH
        if len(items) == 1:
            return leaf_hash(items[0][0], value_hash(items[0][1]))
        mid = next(
            (i for i, (kh, _) in enumerate(items) if _bit(int.from_bytes(kh, "big"), depth)),
            len(items),
        )
        return node_hash(subtree(items[:mid], depth + 1), subtree(items[mid:], depth + 1))

    return subtree(leaves, 0)
