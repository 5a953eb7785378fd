"""Per-client rate limits: one limit for writes (POST), one for reads (GET/HEAD).

A client is its address, ``REMOTE_ADDR``: the TCP peer, or, with ``trusted_proxies = N``, the
address N proxies back in ``X-Forwarded-For`` (werkzeug's ``ProxyFix``, in front of everything
else in the app). Without trusted proxies the header is ignored, so a client cannot pick its own
bucket by sending one.

Counting uses the ``limits`` library's sliding-window-counter strategy: no burst of twice the
limit at a window boundary, two counters per client and limit. Several limits are checked
shortest window first, and a refusal stops the count: a request refused by the per-second limit
does not count against the per-minute one. Requests that match no route (404, 405) are not
counted. Keys and counting are flask-limiter's, which this replaced, so a shared store keeps its
counts across the change.

The default store is in memory, so each worker process counts on its own (a client may get up to
workers x limit in total); point ``rate_limit_storage`` at a shared store (``redis://...``,
``memcached://...``) for one limit across workers and hosts. Health checks and ``/metrics`` are
never limited.

``RateLimits.check`` is the one place that decides: the app calls it before every routed request,
and so do the fast paths (``ledger.server.api.fastpath``), which answer single appends and cached
tiles outside Flask.

A refused request gets 429 ``application/problem+json`` with code ``rate_limited`` and a
``Retry-After`` header (seconds); its view never runs, so nothing is written.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from flask import Flask, request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from ledger.core.errors import RateLimited, Unavailable
from ledger.server.config import BadSetting, Config
from ledger.server.logs import current

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
WRITE_METHODS = frozenset({"POST"})
READ_METHODS = frozenset({"GET", "HEAD"})
log = logging.getLogger(__name__)


def parse_limits(spec: str) -> list[RateLimitItem]:
    """The limits of a setting, none when it is off ("" or "off"); ValueError if malformed."""
    spec = spec.strip()
    if spec.lower() in ("", "off"):
        return []
    try:
        return parse_many(spec)  # fail at start, not on the first request
    except ValueError as e:
        raise ValueError(f"malformed rate limit {spec!r} (e.g. '100/second;5000/minute')") from e


def _setting_limits(config: Config, name: str) -> list[RateLimitItem]:
    try:
        return parse_limits(getattr(config, name))
    except ValueError as e:
        raise BadSetting(f"{Config.variable(name)}: {e}") from None


class RateLimits:
    """The write and read limits of one app, and the store that counts them."""

    def __init__(
        self, write: Sequence[RateLimitItem], read: Sequence[RateLimitItem], storage_uri: str
    ) -> None:
        # Shortest window first, each stopping the count at the first refusal (as flask-limiter
        # did): a request refused by the per-second limit is not counted by the per-minute one.
        self._limits = {"write": tuple(sorted(write)), "read": tuple(sorted(read))}
        self._counter = SlidingWindowCounterRateLimiter(storage_from_string(storage_uri))

    @classmethod
    def from_config(cls, config: Config) -> RateLimits | None:
        """The configured limits; None when both are off. BadSetting, naming the variable, if
        one is malformed."""
        write, read = (_setting_limits(config, name) for name in ("rate_limit", "read_rate_limit"))
        if not write and not read:
            return None
        return cls(write, read, config.rate_limit_storage)

    def check(self, method: str, path: str, client: str) -> None:
        """Count one request of ``client``; RateLimited (with ``retry_after``, whole seconds) if it
        is over a limit, Unavailable if the store cannot be reached."""
        if path in UNLIMITED_PATHS:
            return
        scope = "write" if method in WRITE_METHODS else "read" if method in READ_METHODS else None
        if scope is None:
            return
        for limit in self._limits[scope]:
            try:
                if self._counter.hit(limit, client, scope):  # flask-limiter's keys: same counts
                    continue
                reset_at = self._counter.get_window_stats(limit, client, scope).reset_time
            except Exception as e:  # the store's own errors (redis, memcached, ...)
                log.error("the rate limit store failed", exc_info=e)
                raise Unavailable("the rate limit store is unavailable; retry later") from e
            raise RateLimited(
                f"rate limit exceeded ({limit}); retry later",
                retry_after=max(1, math.ceil(reset_at - time.time())),
            )


def client_address(environ: dict[str, object]) -> str:
    """The address a request is counted under (after ``ProxyFix``, if installed)."""
    return str(environ.get("REMOTE_ADDR") or "unknown")


def init_app(app: Flask, limits: RateLimits | None) -> None:
    """Check the limits before every request that the app itself answers."""
    if limits is None:
        return

    @app.before_request
    def rate_limit() -> None:
        req = current(request)
        if req.url_rule is not None:  # no route (404, 405, redirects): nothing to spend on
            limits.check(req.method, req.path, client_address(req.environ))
