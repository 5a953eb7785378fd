"""Sustained load: mixed appends and proof reads against the real server, for minutes on end.

Starts a fresh database (PostgreSQL by default) and ``gunicorn -c gunicorn.conf.py wsgi:app`` on
it (scripts/harness.py, rate limiting off), then for ``--duration`` seconds (default 600):

- ``--writers`` processes append over keep-alive connections, in a cycle of: a single ``grant``,
  its single ``grant.accept``, and every ``--batch-every`` steps a batch of ``--batch-size``
  grants (``POST /v1/entries/batch``). Each writer first registers its creator and buyer. Every
  statement is signed just before it is sent (Ed25519 signing costs ~0.1 ms, far below a
  request), so the load can run for as long as asked without pre-signing millions of statements.
- ``--readers`` processes read the head (``GET /v1/log``) now and then and fetch inclusion proofs
  for random entries and consistency proofs from random earlier sizes to the head.

Every ``--report-every`` seconds (default 60) and at the end it prints, per operation, the count,
rate, p50 and p99 latency and errors (by status) for the interval and for the whole run, the
appended statements per second, and each gunicorn worker's RSS (VmRSS from /proc, sampled every
``--rss-every`` seconds). At the end it prints each worker's RSS slope in MiB per minute (least
squares after the first ``--warmup`` seconds): flat memory means a slope near zero.

Targets it prints against: no errors; |RSS slope| < 1 MiB/min per worker. Exit status 1 if any
request failed.

    python scripts/load_test.py                     # 10 minutes on PostgreSQL
    python scripts/load_test.py --duration 60 --report-every 15
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import queue
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Server, add_server_args, app_server, database, machine, request, rss_mib
from sqlalchemy.engine import make_url

from ledger.core import builders
from ledger.core.keys import SigningKey

# (op, finished at (monotonic), latency s, HTTP status or 0 for a connection error, statements)
Sample = tuple[str, float, float, int, int]
EXPECTED = {"append": 201, "batch": 200, "log": 200, "inclusion": 200, "consistency": 200}


# --- client processes ----------------------------------------------------------------------------


class Reporter:
    """Times requests on one keep-alive connection and ships samples to the parent each second."""

    def __init__(self, port: int, out: Any) -> None:
        self.port = port
        self.out = out
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.buffer: list[Sample] = []
        self.last_flush = time.monotonic()

    def call(self, op: str, method: str, path: str, body: bytes | None = None, n: int = 1) -> Any:
        t0 = time.monotonic()
        try:
            status, data = request(self.conn, method, path, body)
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            status, data = 0, b""
        t1 = time.monotonic()
        ok = status == EXPECTED[op]
        parsed = json.loads(data) if ok and data[:1] == b"{" else None
        if op == "batch" and parsed is not None and parsed["accepted"] != n:
            status = 207  # a batch with refused items counts as an error
        self.buffer.append((op, t1, t1 - t0, status, n))
        if t1 - self.last_flush >= 1.0:
            self.flush()
        return parsed if status == EXPECTED[op] else None

    def flush(self) -> None:
        if self.buffer:
            self.out.put(self.buffer)
        self.buffer = []
        self.last_flush = time.monotonic()


def _wire(signed: Any) -> bytes:
    return json.dumps(signed.to_json()).encode()


def _grant(creator: SigningKey, buyer: SigningKey, i: int) -> Any:
    item = builders.Item(sha256=uuid.uuid4().hex * 2, bytes=1_000_000 + i, duration_s=30)
    terms = builders.TermsSpec(revocable=True, notice_days=30)
    return builders.grant(creator, buyer.key_id, str(uuid.uuid4()), [item], terms)


def writer(port: int, stop: Any, out: Any, batch_every: int, batch_size: int) -> None:
    rep = Reporter(port, out)
    creator, buyer = SigningKey.generate(), SigningKey.generate()
    for key, name in ((creator, "load creator"), (buyer, "load buyer")):
        rep.call("append", "POST", "/v1/entries", _wire(builders.party_register(key, name)))
    step = 0
    while not stop.is_set():
        step += 1
        if step % batch_every == 0:
            grants = [_grant(creator, buyer, step * 1000 + k) for k in range(batch_size)]
            body = b'{"statements":[' + b",".join(_wire(g) for g in grants) + b"]}"
            rep.call("batch", "POST", "/v1/entries/batch", body, n=batch_size)
            continue
        g = _grant(creator, buyer, step)
        if rep.call("append", "POST", "/v1/entries", _wire(g)) is not None:
            accept = builders.grant_accept(buyer, g.statement_hash)
            rep.call("append", "POST", "/v1/entries", _wire(accept))
    rep.flush()


def reader(port: int, stop: Any, out: Any, seed: int) -> None:
    rep = Reporter(port, out)
    rng = random.Random(seed)
    size, refreshed = 0, 0.0
    while not stop.is_set():
        if size < 2 or time.monotonic() - refreshed > 0.5:
            info = rep.call("log", "GET", "/v1/log")
            size, refreshed = (info["tree_size"] if info else size), time.monotonic()
            if size < 2:
                time.sleep(0.05)
                continue
        if rng.random() < 0.8:
            path = f"/v1/proofs/inclusion?seq={rng.randrange(size)}&tree_size={size}"
            rep.call("inclusion", "GET", path)
        else:
            rep.call("consistency", "GET", f"/v1/proofs/consistency?first={rng.randrange(1, size)}"
                     f"&second={size}")  # fmt: skip
    rep.flush()


# --- the parent: aggregation and reports ---------------------------------------------------------


@dataclass
class Window:
    """Samples of one reporting interval (or of the whole run)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    statements: int = 0

    def add(self, s: Sample) -> None:
        op, _, latency, status, n = s
        if status == EXPECTED[op]:
            self.latencies[op].append(latency)
            if op in ("append", "batch"):
                self.statements += n
        else:
            self.errors[op][status] = self.errors[op].get(status, 0) + 1

    def error_count(self) -> int:
        return sum(sum(v.values()) for v in self.errors.values())

    def print(self, label: str, seconds: float) -> None:
        print(f"{label}: {self.statements / seconds:,.0f} statements appended/s over "
              f"{seconds:.0f} s", flush=True)  # fmt: skip
        for op in EXPECTED:
            lat = sorted(self.latencies.get(op, []))
            errors = self.errors.get(op, {})
            if not lat and not errors:
                continue
            p50 = lat[len(lat) // 2] * 1e3 if lat else float("nan")
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3 if lat else float("nan")
            print(f"  {op:<12} {len(lat):>8} ok {len(lat) / seconds:>8,.1f}/s  p50 {p50:7.2f} ms"
                  f"  p99 {p99:7.2f} ms  errors {sum(errors.values())} {errors or ''}",
                  flush=True)  # fmt: skip


@dataclass
class RssSampler:
    """Samples every worker's RSS in a background thread."""

    server: Server
    every: float
    samples: dict[int, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(self.every):
            now = time.monotonic()
            for pid in self.server.worker_pids():
                rss = rss_mib(pid)
                if rss is not None:
                    self.samples[pid].append((now, rss))

    def line(self) -> str:
        latest = {pid: s[-1][1] for pid, s in self.samples.items() if s}
        return "  worker RSS MiB: " + ", ".join(f"{p}={r:.1f}" for p, r in sorted(latest.items()))


def slope_mib_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (time s, RSS MiB), in MiB per minute."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    cov = sum((t - mean_t) * (r - mean_r) for t, r in points)
    return 60 * cov / var if var else 0.0


def drain(out: Any, timeout: float) -> Iterator[Sample]:
    try:
        batch = out.get(timeout=timeout)
    except queue.Empty:
        return
    yield from batch
    while True:
        try:
            yield from out.get_nowait()
        except queue.Empty:
            return


def run_load(server: Server, args: argparse.Namespace) -> int:
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=writer, args=(server.base_port, stop, out, args.batch_every, args.batch_size)
        )
        for _ in range(args.writers)
    ]
    procs += [ctx.Process(target=reader, args=(server.base_port, stop, out, args.seed + i))
              for i in range(args.readers)]  # fmt: skip
    sampler = RssSampler(server, args.rss_every)
    threading.Thread(target=sampler.run, daemon=True).start()
    for p in procs:
        p.start()
    total, window = Window(), Window()
    t0 = time.monotonic()
    next_report = t0 + args.report_every
    while time.monotonic() < t0 + args.duration:
        for s in drain(out, timeout=0.5):
            total.add(s)
            window.add(s)
        if time.monotonic() >= next_report:
            window.print(f"[{time.monotonic() - t0:5.0f} s] last {args.report_every:.0f} s",
                         args.report_every)  # fmt: skip
            print(sampler.line(), flush=True)
            window, next_report = Window(), next_report + args.report_every
    stop.set()
    for p in procs:
        p.join(60)
    for s in drain(out, timeout=1.0):
        total.add(s)
    sampler.stop.set()
    return summarize(total, sampler, time.monotonic() - t0, args)


def summarize(total: Window, sampler: RssSampler, elapsed: float, args: argparse.Namespace) -> int:
    total.print("TOTAL", elapsed)
    print(sampler.line(), flush=True)
    t_start = min((s[0][0] for s in sampler.samples.values() if s), default=0.0)
    for pid, points in sorted(sampler.samples.items()):
        steady = [(t, r) for t, r in points if t - t_start >= args.warmup]
        if len(steady) < 3:
            print(f"  worker {pid}: too few samples after the warm-up for a slope", flush=True)
            continue
        slope = slope_mib_per_min(steady)
        verdict = "flat" if abs(slope) < 1.0 else "GROWING" if slope > 0 else "shrinking"
        if steady[-1][0] - steady[0][0] < 300:  # caches still fill in the first minutes
            verdict += ", but under 5 minutes of samples: too short to judge"
        print(f"  worker {pid}: RSS {steady[0][1]:.1f} -> {steady[-1][1]:.1f} MiB, slope "
              f"{slope:+.3f} MiB/min after {args.warmup:.0f} s warm-up ({verdict}; "
              f"target |slope| < 1)", flush=True)  # fmt: skip
    errors = total.error_count()
    print(f"errors: {errors} (target 0)", flush=True)
    return 1 if errors else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Sustained mixed load on the real server (see the docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=600, help="seconds of load")
    p.add_argument("--report-every", type=float, default=60, help="seconds between reports")
    p.add_argument("--warmup", type=float, default=60, help="seconds left out of the RSS slope")
    p.add_argument("--rss-every", type=float, default=5, help="seconds between RSS samples")
    add_server_args(p, threads=8)
    p.add_argument("--writers", type=int, default=4, help="appending client processes")
    p.add_argument("--readers", type=int, default=4, help="proof-reading client processes")
    p.add_argument("--batch-every", type=int, default=5, help="every Nth write is a batch")
    p.add_argument("--batch-size", type=int, default=50, help="statements per batch")
    p.add_argument("--seed", type=int, default=1, help="random seed of the readers")
    args = p.parse_args(argv)
    if min(args.workers, args.threads, args.writers, args.batch_every, args.batch_size) < 1:
        p.error("counts must be positive")
    if args.readers < 0 or args.duration <= 0 or args.report_every <= 0:
        p.error("--readers must be >= 0, --duration and --report-every > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine(), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="ledger-load-"))
    try:
        with database(args.db, args.pg_url, args.keep, workdir) as url:
            print(f"database: {make_url(url).render_as_string(hide_password=True)}", flush=True)
            print(f"load: {args.writers} writers (batch of {args.batch_size} every "
                  f"{args.batch_every} writes), {args.readers} proof readers, "
                  f"{args.duration:.0f} s", flush=True)  # fmt: skip
            with app_server(
                args.server, url, workdir, args.workers, args.threads,
                worker_class=args.worker_class,
            ) as server:  # fmt: skip
                return run_load(server, args)
    finally:
        if args.keep:
            print(f"kept work directory {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
