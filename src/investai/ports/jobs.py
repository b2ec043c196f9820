"""Jobs: durable records (SQLite here, DynamoDB on AWS) and how they reach a worker (polling the records
here, SQS with a dead-letter queue on AWS).

Records follow SQS semantics: a lease hides a job for a visibility timeout and counts an attempt; an ack with
the lease's token finishes it; a failure schedules a retry after exponential back-off, or dead-letters the job
after its last attempt. A job whose lease runs out (its worker died) becomes leasable again.

Delivery is separate. With no :class:`JobDispatch`, a polling worker leases ready records itself
(:meth:`JobRecords.lease`). With one, every time a job becomes ready (enqueued, retried, released, redriven) its
id is sent, and whoever receives it — a polling consumer or a Lambda fed by SQS — calls :meth:`JobRecords.claim`
with that id: duplicates and early or late deliveries are harmless, because the record decides.
"""

from __future__ import annotations

import random
import secrets
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from investai.domain.common import new_id
from investai.domain.errors import Conflict, NotFound
from investai.domain.jobs import Job, JobStatus, RetryPolicy
from investai.ports.clock import Clock

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class Delivery:
    """One received message naming a job; ``receipt`` is the queue's handle to delete or defer it."""

    job_id: str
    kind: str
    receipt: str
    receive_count: int = 1


class JobDispatch(Protocol):
    """The queue that carries job ids to workers (SQS on AWS)."""

    def send(self, job: Job) -> None:
        """Deliver ``job``'s id no earlier than ``job.available_at`` (as near as the queue allows)."""
        ...

    def receive(self, *, max_messages: int, wait_s: float, visibility_timeout: timedelta) -> list[Delivery]:
        """Up to ``max_messages`` deliveries, each hidden from other receivers for ``visibility_timeout``."""
        ...

    def delete(self, delivery: Delivery) -> None:
        """The delivery is dealt with: never deliver it again."""
        ...

    def defer(self, delivery: Delivery, delay: timedelta) -> None:
        """Deliver it again after ``delay``."""
        ...

    def check(self) -> None: ...


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"  # leased to the caller: run it
    FINISHED = "finished"  # succeeded, dead or cancelled: nothing to do
    BUSY = "busy"  # another worker's lease is live: try again once it may have run out
    NOT_YET = "not_yet"  # waiting for its back-off: try again then
    DEAD_LETTERED = "dead_lettered"  # its last attempt's worker was lost: dead-lettered now
    UNKNOWN = "unknown"  # no such job (purged): nothing to do


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    job: Job | None = None
    retry_after: timedelta = timedelta(0)


class JobRecords(ABC):
    health_name = "job_queue"

    def __init__(
        self,
        *,
        clock: Clock,
        retry: RetryPolicy,
        ttl: timedelta,
        rng: random.Random | None = None,
        dispatch: JobDispatch | None = None,
    ) -> None:
        self._clock = clock
        self._retry = retry
        self._ttl = ttl
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._dispatch = dispatch

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
        stored = self._insert(job)
        if stored.id == job.id:
            self._send(stored)
        return stored

    def claim(self, job_id: str, *, visibility_timeout: timedelta) -> Claim:
        """Lease the job a delivery names, if it is ready: the push-delivery counterpart of :meth:`lease`."""
        for _ in range(5):
            try:
                current = self.get(job_id)
            except NotFound:
                return Claim(ClaimOutcome.UNKNOWN)
            now = self._clock.now()
            claim, updated = self._decide_claim(current, now, visibility_timeout)
            if updated is None:
                return claim
            if self._swap(current, updated):
                return Claim(claim.outcome, updated)
        return Claim(ClaimOutcome.BUSY, retry_after=timedelta(seconds=1))

    def _decide_claim(self, job: Job, now: datetime, visibility_timeout: timedelta) -> tuple[Claim, Job | None]:
        if job.finished:
            return Claim(ClaimOutcome.FINISHED, job), None
        if job.status is JobStatus.QUEUED and job.available_at > now:
            return Claim(ClaimOutcome.NOT_YET, job, job.available_at - now), None
        if job.status is JobStatus.LEASED and job.lease_expires_at is not None and job.lease_expires_at > now:
            return Claim(ClaimOutcome.BUSY, job, job.lease_expires_at - now), None
        if job.status is JobStatus.LEASED and job.attempts >= job.max_attempts:
            dead = job.model_copy(
                update={
                    "status": JobStatus.DEAD,
                    "lease_token": None,
                    "lease_expires_at": None,
                    "last_error": job.last_error or "lease expired on the final attempt (worker lost)",
                    "updated_at": now,
                    "expires_at": self._expiry(),
                }
            )
            return Claim(ClaimOutcome.DEAD_LETTERED), dead
        leased = job.model_copy(
            update={
                "status": JobStatus.LEASED,
                "attempts": job.attempts + 1,
                "lease_token": secrets.token_hex(16),
                "lease_expires_at": now + visibility_timeout,
                "updated_at": now,
            }
        )
        return Claim(ClaimOutcome.CLAIMED), leased

    def lease(self, *, visibility_timeout: timedelta, kinds: Sequence[str] | None = None) -> Job | None:
        """The oldest available job of ``kinds`` (any kind when ``None``), leased to the caller; ``None`` when
        there is none. An empty ``kinds`` matches nothing (a worker without handlers must not take jobs)."""
        if kinds is not None and not kinds:
            return None
        return self._lease(self._clock.now(), visibility_timeout, kinds)

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
        retried = self._update_leased(
            job,
            status=JobStatus.QUEUED,
            last_error=message,
            available_at=self._clock.now() + delay,
            lease_expires_at=None,
        )
        self._send(retried)
        return retried

    def release(self, job: Job) -> Job:
        """Give a leased job back untouched (graceful shutdown); the attempt is not counted."""
        released = self._update_leased(
            job, status=JobStatus.QUEUED, attempts=max(job.attempts - 1, 0), lease_expires_at=None
        )
        self._send(released)
        return released

    def redrive(self, job_id: str) -> Job:
        """Put a dead-lettered job back in the queue with its attempts reset."""
        job = self._redrive(job_id)
        self._send(job)
        return job

    def redeliver_stale(self, *, older_than: timedelta, limit: int = 500) -> int:
        """Send the ids of ready jobs again when their message may be gone: queued and due, or leased with a
        lease that ran out, for longer than ``older_than`` (a send that failed after the record was written, a
        worker lost with its message dead-lettered by the queue). Duplicates are harmless (:meth:`claim`
        decides). Nothing to do when workers poll the records. Returns how many were sent."""
        if self._dispatch is None:
            return 0
        stale = self._stale(self._clock.now() - older_than, limit)
        for job in stale:
            self._send(job)
        return len(stale)

    def _send(self, job: Job) -> None:
        if self._dispatch is not None:
            self._dispatch.send(job)

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
    def _redrive(self, job_id: str) -> Job:
        """Reset a dead-lettered job to queued with no attempts; ``Conflict`` if it is not dead."""

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
    def _stale(self, cutoff: datetime, limit: int) -> list[Job]:
        """Up to ``limit`` jobs queued and due at ``cutoff``, or leased with a lease that ran out by then."""

    @abstractmethod
    def _swap(self, expected: Job, updated: Job) -> bool:
        """Store ``updated`` if the stored job is still exactly ``expected`` (same status, attempts, lease and
        ``updated_at``); False when another writer changed it first."""

    @abstractmethod
    def _lease(self, now: datetime, visibility_timeout: timedelta, kinds: Sequence[str] | None) -> Job | None:
        """Lease the next job: queued and available, or leased with an expired lease. A job past its
        last attempt whose lease expired is dead-lettered instead of leased."""

    @abstractmethod
    def _update_leased(self, job: Job, **changes: Any) -> Job:
        """Apply ``changes`` if ``job.lease_token`` still holds the lease, else ``Conflict``."""


class LeaseLost(Conflict):
    code = "lease_lost"
