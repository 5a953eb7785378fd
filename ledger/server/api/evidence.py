"""Licence answers: the status of one content item, and evidence bundles for many."""

from __future__ import annotations

from typing import Any

from flask import Response, json, request
from flask.views import MethodView

from ledger.core.errors import InvalidRequest, TooManyItems
from ledger.core.licensing import parse_instant
from ledger.server.api.context import HEX64_PATTERN, hex64, ledger, path_parameter, read_session
from ledger.server.api.parsing import Blueprint, raw_json_body
from ledger.server.api.schemas import (
    EvidenceRequestSchema,
    ReceiptsArgs,
    StatusArgs,
    StatusSchema,
)
from ledger.server.reads import evidence as evidence_reads

blp = Blueprint("evidence", __name__, url_prefix="/v1", description="Licence status and evidence")


def licence_question(*, receipts: bool = False, **question: Any) -> dict[str, Any]:
    """The arguments of both licence use cases (status, evidence): the question, the log's identity
    and its clock, and with ``receipts`` the log's receipt signer (the bundle carries COSE
    receipts). The explorer's pages ask through it too."""
    lg = ledger()
    return {
        "identity": evidence_reads.LogIdentity(lg.origin, lg.verifier_key),
        "now_us": lg.service.now_micros(),
        "skew_us": lg.config.clock_skew_seconds * 1_000_000,
        # With a witness policy, answers cite only cosigned (published) checkpoints.
        "witnessed": lg.witnessed,
        "map_nodes": lg.map_nodes,
        # Only when asked: the explorer's verdicts (``content_verdicts``) carry no bundle.
        **({"receipts": lg.receipts} if receipts else {}),
        **question,
    }


@blp.route(
    "/content/<sha256>/status",
    parameters=[path_parameter("sha256", HEX64_PATTERN, "SHA-256 of the content file")],
)
class Status(MethodView):
    @blp.arguments(StatusArgs, location="query")
    @blp.response(200, StatusSchema)
    def get(self, args: dict[str, str], sha256: str) -> dict[str, Any]:
        """Is this content licensed to ``buyer`` for ``use`` at ``at`` (default now), with proof."""
        question = licence_question(
            sha256=hex64(sha256, "sha256"),
            buyer=hex64(args["buyer"], "buyer"),
            use=args["use"],
            at=None if args.get("at") is None else parse_instant(args["at"]),
            receipts=args.get("receipts") == "1",
        )
        with read_session() as session:
            return evidence_reads.content_status(session, **question)


@blp.route("/evidence")
class Evidence(MethodView):
    @blp.doc(
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": EvidenceRequestSchema}},
        }
    )
    @blp.arguments(ReceiptsArgs, location="query")
    @blp.response(200, description="an evidence bundle (docs/FORMAT.md §13)")
    def post(self, args: dict[str, str]) -> Response:
        """One self-contained evidence bundle for a list of content hashes."""
        body = _evidence_request()
        question = licence_question(receipts=args.get("receipts") == "1", **body)
        with read_session() as session:
            bundle = evidence_reads.build_evidence(session, **question)
        return Response(json.dumps(bundle.to_json()), mimetype="application/json")


def _evidence_request() -> dict[str, Any]:
    """Validate the body item by item (marshmallow is too slow for 100,000 hashes)."""
    body = raw_json_body(request)
    if not isinstance(body, dict) or not {"buyer", "use", "content"} <= set(body) <= {
        "buyer",
        "use",
        "at",
        "content",
    }:
        raise InvalidRequest('the body must be {"buyer", "use", "content": [...], "at"?}')
    content = body["content"]
    limit = ledger().config.max_evidence_items
    if not isinstance(content, list) or not content:
        raise InvalidRequest("content must be a non-empty list of sha256 hashes")
    if len(content) > limit:
        raise TooManyItems(f"content lists {len(content)} items; at most {limit} per request")
    if not all(isinstance(c, str) for c in content):
        raise InvalidRequest("content must list sha256 hashes as strings")
    at = body.get("at")
    return {
        "buyer": _hex(body["buyer"], "buyer"),
        "use": body["use"],
        "at": None if at is None else parse_instant(at),
        "contents": [_hex(c, "content") for c in content],
    }


def _hex(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be 64 hex digits")
    return hex64(value, name)
