"""Benchmark the licence map (ledger.core.vmap, ledger.core.licmap) in memory, one core.

For each size N (``--sizes``), builds a map of N random content keys from scratch in one version
(the root computation an audit does), then times, on top of it:

* single-key updates (one key per version, half new keys, half existing ones growing);
* batched updates (``--batch`` keys per version);
* the licence map's own work per statement: signed one-item grants applied one per version
  (a single append) and ``--batch`` per version (a batch append), and grants of ``--items``
  items one per version (a large grant);
* proofs: generation, size in bytes and verification, for present and absent keys;

All times are CPU time of this one process (``time.process_time``), not wall time. And, side by
side, the log's own in-process append work per statement: the RFC 9162 leaf hash of
the entry's leaf bytes and the Merkle store's append (``ledger.core.merkle``), with the ratio.

    python scripts/bench_map.py --sizes 1000 100000 1000000

The targets (issue 18): with the map, the server keeps >= 1,000 single appends/s and >= 5,000
batched statements/s, and the map costs at most 20 % of that: 200 us per single append and 40 us
per batched statement. Figures and the machine: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.core import builders, merkle
from ledger.core.keys import SigningKey
from ledger.core.leaf import GENESIS_PREV_HASH, Leaf
from ledger.core.licmap import LicenceMap
from ledger.core.statements import SignedStatement
from ledger.core.vmap import MemoryNodeStore, SparseMerkleMap, verify_map_proof

CREATOR = SigningKey.from_seed(b"\x51" * 32)
BUYER = SigningKey.from_seed(b"\x52" * 32)
AT = datetime(2026, 6, 1, tzinfo=UTC)


def _clock() -> float:
    """CPU seconds of this process: on a shared machine, other processes' load does not count
    (wall-clock times of the same code moved by 2-3x between runs minutes apart here)."""
    return time.process_time()


def timed(func: Callable[[], object]) -> float:
    start = _clock()
    func()
    return _clock() - start


def line(name: str, size: int, *parts: str) -> None:
    print(f"{name:<34} {size:>9,} keys  " + "  ".join(parts), flush=True)


def grants(count: int, items: int) -> list[SignedStatement]:
    out = []
    for _ in range(count):
        content = [
            builders.Item(sha256=os.urandom(32).hex(), bytes=1, duration_s=1) for _ in range(items)
        ]
        signed = builders.grant(
            CREATOR, BUYER.key_id, str(uuid.uuid4()), content, builders.TermsSpec(), issued_at=AT
        )
        _ = signed.statement_hash  # the log has computed it already when the map sees it
        out.append(signed)
    return out


def leaf_bytes(signed: SignedStatement) -> bytes:
    return Leaf(0, 0, GENESIS_PREV_HASH, signed).to_bytes()


def log_append_us(leaves: list[bytes]) -> float:
    """The log's own Merkle work per entry: RFC 9162 leaf hash and the hash store's append."""
    store = merkle.MemoryHashStore()
    seconds = timed(lambda: [store.append_leaf_hash(merkle.leaf_hash(leaf)) for leaf in leaves])
    return seconds / len(leaves) * 1e6


def core_append_us(statements: list[SignedStatement]) -> float:
    """The pure core's own work per appended statement, as the server does it: parse and verify
    the envelope (strict JSON rules, the statement schema, the Ed25519 signature), build the
    leaf, hash it (RFC 9162) and append it to the Merkle store. No HTTP, no database."""
    envelopes = [s.to_json() for s in statements]
    store = merkle.MemoryHashStore()
    prev = GENESIS_PREV_HASH

    def run() -> None:
        nonlocal prev
        for seq, envelope in enumerate(envelopes):
            leaf = Leaf(seq, seq, prev, SignedStatement.from_json(envelope)).to_bytes()
            prev = merkle.leaf_hash(leaf)
            store.append_leaf_hash(prev)

    return timed(run) / len(envelopes) * 1e6


def bench_size(
    size: int, args: argparse.Namespace, pools: dict[str, list[SignedStatement]]
) -> None:
    store = MemoryNodeStore()
    tree = SparseMerkleMap(store)
    keys = [b"\x01" + os.urandom(32) for _ in range(size)]
    wall = time.perf_counter()
    seconds = timed(lambda: tree.append_values(1, dict.fromkeys(keys, bytes(8))))
    wall = time.perf_counter() - wall
    line(
        "build from scratch (one version)",
        size,
        f"{size / seconds:>10,.0f} keys/s",
        f"{seconds:.2f} s CPU, {wall:.2f} s wall",
    )
    version = 1

    # Single-key updates: half new keys, half existing keys whose value grows by one seq.
    ops = args.ops
    updates = [b"\x01" + os.urandom(32) if i % 2 else random.choice(keys) for i in range(ops)]
    start = _clock()
    for key in updates:
        version += 1
        tree.append_values(version, {key: version.to_bytes(8, "big")})
    seconds = _clock() - start
    line(
        "single-key updates",
        size,
        f"{ops / seconds:>10,.0f} updates/s",
        f"{seconds / ops * 1e6:.1f} us each",
    )

    batch_seconds = []
    for _ in range(args.batches):
        batch = {b"\x01" + os.urandom(32): bytes(8) for _ in range(args.batch // 2)}
        batch.update({random.choice(keys): bytes(8) for _ in range(args.batch // 2)})
        version += 1
        batch_seconds.append(timed(lambda b=batch, v=version: tree.append_values(v, b)))
    per_key = sum(batch_seconds) / (args.batches * args.batch)
    line(
        f"batched updates ({args.batch}/version)",
        size,
        f"{1 / per_key:>10,.0f} keys/s",
        f"{per_key * 1e6:.1f} us per key",
    )

    bench_licence_map(LicenceMap(store, size=version), size, args, pools)
    bench_proofs(tree, keys, args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    line("memory", size, f"{len(store.nodes):,} nodes stored", f"peak RSS so far {peak:,.0f} MiB")


def bench_licence_map(
    licence_map: LicenceMap,
    size: int,
    args: argparse.Namespace,
    pools: dict[str, list[SignedStatement]],
) -> None:
    """The licence map's own work per statement, beside the log's own Merkle work."""
    singles = pools["single"]
    start = _clock()
    for signed in singles:
        licence_map.apply_statements([(licence_map.size, signed)])
    single_us = (_clock() - start) / len(singles) * 1e6
    log_us = log_append_us(pools["single_leaves"])
    line(
        "1-item grant, one per version",
        size,
        f"{1e6 / single_us:>10,.0f} statements/s",
        f"{single_us:.1f} us each",
        f"log Merkle work {log_us:.1f} us: x{single_us / log_us:.1f}",
        f"core append work {args.core_single:.0f} us: {single_us / args.core_single:.0%}",
        "budget 200 us",
    )

    batched = pools["batched"]
    start = _clock()
    for first in range(0, len(batched), args.batch):
        chunk = batched[first : first + args.batch]
        base = licence_map.size
        licence_map.apply_statements((base + i, s) for i, s in enumerate(chunk))
    batch_us = (_clock() - start) / len(batched) * 1e6
    line(
        f"1-item grants, {args.batch}/version",
        size,
        f"{1e6 / batch_us:>10,.0f} statements/s",
        f"{batch_us:.1f} us each",
        f"x{batch_us / log_us:.1f} the log's Merkle work",
        f"{batch_us / args.core_single:.0%} of the core append work",
        "budget 40 us",
    )

    large = pools["large"]
    start = _clock()
    for signed in large:
        licence_map.apply_statements([(licence_map.size, signed)])
    large_us = (_clock() - start) / len(large) * 1e6
    large_log_us = log_append_us(pools["large_leaves"])
    line(
        f"{args.items}-item grant, one per version",
        size,
        f"{1e6 / large_us:>10,.0f} grants/s",
        f"{large_us:,.0f} us each",
        f"log Merkle work {large_log_us:.1f} us: x{large_us / large_log_us:.0f}",
        f"core append work {args.core_large:,.0f} us: {large_us / args.core_large:.0%}",
    )


def bench_proofs(tree: SparseMerkleMap, keys: list[bytes], args: argparse.Namespace) -> None:
    """Proofs against the latest root: present and absent keys."""
    size = len(keys)
    root = tree.root
    probes = random.sample(keys, min(args.proofs // 2, len(keys)))
    probes += [b"\x01" + os.urandom(32) for _ in range(args.proofs // 2)]
    start = _clock()
    proofs = [tree.prove(key).to_bytes() for key in probes]
    gen = _clock() - start
    start = _clock()
    for key, proof in zip(probes, proofs, strict=True):
        verify_map_proof(root, key, proof)
    ver = _clock() - start
    sizes = [len(p) for p in proofs]
    line(
        "proofs",
        size,
        f"{len(proofs) / gen:>10,.0f} generated/s",
        f"verify {ver / len(proofs) * 1e6:.1f} us each",
        f"size mean {statistics.mean(sizes):.0f} B, max {max(sizes)} B",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument("--ops", type=int, default=2000, help="single-key updates")
    parser.add_argument("--batch", type=int, default=1000, help="keys or statements per batch")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--items", type=int, default=300, help="items of the large grants")
    parser.add_argument("--large", type=int, default=10, help="large grants applied")
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    random.seed(args.seed)
    print(
        f"signing {args.batch * 3} one-item grants and {args.large} of {args.items} items ...",
        flush=True,
    )
    pools: dict[str, list[SignedStatement]] = {
        "single": grants(args.batch, 1),
        "batched": grants(args.batch * 2, 1),
        "large": grants(args.large, args.items),
    }
    leaves = {
        "single_leaves": [leaf_bytes(s) for s in pools["single"]],
        "large_leaves": [leaf_bytes(s) for s in pools["large"]],
    }
    args.core_single = core_append_us(pools["single"])
    args.core_large = core_append_us(pools["large"])
    print(
        f"core append work per statement (parse, verify, leaf, Merkle): {args.core_single:.0f} us"
        f" for a 1-item grant, {args.core_large:,.0f} us for a {args.items}-item grant",
        flush=True,
    )
    for size in args.sizes:
        bench_size(size, args, {**pools, **leaves})  # type: ignore[dict-item]
    return 0


if __name__ == "__main__":
    sys.exit(main())
