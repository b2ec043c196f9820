"""Background jobs: kinds of work, their states and the retry policy."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from investai.domain.common import DomainModel, Identifier, UtcDatetime


class JobStatus(StrEnum):
    QUEUED = "queued"  # waiting, possibly until a back-off delay has passed
    LEASED = "leased"  # a worker holds it until the lease expires
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # dead-lettered after its last attempt or a permanent failure
    CANCELLED = "cancelled"


TERMINAL_JOB_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.DEAD, JobStatus.CANCELLED})


class Job(DomainModel):
    id: Identifier
    kind: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")
    payload: dict[str, Any] = Field(default_factory=dict)
    status: JobStatus = JobStatus.QUEUED
    attempts: int = Field(default=0, ge=0)
    max_attempts: int = Field(ge=1, le=100)
    priority: int = Field(default=0, ge=-10, le=10, description="higher is leased first among ready jobs")
    idempotency_key: str | None = Field(default=None, max_length=200)
    owner_id: Identifier | None = None
    organisation_id: Identifier | None = None
    available_at: UtcDatetime
    lease_expires_at: UtcDatetime | None = None
    lease_token: str | None = None
    last_error: str | None = Field(default=None, max_length=4000)
    result: dict[str, Any] | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    expires_at: UtcDatetime

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES


class RetryPolicy(DomainModel):
    """Exponential back-off: ``base * 2**(attempt-1)``, capped, with proportional jitter."""

    max_attempts: int = Field(default=5, ge=1, le=100)
    base_delay_s: float = Field(default=2.0, gt=0.0)
    max_delay_s: float = Field(default=300.0, gt=0.0)
    jitter: float = Field(default=0.1, ge=0.0, le=1.0)

    def delay(self, attempt: int, unit_random: float) -> timedelta:
        """Delay before retry number ``attempt`` (1-based); ``unit_random`` in [0, 1) spreads it."""
        raw = min(self.max_delay_s, self.base_delay_s * 2 ** max(attempt - 1, 0))
        spread = raw * self.jitter * (2.0 * unit_random - 1.0)
        return timedelta(seconds=max(0.0, raw + spread))
