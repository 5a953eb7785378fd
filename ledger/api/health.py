"""Liveness and readiness."""

from __future__ import annotations

from flask.views import MethodView
from sqlalchemy.exc import DBAPIError

from ..core.errors import Unavailable
from .context import ledger
from .parsing import Blueprint
from .schemas import HealthSchema

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
        """The database is reachable."""
        try:
            ledger().db.ping()
        except DBAPIError as e:
            raise Unavailable("the database is not reachable") from e
        return {"status": "ready"}
