"""Benchmark the real server: gunicorn + Flask + the chosen database, driven over HTTP.

What it does, in order (each figure is one printed line):

1. Creates a fresh database (a new PostgreSQL database by default, or a SQLite file with
   ``--db sqlite``), a temporary log key and starts
   ``python -m gunicorn -c gunicorn.conf.py -w W --threads T -b 127.0.0.1:PORT wsgi:app`` on it
   (scripts/harness.py: rate limiting off, the server log in the work directory), with gthread
   workers or, with ``--worker-class gevent`` (PostgreSQL only), gevent workers.
2. ``single_append``: ``--clients`` client processes POST pre-signed ``party.register`` statements
   (fresh keys each) to ``/v1/entries``, one at a time each over a keep-alive connection (the
   measured phases use harness.LeanConnection, a minimal HTTP/1.1 client, so that load generation
   takes little of the CPUs the server needs).
   Target >= 1,000 appends/s.
3. ``batch_append``: ``--batch-clients`` processes POST pre-signed batches of ``--batch-size``
   statements to ``/v1/entries/batch``. Target >= 5,000 statements/s.
4. Fill: grows the log to ``--entries`` entries (default 1,000,000) or until ``--fill-seconds`` have
   passed, whichever comes first, through the public batch endpoint: ``--fillers`` processes each
   sign a batch of ``party.register`` statements with ``ledger.core.builders`` and POST it, so
   every entry goes through the same parse / verify / state-check / append path as in production.
   The rate printed includes signing (which competes with the server for the CPUs).
5. ``inclusion_proof``: GET ``/v1/proofs/inclusion?seq=S&tree_size=N`` for random S over the filled
   log, first from one client (pure latency), then from ``--clients`` clients each sending its
   next request as soon as the last is answered (the server's capacity: the CPUs are saturated,
   so the tail is queueing), then from ``--clients`` clients sending ``--proof-rate`` proofs/s on a
   fixed schedule (latency under a steady load below capacity, measured from when each request
   was due). Target p99 < 20 ms.
6. ``single_append`` again, now at the filled size.

Statements are signed before the clock starts (except in the fill, which is not a figure). Every
figure line also gives CPU time per operation of the gunicorn workers, the PostgreSQL backends of
this database and the client processes, read from /proc, to show where the time goes.
``--py-spy FILE`` records gunicorn worker 0 during step 2 (collapsed stacks, for flame graphs),
``--py-spy-batches FILE`` during step 3,
sampling the thread that holds the GIL. Beware: when every thread waits (for the database, for the
append lock), py-spy still charges the sample to the thread that held the GIL last, so a worker's
idle time shows up under whatever that thread was waiting in (psycopg's pipeline and wait loops,
typically); compare with the CPU per operation printed, which /proc measures.

    python scripts/bench_service.py                       # PostgreSQL, 1,000,000 entries
    python scripts/bench_service.py --worker-class gevent  # the same with gevent workers
    python scripts/bench_service.py --db sqlite --entries 100000

``--statement grant`` sends ~1 KB grants (two content items, compact JSON, as the peers'
benchmark signs them) from 16 creators to one buyer in single_append instead, the parties
registered first, unmeasured; ``--table-growth`` prints the rows and bytes each table grew by
per single append (PostgreSQL); ``--server granian`` serves the app with granian instead of
gunicorn (scripts/harness.py says what differs).

``--keep`` keeps the database and work directory; ``--reuse DIR`` serves them again (say
``--skip singles,batches,fill,singles-again`` to measure proofs again without a new fill).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    GrantParties,
    LeanConnection,
    Server,
    add_server_args,
    app_server,
    batch_body,
    cpu_seconds,
    database,
    machine,
    presign,
    request,
    sign_registers,
    tree_size,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# --- CPU accounting from /proc -------------------------------------------------------------------


@dataclass
class CpuMeter:
    """CPU seconds of the server's processes (master and workers) and of this database's
    PostgreSQL processes."""

    server: Server
    start: dict[str, dict[int, float]] = field(default_factory=dict)

    def _pg_pids(self) -> list[int]:
        if not self.server.url.startswith("postgresql"):
            return []
        engine = create_engine(self.server.url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE (datname = current_database()"
                        " AND pid <> pg_backend_pid()) OR backend_type IN"
                        " ('walwriter', 'checkpointer', 'background writer')"
                    )
                )
                return [int(r[0]) for r in rows]
        finally:
            engine.dispose()

    def snapshot(self) -> dict[str, dict[int, float]]:
        return {
            # The master too (gunicorn's arbiter, granian's supervisor): both do little.
            "server": {
                p: cpu_seconds(p) for p in [self.server.proc.pid, *self.server.worker_pids()]
            },
            "pg": {p: cpu_seconds(p) for p in self._pg_pids()},
        }

    def begin(self) -> None:
        self.start = self.snapshot()

    def end(self) -> dict[str, float]:
        now = self.snapshot()
        return {
            k: sum(v - self.start[k].get(p, 0.0) for p, v in now[k].items())
            for k in ("server", "pg")
        }


# --- client processes ----------------------------------------------------------------------------


@dataclass
class ClientResult:
    ok: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    first_error: str = ""
    started: float = 0.0
    finished: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    tree_sizes: set[int] = field(default_factory=set)  # one per transaction (single appends)


def _client(
    port: int, method: str, path_or_paths: Any, bodies: Sequence[bytes | None], expect: int,
    warmup: Sequence[bytes | None], pace: tuple[float, float] | None, barrier: Any, out: Any,
) -> None:  # fmt: skip
    conn = LeanConnection(port)
    paths = path_or_paths if isinstance(path_or_paths, list) else None
    res = ClientResult()
    for body in warmup:
        conn.request(method, paths[0] if paths else path_or_paths, body)
    barrier.wait()
    cpu0 = time.process_time()
    res.started = time.perf_counter()
    for i, body in enumerate(bodies):
        t0 = time.perf_counter()
        if pace is not None:  # open loop: request i is due at a fixed time, late or not
            offset, interval = pace
            due = res.started + offset + i * interval
            if due > t0:
                time.sleep(due - t0)
            t0 = due  # a late request's wait counts (no coordinated omission)
        status, data = conn.request(method, paths[i] if paths else path_or_paths, body)
        res.latencies.append(time.perf_counter() - t0)
        if status == expect:
            res.ok += 1
            if status == 201:  # every statement of one transaction reports the same tree size
                res.tree_sizes.add(json.loads(data)["tree_size"])
        else:
            res.errors[status] = res.errors.get(status, 0) + 1
            res.first_error = res.first_error or data[:300].decode(errors="replace")
    res.finished = time.perf_counter()
    res.cpu = time.process_time() - cpu0
    out.put(res)


def run_clients(
    port: int, method: str, shares: Sequence[tuple[Any, Sequence[bytes | None]]], expect: int,
    warmup: Sequence[Sequence[bytes | None]], rate: float | None = None,
) -> list[ClientResult]:  # fmt: skip
    """One process per share (paths, bodies); all start together after their warm-up.

    Each client sends its next request when the last one is answered (a closed loop), or, with
    ``rate``, on a fixed schedule that spreads ``rate`` requests per second evenly over the
    clients (an open loop: latency runs from when a request was due, as in wrk2).
    """
    n = len(shares)
    paces = [None if rate is None else (i / rate, n / rate) for i in range(n)]
    barrier = mp.Barrier(n + 1)
    out: Any = mp.Queue()
    procs = [
        mp.Process(target=_client, args=(port, method, p, b, expect, w, pace, barrier, out))
        for (p, b), w, pace in zip(shares, warmup, paces, strict=True)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return results


def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    return [list(items[i::parts]) for i in range(parts)]


def summarize(
    name: str, results: list[ClientResult], cpu: dict[str, float], unit: str, per_request: int = 1,
    note: str = "",
) -> None:  # fmt: skip
    wall = max(r.finished for r in results) - min(r.started for r in results)
    requests = sum(r.ok for r in results)
    ops = requests * per_request
    lat = sorted(x for r in results for x in r.latencies)
    errors: dict[int, int] = {}
    for r in results:
        for k, v in r.errors.items():
            errors[k] = errors.get(k, 0) + v
    client_cpu = sum(r.cpu for r in results)
    txns = len(set().union(*(r.tree_sizes for r in results)))
    if txns:
        note = f"  [{ops / txns:.1f} appends per transaction]" + note
    p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    op = unit.split("/", maxsplit=1)[0]
    print(
        f"{name:<24} {ops / wall:>9,.0f} {unit}  ({ops} in {wall:.1f} s; latency p50 "
        f"{p50 * 1e3:.2f} ms p99 {p99 * 1e3:.2f} ms; CPU us/{op}: server "
        f"{cpu['server'] / ops * 1e6:.0f}, pg {cpu['pg'] / ops * 1e6:.0f}, clients "
        f"{client_cpu / ops * 1e6:.0f}){note}",
        flush=True,
    )
    if errors:
        first = next(r.first_error for r in results if r.first_error)
        print(f"{'':<24} errors by status {errors}; first: {first}", flush=True)


# --- the phases ----------------------------------------------------------------------------------


def presign_singles(server: Server, args: argparse.Namespace, count: int) -> list[bytes]:
    """``count`` statements of ``--statement``'s kind; for grants, their creators and buyer are
    registered first (once per server, unmeasured)."""
    if args.statement == "register":
        return presign(count, args.signers)
    parties = server.grant_parties
    if parties is None:
        parties = GrantParties.generate()
        conn = LeanConnection(server.base_port)
        for wire in parties.registers():
            status, data = conn.request("POST", "/v1/entries", wire)
            if status != 201:
                raise SystemExit(f"registering a grant party failed: {status} {data[:300]!r}")
        server.grant_parties = parties
    return parties.presign(count, args.signers)


def table_sizes(url: str) -> dict[str, tuple[int, int]]:
    """Rows and bytes (``pg_total_relation_size``: heap, indexes, TOAST) of each table of the
    database (PostgreSQL only)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            ).scalars()
            out = {}
            for name in list(names):
                rows, size = conn.execute(
                    text(f'SELECT count(*), pg_total_relation_size(\'"{name}"\') FROM "{name}"')
                ).one()
                out[name] = (int(rows), int(size))
            return out
    finally:
        engine.dispose()


def print_growth(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], appends: int
) -> None:
    """Rows and bytes each table grew by per append (``--table-growth``)."""
    total = 0.0
    for name, (rows, size) in sorted(after.items()):
        rows0, size0 = before.get(name, (0, 0))
        if rows != rows0 or size != size0:
            total += (size - size0) / appends
            print(f"  {name:<24} {(rows - rows0) / appends:>7.2f} rows  "
                  f"{(size - size0) / appends:>8,.0f} bytes per append", flush=True)  # fmt: skip
    print(f"  {'all tables':<24} {'':>12} {total:>8,.0f} bytes per append", flush=True)


def phase_singles(server: Server, args: argparse.Namespace, label: str) -> None:
    wires = presign_singles(server, args, args.singles + 5 * args.clients)
    warm, wires = wires[: 5 * args.clients], wires[5 * args.clients :]
    growth = args.table_growth and server.url.startswith("postgresql")
    sizes = table_sizes(server.url) if growth else {}
    meter = CpuMeter(server)
    meter.begin()
    spy = None
    if args.py_spy and label == "":
        spy = _start_py_spy(server, args.py_spy, max(5, int(args.singles / 1000)))
    elif args.py_spy_cpu and label == "":
        spy = _start_py_spy(server, args.py_spy_cpu, max(5, int(args.singles / 1000)), cpu=True)
    shares = [("/v1/entries", s) for s in split(wires, args.clients)]
    results = run_clients(server.base_port, "POST", shares, 201, split(warm, args.clients))
    cpu = meter.end()
    if spy is not None:
        spy.wait()
    size = tree_size(server.base_port)
    if growth:  # after the figures' clock: a count(*) of every table takes a while
        print_growth(sizes, table_sizes(server.url), len(wires) + len(warm))  # warm-up too
    kind = f"{args.statement} statements of {len(wires[0]):,} bytes"
    note = f"  [{args.clients} clients, log size {size:,}, {kind}; target >= 1,000/s]"
    summarize(f"single_append{label}", results, cpu, "appends/s", note=note)


def _start_py_spy(
    server: Server, out: str, seconds: int, cpu: bool = False
) -> subprocess.Popen[bytes]:
    """py-spy on worker 0, sampling the thread that holds the GIL; or (``cpu``) on every server
    process, sampling each thread that is on a CPU (not idle: C code that released the GIL,
    libsodium's checks or libpq's, counts too)."""
    pid = server.proc.pid if cpu else server.worker_pids()[0]
    how = ["--subprocesses"] if cpu else ["--gil"]
    cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid), "-d",
           str(seconds), "-r", "200", "--format", "raw", *how, "-o", out]  # fmt: skip
    what = "every server process" if cpu else f"worker {pid}"
    print(f"py-spy: recording {what} for {seconds} s into {out}", flush=True)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def phase_batches(server: Server, args: argparse.Namespace) -> None:
    n, size = args.batches, args.batch_size
    wires = presign((n + args.batch_clients) * size, args.signers)
    bodies = [batch_body(wires[i * size : (i + 1) * size]) for i in range(n + args.batch_clients)]
    warm, bodies = bodies[: args.batch_clients], bodies[args.batch_clients :]
    meter = CpuMeter(server)
    meter.begin()
    spy = None
    if args.py_spy_batches:
        spy = _start_py_spy(server, args.py_spy_batches, max(3, n * size // 5000))
    shares = [("/v1/entries/batch", s) for s in split(bodies, args.batch_clients)]
    results = run_clients(server.base_port, "POST", shares, 200, [[w] for w in warm])
    cpu = meter.end()
    if spy is not None:
        spy.wait()
    note = f"  [{args.batch_clients} clients x batches of {size}; target >= 5,000/s]"
    summarize("batch_append", results, cpu, "statements/s", per_request=size, note=note)


def _filler(port: int, size: int, target: int, deadline: float, counter: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    while time.time() < deadline:
        with counter.get_lock():
            if counter.value >= target:
                return
            counter.value += size
        status, data = request(conn, "POST", "/v1/entries/batch", batch_body(sign_registers(size)))
        if status != 200 or json.loads(data)["accepted"] != size:
            raise SystemExit(f"fill batch failed: {status} {data[:300]!r}")


def fill(server: Server, args: argparse.Namespace) -> int:
    start_size = tree_size(server.base_port)
    if start_size >= args.entries:
        return start_size
    counter: Any = mp.Value("q", start_size)
    t0 = time.time()
    deadline = t0 + args.fill_seconds
    procs = [
        mp.Process(
            target=_filler,
            args=(server.base_port, args.batch_size, args.entries, deadline, counter),
        )
        for _ in range(args.fillers)
    ]
    for p in procs:
        p.start()
    next_report = t0 + 30
    while any(p.is_alive() for p in procs):
        time.sleep(0.5)
        if time.time() >= next_report:
            next_report += 30
            print(f"  fill: {tree_size(server.base_port):,} entries after {time.time() - t0:.0f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit("a fill process failed")
    size = tree_size(server.base_port)
    elapsed = time.time() - t0
    done = "reached" if size >= args.entries else "stopped by --fill-seconds at"
    print(
        f"{'fill (sign + batch)':<24} {(size - start_size) / elapsed:>9,.0f} statements/s  "
        f"({size - start_size} in {elapsed:.0f} s, signing included; {done} {size:,} entries)",
        flush=True,
    )
    return size


def phase_proofs(server: Server, args: argparse.Namespace, size: int) -> None:
    rng = random.Random(args.seed)
    runs: list[tuple[int, float | None]] = [(c, None) for c in sorted({1, args.clients})]
    if args.proof_rate > 0:
        runs.append((args.clients, args.proof_rate))
    for clients, rate in runs:
        paths = [
            f"/v1/proofs/inclusion?seq={rng.randrange(size)}&tree_size={size}"
            for _ in range(args.proofs)
        ]
        meter = CpuMeter(server)
        meter.begin()
        shares = [(p, [None] * len(p)) for p in split(paths, clients)]
        results = run_clients(server.base_port, "GET", shares, 200, [[None] * 20] * clients, rate)
        cpu = meter.end()
        label = f"c={clients}" if rate is None else f"{rate:,.0f}/s"
        summarize(f"inclusion_proof {label}", results, cpu, "proofs/s",
                  note=f"  [tree size {size:,}; target p99 < 20 ms]")  # fmt: skip


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    nproc = os.cpu_count() or 2
    p = argparse.ArgumentParser(
        description="Benchmark the real server under gunicorn over HTTP (see the docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_server_args(p, threads=16)
    p.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    p.add_argument("--clients", type=int, default=16, help="client processes for singles/proofs")
    p.add_argument("--statement", choices=("register", "grant"), default="register",
                   help="what single_append sends: party.register of fresh keys, or ~1 KB grants "
                   "(two content items) from 16 creators to one buyer, all registered first, "
                   "unmeasured")  # fmt: skip
    p.add_argument("--singles", type=int, default=20_000, help="statements for single_append")
    p.add_argument("--batches", type=int, default=20, help="batches for batch_append")
    p.add_argument("--batch-size", type=int, default=1_000, help="statements per batch")
    p.add_argument("--batch-clients", type=int, default=2, help="client processes for batches")
    p.add_argument("--entries", type=int, default=1_000_000, help="log size for the proof figure")
    p.add_argument("--fill-seconds", type=float, default=600, help="time limit of the fill")
    p.add_argument("--fillers", type=int, default=nproc + 1, help="sign-and-post fill processes")
    p.add_argument("--proofs", type=int, default=20_000, help="inclusion proofs to fetch")
    p.add_argument("--proof-rate", type=float, default=500, help="proofs/s offered by --clients "
                   "clients on a fixed schedule, after the closed-loop runs (0: none)")  # fmt: skip
    p.add_argument("--signers", type=int, default=nproc, help="processes that pre-sign")
    p.add_argument("--seed", type=int, default=1, help="random seed for proof indexes")
    p.add_argument("--table-growth", action="store_true", help="print the rows and bytes each "
                   "table grew by per single append (PostgreSQL)")  # fmt: skip
    p.add_argument("--py-spy", metavar="FILE", help="record worker 0 during single_append")
    p.add_argument("--py-spy-cpu", metavar="FILE", help="record every server process during "
                   "single_append, the threads on a CPU (not --gil)")  # fmt: skip
    p.add_argument("--py-spy-batches", metavar="FILE", help="record worker 0 during batch_append")
    p.add_argument("--reuse", type=Path, metavar="DIR", help="serve the database that --keep "
                   "kept in this work directory again, instead of a fresh one")  # fmt: skip
    p.add_argument("--skip", default="", help="comma-separated phases to skip: "
                   "singles,batches,fill,proofs,singles-again")  # fmt: skip
    args = p.parse_args(argv)
    if min(args.workers, args.threads, args.clients, args.batch_clients, args.signers) < 1:
        p.error("counts must be positive")
    if not 1 <= args.batch_size <= 1000:
        p.error("--batch-size must be 1..1000 (the server's default batch limit)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    print(machine(), flush=True)
    if args.reuse is not None:  # a database kept by --keep, with the log key of its work directory
        saved = json.loads((args.reuse / "bench-db.json").read_text())
        serve(args, args.reuse, saved["url"], skip)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    try:
        with database(args.db, args.pg_url, args.keep, workdir) as url:
            (workdir / "bench-db.json").write_text(json.dumps({"url": url}))
            serve(args, workdir, url, skip)
    finally:
        if args.keep:
            print(f"kept work directory {workdir} (--reuse {workdir} serves it again)", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def serve(args: argparse.Namespace, workdir: Path, url: str, skip: set[str]) -> None:
    print(f"database: {make_url(url).render_as_string(hide_password=True)}", flush=True)
    with app_server(
        args.server, url, workdir, args.workers, args.threads, args.port,
        worker_class=args.worker_class,
    ) as server:  # fmt: skip
        run_phases(server, args, skip)


def run_phases(server: Server, args: argparse.Namespace, skip: set[str]) -> None:
    phases: list[tuple[str, Callable[[], Any]]] = [
        ("singles", lambda: phase_singles(server, args, "")),
        ("batches", lambda: phase_batches(server, args)),
        ("fill", lambda: fill(server, args)),
        ("proofs", lambda: phase_proofs(server, args, tree_size(server.base_port))),
        ("singles-again", lambda: phase_singles(server, args, " (filled)")),
    ]
    for name, run in phases:
        if name not in skip:
            run()


if __name__ == "__main__":
    raise SystemExit(main())
