"""The log's identity, signed checkpoints and Merkle proofs."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask.views import MethodView

from ledger.server.api.context import immutable_read_session, ledger
from ledger.server.api.parsing import Blueprint
from ledger.server.api.schemas import (
    CheckpointArgs,
    ConsistencyArgs,
    ConsistencyProofSchema,
    InclusionArgs,
    InclusionProofSchema,
    LogSchema,
)
from ledger.server.reads import log as log_reads

blp = Blueprint("log", __name__, url_prefix="/v1", description="Checkpoints and proofs")


@blp.route("/log")
class Log(MethodView):
    @blp.response(200, LogSchema)
    def get(self) -> dict[str, Any]:
        """The log's origin, verifier key and latest signed tree size and root."""
        lg = ledger()
        with immutable_read_session() as session:
            return log_reads.log_info(session, lg.origin, lg.verifier_key)


@blp.route("/checkpoint")
class CheckpointView(MethodView):
    @blp.arguments(CheckpointArgs, location="query")
    @blp.response(200, content_type="text/plain; charset=utf-8", description="a C2SP signed note")
    def get(self, args: dict[str, int]) -> Response:
        """The latest signed checkpoint, or the one issued at ``tree_size``."""
        with immutable_read_session() as session:
            note = log_reads.checkpoint_note(session, args.get("tree_size"))
        return Response(note, mimetype="text/plain", content_type="text/plain; charset=utf-8")


@blp.route("/proofs/inclusion")
class InclusionProof(MethodView):
    @blp.arguments(InclusionArgs, location="query")
    @blp.response(200, InclusionProofSchema)
    def get(self, args: dict[str, int]) -> Response:
        """RFC 9162 inclusion proof of entry ``seq`` in the tree of size ``tree_size``."""
        with immutable_read_session() as session:
            sizes = ledger().signed_sizes
            proof = log_reads.inclusion_proof(session, args["seq"], args.get("tree_size"), sizes)
        # Already the schema's shape (plain fields): a Response skips its dump on a hot path;
        # test_api checks the body against the schema.
        return jsonify(proof)


@blp.route("/proofs/consistency")
class ConsistencyProof(MethodView):
    @blp.arguments(ConsistencyArgs, location="query")
    @blp.response(200, ConsistencyProofSchema)
    def get(self, args: dict[str, int]) -> Response:
        """RFC 9162 consistency proof between tree sizes ``first`` and ``second``."""
        with immutable_read_session() as session:
            sizes = ledger().signed_sizes
            proof = log_reads.consistency_proof(session, args["first"], args.get("second"), sizes)
        return jsonify(proof)  # as for inclusion proofs
