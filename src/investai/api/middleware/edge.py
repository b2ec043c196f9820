"""Wiring of the edge protection into the app, every value from ``Settings``.

``app.add_middleware`` makes the last middleware added the outermost, so each function adds its middlewares
innermost first. With :func:`add_edge_protection` a request passes, from the outside in: security headers,
CORS, WAF, per-client rate limit, global throttle — so the security headers (and CORS headers) reach every
answer, including the WAF's 403s and the 429s, and requests the WAF refuses count against no limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from investai.api.middleware.cache import ResponseCacheMiddleware
from investai.api.middleware.client_ip import parse_networks
from investai.api.middleware.rate_limit import RateLimitMiddleware
from investai.api.middleware.security_headers import SecurityHeadersMiddleware
from investai.api.middleware.throttle import ThrottleMiddleware
from investai.api.middleware.waf import WafMiddleware, waf_config
from investai.config import Settings

CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "X-Request-ID"]
CORS_EXPOSED_HEADERS = ["X-Request-ID", "Retry-After", "X-Cache"]
CORS_MAX_AGE_S = 600


def add_response_cache(
    app: FastAPI,
    settings: Settings,
    *,
    now: Callable[[], float],
    related: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """The per-principal response cache; add it before (inside) the authentication middleware that sets
    ``scope["state"]["principal"]``. ``cache_ttl_s=0`` (or ``cache_max_entries=0``) leaves it out. ``related``
    maps write paths outside the API (the web UI's forms) to the API collections they change."""
    if settings.cache_ttl_s <= 0 or settings.cache_max_entries <= 0:
        return
    app.add_middleware(
        ResponseCacheMiddleware,
        ttl_s=settings.cache_ttl_s,
        max_entries=settings.cache_max_entries,
        now=now,
        related=related,
    )


def add_edge_protection(app: FastAPI, settings: Settings, *, now: Callable[[], float]) -> None:
    """Throttle, rate limit, WAF (unless ``waf_enabled`` is off), CORS and security headers, innermost first."""
    trusted_proxies = parse_networks(settings.trusted_proxies)
    app.add_middleware(ThrottleMiddleware, rate_rps=settings.throttle_rate_rps, burst=settings.throttle_burst, now=now)
    app.add_middleware(
        RateLimitMiddleware,
        limit=settings.rate_limit_requests,
        window_s=settings.rate_limit_window_s,
        trusted_proxies=trusted_proxies,
        now=now,
    )
    if settings.waf_enabled:
        app.add_middleware(WafMiddleware, config=waf_config(settings), trusted_proxies=trusted_proxies)
    if settings.cors_allow_origins:  # closed CORS needs no layer: browsers refuse without the headers
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            allow_credentials=False,
            max_age=CORS_MAX_AGE_S,
        )
    app.add_middleware(
        SecurityHeadersMiddleware, hsts_max_age_s=settings.hsts_max_age_s, static_origin=settings.static_origin
    )
