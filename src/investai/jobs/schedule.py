"""Recurring work as data: each schedule names a job kind and a cron expression (UTC), and its trigger only
enqueues that job, so the work itself is retried and observable. The same list drives the in-process scheduler
and what operators see on the system page.

Each trigger's idempotency key holds its period (the day for daily work, the minute otherwise), so however many
processes run a scheduler, a period enqueues its job once.
"""

from __future__ import annotations

from datetime import datetime

from investai.config import Backend, Settings
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
    ROTATE_KEYS,
)
from investai.ports.jobs import JobRecords

__all__ = ["Schedule", "enqueue_scheduled", "schedules", "shape_schedules"]


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
    key_rotation_cron: str | None = None,
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
        ("key-rotation", key_rotation_cron or "", ROTATE_KEYS, DAILY),
    ]
    return [Schedule(name, cron, kind, dedupe) for name, cron, kind, dedupe in listed if cron.strip()]


def shape_schedules(
    settings: Settings,
    *,
    tiers_moved_by_store: bool,
    backups_taken: bool,
    jobs_dispatched: bool,
    history_compactable: bool,
    keys_rotated_by_service: bool | None = None,
) -> list[Schedule]:
    """The schedules ``settings`` ask for, less what the deployment's shape does without a job: document tiers
    where the object store's lifecycle rules move them, backups where the shape takes none itself, redelivery
    where no queue delivers jobs, compaction where the bar history is not compactable, key rotation where the
    key service rotates its keys itself (KMS; by default, the AWS backend)."""
    if keys_rotated_by_service is None:
        keys_rotated_by_service = settings.backend is Backend.AWS
    return schedules(
        maintenance_cron=settings.maintenance_cron,
        lifecycle_cron="" if tiers_moved_by_store else settings.document_lifecycle_cron,
        market_retention_cron=settings.market_retention_cron,
        market_refresh_cron=settings.market_refresh_cron,
        ideas_expiry_cron=settings.ideas_expiry_cron,
        backup_cron=settings.backup_cron if backups_taken else None,
        redelivery_cron=settings.job_redelivery_cron if jobs_dispatched else None,
        market_compaction_cron=settings.market_compaction_cron if history_compactable else None,
        key_rotation_cron=None if keys_rotated_by_service else settings.key_rotation_cron,
    )


def enqueue_scheduled(records: JobRecords, schedule: Schedule, at: datetime) -> None:
    """What every trigger does, in process or from EventBridge: enqueue the job once for the period."""
    records.enqueue(schedule.job_kind, idempotency_key=schedule.dedupe_key(at))
