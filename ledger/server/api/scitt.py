"""The SCITT Reference API (draft-ietf-scitt-scrapi): the log's COSE keys, receipts, and
registration of Signed Statements. docs/FORMAT.md §15, README *SCITT*.

Every error here is RFC 9290 Concise Problem Details in CBOR, as SCRAPI requires, with the same
stable code as the JSON problems of ``/v1`` (``problems.problem_for``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Response, g, request
from flask.views import MethodView

from ledger.core import cbor
from ledger.core.cose import cose_key
from ledger.core.errors import NotFound, UnsupportedMediaType
from ledger.core.scitt import envelope_from_signed_statement
from ledger.server.api.body import request_body
from ledger.server.api.context import (
    SEQ_PATTERN,
    immutable_connection,
    ledger,
    path_parameter,
    seq_param,
)
from ledger.server.api.parsing import Blueprint
from ledger.server.api.problems import PROBLEM_TYPE_BASE, problem_for
from ledger.server.api.schemas import ConsistencyArgs, ReceiptSizeArgs
from ledger.server.logs import current
from ledger.server.reads.receipts import consistency_receipt, entry_receipt

COSE = "application/cose"
CBOR = "application/cbor"
CONCISE_PROBLEM = "application/concise-problem-details+cbor"
#: How long a client waits before asking again for a receipt not yet issuable (seconds).
RETRY_AFTER = "1"
KID_PATTERN = "[A-Za-z0-9_-]{43}"

blp = Blueprint("scitt", __name__, description="SCITT Reference API (draft-ietf-scitt-scrapi)")
receipt_blp = Blueprint(
    "receipts", __name__, url_prefix="/v1", description="COSE receipts (RFC 9942)"
)


def concise_problem(error: Exception) -> Response:
    """``error`` as RFC 9290 Concise Problem Details: title (-1), detail (-2), and a custom
    entry under our problem type URI holding the stable code and the problem's details."""
    body, headers = problem_for(error)
    g.problem_code = body["code"]
    custom = {k: v for k, v in body.items() if k not in ("type", "title", "status", "detail")}
    problem = {-1: body["title"], -2: body["detail"], PROBLEM_TYPE_BASE + body["code"]: custom}
    return Response(
        cbor.encode(_cbor_safe(problem)),
        status=body["status"],
        headers=headers,
        content_type=CONCISE_PROBLEM,
    )


def _cbor_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _cbor_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cbor_safe(v) for v in value]
    return value if isinstance(value, int | str | bytes | bool) or value is None else str(value)


@blp.errorhandler(Exception)
def _scrapi_error(error: Exception) -> Response:
    return concise_problem(error)


def receipt_or_pending(seq: int, *, pending_status: int) -> Response:
    """The receipt of entry ``seq`` (200, ``application/cose``), or ``pending_status`` with a
    ``Location`` to ask again while the entry is not yet inside a published tree."""
    lg = ledger()
    with immutable_connection() as session:
        receipt = entry_receipt(
            session,
            seq,
            lg.receipts,
            witnessed=lg.witnessed,
            roots=lg.receipt_roots,
            hashes=lg.receipt_hashes,
        )
    location = f"/entries/{seq}"
    if receipt is None:
        headers = {"Location": location, "Retry-After": RETRY_AFTER}
        return Response(b"", status=pending_status, headers=headers, content_type=COSE)
    return Response(receipt, status=200, headers={"Location": location}, content_type=COSE)


def resolve_receipt(seq: str) -> Response:
    """SCRAPI's Resolve Receipt (``GET /entries/{id}`` asking for COSE): the receipt, 302 while
    the entry is not yet receipted, or a concise problem. Called by the explorer's entry page,
    which shares the path."""
    try:
        return receipt_or_pending(seq_param(seq), pending_status=302)
    except Exception as e:
        return concise_problem(e)


def wants_cose() -> bool:
    """Whether the request names COSE or CBOR in ``Accept`` and prefers it to HTML (SCRAPI
    clients do); ``*/*`` alone (curl, a script) still gets the page."""
    accept = request.accept_mimetypes
    named = any(value in (COSE, CBOR) and quality > 0 for value, quality in accept)
    return named and accept.best_match([COSE, CBOR, "text/html"]) in (COSE, CBOR)


@blp.route("/.well-known/scitt-keys")
class ScittKeys(MethodView):
    @blp.response(200, content_type=CBOR, description="a COSE Key Set (RFC 9052 §7)")
    def get(self) -> Response:
        """The keys that verify this log's receipts: a COSE Key Set of one Ed25519 key."""
        return Response(cbor.encode([cose_key(ledger().receipts.public_key)]), content_type=CBOR)


@blp.route(
    "/.well-known/scitt-keys/<kid>",
    parameters=[path_parameter("kid", KID_PATTERN, "an RFC 9679 thumbprint, base64url")],
)
class ScittKey(MethodView):
    @blp.response(200, content_type=CBOR, description="a COSE Key (RFC 9052 §7)")
    @blp.alt_response(404, description="no such key", content_type=CONCISE_PROBLEM)
    def get(self, kid: str) -> Response:
        """One key by its ``kid`` (RFC 9679 thumbprint, base64url without padding)."""
        signer = ledger().receipts
        if _b64url(kid) != signer.kid:
            raise NotFound("No key could be found for this kid value")
        return Response(cbor.encode(cose_key(signer.public_key)), content_type=CBOR)


def _b64url(text: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=")
    except (binascii.Error, ValueError):
        return None
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == text else None


@blp.route("/entries")
class ScittEntries(MethodView):
    @blp.doc(
        requestBody={
            "required": True,
            "content": {COSE: {"schema": {"type": "string", "format": "binary"}}},
        }
    )
    @blp.response(201, content_type=COSE, description="the receipt (RFC 9942)")
    @blp.alt_response(303, description="registered; the receipt is not issuable yet")
    @blp.alt_response(400, description="refused", content_type=CONCISE_PROBLEM)
    def post(self) -> Response:
        """Register a Signed Statement (COSE_Sign1 whose payload is a statement, §15.6)."""
        req = current(request)
        if req.mimetype != COSE:
            raise UnsupportedMediaType(f"send the Signed Statement as {COSE}")
        limit = req.max_content_length
        if limit is None:
            raise TypeError("no body limit was set for the request")
        lg = ledger()
        envelope = envelope_from_signed_statement(request_body(req.environ, limit))
        result = lg.committer.append_one(lg.service.read_envelope(envelope))
        answer = receipt_or_pending(result.seq, pending_status=303)
        if answer.status_code == 200:
            answer.status_code = 201
        return answer


@receipt_blp.route(
    "/entries/<entry_seq:seq>/receipt",
    parameters=[path_parameter("seq", SEQ_PATTERN, "the entry's sequence number")],
)
class EntryReceipt(MethodView):
    @receipt_blp.arguments(ReceiptSizeArgs, location="query")
    @receipt_blp.response(200, content_type=COSE, description="a COSE receipt (RFC 9942)")
    def get(self, args: dict[str, int], seq: str) -> Response:
        """The inclusion receipt of entry ``seq`` at the published checkpoint's size, or at
        ``tree_size``, the size of a published checkpoint (a proof file's)."""
        n = seq_param(seq)
        lg = ledger()
        with immutable_connection() as session:
            receipt = entry_receipt(
                session,
                n,
                lg.receipts,
                witnessed=lg.witnessed,
                roots=lg.receipt_roots,
                hashes=lg.receipt_hashes,
                tree_size=args.get("tree_size"),
            )
        if receipt is None:
            raise NotFound(f"entry {n} is not in a published tree of 2 entries or more (yet)")
        return Response(receipt, content_type=COSE)


@receipt_blp.route("/proofs/consistency/receipt")
class ConsistencyReceipt(MethodView):
    @receipt_blp.arguments(ConsistencyArgs, location="query")
    @receipt_blp.response(200, content_type=COSE, description="a COSE receipt (RFC 9942 §4.3)")
    def get(self, args: dict[str, int]) -> Response:
        """The consistency receipt from tree size ``first`` to ``second`` (default: the
        published size), which must be the size of a published checkpoint."""
        lg = ledger()
        with immutable_connection() as session:
            receipt = consistency_receipt(
                session,
                args["first"],
                args.get("second"),
                lg.receipts,
                witnessed=lg.witnessed,
                roots=lg.receipt_roots,
            )
        return Response(receipt, content_type=COSE)
