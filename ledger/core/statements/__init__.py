"""Signed statements, version 1: their shapes, their signing rules, and their hashes.

A statement is a JSON object. Its *statement bytes* are its RFC 8785 canonical form; a signature is
Ed25519 over ``STATEMENT_SIGNING_CONTEXT || statement bytes`` and the *statement hash* is
``SHA-256(STATEMENT_HASH_CONTEXT || statement bytes)``. On the wire a statement travels in an
envelope ``{"statement": {...}, "signatures": [{"public_key": b64, "signature": b64}, ...]}``.

This package checks shapes and signatures only. Rules that need the log's state (is this key
registered? was this grant accepted already?) belong to the service layer. No I/O here.

- ``types.py``: the constants of the format and the statement dataclasses;
- ``parse.py``: the strict parser, the reference for what a statement is (and every refusal);
- ``fastparse.py``: ``parse_statement`` and ``parse_statement_text``, with the fast path for
  grants and acceptances that tests/core/test_statements_fast.py pins to the strict parser;
- ``envelope.py``: ``Signature``, ``SignedStatement``, statement bytes and hash, signing.

Callers import from ``ledger.core.statements``; the names below are its public ones.
"""

from .envelope import (
    Signature,
    SignedStatement,
    new_nonce,
    parse_canonical_statement,
    sign_statement,
    statement_hash,
)
from .fastparse import parse_statement, parse_statement_text
from .parse import (
    PSEUDONYM_PATTERN,
    PSEUDONYM_RULE,
    STATEMENT_TYPES,
    format_timestamp,
    parse_timestamp,
)
from .types import (
    CONSIDERATION_UNITS,
    KEY_REVOCATION_REASONS,
    MAX_NOTICE_DAYS,
    PROHIBITIONS,
    STATEMENT_HASH_CONTEXT,
    STATEMENT_SIGNING_CONTEXT,
    STATEMENT_VERSION,
    USES,
    WORLDWIDE,
    Consideration,
    ContentItem,
    Grant,
    GrantAccept,
    GrantRevoke,
    KeyRevoke,
    KeyRotate,
    PartyRegister,
    Statement,
    Terms,
)

__all__ = [
    "CONSIDERATION_UNITS",
    "KEY_REVOCATION_REASONS",
    "MAX_NOTICE_DAYS",
    "PROHIBITIONS",
    "PSEUDONYM_PATTERN",
    "PSEUDONYM_RULE",
    "STATEMENT_HASH_CONTEXT",
    "STATEMENT_SIGNING_CONTEXT",
    "STATEMENT_TYPES",
    "STATEMENT_VERSION",
    "USES",
    "WORLDWIDE",
    "Consideration",
    "ContentItem",
    "Grant",
    "GrantAccept",
    "GrantRevoke",
    "KeyRevoke",
    "KeyRotate",
    "PartyRegister",
    "Signature",
    "SignedStatement",
    "Statement",
    "Terms",
    "format_timestamp",
    "new_nonce",
    "parse_canonical_statement",
    "parse_statement",
    "parse_statement_text",
    "parse_timestamp",
    "sign_statement",
    "statement_hash",
]
