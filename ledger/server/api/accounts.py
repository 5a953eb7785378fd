"""Statements of account (docs/ACCOUNTS.md), with the entries and proofs they rest on."""

from __future__ import annotations

import json

from flask import Response
from flask.views import MethodView

from ledger.core.evidence import gc_paused
from ledger.core.licensing import parse_instant
from ledger.server.api.context import HEX64_PATTERN, hex64, ledger, path_parameter, read_session
from ledger.server.api.parsing import Blueprint
from ledger.server.api.schemas import AccountArgs
from ledger.server.reads import accounts as account_reads
from ledger.server.reads.evidence import LogIdentity

blp = Blueprint("accounts", __name__, url_prefix="/v1", description="Statements of account")


@blp.route(
    "/parties/<key_id>/account",
    parameters=[path_parameter("key_id", HEX64_PATTERN, "a key id: SHA-256 of the raw key")],
)
class Account(MethodView):
    @blp.arguments(AccountArgs, location="query")
    @blp.response(200, description="an account bundle (docs/ACCOUNTS.md §5)")
    def get(self, args: dict[str, str], key_id: str) -> Response:
        """What the party earned and owes over [from, to), with the entries and proofs."""
        lg = ledger()
        start, end = args.get("from_"), args.get("to")
        # A statement over 100,000 items makes several objects per item and keeps them until
        # the body is written: nothing for the cyclic collector to find (as the verifier does).
        with gc_paused():
            with read_session() as session:
                bundle = account_reads.account_bundle(
                    session,
                    LogIdentity(lg.origin, lg.verifier_key),
                    key_id=hex64(key_id, "key_id"),
                    start=None if start is None else parse_instant(start, "from"),
                    end=None if end is None else parse_instant(end, "to"),
                    witnessed=lg.witnessed,
                    map_nodes=lg.map_nodes,
                )
            # What flask.json.dumps writes (sorted keys, ASCII), without its cycle check: a
            # bundle of 100,000 items is 100,000 small objects, each checked in vain.
            body = json.dumps(bundle.to_json(), sort_keys=True, check_circular=False)
        return Response(body, mimetype="application/json")
