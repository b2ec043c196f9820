"""Contract of the JobRecords port: SQS semantics (leases with a visibility timeout, back-off, dead letters),
and claims of delivered job ids (the push-delivery path).

Every adapter must pass every test here. To add one, write a factory that yields records on fresh storage
using the given clock, retry policy and time to live, and add it to :data:`ADAPTERS`. Time only moves when a
test advances the :class:`FakeClock`. DynamoDB runs on the session's moto server (started only when a DynamoDB
case runs), one fresh table per queue; its requests are serialised (:class:`SerialisedClient`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import pytest

from investai.adapters.aws.dynamodb_jobs import DynamoDbJobRecords
from investai.adapters.aws.provision import ensure_table
from investai.adapters.aws.resources import JOBS_TABLE, ResourceNames
from investai.adapters.local.clock import FakeClock
from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_jobs import SqliteJobRecords
from investai.domain.errors import Conflict, NotFound
from investai.domain.jobs import Job, JobStatus, RetryPolicy
from investai.ports.jobs import MAX_ERROR_CHARS, Claim, ClaimOutcome, JobRecords, LeaseLost
from tests.aws import MotoServer, SerialisedClient, fresh_prefix

VISIBILITY = timedelta(seconds=30)
TTL = timedelta(days=7)
MS = timedelta(milliseconds=1)
RETRY = RetryPolicy(max_attempts=3, base_delay_s=10.0, max_delay_s=1000.0, jitter=0.0)

QueueFactory = Callable[
    [pytest.FixtureRequest, Path, FakeClock, RetryPolicy, timedelta], AbstractContextManager[JobRecords]
]


@contextmanager
def sqlite_queue(
    _request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock, retry: RetryPolicy, ttl: timedelta
) -> Iterator[JobRecords]:
    db = SqliteDatabase(path=tmp_path / "jobs.db", migrations=MIGRATIONS)
    db.migrate()
    try:
        yield SqliteJobRecords(db=db, clock=clock, retry=retry, ttl=ttl)
    finally:
        db.close()


@contextmanager
def dynamodb_queue(
    request: pytest.FixtureRequest, _tmp_path: Path, clock: FakeClock, retry: RetryPolicy, ttl: timedelta
) -> Iterator[JobRecords]:
    moto: MotoServer = request.getfixturevalue("moto")
    client = SerialisedClient(moto.client("dynamodb"))
    table = ResourceNames(prefix=fresh_prefix()).table(JOBS_TABLE.role)
    ensure_table(client, JOBS_TABLE, table)
    try:
        yield DynamoDbJobRecords(dynamodb=client, table_name=table, clock=clock, retry=retry, ttl=ttl)
        assert "scan" not in client.operations
    finally:
        client.delete_table(TableName=table)


ADAPTERS: dict[str, QueueFactory] = {"sqlite": sqlite_queue, "dynamodb": dynamodb_queue}


class OpenQueue(Protocol):
    def __call__(self, *, retry: RetryPolicy = ..., ttl: timedelta = ...) -> JobRecords: ...


@pytest.fixture(params=sorted(ADAPTERS))
def open_queue(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[OpenQueue]:
    """Opens the adapter on fresh storage with a chosen retry policy and time to live (once per test)."""
    factory = ADAPTERS[request.param]
    opened = itertools.count()
    with ExitStack() as stack:

        def open_(*, retry: RetryPolicy = RETRY, ttl: timedelta = TTL) -> JobRecords:
            return stack.enter_context(factory(request, tmp_path / f"queue-{next(opened)}", clock, retry, ttl))

        yield open_


@pytest.fixture
def queue(open_queue: OpenQueue) -> JobRecords:
    return open_queue()


def lease(queue: JobRecords, *, kinds: list[str] | None = None) -> Job:
    job = queue.lease(visibility_timeout=VISIBILITY, kinds=kinds)
    assert job is not None, "expected a job to be leasable"
    return job


def nothing_leasable(queue: JobRecords) -> bool:
    return queue.lease(visibility_timeout=VISIBILITY) is None


# -- enqueue, lease, ack ------------------------------------------------------------------------------


def test_enqueue_stores_a_queued_job(queue: JobRecords, clock: FakeClock) -> None:
    job = queue.enqueue("docs.process", {"document_id": "doc_1"}, owner_id="user_1", organisation_id="org_1")
    assert job.status is JobStatus.QUEUED
    assert job.attempts == 0
    assert job.max_attempts == RETRY.max_attempts
    assert job.available_at == clock.now()
    assert job.expires_at == clock.now() + TTL
    assert queue.get(job.id) == job
    with pytest.raises(NotFound):
        queue.get("job_missing")


def test_lease_returns_none_when_empty(queue: JobRecords) -> None:
    assert nothing_leasable(queue)


def test_higher_priority_is_leased_first_then_oldest(queue: JobRecords, clock: FakeClock) -> None:
    low = queue.enqueue("ideas.generate", {"n": 1}, priority=-1)
    clock.advance(timedelta(seconds=1))
    normal_old = queue.enqueue("ideas.generate", {"n": 2})
    clock.advance(timedelta(seconds=1))
    normal_new = queue.enqueue("ideas.generate", {"n": 3})
    clock.advance(timedelta(seconds=1))
    high = queue.enqueue("ideas.generate", {"n": 4}, priority=1)
    delayed_high = queue.enqueue("ideas.generate", {"n": 5}, priority=5, delay=timedelta(hours=1))
    assert [lease(queue).id for _ in range(4)] == [high.id, normal_old.id, normal_new.id, low.id]
    assert queue.get(delayed_high.id).priority == 5
    assert nothing_leasable(queue)  # a delayed job waits whatever its priority


def test_lease_then_ack(queue: JobRecords, clock: FakeClock) -> None:
    job = queue.enqueue("docs.process", {"document_id": "doc_1"})
    leased = lease(queue)
    assert leased.id == job.id
    assert leased.status is JobStatus.LEASED
    assert leased.attempts == 1
    assert leased.lease_token
    assert leased.lease_expires_at == clock.now() + VISIBILITY
    assert leased.payload == {"document_id": "doc_1"}

    done = queue.ack(leased, {"chunks": 12})
    assert done.status is JobStatus.SUCCEEDED
    assert done.result == {"chunks": 12}
    assert done.lease_token is None
    assert queue.get(job.id) == done
    assert done.finished

    clock.advance(VISIBILITY * 10)
    assert nothing_leasable(queue)  # a finished job is never handed out again


def test_jobs_are_leased_oldest_first(queue: JobRecords, clock: FakeClock) -> None:
    first = queue.enqueue("docs.process")
    clock.advance(timedelta(seconds=1))
    second = queue.enqueue("docs.process")
    assert lease(queue).id == first.id
    assert lease(queue).id == second.id
    assert nothing_leasable(queue)


def test_delayed_job_waits_for_its_delay(queue: JobRecords, clock: FakeClock) -> None:
    job = queue.enqueue("docs.process", delay=timedelta(minutes=1))
    clock.advance(timedelta(minutes=1) - MS)
    assert nothing_leasable(queue)
    clock.advance(MS)
    assert lease(queue).id == job.id


def test_kinds_filter_leases_only_those_kinds(queue: JobRecords) -> None:
    other = queue.enqueue("market.refresh")
    wanted = queue.enqueue("docs.process")
    assert lease(queue, kinds=["docs.process"]).id == wanted.id
    assert queue.lease(visibility_timeout=VISIBILITY, kinds=["docs.process"]) is None
    assert queue.lease(visibility_timeout=VISIBILITY, kinds=["ideas.generate"]) is None
    assert lease(queue, kinds=["ideas.generate", "market.refresh"]).id == other.id


def test_an_empty_kinds_filter_leases_nothing(queue: JobRecords) -> None:
    job = queue.enqueue("docs.process")
    assert queue.lease(visibility_timeout=VISIBILITY, kinds=[]) is None  # e.g. a worker with no handlers
    assert queue.get(job.id).status is JobStatus.QUEUED
    assert lease(queue, kinds=None).id == job.id


# -- visibility timeout -------------------------------------------------------------------------------


def test_leased_job_is_invisible_until_its_visibility_timeout(queue: JobRecords, clock: FakeClock) -> None:
    job = queue.enqueue("docs.process")
    first = lease(queue)
    assert nothing_leasable(queue)
    clock.advance(VISIBILITY - MS)
    assert nothing_leasable(queue)
    assert queue.get(job.id).status is JobStatus.LEASED

    clock.advance(MS * 2)
    second = lease(queue)  # the first worker is presumed dead
    assert second.id == job.id
    assert second.attempts == 2
    assert second.lease_token != first.lease_token
    assert second.lease_expires_at == clock.now() + VISIBILITY


def test_extend_keeps_a_job_invisible(queue: JobRecords, clock: FakeClock) -> None:
    queue.enqueue("docs.process")
    leased = lease(queue)
    clock.advance(VISIBILITY * 2 / 3)
    extended = queue.extend(leased, visibility_timeout=VISIBILITY)
    assert extended.lease_expires_at == clock.now() + VISIBILITY
    assert extended.lease_token == leased.lease_token
    assert extended.attempts == 1

    clock.advance(VISIBILITY * 2 / 3)  # past the original expiry, before the extended one
    assert nothing_leasable(queue)
    assert queue.ack(leased).status is JobStatus.SUCCEEDED


def test_a_lost_lease_cannot_be_acked_failed_or_extended(queue: JobRecords, clock: FakeClock) -> None:
    queue.enqueue("docs.process")
    stale = lease(queue)
    clock.advance(VISIBILITY + MS)
    current = lease(queue)  # another worker took over

    with pytest.raises(LeaseLost):
        queue.ack(stale)
    with pytest.raises(LeaseLost):
        queue.fail(stale, "boom")
    with pytest.raises(LeaseLost):
        queue.extend(stale, visibility_timeout=VISIBILITY)
    assert issubclass(LeaseLost, Conflict)

    assert queue.get(current.id).lease_token == current.lease_token
    assert queue.ack(current).status is JobStatus.SUCCEEDED
    with pytest.raises(LeaseLost):
        queue.ack(current)  # a second ack of the same lease is refused too


def test_lease_expiring_on_the_final_attempt_dead_letters(open_queue: OpenQueue, clock: FakeClock) -> None:
    queue = open_queue(retry=RETRY.model_copy(update={"max_attempts": 2}))
    job = queue.enqueue("docs.process")
    lease(queue)
    clock.advance(VISIBILITY + MS)
    last = lease(queue)
    assert last.attempts == 2
    clock.advance(VISIBILITY + MS)

    assert nothing_leasable(queue)
    dead = queue.get(job.id)
    assert dead.status is JobStatus.DEAD
    assert dead.last_error
    assert dead.lease_token is None
    assert [j.id for j in queue.dead_letters()] == [job.id]
    with pytest.raises(LeaseLost):
        queue.ack(last)


def test_release_returns_a_job_without_counting_the_attempt(queue: JobRecords) -> None:
    job = queue.enqueue("docs.process")
    released = queue.release(lease(queue))
    assert released.status is JobStatus.QUEUED
    assert released.attempts == 0
    assert released.lease_token is None
    again = lease(queue)
    assert again.id == job.id
    assert again.attempts == 1


# -- failure, back-off, dead letters ------------------------------------------------------------------


def test_failed_job_waits_for_its_back_off(queue: JobRecords, clock: FakeClock) -> None:
    job = queue.enqueue("docs.process")
    failed = queue.fail(lease(queue), "ValueError: bad page")
    assert failed.status is JobStatus.QUEUED
    assert failed.last_error == "ValueError: bad page"
    assert failed.lease_token is None
    assert failed.available_at == clock.now() + timedelta(seconds=RETRY.base_delay_s)
    assert queue.get(job.id) == failed

    clock.set(failed.available_at - MS)
    assert nothing_leasable(queue)
    clock.set(failed.available_at)
    retried = lease(queue)
    assert retried.id == job.id
    assert retried.attempts == 2


@pytest.mark.parametrize(
    ("policy", "expected_delays"),
    [
        (RetryPolicy(max_attempts=5, base_delay_s=10.0, max_delay_s=1000.0, jitter=0.0), [10.0, 20.0, 40.0, 80.0]),
        (RetryPolicy(max_attempts=5, base_delay_s=10.0, max_delay_s=25.0, jitter=0.0), [10.0, 20.0, 25.0, 25.0]),
    ],
    ids=["exponential", "capped"],
)
def test_back_off_grows_exponentially_up_to_the_cap(
    open_queue: OpenQueue, clock: FakeClock, policy: RetryPolicy, expected_delays: list[float]
) -> None:
    queue = open_queue(retry=policy)
    job = queue.enqueue("docs.process")
    delays: list[float] = []
    for _ in expected_delays:
        failed = queue.fail(lease(queue), "boom")
        delays.append((failed.available_at - clock.now()).total_seconds())
        clock.set(failed.available_at)
    assert delays == expected_delays

    dead = queue.fail(lease(queue), "boom")
    assert dead.status is JobStatus.DEAD
    assert dead.attempts == policy.max_attempts
    assert queue.get(job.id).status is JobStatus.DEAD


def test_jitter_spreads_delays_within_bounds(open_queue: OpenQueue, clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=2, base_delay_s=100.0, max_delay_s=1000.0, jitter=0.5)
    queue = open_queue(retry=policy)
    delays = set()
    for _ in range(8):
        queue.enqueue("docs.process")
        failed = queue.fail(lease(queue), "boom")
        delay = (failed.available_at - clock.now()).total_seconds()
        assert 50.0 <= delay <= 150.0
        delays.add(delay)
    assert len(delays) > 1


def test_job_is_dead_lettered_after_max_attempts(queue: JobRecords, clock: FakeClock) -> None:
    job = queue.enqueue("docs.process")
    for attempt in range(1, RETRY.max_attempts + 1):
        leased = lease(queue)
        assert leased.attempts == attempt
        result = queue.fail(leased, f"RuntimeError: failure {attempt}")
        clock.set(result.available_at)

    dead = queue.get(job.id)
    assert dead.status is JobStatus.DEAD
    assert dead.attempts == RETRY.max_attempts
    assert dead.last_error == f"RuntimeError: failure {RETRY.max_attempts}"
    assert dead.finished
    assert queue.dead_letters() == [dead]
    clock.advance(timedelta(days=1))
    assert nothing_leasable(queue)


def test_max_attempts_can_be_set_per_job(queue: JobRecords) -> None:
    job = queue.enqueue("docs.process", max_attempts=1)
    assert job.max_attempts == 1
    assert queue.fail(lease(queue), "boom").status is JobStatus.DEAD


def test_permanent_failure_dead_letters_at_once(queue: JobRecords) -> None:
    job = queue.enqueue("docs.process")
    dead = queue.fail(lease(queue), "PermanentJobError: unsupported file", permanent=True)
    assert dead.status is JobStatus.DEAD
    assert dead.attempts == 1
    assert dead.last_error == "PermanentJobError: unsupported file"
    assert [j.id for j in queue.dead_letters()] == [job.id]
    assert nothing_leasable(queue)


def test_long_errors_are_truncated(queue: JobRecords) -> None:
    queue.enqueue("docs.process")
    failed = queue.fail(lease(queue), "x" * (MAX_ERROR_CHARS * 2))
    assert failed.last_error == "x" * MAX_ERROR_CHARS


def test_dead_letters_honours_limit(queue: JobRecords) -> None:
    for _ in range(3):
        queue.enqueue("docs.process")
        queue.fail(lease(queue), "boom", permanent=True)
    assert len(queue.dead_letters()) == 3
    assert len(queue.dead_letters(limit=2)) == 2


# -- idempotency --------------------------------------------------------------------------------------


def test_enqueue_with_the_same_idempotency_key_returns_the_same_job(queue: JobRecords) -> None:
    first = queue.enqueue("docs.process", {"document_id": "doc_1"}, idempotency_key="doc_1:v1")
    again = queue.enqueue("docs.process", {"document_id": "doc_other"}, idempotency_key="doc_1:v1")
    assert again == first
    assert sum(queue.counts().values()) == 1


def test_idempotency_keys_are_per_kind(queue: JobRecords) -> None:
    first = queue.enqueue("docs.process", idempotency_key="shared")
    other_kind = queue.enqueue("market.refresh", idempotency_key="shared")
    assert other_kind.id != first.id
    unkeyed = [queue.enqueue("docs.process"), queue.enqueue("docs.process")]
    assert unkeyed[0].id != unkeyed[1].id
    assert sum(queue.counts().values()) == 4


def test_idempotent_enqueue_after_the_job_finished_does_not_run_it_again(queue: JobRecords) -> None:
    first = queue.enqueue("maintenance.purge_expired", idempotency_key="purge:2024-01-02")
    queue.ack(lease(queue))
    again = queue.enqueue("maintenance.purge_expired", idempotency_key="purge:2024-01-02")
    assert again.id == first.id
    assert again.status is JobStatus.SUCCEEDED
    assert nothing_leasable(queue)


def test_concurrent_enqueues_with_one_key_make_one_job(queue: JobRecords) -> None:
    writers = 8
    start = threading.Barrier(writers)

    def enqueue(_: int) -> str:
        start.wait()
        return queue.enqueue("docs.process", idempotency_key="doc_1:v1").id

    with ThreadPoolExecutor(max_workers=writers) as pool:
        job_ids = set(pool.map(enqueue, range(writers)))
    assert len(job_ids) == 1
    assert queue.counts()[JobStatus.QUEUED] == 1


def test_concurrent_leases_never_hand_out_a_job_twice(queue: JobRecords) -> None:
    enqueued = {queue.enqueue("docs.process").id for _ in range(12)}
    workers = 4
    start = threading.Barrier(workers)

    def drain(_: int) -> list[str]:
        start.wait()
        taken = []
        while (job := queue.lease(visibility_timeout=VISIBILITY)) is not None:
            taken.append(job.id)
        return taken

    with ThreadPoolExecutor(max_workers=workers) as pool:
        taken = [job_id for batch in pool.map(drain, range(workers)) for job_id in batch]
    assert sorted(taken) == sorted(enqueued)


# -- claims: a delivered job id (push delivery) --------------------------------------------------------


def claim(queue: JobRecords, job_id: str) -> Claim:
    return queue.claim(job_id, visibility_timeout=VISIBILITY)


def claimed(queue: JobRecords, job_id: str) -> Job:
    outcome = claim(queue, job_id)
    assert outcome.outcome is ClaimOutcome.CLAIMED
    assert outcome.job is not None
    return outcome.job


def test_claim_of_a_ready_job_leases_it(queue: JobRecords, clock: FakeClock) -> None:
    job = queue.enqueue("docs.process", {"document_id": "doc_1"})
    leased = claimed(queue, job.id)
    assert leased.status is JobStatus.LEASED
    assert leased.attempts == 1
    assert leased.lease_token
    assert leased.lease_expires_at == clock.now() + VISIBILITY
    assert queue.get(job.id) == leased
    assert nothing_leasable(queue)
    assert queue.ack(leased).status is JobStatus.SUCCEEDED


def test_a_second_claim_while_leased_is_busy_until_the_lease_runs_out(queue: JobRecords, clock: FakeClock) -> None:
    job = queue.enqueue("docs.process")
    first = claimed(queue, job.id)
    clock.advance(timedelta(seconds=10))
    busy = claim(queue, job.id)
    assert busy.outcome is ClaimOutcome.BUSY
    assert busy.retry_after == VISIBILITY - timedelta(seconds=10)
    assert queue.get(job.id).lease_token == first.lease_token

    clock.advance(VISIBILITY)  # the first worker is presumed dead
    second = claimed(queue, job.id)
    assert second.attempts == 2
    with pytest.raises(LeaseLost):
        queue.ack(first)


def test_claim_before_the_job_is_available_is_not_yet(queue: JobRecords, clock: FakeClock) -> None:
    job = queue.enqueue("docs.process", delay=timedelta(minutes=5))
    early = claim(queue, job.id)
    assert early.outcome is ClaimOutcome.NOT_YET
    assert early.retry_after == timedelta(minutes=5)
    assert queue.get(job.id).status is JobStatus.QUEUED

    clock.set(job.available_at)
    failed = queue.fail(claimed(queue, job.id), "boom")
    in_back_off = claim(queue, job.id)
    assert in_back_off.outcome is ClaimOutcome.NOT_YET
    assert in_back_off.retry_after == failed.available_at - clock.now()


def test_claim_of_a_finished_job_is_finished(queue: JobRecords) -> None:
    succeeded = queue.enqueue("a.job")
    cancelled = queue.enqueue("b.job")
    dead = queue.enqueue("c.job")
    queue.ack(claimed(queue, succeeded.id))
    queue.cancel(cancelled.id)
    queue.fail(claimed(queue, dead.id), "boom", permanent=True)
    for job in (succeeded, cancelled, dead):
        outcome = claim(queue, job.id)
        assert outcome.outcome is ClaimOutcome.FINISHED
        assert outcome.job == queue.get(job.id)
    assert queue.get(succeeded.id).attempts == 1


def test_claim_of_an_unknown_job(queue: JobRecords) -> None:
    assert claim(queue, "job_missing").outcome is ClaimOutcome.UNKNOWN


def test_claim_after_the_last_attempts_lease_ran_out_dead_letters(open_queue: OpenQueue, clock: FakeClock) -> None:
    queue = open_queue(retry=RETRY.model_copy(update={"max_attempts": 1}))
    job = queue.enqueue("docs.process")
    lost = claimed(queue, job.id)
    clock.advance(VISIBILITY + MS)
    assert claim(queue, job.id).outcome is ClaimOutcome.DEAD_LETTERED
    dead = queue.get(job.id)
    assert dead.status is JobStatus.DEAD
    assert dead.last_error
    assert [j.id for j in queue.dead_letters()] == [job.id]
    with pytest.raises(LeaseLost):
        queue.ack(lost)


def test_concurrent_claims_lease_a_job_once(queue: JobRecords) -> None:
    job = queue.enqueue("docs.process")
    claimers = 6
    start = threading.Barrier(claimers)

    def take(_: int) -> ClaimOutcome:
        start.wait()
        return claim(queue, job.id).outcome

    with ThreadPoolExecutor(max_workers=claimers) as pool:
        outcomes = list(pool.map(take, range(claimers)))
    assert outcomes.count(ClaimOutcome.CLAIMED) == 1
    assert set(outcomes) <= {ClaimOutcome.CLAIMED, ClaimOutcome.BUSY}
    assert queue.get(job.id).attempts == 1


def test_claims_racing_leases_never_take_a_job_twice(queue: JobRecords) -> None:
    jobs = [queue.enqueue("docs.process") for _ in range(6)]
    start = threading.Barrier(2)

    def claim_all() -> list[str]:
        start.wait()
        return [job.id for job in jobs if claim(queue, job.id).outcome is ClaimOutcome.CLAIMED]

    def lease_all() -> list[str]:
        start.wait()
        taken = []
        while (leased := queue.lease(visibility_timeout=VISIBILITY)) is not None:
            taken.append(leased.id)
        return taken

    with ThreadPoolExecutor(max_workers=2) as pool:
        claimed, leased = pool.submit(claim_all), pool.submit(lease_all)
        taken = claimed.result() + leased.result()
    assert sorted(taken) == sorted(job.id for job in jobs)


# -- operations: cancel, redrive, counts, purge -------------------------------------------------------


def test_cancel_a_queued_job(queue: JobRecords, clock: FakeClock) -> None:
    job = queue.enqueue("docs.process")
    cancelled = queue.cancel(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert queue.get(job.id).status is JobStatus.CANCELLED
    clock.advance(timedelta(hours=1))
    assert nothing_leasable(queue)


def test_cancel_a_leased_job_takes_the_lease_away(queue: JobRecords) -> None:
    job = queue.enqueue("docs.process")
    leased = lease(queue)
    queue.cancel(job.id)
    with pytest.raises(LeaseLost):
        queue.ack(leased)
    assert queue.get(job.id).status is JobStatus.CANCELLED


def test_cancel_a_finished_or_unknown_job_is_refused(queue: JobRecords) -> None:
    job = queue.enqueue("docs.process")
    queue.ack(lease(queue))
    with pytest.raises(Conflict):
        queue.cancel(job.id)
    with pytest.raises(NotFound):
        queue.cancel("job_missing")


def test_redrive_puts_a_dead_job_back_with_attempts_reset(queue: JobRecords, clock: FakeClock) -> None:
    job = queue.enqueue("docs.process")
    queue.fail(lease(queue), "boom", permanent=True)
    clock.advance(timedelta(hours=1))

    redriven = queue.redrive(job.id)
    assert redriven.status is JobStatus.QUEUED
    assert redriven.attempts == 0
    assert queue.dead_letters() == []
    leased = lease(queue)
    assert leased.id == job.id
    assert leased.attempts == 1


def test_redrive_of_a_job_that_is_not_dead_is_refused(queue: JobRecords) -> None:
    job = queue.enqueue("docs.process")
    with pytest.raises(Conflict):
        queue.redrive(job.id)
    with pytest.raises(NotFound):
        queue.redrive("job_missing")


def test_counts_cover_every_status(queue: JobRecords) -> None:
    assert queue.counts() == dict.fromkeys(JobStatus, 0)
    queue.enqueue("a.job")
    queue.enqueue("b.job")
    queue.enqueue("c.job")
    queue.enqueue("d.job")
    queue.ack(lease(queue, kinds=["a.job"]))
    queue.fail(lease(queue, kinds=["b.job"]), "boom", permanent=True)
    lease(queue, kinds=["c.job"])
    assert queue.counts() == {
        JobStatus.QUEUED: 1,
        JobStatus.LEASED: 1,
        JobStatus.SUCCEEDED: 1,
        JobStatus.DEAD: 1,
        JobStatus.CANCELLED: 0,
    }


def test_purge_expired_removes_only_finished_jobs_past_their_ttl(open_queue: OpenQueue, clock: FakeClock) -> None:
    queue = open_queue(ttl=timedelta(days=1))
    succeeded = queue.enqueue("a.job")
    dead = queue.enqueue("b.job")
    cancelled = queue.enqueue("c.job")
    waiting = queue.enqueue("d.job")
    running = queue.enqueue("e.job")
    queue.ack(lease(queue, kinds=["a.job"]))
    queue.fail(lease(queue, kinds=["b.job"]), "boom", permanent=True)
    queue.cancel(cancelled.id)
    lease(queue, kinds=["e.job"])

    clock.advance(timedelta(hours=23))
    assert queue.purge_expired() == 0
    clock.advance(timedelta(hours=1, milliseconds=1))
    assert queue.purge_expired() == 3
    assert queue.purge_expired() == 0

    for gone in (succeeded, dead, cancelled):
        with pytest.raises(NotFound):
            queue.get(gone.id)
    assert queue.get(waiting.id).status is JobStatus.QUEUED
    assert queue.get(running.id).status is JobStatus.LEASED


def test_time_to_live_runs_from_completion(open_queue: OpenQueue, clock: FakeClock) -> None:
    queue = open_queue(ttl=timedelta(days=1))
    late = queue.enqueue("a.job")
    clock.advance(timedelta(hours=30))  # finishes after its enqueue-time TTL would have passed
    queue.ack(lease(queue))
    assert queue.purge_expired() == 0
    clock.advance(timedelta(days=1))
    assert queue.purge_expired() == 1
    with pytest.raises(NotFound):
        queue.get(late.id)


def test_queue_reports_healthy(queue: JobRecords) -> None:
    queue.check()
    assert queue.health_name == "job_queue"
