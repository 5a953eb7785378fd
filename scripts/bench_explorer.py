"""Benchmark the explorer's pages (ledger/server/web): p50 and p99 per page kind under gunicorn;
target p99 < 50 ms at 1,000,000 entries on PostgreSQL (issue 20 item 7).

1. Build (once): a PostgreSQL database named ``--database`` is created and filled through the
   real service the way scripts/bench_audit.py fills its log (``bench_audit.load``: chunks of two
   party registrations, a key rotation, then grants each followed by its acceptance), then a
   few statements the pages must also show: a grant of ``--big-items`` items (as many grants as
   leaves need) accepted, and one of them revoked with notice. The log key and ``bench-db.json``
   are kept in ``--workdir``; a later run finds them and reuses the database (building 1,000,000
   entries takes tens of minutes). ``--drop`` drops the database and the work directory.
2. Serve: gunicorn with the repository's gunicorn.conf.py (``--workers`` x ``--threads``).
3. Measure: for each page kind, ``--requests`` GETs one after another over a keep-alive
   connection (one client: a page's latency, not the server's throughput), each on an identifier
   drawn at random from the log (entries, grants, parties and content hashes sampled from the
   database at start), after ``--warmup`` requests of each kind. Every answer must be 200
   ``text/html`` (a search that finds one match: 303 to its page, not followed).

Prints, per page kind, p50, p99 and max in milliseconds and whether p99 meets 50 ms.

    python scripts/bench_explorer.py --database ledger_bench_explorer            # 1,000,000
    python scripts/bench_explorer.py --database ledger_bench_explorer_small --entries 20000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_audit  # noqa: E402
from harness import DEFAULT_PG, LeanConnection, gunicorn  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from ledger.core import builders  # noqa: E402
from ledger.core.keys import SigningKey  # noqa: E402

TARGET_P99_MS = 50.0
STATE = "bench-db.json"


# --- build ---------------------------------------------------------------------------------------


def _admin(pg_url: str):  # type: ignore[no-untyped-def]
    return create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def database_url(pg_url: str, name: str) -> str:
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def build(args: argparse.Namespace) -> dict[str, object]:
    """Create and fill the database; returns what ``bench-db.json`` keeps."""
    args.workdir.mkdir(parents=True, exist_ok=True)
    admin = _admin(args.pg_url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{args.database}"'))
    admin.dispose()
    url = database_url(args.pg_url, args.database)
    key_file = args.workdir / "log-key.pem"
    key_file.unlink(missing_ok=True)
    print(f"building {args.entries:,} entries into {args.database} ...", flush=True)
    seconds = bench_audit.load(url, key_file, args.entries, args.signers)
    t0 = time.perf_counter()
    extra = add_big_grant(url, key_file, args.big_items)
    seconds += time.perf_counter() - t0
    state = {"url": url, "entries": args.entries + extra, "load_seconds": seconds}
    (args.workdir / STATE).write_text(json.dumps(state))
    print(f"built {args.entries + extra:,} entries in {seconds:.0f} s", flush=True)
    return state


def add_big_grant(url: str, key_file: Path, items: int) -> int:
    """A creator's grant of ``items`` items to one buyer (split over as many grants as its leaves
    need), every part accepted and the first revoked with notice; returns the entries added."""
    from ledger.server.app import create_app
    from ledger.server.config import Config

    app = create_app(Config(database_url=url, log_key_file=key_file, origin=bench_audit.ORIGIN))
    service = app.extensions["ledger"].service
    creator, buyer = SigningKey.generate(), SigningKey.generate()
    statements = [
        builders.party_register(creator, "big creator"),
        builders.party_register(buyer, "big buyer"),
    ]
    terms = builders.TermsSpec(revocable=True, notice_days=30)
    catalogue = [
        builders.Item(sha256=uuid.uuid4().hex * 2, bytes=50_000_000, duration_s=i % 600 + 1)
        for i in range(items)
    ]
    grants = builders.grants_for_items(creator, buyer.key_id, catalogue, terms)
    statements += grants
    statements += [builders.grant_accept(buyer, g.statement_hash) for g in grants]
    notice = datetime.now(UTC) + timedelta(days=31)
    statements.append(builders.grant_revoke(creator, grants[0].statement_hash, notice))
    for i in range(0, len(statements), 200):
        for result in service.append(statements[i : i + 200]):
            if isinstance(result, Exception):
                raise SystemExit(f"the service refused a statement: {result}")
    app.extensions["ledger"].db.dispose()
    return len(statements)


def drop(args: argparse.Namespace) -> None:
    admin = _admin(args.pg_url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'))
    admin.dispose()
    shutil.rmtree(args.workdir, ignore_errors=True)
    print(f"dropped {args.database} and {args.workdir}")


# --- measure -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database", default="ledger_bench_explorer", help="PostgreSQL database name")
    p.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server (CREATE/DROP)")
    p.add_argument("--workdir", type=Path, help="default: /tmp/<database>")
    p.add_argument("--entries", type=int, default=1_000_000, help="log size when building")
    p.add_argument("--big-items", type=int, default=5_000, help="items of the big grant")
    p.add_argument("--signers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--rebuild", action="store_true", help="build even if the database exists")
    p.add_argument("--build-only", action="store_true")
    p.add_argument("--drop", action="store_true", help="drop the database and work directory")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers")
    p.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    p.add_argument("--requests", type=int, default=300, help="timed requests per page kind")
    p.add_argument("--warmup", type=int, default=30, help="untimed requests per page kind")
    p.add_argument("--pages", nargs="*", help="only these page kinds")
    args = p.parse_args(argv)
    args.workdir = args.workdir or Path("/tmp") / args.database
    if args.drop:
        drop(args)
        return 0
    saved = args.workdir / STATE
    state = json.loads(saved.read_text()) if saved.exists() and not args.rebuild else build(args)
    if args.build_only:
        return 0
    return measure(args, state)


def sample(url: str, count: int) -> dict[str, list[str]]:
    """Identifiers drawn at random from the log: ``count`` of each kind (indexed reads only)."""
    rng = random.Random(20)
    engine = create_engine(url, poolclass=NullPool)
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        size = int(conn.execute(text("SELECT max(tree_size) FROM checkpoints")).scalar_one())
        least = "SELECT min(tree_size) FROM checkpoints WHERE tree_size > 0"
        first_cp = int(conn.execute(text(least)).scalar_one())

        def one(sql: str, bound: object) -> str:
            return str(conn.execute(text(sql), {"b": bound}).scalar_one())

        def seqs() -> int:
            return rng.randrange(size)

        out["entry"] = [str(seqs()) for _ in range(count)]
        grant_sql = "SELECT grant_id FROM grants WHERE seq >= :b ORDER BY seq LIMIT 1"
        out["grant"] = [one(grant_sql, seqs() // 2) for _ in range(count)]
        key_sql = "SELECT key_id FROM keys WHERE seq >= :b ORDER BY seq LIMIT 1"
        out["party"] = [one(key_sql, seqs() // 2) for _ in range(count)]
        sha_sql = "SELECT sha256 FROM grant_content WHERE sha256 >= :b ORDER BY sha256 LIMIT 1"
        out["content"] = [one(sha_sql, f"{rng.getrandbits(255):064x}") for _ in range(count)]
        cp_sql = "SELECT tree_size FROM checkpoints WHERE tree_size >= :b ORDER BY 1 LIMIT 1"
        out["checkpoint"] = [one(cp_sql, max(first_cp, seqs())) for _ in range(count)]
        hash_sql = "SELECT encode(statement_hash, 'hex') FROM entries WHERE seq = :b"
        out["statement_hash"] = [one(hash_sql, seqs()) for _ in range(count)]
        big = conn.execute(text(
            "SELECT g.grant_id, k.key_id, c.sha256 FROM grants g JOIN keys k ON k.party_id = "
            "g.creator_party JOIN grant_content c ON c.grant_id = g.grant_id JOIN grant_events e "
            "ON e.grant_id = g.grant_id AND e.kind = 'revoke' ORDER BY g.seq DESC LIMIT 1"
        )).first()  # fmt: skip
        out["big"] = [] if big is None else [str(v) for v in big]  # none while still building
        out["size"] = [str(size)]
    engine.dispose()
    return out


def pages(ids: dict[str, list[str]]) -> dict[str, Callable[[int], str]]:
    """Page kind -> the path of its i-th request."""

    def pick(kind: str) -> Callable[[int], str]:
        values = ids[kind]
        return lambda i: values[i % len(values)]

    entry, grant, party = pick("entry"), pick("grant"), pick("party")
    content, cp, stmt = pick("content"), pick("checkpoint"), pick("statement_hash")
    searches = (entry, grant, party, stmt, content)
    kinds: dict[str, Callable[[int], str]] = {
        "home": lambda i: "/",
        "entry": lambda i: f"/entries/{entry(i)}",
        "grant": lambda i: f"/grants/{grant(i)}",
        "party": lambda i: f"/parties/{party(i)}",
        "content": lambda i: f"/content/{content(i)}",
        "content + status form": lambda i: (
            f"/content/{content(i)}?buyer={party(i)}&use=ai_training"
        ),
        "checkpoint (latest)": lambda i: "/checkpoints/latest",
        "checkpoint + consistency": lambda i: (
            f"/checkpoints/{cp(i)}?from={int(entry(i)) % max(1, int(cp(i)))}"
        ),
        "search": lambda i: f"/search?q={searches[i % len(searches)](i // len(searches))}",
    }
    if ids["big"]:
        big_grant, big_party, big_item = ids["big"]
        kinds["grant (big, revoked)"] = lambda i: f"/grants/{big_grant}"
        kinds["party (big)"] = lambda i: f"/parties/{big_party}"
        kinds["content (revoked)"] = lambda i: f"/content/{big_item}"
    return kinds


def timed(conn: LeanConnection, path: str) -> float:
    t0 = time.perf_counter()
    status, body = conn.request("GET", path)
    elapsed = time.perf_counter() - t0
    if status == 303 and path.startswith("/search"):
        return elapsed
    if status != 200 or not body[:15].lower().startswith(b"<!doctype html>"):
        raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def measure(args: argparse.Namespace, state: dict[str, object]) -> int:
    url = str(state["url"])
    ids = sample(url, max(args.requests, 100))
    kinds = pages(ids)
    chosen = args.pages or list(kinds)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    print(f"log: {int(ids['size'][0]):,} entries ({args.database}, PostgreSQL)")
    missed = 0
    with gunicorn(url, args.workdir, args.workers, args.threads) as server:
        conn = LeanConnection(server.base_port)
        print(f"{'page':<26} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  (n={args.requests})")
        for kind in chosen:
            path = kinds[kind]
            for i in range(args.warmup):
                timed(conn, path(args.requests + i))
            times = [timed(conn, path(i)) * 1000 for i in range(args.requests)]
            p99 = percentile(times, 0.99)
            verdict = "meets" if p99 < TARGET_P99_MS else "MISSES"
            missed += p99 >= TARGET_P99_MS
            print(f"{kind:<26} {percentile(times, 0.5):>8.1f} {p99:>8.1f} {max(times):>8.1f}  "
                  f"{verdict} p99 < {TARGET_P99_MS:.0f} ms", flush=True)  # fmt: skip
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
