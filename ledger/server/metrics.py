"""Prometheus metrics, served at ``/metrics``.

Counted in the app (per process; summed over gunicorn workers in multiprocess mode):

- ``ledger_appends_total{type}`` statements committed to the log, by statement type;
- ``ledger_rejections_total{code}`` refused requests and refused batch items, by problem code;
- ``ledger_database_connections_opened_total`` connections the app's pool opened to the database,
  each one a new PostgreSQL server process: it rises steadily under load when the pool is smaller
  than the requests served at once (``LEDGER_DB_POOL_SIZE``), and when dead connections are
  replaced (docs/OPERATIONS.md);
- ``ledger_static_objects_total{store,outcome}`` immutable objects the static publisher wrote
  (``written``), found already there with the same bytes (``duplicate``: a round done again after
  it was cut short) or with other bytes (``conflict``: never overwritten; alert on any);
- ``ledger_http_requests_total{method,route,status}`` and
  ``ledger_http_request_duration_seconds{method,route}`` (a histogram). ``route`` is the matched
  route rule (``/v1/entries/<entry_seq:seq>``), never the raw path, so the label set stays bounded.

Read from the database at scrape time (so every worker and host reports the same, current value):

- ``ledger_tree_size`` the size of the latest signed checkpoint;
- ``ledger_checkpoint_age_seconds`` seconds since that checkpoint was signed (the log signs one per
  append transaction, so on an idle log this grows: alert on it together with traffic);
- ``ledger_database_up`` 1 if that read succeeded, else 0.

Multiprocess mode: when ``PROMETHEUS_MULTIPROC_DIR`` is set (``gunicorn.conf.py`` sets it before
any worker starts and cleans it up), each worker writes its samples to files there and the worker
that answers a scrape aggregates them all. Without it, each process reports only its own counts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from ledger.core.errors import LedgerError
from ledger.core.statements import SignedStatement
from ledger.server.storage import repository as repo
from ledger.server.storage.db import Database

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The media type of the text exposition (``Metrics.exposition``).
CONTENT_TYPE = CONTENT_TYPE_LATEST
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
log = logging.getLogger(__name__)
# The *_created series only add noise (and files in multiprocess mode).
disable_created_metrics()  # type: ignore[no-untyped-call]


class LogStateCollector(Collector):
    """Tree size and checkpoint age, read from the database when scraped."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("ledger_database_up", "1 if the log's database answered the scrape")
        try:
            with self.database.read_session() as session, session.begin():
                cp = repo.latest_checkpoint(session)
                size = 0 if cp is None else cp.tree_size
                signed_at = None if cp is None else cp.created_at
        except DBAPIError:
            log.warning("metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "ledger_tree_size", "Size of the latest signed checkpoint", value=size
        )
        if signed_at is not None:
            signed_at = signed_at if signed_at.tzinfo else signed_at.replace(tzinfo=UTC)
            age = (datetime.now(UTC) - signed_at).total_seconds()
            yield GaugeMetricFamily(
                "ledger_checkpoint_age_seconds",
                "Seconds since the latest checkpoint was signed",
                value=max(0.0, age),
            )


class Metrics:
    """The app's metrics; one instance per app (its own registry outside multiprocess mode)."""

    def __init__(self, database: Database) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry()
        self.appends = Counter(
            "ledger_appends", "Statements committed to the log", ["type"], registry=self.registry
        )
        self.rejections = Counter(
            "ledger_rejections",
            "Refused requests and batch items, by problem code",
            ["code"],
            registry=self.registry,
        )
        self.requests = Counter(
            "ledger_http_requests",
            "HTTP requests by method, route rule and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ledger_http_request_duration_seconds",
            "HTTP request latency by method and route rule",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.connections_opened = Counter(
            "ledger_database_connections_opened",
            "Connections the app's pool opened to the database",
            registry=self.registry,
        )
        self.static_objects = Counter(
            "ledger_static_objects",
            "Static publication: immutable objects written, found the same, or found different",
            ["store", "outcome"],
            registry=self.registry,
        )
        event.listen(database.engine, "connect", lambda *_: self.connections_opened.inc())
        #: The request counter's and the latency histogram's children by (method, route, status):
        #: ``labels()`` validates and locks on every call. Bounded as the labels are.
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.log_state = LogStateCollector(database)
        if not self.multiprocess:
            self.registry.register(self.log_state)

    def exposition(self) -> bytes:
        """The text exposition: this process's registry, or all workers' files aggregated."""
        if not self.multiprocess:
            return bytes(generate_latest(self.registry))
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(self.log_state)
        return bytes(generate_latest(registry))

    def observe_append(self, batch: Sequence[SignedStatement], results: Sequence[object]) -> None:
        """The service's commit hook: count what was committed, by statement type."""
        for signed, result in zip(batch, results, strict=True):
            if not isinstance(result, LedgerError):
                self.appends.labels(signed.type_name).inc()

    def observe_static(self, store: str, outcome: str, count: int) -> None:
        """The static publisher's hook: ``count`` objects of one outcome in one store."""
        self.static_objects.labels(store, outcome).inc(count)

    def record_rejection(self, code: str) -> None:
        """Count one refused item that is not a whole request's problem (a batch item)."""
        self.rejections.labels(code).inc()

    def observe_request(self, fields: dict[str, Any]) -> None:
        """Count one finished request from its access-log fields (``logs.access_fields``)."""
        method = fields["method"] if fields["method"] in _METHODS else "other"  # request.method
        route = fields["route"]
        status = fields["status"]
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._request_children[key] = children
        requests, latency = children
        requests.inc()
        latency.observe(fields["duration_ms"] / 1000)
        if fields["code"] is not None and 400 <= status < 500:
            self.rejections.labels(fields["code"]).inc()
