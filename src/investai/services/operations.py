"""Operational use cases: readiness of every store, and housekeeping."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from investai.domain.common import epoch_ms
from investai.domain.jobs import JobStatus
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
