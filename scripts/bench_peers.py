"""Side by side with Tessera (issue 24 item 4): one load generator, systems interleaved, ratios.

Consent Ledger runs as in production (gunicorn with the repository's gunicorn.conf.py, 2 gthread
workers x 16 threads or 2 gevent workers, a fresh PostgreSQL database, rate limits off); Tessera
is its POSIX conformance server (``cmd/conformance/posix`` v1.0.4, the library behind Rekor v2),
as shipped (``posix``: batches of 256 or 1 s, a checkpoint a second) and with a flag for the
batch age (``posix-tuned``). The load generator (``scripts/peers/loadgen.go``, Go standard
library) and Tessera's own proof client (``scripts/peers/tessera_tool.go``) are the same for
both; ``scripts/peers/build_tessera.sh`` builds all four binaries from Debian's packages (no
other network), into ``--bin``.

Every run starts the system it measures on 127.0.0.1, drives it, stops it, and appends one JSON
line to ``WORK/results.jsonl``: the figure, the 1-minute load average before and after, and the
CPU the server used (gunicorn's workers and this database's PostgreSQL processes; Tessera's
process). ``ratios`` prints the medians and the ours/peer ratios against the issue's targets.

    scripts/peers/build_tessera.sh /work/peers-bin                 # once (~3 min)
    python scripts/bench_peers.py --bin BIN --work W bodies --grants 120000
    python scripts/bench_peers.py --bin BIN --work W append ledger tessera-tuned --rounds 3
    python scripts/bench_peers.py --bin BIN --work W fill --real 100000 --entries 1000000
    python scripts/bench_peers.py --bin BIN --work W tiles --rounds 3
    python scripts/bench_peers.py --bin BIN --work W proofs --rounds 3
    python scripts/bench_peers.py --bin BIN --work W ratios

Systems:
- append: ``ledger`` (gthread), ``ledger-gevent``, ``ledger-granian`` (the app under granian,
  scripts/harness.py), ``ledger-batch`` (POST /v1/entries/batch,
  1,000 statements a request), ``tessera`` (as shipped), ``tessera-tuned`` (``--batch-age``);
- tiles: ``ledger`` (``/tlog/`` from the database and the per-worker tile cache),
  ``ledger-static`` (the same app with ``LEDGER_STATIC_DIR``: its static fast path answers from
  the files the static publisher wrote), ``ledger-static-granian`` (the app under granian, whose
  static route serves the same files in Rust), ``tessera``;
- proofs: ``ledger`` (``/v1/proofs/inclusion``, built on the server), ``tessera-client-on-ledger``
  ``tessera-client-on-ledger-static``, ``-static-granian`` and ``-static-nginx`` (Tessera's
  client building proofs from our tiles),
  ``tessera`` (the same client against Tessera).

The kept logs for tiles and proofs (``fill``): ours holds ``--real`` signed grants appended
through the batch endpoint (their bytes on disk per entry are recorded then), grown to
``--entries`` with synthetic leaves through the repository's own storage and Merkle functions
(tests/support/tlog_helpers.bulk_append: a tile or a proof reads only stored hashes); Tessera's
holds ``--entries`` random 1,024-byte entries added over HTTP (its antispam would answer a
repeated body with the first index).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (str(ROOT), str(ROOT / "scripts")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import harness  # noqa: E402 - after the path set-up
from bench_service import CpuMeter  # noqa: E402

ARGS: argparse.Namespace

#: The issue's targets (item 4): (kind, our system, Tessera's system, what, target ours / Tessera).
#: Appends compare at 16 clients, tiles and proofs at the largest log measured, and the bytes on
#: disk per entry of the kept logs (``fill``).
TARGETS = [
    ("tiles", "ledger-static", "tessera", "rate", (">=", 1.0)),
    ("tiles", "ledger-static-granian", "tessera", "rate", (">=", 1.0)),
    ("tiles", "ledger-static-nginx", "tessera", "rate", (">=", 1.0)),
    ("proofs", "tessera-client-on-ledger-static", "tessera", "rate", (">=", 1.0)),
    ("proofs", "tessera-client-on-ledger-static-granian", "tessera", "rate", (">=", 1.0)),
    ("proofs", "tessera-client-on-ledger-static-nginx", "tessera", "rate", (">=", 1.0)),
    ("append", "ledger", "tessera-tuned", "CPU", ("<=", 3.0)),
    ("append", "ledger", "tessera-tuned", "rate", (">=", 1.0)),
    ("append", "ledger-granian", "tessera-tuned", "CPU", ("<=", 3.0)),
    ("append", "ledger-granian", "tessera-tuned", "rate", (">=", 1.0)),
    ("fill", "ledger", "tessera", "bytes", ("<=", 1.5)),
]


# --- small helpers -------------------------------------------------------------------------------


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def du_bytes(path: Path) -> dict[str, int]:
    """Apparent and allocated bytes (st_blocks) of every file under ``path``, and the files."""
    apparent = allocated = files = 0
    for root, _dirs, names in os.walk(path):
        for n in names:
            st = os.lstat(os.path.join(root, n))
            apparent += st.st_size
            allocated += st.st_blocks * 512
            files += 1
    return {"apparent_bytes": apparent, "allocated_bytes": allocated, "files": files}


def record(entry: dict[str, Any]) -> None:
    entry.setdefault("at", now())
    with open(ARGS.work / "results.jsonl", "a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
    fig = entry.get("figure", {})
    shown = {k: fig.get(k) for k in ("per_second", "items_per_second", "ok", "errors")}
    shown["latency_ms"] = {
        k: v for k, v in (fig.get("latency_ms") or {}).items() if k in ("p50", "p99")
    }
    cpu = {
        k: v for k, v in entry.items() if k.endswith(("_per_entry", "_per_request", "_per_proof"))
    }
    print(
        f"{entry['kind']:7} {entry['system']:32} load {entry['load_before'][0]:5.1f}",
        json.dumps(shown),
        json.dumps(cpu),
        flush=True,
    )


def run_json(cmd: list[str], timeout: float) -> dict[str, Any]:
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise SystemExit(f"{Path(cmd[0]).name} failed ({out.returncode}): {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def loadgen(*args: str, timeout: float = 900) -> dict[str, Any]:
    return run_json([str(ARGS.bin / "loadgen"), *args], timeout)


def read_records(path: Path) -> list[bytes]:
    """A file of records: a 4-byte big-endian length, then that many bytes."""
    data, out, i = path.read_bytes(), [], 0
    while i + 4 <= len(data):
        n = struct.unpack(">I", data[i : i + 4])[0]
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return out


def write_records(path: Path, records: list[bytes]) -> None:
    with open(path, "wb") as f:
        for r in records:
            f.write(struct.pack(">I", len(r)) + r)


def bodies_dir() -> Path:
    return ARGS.work / "bodies"


def batches_file(size: int) -> Path:
    """``{"statements": [...]}`` bodies of ``size`` grants each, built once from grants.bin."""
    out = ARGS.work / f"batches-{size}.bin"
    if not out.exists():
        grants = read_records(bodies_dir() / "grants.bin")
        write_records(
            out,
            [
                harness.batch_body(grants[s : s + size])
                for s in range(0, len(grants) - size + 1, size)
            ],
        )
    return out


# --- pre-signed statements -----------------------------------------------------------------------


def cmd_bodies(a: argparse.Namespace) -> None:
    """setup.bin (the creators' and buyer's party.register, sent unmeasured before a run on
    ours) and grants.bin (``--grants`` grants of ~1 KB from the creators in turn to the buyer),
    the same bytes for both systems: ours parses, verifies and checks them, Tessera stores them."""
    import multiprocessing as mp

    from ledger.core import builders
    from ledger.core.keys import SigningKey

    out = bodies_dir()
    out.mkdir(parents=True, exist_ok=True)
    seeds = [os.urandom(32).hex() for _ in range(a.creators + 1)]
    keys = [SigningKey.from_seed(bytes.fromhex(s)) for s in seeds]
    write_records(
        out / "setup.bin",
        [
            json.dumps(builders.party_register(k, f"peer bench {i}").to_json()).encode()
            for i, k in enumerate(keys)
        ],
    )
    chunk = 2_000
    jobs = [
        (seeds[:-1], keys[-1].key_id, s, min(chunk, a.grants - s))
        for s in range(0, a.grants, chunk)
    ]
    with mp.get_context("fork").Pool(os.cpu_count() or 2) as pool:
        grants = [g for part in pool.imap(harness.sign_grants, jobs) for g in part]
    write_records(out / "grants.bin", grants)
    sizes = sorted(len(g) for g in grants)
    print(json.dumps({"grants": len(grants), "bytes_median": sizes[len(sizes) // 2]}))


@contextlib.contextmanager
def spawned(
    cmd: list[str], log: Path, ready: Any, what: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` started with its output in ``log``, once ``ready()`` is true (60 s at most);
    stopped with SIGTERM (SIGKILL after 30 s) at exit."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=harness.ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{what} did not start ({proc.returncode}): see {log}")
            with contextlib.suppress(OSError):
                if ready():
                    break
            time.sleep(0.1)
        yield proc
    finally:
        harness.stop(proc)


def port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), 1):
        return True


# --- Consent Ledger ------------------------------------------------------------------------------


@contextlib.contextmanager
def ledger_server(
    worker_class: str = "gthread",
    keep: Path | None = None,
    static: bool = False,
    kind: str = "gunicorn",
) -> Iterator[harness.Server]:
    """gunicorn (or granian: ``kind``) on a fresh PostgreSQL database, or on the one kept in
    ``keep`` (bench-db.json); with ``static``, serving the kept log's static directory."""
    workdir = keep or ARGS.work / f"ledger-{os.getpid()}-{time.time_ns()}"
    static_env = {"LEDGER_STATIC_DIR": str(workdir / "static"), "LEDGER_STATIC_INTERVAL": "0"}
    env = static_env if static else None
    if keep is not None and (keep / "bench-db.json").exists():
        url = json.loads((keep / "bench-db.json").read_text())["url"]
        with harness.app_server(
            kind, url, keep, 2, 16, worker_class=worker_class, env=env
        ) as server:
            yield server
        return
    workdir.mkdir(parents=True, exist_ok=True)
    with harness.database("postgres", harness.DEFAULT_PG, keep is not None, workdir) as url:
        (workdir / "bench-db.json").write_text(json.dumps({"url": url}))
        with harness.app_server(kind, url, workdir, 2, 16, worker_class=worker_class, env=env) as (
            server
        ):
            yield server
    if keep is None:
        shutil.rmtree(workdir, ignore_errors=True)


def ledger_db_size(url: str) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))  # dirty pages to their files before sizing
            total = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
            rows = conn.execute(
                text(
                    "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
                    "AND n.nspname = 'public' ORDER BY 2 DESC"
                )
            ).all()
            entries = conn.execute(text("SELECT count(*) FROM entries")).scalar()
    finally:
        engine.dispose()
    return {
        "database_bytes": int(total or 0),
        "entries": int(entries or 0),
        "tables": {r[0]: int(r[1]) for r in rows},
    }


def ledger_setup(port: int) -> None:
    """Register the grants' creators and buyer (unmeasured)."""
    setup = bodies_dir() / "setup.bin"
    fig = loadgen(
        "append",
        "-base",
        f"http://127.0.0.1:{port}",
        "-path",
        "/v1/entries",
        "-bodies",
        str(setup),
        "-clients",
        "1",
        "-parse",
        "ledger",
        "-ctype",
        "application/json",
        "-expect",
        "201",
        "-max-seconds",
        "60",
    )
    if fig["ok"] != len(read_records(setup)):
        raise SystemExit(f"ledger setup failed: {fig}")


def checkpoint_size(port: int, path: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return int(r.read().decode().split("\n")[1])


def kept_ledger() -> Path:
    return ARGS.work / "kept-ledger"


@contextlib.contextmanager
def granian_static() -> Iterator[harness.Server]:
    """The app under granian (2 workers, harness.granian) on the kept log, with granian's static
    route mounted on the static directory's ``tile/``: granian answers ``/tlog/tile/...`` in
    Rust, without Python (and so without the app's headers, request log and metrics:
    docs/BENCHMARKS.md says what differs); everything else goes to the app. A configuration to
    compare, not the service's."""
    keep = kept_ledger()
    url = json.loads((keep / "bench-db.json").read_text())["url"]
    route = ["--static-path-route", "/tlog/tile", "--static-path-mount",
             str(keep / "static" / "tile"), "--static-path-expires", "31536000"]  # fmt: skip
    with harness.granian(url, keep, 2, 16, extra=route) as server:
        yield server


# --- Tessera -------------------------------------------------------------------------------------


def tessera_key() -> Path:
    key = ARGS.work / "tessera-key"
    if not key.exists():
        out = subprocess.run(
            [str(ARGS.bin / "tessera_tool"), "keygen", "-origin", "peers.example/tessera"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        key.write_text(out.stdout.splitlines()[0])
        key.chmod(0o600)
    return key


@contextlib.contextmanager
def tessera_server(tuned: bool, storage: Path) -> Iterator[tuple[int, int]]:
    """Tessera's POSIX conformance server on ``storage``: (port, pid)."""
    port = harness.free_port()
    cmd = [
        str(ARGS.bin / ("posix-tuned" if tuned else "posix")),
        f"--storage_dir={storage}",
        f"--listen=127.0.0.1:{port}",
        f"--private_key={tessera_key()}",
    ]
    if tuned:
        cmd.append(f"--batch_max_age={ARGS.batch_age}")
    storage.parent.mkdir(parents=True, exist_ok=True)
    log = ARGS.work / "tessera-server.log"
    with spawned(cmd, log, lambda: port_open(port), "tessera") as proc:
        yield port, proc.pid


def kept_tessera() -> Path:
    return ARGS.work / "kept-tessera" / "log"


# --- appends -------------------------------------------------------------------------------------


def append_run(system: str, clients: int, n: int) -> None:
    entry: dict[str, Any] = {
        "kind": "append",
        "system": system,
        "clients": clients,
        "load_before": load(),
    }
    grants = str(bodies_dir() / "grants.bin")
    if system.startswith("ledger"):
        kind = "granian" if system == "ledger-granian" else "gunicorn"
        with ledger_server(
            "gevent" if system == "ledger-gevent" else "gthread", kind=kind
        ) as server:
            port = server.base_port
            ledger_setup(port)
            meter = CpuMeter(server)
            if system == "ledger-batch":
                args = [
                    "-path",
                    "/v1/entries/batch",
                    "-bodies",
                    str(batches_file(1000)),
                    "-parse",
                    "count",
                    "-per-request",
                    "1000",
                    "-expect",
                    "200",
                    "-warmup",
                    "2",
                    "-n",
                    str(max(1, n // 1000)),
                ]
            else:
                args = [
                    "-path",
                    "/v1/entries",
                    "-bodies",
                    grants,
                    "-parse",
                    "ledger",
                    "-expect",
                    "201",
                    "-warmup",
                    str(ARGS.warmup),
                    "-n",
                    str(n),
                ]
            meter.begin()
            fig = loadgen(
                "append",
                "-base",
                f"http://127.0.0.1:{port}",
                "-clients",
                str(clients),
                "-ctype",
                "application/json",
                "-max-seconds",
                str(ARGS.max_seconds),
                *args,
            )
            cpu = meter.end()
            entry["db"] = ledger_db_size(server.url)
        entry["server_cpu_s"], entry["pg_cpu_s"] = cpu["server"], cpu["pg"]
    else:
        storage = ARGS.work / f"tessera-run-{time.time_ns()}"
        with tessera_server(system == "tessera-tuned", storage) as (port, pid):
            c0 = harness.cpu_seconds(pid)
            fig = loadgen(
                "append",
                "-base",
                f"http://127.0.0.1:{port}",
                "-path",
                "/add",
                "-bodies",
                grants,
                "-clients",
                str(clients),
                "-parse",
                "tessera",
                "-warmup",
                str(ARGS.warmup),
                "-n",
                str(n),
                "-checkpoint",
                "/checkpoint",
                "-poll",
                "10ms",
                "-max-seconds",
                str(ARGS.max_seconds),
            )
            entry["server_cpu_s"] = harness.cpu_seconds(pid) - c0
        entry["disk"] = du_bytes(storage)
        shutil.rmtree(storage, ignore_errors=True)
    items = fig["ok"] * fig.get("items_per_request", 1)
    entry["server_cpu_us_per_entry"] = round(entry["server_cpu_s"] / max(1, items) * 1e6, 1)
    if "pg_cpu_s" in entry:
        entry["pg_cpu_us_per_entry"] = round(entry["pg_cpu_s"] / max(1, items) * 1e6, 1)
    entry["figure"], entry["load_after"] = fig, load()
    record(entry)


def cmd_append(a: argparse.Namespace) -> None:
    for r in range(a.rounds):
        for system in a.systems if r % 2 == 0 else list(reversed(a.systems)):
            clients = a.clients if system != "ledger-batch" else 2
            # Tessera as shipped waits out its 1 s batch timer: ~16 appends/s at 16 clients
            append_run(system, clients, a.n if system != "tessera" else a.n // 50)


# --- the kept logs -------------------------------------------------------------------------------


def cmd_fill(a: argparse.Namespace) -> None:
    """Ours: ``--real`` signed grants through the batch endpoint (then its size on disk), grown
    to ``--entries`` with synthetic leaves, then written to its static directory. Tessera:
    ``--entries`` random entries over HTTP, then its size on disk."""
    if "ledger" in a.systems:
        fill_ledger(a.real, a.entries)
    if "tessera" in a.systems:
        fill_tessera(a.entries)


def fill_ledger(real: int, entries: int) -> None:
    from ledger.core.keys import SigningKey
    from ledger.core.note import NoteSigner
    from ledger.server.statictiles import DirectoryStore, StaticPublisher
    from ledger.server.storage.db import Database
    from tests.support.tlog_helpers import bulk_append

    keep = kept_ledger()
    entry: dict[str, Any] = {"kind": "fill", "system": "ledger", "load_before": load()}
    with ledger_server(keep=keep) as server:
        port = server.base_port
        have = checkpoint_size(port, "/tlog/checkpoint")
        if have == 0:
            ledger_setup(port)
            have = checkpoint_size(port, "/tlog/checkpoint")
        need = max(0, real - have)
        t0 = time.time()
        if need:
            entry["figure"] = loadgen(
                "append",
                "-base",
                f"http://127.0.0.1:{port}",
                "-path",
                "/v1/entries/batch",
                "-bodies",
                str(batches_file(1000)),
                "-clients",
                "2",
                "-parse",
                "count",
                "-per-request",
                "1000",
                "-expect",
                "200",
                "-n",
                str(-(-need // 1000)),
                "-ctype",
                "application/json",
                "-max-seconds",
                "3000",
                timeout=3600,
            )
        entry["seconds"] = round(time.time() - t0, 1)
        entry["db"] = ledger_db_size(server.url)  # real grants only: the bytes-per-entry figure
        url = server.url
    entry["load_after"] = load()
    record(entry)
    database = Database(url)
    signer = NoteSigner.from_private_key(
        harness.ORIGIN, SigningKey.load(keep / "log-key.pem").private_key
    )
    try:
        size = entry["db"]["entries"]
        while size < entries:
            size = bulk_append(database, signer, min(100_000, entries - size))
            print(f"ledger: {size:,} entries", flush=True)
        t0 = time.time()
        publisher = StaticPublisher(
            database, [DirectoryStore(keep / "static")], signer.verifier(), witnessed=False
        )
        publisher.run_once()
        print(f"ledger: static directory written in {time.time() - t0:.0f} s", flush=True)
    finally:
        database.dispose()


def fill_tessera(entries: int) -> None:
    storage = kept_tessera()
    entry: dict[str, Any] = {"kind": "fill", "system": "tessera", "load_before": load()}
    with tessera_server(False, storage) as (port, pid):
        c0, t0 = harness.cpu_seconds(pid), time.time()
        have = 0
        with contextlib.suppress(OSError):
            have = int((storage / "checkpoint").read_text().split("\n")[1])
        if entries > have:
            entry["figure"] = loadgen(
                "append",
                "-base",
                f"http://127.0.0.1:{port}",
                "-path",
                "/add",
                "-random",
                "1024",
                "-clients",
                "256",
                "-parse",
                "tessera",
                "-n",
                str(entries - have),
                "-checkpoint",
                "/checkpoint",
                "-poll",
                "100ms",
                "-max-seconds",
                "3000",
                timeout=3600,
            )
        entry["seconds"] = round(time.time() - t0, 1)
        entry["server_cpu_s"] = harness.cpu_seconds(pid) - c0
        time.sleep(2.5)  # its next checkpoint
    entry["disk"] = du_bytes(storage)
    entry["entries"] = int((storage / "checkpoint").read_text().split("\n")[1])
    entry["load_after"] = load()
    record(entry)


# --- reads ---------------------------------------------------------------------------------------


def tile_paths(prefix: str, size: int) -> Path:
    """50,000 random full level-0 tile paths of a tree of ``size`` (the same seed every run)."""
    from tests.support.tlog_helpers import spec_index

    rng = random.Random(7)
    out = ARGS.work / f"tiles-{prefix.strip('/') or 'root'}-{size}.txt"
    out.write_text(
        "".join(f"{prefix}tile/0/{spec_index(rng.randrange(size // 256))}\n" for _ in range(50_000))
    )
    return out


@contextlib.contextmanager
def reader(system: str) -> Iterator[tuple[int, int, CpuMeter | None, list[int]]]:
    """The kept log of ``system`` served: port, tree size, the app's CPU meter (gunicorn's or
    granian's workers and PostgreSQL's) and the pids of other servers whose CPU counts."""
    if system.endswith("granian"):
        with granian_static() as server:
            port = server.base_port
            yield port, checkpoint_size(port, "/tlog/checkpoint"), CpuMeter(server), []
    elif system.endswith("nginx"):
        from tests.support.nginx import nginx_binary, nginx_in_front

        binary = nginx_binary()
        if binary is None:
            raise SystemExit("no nginx: apt-get install nginx-light")
        keep = kept_ledger()
        with (
            ledger_server(keep=keep, static=True) as server,
            nginx_in_front(binary, f"127.0.0.1:{server.base_port}", keep / "static",
                           ARGS.work / "nginx", harness.free_port(), workers=2) as front,
        ):  # fmt: skip
            pids = [front.proc.pid, *harness.children(front.proc.pid)]
            size = checkpoint_size(front.port, "/tlog/checkpoint")
            yield front.port, size, CpuMeter(server), pids
    elif system.startswith(("ledger", "tessera-client-on-ledger")):
        with ledger_server(keep=kept_ledger(), static=system.endswith("static")) as server:
            port = server.base_port
            yield port, checkpoint_size(port, "/tlog/checkpoint"), CpuMeter(server), []
    else:
        with tessera_server(False, kept_tessera()) as (port, pid):
            yield port, checkpoint_size(port, "/checkpoint"), None, [pid]


def measured(
    meter: CpuMeter | None, pids: list[int], entry: dict[str, Any], run: Any
) -> dict[str, Any]:
    """Run ``run()`` and put the servers' CPU (and PostgreSQL's) into ``entry``."""
    c0 = sum(harness.cpu_seconds(p) for p in pids)
    if meter:
        meter.begin()
    fig: dict[str, Any] = run()
    entry["server_cpu_s"] = sum(harness.cpu_seconds(p) for p in pids) - c0
    if meter:
        cpu = meter.end()
        entry["server_cpu_s"] += cpu["server"]
        entry["pg_cpu_s"] = cpu["pg"]
    return fig


def cmd_tiles(a: argparse.Namespace) -> None:
    for r in range(a.rounds):
        for system in a.systems if r % 2 == 0 else list(reversed(a.systems)):
            entry: dict[str, Any] = {"kind": "tiles", "system": system, "load_before": load()}
            with reader(system) as (port, size, meter, pids):
                paths = tile_paths("/" if system == "tessera" else "/tlog/", size)
                fig = measured(
                    meter,
                    pids,
                    entry,
                    lambda port=port, paths=paths: loadgen(
                        "get",
                        "-base",
                        f"http://127.0.0.1:{port}",
                        "-paths",
                        str(paths),
                        "-clients",
                        str(a.clients),
                        "-seconds",
                        str(a.seconds),
                        "-expect-len",
                        "8192",
                    ),
                )
            entry["tree_size"] = size
            entry["server_cpu_us_per_request"] = round(
                (entry["server_cpu_s"] + entry.get("pg_cpu_s", 0)) / max(1, fig["ok"]) * 1e6, 1
            )
            entry["figure"], entry["load_after"] = fig, load()
            record(entry)


def cmd_proofs(a: argparse.Namespace) -> None:
    for r in range(a.rounds):
        for system in a.systems if r % 2 == 0 else list(reversed(a.systems)):
            entry: dict[str, Any] = {"kind": "proofs", "system": system, "load_before": load()}
            with reader(system) as (port, size, meter, pids):
                if system == "ledger":
                    rng = random.Random(11)
                    paths = ARGS.work / f"proofs-{size}.txt"
                    paths.write_text(
                        "".join(
                            f"/v1/proofs/inclusion?seq={rng.randrange(size)}&tree_size={size}\n"
                            for _ in range(200_000)
                        )
                    )
                    cmd = [
                        str(ARGS.bin / "loadgen"),
                        "get",
                        "-paths",
                        str(paths),
                        "-base",
                        f"http://127.0.0.1:{port}",
                    ]
                else:
                    root = f"http://127.0.0.1:{port}/" + ("" if system == "tessera" else "tlog/")
                    cmd = [
                        str(ARGS.bin / "tessera_tool"),
                        "proofs",
                        "-root",
                        root,
                        "-cache",
                        a.cache,
                    ]
                cmd += ["-clients", str(a.clients), "-seconds", str(a.seconds)]
                fig = measured(meter, pids, entry, lambda cmd=cmd: run_json(cmd, 600))
            n = fig.get("ok", fig.get("proofs", 0))
            entry["tree_size"], entry["cache"] = size, a.cache
            entry["server_cpu_us_per_proof"] = round(
                (entry["server_cpu_s"] + entry.get("pg_cpu_s", 0)) / max(1, n) * 1e6, 1
            )
            entry["figure"], entry["load_after"] = fig, load()
            record(entry)


# --- the ratios ----------------------------------------------------------------------------------


def run_rate(e: dict[str, Any]) -> float:
    """A run's operations (entries, tiles, proofs) per second."""
    fig = e["figure"]
    return float(fig.get("items_per_second") or fig.get("per_second") or 0)


def _cpu_per_entry(e: dict[str, Any]) -> float:
    return float(e["server_cpu_us_per_entry"] + e.get("pg_cpu_us_per_entry", 0))


def run_cpu(e: dict[str, Any]) -> float:
    """A run's server (and PostgreSQL) CPU µs per operation."""
    per_op = e.get("server_cpu_us_per_request") or e.get("server_cpu_us_per_proof")
    return float(per_op) if per_op else _cpu_per_entry(e)


def _bytes_per_entry(e: dict[str, Any]) -> float:
    if "db" in e:
        return float(e["db"]["database_bytes"] / max(1, e["db"]["entries"]))
    return float(e["disk"]["allocated_bytes"] / max(1, e["entries"]))


def cmd_ratios(a: argparse.Namespace) -> None:
    """Medians (min-max) of every group, and the issue's five ratios against their targets."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for line in (ARGS.work / "results.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e.get("at", "") >= a.since:
            size = f" @{e['tree_size']:,}" if "tree_size" in e else ""
            runs[(e["kind"], e["system"] + size)].append(e)
    print("| kind | system | runs | rate /s | server (+ PostgreSQL) CPU µs per op | load |")
    print("|---|---|---|---|---|---|")
    for (kind, system), es in sorted(runs.items()):
        if kind == "fill":
            continue
        cpu = [run_cpu(e) for e in es]
        loads = [e["load_before"][0] for e in es]
        print(
            f"| {kind} | {system} | {len(es)} | {spread([run_rate(e) for e in es])} | "
            f"{spread(cpu)} | {min(loads):.1f}-{max(loads):.1f} |"
        )

    def largest(kind: str, system: str) -> list[dict[str, Any]]:
        es = [
            e for (k, s), v in runs.items() if k == kind and s.split(" @")[0] == system for e in v
        ]
        top = max((e.get("tree_size", 0) for e in es), default=0)
        return [e for e in es if e.get("tree_size", 0) == top]

    def median(es: list[dict[str, Any]], f: Any) -> float | None:
        return statistics.median(f(e) for e in es) if es else None

    figure = {"rate": run_rate, "CPU": _cpu_per_entry, "bytes": _bytes_per_entry}
    print("\n| kind | ours | Tessera | figure | ours | Tessera | ours / Tessera | target | met |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, mine, peer, what, (op, target) in TARGETS:
        pick = [largest(kind, s) for s in (mine, peer)]
        if kind == "append":
            pick = [[e for e in es if e["clients"] == 16] for es in pick]
        ours, theirs = (median(es, figure[what]) for es in pick)
        row = f"| {kind} | {mine} | {peer} | {what} |"
        if ours is None or not theirs:
            print(f"{row} {ours or '-'} | {theirs or '-'} | not measured | {op} {target} | - |")
            continue
        ratio = ours / theirs
        met = ratio >= target if op == ">=" else ratio <= target
        print(
            f"{row} {ours:,.0f} | {theirs:,.0f} | {ratio:.2f} | {op} {target} | "
            f"{'yes' if met else 'no'} |"
        )


def spread(xs: list[float]) -> str:
    if not xs:
        return "—"
    med = statistics.median(xs)
    return f"{med:,.0f}" if len(xs) == 1 else f"{med:,.0f} ({min(xs):,.0f}-{max(xs):,.0f})"


# --- the command line ----------------------------------------------------------------------------


def main() -> int:
    global ARGS  # noqa: PLW0603 - one run's settings, read everywhere
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--bin",
        type=Path,
        required=True,
        help="loadgen, tessera_tool, posix, posix-tuned (scripts/peers/build_tessera.sh)",
    )
    p.add_argument(
        "--work", type=Path, required=True, help="scratch space: bodies, kept logs, results.jsonl"
    )
    p.add_argument("--batch-age", default="10ms", help="tessera-tuned's -batch_max_age")
    p.add_argument("--max-seconds", type=float, default=120, help="bound of one append run")
    p.add_argument("--warmup", type=int, default=160, help="unmeasured appends first")
    sub = p.add_subparsers(dest="cmd", required=True)
    bp = sub.add_parser("bodies", help="pre-sign the grants (no signing while a clock runs)")
    bp.add_argument("--grants", type=int, default=120_000)
    bp.add_argument("--creators", type=int, default=16)
    ap = sub.add_parser("append", help="single (or batch) appends, systems interleaved")
    ap.add_argument(
        "systems",
        nargs="+",
        choices=(
            "ledger",
            "ledger-gevent",
            "ledger-granian",
            "ledger-batch",
            "tessera",
            "tessera-tuned",
        ),
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--n", type=int, default=16_000, help="appends per run (tessera: n/50)")
    fp = sub.add_parser("fill", help="grow the kept logs for tiles, proofs and disk")
    fp.add_argument("--systems", nargs="+", default=["ledger", "tessera"])
    fp.add_argument("--real", type=int, default=100_000, help="ours: signed grants first")
    fp.add_argument("--entries", type=int, default=1_000_000)
    tp = sub.add_parser("tiles", help="random full level-0 tiles, interleaved")
    tp.add_argument("--systems", nargs="+", default=["ledger-static", "tessera", "ledger"])
    tp.add_argument("--rounds", type=int, default=3)
    tp.add_argument("--clients", type=int, default=16)
    tp.add_argument("--seconds", type=float, default=10)
    pp = sub.add_parser("proofs", help="inclusion proofs at the kept logs' size, interleaved")
    pp.add_argument(
        "--systems", nargs="+", default=["tessera-client-on-ledger-static", "tessera", "ledger"]
    )
    pp.add_argument("--rounds", type=int, default=3)
    pp.add_argument("--clients", type=int, default=16)
    pp.add_argument("--seconds", type=float, default=10)
    pp.add_argument(
        "--cache",
        choices=("none", "client"),
        default="none",
        help="Tessera's client: a fresh builder per proof, or one keeping tiles",
    )
    rp = sub.add_parser("ratios", help="medians and the issue's ratios from results.jsonl")
    rp.add_argument("--since", default="", help="only runs at or after this UTC time")
    ARGS = p.parse_args()
    ARGS.work.mkdir(parents=True, exist_ok=True)
    commands = {
        "bodies": cmd_bodies,
        "append": cmd_append,
        "fill": cmd_fill,
        "tiles": cmd_tiles,
        "proofs": cmd_proofs,
        "ratios": cmd_ratios,
    }
    commands[ARGS.cmd](ARGS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
