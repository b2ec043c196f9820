"""Recurring work: each trigger only enqueues a job, so the work itself is retried and observable."""

from __future__ import annotations

from investai.jobs.handlers import PURGE_EXPIRED
from investai.ports.clock import Clock
from investai.ports.jobs import JobQueue
from investai.ports.scheduler import Scheduler


def register_schedules(*, scheduler: Scheduler, queue: JobQueue, clock: Clock, maintenance_cron: str) -> None:
    def enqueue_purge() -> None:
        # one job per day, however many processes run a scheduler
        queue.enqueue(PURGE_EXPIRED, idempotency_key=f"purge:{clock.now().date().isoformat()}")

    scheduler.add_cron("maintenance", maintenance_cron, enqueue_purge)
