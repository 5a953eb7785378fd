"""Draw docs/scale.svg, the scale chart of docs/OPERATIONS.md, from scripts/bench_peers.py's
results: one bar per way of serving an operation (median rate of its runs, log scale), ours
beside Tessera's, with the server CPU per operation written on each bar.

    python scripts/scale_chart.py /work/peers-work/results.jsonl [--since 2026-12-07T21:19] \
        [--out docs/scale.svg]

Plain SVG written by hand (no plotting library), so that the picture is reproducible from the
JSON lines alone and diffable.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from bench_peers import run_cpu, run_rate  # scripts/, beside this file

#: (kind, system, label) in the order drawn; a group starts at each new kind.
BARS = [
    ("append", "ledger", "single appends, 16 clients (ours, gunicorn)"),
    ("append", "ledger-granian", "single appends, 16 clients (ours, granian)"),
    ("append", "tessera-tuned", "single appends, 16 clients (Tessera, 10 ms batches)"),
    ("tiles", "ledger", "full tiles from PostgreSQL (ours)"),
    ("tiles", "ledger-static", "full tiles, the app's static path (ours)"),
    ("tiles", "ledger-static-granian", "full tiles, static dir via granian (ours)"),
    ("tiles", "ledger-static-nginx", "full tiles, static dir via nginx (ours)"),
    ("tiles", "tessera", "full tiles (Tessera, Go file server)"),
    ("proofs", "ledger", "proofs built by our server"),
    ("proofs", "tessera-client-on-ledger-static", "proofs, Tessera's client on our app"),
    ("proofs", "tessera-client-on-ledger-static-granian", "proofs, Tessera's client via granian"),
    ("proofs", "tessera-client-on-ledger-static-nginx", "proofs, Tessera's client via nginx"),
    ("proofs", "tessera", "proofs, Tessera's client on Tessera"),
]
KIND_TITLES = {
    "append": "Appends (1,051-byte signed grants)",
    "tiles": "Full tile reads at 1,000,000 entries, 16 clients",
    "proofs": "Inclusion proofs at 1,000,000 entries, 16 clients",
}
WIDTH, LEFT, RIGHT, BAR_H, GAP, TOP = 1000, 330, 250, 20, 6, 40


#: Runs of one system this close to its last run count as one session (the chart shows the
#: latest session of each, so that a quiet re-run replaces a busy one).
LATEST = 10 * 60


def _seconds(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def medians(path: Path, since: str) -> dict[tuple[str, str], tuple[float, float, int]]:
    """(kind, system) -> (median rate, median CPU µs per operation, runs)."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        e = json.loads(line)
        if e.get("at", "") >= since and e["kind"] != "fill":
            runs[(e["kind"], e["system"])].append(e)
    out = {}
    for key, every in runs.items():
        # the latest session of each system: its runs within LATEST of its last one
        last = max(_seconds(e["at"]) for e in every)
        es = [e for e in every if _seconds(e["at"]) >= last - LATEST]
        rates, cpu = [run_rate(e) for e in es], [run_cpu(e) for e in es]
        out[key] = (statistics.median(rates), statistics.median(cpu), len(es))
    return out


def draw(figures: dict[tuple[str, str], tuple[float, float, int]], note: str) -> str:
    bars = [(k, s, label) for k, s, label in BARS if (k, s) in figures]
    rates = [figures[(k, s)][0] for k, s, _ in bars]
    low, high = math.floor(math.log10(min(rates))), math.ceil(math.log10(max(rates)))

    def x(rate: float) -> float:
        share = (math.log10(max(rate, 10.0**low)) - low) / (high - low)
        return LEFT + (WIDTH - LEFT - RIGHT) * share

    rows, y, kind = [], TOP, ""
    for k, s, label in bars:
        if k != kind:
            kind = k
            y += 14
            rows.append(f'<text x="10" y="{y}" class="h">{escape(KIND_TITLES[k])}</text>')
            y += 8
        rate, cpu, n = figures[(k, s)]
        ours = not s.startswith("tessera") or "on-ledger" in s
        rows.append(
            f'<text x="{LEFT - 8}" y="{y + 14}" class="l">{escape(label)}</text>'
            f'<rect x="{LEFT}" y="{y}" width="{x(rate) - LEFT:.1f}" height="{BAR_H}" '
            f'class="{"ours" if ours else "peer"}"/>'
            f'<text x="{x(rate) + 4:.1f}" y="{y + 14}" class="v">{rate:,.0f}/s · '
            f"{cpu:,.0f} µs CPU · {n} runs</text>"
        )
        y += BAR_H + GAP
    ticks = "".join(
        f'<line x1="{x(10**d):.1f}" y1="{TOP}" x2="{x(10**d):.1f}" y2="{y}" class="t"/>'
        f'<text x="{x(10**d):.1f}" y="{y + 14}" class="tl">{10**d:,}/s</text>'
        for d in range(low, high + 1)
    )
    height = y + 44
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" \
viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, sans-serif" font-size="12">
<style>.h{{font-weight:bold}} .l{{text-anchor:end}} .v{{fill:#222}} .ours{{fill:#2b6cb0}} \
.peer{{fill:#a0a0a0}} .t{{stroke:#ddd}} .tl{{text-anchor:middle;fill:#666;font-size:11px}}</style>
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" class="h" font-size="14">What one 2-CPU machine served (median rate, log \
scale; blue: Consent Ledger, grey: Tessera v1.0.4)</text>
{ticks}
{"".join(rows)}
<text x="10" y="{height - 8}" class="tl" style="text-anchor:start">{escape(note)}</text>
</svg>
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", type=Path, help="bench_peers.py's results.jsonl")
    p.add_argument("--since", default="", help="only runs at or after this UTC time")
    p.add_argument("--out", type=Path, default=Path(__file__).parent.parent / "docs" / "scale.svg")
    p.add_argument("--note", default="scripts/bench_peers.py, interleaved runs; "
                   "docs/BENCHMARKS.md has the command, the load and the commit")  # fmt: skip
    args = p.parse_args()
    args.out.write_text(draw(medians(args.results, args.since), args.note))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
