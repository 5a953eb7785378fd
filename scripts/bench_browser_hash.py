"""Hash one large clip in the browser (the creator's desk, ``/creator``) and with ``ledger hash``,
side by side on the same file, and print both speeds and their ratio (issue 20 item 7: the browser
at >= 50 % of ``ledger hash``).

Creates a temporary file of ``--gb`` GB of random bytes (a repeated random block: incompressible,
and read from the page cache after the first pass), runs ``ledger hash FILE`` (the real command,
best of ``--runs``), then starts the real server (gunicorn, SQLite) and Debian's Chromium under
Playwright (``--chromium``, never a downloaded browser), opens ``/creator``, gives the file to its
clip input and times the page's own streamed SHA-256 (``static/app/clips.js`` ``hashFile``:
hash-wasm over ``File.stream()``), best of ``--runs``. Both digests must be equal. It prints the
ratio by wall time (what a person waits) and by CPU time (the command's, and every process of
the browser's: fairer on a shared, loaded host).

    python scripts/bench_browser_hash.py --gb 1
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_hash import GB, make_file, raw_sha256_gbps
from harness import children, cpu_seconds, database, gunicorn

TARGET = 0.5  # of `ledger hash`'s speed
_HASH_IN_PAGE = """async () => {
  const { hashFile } = await import('/assets/app/clips.js');
  const file = document.getElementById('clip-files').files[0];
  const start = performance.now();
  const digest = await hashFile(file, () => {});
  return [digest, (performance.now() - start) / 1000];
}"""


def ledger_hash(path: Path) -> tuple[str, float, float]:
    """The digest, wall seconds and CPU seconds of ``ledger hash PATH``."""
    ledger = Path(sys.executable).parent / "ledger"
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [str(ledger), "hash", str(path)], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    return out.stdout.split()[0], wall, used


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def tree_cpu() -> float:
    """CPU seconds of every process this script started (the browser's among them)."""
    return sum(cpu_seconds(p) for p in descendants(os.getpid()))


def browser_hash(url: str, path: Path, runs: int, chromium: str) -> tuple[str, float, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        page = browser.new_page()
        page.goto(url + "/creator")
        page.wait_for_selector("body[data-ready=yes]")
        # Not through the change event: the page would hash it once more on its own.
        page.evaluate(
            "document.getElementById('clip-files').replaceWith(Object.assign("
            "document.createElement('input'), {type: 'file', id: 'clip-files'}))"
        )
        page.set_input_files("#clip-files", str(path))
        results = []
        for _ in range(runs):
            before = tree_cpu()
            digest, seconds = page.evaluate(_HASH_IN_PAGE)
            results.append((digest, seconds, tree_cpu() - before))
        browser.close()
    digests = {d for d, _, _ in results}
    assert len(digests) == 1, digests
    return digests.pop(), min(s for _, s, _ in results), min(c for _, _, c in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of the clip, in GB")
    parser.add_argument("--runs", type=int, default=2, help="runs of each; the best is kept")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Debian's Chromium")
    args = parser.parse_args()
    size = int(args.gb * GB)
    print(f"hashlib.sha256, in memory   {raw_sha256_gbps():6.2f} GB/s (the ceiling, one core)")
    with tempfile.TemporaryDirectory(prefix="bench-browser-hash-") as tmp:
        clip = make_file(Path(tmp), "clip.bin", size, random_bytes=True)
        cli = [ledger_hash(clip) for _ in range(args.runs)]
        cli_digest, cli_s = cli[0][0], min(s for _, s, _ in cli)
        cli_cpu = min(c for _, _, c in cli)
        print(
            f"ledger hash                 {size / cli_s / GB:6.2f} GB/s ({cli_s:.2f} s;"
            f" {size / cli_cpu / GB:.2f} GB per CPU second)"
        )
        work = Path(tmp) / "server"
        work.mkdir()
        with database("sqlite", "", False, work) as url, gunicorn(url, work, 1, 2) as server:
            base = f"http://127.0.0.1:{server.base_port}"
            digest, web_s, web_cpu = browser_hash(base, clip, args.runs, args.chromium)
    assert digest == cli_digest, (digest, cli_digest)
    print(
        f"browser (/creator)          {size / web_s / GB:6.2f} GB/s ({web_s:.2f} s;"
        f" {size / web_cpu / GB:.2f} GB per CPU second)"
    )
    # Wall time is what a person waits; CPU time is the fairer figure on a shared, loaded host.
    for name, ratio in (("wall time", cli_s / web_s), ("CPU time", cli_cpu / web_cpu)):
        verdict = "meets" if ratio >= TARGET else "misses"
        print(f"browser / ledger hash, {name:9} {ratio:4.0%}  (target >= {TARGET:.0%}: {verdict})")


if __name__ == "__main__":
    main()
