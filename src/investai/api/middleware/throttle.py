"""Account-level throttling, modelled on API Gateway's token bucket (docs/ARCHITECTURE.md: 10,000 requests per second,
burst 5,000): one bucket for the whole service, holding at most ``burst`` tokens and refilled at ``rate_rps``
tokens per second; each request takes one token, and a request that finds none is refused with 429
``throttled`` and a ``Retry-After`` for when the next token arrives. The health checks take no token and are
never refused (see :data:`~investai.api.middleware.rate_limit.PROBE_PATHS`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from investai.api.middleware.rate_limit import PROBE_PATHS, Decision, retry_after_header, send_json_error


class TokenBucket:
    """A token bucket that starts full. Time comes from ``now`` (seconds); a clock that steps back adds
    nothing."""

    def __init__(self, *, rate_rps: float, burst: int, now: Callable[[], float]) -> None:
        self.rate_rps = rate_rps
        self.burst = burst
        self.now = now
        self._tokens = float(burst)
        self._updated = now()
        self._lock = threading.Lock()

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens

    def take(self) -> Decision:
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return Decision(True)
            return Decision(False, (1.0 - self._tokens) / self.rate_rps)

    def _refill(self) -> None:
        current = self.now()
        elapsed = max(0.0, current - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_rps)
        self._updated = max(self._updated, current)


class ThrottleMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        rate_rps: float,
        burst: int,
        now: Callable[[], float],
        exempt_paths: Collection[str] = PROBE_PATHS,
    ) -> None:
        self.app = app
        self.bucket = TokenBucket(rate_rps=rate_rps, burst=burst, now=now)
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        decision = self.bucket.take()
        if not decision.allowed:
            await send_json_error(
                scope,
                send,
                429,
                "the service is receiving too many requests; retry later",
                code="throttled",
                headers=[retry_after_header(decision.retry_after_s)],
            )
            return
        await self.app(scope, receive, send)
