"""The licence map (docs/FORMAT.md §14): a key's value and proof, and stored nodes."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from ledger.server.api.context import immutable_read_session, path_parameter
from ledger.server.api.parsing import Blueprint
from ledger.server.api.schemas import MapNodeSchema, MapProofArgs, MapProofSchema
from ledger.server.reads import maps

blp = Blueprint("map", __name__, url_prefix="/v1/map", description="The licence map")

#: A node hash: 64 lowercase hex digits.
HASH_PATTERN = "[0-9a-f]{64}"


@blp.route("/proof")
class MapProof(MethodView):
    @blp.arguments(MapProofArgs, location="query")
    @blp.response(200, MapProofSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The seqs the licence map lists under ``key`` and their proof (FORMAT §14.4, base64)
        against the map root committed by the checkpoint of ``tree_size`` (default: the latest):
        a membership proof, or a non-membership proof when ``present`` is false."""
        with immutable_read_session() as session:
            return maps.map_proof(session, args["key"], args.get("tree_size"))


@blp.route(
    "/node/<node_hash>",
    parameters=[path_parameter("node_hash", HASH_PATTERN, "the node's hash, lowercase hex")],
)
class MapNode(MethodView):
    @blp.response(200, MapNodeSchema)
    def get(self, node_hash: str) -> dict[str, Any]:
        """A stored licence map node, for an auditor walking two maps down to where they differ:
        ``internal`` (its children's hashes; an empty child is the empty hash of §14.3) or
        ``leaf`` (key hash, key, value). A reader checks the node against the hash it asked for."""
        raw = maps.node_hash_param(node_hash)
        with immutable_read_session() as session:
            return maps.map_node(session, raw)
