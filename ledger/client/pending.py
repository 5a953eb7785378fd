"""Signed statements whose fate is unknown, kept in the client's state folder until it is known.

A write that ends without an answer (the server unreachable, 5xx after every retry, a crash of
this machine) may or may not have been logged. Signing again would make a *new* statement (a new
nonce, and for a grant a new id) that the log would accept as a second entry. So the envelopes are
written here before the first POST, under a name the caller chooses (``ledger.cli`` uses a hash of
the command line), and removed only once their fate is known (verified in the log, or refused).
A later run under the same name sends the kept envelopes again, byte for byte, instead of
signing anew::

    STATE/<quoted origin>/pending/<name>.json    {"statements": [envelope, ...]}
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ledger.client.trust import state_io
from ledger.core.errors import LedgerError, StateUnusable
from ledger.core.statements import SignedStatement
from ledger.files import atomic_write

__all__ = ["PendingStatements"]

_NAME = re.compile(r"[0-9a-f]{16,64}")


class PendingStatements:
    """The pending envelopes of one log (``folder`` is ``STATE/<origin>/pending``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ValueError(f"a pending name is 16-64 lowercase hex digits, not {name!r}")
        return self.folder / f"{name}.json"

    def load(self, name: str) -> list[SignedStatement] | None:
        """The envelopes kept under ``name`` (parsed and their signatures verified), or None.
        Raises StateUnusable for a file that cannot be read or holds no valid envelopes."""
        path = self.path(name)
        if not path.exists():
            return None
        with state_io(path):
            doc = json.loads(path.read_text(encoding="utf-8"))
        envelopes = doc.get("statements") if isinstance(doc, dict) else None
        if not isinstance(envelopes, list) or not envelopes:
            raise StateUnusable(f"the pending statements in {path} are unusable")
        try:
            return [SignedStatement.from_json(e) for e in envelopes]
        except LedgerError as e:
            raise StateUnusable(f"the pending statements in {path} are unusable: {e}") from e

    def keep(self, name: str, statements: list[SignedStatement]) -> Path:
        """Write the envelopes (atomically, 0600) before they are sent; returns the file."""
        path = self.path(name)
        doc = {"statements": [s.to_json() for s in statements]}
        with state_io(path):
            atomic_write(path, (json.dumps(doc, indent=1) + "\n").encode())
        return path

    def forget(self, name: str) -> None:
        """Their fate is known: remove the file."""
        path = self.path(name)
        with state_io(path):
            path.unlink(missing_ok=True)
