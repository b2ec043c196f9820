"""Recurring work as data: each schedule names a job kind and a cron expression (UTC), and its trigger only
enqueues that job, so the work itself is retried and observable. The same list drives the in-process scheduler
and what operators see on the system page.

Each trigger's idempotency key holds its period (the day for daily work, the minute otherwise), so however many
processes run a scheduler, a period enqueues its job once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    job_kind: str
    once_per: Literal["day", "minute"]

    def idempotency_key(self, clock: Clock) -> str:
        now = clock.now()
        period = now.date().isoformat() if self.once_per == "day" else now.strftime("%Y-%m-%dT%H:%M")
        return f"{self.name}:{period}"


def schedules(
    *,
    maintenance_cron: str,
    lifecycle_cron: str,
    market_retention_cron: str | None = None,
    market_refresh_cron: str | None = None,
    ideas_expiry_cron: str | None = None,
    backup_cron: str | None = None,
) -> list[Schedule]:
    """Every schedule configured; an empty or missing cron expression leaves its schedule out."""
    listed = [
        Schedule("maintenance", maintenance_cron, PURGE_EXPIRED, "day"),
        Schedule("document-lifecycle", lifecycle_cron, DOCUMENT_LIFECYCLE, "day"),
        Schedule("backup", backup_cron or "", BACKUP, "minute"),
        Schedule("ideas-expiry", ideas_expiry_cron or "", EXPIRE_IDEAS, "minute"),
        Schedule("market-retention", market_retention_cron or "", MARKET_RETENTION, "minute"),
        Schedule("market-refresh", market_refresh_cron or "", MARKET_REFRESH, "minute"),
    ]
    return [schedule for schedule in listed if schedule.cron.strip()]


def register_schedules(*, scheduler: Scheduler, queue: JobQueue, clock: Clock, listed: Sequence[Schedule]) -> None:
    """Add a trigger to ``scheduler`` for each schedule: it enqueues the schedule's job once per period."""
    for schedule in listed:

        def enqueue(schedule: Schedule = schedule) -> None:
            queue.enqueue(schedule.job_kind, idempotency_key=schedule.idempotency_key(clock))

        scheduler.add_cron(schedule.name, schedule.cron, enqueue)
