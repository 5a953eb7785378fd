"""Static publication of the tlog-tiles API: the published checkpoint, its tiles and entry bundles
as immutable objects in a directory and, when configured, an S3-compatible bucket.

What a store holds is exactly the c2sp.org/tlog-tiles layout (docs/FORMAT.md §9): ``checkpoint``,
``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``, the same bytes ``/tlog/`` serves, with
the same ``Content-Type`` and ``Cache-Control`` (an S3 object carries them; a file server in front
of a directory is configured to send them, as the app's own static path does). So any file server,
bucket or CDN serves the log's reads, and a client mirrors and verifies the log from the store
alone.

One round (``StaticPublisher.run_once``), per store:

1. read the log's published checkpoint (size S: ``reads.published``, cosigned to the witness quorum
   when a policy is set) and the store's ``checkpoint`` (size P), verified with the log's key:
   a store holding another log's checkpoint is refused (``LogIdentityMismatch``), and one at or
   beyond S gets nothing;
2. write every tile and entry bundle of the tree of size S that the tree of size P lacks (full
   tiles from the first one not full at P, and the partial ones of S), in parallel, each with a
   *conditional create*: an object that exists is never overwritten (a file is hard-linked into
   place, an S3 PUT carries ``If-None-Match: *``). A refused write reads the object back: the
   same bytes is a *duplicate* (a round cut short before its checkpoint, then done again),
   counted; other bytes is a *conflict*, counted and logged, and the round stops before its
   checkpoint (``Conflict``): the store disagrees with the log and an operator must look;
3. only when every write of step 2 is durable, replace ``checkpoint`` by S's note, conditionally
   on it still being what step 1 read (an S3 PUT with ``If-Match`` its ETag, or ``If-None-Match``
   without one; a file renamed over it under a lock): the checkpoint never goes back, and never
   names a tree whose tiles the store lacks, however the publisher is stopped (``kill -9``
   included).

So partial tiles only grow: each width has its own path, written once, and a round only writes
the partial tiles of a size beyond the store's checkpoint. Narrower partial tiles stay (a client
holding an older checkpoint may still ask for them); they are small and superseded by the full
tile's path. Rounds are serialized across threads, workers and hosts by a try-lock
(``publisher.try_lock``); the app runs them in a background thread (``LEDGER_STATIC_INTERVAL``),
or ``python -m ledger.server.statictiles`` runs them as a process of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from ledger.core.checkpoint import open_checkpoint
from ledger.core.errors import Conflict, LedgerError, LogIdentityMismatch
from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner, NoteVerifier
from ledger.core.tiles import TILE_HEIGHT, TILE_WIDTH, Tile, partial_width
from ledger.server.config import Config
from ledger.server.publisher import Rounds, try_lock
from ledger.server.reads.published import published_checkpoint
from ledger.server.reads.tlog import OCTETS, read_entry_bundle, read_tile, tile_cache_control
from ledger.server.storage.db import Database

log = logging.getLogger(__name__)

#: PostgreSQL advisory lock key of a static publication round (the witness round's is 0x4C454749).
STATIC_LOCK_KEY = 0x4C454753
CHECKPOINT_KEY = "checkpoint"
#: Tiles read from the database per session, and written to a store at once.
READ_CHUNK = 64
WRITERS = 8


class Outcome(StrEnum):
    """What a conditional create of one immutable object did."""

    WRITTEN = "written"
    #: The object was there with the same bytes (a round done again after it was cut short).
    DUPLICATE = "duplicate"
    #: The object was there with other bytes: never overwritten, and the round stops.
    CONFLICT = "conflict"


@dataclass(frozen=True)
class StoredCheckpoint:
    """A store's checkpoint object: its bytes and the version to replace it conditionally."""

    data: bytes
    version: str


class ObjectStore(Protocol):
    """Where static objects go. Keys are tlog-tiles paths (``checkpoint``, ``tile/...``)."""

    name: str

    def create(self, key: str, data: bytes, content_type: str, cache_control: str) -> Outcome:
        """Write ``key`` unless it exists; if it does, compare its bytes with ``data``.
        Durable when it returns. Raises Unavailable when the store cannot be reached."""
        ...

    def read_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint object, or None when there is none."""
        ...

    def replace_checkpoint(self, data: bytes, expected: StoredCheckpoint | None) -> bool:
        """Write the checkpoint if it is still ``expected`` (None: still absent); False if not."""
        ...


# --- which objects a tree adds -------------------------------------------------------------------


def tiles_between(old_size: int, new_size: int) -> Iterator[Tile]:
    """The tiles and entry bundles of the tree of ``new_size`` that a store complete at
    ``old_size`` lacks: per level, the full tiles from the first one not full at ``old_size``,
    then the partial tile of ``new_size`` (if any, and unless the level did not grow); level 0's
    entry bundles alike. Pure."""
    level = 0
    while new_size >> (TILE_HEIGHT * level):
        first = (old_size >> (TILE_HEIGHT * level)) // TILE_WIDTH
        hashes = new_size >> (TILE_HEIGHT * level)
        heads: list[int | None] = [0, None] if level == 0 else [level]
        for n in range(first, hashes // TILE_WIDTH):
            for head in heads:
                yield Tile(head, n)
        width = partial_width(level, new_size)
        if width and hashes != old_size >> (TILE_HEIGHT * level):  # else old's, unchanged
            for head in heads:
                yield Tile(head, hashes // TILE_WIDTH, width)
        level += 1


def object_key(tile: Tile) -> str:
    """A tile's key in a store: its tlog-tiles path (``tile/...``)."""
    return tile.path()


# --- the stores ----------------------------------------------------------------------------------


class DirectoryStore:
    """A directory in the tlog-tiles layout: serve it with any file server (docs/OPERATIONS.md
    says which headers to send) or with the app's own static path (``LEDGER_STATIC_DIR``).

    An immutable object is written to a temporary file, synced, and hard-linked to its path: the
    link fails if the path exists, so nothing is ever overwritten, and a reader never sees a
    partly written file. The checkpoint is renamed over the old one under a file lock."""

    name = "directory"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / ".tmp"

    def create(self, key: str, data: bytes, content_type: str, cache_control: str) -> Outcome:
        path = self.root / key
        if path.exists():
            return _compare(path.read_bytes(), data)
        self._mkdirs(path.parent)
        tmp = self._write_temporary(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _compare(path.read_bytes(), data)
        finally:
            tmp.unlink()
        _sync_dir(path.parent)
        return Outcome.WRITTEN

    def read_checkpoint(self) -> StoredCheckpoint | None:
        try:
            data = (self.root / CHECKPOINT_KEY).read_bytes()
        except FileNotFoundError:
            return None
        return StoredCheckpoint(data, data.hex())

    def replace_checkpoint(self, data: bytes, expected: StoredCheckpoint | None) -> bool:
        self._mkdirs(self.root)
        with open(self.root / ".checkpoint.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.read_checkpoint() != expected:
                return False
            tmp = self._write_temporary(data)
            os.replace(tmp, self.root / CHECKPOINT_KEY)
            _sync_dir(self.root)
            return True

    def clear_temporaries(self, older_than: float = 600.0) -> None:
        """Remove temporary files a killed publisher left (a running one's are younger)."""
        if not self.tmp.is_dir():
            return
        limit = time.time() - older_than
        for stale in self.tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if stale.stat().st_mtime < limit:
                    stale.unlink()

    def _write_temporary(self, data: bytes) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
        tmp = self.tmp / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)  # a tile is at most 8 KiB, a bundle at most 16 MiB: one write
            os.fsync(fd)
        finally:
            os.close(fd)
        return tmp

    def _mkdirs(self, path: Path) -> None:
        """Make ``path`` and its missing parents, each synced into its parent."""
        missing: list[Path] = []
        while not path.exists():
            missing.append(path)
            path = path.parent
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):
                directory.mkdir()
            _sync_dir(directory.parent)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _compare(stored: bytes, data: bytes) -> Outcome:
    return Outcome.DUPLICATE if stored == data else Outcome.CONFLICT


# --- the publisher -------------------------------------------------------------------------------


@dataclass
class StoreRound:
    """What one round did to one store."""

    store: str
    #: The store's checkpoint size before the round, and after it.
    before: int
    after: int
    outcomes: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {"store": self.store, "before": self.before, "after": self.after,
                **{o.value: self.outcomes[o.value] for o in Outcome}}  # fmt: skip


class StaticPublisher:
    """Publishes the log's published checkpoint, tiles and entry bundles to each store."""

    def __init__(
        self,
        db: Database,
        stores: Sequence[ObjectStore],
        verifier: NoteVerifier,
        *,
        witnessed: bool,
        on_outcome: Callable[[str, Outcome, int], None] | None = None,
    ) -> None:
        self.db = db
        self.stores = list(stores)
        self.verifier = verifier
        self.witnessed = witnessed
        #: Told (store, outcome, count) after each store's writes: the app's metrics.
        self.on_outcome = on_outcome
        #: Every outcome so far, by store and outcome (this process's life).
        self.totals: Counter[tuple[str, str]] = Counter()
        #: The size this process last published to each store, by ``id`` (a round at that size
        #: skips the store).
        self._published: dict[int, int] = {}
        self._rounds = Rounds("static-publisher", self.run_once, self._round_failed, 30)

    def run_once(self) -> list[StoreRound] | None:
        """One round for every store (see the module docstring); None if another round holds
        the lock. A store that fails does not hold up the others: after every store had its
        turn, the first failure is raised (LogIdentityMismatch, Conflict or Unavailable)."""
        with try_lock(self.db, STATIC_LOCK_KEY, "static.lock") as locked:
            if not locked:
                return None
            with self.db.read_session() as session, session.begin():
                published = published_checkpoint(session, witnessed=self.witnessed)
            if published is None:
                return []
            note = published.note.encode()
            done: list[StoreRound] = []
            failures: list[LedgerError] = []
            for store in self.stores:
                if self._published.get(id(store)) == published.tree_size:
                    continue  # this process put that checkpoint there: nothing new to read
                try:
                    done.append(self._publish(store, published.tree_size, note))
                except LedgerError as e:
                    failures.append(e)
            if failures:
                raise failures[0]
            return done

    def _publish(self, store: ObjectStore, size: int, note: bytes) -> StoreRound:
        if isinstance(store, DirectoryStore):
            store.clear_temporaries()
        current = store.read_checkpoint()
        before = self._stored_size(store, current)
        result = StoreRound(store.name, before, before)
        if current is not None and before >= size:
            if before == size:
                self._published[id(store)] = size
            else:
                log.warning("%s holds checkpoint %d, beyond the log's %d", store.name, before, size)
            return result
        for tiles in _chunks(list(tiles_between(before, size)), READ_CHUNK):
            self._write(store, self._read(tiles, size), result)
        if result.outcomes[Outcome.CONFLICT]:
            raise Conflict(
                f"{store.name} holds {result.outcomes[Outcome.CONFLICT]} object(s) that differ "
                "from the log's: checkpoint not published; the log writes each object once and "
                "never overwrites one, so compare the store with /tlog/ before removing any"
            )
        if store.replace_checkpoint(note, current):
            result.after = size
            self._published[id(store)] = size
        else:  # another publisher moved it meanwhile: its round wrote its own tiles first
            log.info("%s: checkpoint replaced meanwhile; %d not published", store.name, size)
        return result

    def _stored_size(self, store: ObjectStore, current: StoredCheckpoint | None) -> int:
        if current is None:
            return 0
        try:
            cp, _ = open_checkpoint(current.data, self.verifier)
        except LedgerError as e:
            raise LogIdentityMismatch(
                f"{store.name} holds a checkpoint this log did not sign ({e}): point the "
                "publisher at this log's own directory or bucket prefix"
            ) from e
        return cp.tree_size

    def _read(self, tiles: list[Tile], size: int) -> list[tuple[Tile, bytes]]:
        with self.db.read_session() as session, session.begin():
            read = [read_entry_bundle if t.is_entries else read_tile for t in tiles]
            return [(t, r(session, t, size)) for t, r in zip(tiles, read, strict=True)]

    def _write(
        self, store: ObjectStore, objects: list[tuple[Tile, bytes]], result: StoreRound
    ) -> None:
        def create(item: tuple[Tile, bytes]) -> Outcome:
            tile, data = item
            outcome = store.create(object_key(tile), data, OCTETS, tile_cache_control(tile))
            if outcome is Outcome.CONFLICT:
                log.error("%s: %s differs from the log's; left as it is", store.name, tile.path())
            return outcome

        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            outcomes = Counter(pool.map(create, objects))
        for outcome, n in outcomes.items():
            result.outcomes[outcome.value] += n
            self.totals[(store.name, outcome.value)] += n
            if self.on_outcome is not None:
                self.on_outcome(store.name, outcome, n)

    # --- the background thread ------------------------------------------------------------------

    def start(self, interval: float, ready: Callable[[], None] | None = None) -> None:
        """Run rounds every ``interval`` seconds in a thread until ``stop()`` (``Rounds``)."""
        self._rounds.start(interval, ready)

    def stop(self) -> None:
        self._rounds.stop()

    def _round_failed(self, error: Exception) -> None:
        if isinstance(error, LedgerError):
            log.error("static publication round failed: %s", error)
        else:
            log.exception("static publication round failed")


def _chunks(items: list[Tile], n: int) -> Iterator[list[Tile]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def stores_from_config(config: Config) -> list[ObjectStore]:
    """The stores the settings name: the directory, then the bucket (either may be unset)."""
    stores: list[ObjectStore] = []
    if config.static_dir is not None:
        stores.append(DirectoryStore(config.static_dir))
    if config.static_s3_bucket:
        from ledger.server.s3store import S3Store  # noqa: PLC0415 - boto3 only when configured

        stores.append(S3Store.from_config(config))
    return stores


# --- as a process of its own ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m ledger.server.statictiles [--once] [--interval S]``: publish with the app's
    settings (``LEDGER_*``) as a process of its own; prints one JSON line per store and round."""
    parser = argparse.ArgumentParser(prog="python -m ledger.server.statictiles")
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument("--interval", type=float, default=None, help="seconds between rounds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    config = Config.from_env()
    stores = stores_from_config(config)
    if not stores:
        print(f"nothing to publish to: set {Config.variable('static_dir')} or "
              f"{Config.variable('static_s3_bucket')}", file=sys.stderr)  # fmt: skip
        return 2
    if not config.log_key_file.exists():
        print(f"no log key at {config.log_key_file} ({Config.variable('log_key_file')})",
              file=sys.stderr)  # fmt: skip
        return 2
    key = SigningKey.load(config.log_key_file)
    verifier = NoteSigner.from_private_key(config.origin, key.private_key).verifier()
    db = Database(config.database_url, 2)
    witnessed = config.witness_policy_file is not None
    publisher = StaticPublisher(db, stores, verifier, witnessed=witnessed)
    interval = config.static_interval_seconds if args.interval is None else args.interval
    try:
        while True:
            try:
                rounds = publisher.run_once()
            except LedgerError as e:
                print(f"static publication failed: {e}", file=sys.stderr)
                if args.once:
                    return 1
                rounds = []
            for done in rounds or []:
                print(json.dumps(done.as_dict()), flush=True)
            if args.once:
                return 0
            time.sleep(interval or 1.0)
    finally:
        db.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
