"""Recurring work as data: each schedule names a job kind and a cron expression (UTC), and its trigger only
enqueues that job, so the work itself is retried and observable. The same list drives the in-process scheduler
and what operators see on the system page.

Each trigger's idempotency key holds its period (the day for daily work, the minute otherwise), so however many
processes run a scheduler, a period enqueues its job once.
"""

from __future__ import annotations

from datetime import datetime

from investai.domain.schedules import DAILY, EVERY_MINUTE, Schedule
from investai.jobs.kinds import (
    BACKUP,
    DOCUMENT_LIFECYCLE,
    EXPIRE_IDEAS,
    MARKET_COMPACTION,
    MARKET_REFRESH,
    MARKET_RETENTION,
    PURGE_EXPIRED,
    REDELIVER_JOBS,
)
from investai.ports.jobs import JobRecords

__all__ = ["Schedule", "enqueue_scheduled", "schedules"]


def schedules(
    *,
    maintenance_cron: str,
    lifecycle_cron: str,
    market_retention_cron: str | None = None,
    market_refresh_cron: str | None = None,
    ideas_expiry_cron: str | None = None,
    backup_cron: str | None = None,
    redelivery_cron: str | None = None,
    market_compaction_cron: str | None = None,
) -> list[Schedule]:
    """Every schedule configured; an empty or missing cron expression leaves its schedule out."""
    listed = [
        ("maintenance", maintenance_cron, PURGE_EXPIRED, DAILY),
        ("document-lifecycle", lifecycle_cron, DOCUMENT_LIFECYCLE, DAILY),
        ("backup", backup_cron or "", BACKUP, EVERY_MINUTE),
        ("ideas-expiry", ideas_expiry_cron or "", EXPIRE_IDEAS, EVERY_MINUTE),
        ("market-retention", market_retention_cron or "", MARKET_RETENTION, EVERY_MINUTE),
        ("market-refresh", market_refresh_cron or "", MARKET_REFRESH, EVERY_MINUTE),
        ("job-redelivery", redelivery_cron or "", REDELIVER_JOBS, EVERY_MINUTE),
        ("market-compaction", market_compaction_cron or "", MARKET_COMPACTION, DAILY),
    ]
    return [Schedule(name, cron, kind, dedupe) for name, cron, kind, dedupe in listed if cron.strip()]


def enqueue_scheduled(records: JobRecords, schedule: Schedule, at: datetime) -> None:
    """What every trigger does, in process or from EventBridge: enqueue the job once for the period."""
    records.enqueue(schedule.job_kind, idempotency_key=schedule.dedupe_key(at))
