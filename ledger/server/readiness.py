"""Preparing the log's database once, on the first moment it answers.

A server process starts without its database (``ledger.server.app.create_app`` opens no connection
it needs): gunicorn replaces a worker that died during a database outage with one that boots,
instead of one that exits and takes the master down with it. What needs the database at start (the
migrations, binding the database to this log's origin and key, refusing one bound to another)
runs in ``DatabaseGate.ensure``, which every request that reads or writes the log passes first.

``ensure`` prepares once per process, one thread (or greenlet) at a time: the others wait for its
outcome. A failure is kept for ``retry_s`` seconds and answered at once meanwhile, so that a down
database is not asked again by every request; the first request after that tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from ledger.core.errors import LedgerError, LogIdentityMismatch, Unavailable

log = logging.getLogger(__name__)

#: Seconds a failed preparation is answered from memory before the database is tried again; also
#: the ``Retry-After`` of the 503 it answers.
RETRY_S = 1.0


class DatabaseGate:
    """Runs ``prepare`` once, the first time it succeeds; until then ``ensure`` raises.

    ``prepare`` raises SQLAlchemy's ``DBAPIError`` (or, on SQLite, ``OSError``) when the
    database does not answer (answered as ``Unavailable``, 503) or ``LogIdentityMismatch`` when
    it holds another log (503 too, with its own code: a setting to fix, not an outage to wait
    out; it is checked again all the same, in case it is the database behind the URL that changes
    back). Anything else propagates unchanged: a bug or a broken migration is a 500.
    """

    def __init__(self, prepare: Callable[[], None], retry_s: float = RETRY_S) -> None:
        self._prepare = prepare
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._ready = False
        #: The last failure (its class and message) and when the database may be tried again.
        self._failure: tuple[type[Unavailable], str] | None = None
        self._retry_at = 0.0

    @property
    def ready(self) -> bool:
        """Whether the database has been prepared (it may have gone away since)."""
        return self._ready

    def ensure(self) -> None:
        """Return once the database is prepared; raise Unavailable (or LogIdentityMismatch)
        if it cannot be now. Prepared, this is one attribute read."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            if self._failure is not None and time.monotonic() < self._retry_at:
                raise self._error(*self._failure)
            try:
                self._prepare()
            except (DBAPIError, OSError) as e:
                # OSError: SQLite's folder is gone (a volume not mounted), which the migration
                # lock's file meets first. The driver's words (host, port) go to the log only.
                message = "the log's database is not reachable or not set up; retry later"
                raise self._failed(Unavailable, message, _first_line(e)) from e
            except LogIdentityMismatch as e:
                raise self._failed(LogIdentityMismatch, e.message, e.message) from e
            self._ready = True
            self._failure = None
            if self._retry_at:
                log.warning("the log's database answers again: prepared")

    def _failed(self, cls: type[Unavailable], message: str, cause: str) -> LedgerError:
        if self._failure != (cls, message):  # once per failure, not once per request
            log.error("the log's database cannot be used: %s (tried again every %.1f s)",
                      cause, self._retry_s)  # fmt: skip
        self._failure = (cls, message)
        self._retry_at = time.monotonic() + self._retry_s
        return self._error(cls, message)

    def _error(self, cls: type[Unavailable], message: str) -> LedgerError:
        # A new exception each time: one raised in several threads would share its traceback.
        return cls(message, retry_after=max(1, round(self._retry_s)))


def _first_line(error: DBAPIError | OSError) -> str:
    """The driver's message, first line only (SQLAlchemy appends the statement and a link)."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(error).__name__
