"""Per-client rate limiting, modelled on an AWS WAF rate-based rule (docs/ARCHITECTURE.md: 2,000 requests per 5 minutes
per IP). The window slides in :data:`SLOTS` steps: each client keeps one counter per slot, the count is the
sum over the slots inside the window, and slots leave the window whole. A client is therefore never refused
while it has made fewer than ``limit`` requests in the last ``window_s`` seconds, and at most one slot's
worth (``window_s / SLOTS``) of extra allowance is possible. Refused requests are not counted, so a client
that backs off is admitted again once its old requests leave the window.

Memory is bounded: clients idle for a whole window are evicted, and at most ``max_clients`` are tracked
(least recently seen evicted first). IPv6 clients are counted per /64, the block one subscriber holds, so a
client cannot escape the limit by rotating addresses inside its own prefix.

The liveness and readiness probes (:data:`PROBE_PATHS`) are never limited or counted: a load balancer
checking them from one address must not take the service out of rotation because that address is busy.

This module also holds :func:`send_json_error`, the JSON error writer the edge middlewares share.
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from investai.api.middleware.client_ip import IPNetwork, client_ip, parse_ip
from investai.http.errors import error_body

SLOTS = 10
PROBE_PATHS = frozenset({"/health", "/ready"})
"""Health checks: exempt from the rate limit and the throttle, and never cached."""
DEFAULT_MAX_CLIENTS = 100_000
IPV6_PREFIX = 64


async def send_json_error(
    scope: Scope,
    send: Send,
    status: int,
    message: str,
    *,
    code: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
    extra: dict[str, Any] | None = None,
) -> None:
    """Answer with the service's one error shape, and note the code for the request metrics."""
    state = scope.setdefault("state", {})
    body_dict = error_body(status, message, state.get("request_id"), code=code)
    if extra:
        body_dict["error"].update(extra)
    state["error_code"] = code
    body = json.dumps(body_dict).encode()
    response_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})


def retry_after_header(seconds: float) -> tuple[bytes, bytes]:
    """``Retry-After`` in whole seconds, rounded up and at least 1."""
    return (b"retry-after", str(max(1, math.ceil(seconds))).encode())


@lru_cache(maxsize=4096)
def client_key(address: str) -> str:
    """The counter key of a client: its IPv4 address, or its IPv6 /64."""
    parsed = parse_ip(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False))
    return str(parsed) if parsed is not None else address


@dataclass(slots=True)
class _Client:
    slots: deque[list[int]] = field(default_factory=deque)  # [slot index, count], oldest first
    total: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0


class SlidingWindowLimiter:
    """``limit`` requests per ``window_s`` per key, in :data:`SLOTS` slots (see the module docstring)."""

    def __init__(
        self,
        *,
        limit: int,
        window_s: float,
        now: Callable[[], float],
        max_clients: int = DEFAULT_MAX_CLIENTS,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.slot_s = window_s / SLOTS
        self.now = now
        self.max_clients = max_clients
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._lock = threading.Lock()
        self._offset = 0.0  # what the clock has stepped back by, in all
        self._latest = -math.inf

    def __len__(self) -> int:
        return len(self._clients)

    def _time(self) -> float:
        """``now()``, never going back: after the clock steps back, time goes on from where it was (otherwise
        every slot counted before the step would stay in the window for as long as the step, locking clients
        out); a step forward just ends the window early. Called under the lock."""
        current = self.now() + self._offset
        if current < self._latest:
            self._offset += self._latest - current
            current = self._latest
        self._latest = current
        return current

    def hit(self, key: str) -> Decision:
        """Count one request of ``key`` if it is within the limit."""
        with self._lock:
            now = self._time()
            slot = math.floor(now / self.slot_s)
            self._evict_idle(slot)
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = _Client()
                self._evict_excess()
            self._clients.move_to_end(key)
            self._expire(client, slot)
            if client.total >= self.limit:
                return Decision(False, self._retry_after(client, slot, now))
            if client.slots and client.slots[-1][0] == slot:
                client.slots[-1][1] += 1
            else:
                client.slots.append([slot, 1])
            client.total += 1
            return Decision(True)

    def _expire(self, client: _Client, slot: int) -> None:
        while client.slots and client.slots[0][0] <= slot - SLOTS:
            client.total -= client.slots.popleft()[1]

    def _retry_after(self, client: _Client, slot: int, now: float) -> float:
        """Seconds until enough old slots leave the window for one more request."""
        excess = client.total - self.limit + 1
        for index, count in client.slots:
            excess -= count
            if excess <= 0:
                return (index + SLOTS) * self.slot_s - now
        return self.window_s  # unreachable while total >= limit; a safe answer regardless

    def _evict_idle(self, slot: int) -> None:
        """Drop clients (least recently seen first) whose every slot has left the window."""
        while self._clients:
            key, client = next(iter(self._clients.items()))
            if client.slots and client.slots[-1][0] > slot - SLOTS:
                return
            del self._clients[key]

    def _evict_excess(self) -> None:
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)


class RateLimitMiddleware:
    """Refuse a client over its limit with 429 ``rate_limited`` and ``Retry-After``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        window_s: float,
        trusted_proxies: Sequence[IPNetwork],
        now: Callable[[], float],
        max_clients: int = DEFAULT_MAX_CLIENTS,
        exempt_paths: Collection[str] = PROBE_PATHS,
    ) -> None:
        self.app = app
        self.trusted_proxies = list(trusted_proxies)
        self.exempt_paths = frozenset(exempt_paths)
        self.limiter = SlidingWindowLimiter(limit=limit, window_s=window_s, now=now, max_clients=max_clients)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        decision = self.limiter.hit(client_key(client_ip(scope, self.trusted_proxies)))
        if not decision.allowed:
            await send_json_error(
                scope,
                send,
                429,
                "too many requests from this client; retry later",
                code="rate_limited",
                headers=[retry_after_header(decision.retry_after_s)],
            )
            return
        await self.app(scope, receive, send)
