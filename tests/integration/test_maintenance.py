"""Scheduled housekeeping: one job a day purges finished jobs and expired sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container
from investai.domain.errors import NotFound
from investai.jobs.handlers import PURGE_EXPIRED
from investai.jobs.schedule import enqueue_scheduled, schedules
from investai.ports.identity import RefreshOutcome
from investai.services.auth_common import hash_token
from tests.conftest import Account


def test_the_daily_trigger_enqueues_one_purge_job_per_day(container: Container, clock: FakeClock) -> None:
    listed = {
        schedule.name: schedule for schedule in schedules(maintenance_cron="17 3 * * *", lifecycle_cron="41 2 * * *")
    }
    maintenance = listed["maintenance"]
    assert (maintenance.cron, maintenance.job_kind) == ("17 3 * * *", PURGE_EXPIRED)

    def fire() -> None:
        enqueue_scheduled(container.jobs, maintenance, clock.now())

    fire()
    fire()  # a second scheduler process on the same day
    assert container.jobs.counts()["queued"] == 1
    clock.advance(timedelta(hours=10))  # still the same day (T0 is 09:30)
    fire()
    assert container.jobs.counts()["queued"] == 1
    clock.advance(timedelta(hours=5))  # 00:30 the next day
    fire()
    assert container.jobs.counts()["queued"] == 2


def test_the_purge_removes_finished_jobs_and_expired_sessions(
    container: Container, clock: FakeClock, analyst: Account
) -> None:
    finished = container.jobs.enqueue("report.build")
    leased = container.jobs.lease(visibility_timeout=timedelta(minutes=5), kinds=["report.build"])
    assert leased is not None
    container.jobs.ack(leased)
    clock.advance(timedelta(days=31))  # past the 7-day job TTL and the 30-day session life

    purge = container.jobs.enqueue(PURGE_EXPIRED)
    job = container.jobs.lease(visibility_timeout=timedelta(minutes=5), kinds=[PURGE_EXPIRED])
    assert job is not None
    assert job.id == purge.id
    assert container.handlers[PURGE_EXPIRED](job) == {"purged": {"jobs": 1, "sessions": 1, "profile_revisions": 0}}

    with pytest.raises(NotFound):
        container.jobs.get(finished.id)
    use = container.identity.tokens.use_refresh_token(
        token_hash=hash_token(analyst.tokens.refresh_token), at=clock.now()
    )
    assert use.outcome is RefreshOutcome.UNKNOWN  # the session's rows are gone, not just expired


def test_where_workers_poll_the_records_nothing_is_redelivered(container: Container, clock: FakeClock) -> None:
    container.jobs.enqueue("report.build")
    clock.advance(timedelta(hours=1))
    assert not container.jobs_dispatched
    assert container.operations.redeliver_stale_jobs() == 0
    assert "job-redelivery" not in {schedule.name for schedule in container.schedules()}


def test_a_store_that_rewrites_in_place_has_no_compaction_scheduled(container: Container) -> None:
    assert not container.market.compactable  # DuckDB: nothing to merge
    assert container.market.compact_history() == 0
    assert "market-compaction" not in {schedule.name for schedule in container.schedules()}
