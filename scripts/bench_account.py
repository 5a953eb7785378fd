"""Benchmark GET /v1/parties/{key_id}/account: a statement over 100,000 grant items, computed by
the server and verified offline; targets under 2 s each (docs/ACCOUNTS.md, issue 23).

Builds a log through the real service (``LogService.append`` in batches, real database): a creator
and a buyer, ``--items`` items of 1 to 600 seconds signed as ``ledger grant`` signs them
(``builders.grants_for_items``: as many grants as 65,535-byte leaves need), prices alternating
per minute in USD, per minute in JPY and per clip in BHD, every grant accepted. Then it times, in
this process through the Flask app (batched reads, inclusion and map proofs, the statement and the
JSON rendering included):

- ``server``: ``GET /v1/parties/{creator}/account`` (target < 2 s for 100,000 items);
- ``verify``: ``ledger.core.evidence.account.verify_account`` on the bundle it returned, as
  ``ledger account`` runs it (JSON parsing included; target < 2 s);
- ``statement``: the core's ``account_statement`` alone over the bundle's entries.

    python scripts/bench_account.py                  # SQLite in a temporary directory
    python scripts/bench_account.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.core import builders
from ledger.core.accounts import account_statement
from ledger.core.encoding import b64_decode
from ledger.core.evidence.account import verify_account
from ledger.core.keys import SigningKey
from ledger.core.leaf import parse_leaf
from ledger.core.statements import SignedStatement
from ledger.server.app import create_app
from ledger.server.config import Config
from ledger.server.service import LogService
from ledger.sigverify import signature_check

PRICES = (("2.50", "USD", "per_minute"), ("150", "JPY", "per_minute"), ("0.125", "BHD", "per_clip"))


def _append(service: LogService, statements: list[SignedStatement]) -> None:
    for i in range(0, len(statements), 200):
        for result in service.append(statements[i : i + 200]):
            if isinstance(result, Exception):
                raise SystemExit(f"append refused: {result}")


def build_log(service: LogService, count: int) -> tuple[SigningKey, int]:
    """Fill the log; returns the creator's key and the number of grants."""
    creator, buyer = SigningKey.generate(), SigningKey.generate()
    _append(
        service,
        [builders.party_register(creator, "creator"), builders.party_register(buyer, "buyer")],
    )
    items = [builders.Item(f"{i:064x}", 10_000_000, i % 600 + 1) for i in range(count)]
    third = -(-count // 3)
    grants: list[SignedStatement] = []
    for n, (amount, currency, unit) in enumerate(PRICES):
        terms = builders.TermsSpec(amount=amount, currency=currency, unit=unit)
        part = items[n * third : (n + 1) * third]
        grants.extend(builders.grants_for_items(creator, buyer.key_id, part, terms))
    _append(service, grants)
    _append(service, [builders.grant_accept(buyer, g.statement_hash) for g in grants])
    return creator, len(grants)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
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
        t0 = time.perf_counter()
        creator, grants = build_log(ledger.service, args.items)
        print(
            f"log built: {args.items} items in {grants} grants in {time.perf_counter() - t0:.1f} s"
        )
        client = app.test_client()
        t0 = time.perf_counter()
        resp = client.get(f"/v1/parties/{creator.key_id}/account")
        server = time.perf_counter() - t0
        if resp.status_code != 200:
            raise SystemExit(f"GET account: {resp.status_code} {resp.get_data()[:300]!r}")
        data = resp.get_data()
        print(
            f"server    {server:6.2f} s for {args.items} items, {len(data) / 1e6:.1f} MB "
            "(target < 2 s)"
        )
        name, check = signature_check()
        t0 = time.perf_counter()
        report = verify_account(json.loads(data), ledger.verifier_key, check=check)
        verify = time.perf_counter() - t0
        assert report.statement is not None
        totals = report.statement.to_json()["totals"]
        print(
            f"verify    {verify:6.2f} s ({name}), ok={bool(report)} (target < 2 s); totals {totals}"
        )
        bundle = json.loads(data)
        leaves = [parse_leaf(b64_decode(e["leaf"]), check=check) for e in bundle["entries"]]
        t0 = time.perf_counter()
        account_statement(leaves, creator.key_id)
        print(f"statement {time.perf_counter() - t0:6.2f} s (the core's computation alone)")
        ledger.db.dispose()
        return 0 if report and server < 2 and verify < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
