"""Recurring work: each trigger only enqueues a job, so the work itself is retried and observable."""

from __future__ import annotations

from investai.jobs.handlers import (
    BACKUP,
    DOCUMENT_LIFECYCLE,
    EXPIRE_IDEAS,
    MARKET_REFRESH,
    MARKET_RETENTION,
    PURGE_EXPIRED,
)
from investai.ports.clock import Clock
from investai.ports.jobs import JobQueue
from investai.ports.scheduler import Scheduler


def register_schedules(
    *,
    scheduler: Scheduler,
    queue: JobQueue,
    clock: Clock,
    maintenance_cron: str,
    lifecycle_cron: str,
    market_retention_cron: str | None = None,
    market_refresh_cron: str | None = None,
    ideas_expiry_cron: str | None = None,
    backup_cron: str | None = None,
) -> None:
    # one job per day each, however many processes run a scheduler
    def enqueue_purge() -> None:
        queue.enqueue(PURGE_EXPIRED, idempotency_key=f"purge:{clock.now().date().isoformat()}")

    def enqueue_lifecycle() -> None:
        queue.enqueue(DOCUMENT_LIFECYCLE, idempotency_key=f"lifecycle:{clock.now().date().isoformat()}")

    # at most one of each per minute, however many processes run a scheduler
    def enqueue_retention() -> None:
        queue.enqueue(MARKET_RETENTION, idempotency_key=f"market-retention:{_minute(clock)}")

    def enqueue_refresh() -> None:
        queue.enqueue(MARKET_REFRESH, idempotency_key=f"market-refresh:{_minute(clock)}")

    def enqueue_expiry() -> None:
        queue.enqueue(EXPIRE_IDEAS, idempotency_key=f"ideas-expiry:{_minute(clock)}")

    def enqueue_backup() -> None:
        queue.enqueue(BACKUP, idempotency_key=f"backup:{_minute(clock)}")

    scheduler.add_cron("maintenance", maintenance_cron, enqueue_purge)
    if backup_cron:
        scheduler.add_cron("backup", backup_cron, enqueue_backup)
    if ideas_expiry_cron:
        scheduler.add_cron("ideas-expiry", ideas_expiry_cron, enqueue_expiry)
    scheduler.add_cron("document-lifecycle", lifecycle_cron, enqueue_lifecycle)
    if market_retention_cron:
        scheduler.add_cron("market-retention", market_retention_cron, enqueue_retention)
    if market_refresh_cron:
        scheduler.add_cron("market-refresh", market_refresh_cron, enqueue_refresh)


def _minute(clock: Clock) -> str:
    return clock.now().strftime("%Y-%m-%dT%H:%M")
