"""The app's one extension object, ``Ledger``: everything the views, hooks and fast paths use.

Built once by ``ledger.server.app.create_app`` and kept in ``app.extensions["ledger"]``; no other
extension entry or ``app.config`` key carries the log's state. Both the factory and the HTTP API
import it from here, so neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from flask import Flask, current_app

from ledger.core.receipts import ReceiptSigner
from ledger.server.config import Config
from ledger.server.metrics import Metrics
from ledger.server.publisher import WitnessPublisher
from ledger.server.readiness import DatabaseGate
from ledger.server.reads.published import SignedSizes
from ledger.server.reads.receipts import CheckpointRoots, StoredHashCache
from ledger.server.reads.tlog import FullTileCache
from ledger.server.service import GroupCommitter, LogService
from ledger.server.statictiles import StaticPublisher
from ledger.server.storage.db import Database
from ledger.server.storage.mapstore import NodeCache

#: Map nodes a process keeps for its reads: the top 16 levels of the map (2**17 nodes) and more.
READ_MAP_NODES = 200_000


@dataclass
class Ledger:
    """What the app needs at run time: settings, database, the log service, and read state."""

    KEY: ClassVar[str] = "ledger"

    config: Config
    db: Database
    service: LogService
    committer: GroupCommitter
    origin: str
    verifier_key: str
    metrics: Metrics
    #: Prepares the database on the first request that finds it answering
    #: (``ledger.server.readiness``); every request that reads or writes the log passes it.
    gate: DatabaseGate
    #: Signs COSE receipts with the log's key (docs/FORMAT.md §15), each root once.
    receipts: ReceiptSigner
    #: Roots of signed checkpoints by size, for receipts (``ledger.server.reads.receipts``).
    receipt_roots: CheckpointRoots = field(default_factory=CheckpointRoots)
    receipt_hashes: StoredHashCache = field(default_factory=StoredHashCache)
    #: True when a witness policy is set: only checkpoints cosigned to its quorum are published
    #: (``ledger.server.reads.published``). Fixed for the app's life.
    witnessed: bool = False
    #: The witness publisher, with a witness policy only.
    publisher: WitnessPublisher | None = None
    #: The static publisher, with a static directory or bucket only.
    static_publisher: StaticPublisher | None = None
    #: The largest signed tree size seen, for the ``/v1`` proofs (not the published size).
    signed_sizes: SignedSizes = field(default_factory=SignedSizes)
    #: Full hash tiles served already; the tile fast path answers from it too.
    tile_cache: FullTileCache = field(default_factory=FullTileCache)
    #: Licence map nodes read by evidence, status and account answers, shared by this process's
    #: requests (``mapstore.map_reader``); bounded at READ_MAP_NODES (~300 bytes each).
    map_nodes: NodeCache = field(default_factory=lambda: NodeCache(READ_MAP_NODES))

    def init_app(self, app: Flask) -> None:
        app.extensions[self.KEY] = self

    @classmethod
    def of(cls, app: Flask) -> Ledger:
        """The app's ``Ledger``."""
        ledger: Ledger = app.extensions[cls.KEY]
        return ledger


def current_ledger() -> Ledger:
    """The ``Ledger`` of the app handling the current request."""
    return Ledger.of(current_app)
