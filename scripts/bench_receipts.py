"""Benchmark COSE receipt issuance (docs/FORMAT.md §15). Targets: >= 5,000 receipts/s in process
and >= 1,000/s over HTTP, at 1,000,000 entries.

1. Bulk-loads ``--entries`` synthetic entries with their stored hashes and one signed checkpoint
   into a fresh database (as scripts/bench_tiles.py does: ``--db sqlite|postgres``).
2. In process: first the core alone (the proof from memory, the root signed once, CBOR), then
   ``ledger.server.reads.receipts.entry_receipt`` for random seqs, each on its own immutable
   connection with the app's caches, as the server answers one request: the published size and
   the path's stored hashes that ``StoredHashCache`` does not hold read from the database, the
   root's signature made once and reused (every receipt at one size shares it). Two rates: by
   the wall clock, and by this process's CPU time (what a receipt costs the CPU, which holds on
   a machine shared with other work, where the wall clock does not).
3. Over HTTP: gunicorn (``--workers`` x ``--threads``), ``--clients`` processes GET
   ``/v1/entries/{seq}/receipt`` for random seqs over keep-alive connections for ``--seconds``.

Every receipt of the in-process pass is checked with the core verifier (after the clock stops:
verifying is not issuing); the HTTP clients check each answer is 200 ``application/cose``.

    python scripts/bench_receipts.py --entries 1000000 --seconds 10
    python scripts/bench_receipts.py --entries 20000 --seconds 3     # small
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_tiles  # noqa: E402

from ledger.core.encoding import sha256  # noqa: E402
from ledger.core.keys import SigningKey  # noqa: E402
from ledger.core.merkle import MemoryHashStore, inclusion_proof, tree_hash  # noqa: E402
from ledger.core.note import NoteSigner  # noqa: E402
from ledger.core.receipts import ReceiptSigner, decode_receipt  # noqa: E402
from ledger.server.reads.receipts import (  # noqa: E402
    CheckpointRoots,
    StoredHashCache,
    entry_receipt,
)
from ledger.server.storage import db as ledger_db  # noqa: E402
from tests.support.live import LiveServer  # noqa: E402
from tests.support.tlog_helpers import bulk_append  # noqa: E402

TARGET_IN_PROCESS = 5_000
TARGET_HTTP = 1_000


def core_only(size: int, seconds: float) -> float:
    """Receipts per second from the core alone: the proof from a ``MemoryHashStore`` of ``size``
    leaves, the root signed once, the CBOR encoded (no database, no transaction)."""
    store = MemoryHashStore()
    store.append_leaf_hashes([sha256(i.to_bytes(8, "big")) for i in range(size)])
    root = tree_hash(size, store)
    signer = ReceiptSigner(SigningKey.generate().private_key, bench_tiles.ORIGIN)
    count = 0
    deadline = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < deadline:
        seq = random.randrange(size)
        signer.inclusion(size, seq, inclusion_proof(size, seq, store), root)
        count += 1
    return count / (time.perf_counter() - t0)


def in_process(
    database: ledger_db.Database,
    signer: ReceiptSigner,
    size: int,
    seconds: float,
    caches: tuple[CheckpointRoots, StoredHashCache],
) -> tuple[float, float]:
    """Receipts per second from the database, each on its own connection as the server reads
    one (``immutable_connection``): by the wall clock and by this process's CPU time."""
    roots, hashes = caches
    issued: list[tuple[int, bytes | None]] = []
    deadline = time.perf_counter() + seconds
    t0, c0 = time.perf_counter(), time.process_time()
    while time.perf_counter() < deadline:
        seq = random.randrange(size)
        with database.immutable_connection() as conn:
            receipt = entry_receipt(conn, seq, signer, witnessed=False, roots=roots, hashes=hashes)
        issued.append((seq, receipt))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    for seq, receipt in issued:
        assert receipt is not None
        assert decode_receipt(receipt).second == seq
    return len(issued) / wall, len(issued) / cpu


def client(port: int, size: int, seconds: float, start: Any, out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    count = 0
    start.wait()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("GET", f"/v1/entries/{random.randrange(size)}/receipt")
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200 or resp.getheader("Content-Type") != "application/cose":
            raise SystemExit(f"HTTP {resp.status} {resp.getheader('Content-Type')}")
        count += 1
    conn.close()
    out.put(count)


def over_http(port: int, size: int, clients: int, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=client, args=(port, size, seconds, start, out)) for _ in range(clients)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)
    start.set()
    total = sum(out.get(timeout=seconds + 120) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    core = core_only(args.entries, args.seconds)
    verdict = "meets" if core >= TARGET_IN_PROCESS else "BELOW"
    print(f"receipts_core: {core:,.0f}/s at {args.entries:,} entries (proof from memory, no "
          f"database); target >= {TARGET_IN_PROCESS:,}/s: {verdict}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, pg_name = bench_tiles.make_database(args.db, workdir)
        try:
            ledger_db.upgrade(url)
            key = SigningKey.generate()
            key.save(workdir / "log-key.pem")
            t0 = time.perf_counter()
            database = ledger_db.Database(url)
            bulk_append(
                database,
                NoteSigner.from_private_key(bench_tiles.ORIGIN, key.private_key),
                args.entries,
            )
            print(f"loaded {args.entries} entries in {time.perf_counter() - t0:.1f} s ({args.db})")
            signer = ReceiptSigner(key.private_key, bench_tiles.ORIGIN)
            caches = (CheckpointRoots(), StoredHashCache())  # as the app keeps them
            in_process(database, signer, args.entries, min(2.0, args.seconds), caches)  # warm
            rate, cpu_rate = in_process(database, signer, args.entries, args.seconds, caches)
            database.dispose()
            verdict = "meets" if rate >= TARGET_IN_PROCESS else "BELOW"
            cpu_verdict = "meets" if cpu_rate >= TARGET_IN_PROCESS else "BELOW"
            print(f"receipts_in_process: {rate:,.0f}/s at {args.entries:,} entries ({args.db}, one "
                  f"connection each); target >= {TARGET_IN_PROCESS:,}/s: {verdict}")  # fmt: skip
            print(f"receipts_in_process_cpu: {cpu_rate:,.0f} per CPU second (this process's CPU "
                  f"time); target >= {TARGET_IN_PROCESS:,}/s: {cpu_verdict}")  # fmt: skip
            server = LiveServer(
                url, workdir / "log-key.pem", workdir / "gunicorn", origin=bench_tiles.ORIGIN,
                workers=args.workers, threads=args.threads,
            )  # fmt: skip
            with server:
                over_http(server.port, args.entries, args.clients, min(2.0, args.seconds))  # warm
                http_rate = over_http(server.port, args.entries, args.clients, args.seconds)
        finally:
            bench_tiles.drop_database(pg_name)
    verdict = "meets" if http_rate >= TARGET_HTTP else "BELOW"
    print(
        f"receipts_over_http: {http_rate:,.0f}/s ({args.clients} clients, "
        f"{args.workers}x{args.threads} gthread, {args.db}); "
        f"target >= {TARGET_HTTP:,}/s: {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
