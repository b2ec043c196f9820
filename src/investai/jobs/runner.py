"""Running one job: the same code whether a polling worker leased it or a queue delivered its id (a Lambda
fed by SQS calls :meth:`JobRunner.handle`).

A run holds a lease heartbeat while the handler works, then acks the job or records the failure (a retry after
back-off, or a dead letter after the last attempt or a permanent error).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from opentelemetry import context as otel_context

from investai.domain.errors import DomainError, ValidationFailed
from investai.domain.jobs import Job
from investai.observability.logging import bind_context, clear_context, get_logger
from investai.observability.metrics import Metrics
from investai.observability.tracing import job_context
from investai.ports.jobs import ClaimOutcome, JobRecords, LeaseLost

JobHandler = Callable[[Job], Mapping[str, Any] | None]

log = get_logger(__name__)


class PermanentJobError(DomainError):
    """The job cannot succeed however often it is retried: dead-letter it now."""

    code = "permanent_job_error"


class RunOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRIED = "retried"
    DEAD = "dead"
    LEASE_LOST = "lease_lost"


@dataclass(frozen=True)
class Handled:
    """What became of a delivered job id, and so what the delivering queue should do with its message."""

    claim: ClaimOutcome
    run: RunOutcome | None = None
    retry_after: timedelta | None = None

    @property
    def settled(self) -> bool:
        """True when the message can be deleted; else it must be delivered again after ``retry_after``."""
        return self.retry_after is None


class JobRunner:
    def __init__(
        self,
        *,
        records: JobRecords,
        handlers: Mapping[str, JobHandler],
        visibility_timeout: timedelta,
        metrics: Metrics | None = None,
    ) -> None:
        self._records = records
        self._handlers = dict(handlers)
        self._visibility = visibility_timeout
        self._metrics = metrics

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    def handle(self, job_id: str, *, keep_delivery: Callable[[], None] | None = None) -> Handled:
        """Claim the job a delivery names and run it if it is ready.

        Duplicate, early and late deliveries are safe: a finished job is left alone, a job another worker
        holds or one still in back-off asks to be delivered again later. ``keep_delivery`` runs with every
        heartbeat, to keep the delivering message hidden while the job runs (a polling consumer's visibility
        timeout is shorter than a long job).
        """
        claim = self._records.claim(job_id, visibility_timeout=self._visibility)
        if claim.outcome in (ClaimOutcome.BUSY, ClaimOutcome.NOT_YET):
            return Handled(claim.outcome, retry_after=claim.retry_after)
        if claim.outcome is not ClaimOutcome.CLAIMED or claim.job is None:
            return Handled(claim.outcome)
        if claim.job.kind not in self._handlers:
            self._records.fail(claim.job, f"no handler for job kind {claim.job.kind!r}", permanent=True)
            return Handled(claim.outcome, RunOutcome.DEAD)
        return Handled(claim.outcome, self.run(claim.job, keep_delivery=keep_delivery))

    def run(self, job: Job, *, keep_delivery: Callable[[], None] | None = None) -> RunOutcome:
        """Run a job leased to the caller and record how it ended, in the trace its payload carries (that of
        the request that enqueued it), so every line logged while it runs names that trace."""
        trace_token = otel_context.attach(job_context(job.payload))
        bind_context(job_id=job.id, job_kind=job.kind, attempt=job.attempts)
        done = threading.Event()
        heartbeat = threading.Thread(  # in this run's context: its log lines name the job and the trace
            target=contextvars.copy_context().run, args=(self._heartbeat, job, done, keep_delivery), daemon=True
        )
        heartbeat.start()
        started = time.perf_counter()
        result: Mapping[str, Any] | None = None
        error: Exception | None = None
        try:
            result = self._handlers[job.kind](job)
        except Exception as exc:  # every failure is recorded on the job, never swallowed
            error = exc
        finally:
            done.set()
            heartbeat.join()
        try:
            if self._metrics is not None:
                self._metrics.job_duration.labels(job.kind).observe(time.perf_counter() - started)
            if error is None:
                return self._settle(job, lambda: self._records.ack(job, dict(result or {})), RunOutcome.SUCCEEDED)
            return self._record_failure(job, error)
        finally:
            clear_context()
            otel_context.detach(trace_token)

    def _record_failure(self, job: Job, exc: Exception) -> RunOutcome:
        permanent = isinstance(exc, PermanentJobError | ValidationFailed)
        message = f"{type(exc).__name__}: {exc}"
        last = permanent or job.attempts >= job.max_attempts
        if last:
            log.error("job.dead_lettered", error=message, exc_info=exc)
        else:
            log.warning("job.failed_will_retry", error=message)
        outcome = RunOutcome.DEAD if last else RunOutcome.RETRIED
        return self._settle(job, lambda: self._records.fail(job, message, permanent=permanent), outcome)

    def _settle(self, job: Job, action: Callable[[], Job], outcome: RunOutcome) -> RunOutcome:
        try:
            action()
        except LeaseLost:
            log.warning("job.lease_lost", outcome=outcome.value)
            outcome = RunOutcome.LEASE_LOST
        if self._metrics is not None:
            self._metrics.jobs.labels(job.kind, outcome.value).inc()
        log.info("job.finished", outcome=outcome.value)
        return outcome

    def _heartbeat(self, job: Job, done: threading.Event, keep_delivery: Callable[[], None] | None) -> None:
        interval = max(self._visibility.total_seconds() / 3, 0.05)
        while not done.wait(interval):
            try:
                self._records.extend(job, visibility_timeout=self._visibility)
                if keep_delivery is not None:
                    keep_delivery()
            except LeaseLost:
                log.warning("job.heartbeat_lease_lost")
                return
            except Exception:
                log.exception("job.heartbeat_failed")
