"""A durable job queue (SQLite here, SQS with a dead-letter queue on AWS).

Semantics follow SQS: a lease hides a job for a visibility timeout and counts an attempt; an ack with the
lease's token finishes it; a failure schedules a retry after exponential back-off, or dead-letters the job
after its last attempt. A job whose lease runs out (its worker died) becomes leasable again.
"""

from __future__ import annotations

import random
import secrets
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from investai.domain.common import new_id
from investai.domain.errors import Conflict
from investai.domain.jobs import Job, JobStatus, RetryPolicy
from investai.ports.clock import Clock

MAX_ERROR_CHARS = 4000


class JobQueue(ABC):
    health_name = "job_queue"

    def __init__(self, *, clock: Clock, retry: RetryPolicy, ttl: timedelta, rng: random.Random | None = None) -> None:
        self._clock = clock
        self._retry = retry
        self._ttl = ttl
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        owner_id: str | None = None,
        organisation_id: str | None = None,
        max_attempts: int | None = None,
        delay: timedelta = timedelta(0),
        priority: int = 0,
    ) -> Job:
        """Add a job; with an ``idempotency_key`` already used for ``kind``, return that job instead. Ready jobs
        are leased highest ``priority`` first, then oldest ``available_at`` first."""
        now = self._clock.now()
        job = Job(
            id=new_id("job_"),
            kind=kind,
            payload=payload or {},
            max_attempts=max_attempts or self._retry.max_attempts,
            priority=priority,
            idempotency_key=idempotency_key,
            owner_id=owner_id,
            organisation_id=organisation_id,
            available_at=now + delay,
            created_at=now,
            updated_at=now,
            expires_at=now + self._ttl,
        )
        return self._insert(job)

    def lease(self, *, visibility_timeout: timedelta, kinds: Sequence[str] | None = None) -> Job | None:
        """The oldest available job of ``kinds`` (any kind when ``None``), leased to the caller; ``None`` when
        there is none. An empty ``kinds`` matches nothing (a worker without handlers must not take jobs)."""
        if kinds is not None and not kinds:
            return None
        return self._lease(self._clock.now(), visibility_timeout, kinds, secrets.token_hex(16))

    def extend(self, job: Job, *, visibility_timeout: timedelta) -> Job:
        """Push the lease's expiry out (a heartbeat); ``Conflict`` if the lease was lost."""
        return self._update_leased(job, lease_expires_at=self._clock.now() + visibility_timeout)

    def ack(self, job: Job, result: dict[str, Any] | None = None) -> Job:
        """Finish a leased job; ``Conflict`` if its lease was lost to another worker."""
        return self._update_leased(
            job, status=JobStatus.SUCCEEDED, result=result or {}, lease_expires_at=None, expires_at=self._expiry()
        )

    def fail(self, job: Job, error: str, *, permanent: bool = False) -> Job:
        """Record a failed attempt: retry after back-off, or dead-letter after the last attempt."""
        message = error[:MAX_ERROR_CHARS]
        if permanent or job.attempts >= job.max_attempts:
            return self._update_leased(
                job, status=JobStatus.DEAD, last_error=message, lease_expires_at=None, expires_at=self._expiry()
            )
        delay = self._retry.delay(job.attempts, self._rng.random())
        return self._update_leased(
            job,
            status=JobStatus.QUEUED,
            last_error=message,
            available_at=self._clock.now() + delay,
            lease_expires_at=None,
        )

    def release(self, job: Job) -> Job:
        """Give a leased job back untouched (graceful shutdown); the attempt is not counted."""
        return self._update_leased(
            job, status=JobStatus.QUEUED, attempts=max(job.attempts - 1, 0), lease_expires_at=None
        )

    def _expiry(self) -> datetime:
        """When a job finishing now may be purged: its time to live runs from completion."""
        return self._clock.now() + self._ttl

    @abstractmethod
    def get(self, job_id: str) -> Job:
        """The job; ``NotFound`` otherwise."""

    @abstractmethod
    def cancel(self, job_id: str) -> Job:
        """Cancel a job that has not finished; ``Conflict`` if it already has."""

    @abstractmethod
    def redrive(self, job_id: str) -> Job:
        """Put a dead-lettered job back in the queue with its attempts reset."""

    @abstractmethod
    def dead_letters(self, *, limit: int = 100) -> list[Job]: ...

    @abstractmethod
    def counts(self) -> dict[JobStatus, int]: ...

    @abstractmethod
    def purge_expired(self) -> int:
        """Delete finished jobs whose time to live has passed; returns how many."""

    @abstractmethod
    def check(self) -> None: ...

    @abstractmethod
    def _insert(self, job: Job) -> Job: ...

    @abstractmethod
    def _lease(
        self, now: datetime, visibility_timeout: timedelta, kinds: Sequence[str] | None, token: str
    ) -> Job | None:
        """Lease the next job: queued and available, or leased with an expired lease. A job past its
        last attempt whose lease expired is dead-lettered instead of leased."""

    @abstractmethod
    def _update_leased(self, job: Job, **changes: Any) -> Job:
        """Apply ``changes`` if ``job.lease_token`` still holds the lease, else ``Conflict``."""


class LeaseLost(Conflict):
    code = "lease_lost"
