"""Which tree a read may show: the log's *signed* size, or its *published* checkpoint.

Two sizes with two names, as Tessera's ``lifecycle.go`` keeps ``IntegratedSize`` apart from
``ReadCheckpoint``:

- ``signed_size`` — the size of the latest checkpoint the log has signed with its own key. Every
  append transaction signs one before it commits, so this is the whole tree the log has
  integrated. The ``/v1`` log API shows this tree: ``/v1/log``, ``/v1/checkpoint``, entries and
  their pages, batch answers, and the RFC 9162 proofs (sizes checked by ``SignedSizes``).
- ``published_checkpoint`` — the checkpoint a tlog client may rely on. Without a witness policy
  it is the latest signed checkpoint; with one (``witnessed``) it is the latest checkpoint whose
  cosignatures met the policy's quorum, which may lag the signed size (the publisher gathers
  cosignatures in rounds) and stops moving while the quorum is not met. The tlog API
  (``/tlog/checkpoint``, tiles, entry bundles), tlog-proof files, status answers and evidence
  bundles show only this tree.

The two are the same tree when no witness policy is set, which is why mixing them up goes
unnoticed until one is. Reads only: nothing here writes or decides what gets signed.
"""

from __future__ import annotations

from typing import NamedTuple, NoReturn

from sqlalchemy.orm import Session

from ledger.core.errors import InvalidParameter, MissingTreeHash
from ledger.server.storage import repository as repo


class Published(NamedTuple):
    """The published checkpoint: its tree size and its signed note (cosignatures included)."""

    tree_size: int
    note: str


def signed_size(session: Session) -> int:
    """The size of the latest checkpoint the log has signed (0 before the first one).

    With a witness policy, this tree may hold entries that no witness has cosigned yet. It MUST
    NOT be used as a substitute for ``published_checkpoint`` when only data which the log has
    published (cosigned to the witness quorum, when a policy is set) should be served: tiles,
    entry bundles, tlog-proof files, status answers, evidence. If in doubt, use
    ``published_checkpoint`` instead.
    """
    return repo.latest_size(session)


def published_checkpoint(session: Session, *, witnessed: bool) -> Published | None:
    """The checkpoint a tlog client may rely on, or None before the first one is published.

    ``witnessed`` says whether a witness policy is set (``Ledger.witnessed``): then only the
    latest checkpoint cosigned to its quorum is published, else the latest signed one. Its tree
    is never larger than ``signed_size``.
    """
    row = repo.latest_cosigned_checkpoint(session) if witnessed else repo.latest_checkpoint(session)
    return None if row is None else Published(row.tree_size, row.note)


def published_size(session: repo.Reads, *, witnessed: bool) -> int:
    """The tree size of ``published_checkpoint`` (0 before the first one), read from the index
    alone (no note is loaded)."""
    return repo.latest_cosigned_size(session) if witnessed else repo.latest_size(session)


class SignedSizes:
    """The largest signed tree size this process has seen, to check sizes without a query.

    A log only grows (its tables are append-only, enforced by the database), so a tree size at
    or below one already seen has been signed; only a larger one, or "the latest", needs a read.
    These are *signed* sizes (``signed_size``), what the ``/v1`` proofs are asked about; this
    MUST NOT answer whether a size is published to a witnessed log's clients (use
    ``published_checkpoint``). One per app (per database): never shared between logs. Should the
    database behind the app be behind what it has seen (a lagging replica, a database switched
    under a running node), a stored hash is missing for a size taken on trust: ``recheck`` then
    reads the size again.
    """

    def __init__(self) -> None:
        self.seen = 0

    def check(self, session: Session, tree_size: int | None) -> int:
        """``tree_size`` if the log has signed it, else InvalidParameter; None: the latest."""
        if tree_size is not None and tree_size <= self.seen:
            return tree_size
        size = signed_size(session)
        self.seen = max(self.seen, size)
        if tree_size is None:
            return size
        if tree_size > size:
            raise InvalidParameter(f"tree_size {tree_size} is beyond the log's size {size}")
        return tree_size

    def recheck(self, session: Session, tree_size: int, missing: MissingTreeHash) -> NoReturn:
        """A hash for ``tree_size`` was missing: forget what was seen and check the size again.

        Raises InvalidParameter if the database has not signed ``tree_size``, else re-raises
        ``missing`` (then the store itself is damaged).
        """
        self.seen = 0
        self.check(session, tree_size)
        raise missing
