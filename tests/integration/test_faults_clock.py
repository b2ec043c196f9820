"""The wall clock stepping back one hour and forward one day (an NTP correction, a VM restored from a snapshot),
with the injected :class:`FakeClock` standing in for the system clock, during job leases, token validity, rate
limiting and schedules. Each test's docstring says what the service does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.errors import Conflict, DomainError
from investai.domain.jobs import JobStatus
from investai.jobs.schedule import enqueue_scheduled
from investai.server import create_app
from investai.services.auth_common import CallContext
from tests.conftest import sign_up
from tests.factories import make_profile

BACK = timedelta(hours=-1)
FORWARD = timedelta(days=1)
VISIBILITY = timedelta(minutes=5)
KIND = "test.clock"


def test_job_leases_across_clock_steps(container: Container, clock: FakeClock) -> None:
    """Back one hour: a held lease stays held (its expiry is further away, so no other worker takes the job) and
    its ack is accepted; a job queued before the step waits until the clock is back at its ``available_at``
    (delayed by at most the step, never lost); one queued after the step runs at once. Forward one day: every
    lease looks expired, so a job still in a worker's hands is leased again — at-least-once, as after a lost
    worker — and the first worker's late ack is refused, so the result is recorded once."""
    held = container.jobs.enqueue(KIND, {"n": 1})
    waiting = container.jobs.enqueue(KIND, {"n": 2})
    lease = container.jobs.lease(visibility_timeout=VISIBILITY)
    assert lease is not None
    assert lease.id == held.id

    clock.advance(BACK)
    assert container.jobs.lease(visibility_timeout=VISIBILITY) is None  # the held one stays held; n=2 waits
    late = container.jobs.enqueue(KIND, {"n": 3})
    assert container.jobs.get(held.id).status is JobStatus.LEASED
    done = container.jobs.ack(lease, {"by": "first"})
    assert done.status is JobStatus.SUCCEEDED
    taken = container.jobs.lease(visibility_timeout=VISIBILITY)
    assert taken is not None
    assert taken.id == late.id
    container.jobs.ack(taken, {"by": "first"})
    clock.advance(-BACK)  # the clock is back where it was: the waiting job runs
    waited = container.jobs.lease(visibility_timeout=VISIBILITY)
    assert waited is not None
    assert waited.id == waiting.id

    clock.advance(FORWARD)  # the worker holding n=2 is still busy, but its lease looks expired
    again = container.jobs.lease(visibility_timeout=VISIBILITY)
    assert again is not None
    assert (again.id, again.attempts) == (waiting.id, 2)
    container.jobs.ack(again, {"by": "second"})
    with pytest.raises(Conflict):
        container.jobs.ack(waited, {"by": "first"})
    finished = container.jobs.get(waiting.id)
    assert (finished.status, finished.result) == (JobStatus.SUCCEEDED, {"by": "second"})
    assert {container.jobs.get(job.id).status for job in (held, waiting, late)} == {JobStatus.SUCCEEDED}


def test_tokens_across_clock_steps(container: Container, clock: FakeClock) -> None:
    """Back one hour: an access token issued before the step is "not valid yet" (401) until the clock catches
    up; a refresh (the refresh token has no such check) gives a new access token valid at once. Forward one
    day: the access token has expired (401); the refresh token (30 days) still refreshes, once — its reuse is
    still detected."""
    account = sign_up(container)
    verifier = container.identity.verifier
    assert verifier.verify(account.tokens.access_token).user_id == account.user.id

    clock.advance(BACK)
    with pytest.raises(DomainError, match="not valid yet"):
        verifier.verify(account.tokens.access_token)
    renewed = container.identity.auth.refresh(account.tokens.refresh_token, CallContext())
    assert verifier.verify(renewed.access_token).user_id == account.user.id

    clock.advance(FORWARD)
    with pytest.raises(DomainError, match="expired"):
        verifier.verify(renewed.access_token)
    later = container.identity.auth.refresh(renewed.refresh_token, CallContext())
    assert verifier.verify(later.access_token).user_id == account.user.id
    with pytest.raises(DomainError):
        container.identity.auth.refresh(renewed.refresh_token, CallContext())  # reuse of a rotated token


@pytest.fixture
def limited(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Container, TestClient]]:
    settings = Settings(data_dir=tmp_path / "var", rate_limit_requests=5, rate_limit_window_s=60.0, _env_file=None)
    container = build_container(settings, clock=clock)
    with TestClient(create_app(container), base_url="http://127.0.0.1") as client:
        yield container, client
    container.close()


def test_rate_limits_and_cached_answers_across_clock_steps(
    limited: tuple[Container, TestClient], clock: FakeClock
) -> None:
    """The per-client limit (5 a minute here) counts on the clock. Back one hour: time goes on from where it was
    for the limiter, so a client at its limit waits out the rest of its window (Retry-After <= 60 s), not the
    step as well; forward one day: the window is over, the client has its full limit again. A cached answer
    stored "later" than the stepped-back clock is dropped, never served for an extra hour."""
    container, client = limited
    account = sign_up(container)
    answers = [client.get("/api/v1/documents", headers=account.headers).status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]

    clock.advance(BACK)
    headers = _fresh(container, account.tokens.refresh_token)  # the old access token is "not valid yet"
    refused = client.get("/api/v1/documents", headers=headers)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    clock.advance(timedelta(seconds=61))
    assert client.get("/api/v1/documents", headers=headers).status_code == 200

    clock.advance(FORWARD)
    headers = _fresh(container, headers["X-Refresh"])
    answers = [client.get("/api/v1/documents", headers=headers).status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]


def _fresh(container: Container, refresh_token: str) -> dict[str, str]:
    """Headers with an access token valid at the clock's time now (and the next refresh token beside them)."""
    tokens = container.identity.auth.refresh(refresh_token, CallContext())
    return {"Authorization": f"Bearer {tokens.access_token}", "X-Refresh": tokens.refresh_token}


def test_schedules_across_clock_steps(container: Container, clock: FakeClock) -> None:
    """A trigger enqueues its job under its period's key. Back one hour: the trigger that fires again for the
    same period (the same day for daily work, the same minute otherwise) finds its job already queued, so
    nothing runs twice. Forward one day: the skipped day's trigger does not fire (APScheduler coalesces a missed
    run into the next), the new day's period enqueues once."""
    clock.set(datetime(2024, 2, 1, 3, 0, tzinfo=UTC))
    found = {schedule.name: schedule for schedule in container.schedules()}
    rotation, maintenance = found["key-rotation"], found["maintenance"]

    def fire() -> set[str]:
        jobs = set()
        for schedule in (rotation, maintenance):
            enqueue_scheduled(container.jobs, schedule, clock.now())
            jobs.add(schedule.dedupe_key(clock.now()))
        return jobs

    first = fire()
    clock.advance(BACK + timedelta(minutes=30))  # 02:30: the triggers fire once more at 03:00 and 03:17
    clock.set(clock.now().replace(hour=3, minute=0))
    assert fire() == first
    clock.advance(FORWARD)
    assert fire().isdisjoint(first)

    ran: list[str] = []
    worker = container.worker_pool().workers[0]
    while worker.run_once():
        ran.append("job")
    assert len(ran) == 4  # two periods x two schedules
    assert container.keys.current_key_id() == "local:3"  # one rotation per period, not per trigger


def test_a_cached_answer_is_not_served_for_the_length_of_a_step_back(
    limited: tuple[Container, TestClient], clock: FakeClock
) -> None:
    """Back one hour: a cached answer (TTL 300 s) stored "later" than the clock now says is dropped, so a
    change made meanwhile (here, outside the API, which no write through the API would invalidate) shows."""
    container, client = limited
    account = sign_up(container)
    first = client.get("/api/v1/profile", headers=account.headers)
    assert first.status_code == 200, first.text
    assert client.get("/api/v1/profile", headers=account.headers).headers.get("X-Cache") == "HIT"
    changed = make_profile(account.user, updated_at=clock.now(), preferences={"sectors": ["Energy"]})
    container.profiles.put(changed)
    clock.advance(BACK)
    headers = _fresh(container, account.tokens.refresh_token)
    answer = client.get("/api/v1/profile", headers={"Authorization": headers["Authorization"]})
    assert answer.headers.get("X-Cache") != "HIT"
    assert answer.json()["preferences"]["sectors"] == ["Energy"]
