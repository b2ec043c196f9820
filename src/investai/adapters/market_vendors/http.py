"""HTTP plumbing every vendor feed shares: a request budget per vendor, keys added at the transport, and a GET
that retries what may pass (429, 5xx, timeouts) a bounded number of times.

Keys. A request carries its key in ``request.extensions``; :class:`SigningTransport` moves it to where the
vendor documents it (a header, or a query parameter) on the copy it sends. httpx logs the request it was given,
so a key never appears in a logged URL, and error messages here never quote a URL.

Budget. :class:`RequestBudget` is a token bucket on an injected monotonic clock and sleep (so tests run in
simulated time): ``requests`` per ``per_seconds``, all of them available at once. A request that would have to
wait longer than ``max_wait_s`` for its slot is not sent; the feed reports the vendor as rate limited instead
of stalling the job for an hour.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from investai.ports.market_feeds import (
    FeedError,
    FeedPayloadInvalid,
    FeedRateLimited,
    FeedRefused,
    FeedUnavailable,
)

KEY_EXTENSION = "investai.vendor_key"
Sign = Callable[[httpx.Request, str], httpx.Request]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RateLimit:
    requests: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.requests < 1 or self.per_seconds <= 0:
            raise ValueError("a rate limit needs at least one request per positive period")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` per request in all; back-off ``base_s * 2**n`` capped at ``cap_s``; a ``Retry-After`` (or
    a budget wait) longer than ``max_wait_s`` ends the request at once."""

    attempts: int = 4
    base_s: float = 1.0
    cap_s: float = 30.0
    max_wait_s: float = 120.0
    timeout_s: float = 30.0


class RequestBudget:
    def __init__(
        self, limit: RateLimit, *, max_wait_s: float, sleep: Sleep, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = limit.requests / limit.per_seconds
        self._capacity = float(limit.requests)
        self._tokens = float(limit.requests)
        self._max_wait_s = max_wait_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._updated = monotonic()
        self._lock = threading.Lock()

    def take(self, vendor: str) -> None:
        """Take one request slot, sleeping until it is due; :class:`FeedRateLimited` (nothing taken) when the
        wait would exceed ``max_wait_s``."""
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self._rate
            if wait > self._max_wait_s:
                raise FeedRateLimited(f"{vendor}: request budget spent; the next slot is {wait:.0f} s away")
            self._tokens -= 1.0
        if wait > 0:
            self._sleep(wait)


class SigningTransport(httpx.BaseTransport):
    """Adds the key a request carries in its extensions the way the vendor documents, on the copy it sends."""

    def __init__(self, inner: httpx.BaseTransport, sign: Sign) -> None:
        self._inner = inner
        self._sign = sign

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        extensions = dict(request.extensions)
        key = extensions.pop(KEY_EXTENSION, None)
        outgoing = httpx.Request(
            request.method, request.url, headers=request.headers, stream=request.stream, extensions=extensions
        )
        return self._inner.handle_request(self._sign(outgoing, key) if isinstance(key, str) else outgoing)

    def close(self) -> None:
        self._inner.close()


class _Again(Exception):
    """An answer worth another attempt, after ``delay`` seconds (``None``: the back-off's)."""

    def __init__(self, failure: FeedError, delay: float | None) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.delay = delay


Throttled = Callable[[Any], str | None]
"""Recognises a rate-limit answer that arrives as HTTP 200 (Alpha Vantage): its message, else ``None``."""


class VendorHttp:
    """GETs JSON from one vendor within its budget, retrying what may pass."""

    def __init__(
        self, *, vendor: str, client: httpx.Client, budget: RequestBudget, retry: RetryPolicy, sleep: Sleep
    ) -> None:
        self._vendor = vendor
        self._client = client
        self._budget = budget
        self._retry = retry
        self._sleep = sleep

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None,
        key: str,
        throttled: Throttled | None = None,
        throttle_delay_s: float = 60.0,
    ) -> Any:
        """The JSON answer; :class:`FeedError` when there is none. ``throttled`` recognises a rate-limit answer
        sent as HTTP 200, retried after ``throttle_delay_s``."""
        retrying = Retrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Again),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, url, params, key, throttled, throttle_delay_s)
        except _Again as exhausted:
            failure = exhausted.failure
            raise type(failure)(f"{failure} (gave up after {self._retry.attempts} attempts)") from None

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        delay: float | None = error.delay if isinstance(error, _Again) else None
        if delay is None:
            return min(self._retry.cap_s, self._retry.base_s * 2.0 ** (state.attempt_number - 1))
        return delay

    def _attempt(
        self, url: str, params: Mapping[str, str] | None, key: str, throttled: Throttled | None, delay_s: float
    ) -> Any:
        self._budget.take(self._vendor)
        request = self._client.build_request("GET", url, params=params, extensions={KEY_EXTENSION: key})
        try:
            response = self._client.send(request)
        except httpx.TimeoutException:
            raise _Again(FeedUnavailable(f"{self._vendor}: timed out"), None) from None
        except httpx.TransportError as exc:
            raise _Again(FeedUnavailable(f"{self._vendor}: {type(exc).__name__}"), None) from None
        status = response.status_code
        if status == 429:
            delay = self._bounded(response.headers.get("Retry-After"))
            raise _Again(FeedRateLimited(f"{self._vendor}: HTTP 429"), delay)
        if status >= 500:
            raise _Again(FeedUnavailable(f"{self._vendor}: HTTP {status}"), None)
        if status >= 400:
            raise FeedRefused(f"{self._vendor}: HTTP {status}{_refusal(status)}")
        try:
            payload = response.json()
        except ValueError:
            raise FeedPayloadInvalid(f"{self._vendor}: the answer is not JSON") from None
        message = throttled(payload) if throttled is not None else None
        if message is not None:
            failure = FeedRateLimited(f"{self._vendor}: {message[:160]}")
            if delay_s > self._retry.max_wait_s:
                raise failure
            raise _Again(failure, delay_s)
        return payload

    def _bounded(self, retry_after: str | None) -> float | None:
        delay = retry_after_seconds(retry_after, now=time.time)
        if delay is not None and delay > self._retry.max_wait_s:
            raise FeedRateLimited(f"{self._vendor}: HTTP 429, retry after {delay:.0f} s")
        return delay


def retry_after_seconds(value: str | None, *, now: Callable[[], float]) -> float | None:
    """A ``Retry-After`` header's delay: seconds, or an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.replace(".", "", 1).isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now())


def _refusal(status: int) -> str:
    return {401: " (the key was refused)", 403: " (the key's plan has no access)", 404: " (unknown symbol)"}.get(
        status, ""
    )
