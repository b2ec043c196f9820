"""Authenticated GET through the full middleware stack against a bare FastAPI endpoint.

Both apps serve the same trivial JSON handler; requests are driven as raw ASGI calls in one event loop (no
HTTP parsing or sockets, which would add the same cost to both and flatter the ratio), so the figure is
what request context (ids, structured log line, metrics, trace span), the body cap, edge protection
(security headers, CORS, WAF, rate limit, throttle), token verification with the live revocation check,
the permission dependency and the response cache add. Four variants: the handler ``async`` (pure
middleware cost) or plain ``def`` (FastAPI's default, run in the thread pool, as this product's routes
are), each with the response cache off (every request runs) and on (repeat reads served from it).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from investai.adapters.local.clock import SystemClock
from investai.api.deps import IdeaReader
from investai.bootstrap import build_container
from investai.config import Settings
from investai.domain.users import Role
from investai.observability.logging import configure_logging
from investai.server import create_app
from investai.services.auth_common import CallContext, TokenSet

REQUESTS = 2000
ROUNDS = 5
PAYLOAD = {"ok": True, "items": list(range(20))}


def bare_app(*, sync: bool) -> FastAPI:
    app = FastAPI()
    if sync:

        @app.get("/api/v1/bench")
        def bench_sync() -> dict[str, Any]:
            return PAYLOAD

    else:

        @app.get("/api/v1/bench")
        async def bench() -> dict[str, Any]:
            return PAYLOAD

    return app


def full_app(data_dir: Path, *, cache_ttl_s: float, sync: bool) -> tuple[FastAPI, str]:
    settings = Settings(
        _env_file=None, data_dir=data_dir, cache_ttl_s=cache_ttl_s, rate_limit_requests=10**9, log_json=True
    )
    container = build_container(settings, clock=SystemClock())
    container.identity.users.create_user(
        actor=None, email="bench@example.com", role=Role.ANALYST, organisation_id="org", password="Bench-Passw0rd!"
    )
    tokens = container.identity.auth.login("bench@example.com", "Bench-Passw0rd!", CallContext())
    assert isinstance(tokens, TokenSet)
    app = create_app(container)

    if sync:

        @app.get("/api/v1/bench")
        def bench_sync(principal: IdeaReader) -> dict[str, Any]:
            return PAYLOAD

    else:

        @app.get("/api/v1/bench")
        async def bench(principal: IdeaReader) -> dict[str, Any]:
            return PAYLOAD

    # first in the table, as in the bare app: the figure is the middleware stack's cost, not that of
    # matching a path against the product's other routes
    app.router.routes.insert(0, app.router.routes.pop())
    return app, tokens.access_token


async def drive(app: FastAPI, headers: list[tuple[bytes, bytes]], count: int) -> float:
    """Seconds per request over ``count`` sequential requests."""
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/bench",
        "raw_path": b"/api/v1/bench",
        "query_string": b"",
        "root_path": "",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(count):
        await app({**scope_base, "headers": list(headers)}, receive, send)
    elapsed = (time.perf_counter() - started) / count
    assert set(statuses) == {200}, f"unexpected statuses {set(statuses)}"
    return elapsed


def measure_pair(
    bare: FastAPI, full: FastAPI, bare_headers: list[tuple[bytes, bytes]], full_headers: list[tuple[bytes, bytes]]
) -> tuple[float, float]:
    """Median seconds per request of each app, rounds interleaved so both see the same machine state."""

    async def rounds() -> tuple[list[float], list[float]]:
        await drive(bare, bare_headers, 200)  # warm-up
        await drive(full, full_headers, 200)
        bare_times, full_times = [], []
        for _ in range(ROUNDS):
            bare_times.append(await drive(bare, bare_headers, REQUESTS))
            full_times.append(await drive(full, full_headers, REQUESTS))
        return bare_times, full_times

    bare_times, full_times = asyncio.run(rounds())
    return statistics.median(bare_times), statistics.median(full_times)


def run() -> list[tuple[str, float, float, str]]:
    sink = open(os.devnull, "w")  # noqa: SIM115 - kept open for the whole run
    configure_logging(level="INFO", json=True, stream=sink)  # a JSON line per request, as in production
    base_headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench/1.0"), (b"accept", b"application/json")]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for style, sync in (("async handler", False), ("sync handler", True)):
            for label, ttl in (("cache off", 0.0), ("cache on", 300.0)):
                directory = Path(scratch) / f"{style}-{label}".replace(" ", "-")
                app, token = full_app(directory, cache_ttl_s=ttl, sync=sync)
                headers = [*base_headers, (b"authorization", f"Bearer {token}".encode())]
                bare, full = measure_pair(bare_app(sync=sync), app, base_headers, headers)
                rows.append((f"authenticated GET, full stack, {style}, {label}", full, bare, f"bare GET, {style}"))
    return rows


if __name__ == "__main__":
    for name, value, baseline, label in run():
        print(f"{name}: {1 / value:,.0f} req/s vs {label} {1 / baseline:,.0f} req/s = {baseline / value:.2f} of bare")
