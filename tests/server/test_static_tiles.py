"""Static publication (ledger.server.statictiles): what the stores hold is what ``/tlog/`` serves,
byte for byte and header for header; full tiles are written once (a second write is counted,
never an overwrite); partial tiles only grow; the checkpoint never names a tree whose tiles the
store lacks. Each test runs on a directory and on a real S3 server (SeaweedFS, ``s3_server``),
on SQLite and PostgreSQL. The kill test and the app's own static path are at the end.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.core.checkpoint import open_checkpoint, sign_checkpoint
from ledger.core.errors import Conflict, LogIdentityMismatch
from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner
from ledger.core.tiles import Tile, tiles_for_size
from ledger.server.app import create_app
from ledger.server.config import PROJECT_ROOT, Config
from ledger.server.extension import Ledger
from ledger.server.s3store import S3Store
from ledger.server.statictiles import (
    DirectoryStore,
    ObjectStore,
    Outcome,
    StaticPublisher,
    StoreRound,
    tiles_between,
)
from ledger.server.storage import repository as repo
from ledger.server.storage.db import Database
from tests.support.seaweed import BUCKET, SeaweedS3, anonymous_get
from tests.support.tlog_helpers import SpecMirror, StaticLog, synthetic_leaf

IMMUTABLE = "public, max-age=31536000, immutable"
OCTETS = "application/octet-stream"


# --- what a store must hold ------------------------------------------------------------------


def expected_keys(sizes: list[int]) -> set[str]:
    """Every object a store published at each of ``sizes`` holds: the checkpoint, and each
    size's tiles (tiles_for_size, the core's own listing) with level 0's entry bundles."""
    keys = {"checkpoint"}
    for size in sizes:
        for tile in tiles_for_size(size):
            keys.add(tile.path())
            if tile.level == 0:
                keys.add(Tile(None, tile.index, tile.width).path())
    return keys


@pytest.mark.parametrize("old", [0, 1, 255, 256, 257, 65_535, 65_536, 70_000])
@pytest.mark.parametrize("new", [1, 255, 256, 257, 511, 65_536, 65_537, 70_000, 131_073])
def test_a_round_writes_what_the_new_tree_adds(old: int, new: int) -> None:
    if new <= old:
        return
    adds = set(tiles_between(old, new))
    level_tiles = {t for t in adds if not t.is_entries}
    assert level_tiles == set(tiles_for_size(new)) - set(tiles_for_size(old))
    assert {t for t in adds if t.is_entries} == {
        Tile(None, t.index, t.width) for t in level_tiles if t.level == 0
    }


# --- the stores under test ---------------------------------------------------------------------


@dataclass
class Target:
    """A store and the ways a test reads it as a client would, and writes it behind its back."""

    kind: str
    store: ObjectStore
    root: Path | None = None
    s3: SeaweedS3 | None = None
    prefix: str = ""

    def get(self, key: str) -> tuple[int, dict[str, str], bytes]:
        """A client's read: an anonymous GET of the bucket, or the file."""
        if self.s3 is not None:
            return anonymous_get(f"{self.s3.bucket_url(self.prefix)}/{key}")
        assert self.root is not None
        path = self.root / key
        return (200, {}, path.read_bytes()) if path.is_file() else (404, {}, b"")

    def keys(self) -> set[str]:
        if self.s3 is not None:
            return self.s3.keys(self.prefix)
        assert self.root is not None
        return {
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.startswith(".") and ".tmp" not in p.parts
        }

    def put_behind(self, key: str, data: bytes) -> None:
        """Write (or overwrite) an object without the publisher: an operator's mistake."""
        if self.s3 is not None:
            self.s3.client().put_object(Bucket=BUCKET, Key=self.prefix + key, Body=data)
            return
        assert self.root is not None
        (self.root / key).parent.mkdir(parents=True, exist_ok=True)
        (self.root / key).write_bytes(data)

    def delete_behind(self, key: str) -> None:
        if self.s3 is not None:
            self.s3.client().delete_object(Bucket=BUCKET, Key=self.prefix + key)
            return
        assert self.root is not None
        (self.root / key).unlink()


def make_target(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if kind == "directory":
        root = tmp_path / "static"
        return Target(kind, DirectoryStore(root), root=root)
    s3: SeaweedS3 = request.getfixturevalue("s3_server")
    prefix = f"log-{uuid.uuid4().hex[:8]}/"  # one bucket, a prefix per test
    config = Config(
        static_s3_bucket=BUCKET, static_s3_prefix=prefix, static_s3_endpoint=s3.endpoint
    )
    for k, v in s3.env().items():
        os.environ.setdefault(k, v)
    return Target(kind, S3Store.from_config(config), s3=s3, prefix=prefix)


@pytest.fixture(params=["directory", pytest.param("s3", marks=pytest.mark.slow)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    return make_target(str(request.param), request, tmp_path)


@pytest.fixture
def sqlite_only(backend: str) -> None:
    """Skips the PostgreSQL leg, before any other fixture of the test is made."""
    if backend != "sqlite":
        pytest.skip("SQLite only: the comment beside the test's sqlite_only says why")


def publisher(log: StaticLog, *stores: ObjectStore, db: Database | None = None) -> StaticPublisher:
    return StaticPublisher(db or log.db, stores, log.signer.verifier(), witnessed=False)


def publish(log: StaticLog, target: Target) -> StoreRound:
    rounds = publisher(log, target.store).run_once()
    assert rounds is not None
    assert len(rounds) == 1
    return rounds[0]


# --- byte identity, headers, only what the trees need -------------------------------------------


def test_the_store_holds_what_tlog_serves(static_log: StaticLog, target: Target) -> None:
    sizes = [0, 1, 255, 256, 257, 600]
    for size in sizes:
        static_log.grow_to(size)
        done = publish(static_log, target)
        assert done.after == size
        assert done.outcomes[Outcome.DUPLICATE] == done.outcomes[Outcome.CONFLICT] == 0
        keys = target.keys()
        assert keys == expected_keys(sizes[: sizes.index(size) + 1])
        for key in keys:
            status, headers, body = target.get(key)
            served = static_log.tlog(key)
            assert (status, body) == (served.status, served.body) == (200, served.body), key
            if target.s3 is not None:  # a bucket answers with the app's own headers
                for name in ("content-type", "cache-control"):
                    assert headers[name] == served.headers[name], (key, name)
    # The headers themselves, as docs/FORMAT.md §9.1 gives them.
    assert static_log.tlog("tile/0/001").headers["cache-control"] == IMMUTABLE
    assert static_log.tlog("tile/0/002.p/88").headers["cache-control"] == "public, max-age=10"
    assert static_log.tlog("checkpoint").headers["content-type"] == "text/plain; charset=utf-8"


def test_full_tiles_are_written_once(static_log: StaticLog, target: Target) -> None:
    static_log.grow_to(256)
    assert publish(static_log, target).outcomes[Outcome.WRITTEN] == 3
    tile = target.get("tile/0/000")[2]
    # The store refuses to overwrite: other bytes are a conflict, the same bytes a duplicate.
    assert target.store.create("tile/0/000", b"\x00" * 8192, OCTETS, IMMUTABLE) is Outcome.CONFLICT
    assert target.store.create("tile/0/000", tile, OCTETS, IMMUTABLE) is Outcome.DUPLICATE
    assert target.get("tile/0/000")[2] == tile
    # A round cut short before its checkpoint, done again: every write is a counted duplicate.
    target.delete_behind("checkpoint")
    counted: list[tuple[str, Outcome, int]] = []
    again = publisher(static_log, target.store)
    again.on_outcome = lambda store, outcome, n: counted.append((store, outcome, n))
    rounds = again.run_once()
    assert rounds is not None
    assert rounds[0].outcomes == {"duplicate": 3}
    assert counted == [(target.store.name, Outcome.DUPLICATE, 3)]
    assert again.totals[(target.store.name, "duplicate")] == 3
    assert target.get("checkpoint")[2] == static_log.tlog("checkpoint").body


def test_a_conflicting_object_stops_the_round_before_its_checkpoint(
    static_log: StaticLog, target: Target
) -> None:
    static_log.grow_to(256)
    publish(static_log, target)
    checkpoint = target.get("checkpoint")[2]
    target.put_behind("tile/0/001", b"\x01" * 8192)  # where the next full tile will go
    static_log.grow_to(512)
    with pytest.raises(Conflict, match="differ"):
        publisher(static_log, target.store).run_once()
    assert target.get("tile/0/001")[2] == b"\x01" * 8192  # never overwritten
    assert target.get("checkpoint")[2] == checkpoint  # never ahead of what the store holds right
    assert target.get("tile/entries/001")[2] == static_log.tlog("tile/entries/001").body
    target.delete_behind("tile/0/001")  # the operator removes the stray object
    assert publish(static_log, target).after == 512


def test_a_failing_store_does_not_hold_up_the_others(
    static_log: StaticLog, target: Target, tmp_path: Path
) -> None:
    static_log.grow_to(300)
    target.put_behind("tile/0/000", b"\x02" * 8192)
    other = DirectoryStore(tmp_path / "other")
    both = publisher(static_log, target.store, other)
    with pytest.raises(Conflict):
        both.run_once()
    assert (tmp_path / "other" / "checkpoint").read_bytes() == static_log.tlog("checkpoint").body
    assert target.get("checkpoint")[0] == 404
    # The next round skips the store it is done with, and still refuses the conflicting one.
    with pytest.raises(Conflict):
        both.run_once()
    assert both.totals[(target.store.name, "conflict")] == 2


@pytest.mark.usefixtures("sqlite_only")  # a backup taken with SQLite's own backup API
def test_partial_tiles_only_grow(static_log: StaticLog, target: Target, tmp_path: Path) -> None:
    static_log.grow_to(3)
    publish(static_log, target)
    backup = tmp_path / "backup.db"
    source = sqlite3.connect(static_log.config.database_url.removeprefix("sqlite:///"))
    with closing(source), closing(sqlite3.connect(backup)) as copy:
        source.backup(copy)  # SQLite's online backup: the WAL's pages too
    static_log.grow_to(5)
    publish(static_log, target)
    three, five = target.get("tile/0/000.p/3")[2], target.get("tile/0/000.p/5")[2]
    assert five[:96] == three  # the wider tile extends the narrower one
    assert len(five) == 160
    # A publisher on a database restored from the older backup writes nothing: no narrower
    # partial tile replaces a wider one, and the checkpoint does not go back.
    before = target.keys()
    stale_db = Database(f"sqlite:///{backup}")
    try:
        rounds = publisher(static_log, target.store, db=stale_db).run_once()
    finally:
        stale_db.dispose()
    assert rounds is not None
    assert (rounds[0].before, rounds[0].after) == (5, 5)
    assert not rounds[0].outcomes
    assert target.keys() == before
    assert target.get("checkpoint")[2] == static_log.tlog("checkpoint").body


def test_with_a_witness_policy_only_the_cosigned_tree_is_published(
    static_log: StaticLog, tmp_path: Path
) -> None:
    static_log.grow_to(256)
    note_256 = static_log.client.get("/v1/checkpoint?tree_size=256").get_data(as_text=True)
    static_log.grow_to(300)  # signed, not cosigned
    store = DirectoryStore(tmp_path / "static")
    verifier = static_log.signer.verifier()
    witnessed = StaticPublisher(static_log.db, [store], verifier, witnessed=True)
    assert witnessed.run_once() == []  # nothing cosigned yet: nothing published
    with static_log.db.append_transaction() as session:
        repo.add_cosigned_checkpoint(session, 256, note_256, datetime.now(UTC))
    rounds = witnessed.run_once()
    assert rounds is not None
    assert rounds[0].after == 256
    assert (tmp_path / "static" / "checkpoint").read_text() == note_256
    assert not (tmp_path / "static" / "tile" / "0" / "001.p" / "44").exists()


def test_a_store_of_another_log_is_refused(static_log: StaticLog, target: Target) -> None:
    other = NoteSigner.from_private_key(static_log.config.origin, SigningKey.generate().private_key)
    cp, _ = open_checkpoint(static_log.tlog("checkpoint").body, static_log.signer.verifier())
    target.put_behind("checkpoint", sign_checkpoint(cp, other).encode())  # same origin, other key
    static_log.grow_to(10)
    with pytest.raises(LogIdentityMismatch, match="did not sign"):
        publisher(static_log, target.store).run_once()
    assert target.keys() == {"checkpoint"}


# --- a client of the bucket alone ---------------------------------------------------------------


@pytest.mark.slow
def test_a_client_mirrors_the_log_from_the_bucket_alone(
    sqlite_only: None,  # the stores' bytes are checked on both backends above
    static_log: StaticLog,
    s3_server: SeaweedS3,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    target = make_target("s3", request, tmp_path)
    for size in (300, 1_000):  # (the kill test's mirror goes past a full level-1 tile)
        static_log.grow_to(size)
        publish(static_log, target)
        mirror = SpecMirror(s3_server.bucket_url(target.prefix), static_log.signer.verifier())
        report = mirror.check()  # anonymous GETs only: checkpoint, every tile and bundle
        assert report.tree_size == size
        assert report.leaves == [synthetic_leaf(i) for i in range(size)]


# --- the kill test ------------------------------------------------------------------------------


def _publisher_env(config: Config, s3: SeaweedS3, prefix: str, static: Path) -> dict[str, str]:
    return {
        **os.environ,
        **s3.env(),
        "LEDGER_DATABASE_URL": config.database_url,
        "LEDGER_LOG_KEY_FILE": str(config.log_key_file),
        "LEDGER_ORIGIN": config.origin,
        "LEDGER_STATIC_DIR": str(static),
        "LEDGER_STATIC_S3_BUCKET": BUCKET,
        "LEDGER_STATIC_S3_PREFIX": prefix,
        "LEDGER_STATIC_S3_ENDPOINT": s3.endpoint,
    }


def _publisher_process(
    config: Config, s3: SeaweedS3, prefix: str, static: Path
) -> subprocess.Popen[bytes]:
    """The publisher as a process of its own, a round every 50 ms."""
    return subprocess.Popen(
        [sys.executable, "-m", "ledger.server.statictiles", "--interval", "0.05"],
        cwd=PROJECT_ROOT, env=_publisher_env(config, s3, prefix, static),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _checked(target: Target, log: StaticLog) -> tuple[int, set[str]]:
    """The store's checkpoint size, after checking that every tile and bundle it names is
    there; and the objects of the log's next round that it holds already (written by a round
    cut short before its checkpoint)."""
    keys = target.keys()
    status, _, body = target.get("checkpoint")
    size = 0
    if status != 404:
        cp, _ = open_checkpoint(body, log.signer.verifier())
        size = cp.tree_size
    missing = expected_keys([size]) - keys - ({"checkpoint"} if status == 404 else set())
    assert not missing, f"checkpoint {size} names objects the store lacks: {sorted(missing)[:5]}"
    return size, keys & {t.path() for t in tiles_between(size, log.size)}


@pytest.mark.slow
def test_kill_9_mid_batch_never_leaves_the_checkpoint_ahead(
    sqlite_only: None,  # the publisher's crash safety is the stores' own: one backend suffices
    static_log: StaticLog,
    s3_server: SeaweedS3,
    tmp_path: Path,
) -> None:
    prefix, static = f"kill-{uuid.uuid4().hex[:8]}/", tmp_path / "static"
    directory = Target("directory", DirectoryStore(static), root=static)
    bucket = Target("s3", directory.store, s3=s3_server, prefix=prefix)  # read as a client
    cut = 0
    for round_ in range(5):
        static_log.grow_to(static_log.size + 13_200)  # ~100 objects per store; 66,000 in all
        before = _checked(directory, static_log)[0]
        # Kill while it writes: once new tiles appear in the directory (even rounds), or in the
        # bucket (odd rounds: the directory's round is done, the bucket's under way).
        watched = directory if round_ % 2 == 0 else bucket
        stored = _checked(watched, static_log)[0]
        sign = [t.path() for t in tiles_between(stored, static_log.size)][8]  # among the first
        proc = _publisher_process(static_log.config, s3_server, prefix, static)
        deadline = time.monotonic() + 60
        while watched.get(sign)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert _checked(directory, static_log)[0] >= before
        cut += _checked(watched, static_log)[0] < static_log.size
    assert cut >= 3, "the kills should land mid-batch"
    # A restart completes: both stores at the log's size. What the last killed round had written
    # beyond its store's checkpoint is found again: counted as duplicates, never overwritten.
    extra = {t.kind: _checked(t, static_log)[1] for t in (directory, bucket)}
    done = subprocess.run(
        [sys.executable, "-m", "ledger.server.statictiles", "--once"],
        cwd=PROJECT_ROOT, env=_publisher_env(static_log.config, s3_server, prefix, static),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for line in map(json.loads, done.stdout.splitlines()):
        store = "directory" if line["store"] == "directory" else "s3"
        assert line["after"] == static_log.size
        assert (line["duplicate"], line["conflict"]) == (len(extra[store]), 0), line
    assert extra["s3"], "the last kill landed in the bucket's round"
    for target in (directory, bucket):
        assert _checked(target, static_log) == (static_log.size, set())
    for key in sorted(directory.keys())[::7]:  # the files hold what /tlog/ serves
        assert directory.get(key)[2] == static_log.tlog(key).body, key
    report = SpecMirror(s3_server.bucket_url(prefix), static_log.signer.verifier()).check()
    assert report.tree_size == static_log.size


# --- the app ------------------------------------------------------------------------------------


def test_the_app_serves_its_directory_as_tlog_does(static_log: StaticLog, tmp_path: Path) -> None:
    static = tmp_path / "static"
    app = create_app(replace(static_log.config, static_dir=static, static_interval_seconds=0))
    try:
        ledger = Ledger.of(app)
        static_log.grow_to(600)
        assert ledger.static_publisher is not None
        ledger.static_publisher.run_once()
        client = app.test_client()
        for key in sorted(expected_keys([600]) - {"checkpoint"}):
            got, served = client.get(f"/tlog/{key}"), static_log.tlog(key)
            assert (got.status_code, got.get_data()) == (200, served.body), key
            for name in ("Content-Type", "Cache-Control", "Content-Length"):
                assert got.headers[name] == served.headers[name.lower()], (key, name)
        assert not ledger.tile_cache._tiles  # served from the files, not through the view
        static_log.grow_to(700)  # not published yet: the app reads the database
        assert (
            client.get("/tlog/tile/0/002.p/188").get_data()
            == static_log.tlog("tile/0/002.p/188").body
        )
        assert client.get("/tlog/tile/0/x000/001").status_code == 400  # one path per tile
        assert client.get("/tlog/tile/0/009").status_code == 404
    finally:
        Ledger.of(app).db.dispose()


def test_the_app_publishes_in_the_background(static_log: StaticLog, tmp_path: Path) -> None:
    static = tmp_path / "static"
    app = create_app(replace(static_log.config, static_dir=static, static_interval_seconds=0.05))
    ledger = Ledger.of(app)
    try:
        static_log.grow_to(300)
        deadline = time.monotonic() + 30
        target = Target("directory", DirectoryStore(static), root=static)
        while not (static / "checkpoint").exists() or _checked(target, static_log)[0] < 300:
            assert time.monotonic() < deadline, "no background round published the log"
            time.sleep(0.05)
        metrics = app.test_client().get("/metrics").get_data(as_text=True)
        assert 'ledger_static_objects_total{outcome="written",store="directory"} 5.0' in metrics
    finally:
        assert ledger.static_publisher is not None
        ledger.static_publisher.stop()
        ledger.db.dispose()


def test_the_publisher_process_prints_what_it_did(static_log: StaticLog, tmp_path: Path) -> None:
    """``python -m ledger.server.statictiles --once`` prints what each store's round did."""
    static = tmp_path / "static"
    static_log.grow_to(257)
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": static_log.config.database_url,
        "LEDGER_LOG_KEY_FILE": str(static_log.config.log_key_file),
        "LEDGER_ORIGIN": static_log.config.origin,
        "LEDGER_STATIC_DIR": str(static),
    }
    done = subprocess.run(
        [sys.executable, "-m", "ledger.server.statictiles", "--once"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {
            "store": "directory",
            "before": 0,
            "after": 257,
            "written": 5,
            "duplicate": 0,
            "conflict": 0,
        }
    ]
