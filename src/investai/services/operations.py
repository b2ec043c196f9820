"""Operational use cases: readiness of every store, the gauges a metrics scrape samples, and housekeeping."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from investai.domain.common import epoch_ms
from investai.domain.jobs import Job, JobStatus
from investai.ports.backups import Backups
from investai.ports.clock import Clock
from investai.ports.health import HealthCheck
from investai.ports.identity import TokenStore
from investai.ports.jobs import JobRecords
from investai.ports.repositories import ProfileRepository


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    error: str | None = None


@dataclass(frozen=True)
class Readiness:
    checks: list[CheckResult]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]


@dataclass(frozen=True)
class DiskUsage:
    free_bytes: int
    total_bytes: int

    @property
    def used_ratio(self) -> float:
        return 1.0 - self.free_bytes / self.total_bytes if self.total_bytes else 0.0


@dataclass(frozen=True)
class OperationalSample:
    """What a metrics scrape samples: cheap reads only (a count per job status, a few ready jobs, one
    ``statvfs``, the newest backup's manifest)."""

    job_counts: dict[JobStatus, int]
    oldest_ready_job_age_s: float  # 0 when no job waits
    data_dir: DiskUsage | None  # None when the directory does not exist yet
    last_backup_at: datetime | None  # None when no backup exists
    backups_taken_here: bool  # False where AWS takes the backups (nothing to sample)

    @property
    def dead_letter_jobs(self) -> int:
        return self.job_counts.get(JobStatus.DEAD, 0)


READY_SAMPLE = 20
"""Ready jobs read to find the longest waiting. SQLite orders them by ``available_at``, and a job whose lease ran
out became ready later than that, so the first few are compared. DynamoDB orders them by priority first, which
makes the value approximate there; on AWS the queue's own ``ApproximateAgeOfOldestMessage`` is what is alarmed."""


class OperationsService:
    def __init__(
        self,
        *,
        checks: Sequence[HealthCheck],
        queue: JobRecords,
        sessions: TokenStore,
        clock: Clock,
        profiles: ProfileRepository,
        pitr_retention: timedelta,
        redeliver_after: timedelta = timedelta(minutes=15),
    ) -> None:
        self._redeliver_after = redeliver_after
        self._checks = list(checks)
        self._queue = queue
        self._sessions = sessions
        self._clock = clock
        self._profiles = profiles
        self._pitr_retention = pitr_retention

    def readiness(self) -> Readiness:
        """Run every component's check; a failing one is reported by name with its reason."""
        results = []
        for component in self._checks:
            started = time.perf_counter()
            try:
                component.check()
            except Exception as exc:  # a readiness probe reports failures, it does not raise them
                error: str | None = f"{type(exc).__name__}: {exc}"[:300]
            else:
                error = None
            elapsed = (time.perf_counter() - started) * 1000
            results.append(CheckResult(component.health_name, error is None, round(elapsed, 3), error))
        return Readiness(results)

    def purge_expired(self) -> dict[str, int]:
        """Housekeeping: finished jobs past their time to live, expired sessions and single-use keys, and
        profile revisions superseded before the point-in-time retention window (idea revisions are the
        ideas' history of versions and are never pruned)."""
        now = self._clock.now()
        return {
            "jobs": self._queue.purge_expired(),
            "sessions": self._sessions.purge_expired(at=now),
            "profile_revisions": self._profiles.prune_revisions(epoch_ms(now - self._pitr_retention)),
        }

    def redeliver_stale_jobs(self) -> int:
        """Send again the ids of ready jobs whose message may be lost (queue-delivered shapes only)."""
        return self._queue.redeliver_stale(older_than=self._redeliver_after)

    def job_counts(self) -> dict[JobStatus, int]:
        return self._queue.counts()

    def sample(self, *, data_dir: Path | None, backups: Backups | None) -> OperationalSample:
        """The gauges of a metrics scrape: jobs by status, the oldest ready job's wait, the data directory's
        file system and the newest backup of ``backups`` (``None`` where AWS takes them)."""
        latest = backups.latest() if backups is not None else None
        return OperationalSample(
            job_counts=self._queue.counts(),
            oldest_ready_job_age_s=self.oldest_ready_job_age_s(),
            data_dir=_disk_usage(data_dir),
            last_backup_at=latest.created_at if latest is not None else None,
            backups_taken_here=backups is not None,
        )

    def oldest_ready_job_age_s(self) -> float:
        """Seconds the longest-waiting ready job (queued and due, or leased with a lease that ran out) has
        waited for a worker; 0 when none waits. The records' own ready-job query (the stale-job redelivery's),
        read for at most :data:`READY_SAMPLE` jobs."""
        now = self._clock.now()
        ready = self._queue._stale(now, READY_SAMPLE)  # the port's own query of ready jobs
        return max((_waited_s(job, now) for job in ready), default=0.0)


def _waited_s(job: Job, now: datetime) -> float:
    """How long a ready job has waited: since its lease ran out, else since it became available."""
    ready_since = job.lease_expires_at if job.status is JobStatus.LEASED and job.lease_expires_at else job.available_at
    return max((now - ready_since).total_seconds(), 0.0)


def _disk_usage(path: Path | None) -> DiskUsage | None:
    if path is None or not path.exists():
        return None
    usage = shutil.disk_usage(path)
    return DiskUsage(free_bytes=usage.free, total_bytes=usage.total)
