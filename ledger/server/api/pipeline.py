"""The per-request steps, defined once, for every way a request comes in.

A request reaches the server through Flask (views, hooks, error handlers) or through a fast path
in front of Flask (``fastpath.py``: single appends, cached tiles). Both run these steps, in this
order, from this module — the way Tessera wraps its cross-cutting steps around the one ``Add``
instead of around each entrance:

1. ``begin`` — the request id (the client's ``X-Request-ID`` if it is a safe token, else a new
   one) and the start time;
2. ``admit`` — the client's rate limit (``RateLimits.check``), for a request that matched a route;
3. ``body_limit`` — the most body bytes the route takes (413 ``payload_too_large`` beyond it,
   before anything is read; ``body.read_body`` enforces it while reading);
4. ``ready`` — the database gate (``ledger.server.readiness``): a request that reads or writes
   the log waits for the database to be prepared, 503 ``unavailable`` while it is away;
5. the work — the view, or the fast path's own;
6. ``fail`` — any error becomes its problem+json (``problems.problem_for``: rendered and logged
   once, whichever path met it);
7. ``finish`` — the ``X-Request-ID`` header, one access-log line (``logs.access_fields``, the one
   list of its fields) and the request metrics, before the answer is sent.

``init_app`` adapts Flask's hooks to the steps; a fast path calls them itself. A new step goes
here and nowhere else; tests/http/test_fastpath.py sends the same requests both ways and compares
the bytes, log lines and metrics they leave.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request

from ledger.core.errors import PayloadTooLarge
from ledger.server import logs
from ledger.server.api.problems import PROBLEM_MEDIA_TYPE, encode_problem, problem_for
from ledger.server.metrics import Metrics
from ledger.server.ratelimit import RateLimits

Answer = tuple[int, list[tuple[str, str]], bytes]

#: Endpoints answered without the database: liveness, the API's documents (and ``/docs``, the
#: explorer's assets), and the metrics (which
#: report ``ledger_database_up`` themselves). Every other routed request passes the gate first,
#: but for the cached full tiles the tile fast path answers: immutable, and cached only after a
#: request that passed it.
WITHOUT_DATABASE = frozenset(
    {
        "health.Healthz",
        "api-docs.openapi_json",
        "web.docs",
        "web.static",
        "metrics.Metrics",
        "static",
    }
)


@dataclass(slots=True)
class Passage:
    """One request on its way through the steps: what its access line and metrics report."""

    method: str
    path: str
    remote_addr: str | None
    request_id: str
    started: float
    #: The matched route rule (``/v1/entries/<seq>``): bounded, unlike the path.
    route: str = "unmatched"
    #: The problem's code when the request failed.
    code: str | None = None


class RequestPipeline:
    """The steps of one app: its rate limits, body limits and metrics."""

    def __init__(
        self,
        *,
        limits: RateLimits | None,
        metrics: Metrics,
        ready: Callable[[], None],
        body_limit: int,
        body_limits: Mapping[str, int],
    ) -> None:
        self.limits = limits
        self.metrics = metrics
        #: Step 4: returns once the database is prepared; raises Unavailable (or
        #: LogIdentityMismatch) while it is not.
        self.ready = ready
        self.default_body_limit = body_limit
        self.body_limits = dict(body_limits)

    @property
    def largest_body(self) -> int:
        return max(self.default_body_limit, *self.body_limits.values())

    def begin(
        self, method: str, path: str, remote_addr: str | None, request_id_header: str | None
    ) -> Passage:
        """Step 1: the request's id and start time."""
        request_id = logs.request_id_from(request_id_header)
        return Passage(method, path, remote_addr, request_id, time.perf_counter())

    def admit(self, passage: Passage) -> None:
        """Step 2: count the request against its client's rate limit; RateLimited beyond it."""
        if self.limits is not None:
            self.limits.check(passage.method, passage.path, passage.remote_addr or "unknown")

    def body_limit(self, path: str) -> int:
        """Step 3: the most body bytes ``path`` takes (single statements get the small limit;
        only batch and evidence requests get more)."""
        return self.body_limits.get(path, self.default_body_limit)

    def fail(self, error: Exception, passage: Passage) -> Answer:
        """Step 6, outside Flask: ``error`` as its problem+json answer."""
        body, headers = problem_for(error)
        passage.code = body["code"]
        headers.append(("Content-Type", PROBLEM_MEDIA_TYPE))
        return body["status"], headers, encode_problem(body, passage.request_id)

    def finish(self, passage: Passage, status: int, response_bytes: int | None) -> None:
        """Step 7: the access line and the metrics of the finished request."""
        fields = logs.access_fields(passage, status, response_bytes)
        logs.log_access(fields)
        self.metrics.observe_request(fields)

    def init_app(self, app: Flask) -> None:
        """Run the steps around every request Flask answers. Call before any other hook: every
        later hook and error handler then has the request id."""

        @app.before_request
        def begin() -> None:
            req, ctx_g = logs.current(request), logs.current(g)
            ctx_g.passage = passage = self.begin(
                req.method, req.path, req.remote_addr, req.environ.get(logs.REQUEST_ID_ENVIRON)
            )
            ctx_g.request_id = passage.request_id
            rule = req.url_rule
            if rule is not None:  # no route (404, 405, redirects): nothing to spend on
                passage.route = rule.rule
                self.admit(passage)
            limit = self.body_limit(req.path)
            length = req.content_length
            if length is not None and length > limit:
                raise PayloadTooLarge(f"the request body may be at most {limit} bytes")
            req.max_content_length = limit
            # Not for requests the router refused (404, 405) nor for OPTIONS (Flask answers them
            # from the routes), nor for those that need no database.
            if (
                rule is not None
                and req.method != "OPTIONS"
                and req.endpoint not in WITHOUT_DATABASE
            ):
                self.ready()

        @app.after_request  # registered first, so it runs after every other after_request hook
        def finish(response: Response) -> Response:
            req, ctx_g = logs.current(request), logs.current(g)
            passage: Passage | None = ctx_g.get("passage")
            if passage is None:  # a hook registered before ours failed the request
                passage = self.begin(req.method, req.path, req.remote_addr, None)
                ctx_g.request_id = passage.request_id
                if req.url_rule is not None:
                    passage.route = req.url_rule.rule
            passage.code = ctx_g.get("problem_code")
            response.headers[logs.REQUEST_ID_HEADER] = passage.request_id
            self.finish(passage, response.status_code, response.content_length)
            return response


def wsgi_passage(pipeline: RequestPipeline, environ: dict[str, Any], route: str) -> Passage:
    """Step 1 for a request answered in front of Flask, from its WSGI environ."""
    passage = pipeline.begin(
        environ["REQUEST_METHOD"],
        environ.get("PATH_INFO", ""),
        environ.get("REMOTE_ADDR"),
        environ.get(logs.REQUEST_ID_ENVIRON),
    )
    passage.route = route
    return passage
