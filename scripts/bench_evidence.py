"""Benchmark POST /v1/evidence: one bundle for 10,000 clips, target under 5 s on one machine.

Builds a log through the real service (``LogService.append`` in batches, real database): a creator
and a buyer, ``--clips`` clips in grants of ``--per-grant`` clips each, every grant accepted; every
tenth grant is revocable and revoked, every seventh has expired; a tenth of the clips asked about
were never granted. Then it times, in this process through the Flask app (request parsing, the
batched reads, proofs, verdicts and JSON rendering included):

- ``evidence``: ``POST /v1/evidence`` for all clips (target < 5 s for 10,000);
- ``verify``: the offline verifier on the bundle it returned (``ledger.core.evidence``).

    python scripts/bench_evidence.py                  # SQLite in a temporary directory
    python scripts/bench_evidence.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.core import builders
from ledger.core.evidence import verify_bundle
from ledger.core.keys import SigningKey
from ledger.core.statements import SignedStatement
from ledger.server.app import create_app
from ledger.server.config import Config
from ledger.server.service import LogService
from ledger.sigverify import signature_check


def _append(service: LogService, statements: list[SignedStatement]) -> None:
    for i in range(0, len(statements), 1000):
        for result in service.append(statements[i : i + 1000]):
            if isinstance(result, Exception):
                raise SystemExit(f"append refused: {result}")


def build_log(service: LogService, clips: list[str], per_grant: int) -> SigningKey:
    """Fill the log; returns the buyer's key."""
    creator, buyer = SigningKey.generate(), SigningKey.generate()
    _append(
        service,
        [builders.party_register(creator, "creator"), builders.party_register(buyer, "buyer")],
    )
    now = datetime.now(UTC).replace(microsecond=0)
    grants: list[SignedStatement] = []
    for n, start in enumerate(range(0, len(clips), per_grant)):
        items = [builders.Item(c, 10_000_000, 60) for c in clips[start : start + per_grant]]
        terms = builders.TermsSpec(
            start=now - timedelta(days=30),
            end=now - timedelta(days=1) if n % 7 == 6 else None,
            revocable=n % 10 == 9,
            notice_days=0 if n % 10 == 9 else None,
        )
        grants.append(builders.grant(creator, buyer.key_id, str(uuid.uuid4()), items, terms))
    _append(service, grants)
    _append(service, [builders.grant_accept(buyer, g.statement_hash) for g in grants])
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    revokes = [builders.grant_revoke(creator, g.statement_hash, soon) for g in grants[9::10]]
    _append(service, revokes)
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)  # take effect
    return buyer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10_000)
    parser.add_argument("--per-grant", type=int, default=100)
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(
            database_url=args.database_url or f"sqlite:///{tmp}/bench.db",
            log_key_file=Path(tmp) / "log-key.pem",
            origin="bench.example/log",
        )
        app = create_app(config)
        ledger = app.extensions["ledger"]
        granted = [f"{i:064x}" for i in range(args.clips - args.clips // 10)]
        asked = granted + [f"{i:064x}" for i in range(10**9, 10**9 + args.clips // 10)]
        t0 = time.perf_counter()
        buyer = build_log(ledger.service, granted, args.per_grant)
        print(f"log built: {len(granted)} clips granted in {time.perf_counter() - t0:.1f} s")
        client = app.test_client()
        body = {"buyer": buyer.key_id, "use": "ai_training", "content": asked}
        t0 = time.perf_counter()
        resp = client.post("/v1/evidence", json=body)
        elapsed = time.perf_counter() - t0
        bundle = resp.get_json()
        if resp.status_code != 200:
            raise SystemExit(f"POST /v1/evidence: {resp.status_code} {bundle}")
        licensed = sum(1 for item in bundle["items"] if item["licensed"])
        print(
            f"evidence  {elapsed:6.2f} s for {len(asked)} clips, {len(bundle['entries'])} entries,"
            f" {licensed} licensed, {len(resp.data) / 1e6:.1f} MB  (target < 5 s for 10,000)"
        )
        name, check = signature_check()
        t0 = time.perf_counter()
        report = verify_bundle(bundle, ledger.verifier_key, check=check)
        elapsed = time.perf_counter() - t0
        print(f"verify    {elapsed:6.2f} s ({name}), ok={bool(report)}")
        ledger.db.dispose()
        return 0 if report else 1


if __name__ == "__main__":
    sys.exit(main())
