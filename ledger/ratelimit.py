"""Per-client rate limits (flask-limiter): one limit for writes (POST), one for reads (GET/HEAD).

A client is its address, ``request.remote_addr``: the TCP peer, or, with ``trusted_proxies = N``,
the address N proxies back in ``X-Forwarded-For`` (werkzeug's ``ProxyFix``). Without trusted
proxies the header is ignored, so a client cannot pick its own bucket by sending one.

Counting uses the sliding-window-counter strategy: no burst of twice the limit at a window
boundary, two counters per client and limit. The default store is in memory, so each worker
process counts on its own (a client may get up to workers x limit in total); point
``rate_limit_storage`` at a shared store (``redis://...``, ``memcached://...``) for one limit
across workers and hosts. Health checks and ``/metrics`` are never limited.

A refused request gets 429 ``application/problem+json`` with code ``rate_limited`` and a
``Retry-After`` header (seconds); its view never runs, so nothing is written.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from limits import parse_many
from werkzeug.middleware.proxy_fix import ProxyFix

from .api.problems import render_ledger_error
from .config import Config
from .core.errors import RateLimited

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
WRITE_METHODS = ("POST",)
READ_METHODS = ("GET", "HEAD")


def limit_value(spec: str) -> str | None:
    """The limit string, or None when the limit is off ("" or "off"); ValueError if malformed."""
    spec = spec.strip()
    if spec.lower() in ("", "off"):
        return None
    try:
        parse_many(spec)  # fail at start, not on the first request
    except ValueError as e:
        raise ValueError(f"malformed rate limit {spec!r} (e.g. '100/second;5000/minute')") from e
    return spec


def check_config(config: Config) -> None:
    """Raise ValueError if a limit string is malformed."""
    limit_value(config.rate_limit)
    limit_value(config.read_rate_limit)


def _exempt() -> bool:
    return request.path in UNLIMITED_PATHS


def _client_address() -> str:
    return request.remote_addr or "unknown"


def init_app(app: Flask, config: Config) -> Limiter | None:
    """Install ProxyFix (if configured) and the limits; None when both limits are off."""
    if config.trusted_proxies > 0:
        n = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    limits: list[ApplicationLimit] = []
    for spec, scope, methods in (
        (config.rate_limit, "write", WRITE_METHODS),
        (config.read_rate_limit, "read", READ_METHODS),
    ):
        value = limit_value(spec)
        if value is not None:
            limit = ApplicationLimit(
                limit_provider=value, scope=scope, methods=methods, exempt_when=_exempt
            )
            limits.append(limit)
    if not limits:
        return None
    limiter = Limiter(
        _client_address,
        application_limits=limits,  # type: ignore[arg-type]
        storage_uri=config.rate_limit_storage,
        strategy="sliding-window-counter",
        headers_enabled=False,  # it would put Retry-After on every response; 429s get it below
    )
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def on_rate_limited(error: RateLimitExceeded) -> Response:
        response = render_ledger_error(
            RateLimited(f"rate limit exceeded ({error.description}); retry later")
        )
        response.headers["Retry-After"] = str(_retry_after(limiter))
        return response

    return limiter


def _retry_after(limiter: Limiter) -> int:
    """Whole seconds until the breached limit's window lets a request through (at least 1)."""
    current = limiter.current_limit
    if current is None:
        return 1
    return max(1, math.ceil(current.reset_at - time.time()))
