"""Benchmark ``ledger hash``'s file hashing (ledger.content.hashing) against SHA-256 itself.

Creates a temporary file of ``--gb`` GB — sparse by default (reads come from the page cache as
zeros: this measures the hashing loop, not the disk), or filled with random bytes with
``--random`` (the first pass then also measures the disk unless the file stays cached) — hashes it
with the same code ``ledger hash`` runs, and prints GB/s next to the raw speed of
``hashlib.sha256`` on an in-memory buffer (the ceiling). With ``--jobs N`` it hashes N such files
on N threads.

    python scripts/bench_hash.py --gb 2
    python scripts/bench_hash.py --gb 1 --jobs 2 --random

Target: >= 1 GB/s per core (SHA-256 itself runs at about 1.5 GB/s on a CPU with the SHA
extensions; without them OpenSSL's SHA-256 is several times slower and caps this figure: the
script prints the in-memory ceiling and the fraction of it that ``ledger hash`` reaches).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.content.hashing import CHUNK_BYTES, FileToHash, hash_files

GB = 1_000_000_000
TARGET_GBPS_PER_CORE = 1.0


def raw_sha256_gbps(seconds: float = 2.0) -> float:
    """hashlib.sha256 over a cached 4 MiB buffer: the ceiling for one core."""
    buf = os.urandom(CHUNK_BYTES)
    h = hashlib.sha256()
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        h.update(buf)
        done += len(buf)
    return done / (time.perf_counter() - start) / GB


def make_file(folder: Path, name: str, size: int, random_bytes: bool) -> Path:
    path = folder / name
    with open(path, "wb") as f:
        if random_bytes:
            block = os.urandom(CHUNK_BYTES)
            for _ in range(size // len(block)):
                f.write(block)  # repeated random block: incompressible, cheap to create
            f.write(block[: size % len(block)])
        else:
            f.truncate(size)  # sparse: no disk blocks
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=2.0, help="size of each file, in GB")
    parser.add_argument("--jobs", type=int, default=1, help="files hashed at once, one each")
    parser.add_argument("--random", action="store_true", help="random bytes instead of sparse")
    args = parser.parse_args()
    size = int(args.gb * GB)

    ceiling = raw_sha256_gbps()
    print(f"hashlib.sha256, in memory      {ceiling:6.2f} GB/s per core")
    with tempfile.TemporaryDirectory(prefix="bench-hash-") as tmp:
        files = [
            FileToHash(make_file(Path(tmp), f"f{i}.bin", size, args.random), size)
            for i in range(args.jobs)
        ]
        start = time.perf_counter()
        results = list(hash_files(files, jobs=args.jobs))
        seconds = time.perf_counter() - start
    total = size * len(files)
    assert all(getattr(r, "bytes", None) == size for r in results), results
    gbps = total / seconds / GB
    kind = "random" if args.random else "sparse"
    print(
        f"ledger hash, {args.jobs} x {size / GB:.1f} GB {kind:<6} {gbps:6.2f} GB/s total,"
        f" {gbps / args.jobs:.2f} GB/s per job ({seconds:.1f} s)"
    )
    print(f"that is {100 * gbps / args.jobs / ceiling:.0f}% of in-memory SHA-256 on this machine")
    verdict = "meets" if gbps / args.jobs >= TARGET_GBPS_PER_CORE else "MISSES"
    print(f"target >= {TARGET_GBPS_PER_CORE:.1f} GB/s per core: {verdict} it", flush=True)


if __name__ == "__main__":
    main()
