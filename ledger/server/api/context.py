"""Access to the app's ledger objects from views, and small path-parameter parsers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.orm import Session
from werkzeug.routing import BaseConverter

from ledger.core.errors import InvalidParameter
from ledger.server.extension import Ledger, current_ledger

HEX64_PATTERN = "[0-9a-f]{64}"
UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: A seq in a path: a decimal without leading zeros, below 10^18 (no log comes near).
SEQ_PATTERN = "0|[1-9][0-9]{0,17}"
_HEX64 = re.compile(HEX64_PATTERN)
_UUID = re.compile(UUID_PATTERN)
_SEQ = re.compile(SEQ_PATTERN)


def path_parameter(name: str, pattern: str, description: str) -> dict[str, object]:
    """OpenAPI doc of a string path parameter, with the pattern its parser enforces."""
    return {
        "in": "path",
        "name": name,
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": f"^({pattern})$"},
    }


class EntrySeqConverter(BaseConverter):
    """A ``seq`` path segment for the routes under ``/v1/entries/``: any segment but ``batch``,
    the sibling route that takes POST only, so that a GET of ``/v1/entries/batch`` is a 405
    naming POST (RFC 9110), not a malformed seq. The view parses the seq itself (``seq_param``)."""

    regex = "(?!batch(?:/|$))[^/]+"


#: The name routes use for it: ``/<entry_seq:seq>`` (registered by ``ledger.server.api.init_app``).
ENTRY_SEQ = "entry_seq"


def ledger() -> Ledger:
    return current_ledger()


@contextmanager
def read_session() -> Iterator[Session]:
    """A read-only transaction: one consistent snapshot per request."""
    with ledger().db.read_session() as session, session.begin():
        yield session


@contextmanager
def immutable_read_session() -> Iterator[Session]:
    """For reads that need no snapshot: each query reads rows that never change once written.

    Proofs and checkpoints qualify: a tree size is first checked against the signed size (a log
    only grows), and everything stored for a signed size is immutable.
    """
    with ledger().db.immutable_read_session() as session, session.begin():
        yield session


@contextmanager
def immutable_connection() -> Iterator[Connection]:
    """``immutable_read_session`` on a bare connection, for the hottest immutable reads (COSE
    receipts: the published size, stored hashes and a checkpoint's root)."""
    with ledger().db.immutable_connection() as conn:
        yield conn


#: Items per page when a request does not say (at most the log's page maximum).
DEFAULT_PAGE_SIZE = 100


def page_limit(asked: int | None) -> int:
    """``asked``, or the default page (at most the log's page maximum); 400 beyond that maximum."""
    max_page = ledger().config.max_page_size
    if asked is not None and asked > max_page:
        raise InvalidParameter(f"limit must be at most {max_page}")
    return min(DEFAULT_PAGE_SIZE, max_page) if asked is None else asked


def hex64(value: str, name: str) -> str:
    """A 64-hex-digit path parameter in its one spelling, lowercase; 400 otherwise."""
    if not _HEX64.fullmatch(value):
        raise InvalidParameter(f"{name} must be 64 lowercase hex digits")
    return value


def uuid_param(value: str, name: str) -> str:
    if not _UUID.fullmatch(value):
        raise InvalidParameter(f"{name} must be a lowercase UUID")
    return value


def seq_param(value: str) -> int:
    if not _SEQ.fullmatch(value):
        raise InvalidParameter("seq must be a non-negative integer below 10^18")
    return int(value)
