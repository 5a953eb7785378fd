"""Benchmark ``ledger report`` on a big bundle: verify again, build the model, render HTML and PDF.

Builds a bundle for ``--clips`` clips (default 10,000) in grants of ``--per-grant`` clips from an
in-memory log (``ledger.core.memlog``: no database; the report never touches one): half the grants
accepted, so half the verdicts are "licensed" and half "not_accepted". Then it times, as CPU
seconds of this process:

- ``build``: ``build_report`` (strict JSON parse, the offline verifier, the report model);
- ``html`` and ``pdf``: each renderer, with the size of what it wrote and the PDF's page count.

There is no hard target in the issue; the aim is that a 10,000-clip report takes seconds, not
minutes, and a PDF of about 40 clips a page.

    python scripts/bench_report.py
    python scripts/bench_report.py --clips 100000 --per-grant 400
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pypdf import PdfReader

from ledger.core import builders
from ledger.core.evidence import EvidenceQuery
from ledger.core.keys import SigningKey
from ledger.core.leaf import micros_from_datetime
from ledger.core.memlog import MemoryLog
from ledger.core.note import NoteSigner
from ledger.report import build_report, render

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def make_bundle(clips: int, per_grant: int) -> tuple[bytes, str]:
    creator, buyer = SigningKey.generate(), SigningKey.generate()
    log = MemoryLog(NoteSigner.from_private_key("bench.example/log", Ed25519PrivateKey.generate()))
    log.add(builders.party_register(creator, "Creator", issued_at=T0), T0)
    log.add(builders.party_register(buyer, "Buyer", issued_at=T0), T0 + timedelta(seconds=1))
    hashes = [f"{i:064x}" for i in range(clips)]
    terms = builders.TermsSpec(uses=("ai_training",), revocable=True, notice_days=30)
    grants = []
    for n, start in enumerate(range(0, clips, per_grant)):
        items = [builders.Item(h, 1_000_000, 60) for h in hashes[start : start + per_grant]]
        grant = builders.grant(creator, buyer.key_id, str(uuid.uuid4()), items, terms, issued_at=T0)
        log.add(grant, T0 + timedelta(minutes=n + 1))
        grants.append(grant)
    for n, grant in enumerate(grants[: len(grants) // 2]):
        accept = builders.grant_accept(buyer, grant.statement_hash, issued_at=T0)
        log.add(accept, T0 + timedelta(days=1, seconds=n))
    query = EvidenceQuery(buyer.key_id, "ai_training", micros_from_datetime(T0 + timedelta(days=2)))
    return log.bundle(query, hashes).to_bytes(), log.verifier_key


def timed(what: Callable[[], Any]) -> tuple[Any, float]:
    start = time.process_time()
    result = what()
    return result, time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10_000)
    parser.add_argument("--per-grant", type=int, default=400)
    args = parser.parse_args()
    data, vkey = make_bundle(args.clips, args.per_grant)
    print(f"bundle   {args.clips:,} clips, {len(data):,} bytes")
    report, seconds = timed(lambda: build_report(data, bundle_name="bench.json", log_key=vkey))
    print(f"build    {seconds:6.2f} s CPU  (verified: {report.ok})")
    html, seconds = timed(lambda: render(report, "html"))
    print(f"html     {seconds:6.2f} s CPU  {len(html):,} bytes")
    pdf, seconds = timed(lambda: render(report, "pdf"))
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    print(f"pdf      {seconds:6.2f} s CPU  {len(pdf):,} bytes, {pages:,} pages")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
