"""Reads of the licence map (docs/FORMAT.md §14): a key's value and proof at a checkpointed size,
and a stored node by its hash (for an auditor walking down to where two maps differ).

The map is read as the log signed it: at the size of a checkpoint that commits a map root
(``mapstore.licence_map_at``). Each function returns JSON-ready data or raises InvalidParameter
(400 ``invalid_parameter``) or NotFound (404 ``not_found``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ledger.core.encoding import b64_encode
from ledger.core.errors import InvalidEncoding, InvalidParameter, NotFound
from ledger.core.licmap import describe_key
from ledger.core.mapaudit import node_to_json
from ledger.core.vmap import decode_node
from ledger.server.storage import repository as repo
from ledger.server.storage.mapstore import licence_map_at
from ledger.server.storage.models import MapNodeRow


def map_key(key_hex: str) -> bytes:
    """The bytes of a licence map key given as lowercase hex; InvalidParameter otherwise."""
    try:
        if key_hex != key_hex.lower():
            raise ValueError("not lowercase")
        key = bytes.fromhex(key_hex)
        describe_key(key)
    except (ValueError, InvalidEncoding):
        raise InvalidParameter(
            "key must be the lowercase hex of a licence map key: a tag byte (01 content, "
            "02 grant, 03 grant_id, 04 party, 05 key) and its id (docs/FORMAT.md §14.1)"
        ) from None
    return key


def map_proof(session: Session, key_hex: str, tree_size: int | None) -> dict[str, Any]:
    """``key``'s seqs and its proof (FORMAT §14.4) in the map committed by the checkpoint of
    ``tree_size`` (default: the latest checkpoint)."""
    key = map_key(key_hex)
    size = repo.latest_size(session) if tree_size is None else tree_size
    try:
        licence_map = licence_map_at(session, size)
    except NotFound:
        raise NotFound(
            f"no checkpoint of tree size {size} commits a licence map root: ask for a size the "
            "log signed (GET /v1/log, or a checkpoint's size) or omit tree_size for the latest"
        ) from None
    seqs = licence_map.get(key)
    return {
        "tree_size": size,
        "map_root": licence_map.root.hex(),
        "key": key.hex(),
        "seqs": list(seqs),
        "present": bool(seqs),
        "proof": b64_encode(licence_map.prove(key).to_bytes()),
    }


def node_hash_param(value: str) -> bytes:
    """A node hash given as 64 lowercase hex digits; InvalidParameter otherwise."""
    if len(value) != 64 or value != value.lower():
        raise InvalidParameter("a map node hash is 64 lowercase hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise InvalidParameter("a map node hash is 64 lowercase hex digits") from None


def map_node(session: Session, node_hash: bytes) -> dict[str, Any]:
    """The stored node whose hash is ``node_hash`` (``core.mapaudit.node_to_json``)."""
    row = session.get(MapNodeRow, node_hash)
    if row is None:
        raise NotFound(
            f"no licence map node {node_hash.hex()} is stored (an empty subtree has none)"
        )
    return node_to_json(node_hash, decode_node(bytes(row.node)))
