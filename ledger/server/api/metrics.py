"""Prometheus metrics."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView

from ledger.server import metrics
from ledger.server.api.parsing import Blueprint
from ledger.server.extension import current_ledger

blp = Blueprint("metrics", __name__, url_prefix="/", description="Monitoring")


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.response(
        200,
        content_type="text/plain; version=0.0.4; charset=utf-8",
        description="Prometheus text exposition (see docs/OPERATIONS.md for the metrics)",
    )
    def get(self) -> Response:
        """Prometheus metrics: appends, rejections, latency, tree size, checkpoint age."""
        exposition = current_ledger().metrics.exposition()
        return Response(exposition, content_type=metrics.CONTENT_TYPE)
