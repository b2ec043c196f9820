"""Job records on SQLite, polled by the workers, with SQS semantics (see :mod:`investai.ports.jobs`)."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from investai.adapters.local.sqlite import SqliteDatabase
from investai.domain.common import epoch_ms
from investai.domain.errors import Conflict, NotFound
from investai.domain.jobs import TERMINAL_JOB_STATUSES, Job, JobStatus, RetryPolicy
from investai.ports.clock import Clock
from investai.ports.jobs import ClaimOutcome, JobRecords, LeaseLost


class SqliteJobRecords(JobRecords):
    def __init__(
        self,
        *,
        db: SqliteDatabase,
        clock: Clock,
        retry: RetryPolicy,
        ttl: timedelta,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(clock=clock, retry=retry, ttl=ttl, rng=rng)
        self._db = db

    def get(self, job_id: str) -> Job:
        row = self._db.connection().execute("SELECT body FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"job {job_id} not found")
        return Job.model_validate_json(row["body"])

    def cancel(self, job_id: str) -> Job:
        with self._db.transaction():
            job = self.get(job_id)
            if job.finished:
                raise Conflict(f"job {job_id} has already finished ({job.status.value})")
            updated = job.model_copy(
                update={
                    "status": JobStatus.CANCELLED,
                    "lease_token": None,
                    "updated_at": self._clock.now(),
                    "expires_at": self._expiry(),
                }
            )
            self._save(updated)
        return updated

    def _redrive(self, job_id: str) -> Job:
        with self._db.transaction():
            job = self.get(job_id)
            if job.status is not JobStatus.DEAD:
                raise Conflict(f"job {job_id} is not dead-lettered")
            now = self._clock.now()
            updated = job.model_copy(
                update={
                    "status": JobStatus.QUEUED,
                    "attempts": 0,
                    "available_at": now,
                    "updated_at": now,
                    "expires_at": now + self._ttl,
                }
            )
            self._save(updated)
        return updated

    def dead_letters(self, *, limit: int = 100) -> list[Job]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT body FROM jobs WHERE status = ? ORDER BY created_at LIMIT ?", (JobStatus.DEAD.value, limit)
            )
            .fetchall()
        )
        return [Job.model_validate_json(row["body"]) for row in rows]

    def counts(self) -> dict[JobStatus, int]:
        rows = self._db.connection().execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetchall()
        found = {JobStatus(row["status"]): int(row["n"]) for row in rows}
        return {status: found.get(status, 0) for status in JobStatus}

    def purge_expired(self) -> int:
        finished = tuple(status.value for status in TERMINAL_JOB_STATUSES)
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM jobs WHERE expires_at <= ? AND status IN (?, ?, ?)",
                (epoch_ms(self._clock.now()), *finished),
            )
        return int(cursor.rowcount)

    def check(self) -> None:
        self._db.connection().execute("SELECT 1 FROM jobs LIMIT 1").fetchall()

    # -- hooks --------------------------------------------------------------------------------------
    def _insert(self, job: Job) -> Job:
        with self._db.transaction() as conn:
            if job.idempotency_key is not None:
                existing = conn.execute(
                    "SELECT body FROM jobs WHERE kind = ? AND idempotency_key = ?", (job.kind, job.idempotency_key)
                ).fetchone()
                if existing is not None:
                    return Job.model_validate_json(existing["body"])
            try:
                conn.execute(
                    "INSERT INTO jobs (id, kind, status, idempotency_key, available_at, lease_expires_at, lease_token,"
                    " attempts, max_attempts, created_at, expires_at, body, priority)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*_row(job), job.priority),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"job {job.id} already exists") from exc
        return job

    def _lease(self, now: datetime, visibility_timeout: timedelta, kinds: Sequence[str] | None) -> Job | None:
        stamp = epoch_ms(now)
        kind_filter: str = ""
        kind_args: tuple[str, ...] = ()
        if kinds:
            kind_filter = f" AND kind IN ({', '.join('?' for _ in kinds)})"
            kind_args = tuple(kinds)
        sql = (
            "SELECT body FROM jobs WHERE ((status = 'queued' AND available_at <= ?)"  # noqa: S608
            f" OR (status = 'leased' AND lease_expires_at <= ?)){kind_filter}"
            " ORDER BY priority DESC, available_at, created_at LIMIT 1"
        )
        with self._db.transaction() as conn:
            while True:
                row = conn.execute(sql, (stamp, stamp, *kind_args)).fetchone()
                if row is None:
                    return None
                claim, updated = self._decide_claim(Job.model_validate_json(row["body"]), now, visibility_timeout)
                if updated is None:  # not ready after all (the query and the rule agree; a guard, not a path)
                    return None
                self._save(updated)
                if claim.outcome is ClaimOutcome.CLAIMED:
                    return updated
                # dead-lettered: its last attempt's worker was lost; look for the next

    def _stale(self, cutoff: datetime, limit: int) -> list[Job]:
        stamp = epoch_ms(cutoff)
        rows = (
            self._db.connection()
            .execute(
                "SELECT body FROM jobs WHERE (status = 'queued' AND available_at <= ?)"
                " OR (status = 'leased' AND lease_expires_at <= ?) ORDER BY available_at LIMIT ?",
                (stamp, stamp, limit),
            )
            .fetchall()
        )
        return [Job.model_validate_json(row["body"]) for row in rows]

    def _swap(self, expected: Job, updated: Job) -> bool:
        with self._db.transaction():
            try:
                current = self.get(expected.id)
            except NotFound:
                return False
            if not _same_state(current, expected):
                return False
            self._save(updated)
        return True

    def _update_leased(self, job: Job, **changes: Any) -> Job:
        with self._db.transaction():
            current = self.get(job.id)
            if current.status is not JobStatus.LEASED or current.lease_token != job.lease_token:
                raise LeaseLost(f"job {job.id} is no longer leased by this worker")
            if changes.get("status") in TERMINAL_JOB_STATUSES or changes.get("status") is JobStatus.QUEUED:
                changes["lease_token"] = None
            updated = current.model_copy(update={**changes, "updated_at": self._clock.now()})
            updated = Job.model_validate(updated.model_dump())
            self._save(updated)
        return updated

    def _save(self, job: Job) -> None:
        conn = self._db.connection()
        job_id, *values = _row(job)
        conn.execute(
            "UPDATE jobs SET kind = ?, status = ?, idempotency_key = ?, available_at = ?, lease_expires_at = ?,"
            " lease_token = ?, attempts = ?, max_attempts = ?, created_at = ?, expires_at = ?, body = ?"
            " WHERE id = ?",
            (*values, job_id),
        )


def _same_state(current: Job, expected: Job) -> bool:
    return (current.status, current.attempts, current.lease_token, current.updated_at) == (
        expected.status,
        expected.attempts,
        expected.lease_token,
        expected.updated_at,
    )


def _row(job: Job) -> tuple[Any, ...]:
    return (
        job.id,
        job.kind,
        job.status.value,
        job.idempotency_key,
        epoch_ms(job.available_at),
        epoch_ms(job.lease_expires_at) if job.lease_expires_at else None,
        job.lease_token,
        job.attempts,
        job.max_attempts,
        epoch_ms(job.created_at),
        epoch_ms(job.expires_at),
        job.model_dump_json(),
    )
