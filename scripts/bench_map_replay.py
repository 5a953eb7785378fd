"""Benchmark the audit's recomputation of the licence map (``core.mapaudit.MapReplay``) alone.

Feeds ``--entries`` entries, in the mix ``bench_audit.py`` loads (per 1,000: two party
registrations, a key rotation, then one-item grants each followed by its acceptance), to a
``MapReplay`` in this process, in log order, asking for the map root every ``--root-every``
entries (0: only at the end, as ``ledger audit`` over HTTP does for the latest checkpoint; 1000: as
the database audit of a log appended in batches of 1,000 does, one root per checkpoint), and prints
the entries/s and keys/s in CPU time, the process's RSS at each quarter, and the final root (the
same in every run of the same ``--entries`` and ``--seed``, whatever the tree or the settings: a
check that the fast path changes nothing).

The statements are built from a few signed templates with fresh ids and hashes (the map reads a
statement's contents and its statement hash, never its signatures), so that the figure is the
map's own work, not signing. ``--tree DIR`` imports ``ledger`` from another checkout (a before/after
comparison of the same script):

    python scripts/bench_map_replay.py --entries 1000000
    python scripts/bench_map_replay.py --entries 1000000 --tree /path/to/main

Target (issue 18 item 6): the full audit of 1,000,000 entries, map included, in under 3 minutes
with flat memory; this measures the map's part of it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path


def _rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def entries(count: int, seed: int) -> Iterator[object]:
    """``count`` map entries (``licmap.AuditedStatement``) of the bench_audit mix."""
    from ledger.core import builders
    from ledger.core.keys import SigningKey
    from ledger.core.licmap import AuditedStatement

    rng = random.Random(seed)
    creator, buyer, new = (SigningKey.generate() for _ in range(3))
    register = builders.party_register(creator, "bench").statement
    rotate = builders.key_rotate(creator, new).statement
    item = builders.Item(sha256="00" * 32, bytes=10_000_000, duration_s=60)
    grant = builders.grant(new, buyer.key_id, str(uuid.uuid4()), [item], builders.TermsSpec())
    accept = builders.grant_accept(buyer, grant.statement_hash).statement
    g = grant.statement
    # Rotation targets, reused; from fixed seeds so that every run derives the same map.
    keys = [SigningKey.from_seed(bytes([i]) * 32).public_key for i in range(64)]

    def rand(n: int) -> bytes:
        return rng.getrandbits(8 * n).to_bytes(n, "big")

    made = 0
    while made < count:
        parties = [rand(32).hex(), rand(32).hex()]
        chunk: list[object] = [
            dataclasses.replace(register, signer=parties[0]),
            dataclasses.replace(register, signer=parties[1]),
            dataclasses.replace(rotate, signer=parties[0], new_public_key=rng.choice(keys)),
        ]
        while len(chunk) < 1000:
            content = (dataclasses.replace(g.content[0], sha256=rand(32).hex()),)
            ghash = rand(32)
            chunk.append(
                AuditedStatement(
                    dataclasses.replace(
                        g, signer=parties[0], grant_id=str(uuid.UUID(bytes=rand(16), version=4)),
                        buyer=parties[1], content=content,
                    ),
                    ghash,
                )
            )  # fmt: skip
            chunk.append(dataclasses.replace(accept, signer=parties[1], grant_hash=ghash.hex()))
        for st in chunk[: count - made]:
            yield st if isinstance(st, AuditedStatement) else AuditedStatement(st, rand(32))  # type: ignore[arg-type]
        made += len(chunk)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--root-every", type=int, default=0, help="ask for a root every N entries")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tree", type=Path, help="import ledger from this checkout instead")
    args = p.parse_args(argv)
    root_dir = args.tree or Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root_dir.resolve()))
    from ledger.core import mapaudit

    print(f"tree {root_dir} ({mapaudit.__file__}), load average {os.getloadavg()[0]:.2f}")
    replay = mapaudit.MapReplay()
    quarters = {args.entries * q // 4 for q in (1, 2, 3)}
    rss: list[float] = []
    cpu, wall = time.process_time(), time.perf_counter()
    for seq, entry in enumerate(entries(args.entries, args.seed)):
        replay.add(seq, entry)  # type: ignore[arg-type]
        size = seq + 1
        if args.root_every and size % args.root_every == 0:
            replay.root_at(size)
        if size in quarters:
            rss.append(_rss_mib())
    root = replay.root_at(args.entries)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    rss.append(_rss_mib())
    keys = sum(1 for _ in replay.map.items()) if args.entries <= 20_000 else None
    print(
        f"map replay of {args.entries:,} entries (root every {args.root_every or 'end'}): "
        f"{args.entries / cpu:,.0f} entries/s CPU ({cpu:.1f} s CPU, {wall:.1f} s wall; "
        f"{replay.seconds:.1f} s in the replay), {len(replay.store):,} nodes held"
        + (f", {keys:,} keys" if keys is not None else "")
    )
    print("RSS at 1/4, 1/2, 3/4, end: " + ", ".join(f"{m:,.0f}" for m in rss) + " MiB")
    print(f"root {root.hex()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
