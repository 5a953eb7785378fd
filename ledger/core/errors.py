"""One exception tree for the whole project.

Every error has a stable machine-readable ``code`` and the HTTP ``status`` that the web layer
renders it with (a plain integer: nothing here knows about HTTP libraries). Subclasses are
grouped by who is at fault. Callers catch these types only: foreign exceptions are wrapped at
the boundary with ``raise ... from``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

#: An error lists at most this many problems of a request and counts the rest
#: (``errors_omitted``), and a name it quotes from the request is cut to ``MAX_QUOTED_CHARS``:
#: a request with 20,000 unknown members gets a short answer, not a copy of itself.
MAX_LISTED_PROBLEMS = 20
MAX_QUOTED_CHARS = 64


def quoted(name: str) -> str:
    """``name`` (taken from a request) as an error message may quote it: at most
    ``MAX_QUOTED_CHARS`` characters, a cut one ending in ``...``."""
    return name if len(name) <= MAX_QUOTED_CHARS else name[:MAX_QUOTED_CHARS] + "..."


class LedgerError(Exception):
    """Root of every error the ledger raises on purpose."""

    code: ClassVar[str] = "ledger_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Ledger error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @classmethod
    def listing(cls, problems: Sequence[str]) -> Self:
        """The error for a request with these ``problems`` (at least one): the first
        ``MAX_LISTED_PROBLEMS`` in its message and ``errors`` detail, and how many more in
        ``errors_omitted`` (only when some are left out)."""
        shown = list(problems[:MAX_LISTED_PROBLEMS])
        omitted = len(problems) - len(shown)
        if not omitted:
            return cls("; ".join(shown), errors=shown)
        message = "; ".join(shown) + f"; and {omitted} more"
        return cls(message, errors=shown, errors_omitted=omitted)


# --- The request is malformed: the client must fix it (400). ---------------------------------


class InvalidRequest(LedgerError):
    code = "invalid_request"
    status = 400
    title = "Invalid request"


class MalformedJSON(InvalidRequest):
    """Bytes that are not strict JSON: bad UTF-8, lone surrogates, duplicate keys, floats..."""

    code = "malformed_json"
    title = "Malformed JSON"


class InvalidStatement(InvalidRequest):
    """A statement whose shape breaks the v1 schema."""

    code = "invalid_statement"
    title = "Invalid statement"


class InvalidEncoding(InvalidRequest):
    """Hex, base64, timestamps or keys that are not in their one canonical form."""

    code = "invalid_encoding"
    title = "Invalid encoding"


class InvalidKey(InvalidRequest):
    code = "invalid_key"
    title = "Invalid key"


class LeafTooLarge(InvalidRequest):
    code = "leaf_too_large"
    title = "Leaf too large"


class MalformedLeaf(InvalidRequest):
    code = "malformed_leaf"
    title = "Malformed leaf"


class MalformedNote(InvalidRequest):
    """A signed note or checkpoint that breaks the C2SP grammar."""

    code = "malformed_note"
    title = "Malformed signed note"


class MalformedProof(InvalidRequest):
    code = "malformed_proof"
    title = "Malformed proof"


class InvalidParameter(InvalidRequest):
    """A query parameter out of range (tree size beyond the log, negative seq, ...)."""

    code = "invalid_parameter"
    title = "Invalid parameter"


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"
    status = 413
    title = "Payload too large"


class MalformedBody(InvalidRequest):
    """A body whose framing is broken (a bad chunk size, chunk extension or chunk end), a
    Content-Length that is not a number, or a Content-Length next to a Transfer-Encoding."""

    code = "malformed_body"
    title = "Malformed request body"


class IncompleteBody(InvalidRequest):
    """A body that ended before its end: fewer bytes than its Content-Length, or a chunked
    body without its last chunk, when the client closed or the connection broke."""

    code = "incomplete_body"
    title = "Incomplete request body"


class MalformedHTTP(InvalidRequest):
    """A request the HTTP server (gunicorn) refused before the app saw it: a bad request
    line, header or framing."""

    code = "malformed_http"
    title = "Malformed HTTP request"


class RequestLineTooLong(InvalidRequest):
    """A request line over the HTTP server's limit (gunicorn's ``limit_request_line``)."""

    code = "request_line_too_long"
    status = 414
    title = "Request line too long"


class HeaderFieldsTooLarge(InvalidRequest):
    """Too many header fields, or one too large, for the HTTP server's limits (gunicorn's
    ``limit_request_fields`` and ``limit_request_field_size``)."""

    code = "header_fields_too_large"
    status = 431
    title = "Request header fields too large"


class UnsupportedMediaType(InvalidRequest):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class MalformedTilePath(InvalidRequest):
    """A tlog-tiles path (or tile bytes) that breaks c2sp.org/tlog-tiles."""

    code = "malformed_tile_path"
    title = "Malformed tile path"


class MalformedPolicy(InvalidRequest):
    """A witness policy file that breaks the c2sp.org/tlog-policy grammar."""

    code = "malformed_policy"
    title = "Malformed witness policy"


class InvalidManifest(InvalidRequest):
    """A content manifest (``ledger hash --out``) that cannot be read."""

    code = "invalid_manifest"
    title = "Invalid manifest"


class C2paUnavailable(InvalidRequest):
    """Client side: reading or writing a C2PA manifest needs the c2pa-python library."""

    code = "c2pa_unavailable"
    title = "C2PA library not installed"


class C2paFailed(InvalidRequest):
    """Client side: the C2PA library could not read or sign a file's manifest."""

    code = "c2pa_failed"
    title = "C2PA manifest not processed"


class StateUnusable(InvalidRequest):
    """Client side: the trusted-state folder cannot be read or written, or is damaged."""

    code = "state_unusable"
    title = "Client state folder unusable"


class TooManyItems(PayloadTooLarge):
    """An evidence request lists more content items than the configured limit."""

    code = "too_many_items"
    title = "Too many items"


class AtInFuture(InvalidParameter):
    """A licence question about a time later than the log's clock (plus the allowed skew)."""

    code = "at_in_future"
    title = "Time lies in the future"


class MalformedBundle(InvalidRequest):
    """An evidence bundle whose JSON does not have the v1 shape (docs/FORMAT.md §13)."""

    code = "bundle_malformed"
    title = "Malformed evidence bundle"


class MalformedReceipt(InvalidRequest):
    """A COSE receipt that is not the shape docs/FORMAT.md §15 defines (RFC 9942)."""

    code = "malformed_receipt"
    title = "Malformed receipt"


class MalformedSignedStatement(InvalidRequest):
    """A COSE_Sign1 signed statement sent to ``POST /entries`` that is not the shape
    docs/FORMAT.md §15.6 maps to a statement."""

    code = "malformed_signed_statement"
    title = "Malformed signed statement"


# --- A cryptographic check failed. -------------------------------------------------------------


class VerificationError(LedgerError):
    """Something that should verify does not (signature, proof, checkpoint, chain)."""

    code = "verification_failed"
    status = 400
    title = "Verification failed"


class BadSignature(VerificationError):
    code = "bad_signature"
    title = "Bad signature"


class ProofError(VerificationError):
    """An inclusion or consistency proof does not lead to the expected root."""

    code = "proof_invalid"
    title = "Invalid proof"


class ReceiptRootMismatch(VerificationError):
    """A COSE receipt (docs/FORMAT.md §15) whose root is not the root the log's checkpoint of
    that size signs (or that is not consistent with the checkpoint the verifier trusts)."""

    code = "receipt_root_mismatch"
    title = "Receipt root mismatch"


class MapProofInvalid(ProofError):
    """A verifiable-map proof does not lead to the map root for the key asked about."""

    code = "map_proof_invalid"
    title = "Invalid map proof"


class MapKeyAbsent(VerificationError):
    """A valid map proof shows the key absent, where its presence was claimed."""

    code = "map_key_absent"
    title = "Key absent from the map"


class MapKeyPresent(VerificationError):
    """A valid map proof shows the key present, where its absence was claimed."""

    code = "map_key_present"
    title = "Key present in the map"


class MapValueMismatch(VerificationError):
    """A valid map proof shows the key holding another value than the one claimed."""

    code = "map_value_mismatch"
    title = "Map holds another value"


class MapRootMissing(VerificationError):
    """A checkpoint carries no map root line (or more than one, or a malformed one) where the
    licence map's root is needed (docs/FORMAT.md §6.1, §14.7)."""

    code = "map_root_missing"
    title = "Checkpoint commits no map root"


class EntryOmitted(VerificationError):
    """The licence map lists an entry under a key a verdict rests on, and the evidence does not
    carry it: something was left out (docs/FORMAT.md §13.3, §14)."""

    code = "entry_omitted"
    title = "An entry the map lists is missing"


class ChainError(VerificationError):
    """A leaf's previous-hash link does not match the leaf before it."""

    code = "chain_broken"
    title = "Broken hash chain"


class UnverifiedNote(VerificationError):
    """A note carries no valid signature from any known key."""

    code = "note_unverified"
    title = "Note not verified"


class QuorumNotMet(VerificationError):
    """A checkpoint lacks the witness cosignatures its policy's quorum requires."""

    code = "quorum_not_met"
    title = "Witness quorum not met"


class TrustError(VerificationError):
    """The log contradicts what a client verified before (rollback, other origin or key)."""

    code = "trust_violation"
    title = "The log contradicts the client's trusted state"


class EntryMismatch(VerificationError):
    """An entry served by the log is not the one the client expected (tampered or substituted)."""

    code = "entry_mismatch"
    title = "Entry does not hold the expected statement"


class NotYourGrant(VerificationError):
    """Client side: the grant names another key than yours in the role you act in (buyer when
    accepting, creator when revoking); nothing is signed."""

    code = "not_your_grant"
    title = "Grant names another key"


class EvidenceInvalid(VerificationError):
    """An evidence bundle failed at least one check; ``details["failures"]`` lists them all."""

    code = "evidence_invalid"
    title = "Evidence bundle does not verify"


class AuditFailed(VerificationError):
    """A full audit found the log wrong; ``details`` say where (seq, tree size, or table and
    row) and the audit's failure code (``ledger.core.auditing.FailureCode``)."""

    code = "audit_failed"
    title = "Audit failed"


# --- The statement is well formed but the log's state forbids it (422). ------------------------


class StateError(LedgerError):
    code = "state_violation"
    status = 422
    title = "Statement not allowed in the log's current state"


class UnknownKey(StateError):
    code = "unknown_key"
    title = "Unknown key"


class KeyRevoked(StateError):
    code = "key_revoked"
    title = "Key revoked"


class KeyAlreadyRegistered(StateError):
    code = "key_already_registered"
    title = "Key already registered"


class NotKeyOwner(StateError):
    """A ``key.revoke`` names a key of another party."""

    code = "not_key_owner"
    title = "Key belongs to another party"


class BuyerNotRegistered(StateError):
    code = "buyer_not_registered"
    title = "Buyer not registered"


class GrantIdTaken(StateError):
    code = "grant_id_taken"
    title = "Grant id already used"


class UnknownGrant(StateError):
    code = "unknown_grant"
    title = "Unknown grant"


class NotGrantBuyer(StateError):
    code = "not_grant_buyer"
    title = "Only the named buyer may accept"


class AlreadyAccepted(StateError):
    code = "already_accepted"
    title = "Grant already accepted"


class NotGrantCreator(StateError):
    code = "not_grant_creator"
    title = "Only the grant's creator may revoke"


class AlreadyRevoked(StateError):
    code = "already_revoked"
    title = "Grant already revoked"


class GrantRevoked(StateError):
    """A ``grant.accept`` of a grant that was revoked (an offer withdrawn) before."""

    code = "grant_revoked"
    title = "Grant was revoked"


class NotRevocable(StateError):
    code = "not_revocable"
    title = "Grant is not revocable"


class NoticePeriod(StateError):
    code = "notice_period"
    title = "Revocation earlier than the notice period allows"


class IssuedInFuture(StateError):
    code = "issued_in_future"
    title = "issued_at lies in the future"


# --- Lookups and conflicts. ----------------------------------------------------------------------


class NotFound(LedgerError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(LedgerError):
    code = "conflict"
    status = 409
    title = "Conflict"


class DuplicateStatement(Conflict):
    """The same statement (by statement hash) is already in the log."""

    code = "duplicate_statement"
    title = "Statement already logged"


class RateLimited(LedgerError):
    """The client sent more requests than its rate limit allows; retry after ``Retry-After``."""

    code = "rate_limited"
    status = 429
    title = "Too many requests"


# --- Refused by the HTTP layer (Werkzeug) before any view runs. ---------------------------------
# Nothing raises these: their codes are what ``ledger.server.api.problems`` renders for Werkzeug's
# own HTTP errors (a route that does not exist is NotFound's ``not_found``), so that every code the
# API can send is pinned here. Such a problem keeps Werkzeug's status, title and description.


class BadRequest(InvalidRequest):
    """A request Werkzeug itself refused as malformed, before a view parsed anything."""

    code = "bad_request"
    title = "Bad request"


class MethodNotAllowed(LedgerError):
    """A route asked with a method it does not take."""

    code = "method_not_allowed"
    status = 405
    title = "Method not allowed"


class NotAcceptable(LedgerError):
    code = "not_acceptable"
    status = 406
    title = "Not acceptable"


class Unprocessable(LedgerError):
    """Werkzeug's 422 (the app's own parser answers 400 ``invalid_request`` instead)."""

    code = "unprocessable"
    status = 422
    title = "Unprocessable content"


class HttpError(LedgerError):
    """Any other of Werkzeug's HTTP errors: rendered with Werkzeug's status, not this one."""

    code = "http_error"
    status = 400
    title = "HTTP error"


# --- The server side. ----------------------------------------------------------------------------


class Unavailable(LedgerError):
    code = "unavailable"
    status = 503
    title = "Service unavailable"


class ReadOnlyDatabase(Unavailable):
    """The server's database takes no writes: a read replica (a PostgreSQL hot standby) or a
    read-only file. Writes go to the primary; this server keeps answering reads."""

    code = "read_only_database"
    title = "Read-only database"


class MapVersionPending(Unavailable):
    """The log's published checkpoint commits an older licence map version than an answer
    needs (an account needs version 2, FORMAT §14.6): the next checkpoint the log signs will."""

    code = "map_version_pending"
    title = "Licence map version pending"


class InternalError(LedgerError):
    """An error the server did not expect (a bug): logged with its traceback, answered as this."""

    code = "internal_error"
    status = 500
    title = "Internal error"


class MissingTreeHash(LedgerError):
    """A stored Merkle hash the tree needs is absent: the store is damaged."""

    code = "tree_hash_missing"
    status = 500
    title = "Stored tree hash missing"


class LogIdentityMismatch(Unavailable):
    """The database belongs to another log (other origin or other log key): the server refuses
    to serve it until it is restarted with the right database, key or origin."""

    code = "log_identity_mismatch"
    title = "Log identity mismatch"


class ServerError(LedgerError):
    """Client side: the server is unreachable or did not answer as the API says."""

    code = "server_error"
    status = 502
    title = "Server error"


class ServerRefused(ServerError):
    """Client side: the server answered with an RFC 9457 problem (a 4xx), kept in ``problem``."""

    code = "server_refused"
    title = "Refused by the server"

    def __init__(self, message: str, http_status: int, problem: dict[str, Any]) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.problem = problem
        self.problem_code = str(problem.get("code", ""))


def all_error_classes() -> list[type[LedgerError]]:
    """Every class in the tree, root first (used to pin the code/status table in tests)."""
    seen: list[type[LedgerError]] = []
    stack: list[type[LedgerError]] = [LedgerError]
    while stack:
        cls = stack.pop(0)
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
