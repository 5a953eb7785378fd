"""Benchmark the full audit (``ledger audit``) against a real server holding N entries.

1. Creates a fresh database (PostgreSQL by default, or ``--db sqlite``) and a log key.
2. Bulk-loads ``--entries`` pre-signed entries through the service (``LogService.append`` in
   batches of 1,000, in this process): ``--signers`` processes sign chunks of a realistic mix
   (two party registrations, a key rotation signed by two keys, then grants each followed by
   its acceptance) while this process appends the previous chunk.
3. Serves the database under gunicorn (``--server-workers``, ``--no-control-socket``) and runs
   the audit in a fresh process (``--audit-workers`` verifying processes), then prints the
   entries/s (the audit recomputes the licence map and checks its root: included), the share of
   the map's recomputation, the wall time, and the peak RSS of the auditor and of its worker
   processes.
   Target: 1,000,000 entries in under 120 s (>= 8,334 entries/s) on a 2-core machine, with the
   auditor's memory flat (compare the RSS at two sizes).

    python scripts/bench_audit.py                               # PostgreSQL, 1,000,000 entries
    python scripts/bench_audit.py --db sqlite --entries 50000   # a quick correctness run

``--keep`` keeps the loaded database and work directory (the key and ``bench-db.json``);
``--reuse DIR`` then audits that database again without loading it (before/after comparisons).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_service import CpuMeter  # noqa: E402
from harness import DEFAULT_PG, ORIGIN, database, gunicorn  # noqa: E402

from ledger.client import LogClient  # noqa: E402
from ledger.core import builders  # noqa: E402
from ledger.core.keys import SigningKey  # noqa: E402
from ledger.core.statements import SignedStatement  # noqa: E402

CHUNK = 1000
TARGET_RATE = 1_000_000 / 120


def sign_chunk(size: int) -> list[SignedStatement]:
    """``size`` statements that are valid on their own in any log, signed with fresh keys."""
    creator, buyer = SigningKey.generate(), SigningKey.generate()
    out = [builders.party_register(creator, "bench creator")]
    out.append(builders.party_register(buyer, "bench buyer"))
    new = SigningKey.generate()
    out.append(builders.key_rotate(creator, new))  # the two-signature path
    creator = new
    terms = builders.TermsSpec(revocable=True, notice_days=30)
    while len(out) < size:
        item = builders.Item(sha256=uuid.uuid4().hex * 2, bytes=10_000_000, duration_s=60)
        g = builders.grant(creator, buyer.key_id, str(uuid.uuid4()), [item], terms)
        out.append(g)
        out.append(builders.grant_accept(buyer, g.statement_hash))
    return out[:size]


def load(url: str, key_file: Path, entries: int, signers: int) -> float:
    """Append ``entries`` statements through the service; returns the seconds it took."""
    from ledger.server.app import create_app
    from ledger.server.config import Config

    app = create_app(Config(database_url=url, log_key_file=key_file, origin=ORIGIN))
    service = app.extensions["ledger"].service
    sizes = [min(CHUNK, entries - i) for i in range(0, entries, CHUNK)]
    started, done = time.perf_counter(), 0
    with mp.get_context("spawn").Pool(signers) as pool:
        for chunk in pool.imap(sign_chunk, sizes):
            results = service.append(chunk)
            refused = [r for r in results if isinstance(r, Exception)]
            if refused:
                raise SystemExit(f"the service refused a statement: {refused[0]}")
            done += len(chunk)
            if done % 100_000 < CHUNK:
                print(f"  loaded {done:,} entries", file=sys.stderr, flush=True)
    app.extensions["ledger"].db.dispose()
    return time.perf_counter() - started


def _rss_mib(pid: int | str) -> float:
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def run_audit(url: str, vkey: str, workers: int) -> dict[str, Any]:
    """In this (fresh) process: the audit, its figures and its memory as JSON.

    Memory is sampled from /proc every 0.2 s (the auditor, and its largest worker):
    ``ru_maxrss`` would not do, a process started by fork + exec inherits its parent's peak.
    """
    from ledger.client import LogClient
    from ledger.client.audit import LogAuditor
    from ledger.core.note import NoteVerifier

    auditor = LogAuditor(LogClient(url), NoteVerifier.from_vkey(vkey), workers=workers)
    samples: list[tuple[float, float]] = []  # (auditor, largest worker) MiB
    done = threading.Event()

    def sample() -> None:
        me = os.getpid()
        while not done.wait(0.2):
            kids = [_rss_mib(k) for k in _children(me)]
            samples.append((_rss_mib(me), max(kids, default=0.0)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    report = auditor.audit()
    done.set()
    sampler.join()
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    quarters = [samples[len(samples) * q // 4][0] for q in (1, 2, 3)] + [samples[-1][0]]
    return {
        "report": report.to_json(),
        "cpu_main": me.ru_utime + me.ru_stime,
        "cpu_workers": kids.ru_utime + kids.ru_stime,
        "rss_peak_mib": max(s[0] for s in samples),
        "worker_rss_peak_mib": max(s[1] for s in samples),
        "rss_quarters_mib": quarters,
        "map_seconds": auditor.map.seconds,
        "map_nodes": len(auditor.map.store),
    }


def audit_in_subprocess(server_url: str, vkey: str, workers: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--audit-only", server_url, vkey, str(workers)]
    started = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    result: dict[str, Any] = json.loads(out)
    result["wall"] = time.perf_counter() - started
    return result


def report(n: int, result: dict[str, Any], load_seconds: float) -> None:
    audit = result["report"]
    if not audit["ok"]:
        raise SystemExit(f"the audit FAILED: {audit['failure']}")
    rate = audit["entries_checked"] / audit["seconds"]
    verdict = "meets" if rate >= TARGET_RATE else "MISSES"
    print(f"{'load (sign + append)':<22} {n / load_seconds:>10,.0f} entries/s  ({n:,} in "
          f"{load_seconds:.0f} s)")  # fmt: skip
    print(f"{'audit':<22} {rate:>10,.0f} entries/s  ({audit['entries_checked']:,} entries in "
          f"{audit['seconds']:.1f} s; process wall {result['wall']:.1f} s incl. start-up; "
          f"{verdict} the target >= {TARGET_RATE:,.0f}/s, i.e. 1,000,000 in < 120 s)")  # fmt: skip
    map_rate = audit["entries_checked"] / result["map_seconds"] if result["map_seconds"] else 0.0
    print(f"{'map recomputation':<22} {map_rate:>10,.0f} entries/s alone  "
          f"({result['map_seconds']:.1f} s of the audit's {audit['seconds']:.1f} s, in the "
          "auditor's process; "
          f"{audit['map_roots_checked']} map root(s) checked; {result['map_nodes']:,} nodes held "
          "at the end: the latest map only)")  # fmt: skip
    cpu = result["cpu_server"]
    per = {
        "server": cpu["server"], "postgres": cpu["pg"], "auditor": result["cpu_main"],
        "audit workers": result["cpu_workers"],
    }  # fmt: skip
    print(f"{'CPU per entry':<22} " + ", ".join(f"{k} {v / n * 1e6:.0f} us" for k, v in per.items())
          + f"  (the target leaves {2e6 / TARGET_RATE:.0f} us on 2 cores)")  # fmt: skip
    busy = sum(per.values()) / audit["seconds"]
    print(f"{'cores busy':<22} {busy:>10.2f} of {os.cpu_count()} on average during the audit "
          "(server, PostgreSQL, auditor and its workers)")  # fmt: skip
    print(
        f"{'audit peak RSS':<22} {result['rss_peak_mib']:>10,.1f} MiB auditor, "
        f"{result['worker_rss_peak_mib']:,.1f} MiB largest worker  (flat: compare sizes)"
    )
    quarters = ", ".join(f"{m:.1f}" for m in result["rss_quarters_mib"])
    print(f"{'auditor RSS over time':<22} {quarters} MiB at 1/4, 1/2, 3/4 and the end of the audit")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    nproc = os.cpu_count() or 2
    p = argparse.ArgumentParser(
        description="Benchmark the full audit over HTTP (see the docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--entries", type=int, default=1_000_000, help="log size")
    p.add_argument("--db", choices=("postgres", "sqlite"), default="postgres", help="backend")
    p.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server for CREATE/DROP")
    p.add_argument("--keep", action="store_true", help="keep the database and work directory")
    p.add_argument("--signers", type=int, default=nproc, help="processes that pre-sign")
    p.add_argument("--server-workers", type=int, default=nproc, help="gunicorn workers")
    p.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    p.add_argument("--audit-workers", type=int, default=nproc, help="auditor processes")
    p.add_argument("--reuse", type=Path, help="audit the database kept in this work directory")
    args = p.parse_args(argv)
    if min(args.entries, args.signers, args.server_workers, args.threads) < 1:
        p.error("counts must be positive")
    # bench_service.gunicorn reads these names
    args.workers, args.port = args.server_workers, 0
    return args


def bench(
    args: argparse.Namespace, workdir: Path, url: str, entries: int, load_seconds: float
) -> None:
    """Serve the loaded database and audit it in a fresh process; print the figures."""
    with gunicorn(url, workdir, args.server_workers, args.threads) as server:
        base = f"http://127.0.0.1:{server.base_port}"
        info = LogClient(base).log_info()
        meter = CpuMeter(server)
        meter.begin()
        result = audit_in_subprocess(base, info["verifier_key"], args.audit_workers)
        result["cpu_server"] = meter.end()
    report(entries, result, load_seconds)


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--audit-only"]:
        url, vkey, workers = sys.argv[2:5]
        print(json.dumps(run_audit(url, vkey, int(workers))))
        return 0
    args = parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    if args.reuse is not None:
        saved = json.loads((args.reuse / "bench-db.json").read_text())
        bench(args, args.reuse, saved["url"], saved["entries"], saved["load_seconds"])
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="ledger-bench-audit-"))
    try:
        with database(args.db, args.pg_url, args.keep, workdir) as url:
            load_seconds = load(url, workdir / "log-key.pem", args.entries, args.signers)
            saved = {"url": url, "entries": args.entries, "load_seconds": load_seconds}
            (workdir / "bench-db.json").write_text(json.dumps(saved))
            bench(args, workdir, url, args.entries, load_seconds)
    finally:
        if args.keep:
            print(f"kept work directory {workdir} (--reuse {workdir} audits it again)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
