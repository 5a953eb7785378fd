"""Benchmark full-tile reads of the tlog-tiles API under gunicorn. Target: >= 2,000 requests/s.

1. Creates a fresh database (SQLite file by default, ``--db postgres`` for a new PostgreSQL
   database), a log key, and bulk-loads ``--entries`` synthetic entries with their stored hashes
   and one signed checkpoint (``tests/tlog_helpers.bulk_append``: the same core functions as an
   append, one signature).
2. Starts gunicorn (``--workers`` gthread workers, ``--threads`` each, ``--no-control-socket``) on
   127.0.0.1 with ``tests/live.LiveServer``.
3. ``--clients`` client processes GET random full level-0 tiles (``/tlog/tile/0/<N>``) over
   keep-alive connections for ``--seconds`` seconds, checking each answer is 200 and 8,192 bytes.
   A first short pass warms the workers (and their full-tile caches); the measured pass follows.

Prints one figure line: requests/s, p50 and p99 latency, and the target.

With ``--static``, the static publisher (``ledger.server.statictiles``) first writes the log to a
directory, and two servers run side by side on the same database: one serving ``/tlog/`` from
the database (and its per-worker tile cache), one with ``LEDGER_STATIC_DIR`` (the app's static
path answers from the files). Their passes are interleaved (A B B A ...) and the ratio of the
medians is printed, static / dynamic, with each one's gunicorn CPU per request.

    python scripts/bench_tiles.py                     # SQLite, 65,536 entries, 10 s
    python scripts/bench_tiles.py --db postgres --seconds 30
    python scripts/bench_tiles.py --static --db postgres --entries 1000000 --rounds 2
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402 - after the path set-up
from sqlalchemy.pool import NullPool  # noqa: E402

from ledger.core.keys import SigningKey  # noqa: E402
from ledger.core.note import NoteSigner  # noqa: E402
from ledger.server.statictiles import DirectoryStore, StaticPublisher  # noqa: E402
from ledger.server.storage import db as ledger_db  # noqa: E402
from tests.support.live import LiveServer  # noqa: E402
from tests.support.tlog_helpers import bulk_append  # noqa: E402

ORIGIN = "localhost/consent-ledger-bench"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET = 2_000


def client(port: int, tiles: int, seconds: float, start: Any, out: Any) -> None:
    """GET random full tiles until ``seconds`` pass; put (count, latencies in ms) on ``out``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    start.wait()
    deadline = time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        if t0 >= deadline:
            break
        n = random.randrange(tiles)
        conn.request("GET", f"/tlog/tile/0/{n:03d}" if n < 1000 else _path(n))
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or len(body) != 8192:
            raise SystemExit(f"tile {n}: HTTP {resp.status}, {len(body)} bytes")
        latencies.append((time.perf_counter() - t0) * 1000)
    conn.close()
    out.put(latencies)


def _path(n: int) -> str:
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if not n:
            break
    return "/tlog/tile/0/" + "/".join(["x" + g for g in reversed(groups[1:])] + [groups[0]])


def run_clients(port: int, tiles: int, clients: int, seconds: float) -> list[float]:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=client, args=(port, tiles, seconds, start, out)) for _ in range(clients)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let the spawned clients import and connect before the clock starts
    start.set()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    return [x for r in results for x in r]


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the processes of group ``pgid`` (gunicorn)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp; utime and stime follow at 11 and 12
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def make_database(kind: str, workdir: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", None
    name = f"ledger_bench_tiles_{uuid.uuid4().hex[:8]}"
    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(name: str | None) -> None:
    if name is None:
        return
    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--entries", type=int, default=65_536)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--static", action="store_true", help="static directory vs database, side by side"
    )
    parser.add_argument("--rounds", type=int, default=2, help="with --static: A B B A rounds")
    args = parser.parse_args()
    if args.static:
        return compare_static(args)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, pg_name = make_database(args.db, workdir)
        try:
            ledger_db.upgrade(url)
            key = SigningKey.generate()
            key.save(workdir / "log-key.pem")
            t0 = time.perf_counter()
            database = ledger_db.Database(url)
            signer = NoteSigner.from_private_key(ORIGIN, key.private_key)
            bulk_append(database, signer, args.entries)
            database.dispose()
            print(f"loaded {args.entries} entries in {time.perf_counter() - t0:.1f} s ({args.db})")
            tiles = args.entries // 256
            server = LiveServer(
                url, workdir / "log-key.pem", workdir / "gunicorn", origin=ORIGIN,
                workers=args.workers, threads=args.threads,
            )  # fmt: skip
            with server:
                run_clients(server.port, tiles, args.clients, min(3.0, args.seconds))  # warm-up
                assert server.proc is not None
                cpu0 = group_cpu_seconds(server.proc.pid)
                lat = sorted(run_clients(server.port, tiles, args.clients, args.seconds))
                cpu = group_cpu_seconds(server.proc.pid) - cpu0
        finally:
            drop_database(pg_name)
    rate = len(lat) / args.seconds
    p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
    verdict = "meets" if rate >= TARGET else "BELOW"
    per_request_us = cpu / len(lat) * 1e6
    print(
        f"full_tile_get: {rate:,.0f} req/s ({len(lat)} in {args.seconds:.0f} s, "
        f"{args.clients} clients, {args.workers}x{args.threads} gthread, {args.db}); "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms; target >= {TARGET:,} req/s: {verdict}"
    )
    print(
        f"server_cpu: {per_request_us:.0f} us of gunicorn CPU per request "
        f"(~{1e6 / per_request_us:,.0f} req/s per fully available core; the clients share the "
        f"machine, so on {os.cpu_count()} cores the measured rate is lower)"
    )
    return 0


def load(args: argparse.Namespace, workdir: Path, url: str) -> NoteSigner:
    ledger_db.upgrade(url)
    key = SigningKey.generate()
    key.save(workdir / "log-key.pem")
    t0 = time.perf_counter()
    database = ledger_db.Database(url)
    signer = NoteSigner.from_private_key(ORIGIN, key.private_key)
    for start in range(0, args.entries, 100_000):  # bounded memory per transaction
        bulk_append(database, signer, min(100_000, args.entries - start))
    database.dispose()
    print(f"loaded {args.entries} entries in {time.perf_counter() - t0:.1f} s ({args.db})")
    return signer


def measure(server: LiveServer, tiles: int, args: argparse.Namespace) -> tuple[float, float, float]:
    """One pass: requests/s, p99 ms, gunicorn CPU microseconds per request."""
    assert server.proc is not None
    cpu0 = group_cpu_seconds(server.proc.pid)
    lat = sorted(run_clients(server.port, tiles, args.clients, args.seconds))
    cpu = group_cpu_seconds(server.proc.pid) - cpu0
    return len(lat) / args.seconds, lat[int(len(lat) * 0.99)], cpu / len(lat) * 1e6


def compare_static(args: argparse.Namespace) -> int:
    """Static directory vs database reads of random full level-0 tiles, interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, pg_name = make_database(args.db, workdir)
        try:
            signer = load(args, workdir, url)
            t0 = time.perf_counter()
            database = ledger_db.Database(url)
            static = workdir / "static"
            publisher = StaticPublisher(
                database, [DirectoryStore(static)], signer.verifier(), witnessed=False
            )
            rounds = publisher.run_once()
            database.dispose()
            assert rounds, "nothing published"
            print(f"published {rounds[0].as_dict()} in {time.perf_counter() - t0:.1f} s")
            tiles = args.entries // 256
            common = {"origin": ORIGIN, "workers": args.workers, "threads": args.threads}
            dynamic = LiveServer(url, workdir / "log-key.pem", workdir / "g-dyn", **common)
            served = LiveServer(
                url, workdir / "log-key.pem", workdir / "g-static",
                env={"LEDGER_STATIC_DIR": str(static), "LEDGER_STATIC_INTERVAL": "0"}, **common,
            )  # fmt: skip
            results: dict[str, list[tuple[float, float, float]]] = {"dynamic": [], "static": []}
            with dynamic, served:
                for server in (dynamic, served):  # warm-up: workers, caches, page cache
                    run_clients(server.port, tiles, args.clients, min(3.0, args.seconds))
                for r in range(args.rounds):
                    order = [("dynamic", dynamic), ("static", served)]
                    for name, server in order if r % 2 == 0 else order[::-1]:
                        results[name].append(measure(server, tiles, args))
                        rate, p99, cpu = results[name][-1]
                        print(f"  {name}: {rate:,.0f} req/s, p99 {p99:.2f} ms, {cpu:.0f} us CPU")
        finally:
            drop_database(pg_name)
    load_avg = os.getloadavg()[0]
    med = {k: tuple(map(statistics.median, zip(*v, strict=True))) for k, v in results.items()}
    print(
        f"full_tile_get_static_vs_dynamic: static {med['static'][0]:,.0f} req/s "
        f"(p99 {med['static'][1]:.2f} ms, {med['static'][2]:.0f} us CPU per request) / dynamic "
        f"{med['dynamic'][0]:,.0f} req/s (p99 {med['dynamic'][1]:.2f} ms, "
        f"{med['dynamic'][2]:.0f} us) = {med['static'][0] / med['dynamic'][0]:.2f}x by rate, "
        f"{med['dynamic'][2] / med['static'][2]:.2f}x less CPU; {args.entries:,} entries "
        f"({tiles:,} full tiles), {args.db}, {args.clients} clients, "
        f"{args.workers}x{args.threads} gthread, {args.rounds} interleaved rounds of "
        f"{args.seconds:.0f} s; load average {load_avg:.1f} on {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
