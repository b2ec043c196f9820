"""A request quota shared by every process and Lambda instance: one DynamoDB item per key (a model id) holding
a token bucket in its GCRA form, moved forward by single conditional writes.

The state
    One item per key in the ``rate-limits`` table: ``tat`` (the *theoretical arrival time*, epoch
    microseconds) and ``expiresAt`` (the table's TTL, epoch seconds). With ``T = 60 / requests_per_minute``
    (the emission interval, rounded up to a whole microsecond) and ``tau = (burst - 1) * T``, a reservation at
    time ``now`` is given the *start* ``max(tat, now)``, moves ``tat`` to that start plus ``T``, and must wait
    ``max(0, start - tau - now)``: exactly a bucket of ``burst`` tokens refilled at the rate, booking future
    tokens when it is empty (as :class:`~investai.agents.router.TokenBucket` does in one process). An absent
    item, or ``tat <= now``, is a full bucket.

The writes
    ``tat >= now`` (the bucket is in use) is one ``UpdateItem``: ``ADD tat T`` on the condition
    ``now <= tat <= now + tau + max_wait``, returning the old ``tat``; DynamoDB applies it atomically, so a burst
    from many instances costs one write per request and never a retry. Otherwise (absent item, or ``tat < now``)
    ``SET tat = now + T`` on the condition that it is still so. A write whose condition fails says why (the
    old item comes back with the failure): an idle bucket takes the other branch, a wait over ``max_wait`` is
    refused without taking anything, and a branch that lost a race tries again with a fresh ``now``.

The guarantee
    Call a granted reservation's *slot* the clock reading it was made at plus the wait it returned. For each
    key, across every process using the same table, with clocks that agree: **any interval of t seconds holds
    at most ``burst + requests_per_minute * t / 60`` slots** (``burst`` at once, then the rate; a slot granted
    is never refused afterwards, and a refused reservation takes no slot). Proof sketch: the starts are
    strictly ordered by the writes and each is at least ``T`` after the one before; a slot lies within
    ``[start - tau, start]``; so slots in ``[a, a + t]`` have starts in ``[a, a + t + tau]``, at most
    ``(t + tau) / T + 1 = t / T + burst`` of them. Clocks that disagree by up to ``e`` seconds loosen the bound
    to ``burst + requests_per_minute * (t + e) / 60``. A caller that sends later than its slot is outside the
    bound's reach (it sends late, never early).

The time-to-live
    Waits longer than ``max_backlog_s`` (an hour by default) are refused (``math.inf``) however long the caller
    would wait, so ``tat`` never runs more than ``tau + max_backlog_s + T`` ahead of the writer's clock, and
    every write sets ``expiresAt`` a day beyond that. An item DynamoDB deletes is therefore one whose ``tat`` is
    long past: a full bucket, the same as no item.

When DynamoDB fails
    Fail open, to a fallback: a request that fails (unreachable endpoint, timeout, missing table, access denied,
    throttling that outlasted botocore's own retries) is logged, counted in :attr:`errors_total`, and answered
    by ``fallback`` (the bootstrap passes an in-process token bucket of the same rate, so each process is still
    limited on its own; with none, the answer is 0.0); for ``retry_after_s`` afterwards DynamoDB is not asked at
    all, so an outage costs one timeout per interval rather than one per model call. Every reservation so
    answered is counted in :attr:`fallback_total`. Why open: the limit keeps us under Bedrock's own quota, which
    Bedrock enforces anyway with ``ThrottlingException`` (which the router retries and then falls back on); a
    closed limit would turn a DynamoDB outage into every answer coming from the offline templates.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from investai.adapters.aws.dynamodb_common import error_code, n, s
from investai.adapters.aws.resources import RATE_LIMITS_TABLE
from investai.ports.rate_limit import RequestQuota

log = logging.getLogger(__name__)

KEY_ATTRIBUTE = RATE_LIMITS_TABLE.partition.name
TAT_ATTRIBUTE = "tat"
TTL_ATTRIBUTE = RATE_LIMITS_TABLE.ttl_attribute or "expiresAt"
TTL_MARGIN_S = 86_400
"""How long past the furthest time ``tat`` may reach an item is kept (DynamoDB deletes expired items lazily)."""

_MICROS = 1_000_000
_NAMES = {"#tat": TAT_ATTRIBUTE, "#ttl": TTL_ATTRIBUTE}


class _Contended(Exception):
    """Every attempt lost its race (others kept moving ``tat`` across ``now``)."""


class DynamoDbRequestQuota:
    """A :class:`~investai.ports.rate_limit.RequestQuota` kept in DynamoDB (see the module docstring for the
    algorithm, its guarantee and the behaviour when DynamoDB fails).

    ``client`` is a low-level ``dynamodb`` client and ``table`` the ``rate-limits`` table's name. ``clock`` is
    wall-clock epoch seconds (shared meaning across machines); ``monotonic`` times the pause after a failure.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        requests_per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        fallback: RequestQuota | None = None,
        retry_after_s: float = 30.0,
        max_backlog_s: float = 3600.0,
        attempts: int = 8,
    ) -> None:
        if requests_per_minute <= 0 or burst < 1:
            raise ValueError("a request quota needs a positive rate and a burst of at least 1")
        if max_backlog_s <= 0 or attempts < 2:
            raise ValueError("a request quota needs a positive backlog and at least two attempts")
        self._client = client
        self._table = table
        self._interval_us = math.ceil(60 * _MICROS / requests_per_minute)
        self._tolerance_us = (burst - 1) * self._interval_us
        self._backlog_us = math.floor(max_backlog_s * _MICROS)
        self._clock = clock
        self._monotonic = monotonic
        self._fallback = fallback
        self._retry_after_s = retry_after_s
        self._attempts = attempts
        self._lock = threading.Lock()
        self._down_until: float | None = None
        self._errors = 0
        self._fallbacks = 0

    @property
    def errors_total(self) -> int:
        """Reservations DynamoDB failed (each opens a pause of ``retry_after_s``), since this object was made."""
        with self._lock:
            return self._errors

    @property
    def fallback_total(self) -> int:
        """Reservations answered without DynamoDB (by the fallback, or 0.0 without one)."""
        with self._lock:
            return self._fallbacks

    def reserve(self, key: str, *, max_wait_s: float = math.inf) -> float:
        if not key:
            raise ValueError("a request quota key must not be empty")
        with self._lock:
            paused = self._down_until is not None and self._monotonic() < self._down_until
        if paused:
            return self._degraded(key, max_wait_s)
        try:
            wait = self._reserve(key, max_wait_s)
        except _Contended:
            log.warning(
                "shared rate limit for %s: %d attempts all lost a race; using the fallback", key, self._attempts
            )
            return self._degraded(key, max_wait_s)
        except Exception as exc:
            if not _service_failure(exc):
                raise
            self._failed(key, exc)
            return self._degraded(key, max_wait_s)
        with self._lock:
            recovered, self._down_until = self._down_until is not None, None
        if recovered:
            log.info("shared rate limit reachable again (table %s)", self._table)
        return wait

    # ------------------------------------------------------------------------------------------ the algorithm

    def _reserve(self, key: str, max_wait_s: float) -> float:
        capped = max_wait_s * _MICROS >= self._backlog_us
        max_wait_us = self._backlog_us if capped else math.floor(max(max_wait_s, 0.0) * _MICROS)
        for _ in range(self._attempts):
            now = math.floor(self._clock() * _MICROS)
            limit = now + self._tolerance_us + max_wait_us
            expires = n(
                math.ceil((now + self._tolerance_us + self._backlog_us + self._interval_us) / _MICROS) + TTL_MARGIN_S
            )
            granted, tat = self._take_next(key, now=now, limit=limit, expires=expires)
            if granted and tat is not None:  # the old tat is this reservation's start
                return max(0, tat - self._tolerance_us - now) / _MICROS
            if tat is not None and tat > limit:  # busy beyond the caller's patience (or the backlog): take nothing
                wait = (tat - self._tolerance_us - now) / _MICROS
                return math.inf if capped and wait <= max_wait_s else wait
            if self._start_idle(key, now=now, expires=expires):  # absent, or tat < now: a full bucket
                return 0.0
        raise _Contended(key)

    def _take_next(self, key: str, *, now: int, limit: int, expires: dict[str, str]) -> tuple[bool, int | None]:
        """``ADD tat T`` when ``now <= tat <= limit``: ``(True, the old tat)`` when it was applied, otherwise
        ``(False, the tat found)`` (None: no item)."""
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={KEY_ATTRIBUTE: s(key)},
                UpdateExpression="SET #ttl = :expires ADD #tat :interval",
                ConditionExpression="#tat BETWEEN :now AND :limit",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={
                    ":expires": expires,
                    ":interval": n(self._interval_us),
                    ":now": n(now),
                    ":limit": n(limit),
                },
                ReturnValues="UPDATED_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            found = getattr(exc, "response", {}).get("Item", {}).get(TAT_ATTRIBUTE)
            return False, (None if found is None else int(found["N"]))
        return True, int(answer["Attributes"][TAT_ATTRIBUTE]["N"])

    def _start_idle(self, key: str, *, now: int, expires: dict[str, str]) -> bool:
        """``SET tat = now + T`` when the bucket is full (no item, or ``tat < now``); whether it was applied."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={KEY_ATTRIBUTE: s(key)},
                UpdateExpression="SET #tat = :next, #ttl = :expires",
                ConditionExpression="attribute_not_exists(#tat) OR #tat < :now",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={":next": n(now + self._interval_us), ":expires": expires, ":now": n(now)},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    # ------------------------------------------------------------------------------------------ failures

    def _failed(self, key: str, exc: Exception) -> None:
        with self._lock:
            self._errors += 1
            self._down_until = self._monotonic() + self._retry_after_s
            errors = self._errors
        log.warning(
            "shared rate limit unavailable (table %s, key %s): %s; failing open to %s for %.0f s (errors: %d)",
            self._table,
            key,
            error_code(exc) or type(exc).__name__,
            "the in-process limit" if self._fallback is not None else "no limit",
            self._retry_after_s,
            errors,
        )

    def _degraded(self, key: str, max_wait_s: float) -> float:
        with self._lock:
            self._fallbacks += 1
        return 0.0 if self._fallback is None else self._fallback.reserve(key, max_wait_s=max_wait_s)


def _service_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is DynamoDB (or the way to it) failing, rather than a bug of ours."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, BotoCoreError | ClientError)
