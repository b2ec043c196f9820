"""Recurring work: each trigger only enqueues a job, so the work itself is retried and observable."""

from __future__ import annotations

from investai.jobs.handlers import DOCUMENT_LIFECYCLE, PURGE_EXPIRED
from investai.ports.clock import Clock
from investai.ports.jobs import JobQueue
from investai.ports.scheduler import Scheduler


def register_schedules(
    *, scheduler: Scheduler, queue: JobQueue, clock: Clock, maintenance_cron: str, lifecycle_cron: str
) -> None:
    # one job per day each, however many processes run a scheduler
    def enqueue_purge() -> None:
        queue.enqueue(PURGE_EXPIRED, idempotency_key=f"purge:{clock.now().date().isoformat()}")

    def enqueue_lifecycle() -> None:
        queue.enqueue(DOCUMENT_LIFECYCLE, idempotency_key=f"lifecycle:{clock.now().date().isoformat()}")

    scheduler.add_cron("maintenance", maintenance_cron, enqueue_purge)
    scheduler.add_cron("document-lifecycle", lifecycle_cron, enqueue_lifecycle)
