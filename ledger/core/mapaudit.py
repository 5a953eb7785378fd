"""What an auditor needs to check the licence map a log signs (FORMAT §14.7), in flat memory.

* ``LatestNodeStore``: a ``vmap.MapNodeStore`` that keeps only the latest version of the map.
  Nodes are reference-counted (by their parents, and the root by the store); a node no longer
  reachable from the latest root is dropped as soon as an update replaces it. So the memory of a
  replay is that of one map (about two nodes per key), not of every version it went through
  (O(log n) nodes per changed key per version). Older versions cannot be read back.
* ``MapReplay``: the licence map recomputed from the entries as an audit folds them in log order
  (``licmap.entry_keys``, the rule ``LicenceMap.apply`` folds), one version per checkpointed size
  asked for, the entries in between applied together (in versions of up to ``batch_keys`` keys).
* ``node_to_json`` / ``node_from_json``: a stored node as ``GET /v1/map/node/{hash}`` serves it
  (README's API table).
* ``first_difference``: where two maps differ, the first key in key-hash order whose value (or
  presence) differs, found by walking both trees down from their roots only where their hashes
  differ (O(log n) nodes per differing path). The other map's nodes are read through any
  function (an HTTP client's ``/v1/map/node``, a database's node table) and each is checked
  against the hash it was asked for before it is believed.

Pure: no I/O here beyond the node-reading functions the caller passes in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .encoding import HASH_SIZE
from .errors import InvalidEncoding, InvalidParameter, MalformedProof, MapProofInvalid, NotFound
from .licmap import (
    MAP_VERSION,
    LicenceMap,
    MapEntry,
    decode_seqs,
    describe_key,
    entry_keys,
    pack_seq,
)
from .vmap import KEY_BITS, MAP_EMPTY_HASH, MapLeaf, MapNode, hash_of, key_hash

__all__ = [
    "LatestNodeStore",
    "MapDifference",
    "MapReplay",
    "NodeReader",
    "checked_reader",
    "first_difference",
    "first_key_under",
    "node_from_json",
    "node_to_json",
]

_EMPTY: Final = MAP_EMPTY_HASH

#: Reads the node whose hash is given; raises NotFound (or a server error) when it cannot.
NodeReader = Callable[[bytes], MapNode]


class LatestNodeStore:
    """``MapNodeStore`` holding the nodes of the latest version only (see the module doc).

    ``written`` counts every node ``put_nodes`` added (the nodes the replay wrote, across all
    versions); ``last_written`` holds the hashes added by the latest update, for an auditor that
    compares them with a server's stored nodes of that version.
    """

    def __init__(self) -> None:
        self.nodes: dict[bytes, MapNode] = {}
        self.refs: dict[bytes, int] = {}
        self.version = 0
        self.root = _EMPTY
        self.written = 0
        self.last_written: list[bytes] = []

    def __len__(self) -> int:
        return len(self.nodes)

    def get_node(self, node_hash: bytes) -> MapNode:
        try:
            return self.nodes[node_hash]
        except KeyError:
            raise NotFound(f"map node {node_hash.hex()} is not in the latest map") from None

    def root_at(self, version: int) -> bytes:
        if version != self.version:
            raise NotFound(f"only the latest map (version {self.version}) is kept, not {version}")
        return self.root

    def put_nodes(self, nodes: Mapping[bytes, MapNode]) -> None:
        """Add the nodes of an update; a node already stored is left as it is."""
        refs, stored = self.refs, self.nodes
        added = [h for h in nodes if h not in stored]
        for h in added:
            node = nodes[h]
            stored[h] = node
            refs[h] = refs.get(h, 0)
            if not isinstance(node, MapLeaf):
                for child in node:
                    if child != _EMPTY:
                        refs[child] = refs.get(child, 0) + 1
        self.written += len(added)
        self.last_written = added

    def put_root(self, version: int, root: bytes) -> None:
        """Make ``root`` the latest version's and drop what only older versions reached."""
        if version <= self.version and (version, root) != (self.version, self.root):
            raise InvalidParameter(f"map version {version} is not after {self.version}")
        old, self.root, self.version = self.root, root, version
        if root != _EMPTY:
            self.refs[root] = self.refs.get(root, 0) + 1
        self._release(old)
        for h in self.last_written:  # written by the update but not part of its tree
            if self.refs.get(h) == 0:
                self._drop(h)

    def _release(self, h: bytes) -> None:
        if h == _EMPTY or h not in self.refs:
            return
        self.refs[h] -= 1
        if self.refs[h] == 0:
            self._drop(h)

    def _drop(self, h: bytes) -> None:
        """Remove a node nothing refers to, and release its children (iteratively)."""
        stack = [h]
        while stack:
            at = stack.pop()
            node = self.nodes.pop(at, None)
            self.refs.pop(at, None)
            if node is None or isinstance(node, MapLeaf):
                continue
            for child in node:
                if child == _EMPTY or child not in self.refs:
                    continue
                self.refs[child] -= 1
                if self.refs[child] == 0:
                    stack.append(child)


class MapReplay:
    """The licence map of the audited prefix, recomputed from its entries in log order.

    ``add`` derives the next entry's map keys at once (``licmap.entry_keys``, which also keeps the
    key parties in log order) and queues its seq under each; ``root_at(size)`` applies what is
    queued as one version (the map is a function of its (key, value) pairs, so how entries are
    grouped into versions does not change any root) and returns the root of the first ``size``
    entries. Memory: one map per map version held (``LatestNodeStore``) and the queued seqs of at
    most ``batch_keys`` keys: past that many they are applied as a version of their own, whether
    or not a root was asked for. Larger versions are cheaper per key (they share more of each
    path): an audit that asks for one root at the end applies ``batch_keys`` keys at a time, not
    a version per checkpoint. ``seconds`` is the time spent deriving and applying (for
    benchmarks).

    ``versions``: the map versions (FORMAT §14.6) whose roots will be asked for, one map each.
    A log moves from version 1 to 2 once and never back, so asking for a version's root drops
    the maps of lower versions; asking for a version no longer (or never) held raises
    InvalidParameter. Pass (1, 2) only for a log that may have signed version-1 checkpoints
    among those checked: each version held costs one more map's work and memory.
    """

    def __init__(
        self, batch_keys: int = 200_000, versions: tuple[int, ...] = (MAP_VERSION,)
    ) -> None:
        self.batch_keys = batch_keys
        self.maps = {v: LicenceMap(LatestNodeStore(), version=v) for v in sorted(set(versions))}
        self._pending: dict[int, dict[bytes, bytearray]] = {v: {} for v in self.maps}
        self._size = 0
        self.seconds = 0.0

    @property
    def map(self) -> LicenceMap:
        """The map of the highest version held."""
        return self.maps[max(self.maps)]

    @property
    def store(self) -> LatestNodeStore:
        store = self.map.tree.store
        assert isinstance(store, LatestNodeStore)
        return store

    @property
    def size(self) -> int:
        """The entries added so far (applied or queued)."""
        return self._size

    def add(self, seq: int, entry: MapEntry) -> None:
        if seq != self._size:
            raise InvalidParameter(f"the map replay expects entry {self._size} next, not {seq}")
        started = time.perf_counter()
        packed = pack_seq(seq)
        full = False
        for version, licence_map in self.maps.items():
            pending = self._pending[version]
            for key in entry_keys(entry, licence_map.parties, version):
                queued = pending.get(key)
                if queued is None:
                    pending[key] = bytearray(packed)
                else:
                    queued += packed
            full = full or len(pending) >= self.batch_keys
        self._size += 1
        self.seconds += time.perf_counter() - started
        if full:
            self._apply()

    def root_at(self, size: int, version: int = MAP_VERSION) -> bytes:
        """The root of the map (of map ``version``) of entries [0, size); ``size`` must be the
        entries added so far.

        Raises InvalidParameter otherwise (the replay cannot go back: it keeps one tree
        version), or when ``version`` is not held: a version lower than one asked before (a log
        whose map version went back), or one the replay was not made for."""
        if size != self._size:
            raise InvalidParameter(f"the map replay holds {self._size} entries, not {size}")
        if version not in self.maps:
            raise InvalidParameter(
                f"a checkpoint commits licence map version {version} where this audit holds "
                f"version {max(self.maps)}: a log's map version never goes back (FORMAT §14.6)"
            )
        for lower in [v for v in self.maps if v < version]:
            del self.maps[lower]
            del self._pending[lower]
        self._apply()
        return self.maps[version].root

    def _apply(self) -> None:
        started = time.perf_counter()
        for version, pending in self._pending.items():
            if pending:
                self._pending[version] = {}
                values = {k: bytes(v) for k, v in pending.items()}
                self.maps[version].tree.append_values(self._size, values)
        self.seconds += time.perf_counter() - started

    def get_node(self, node_hash: bytes) -> MapNode:
        """A node of a latest map held (a ``NodeReader`` for ``first_difference``)."""
        for licence_map in self.maps.values():
            store = licence_map.tree.store
            assert isinstance(store, LatestNodeStore)
            if node_hash in store.nodes:
                return store.nodes[node_hash]
        return self.store.get_node(node_hash)  # raises NotFound


# --- a node on the wire ---------------------------------------------------------------------------


def node_to_json(node_hash: bytes, node: MapNode) -> dict[str, Any]:
    """``{"hash", "type": "internal", "left", "right"}`` or ``{"hash", "type": "leaf",
    "key_hash", "key", "value"}``, every field lowercase hex (an empty child is
    ``vmap.MAP_EMPTY_HASH``). The hash is the node's own (``vmap.hash_of``): a reader checks it."""
    if isinstance(node, MapLeaf):
        return {
            "hash": node_hash.hex(),
            "type": "leaf",
            "key_hash": node.key_hash.hex(),
            "key": node.key.hex(),
            "value": node.value.hex(),
        }
    left, right = node
    return {"hash": node_hash.hex(), "type": "internal", "left": left.hex(), "right": right.hex()}


def node_from_json(obj: object) -> MapNode:
    """``node_to_json`` read back; raises MalformedProof for anything else. It does not check the
    node's hash: ``checked_reader`` does, against the hash that was asked for."""
    try:
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        if obj.get("type") == "internal":
            left, right = (_hex(obj[k], HASH_SIZE) for k in ("left", "right"))
            return (left, right)
        if obj.get("type") == "leaf":
            return MapLeaf(_hex(obj["key_hash"], HASH_SIZE), _hex(obj["key"]), _hex(obj["value"]))
        raise ValueError("type is neither internal nor leaf")
    except (KeyError, TypeError, ValueError) as e:
        raise MalformedProof(f"not a map node: {e}") from e


def _hex(text: object, size: int | None = None) -> bytes:
    if not isinstance(text, str) or text != text.lower():
        raise ValueError("a field is not lowercase hex")
    raw = bytes.fromhex(text)
    if size is not None and len(raw) != size:
        raise ValueError(f"a hash is {size} bytes")
    return raw


# --- where two maps differ ------------------------------------------------------------------------


@dataclass(frozen=True)
class MapDifference:
    """The first key (in key-hash order) whose value differs between two maps.

    ``key`` is the key's bytes (from the expected map's leaf, else from the other map's leaf when
    they hash to ``key_hash``; None if neither shows it), ``expected`` and ``claimed`` the two
    values (None: absent from that map).
    """

    key_hash: bytes
    key: bytes | None
    expected: bytes | None
    claimed: bytes | None

    def key_text(self) -> str:
        """``content 3220…`` (``licmap.describe_key``), or the key hash where the key is unknown."""
        if self.key is not None:
            try:
                return describe_key(self.key)
            except InvalidEncoding:
                return f"key {self.key.hex()}"
        return f"key hash {self.key_hash.hex()}"

    def describe(self) -> str:
        """``content 3220…: the entries list seqs [4, 9], the log's map lists [4]``."""
        return (
            f"{self.key_text()}: the entries list {_seqs_text(self.expected)}, "
            f"the log's map lists {_seqs_text(self.claimed)}"
        )


def _seqs_text(value: bytes | None) -> str:
    if value is None:
        return "nothing (no such key)"
    try:
        return "seqs " + ", ".join(str(s) for s in decode_seqs(value))
    except InvalidEncoding:
        return f"the value {value.hex()} (not a list of seqs)"


def checked_reader(read: NodeReader) -> NodeReader:
    """``read`` that refuses a node whose hash is not the one asked for (MapProofInvalid): an
    untrusted source's nodes are believed only for the hash that names them."""

    def get(node_hash: bytes) -> MapNode:
        node = read(node_hash)
        if hash_of(node) != node_hash:
            raise MapProofInvalid(f"the map node served for {node_hash.hex()} has another hash")
        return node

    return get


def first_difference(
    expected_root: bytes,
    expected: NodeReader,
    claimed_root: bytes,
    claimed: NodeReader,
) -> MapDifference | None:
    """The first key in key-hash order whose value differs between the map at ``expected_root``
    (nodes read with ``expected``) and the one at ``claimed_root`` (``claimed``; pass it through
    ``checked_reader`` when it is not trusted). None when the roots are equal.

    Walks only the subtrees whose hashes differ, left (bit 0) before right. Raises whatever the
    readers raise (NotFound for a node not stored), and MapProofInvalid for a tree that is not a
    map (an internal node below depth 256).
    """
    walk = _Walk(expected, claimed)
    return walk.diff(expected_root, claimed_root, 0)


class _Walk:
    def __init__(self, expected: NodeReader, claimed: NodeReader) -> None:
        self.readers = (expected, claimed)

    def node(self, side: int, h: bytes) -> MapNode | None:
        return None if h == _EMPTY else self.readers[side](h)

    def diff(self, eh: bytes, ch: bytes, depth: int) -> MapDifference | None:
        if eh == ch:
            return None
        e, c = self.node(0, eh), self.node(1, ch)
        if isinstance(e, MapLeaf | None) and isinstance(c, MapLeaf | None):
            return _leaf_difference(e, c)
        if depth >= KEY_BITS:
            raise MapProofInvalid("a map tree has an internal node below depth 256")
        el, er = _children(e, eh, depth)
        cl, cr = _children(c, ch, depth)
        return self.diff(el, cl, depth + 1) or self.diff(er, cr, depth + 1)


def _children(node: MapNode | None, h: bytes, depth: int) -> tuple[bytes, bytes]:
    """The two subtrees under ``node`` at ``depth``; a leaf sits alone on its key's side."""
    if node is None:
        return _EMPTY, _EMPTY
    if isinstance(node, MapLeaf):
        bit = node.key_hash[depth >> 3] >> (7 - (depth & 7)) & 1
        return (_EMPTY, h) if bit else (h, _EMPTY)
    return node


def _leaf_difference(e: MapLeaf | None, c: MapLeaf | None) -> MapDifference | None:
    """Two subtrees of at most one key each, with different hashes: the first key that differs."""
    if e is not None and c is not None and e.key_hash == c.key_hash:
        return MapDifference(e.key_hash, e.key, e.value, c.value)
    # Different keys (or one side empty): the smaller key is in one map and not the other.
    if e is not None and (c is None or e.key_hash < c.key_hash):
        return MapDifference(e.key_hash, e.key, e.value, None)
    assert c is not None  # the hashes differ, so both cannot be empty
    key = c.key if key_hash(c.key) == c.key_hash else None
    return MapDifference(c.key_hash, key, None, c.value)


def first_key_under(root: bytes, read: NodeReader) -> MapLeaf | None:
    """The leaf with the smallest key hash in the subtree ``root`` (None if it is empty)."""
    at = root
    for _ in range(KEY_BITS + 1):
        if at == _EMPTY:
            return None
        node = read(at)
        if isinstance(node, MapLeaf):
            return node
        at = node[0] if node[0] != _EMPTY else node[1]
    raise MapProofInvalid("a map tree has an internal node below depth 256")
