"""Submitting statements and reading entries."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from flask.views import MethodView

from ledger.core.errors import InvalidRequest, LedgerError, quoted
from ledger.core.statements import SignedStatement
from ledger.server.api.context import (
    SEQ_PATTERN,
    ledger,
    page_limit,
    path_parameter,
    read_session,
    seq_param,
)
from ledger.server.api.parsing import Blueprint, raw_json_body
from ledger.server.api.problems import problem_body
from ledger.server.api.schemas import (
    AppendedSchema,
    BatchResultSchema,
    BatchSchema,
    EntryPageArgs,
    EntryPageSchema,
    EntrySchema,
    EnvelopeSchema,
)
from ledger.server.reads import log as log_reads
from ledger.server.reads.published import signed_size
from ledger.server.service import Appended

blp = Blueprint("entries", __name__, url_prefix="/v1/entries", description="Log entries")


def appended_json(result: Appended) -> dict[str, Any]:
    """What ``AppendedSchema`` dumps of ``result`` (plain fields; test_api checks the two agree)."""
    return {
        "seq": result.seq,
        "leaf_hash": result.leaf_hash.hex(),
        "statement_hash": result.statement_hash.hex(),
        "integrated_at": result.integrated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "tree_size": result.tree_size,
    }


def appended_body(result: Appended) -> bytes:
    """The 201 body of a single append, encoded as Flask's ``jsonify`` would (sorted keys, ASCII,
    compact, a final newline), here once for the view and the append fast path."""
    return (_encode_compact(appended_json(result)) + "\n").encode()


_encode_compact = json.JSONEncoder(ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode


@blp.route("")
class Entries(MethodView):
    @blp.arguments(EntryPageArgs, location="query")
    @blp.response(200, EntryPageSchema)
    def get(self, args: dict[str, int]) -> dict[str, Any]:
        """Page through the log in order, for mirroring it."""
        limit = page_limit(args.get("limit"))
        with read_session() as session:
            return log_reads.list_entries(session, args["start"], limit)

    @blp.doc(
        requestBody={"required": True, "content": {"application/json": {"schema": EnvelopeSchema}}}
    )
    @blp.response(201, AppendedSchema)
    def post(self) -> Response:
        """Append one signed statement; 201 only after it is committed."""
        # Most single appends never get here: ledger.server.api.fastpath answers them before Flask,
        # with the same steps and the same bytes. This view answers the rest (bodies without a
        # Content-Length, other media types) and documents the endpoint.
        signed = ledger().service.read_envelope(envelope(raw_json_body(request)))
        result = ledger().committer.append_one(signed)
        return Response(appended_body(result), status=201, mimetype="application/json")


@blp.route("/batch")
class Batch(MethodView):
    @blp.doc(
        requestBody={"required": True, "content": {"application/json": {"schema": BatchSchema}}}
    )
    @blp.response(200, BatchResultSchema)
    def post(self) -> Response:
        """Append up to the batch limit of statements; the accepted ones commit together."""
        items = _batch_items()
        parsed: list[SignedStatement | LedgerError] = []
        service = ledger().service
        for item in items:
            try:
                parsed.append(service.read_envelope(item))
            except LedgerError as e:
                parsed.append(e)
        valid = [p for p in parsed if isinstance(p, SignedStatement)]
        outcomes = iter(ledger().service.append(valid))
        results = [p if isinstance(p, LedgerError) else next(outcomes) for p in parsed]
        # The dict holds exactly what BatchResultSchema would dump (plain fields, which a dump of
        # a thousand items took ~16 ms to copy); test_api checks the body against the schema.
        body = _encode_compact(_batch_response(results)) + "\n"
        return Response(body, status=200, mimetype="application/json")


_ENVELOPE_MEMBERS = frozenset(("statement", "signatures"))
_SIGNATURE_MEMBERS = frozenset(("public_key", "signature"))


def envelope(body: Any) -> dict[str, Any]:
    """``body`` if it has the shape ``EnvelopeSchema`` documents, else 400 ``invalid_request``.

    The check a schema load would make (the statement itself is the core's to check), by hand:
    single appends are the service's hottest path, and a marshmallow load cost them ~12 % of the
    server's CPU (scripts/bench_service.py with --py-spy).
    """
    problems: list[str] = []
    if not isinstance(body, dict):
        raise InvalidRequest("json: Invalid input type.", errors=["json: Invalid input type."])
    problems += [
        f"json.{quoted(k)}: Unknown field." for k in sorted(body.keys() - _ENVELOPE_MEMBERS)
    ]
    problems += [f"json.{k}: Missing data for required field." for k in ("statement", "signatures")
                 if k not in body]  # fmt: skip
    if "statement" in body and not isinstance(body["statement"], dict):
        problems.append(_wrong("json.statement", body["statement"], "Not a valid mapping type."))
    signatures = body.get("signatures", [])
    if not isinstance(signatures, list):
        problems.append(_wrong("json.signatures", signatures, "Not a valid list."))
    elif "signatures" in body and not 1 <= len(signatures) <= 2:
        problems.append("json.signatures: Length must be between 1 and 2.")
    else:
        for i, sig in enumerate(signatures):
            where = f"json.signatures.{i}"
            if not isinstance(sig, dict):
                problems.append(_wrong(where, sig, "Invalid input type."))
                continue
            problems += [
                f"{where}.{quoted(k)}: Unknown field."
                for k in sorted(sig.keys() - _SIGNATURE_MEMBERS)
            ]
            for k in sorted(_SIGNATURE_MEMBERS):
                if k not in sig:
                    problems.append(f"{where}.{k}: Missing data for required field.")
                elif not isinstance(sig[k], str):
                    problems.append(_wrong(f"{where}.{k}", sig[k], "Not a valid string."))
    if problems:  # the first few, and how many more (LedgerError.listing)
        raise InvalidRequest.listing(problems)
    return body


def _wrong(where: str, value: Any, message: str) -> str:
    return f"{where}: {'Field may not be null.' if value is None else message}"


def _batch_items() -> list[Any]:
    cfg = ledger().config  # the body size limit was applied in before_request
    body = raw_json_body(request)
    if not isinstance(body, dict) or set(body) != {"statements"}:
        raise InvalidRequest('the body must be {"statements": [envelope, ...]}')
    items = body["statements"]
    if not isinstance(items, list) or not 1 <= len(items) <= cfg.max_batch_statements:
        raise InvalidRequest(f"statements must list 1 to {cfg.max_batch_statements} envelopes")
    # The shape of the list is the request's; what is inside each envelope is the item's own.
    not_objects = [i for i, item in enumerate(items) if not isinstance(item, dict)]
    if not_objects:
        raise InvalidRequest(f"statements[{not_objects[0]}] must be an envelope object")
    return items


def _batch_response(results: list[Appended | LedgerError]) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    tree_size = 0
    for index, result in enumerate(results):
        if isinstance(result, Appended):
            item = {"index": index, "status": 201, **appended_json(result)}
            del item["tree_size"]  # the batch's, once, at the top
            out.append(item)
            tree_size = result.tree_size
        else:
            ledger().metrics.record_rejection(result.code)
            details = {k: v for k, v in result.details.items() if isinstance(v, str | int)}
            error = problem_body(
                result.status, result.code, result.title, result.message, **details
            )
            out.append({"index": index, "status": result.status, "error": error})
    accepted = sum(1 for r in out if r["status"] == 201)
    if not accepted:
        with read_session() as session:
            tree_size = signed_size(session)
    return {
        "tree_size": tree_size,
        "accepted": accepted,
        "rejected": len(out) - accepted,
        "results": out,
    }


@blp.route(
    "/<entry_seq:seq>",
    parameters=[path_parameter("seq", SEQ_PATTERN, "the entry's sequence number")],
)
class EntryBySeq(MethodView):
    @blp.response(200, EntrySchema)
    def get(self, seq: str) -> dict[str, Any]:
        """One entry: the exact leaf bytes and the statement in it."""
        with read_session() as session:
            return log_reads.get_entry(session, seq_param(seq))
