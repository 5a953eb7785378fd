"""The licence map in the database: ``vmap.MapNodeStore`` over ``map_nodes`` and the map roots of
``checkpoints`` (docs/FORMAT.md §14).

Nodes are content-addressed and never rewritten, so a process may keep any node it has read or
written, forever and for every version: ``NodeCache`` is that memory, shared by the transactions
of a process. A map update first walks the paths it will change, one depth at a time, reading
every node the cache lacks at that depth in one query (``DbNodeStore.prefetch``); the update
itself then runs on the cache. The nodes a transaction writes go in with its other rows, and the
root goes in the checkpoint row of the size it was derived at.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Sequence as SequenceABC
from typing import Any, overload

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ledger.core.errors import NotFound
from ledger.core.licmap import KeyParties, LicenceMap
from ledger.core.vmap import (
    MAP_EMPTY_HASH,
    MapLeaf,
    MapNode,
    decode_node,
    encode_node,
    key_hash,
)
from ledger.server.storage.models import CheckpointRow, MapNodeRow
from ledger.server.storage.repository import _lookup, _rows

__all__ = ["DbNodeStore", "NodeCache", "NodeRows", "licence_map_at", "map_reader", "map_root_at"]

_NODES_BY_HASH = _lookup(select(MapNodeRow.hash, MapNodeRow.node), MapNodeRow.hash, "hashes")
_MAP_ROOT_AT = select(CheckpointRow.map_root).where(CheckpointRow.tree_size == bindparam("size"))


class NodeCache:
    """Map nodes by hash, kept across transactions (a node never changes). Bounded: when it holds
    ``max_nodes``, it is emptied and refilled from the database as paths are walked again.

    Nodes read as stored bytes (the nodes other processes wrote, caught up on with each append's
    reads) are kept encoded and decoded only when a walk first reaches them: most of them never
    are, since an append walks only the paths of its own keys."""

    def __init__(self, max_nodes: int = 1_000_000) -> None:
        self.max_nodes = max_nodes
        self.nodes: dict[bytes, MapNode] = {}
        #: Stored bytes (``encode_node``) of nodes not decoded yet; never also in ``nodes``.
        self.encoded: dict[bytes, bytes] = {}
        #: Counts the times the cache was emptied (a caller that tracks what it holds checks it).
        self.generation = 0

    def __len__(self) -> int:
        return len(self.nodes) + len(self.encoded)

    def get(self, node_hash: bytes) -> MapNode | None:
        """The node, or None if it is not cached (decoded here on first use)."""
        node = self.nodes.get(node_hash)
        if node is None:
            data = self.encoded.pop(node_hash, None)
            if data is not None:
                node = self.nodes[node_hash] = decode_node(data)
        return node

    def _make_room(self, count: int) -> None:
        if len(self.nodes) + len(self.encoded) + count > self.max_nodes:
            self.nodes.clear()
            self.encoded.clear()
            self.generation += 1

    def add(self, nodes: Mapping[bytes, MapNode]) -> None:
        self._make_room(len(nodes))
        self.nodes.update(nodes)

    def add_encoded(self, rows: Sequence[tuple[bytes, bytes]]) -> None:
        """Add stored rows (hash, ``encode_node`` bytes), to be decoded when first used."""
        self._make_room(len(rows))
        known = self.nodes
        self.encoded.update((h, data) for h, data in rows if h not in known)


class DbNodeStore:
    """``MapNodeStore`` over a session. Reads go through ``cache``; writes are collected in
    ``written`` and ``roots`` for the caller to insert with its transaction's other rows.

    ``prefetch`` (what ``SparseMerkleMap.append_values`` calls before an update) only notes the
    keys: the paths are read (``read_paths``) when the update first misses a node in the cache.
    An append whose paths are all cached (the usual case, see ``LogService``) so walks them once,
    not twice."""

    def __init__(
        self,
        session: Session,
        cache: NodeCache | None = None,
        roots: Mapping[int, bytes] | None = None,
    ) -> None:
        self.session = session
        self.cache = cache if cache is not None else NodeCache()
        self.roots: dict[int, bytes] = {0: MAP_EMPTY_HASH, **(roots or {})}
        self.written: dict[bytes, MapNode] = {}
        self._deferred: tuple[bytes, list[bytes]] | None = None
        self._decoded = self.cache.nodes  # the same dict for the cache's life (``clear`` keeps it)

    def get_node(self, node_hash: bytes) -> MapNode:
        node = self._decoded.get(node_hash)  # the common case, one call per tree level
        if node is not None:
            return node
        node = self.cache.get(node_hash)
        if node is None and self._deferred is not None:
            root, key_hashes = self._deferred
            self._deferred = None
            self.read_paths(root, key_hashes)
            node = self.cache.get(node_hash)
        if node is None:
            found = self._read([node_hash])
            if node_hash not in found:
                raise NotFound(f"map node {node_hash.hex()} is not stored")
            node = found[node_hash]
        return node

    def root_at(self, version: int) -> bytes:
        root = self.roots.get(version)
        if root is None:
            root = map_root_at(self.session, version)
            self.roots[version] = root
        return root

    def put_nodes(self, nodes: Mapping[bytes, MapNode]) -> None:
        self.written.update(nodes)
        self.cache.add(nodes)

    def put_root(self, version: int, root: bytes) -> None:
        self.roots[version] = root

    def prefetch(self, root: bytes, key_hashes: Iterable[bytes]) -> None:
        """Note the keys an update from ``root`` is about to walk: their paths are read
        (``read_paths``) if and when ``get_node`` misses a node."""
        self._deferred = (root, list(key_hashes))

    def read_paths(self, root: bytes, key_hashes: Iterable[bytes]) -> None:
        """Read into the cache every stored node on the paths to ``key_hashes`` from ``root``:
        one query per depth at which some node is missing, none when all are cached. Work is per
        node on those paths, not per key and depth: each node splits its sorted range of keys."""
        kints = sorted(int.from_bytes(h, "big") for h in key_hashes)
        get = self.cache.get
        frontier = [(root, 0, len(kints))]
        depth = 0
        while frontier:
            missing = [at for at, _, _ in frontier if get(at) is None]
            if missing:
                self._read(missing)
            below: list[tuple[bytes, int, int]] = []
            bound = 1 << (255 - depth)
            for at, lo, hi in frontier:
                node = get(at)
                if node is None or isinstance(node, MapLeaf):
                    continue  # a leaf ends the path (a missing node fails later, in get_node)
                # Keys lo..hi share the first ``depth`` bits; the first with bit ``depth`` set:
                prefix = kints[lo] >> (256 - depth) << (256 - depth) if depth else 0
                mid = bisect_left(kints, prefix | bound, lo, hi)
                left, right = node
                if lo < mid and left != MAP_EMPTY_HASH:
                    below.append((left, lo, mid))
                if mid < hi and right != MAP_EMPTY_HASH:
                    below.append((right, mid, hi))
            frontier = below
            depth += 1

    def _read(self, hashes: list[bytes]) -> dict[bytes, MapNode]:
        rows = _rows(self.session, _NODES_BY_HASH, {"hashes": hashes})
        found = {bytes(h): decode_node(bytes(data)) for h, data in rows}
        self.cache.add(found)
        return found

    def forget_stored(self, chunk: int = 5_000) -> None:
        """Drop from ``written`` the nodes the table already holds. Only a map derived from
        scratch over a stored one needs it (a new map version, FORMAT §14.6: the leaves of keys
        whose value did not change are the old version's own nodes); an update's nodes are new."""
        hashes = list(self.written)
        for start in range(0, len(hashes), chunk):
            rows = _rows(self.session, _NODES_BY_HASH, {"hashes": hashes[start : start + chunk]})
            for h, _ in rows:
                self.written.pop(bytes(h), None)

    def node_rows(self, size: int) -> NodeRows:
        """The rows of the nodes written so far, for ``map_nodes``, first written at ``size``."""
        return NodeRows(self.written, size)


class NodeRows(SequenceABC[Mapping[str, Any]]):
    """``map_nodes`` rows of ``nodes`` (hash -> node), first written at ``size``: a sequence of
    row dicts, built only when read, that also writes its own binary ``COPY`` payload
    (``binary_copy``, which ``db.Pipeline`` uses on PostgreSQL). A batch writes some ten nodes
    per statement, and going straight from the nodes to the payload skips a dict per row and a
    generic pass over it (see docs/BENCHMARKS.md, the licence map section)."""

    #: The columns ``binary_copy`` writes, in this order (``map_nodes``' own order).
    COLUMNS = ("hash", "node", "size")

    def __init__(self, nodes: Mapping[bytes, MapNode], size: int) -> None:
        self.nodes = nodes
        self.size = size
        self._rows: list[dict[str, Any]] | None = None

    def _all(self) -> list[dict[str, Any]]:
        if self._rows is None:
            size = self.size
            self._rows = [
                {"hash": h, "node": encode_node(n), "size": size} for h, n in self.nodes.items()
            ]
        return self._rows

    def __len__(self) -> int:
        return len(self.nodes)

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        return self._all()[index]

    def binary_copy(self, columns: Sequence[str]) -> bytes | None:
        """PostgreSQL's binary ``COPY`` rows (no header or trailer) for ``columns``, or None if
        they are not ``COLUMNS``: per row the field count (3), the hash (32 bytes), the node's
        ``encode_node`` bytes and the size as a ``bigint``, each after its length."""
        if tuple(columns) != self.COLUMNS:
            return None
        head = b"\x00\x03\x00\x00\x00\x20"  # 3 fields; the hash is 32 bytes
        internal = b"\x00\x00\x00\x41\x00"  # 65 bytes: 0x00 || left || right (encode_node)
        tail = b"\x00\x00\x00\x08" + self.size.to_bytes(8, "big", signed=True)
        parts = []
        for h, node in self.nodes.items():
            if type(node) is tuple:  # an internal node (MapLeaf is a NamedTuple subclass)
                parts.append(head + h + internal + node[0] + node[1] + tail)
            else:
                data = encode_node(node)
                parts.append(head + h + len(data).to_bytes(4, "big") + data + tail)
        return b"".join(parts)


def map_root_at(session: Session, size: int) -> bytes:
    """The map root committed with the checkpoint of ``size``; NotFound if there is none."""
    root = _rows(session, _MAP_ROOT_AT, {"size": size}).scalar()
    if root is None:
        raise NotFound(f"no licence map root is recorded for tree size {size}")
    return bytes(root)


def licence_map_at(session: Session, size: int, cache: NodeCache | None = None) -> LicenceMap:
    """A read-only view of the licence map at a checkpointed ``size`` (``get``, ``prove``,
    ``root``); raises NotFound if that size has no map root. (Its key parties are not loaded:
    it is not for applying entries.)"""
    store = DbNodeStore(session, cache)
    store.root_at(size)
    return LicenceMap(store, size=size, parties=KeyParties())


def map_reader(
    session: Session, size: int, cache: NodeCache | None = None
) -> tuple[LicenceMap, Callable[[Sequence[bytes]], None]]:
    """``licence_map_at`` for answers that read many keys in rounds (evidence, accounts), and a
    prefetch of a round's keys: their paths in one query per depth at which a node is not in
    ``cache`` (default: a new one). A process's reads may share one cache (``Ledger.map_nodes``):
    nodes are content-addressed, so a node of any version read by any request stays right, and
    the upper levels every path crosses are then read once per process, not once per request."""
    licence_map = licence_map_at(session, size, NodeCache() if cache is None else cache)
    store = licence_map.tree.store
    assert isinstance(store, DbNodeStore)
    root = licence_map.root
    return licence_map, lambda keys: store.read_paths(root, [key_hash(k) for k in keys])
