"""Workers: a loop that takes ready jobs and runs them, until told to stop (the job in hand is finished first).

Two feeds: polling the job records (the embedded shape, where the records are the queue), or receiving job ids
from the dispatch queue (SQS on AWS; a Lambda takes this loop's place there and calls the same runner).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Protocol

from investai.jobs.runner import JobHandler, JobRunner, PermanentJobError
from investai.observability.logging import get_logger
from investai.observability.metrics import Metrics
from investai.ports.jobs import JobDispatch, JobRecords

__all__ = ["JobHandler", "PermanentJobError", "Worker", "WorkerPool"]

log = get_logger(__name__)


class Feed(Protocol):
    def run_once(self, runner: JobRunner) -> bool:
        """Take and run one batch of work; False when there was none."""
        ...


class PolledRecords:
    """Lease the oldest ready record of the runner's kinds."""

    def __init__(self, records: JobRecords, *, visibility_timeout: timedelta) -> None:
        self._records = records
        self._visibility = visibility_timeout

    def run_once(self, runner: JobRunner) -> bool:
        job = self._records.lease(visibility_timeout=self._visibility, kinds=runner.kinds)
        if job is None:
            return False
        runner.run(job)
        return True


class QueueDeliveries:
    """Receive job ids from the dispatch queue; delete each message once its job is settled, else defer it.

    Every worker on a queue handles every kind: a message passed over still counts as received, and enough
    receives would move it to the dead-letter queue while its job waits.
    """

    def __init__(self, dispatch: JobDispatch, *, visibility_timeout: timedelta, wait_s: float = 1.0) -> None:
        self._dispatch = dispatch
        self._visibility = visibility_timeout
        self._wait_s = wait_s

    def run_once(self, runner: JobRunner) -> bool:
        deliveries = self._dispatch.receive(max_messages=1, wait_s=self._wait_s, visibility_timeout=self._visibility)
        for delivery in deliveries:
            keep = partial(self._dispatch.defer, delivery, self._visibility)
            handled = runner.handle(delivery.job_id, keep_delivery=keep)
            if handled.settled:
                self._dispatch.delete(delivery)
            else:
                self._dispatch.defer(delivery, handled.retry_after or timedelta(0))
        return bool(deliveries)


class Worker:
    def __init__(
        self,
        *,
        records: JobRecords,
        handlers: Mapping[str, JobHandler],
        visibility_timeout: timedelta,
        poll_interval: float = 1.0,
        metrics: Metrics | None = None,
        name: str = "worker",
        dispatch: JobDispatch | None = None,
    ) -> None:
        self.runner = JobRunner(
            records=records, handlers=handlers, visibility_timeout=visibility_timeout, metrics=metrics
        )
        self._feed: Feed = (
            QueueDeliveries(dispatch, visibility_timeout=visibility_timeout)
            if dispatch is not None
            else PolledRecords(records, visibility_timeout=visibility_timeout)
        )
        self._poll_interval = poll_interval
        self.name = name

    def run(self, stop: threading.Event) -> None:
        """Process jobs until ``stop`` is set; the job in hand is always finished first."""
        log.info("worker.started", worker=self.name, kinds=self.runner.kinds)
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
        """Take and run one job; False when none was available."""
        return self._feed.run_once(self.runner)


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
