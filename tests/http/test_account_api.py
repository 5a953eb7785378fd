"""``GET /v1/parties/{key_id}/account``: a party's account bundle through the real app on both
backends, verified with the core; refusals as problems."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from ledger.core import builders
from ledger.core.evidence.account import verify_account
from ledger.core.keys import SigningKey
from ledger.core.statements import SignedStatement
from ledger.server.service import LogService


def _problem(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.get_data()
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == code


def test_the_account_verifies_and_both_views_agree(
    client: FlaskClient,
    service: LogService,
    creator_key: SigningKey,
    buyer_key: SigningKey,
    make_grant: Callable[..., SignedStatement],
) -> None:
    service.append(
        [
            builders.party_register(creator_key, "creator"),
            builders.party_register(buyer_key, "buyer"),
        ]
    )
    items = [builders.Item(f"{i:064x}", 1, s) for i, s in enumerate((42, 57))]
    usd = make_grant(items=items)
    bhd = make_grant(items=items[:1], amount="0.125", currency="BHD")
    offer = make_grant(items=items[1:], amount="9", currency="EUR")  # never accepted
    service.append([usd, bhd, offer])
    service.append([builders.grant_accept(buyer_key, g.statement_hash) for g in (usd, bhd)])
    vkey = client.get("/v1/log").get_json()["verifier_key"]
    views = {}
    for role, key in (("earned", creator_key), ("owed", buyer_key)):
        resp = client.get(f"/v1/parties/{key.key_id}/account")
        assert resp.status_code == 200, resp.get_data()
        report = verify_account(resp.get_json(), vkey)
        assert report, report.failures
        assert report.statement is not None
        assert report.statement.to_json()["totals"] == {role: {"BHD": "0.088", "USD": "4.13"}}
        views[role] = [(ln.grant_seq, ln.amount, ln.currency) for ln in report.statement.lines]
    assert views["earned"] == views["owed"]
    empty = client.get(f"/v1/parties/{creator_key.key_id}/account?to=2000-01-01T00:00:00Z")
    assert verify_account(empty.get_json(), vkey)
    assert empty.get_json()["statement"]["grants"] == []


def test_refusals(client: FlaskClient, service: LogService, creator_key: SigningKey) -> None:
    service.append([builders.party_register(creator_key, "creator")])
    base = f"/v1/parties/{creator_key.key_id}/account"
    _problem(client.get(f"/v1/parties/{'ab' * 32}/account"), 404, "not_found")
    _problem(client.get(f"{base}?from=yesterday"), 400, "invalid_parameter")
    _problem(
        client.get(f"{base}?from=2027-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"),
        400,
        "invalid_parameter",
    )
    _problem(client.get(f"/v1/parties/{'AB' * 32}/account"), 400, "invalid_parameter")
