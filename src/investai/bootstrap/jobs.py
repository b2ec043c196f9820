"""The job records' policy from the settings, the same in both shapes: retries with back-off, then the dead
letter; finished jobs kept for ``job_ttl_days``."""

from __future__ import annotations

from datetime import timedelta

from investai.config import Settings
from investai.domain.jobs import RetryPolicy


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.job_max_attempts,
        base_delay_s=settings.job_backoff_base_s,
        max_delay_s=settings.job_backoff_max_s,
    )


def job_ttl(settings: Settings) -> timedelta:
    return timedelta(days=settings.job_ttl_days)
