"""A log served from memory to the real auditor (``ledger.client.audit.LogSource``), with the
licence map line in the checkpoints it signs: for audit tests that need a log whose map the test
chooses, honest or not, without a server.

``MemorySource`` lists a ``MemoryLog``'s entries exactly as ``GET /v1/entries`` does (the server's
own ``entry_json``), signs checkpoints with the log key at the sizes the test asks for (with the
map root the entries give, a map the test edits, or no map line), answers consistency proofs from
the Merkle tree, and serves the nodes of every map it signed, as ``GET /v1/map/node`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from ledger.core import merkle
from ledger.core.checkpoint import Checkpoint, sign_checkpoint
from ledger.core.errors import NotFound
from ledger.core.licmap import derive_map, encode_seqs, map_checkpoint
from ledger.core.mapaudit import node_to_json
from ledger.core.memlog import MemoryLog
from ledger.core.vmap import MapNode, MemoryNodeStore, SparseMerkleMap
from ledger.server.reads.log import entry_json

#: Edits the map's contents (key -> seqs) before it is signed: a lying log's map.
MapEdit = Callable[[dict[bytes, tuple[int, ...]]], None]


class MemorySource:
    def __init__(self, log: MemoryLog) -> None:
        self.log = log
        self.notes: dict[int, str] = {}
        self.nodes: dict[bytes, MapNode] = {}
        self.serve_nodes = True

    # --- what the test does -----------------------------------------------------------------

    def sign(self, *, edit: MapEdit | None = None, map_line: bool = True) -> int:
        """Sign a checkpoint at the current size: with the map root of the entries, of the map
        ``edit`` makes of it, or (``map_line=False``) none; returns the size."""
        size = len(self.log.leaves)
        root = merkle.tree_hash(size, self.log.store)
        if not map_line:
            cp = Checkpoint(self.log.signer.name, size, root)
        else:
            store = MemoryNodeStore()
            honest = derive_map(self.log.parsed, store)
            map_root = honest.root
            if edit is not None:
                contents = dict(honest.items())
                edit(contents)
                store = MemoryNodeStore()
                tree = SparseMerkleMap(store)
                if contents:
                    tree.append_values(1, {k: encode_seqs(v) for k, v in contents.items() if v})
                map_root = tree.root
            self.nodes.update(store.nodes)
            cp = map_checkpoint(self.log.signer.name, size, root, map_root)
        self.notes[size] = sign_checkpoint(cp, self.log.signer)
        return size

    # --- LogSource ----------------------------------------------------------------------------

    def checkpoint(self, tree_size: int | None = None) -> str:
        size = max(self.notes) if tree_size is None and self.notes else tree_size
        if size not in self.notes:
            raise NotFound(f"no checkpoint at size {tree_size}")
        return self.notes[size]

    def entries(self, start: int, limit: int) -> dict[str, Any]:
        size = max(self.notes, default=0)
        rows = [
            SimpleNamespace(
                seq=leaf.seq,
                type=leaf.signed.type_name,
                leaf=self.log.leaves[leaf.seq],
                leaf_hash=merkle.leaf_hash(self.log.leaves[leaf.seq]),
                statement_hash=leaf.signed.statement_hash,
            )
            for leaf in self.log.parsed[start : min(start + limit, size)]
        ]
        return {"tree_size": size, "entries": [entry_json(row) for row in rows]}  # type: ignore[arg-type]

    def consistency_proof(self, first: int, second: int) -> dict[str, Any]:
        hashes = merkle.consistency_proof(first, second, self.log.store)
        return {"first": first, "second": second, "hashes": [h.hex() for h in hashes]}

    def map_node(self, node_hash: bytes) -> dict[str, Any]:
        if not self.serve_nodes or node_hash not in self.nodes:
            raise NotFound(f"no map node {node_hash.hex()} is stored")
        return node_to_json(node_hash, self.nodes[node_hash])
