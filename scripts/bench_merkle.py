"""Benchmark ledger.core.merkle over an in-memory store.

Builds a MemoryHashStore of ``--leaves`` leaves, then times proof generation and verification with
plain ``time.perf_counter`` loops over random leaf indexes and first-tree sizes (the second tree is
always the full one):

    python scripts/bench_merkle.py --leaves 1000000

Targets on the 2-core reference machine: >= 50,000 inclusion proofs/s generated and verified.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.core import merkle

BATCH = 65_536


def build(leaves: int) -> merkle.MemoryHashStore:
    store = merkle.MemoryHashStore()
    for start in range(0, leaves, BATCH):
        stop = min(start + BATCH, leaves)
        store.append_leaf_hashes([_leaf(i) for i in range(start, stop)])
    return store


def _leaf(i: int) -> bytes:
    return merkle.leaf_hash(i.to_bytes(8, "big"))


def report(name: str, leaves: int, ops: int, seconds: float) -> None:
    print(f"{name:<22} {leaves:>9} leaves  {ops / seconds:>10,.0f} ops/s", flush=True)


def bench_generation(store: merkle.MemoryHashStore, indexes: list[int], sizes: list[int]) -> None:
    n = store.size
    start = time.perf_counter()
    for i in indexes:
        merkle.inclusion_proof(n, i, store)
    report("inclusion_proof_gen", n, len(indexes), time.perf_counter() - start)

    start = time.perf_counter()
    for m in sizes:
        merkle.consistency_proof(m, n, store)
    report("consistency_proof_gen", n, len(sizes), time.perf_counter() - start)


def bench_verification(store: merkle.MemoryHashStore, indexes: list[int], sizes: list[int]) -> None:
    n = store.size
    root = merkle.tree_hash(n, store)
    # Proofs are prepared first so that only verification is timed.
    cases = [(i, _leaf(i), merkle.inclusion_proof(n, i, store)) for i in indexes]
    start = time.perf_counter()
    for i, h, proof in cases:
        merkle.verify_inclusion(i, n, h, proof, root)
    report("inclusion_verify", n, len(cases), time.perf_counter() - start)

    ccases = [(m, merkle.tree_hash(m, store), merkle.consistency_proof(m, n, store)) for m in sizes]
    start = time.perf_counter()
    for m, root1, proof in ccases:
        merkle.verify_consistency(m, n, proof, root1, root)
    report("consistency_verify", n, len(ccases), time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark ledger.core.merkle.")
    parser.add_argument("--leaves", type=int, default=1_000_000, help="tree size (default 1e6)")
    parser.add_argument("--ops", type=int, default=100_000, help="operations per figure")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    args = parser.parse_args(argv)
    if args.leaves < 1 or args.ops < 1:
        parser.error("--leaves and --ops must be positive")
    rng = random.Random(args.seed)

    start = time.perf_counter()
    store = build(args.leaves)
    print(f"{'build':<22} {args.leaves:>9} leaves  {time.perf_counter() - start:>10.2f} s")
    indexes = [rng.randrange(args.leaves) for _ in range(args.ops)]
    sizes = [rng.randrange(1, args.leaves + 1) for _ in range(args.ops)]
    bench_generation(store, indexes, sizes)
    bench_verification(store, indexes, sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
