"""Benchmark licence map version 2 against version 1 (docs/FORMAT.md §14.6), side by side.

Version 2 lists every grant under its creator's and its buyer's ``party_grants`` keys as well,
so each grant changes two more keys. This measures what that costs, in the same process and the
same run, alternating the versions over ``--rounds`` rounds (the median of each is printed), in
CPU seconds of this process (the machine is shared: wall-clock times move with others' load):

- ``derive``: the map of a log of ``--grants`` 1-item grants (between ``--parties`` registered
  parties) from scratch, as one version: what the first append after the upgrade does;
- ``append``: ``--singles`` more 1-item grants applied one per version to that map, as the
  server's single appends do.

    python scripts/bench_map_versions.py                  # 20,000 grants
    python scripts/bench_map_versions.py --grants 100000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.core import builders
from ledger.core.keys import SigningKey
from ledger.core.licmap import AuditedStatement, LicenceMap
from ledger.core.statements import SignedStatement

AT = datetime(2026, 6, 1, tzinfo=UTC)


def history(grants: int, parties: int) -> list[AuditedStatement]:
    """Registrations of ``parties`` keys, then ``grants`` 1-item grants between them."""
    keys = [SigningKey.from_seed(bytes([i % 256, i // 256]) * 16) for i in range(parties)]
    out: list[SignedStatement] = [
        builders.party_register(k, f"party {i}") for i, k in enumerate(keys)
    ]
    for n in range(grants):
        creator, buyer = keys[n % parties], keys[(n * 7 + 1) % parties]
        if buyer is creator:
            buyer = keys[(n + 1) % parties]
        item = builders.Item(sha256=uuid.uuid4().hex * 2, bytes=1, duration_s=1)
        out.append(
            builders.grant(
                creator, buyer.key_id, str(uuid.uuid4()), [item], builders.TermsSpec(), issued_at=AT
            )
        )
    return [AuditedStatement(s.statement, s.statement_hash) for s in out]


def run(entries: list[AuditedStatement], singles: int, version: int) -> tuple[float, float]:
    """Seconds to derive the map of all but the last ``singles`` entries, and microseconds per
    entry to apply those one per version."""
    base = len(entries) - singles
    licence_map = LicenceMap(version=version)
    start = time.process_time()
    licence_map.apply_statements(enumerate(entries[:base]))
    derive = time.process_time() - start
    start = time.process_time()
    for seq in range(base, len(entries)):
        licence_map.apply_statements([(seq, entries[seq])])
    return derive, (time.process_time() - start) / singles * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=20_000)
    parser.add_argument("--parties", type=int, default=100)
    parser.add_argument("--singles", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    entries = history(args.grants + args.singles, args.parties)
    results: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for version in (1, 2):
            results[version].append(run(entries, args.singles, version))
    derive = {v: statistics.median(r[0] for r in results[v]) for v in results}
    append = {v: statistics.median(r[1] for r in results[v]) for v in results}
    print(f"log: {args.parties} registrations, {args.grants:,} grants; median of {args.rounds}")
    for v in (1, 2):
        print(f"map v{v}: derive {derive[v]:.2f} s   append {append[v]:.1f} us/grant")
    print(f"v2/v1:  derive x{derive[2] / derive[1]:.2f}   append x{append[2] / append[1]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
