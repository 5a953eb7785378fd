"""Shared by the tlog tests: a fast bulk loader, a mirror written from the tlog-tiles spec, and
witness servers run as real subprocesses.

The bulk loader writes entries, stored hashes and one signed checkpoint the way the service's
append does (same core functions: ``stored_hashes_for_leaves``, ``tree_hash``,
``sign_checkpoint``), but with synthetic leaves and one signature per load instead of one per
statement, so that trees of 65,537 entries build in seconds. The tlog-tiles API reads only leaf
bytes, stored hashes and checkpoints, which is exactly what it writes.

The mirror knows only the spec (c2sp.org/tlog-tiles) and the core's RFC 6962 hashing: it spells
tile paths itself, fetches every tile and entry bundle over HTTP, and recomputes every tile hash,
every upper-level tile and the root.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from ledger.core import builders, merkle
from ledger.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.core.keys import SigningKey
from ledger.core.note import NoteSigner, NoteVerifier
from ledger.server.app import create_app
from ledger.server.config import PROJECT_ROOT, Config
from ledger.server.publisher import WitnessPublisher
from ledger.server.storage import repository as repo
from ledger.server.storage.db import Database
from ledger.server.storage.models import CheckpointRow, EntryRow, TreeHashRow
from tests.support.factories import seeded_key
from tests.support.live import free_port, stop_group

# --- bulk loading --------------------------------------------------------------------------------


def synthetic_leaf(seq: int) -> bytes:
    """A leaf of varying length (so entry bundles exercise the u16 prefix), unique per seq."""
    return f"synthetic leaf {seq} ".encode() * (1 + seq % 7)


def bulk_append(db: Database, signer: NoteSigner, count: int) -> int:
    """Append ``count`` synthetic entries and sign one checkpoint; returns the new tree size."""
    now = datetime.now(UTC)
    with db.append_transaction() as session:
        size = session.scalar(select(func.count()).select_from(EntryRow))
        leaves = [synthetic_leaf(seq) for seq in range(size, size + count)]
        hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
        rows = [
            {
                "seq": seq,
                "leaf": leaf,
                "leaf_hash": h,
                "statement_hash": hashlib.sha256(b"stmt" + h).digest(),
                "type": "grant",
                "signer": "00" * 32,
                "integrated_at": now,
            }
            for seq, leaf, h in zip(range(size, size + count), leaves, hashes, strict=True)
        ]
        for i in range(0, len(rows), 5000):
            repo.insert_all(session, [(EntryRow, rows[i : i + 5000])])
        reader = repo.SessionHashReader(session)
        stored = merkle.stored_hashes_for_leaves(size, hashes, reader)
        start = merkle.stored_hash_count(size)
        for i in range(0, len(stored), 10000):
            chunk = stored[i : i + 10000]
            hash_rows = [{"idx": start + i + j, "hash": h} for j, h in enumerate(chunk)]
            repo.insert_all(session, [(TreeHashRow, hash_rows)])
        reader.known.update({start + i: h for i, h in enumerate(stored)})
        new_size = size + count
        root = merkle.tree_hash(new_size, reader)
        # Synthetic leaves hold no statements, so there is no licence map to commit: these
        # checkpoints carry no map line (like a log's from before the map), for tile tests only.
        note = sign_checkpoint(Checkpoint(signer.name, new_size, root), signer)
        repo.insert_all(
            session, [(CheckpointRow, [repo.checkpoint_row(new_size, root, note, now, None)])]
        )
    return new_size


# --- the mirror ----------------------------------------------------------------------------------


def spec_index(n: int) -> str:
    """tlog-tiles: zero-padded 3-digit path elements, all but the last starting with x."""
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def spec_path(level: int | str, n: int, width: int) -> str:
    return f"tile/{level}/{spec_index(n)}" + ("" if width == 256 else f".p/{width}")


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(url: str) -> Fetched:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return Fetched(
                resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
            )
    except urllib.error.HTTPError as e:
        return Fetched(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


@dataclass
class MirrorReport:
    tree_size: int
    tiles: list[str] = field(default_factory=list)  # every path fetched
    leaves: list[bytes] = field(default_factory=list)


class SpecMirror:
    """Mirrors a tiled log at ``prefix`` (e.g. ``http://127.0.0.1:8000/tlog``) and checks it."""

    def __init__(self, prefix: str, log_verifier: NoteVerifier) -> None:
        self.prefix = prefix.rstrip("/")
        self.verifier = log_verifier
        #: Full tiles and bundles are immutable (tlog-tiles): a mirror fetches each once.
        self.full: dict[str, bytes] = {}

    def fetch(self, path: str, full: bool) -> bytes:
        if full and path in self.full:
            return self.full[path]
        got = http_get(f"{self.prefix}/{path}")
        assert got.status == 200, (path, got.status, got.body[:300])
        assert got.headers["content-type"] == "application/octet-stream", path
        cache = got.headers["cache-control"]
        if full:
            assert cache == "public, max-age=31536000, immutable", path
            self.full[path] = got.body
        else:
            assert "immutable" not in cache, path
        return got.body

    def check(self) -> MirrorReport:
        got = http_get(f"{self.prefix}/checkpoint")
        assert got.status == 200
        assert got.headers["content-type"] == "text/plain; charset=utf-8"
        assert "immutable" not in got.headers["cache-control"]
        cp, _ = open_checkpoint(got.body, self.verifier)
        report = MirrorReport(cp.tree_size)
        level_hashes = self._level0(cp.tree_size, report)
        report_root = merkle.root_from_leaf_hashes(level_hashes)
        level, below = 1, level_hashes
        while cp.tree_size >> (8 * level):
            below = self._upper_level(level, cp.tree_size, below, report)
            level += 1
        assert report_root == cp.root_hash, "root recomputed from the tiles differs"
        return report

    def _widths(self, level: int, size: int) -> list[int]:
        count = size >> (8 * level)
        return [256] * (count // 256) + ([count % 256] if count % 256 else [])

    def _level0(self, size: int, report: MirrorReport) -> list[bytes]:
        hashes: list[bytes] = []
        for n, width in enumerate(self._widths(0, size)):
            tile = self.fetch(spec_path(0, n, width), width == 256)
            bundle = self.fetch(spec_path("entries", n, width), width == 256)
            report.tiles += [spec_path(0, n, width), spec_path("entries", n, width)]
            assert len(tile) == 32 * width
            entries = _split_bundle(bundle)
            assert len(entries) == width
            for i, entry in enumerate(entries):
                assert merkle.leaf_hash(entry) == tile[32 * i : 32 * i + 32]
            report.leaves += entries
            hashes += [tile[i : i + 32] for i in range(0, len(tile), 32)]
        return hashes

    def _upper_level(
        self, level: int, size: int, below: list[bytes], report: MirrorReport
    ) -> list[bytes]:
        """Fetch level ``level`` and check each hash is the MTH of a full tile below."""
        hashes: list[bytes] = []
        for n, width in enumerate(self._widths(level, size)):
            tile = self.fetch(spec_path(level, n, width), width == 256)
            report.tiles.append(spec_path(level, n, width))
            assert len(tile) == 32 * width
            for i in range(width):
                k = n * 256 + i  # the k-th full tile of the level below
                expected = merkle.root_from_leaf_hashes(below[k * 256 : (k + 1) * 256])
                assert tile[32 * i : 32 * i + 32] == expected, (level, n, i)
            hashes += [tile[i : i + 32] for i in range(0, len(tile), 32)]
        return hashes


def _split_bundle(data: bytes) -> list[bytes]:
    entries, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 2], "big")
        assert pos + 2 + size <= len(data), "entry bundle truncated"
        entries.append(data[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return entries


# --- witness servers -----------------------------------------------------------------------------


@dataclass
class WitnessProcess:
    """``ledger witness serve`` in a subprocess on a free port."""

    key_file: Path
    state_dir: Path
    name: str
    log_vkeys: list[str]
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    vkey: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WitnessProcess:
        """Start (again: on the same port, so a policy naming its URL stays right)."""
        self.port = self.port or free_port()
        cmd = [
            sys.executable, "-m", "ledger.cli", "witness", "serve",
            "--key", str(self.key_file), "--name", self.name,
            "--state", str(self.state_dir), "--log", ",".join(self.log_vkeys),
            "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        self.stderr_path = self.state_dir.parent / f"{self.name.replace('/', '_')}.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
            )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()  # the server prints its vkey first
        assert line.startswith("vkey "), (line, self.stderr_path.read_text())
        self.vkey = line.split(" ", 1)[1]
        deadline = time.monotonic() + 30
        while http_get_status(self.url + "/healthz") != 200:
            assert time.monotonic() < deadline, self.stderr_path.read_text()
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_group(self.proc, timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


def http_get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


@contextlib.contextmanager
def witnesses(*procs: WitnessProcess) -> Iterator[list[WitnessProcess]]:
    started: list[WitnessProcess] = []
    try:
        for p in procs:
            started.append(p.start())
        yield started
    finally:
        for p in started:
            p.stop()


# --- a log with a witness policy and two real witnesses -------------------------------------


ORIGIN = "test.example/log"


def log_signer(path: Path) -> NoteSigner:
    key = SigningKey.generate()
    key.save(path)
    return NoteSigner.from_private_key(ORIGIN, key.private_key)


def make_witness(tmp_path: Path, n: int, log: NoteSigner) -> WitnessProcess:
    key_file = tmp_path / f"w{n}.pem"
    SigningKey.generate().save(key_file)
    state = tmp_path / f"w{n}-state"
    state.mkdir()
    return WitnessProcess(key_file, state, f"witness.test/w{n}", [log.verifier().to_vkey()])


def write_policy(path: Path, log: NoteSigner, ws: list[WitnessProcess], quorum: str) -> Path:
    lines = [f"log {log.verifier().to_vkey()}"]
    lines += [f"witness w{i} {w.vkey} {w.url}" for i, w in enumerate(ws, 1)]
    path.write_text("\n".join(lines) + "\n" + quorum)
    return path


class Witnessed:
    def __init__(self, config: Config, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.log = log_signer(config.log_key_file)
        self.ws = [make_witness(tmp_path, n, self.log) for n in (1, 2)]
        self.config = config
        self.app: Flask | None = None
        self.n = 10

    def make_app(self, quorum: str) -> Flask:
        policy = write_policy(self.tmp_path / "policy.txt", self.log, self.ws, quorum)
        cfg = dataclasses.replace(
            self.config, witness_policy_file=policy, witness_interval_seconds=0
        )
        self.app = create_app(cfg)
        return self.app

    def append(self, count: int = 1) -> None:
        assert self.app is not None
        service = self.app.extensions["ledger"].service
        for _ in range(count):
            self.n += 1
            service.append_one(builders.party_register(seeded_key(self.n), f"party {self.n}"))

    @property
    def publisher(self) -> WitnessPublisher:
        assert self.app is not None
        publisher = self.app.extensions["ledger"].publisher
        assert publisher is not None
        return publisher

    def published(self) -> str:
        assert self.app is not None
        resp = self.app.test_client().get("/tlog/checkpoint")
        assert resp.status_code == 200, resp.data
        return resp.get_data(as_text=True)


# --- static publication --------------------------------------------------------------------------


class StaticLog:
    """A log for the static publication tests: the app without static publication (its ``/tlog/``
    reads the database: what the stores must match), bulk appends, and publishers."""

    def __init__(self, config: Config) -> None:
        self.config = dataclasses.replace(
            config, static_dir=None, static_s3_bucket="", static_interval_seconds=0
        )
        self.app = create_app(self.config)
        self.client = self.app.test_client()
        key = SigningKey.load(self.config.log_key_file)
        self.signer = NoteSigner.from_private_key(self.config.origin, key.private_key)
        self.db = Database(self.config.database_url)
        self.size = 0

    def grow_to(self, size: int) -> None:
        if size > self.size:  # (a fresh log has signed the empty tree already)
            self.size = bulk_append(self.db, self.signer, size - self.size)

    def tlog(self, key: str) -> Fetched:
        """``/tlog/<key>`` as the app serves it from the database."""
        resp = self.client.get(f"/tlog/{key}")
        return Fetched(
            resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.get_data()
        )

    def close(self) -> None:
        self.db.dispose()
        self.app.extensions["ledger"].db.dispose()
