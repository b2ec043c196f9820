"""The worker loop: lease a job, run its handler with a lease heartbeat, then ack or fail it.

Shutdown is graceful: once the stop event is set the worker finishes the job in hand and leaves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from investai.domain.errors import DomainError, ValidationFailed
from investai.domain.jobs import Job
from investai.observability.logging import bind_context, clear_context, get_logger
from investai.observability.metrics import Metrics
from investai.ports.jobs import JobQueue, LeaseLost

JobHandler = Callable[[Job], Mapping[str, Any] | None]

log = get_logger(__name__)


class PermanentJobError(DomainError):
    """The job cannot succeed however often it is retried: dead-letter it now."""

    code = "permanent_job_error"


class Worker:
    def __init__(
        self,
        *,
        queue: JobQueue,
        handlers: Mapping[str, JobHandler],
        visibility_timeout: timedelta,
        poll_interval: float = 1.0,
        metrics: Metrics | None = None,
        name: str = "worker",
    ) -> None:
        self._queue = queue
        self._handlers = dict(handlers)
        self._visibility = visibility_timeout
        self._poll_interval = poll_interval
        self._metrics = metrics
        self.name = name

    def run(self, stop: threading.Event) -> None:
        """Process jobs until ``stop`` is set; the job in hand is always finished first."""
        log.info("worker.started", worker=self.name, kinds=sorted(self._handlers))
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("worker.poll_failed", worker=self.name)
                worked = False
            if not worked:
                stop.wait(self._poll_interval)
        log.info("worker.stopped", worker=self.name)

    def run_once(self) -> bool:
        """Lease and run one job; False when none was available."""
        job = self._queue.lease(visibility_timeout=self._visibility, kinds=list(self._handlers))
        if job is None:
            return False
        self._execute(job)
        return True

    def _execute(self, job: Job) -> None:
        bind_context(job_id=job.id, job_kind=job.kind, attempt=job.attempts)
        done = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(job, done), daemon=True)
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
                self._settle(job, lambda: self._queue.ack(job, dict(result or {})), "succeeded")
            else:
                self._record_failure(job, error)
        finally:
            clear_context()

    def _record_failure(self, job: Job, exc: Exception) -> None:
        permanent = isinstance(exc, PermanentJobError | ValidationFailed)
        message = f"{type(exc).__name__}: {exc}"
        last = permanent or job.attempts >= job.max_attempts
        if last:
            log.error("job.dead_lettered", error=message, exc_info=exc)
        else:
            log.warning("job.failed_will_retry", error=message)
        self._settle(job, lambda: self._queue.fail(job, message, permanent=permanent), "dead" if last else "retried")

    def _settle(self, job: Job, action: Callable[[], Job], outcome: str) -> None:
        try:
            action()
        except LeaseLost:
            log.warning("job.lease_lost", outcome=outcome)
            outcome = "lease_lost"
        if self._metrics is not None:
            self._metrics.jobs.labels(job.kind, outcome).inc()
        log.info("job.finished", outcome=outcome)

    def _heartbeat(self, job: Job, done: threading.Event) -> None:
        interval = max(self._visibility.total_seconds() / 3, 0.05)
        while not done.wait(interval):
            try:
                self._queue.extend(job, visibility_timeout=self._visibility)
            except LeaseLost:
                log.warning("job.heartbeat_lease_lost")
                return
            except Exception:
                log.exception("job.heartbeat_failed")


class WorkerPool:
    """``concurrency`` workers on threads sharing one stop event."""

    def __init__(self, workers: list[Worker]) -> None:
        self._workers = workers
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def workers(self) -> list[Worker]:
        return list(self._workers)

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("the worker pool is already running")
        self._stop = threading.Event()
        for worker in self._workers:
            thread = threading.Thread(target=worker.run, args=(self._stop,), name=worker.name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
