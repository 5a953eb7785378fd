"""Access to the app's ledger objects from views, and small path-parameter parsers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy.orm import Session

from ..core.errors import InvalidParameter

if TYPE_CHECKING:
    from ..app import Ledger

_HEX64 = re.compile(r"[0-9a-f]{64}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SEQ = re.compile(r"0|[1-9][0-9]{0,18}")


def ledger() -> Ledger:
    return current_app.extensions["ledger"]  # type: ignore[no-any-return]


@contextmanager
def read_session() -> Iterator[Session]:
    """A read-only transaction: one consistent snapshot per request."""
    with ledger().db.read_session() as session, session.begin():
        yield session


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
    if not _SEQ.fullmatch(value) or int(value) >= 2**63:
        raise InvalidParameter("seq must be a non-negative integer")
    return int(value)
