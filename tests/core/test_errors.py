"""The exception tree: every class pinned to its (code, HTTP status). ``ledger.core.errors``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ledger.core import errors
from ledger.core.errors import LedgerError, all_error_classes

# Written out by hand on purpose: changing a code or a status means changing it here too.
EXPECTED: dict[str, tuple[str, int]] = {
    "LedgerError": ("ledger_error", 500),
    # The client must fix the request.
    "InvalidRequest": ("invalid_request", 400),
    "MalformedJSON": ("malformed_json", 400),
    "InvalidStatement": ("invalid_statement", 400),
    "InvalidEncoding": ("invalid_encoding", 400),
    "InvalidKey": ("invalid_key", 400),
    "LeafTooLarge": ("leaf_too_large", 400),
    "MalformedLeaf": ("malformed_leaf", 400),
    "MalformedNote": ("malformed_note", 400),
    "MalformedProof": ("malformed_proof", 400),
    "InvalidParameter": ("invalid_parameter", 400),
    "PayloadTooLarge": ("payload_too_large", 413),
    "MalformedBody": ("malformed_body", 400),
    "IncompleteBody": ("incomplete_body", 400),
    "MalformedHTTP": ("malformed_http", 400),
    "RequestLineTooLong": ("request_line_too_long", 414),
    "HeaderFieldsTooLarge": ("header_fields_too_large", 431),
    "UnsupportedMediaType": ("unsupported_media_type", 415),
    "MalformedTilePath": ("malformed_tile_path", 400),
    "MalformedPolicy": ("malformed_policy", 400),
    "InvalidManifest": ("invalid_manifest", 400),
    "C2paUnavailable": ("c2pa_unavailable", 400),
    "C2paFailed": ("c2pa_failed", 400),
    "StateUnusable": ("state_unusable", 400),
    "TooManyItems": ("too_many_items", 413),
    "AtInFuture": ("at_in_future", 400),
    "MalformedBundle": ("bundle_malformed", 400),
    "MalformedReceipt": ("malformed_receipt", 400),
    "MalformedSignedStatement": ("malformed_signed_statement", 400),
    # A cryptographic check failed.
    "VerificationError": ("verification_failed", 400),
    "BadSignature": ("bad_signature", 400),
    "ProofError": ("proof_invalid", 400),
    "ReceiptRootMismatch": ("receipt_root_mismatch", 400),
    "MapProofInvalid": ("map_proof_invalid", 400),
    "MapKeyAbsent": ("map_key_absent", 400),
    "MapKeyPresent": ("map_key_present", 400),
    "MapValueMismatch": ("map_value_mismatch", 400),
    "MapRootMissing": ("map_root_missing", 400),
    "EntryOmitted": ("entry_omitted", 400),
    "ChainError": ("chain_broken", 400),
    "UnverifiedNote": ("note_unverified", 400),
    "QuorumNotMet": ("quorum_not_met", 400),
    "TrustError": ("trust_violation", 400),
    "EntryMismatch": ("entry_mismatch", 400),
    "NotYourGrant": ("not_your_grant", 400),
    "EvidenceInvalid": ("evidence_invalid", 400),
    "AuditFailed": ("audit_failed", 400),
    # Well formed, but the log's state forbids it.
    "StateError": ("state_violation", 422),
    "UnknownKey": ("unknown_key", 422),
    "KeyRevoked": ("key_revoked", 422),
    "KeyAlreadyRegistered": ("key_already_registered", 422),
    "NotKeyOwner": ("not_key_owner", 422),
    "BuyerNotRegistered": ("buyer_not_registered", 422),
    "GrantIdTaken": ("grant_id_taken", 422),
    "UnknownGrant": ("unknown_grant", 422),
    "NotGrantBuyer": ("not_grant_buyer", 422),
    "AlreadyAccepted": ("already_accepted", 422),
    "NotGrantCreator": ("not_grant_creator", 422),
    "AlreadyRevoked": ("already_revoked", 422),
    "GrantRevoked": ("grant_revoked", 422),
    "LogIdentityMismatch": ("log_identity_mismatch", 503),
    "MapVersionPending": ("map_version_pending", 503),
    "NotRevocable": ("not_revocable", 422),
    "NoticePeriod": ("notice_period", 422),
    "IssuedInFuture": ("issued_in_future", 422),
    # Lookups, conflicts, the server side.
    "NotFound": ("not_found", 404),
    "Conflict": ("conflict", 409),
    "DuplicateStatement": ("duplicate_statement", 409),
    "RateLimited": ("rate_limited", 429),
    # Refused by the HTTP layer (Werkzeug); their problems keep Werkzeug's status and title.
    "BadRequest": ("bad_request", 400),
    "MethodNotAllowed": ("method_not_allowed", 405),
    "NotAcceptable": ("not_acceptable", 406),
    "Unprocessable": ("unprocessable", 422),
    "HttpError": ("http_error", 400),
    "Unavailable": ("unavailable", 503),
    "ReadOnlyDatabase": ("read_only_database", 503),
    "InternalError": ("internal_error", 500),
    "MissingTreeHash": ("tree_hash_missing", 500),
    "ServerError": ("server_error", 502),
    "ServerRefused": ("server_refused", 502),
}

# Only the tree in ledger.core.errors: a subclass defined elsewhere would exist only once its
# module is imported, which would make this table depend on test order. There is none
# (test_no_error_class_lives_outside_the_core_tree), so the filter only guards the table.
CLASSES = [cls for cls in all_error_classes() if cls.__module__ == errors.__name__]


def test_the_table_names_every_class_and_only_those() -> None:
    assert {cls.__name__ for cls in CLASSES} == set(EXPECTED)
    assert len(CLASSES) == len(EXPECTED)  # no two classes share a name
    assert CLASSES[0] is LedgerError


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_code_and_status_are_pinned(cls: type[LedgerError]) -> None:
    assert (cls.code, cls.status) == EXPECTED[cls.__name__]
    assert getattr(errors, cls.__name__) is cls  # importable from the one module
    assert cls.title
    assert cls.title.strip() == cls.title


def test_codes_are_unique() -> None:
    codes = [cls.code for cls in CLASSES]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_codes_are_snake_case(cls: type[LedgerError]) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", cls.code)


def test_state_errors_are_422_and_invalid_requests_4xx() -> None:
    for cls in CLASSES:
        if issubclass(cls, errors.StateError):
            assert cls.status == 422, cls
        if issubclass(cls, errors.InvalidRequest):
            assert 400 <= cls.status < 500, cls
        assert 400 <= cls.status < 600, cls


def test_an_error_carries_its_message_and_details() -> None:
    error = errors.BadSignature("signature by key abc does not verify", key_id="abc")
    assert str(error) == "bad_signature: signature by key abc does not verify"
    assert error.message == "signature by key abc does not verify"
    assert error.details == {"key_id": "abc"}
    assert isinstance(error, errors.VerificationError)
    assert isinstance(error, LedgerError)


def test_a_listing_names_at_most_the_first_problems_and_counts_the_rest() -> None:
    few = errors.InvalidRequest.listing(["a: Unknown field.", "b: Unknown field."])
    assert few.message == "a: Unknown field.; b: Unknown field."
    assert few.details == {"errors": ["a: Unknown field.", "b: Unknown field."]}
    many = [f"m{i}: Unknown field." for i in range(20_000)]
    error = errors.InvalidRequest.listing(many)
    assert error.details["errors"] == many[: errors.MAX_LISTED_PROBLEMS]
    assert error.details["errors_omitted"] == 20_000 - errors.MAX_LISTED_PROBLEMS
    assert error.message.endswith(f"; and {20_000 - errors.MAX_LISTED_PROBLEMS} more")
    assert len(error.message) < 1000


def test_a_quoted_name_is_cut() -> None:
    assert errors.quoted("short") == "short"
    long = "x" * 10_000
    assert errors.quoted(long) == "x" * errors.MAX_QUOTED_CHARS + "..."


def test_no_error_class_lives_outside_the_core_tree() -> None:
    # Every error the project raises is declared in ledger/core/errors.py, where the table above
    # pins it; a subclass declared in another module (the server, the client) would escape it.
    ledger_dir = Path(errors.__file__).parent.parent
    names = {cls.__name__ for cls in all_error_classes()}
    found = []
    for path in sorted(ledger_dir.rglob("*.py")):
        if path == Path(errors.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
            if bases & names:
                found.append(f"{path.relative_to(ledger_dir.parent)}: {node.name}")
    assert found == []


def test_the_server_renders_no_code_outside_the_tree() -> None:
    # Every problem the API sends carries a code of the tree: one spelled out as a literal where
    # a problem body is made (``problem_body(status, "some_code", ...)``) would escape the table.
    server_dir = Path(errors.__file__).parent.parent / "server"
    found = []
    for path in sorted(server_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "problem_body"):
                continue
            args = [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "code")]
            if any(isinstance(a, ast.Constant) for a in args):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []
