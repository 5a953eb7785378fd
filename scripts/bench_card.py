"""Benchmark ``ledger card`` (and ``ledger verify --card``) on a big dataset: issue 22 item 5,
"a card for 100,000 items in under 10 s".

Builds a bundle for ``--clips`` clips (default 100,000) in grants of ``--per-grant`` clips from an
in-memory log (``bench_report.make_bundle``: half the grants accepted, so half the items are
licensed and half listed as not licensed), writes it and a CSV manifest naming every clip to a
temporary folder, then runs, for each format, the real command as a user does
(``ledger card BUNDLE --manifest M --format F --include-unlicensed -o CARD``, a new process,
wall-clock seconds including the interpreter's start) and ``ledger verify BUNDLE --card CARD``.
Each line gives the wall time, the card's size and, for ``card``, the verdict of the target.

    python scripts/bench_card.py
    python scripts/bench_card.py --clips 10000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_report import make_bundle

from ledger.core.evidence import load_bundle

TARGET_SECONDS = 10.0


def _ledger(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    command = [sys.executable, "-m", "ledger.cli", *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--per-grant", type=int, default=400)
    args = parser.parse_args()
    data, vkey = make_bundle(args.clips, args.per_grant)
    items = [item["sha256"] for item in load_bundle(data)["items"]]
    with tempfile.TemporaryDirectory(prefix="bench-card-") as tmp:
        bundle, manifest = Path(tmp, "bundle.json"), Path(tmp, "dataset.csv")
        bundle.write_bytes(data)
        rows = [f"{sha},1000000,60,video/mp4,clips/{n:06d}.mp4" for n, sha in enumerate(items)]
        manifest.write_text("sha256,bytes,duration_s,media_type,path\n" + "\n".join(rows) + "\n")
        print(f"bundle   {args.clips:,} clips, {len(data):,} bytes; manifest {len(rows):,} rows")
        failed = False
        for fmt in ("croissant", "spdx"):
            card = Path(tmp, f"card-{fmt}.json")
            seconds, done = _ledger(
                "card", str(bundle), "--manifest", str(manifest), "--format", fmt,
                "--include-unlicensed", "--log-key", vkey, "-o", str(card),
            )  # fmt: skip
            if done.returncode != 0:
                print(done.stdout, done.stderr)
                return 1
            met = "met" if seconds < TARGET_SECONDS else "MISSED"
            size = card.stat().st_size
            print(
                f"card     {fmt:<9} {seconds:6.2f} s wall  {size / 1e6:7.1f} MB"
                f"  (target < {TARGET_SECONDS:.0f} s: {met})"
            )
            failed |= seconds >= TARGET_SECONDS
            seconds, done = _ledger("verify", str(bundle), "--card", str(card), "--log-key", vkey)
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-2000:])
                return 1
            print(f"verify   {fmt:<9} {seconds:6.2f} s wall  (the bundle, then the card's claims)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
