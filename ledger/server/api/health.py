"""Liveness and readiness."""

from __future__ import annotations

from flask.views import MethodView
from sqlalchemy.exc import DBAPIError

from ledger.core.errors import Unavailable
from ledger.server.api.context import read_session
from ledger.server.api.parsing import Blueprint
from ledger.server.api.schemas import HealthSchema
from ledger.server.reads.published import signed_size

blp = Blueprint("health", __name__, url_prefix="/", description="Health checks")


@blp.route("/healthz")
class Healthz(MethodView):
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}


@blp.route("/readyz")
class Readyz(MethodView):
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, str]:
        """The log's database answers: reachable, prepared for this log, and its tables are
        there; 503 with a problem that says why otherwise."""
        try:
            with read_session() as session:
                signed_size(session)  # one indexed read of the log's own tables
        except DBAPIError as e:
            raise Unavailable("the log's database is not reachable or not set up") from e
        return {"status": "ready"}
