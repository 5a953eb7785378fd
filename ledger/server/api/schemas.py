"""marshmallow schemas for the HTTP edge: they validate requests and document the API.

What they load is handed to the core's constructors (``SignedStatement.from_json``) before anything
is signed or hashed; they never produce bytes that are hashed.
"""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ledger.core.licensing import INSTANT_PATTERN
from ledger.core.statements import PSEUDONYM_PATTERN, PSEUDONYM_RULE, USES

UUID_RE = validate.Regexp(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    error="must be a lowercase UUID",
)
NON_NEGATIVE = validate.Range(min=0, max=2**63 - 1)
#: Hashes and key ids in evidence requests: one spelling, lowercase (as everywhere in the API).
HEX64 = validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 lowercase hex digits")
POSITIVE = validate.Range(min=1, max=2**63 - 1)
#: The v1 uses a licence question may ask about (``check_use``).
USE = validate.OneOf(sorted(USES))
#: An RFC 3339 UTC instant, as ``parse_instant`` reads it (it also refuses impossible dates).
INSTANT = validate.Regexp(f"^{INSTANT_PATTERN}$", error="must be an RFC 3339 UTC time")
#: Canonical standard base64 (RFC 4648 §4, padded, zero padding bits) of 32 and of 64 bytes: what
#: the core's ``b64_decode`` takes for Ed25519 public keys and signatures. Documented only (as
#: metadata): the envelope's shape is checked by hand (``entries.envelope``, pinned to this schema
#: by tests/http/test_envelope_shape.py) and its encodings by the core (400 ``invalid_encoding``).
B64_32 = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
B64_64 = r"^[A-Za-z0-9+/]{85}[AQgw]==$"


class QueryInteger(fields.Integer):
    """An integer written as plain ASCII decimal digits, nothing else.

    marshmallow's Integer takes whatever ``int()`` takes: "+1", " 1", "1_0" and other scripts'
    digits (U+0661, U+FF10). A look-alike must not name the same entry as the real number.
    """

    _DECIMAL = re.compile(r"-?(0|[1-9][0-9]{0,18})")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not self._DECIMAL.fullmatch(value):
            raise self.make_error("invalid")
        return int(value)


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class SignatureSchema(Strict):
    public_key = fields.String(
        required=True, metadata={"description": "raw Ed25519 key, base64", "pattern": B64_32}
    )
    signature = fields.String(
        required=True, metadata={"description": "Ed25519 signature, base64", "pattern": B64_64}
    )


class EnvelopeSchema(Strict):
    statement = fields.Dict(
        required=True, metadata={"description": "a v1 statement (see docs/FORMAT.md)"}
    )
    signatures = fields.List(
        fields.Nested(SignatureSchema), required=True, validate=validate.Length(1, 2)
    )


#: Protocol maxima (the configuration may set lower ones): statements per batch, entries per page.
MAX_BATCH_STATEMENTS = 1000
MAX_PAGE_SIZE = 1000


class BatchSchema(Strict):
    statements = fields.List(
        fields.Dict(),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH_STATEMENTS),
        metadata={"description": "signed envelopes, each validated on its own"},
    )


class AppendedSchema(Strict):
    seq = fields.Integer(required=True)
    leaf_hash = fields.String(required=True)
    statement_hash = fields.String(required=True)
    integrated_at = fields.String(required=True)
    tree_size = fields.Integer(required=True, metadata={"description": "log size after commit"})


class BatchItemSchema(Strict):
    index = fields.Integer(required=True)
    status = fields.Integer(required=True)
    seq = fields.Integer()
    leaf_hash = fields.String()
    statement_hash = fields.String()
    integrated_at = fields.String()
    error = fields.Dict(metadata={"description": "problem details of a refused statement"})


class BatchResultSchema(Strict):
    tree_size = fields.Integer(required=True)
    accepted = fields.Integer(required=True)
    rejected = fields.Integer(required=True)
    results = fields.List(fields.Nested(BatchItemSchema), required=True)


class EntrySchema(Strict):
    seq = fields.Integer(required=True)
    type = fields.String(required=True)
    leaf = fields.String(required=True, metadata={"description": "exact leaf bytes, base64"})
    leaf_hash = fields.String(required=True)
    statement_hash = fields.String(required=True)
    integrated_at = fields.String(required=True)
    statement = fields.Dict(required=True)
    signatures = fields.List(fields.Nested(SignatureSchema), required=True)


class EntryPageSchema(Strict):
    tree_size = fields.Integer(required=True)
    entries = fields.List(fields.Nested(EntrySchema), required=True)


class EntryPageArgs(Strict):
    start = QueryInteger(load_default=0, validate=NON_NEGATIVE)
    limit = QueryInteger(
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": "default 100, or the log's page maximum if that is lower"},
    )


class LogSchema(Strict):
    origin = fields.String(required=True)
    verifier_key = fields.String(required=True, metadata={"description": "C2SP vkey"})
    tree_size = fields.Integer(required=True)
    root_hash = fields.String(required=True)


class CheckpointArgs(Strict):
    tree_size = QueryInteger(validate=NON_NEGATIVE)


class InclusionArgs(Strict):
    seq = QueryInteger(required=True, validate=NON_NEGATIVE)
    tree_size = QueryInteger(validate=NON_NEGATIVE)


class InclusionProofSchema(Strict):
    seq = fields.Integer(required=True)
    tree_size = fields.Integer(required=True)
    hashes = fields.List(fields.String(), required=True)


class ConsistencyArgs(Strict):
    first = QueryInteger(required=True, validate=POSITIVE)  # from the empty tree: no proof
    second = QueryInteger(validate=NON_NEGATIVE)


class ReceiptSizeArgs(Strict):
    tree_size = QueryInteger(
        validate=NON_NEGATIVE,
        metadata={"description": "the size of a published checkpoint (default: the latest)"},
    )


class ConsistencyProofSchema(Strict):
    first = fields.Integer(required=True)
    second = fields.Integer(required=True)
    hashes = fields.List(fields.String(), required=True)


class MapProofArgs(Strict):
    key = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[0-9a-f]{34}([0-9a-f]{32})?$", error="must be a licence map key in lowercase hex"
        ),
        metadata={"description": "a licence map key (FORMAT §14.1), lowercase hex"},
    )
    tree_size = QueryInteger(validate=NON_NEGATIVE)


class MapProofSchema(Strict):
    tree_size = fields.Integer(required=True)
    map_root = fields.String(required=True)
    key = fields.String(required=True)
    seqs = fields.List(fields.Integer(), required=True)
    present = fields.Boolean(required=True)
    proof = fields.String(required=True, metadata={"description": "FORMAT §14.4, base64"})


class MapNodeSchema(Strict):
    hash = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(["internal", "leaf"]))
    left = fields.String()
    right = fields.String()
    key_hash = fields.String()
    key = fields.String()
    value = fields.String()


class PartyKeySchema(Strict):
    key_id = fields.String(required=True)
    public_key = fields.String(required=True)
    seq = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "valid, rotated or revoked"})
    ended_seq = fields.Integer(allow_none=True)


class PartySchema(Strict):
    party_id = fields.String(required=True)
    pseudonym = fields.String(required=True)
    registered_seq = fields.Integer(required=True)
    keys = fields.List(fields.Nested(PartyKeySchema), required=True)


class GrantSummarySchema(Strict):
    grant_id = fields.String(required=True)
    seq = fields.Integer(required=True)
    statement_hash = fields.String(required=True)
    creator_party = fields.String(required=True)
    buyer_party = fields.String(required=True)
    accepted_seq = fields.Integer(allow_none=True)
    revoked_seq = fields.Integer(allow_none=True)
    revocation_effective_at = fields.String(allow_none=True)


class GrantSchema(GrantSummarySchema):
    entry = fields.Nested(EntrySchema, required=True)
    acceptance = fields.Nested(EntrySchema, allow_none=True)
    revocation = fields.Nested(EntrySchema, allow_none=True)


class ContentSchema(Strict):
    sha256 = fields.String(required=True)
    grants = fields.List(fields.Nested(GrantSummarySchema), required=True)


def _whole_string(value: str) -> None:
    if re.fullmatch(PSEUDONYM_PATTERN, value) is None:
        raise ma.ValidationError(f"must be {PSEUDONYM_RULE}")


class PseudonymArgs(Strict):
    pseudonym = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=64),
            validate.Regexp(rf"^(?:{PSEUDONYM_PATTERN})$", error=f"must be {PSEUDONYM_RULE}"),
            _whole_string,  # Python's "$" also matches before a final newline
        ],
        metadata={"description": "a pseudonym, exactly as registered (docs/FORMAT.md §3.2.1)"},
    )


class NamedPartySchema(Strict):
    party_id = fields.String(required=True)
    registered_seq = fields.Integer(required=True)


class PartiesNamedSchema(Strict):
    pseudonym = fields.String(required=True)
    parties = fields.List(fields.Nested(NamedPartySchema), required=True)


class PartyGrantsArgs(Strict):
    limit = QueryInteger(
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={
            "description": "grants of each role, newest first: default 100, or the log's "
            "page maximum if that is lower"
        },
    )


class PartyGrantsSchema(Strict):
    party_id = fields.String(required=True)
    made = fields.List(fields.Nested(GrantSummarySchema), required=True)
    made_total = fields.Integer(required=True)
    received = fields.List(fields.Nested(GrantSummarySchema), required=True)
    received_total = fields.Integer(required=True)


class SearchArgs(Strict):
    q = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^(0|[1-9][0-9]{0,17}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
            r"|[0-9a-f]{64})$",
            error="must be a seq, a lowercase grant id (UUID), or 64 lowercase hex digits",
        ),
        metadata={
            "description": "a seq, a grant id, or a content hash, statement hash or key id "
            "(each in its one spelling: lowercase)"
        },
    )


class SearchMatchSchema(Strict):
    kind = fields.String(
        required=True, validate=validate.OneOf(["entry", "grant", "party", "content"])
    )
    id = fields.String(required=True)
    api = fields.String(required=True, metadata={"description": "where the API serves it"})


class SearchSchema(Strict):
    query = fields.String(required=True, metadata={"description": "the query as read"})
    shape = fields.String(required=True, validate=validate.OneOf(["seq", "grant_id", "hex64"]))
    matches = fields.List(fields.Nested(SearchMatchSchema), required=True)


class HealthSchema(Strict):
    status = fields.String(required=True)


class AccountArgs(Strict):
    from_ = fields.String(
        data_key="from",
        validate=INSTANT,
        metadata={"description": "start of the period, included (RFC 3339 UTC); default: none"},
    )
    to = fields.String(
        validate=INSTANT,
        metadata={"description": "end of the period, excluded (RFC 3339 UTC); default: none"},
    )


RECEIPTS_FLAG = fields.String(
    validate=validate.OneOf(["0", "1"]),
    metadata={
        "description": "1: the evidence bundle carries each entry's COSE receipt (RFC 9942) at "
        "the checkpoint's size (docs/FORMAT.md §13.2); 0 or absent: it does not"
    },
)


class ReceiptsArgs(Strict):
    receipts = RECEIPTS_FLAG


class StatusArgs(Strict):
    buyer = fields.String(required=True, validate=HEX64, metadata={"description": "key id"})
    use = fields.String(required=True, validate=USE, metadata={"description": "e.g. ai_training"})
    at = fields.String(
        validate=INSTANT, metadata={"description": "RFC 3339 UTC, e.g. 2026-03-01T12:00:00Z"}
    )
    receipts = RECEIPTS_FLAG


class EvidenceRequestSchema(Strict):
    """Documentation only: the view checks the body item by item (``evidence._evidence_request``)
    and refuses what this schema refuses; more items than ``LEDGER_MAX_EVIDENCE_ITEMS`` is 413."""

    buyer = fields.String(required=True, validate=HEX64)
    use = fields.String(required=True, validate=USE)
    at = fields.String(validate=INSTANT)
    content = fields.List(
        fields.String(validate=HEX64), required=True, validate=validate.Length(min=1)
    )


class StatusSchema(Strict):
    sha256 = fields.String(required=True)
    buyer = fields.String(required=True)
    use = fields.String(required=True)
    at = fields.String(required=True)
    licensed = fields.Boolean(required=True)
    reason = fields.String(required=True, metadata={"description": "docs/LICENSING.md"})
    grant_seq = fields.Integer(allow_none=True)
    entries = fields.List(fields.Integer(), required=True)
    conflicts = fields.List(fields.List(fields.Integer()), required=True)
    evidence = fields.Dict(required=True, metadata={"description": "a one-item bundle"})


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error is served (documentation only)."""

    class Meta:
        unknown = ma.INCLUDE  # a problem may carry more members (seq of a duplicate, errors)

    type = fields.String(required=True, metadata={"description": "a URI naming the code"})
    code = fields.String(required=True, metadata={"description": "stable machine-readable code"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True, metadata={"description": "what went wrong"})
    errors = fields.List(
        fields.String(),
        metadata={"description": "the request's problems, at most 20 (invalid_request)"},
    )
    errors_omitted = fields.Integer(
        metadata={"description": "how many more problems the request has than `errors` lists"}
    )
