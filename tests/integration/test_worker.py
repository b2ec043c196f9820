"""The worker loop on the SQLite queue: retries with back-off, dead letters, a worker killed mid-job,
idempotent enqueues, graceful shutdown and metrics.

Time is a :class:`FakeClock` that the tests move; the only real waits are for other threads or a child
process to reach a point, each polled against a generous deadline.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container
from investai.config import Settings
from investai.domain.errors import ValidationFailed
from investai.domain.jobs import Job, JobStatus
from investai.jobs.worker import JobHandler, PermanentJobError, Worker, WorkerPool

KIND = "test.work"
VISIBILITY = timedelta(seconds=30)
MS = timedelta(milliseconds=1)
DEADLINE_S = 60.0
CHILD = Path(__file__).with_name("worker_child.py")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        job_max_attempts=3,
        job_backoff_base_s=2.0,
        job_backoff_max_s=60.0,
        _env_file=None,
    )


@dataclass
class ScriptedHandler:
    """Raises ``failures`` one per call, in order, then succeeds; records every job it is given."""

    failures: list[Exception] = field(default_factory=list)
    calls: list[Job] = field(default_factory=list)
    successes: int = 0

    def __call__(self, job: Job) -> Mapping[str, Any]:
        self.calls.append(job)
        if len(self.calls) <= len(self.failures):
            raise self.failures[len(self.calls) - 1]
        self.successes += 1
        return {"attempt": job.attempts}

    @property
    def attempts_seen(self) -> list[int]:
        return [job.attempts for job in self.calls]


def make_worker(container: Container, handlers: Mapping[str, JobHandler], **overrides: Any) -> Worker:
    options: dict[str, Any] = {"visibility_timeout": VISIBILITY, "poll_interval": 0.01, "metrics": container.metrics}
    options.update(overrides)
    return Worker(records=container.jobs, handlers=handlers, **options)


def drain(worker: Worker, *, limit: int = 50) -> int:
    """Run jobs until none is available at the clock's current time; how many ran."""
    runs = 0
    while worker.run_once():
        runs += 1
        assert runs < limit, "the worker kept finding work"
    return runs


def wait_until(condition: Callable[[], bool], *, what: str, deadline_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.01)


def back_off(job: Job) -> timedelta:
    """The delay a failure scheduled: the failure stamped ``updated_at`` and moved ``available_at``."""
    return job.available_at - job.updated_at


def job_outcomes(metrics_text: bytes) -> dict[tuple[str, str], float]:
    outcomes: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics_text.decode()):
        for sample in family.samples:
            if sample.name == "investai_jobs_total":
                outcomes[(sample.labels["kind"], sample.labels["outcome"])] = sample.value
    return outcomes


# -- retries and dead letters -------------------------------------------------------------------------


def test_a_failing_handler_is_retried_with_back_off_and_acked_once(container: Container, clock: FakeClock) -> None:
    handler = ScriptedHandler(failures=[RuntimeError("flaky 1"), RuntimeError("flaky 2")])
    worker = make_worker(container, {KIND: handler})
    job = container.jobs.enqueue(KIND, {"n": 1})

    assert worker.run_once()
    first = container.jobs.get(job.id)
    assert first.status is JobStatus.QUEUED
    assert first.attempts == 1
    assert first.last_error == "RuntimeError: flaky 1"
    assert first.available_at > clock.now()
    assert not worker.run_once()
    clock.set(first.available_at - MS)
    assert not worker.run_once()  # still backing off

    clock.set(first.available_at)
    assert worker.run_once()
    second = container.jobs.get(job.id)
    assert second.status is JobStatus.QUEUED
    assert second.last_error == "RuntimeError: flaky 2"
    assert second.available_at > first.available_at
    assert back_off(second) > back_off(first)  # exponential: about 2 s, then about 4 s
    clock.set(second.available_at - MS)
    assert not worker.run_once()

    clock.set(second.available_at)
    assert worker.run_once()
    done = container.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED
    assert done.attempts == 3
    assert done.result == {"attempt": 3}
    assert handler.attempts_seen == [1, 2, 3]
    assert handler.successes == 1

    clock.advance(timedelta(days=1))
    assert not worker.run_once()
    assert handler.successes == 1


def test_a_handler_that_always_fails_is_dead_lettered(container: Container, clock: FakeClock) -> None:
    handler = ScriptedHandler(failures=[RuntimeError("disk on fire")] * 10)
    worker = make_worker(container, {KIND: handler})
    job = container.jobs.enqueue(KIND)

    for _ in range(container.settings.job_max_attempts):
        assert worker.run_once()
        current = container.jobs.get(job.id)
        if not current.finished:
            clock.set(current.available_at)

    dead = container.jobs.get(job.id)
    assert dead.status is JobStatus.DEAD
    assert dead.attempts == container.settings.job_max_attempts == 3
    assert dead.last_error == "RuntimeError: disk on fire"
    assert [j.id for j in container.jobs.dead_letters()] == [job.id]
    assert handler.attempts_seen == [1, 2, 3]
    clock.advance(timedelta(days=1))
    assert not worker.run_once()


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (PermanentJobError("unsupported file format"), "PermanentJobError: unsupported file format"),
        (ValidationFailed("payload lacks document_id"), "ValidationFailed: payload lacks document_id"),
    ],
    ids=["permanent", "validation"],
)
def test_a_permanent_error_dead_letters_at_once(
    container: Container, clock: FakeClock, error: Exception, message: str
) -> None:
    handler = ScriptedHandler(failures=[error])
    worker = make_worker(container, {KIND: handler})
    job = container.jobs.enqueue(KIND)

    assert worker.run_once()
    dead = container.jobs.get(job.id)
    assert dead.status is JobStatus.DEAD
    assert dead.attempts == 1
    assert dead.last_error == message
    assert [j.id for j in container.jobs.dead_letters()] == [job.id]
    clock.advance(timedelta(days=1))
    assert not worker.run_once()
    assert len(handler.calls) == 1


def test_a_worker_only_takes_kinds_it_handles(container: Container) -> None:
    handler = ScriptedHandler()
    worker = make_worker(container, {KIND: handler})
    foreign = container.jobs.enqueue("test.other")
    assert not worker.run_once()
    assert container.jobs.get(foreign.id).status is JobStatus.QUEUED
    assert not make_worker(container, {}).run_once()
    assert container.jobs.get(foreign.id).status is JobStatus.QUEUED


# -- leases: heartbeat, loss, a killed worker ---------------------------------------------------------


def test_the_heartbeat_keeps_a_long_job_leased(container: Container, clock: FakeClock) -> None:
    visibility = timedelta(milliseconds=150)  # heartbeats every 50 ms of real time
    step = timedelta(milliseconds=100)
    stolen: list[Job | None] = []

    def long_job(job: Job) -> Mapping[str, Any]:
        original_expiry = job.lease_expires_at
        assert original_expiry is not None
        clock.advance(step)
        extended_to = clock.now() + visibility
        wait_until(
            lambda: (container.jobs.get(job.id).lease_expires_at or original_expiry) >= extended_to,
            what="a heartbeat extended the lease",
        )
        clock.advance(step)  # past the original expiry, within the extended one
        assert clock.now() > original_expiry
        stolen.append(container.jobs.lease(visibility_timeout=visibility))
        return {}

    worker = make_worker(container, {KIND: long_job}, visibility_timeout=visibility)
    job = container.jobs.enqueue(KIND)
    assert worker.run_once()

    assert stolen == [None]
    done = container.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED
    assert done.attempts == 1


def test_a_worker_that_lost_its_lease_does_not_ack(container: Container, clock: FakeClock) -> None:
    taken_over: list[Job] = []

    def slow(job: Job) -> Mapping[str, Any]:
        clock.advance(VISIBILITY + MS)  # the lease runs out; another worker takes the job
        other = container.jobs.lease(visibility_timeout=VISIBILITY)
        assert other is not None
        taken_over.append(other)
        return {"by": "first"}

    worker = make_worker(container, {KIND: slow})
    job = container.jobs.enqueue(KIND)
    assert worker.run_once()

    current = container.jobs.get(job.id)
    assert current.status is JobStatus.LEASED
    assert current.lease_token == taken_over[0].lease_token
    assert current.attempts == 2
    assert current.result is None
    assert job_outcomes(container.metrics.render()) == {(KIND, "lease_lost"): 1.0}


def read_until_started(child: subprocess.Popen[str]) -> str:
    """The child's ``started <job id>`` line, read on a thread so that a silent child cannot hang the test."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + DEADLINE_S
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            pytest.fail(f"the child worker exited early with status {child.wait()}")
        if line.startswith("started "):
            return line
    pytest.fail("the child worker never started the job")


@pytest.mark.slow
def test_a_job_whose_worker_was_killed_is_leased_again(
    container: Container, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    clock.set(datetime.now(UTC))  # the child runs on the real clock; start ours at the same time
    job = container.jobs.enqueue(KIND, {"n": 1})
    stderr_path = tmp_path / "child.stderr"

    with (
        stderr_path.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, str(CHILD), str(settings.data_dir), KIND], stdout=subprocess.PIPE, stderr=stderr, text=True
        ) as child,
    ):
        try:
            assert read_until_started(child) == f"started {job.id}", stderr_path.read_text()
            in_hand = container.jobs.get(job.id)
            assert in_hand.status is JobStatus.LEASED
            assert in_hand.attempts == 1
            assert container.jobs.lease(visibility_timeout=VISIBILITY) is None  # invisible while held
            child.send_signal(signal.SIGKILL)
            assert child.wait(timeout=DEADLINE_S) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()

    orphan = container.jobs.get(job.id)  # its worker is gone, but no one knows yet
    assert orphan.status is JobStatus.LEASED
    assert orphan.attempts == 1
    assert orphan.lease_expires_at is not None

    handler = ScriptedHandler()
    worker = make_worker(container, {KIND: handler})
    clock.set(orphan.lease_expires_at - MS)
    assert not worker.run_once()  # the dead worker's lease has not run out yet

    clock.set(orphan.lease_expires_at)
    assert worker.run_once()
    assert handler.attempts_seen == [2]
    done = container.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED
    assert done.attempts == 2
    assert done.result == {"attempt": 2}


# -- idempotency, shutdown, metrics -------------------------------------------------------------------


def test_a_repeated_enqueue_runs_the_handler_once(container: Container, clock: FakeClock) -> None:
    handler = ScriptedHandler()
    worker = make_worker(container, {KIND: handler})
    first = container.jobs.enqueue(KIND, {"document_id": "doc_1"}, idempotency_key="doc_1:v1")
    second = container.jobs.enqueue(KIND, {"document_id": "doc_1"}, idempotency_key="doc_1:v1")
    assert second.id == first.id
    assert sum(container.jobs.counts().values()) == 1

    assert drain(worker) == 1
    again = container.jobs.enqueue(KIND, {"document_id": "doc_1"}, idempotency_key="doc_1:v1")
    assert again.id == first.id
    assert again.status is JobStatus.SUCCEEDED
    clock.advance(timedelta(hours=1))
    assert drain(worker) == 0
    assert handler.successes == 1
    assert sum(container.jobs.counts().values()) == 1


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # never leave a handler blocked, whatever the test did


def test_stopping_the_pool_lets_the_job_in_hand_finish(container: Container, release: threading.Event) -> None:
    started = threading.Event()

    def slow(job: Job) -> Mapping[str, Any]:
        started.set()
        assert release.wait(DEADLINE_S)
        return {"finished": job.payload["n"]}

    pool = WorkerPool([make_worker(container, {KIND: slow})])
    running = container.jobs.enqueue(KIND, {"n": 1})
    pool.start()
    try:
        assert started.wait(DEADLINE_S)
        waiting = container.jobs.enqueue(KIND, {"n": 2})
        stopper = threading.Thread(target=pool.stop)
        stopper.start()
        wait_until(lambda: pool.stopping, what="the pool was asked to stop")
        assert stopper.is_alive()  # stop() waits for the job in hand
        assert container.jobs.get(running.id).status is JobStatus.LEASED

        release.set()
        stopper.join(DEADLINE_S)
        assert not stopper.is_alive()
    finally:
        release.set()
        pool.stop(DEADLINE_S)

    done = container.jobs.get(running.id)
    assert done.status is JobStatus.SUCCEEDED
    assert done.result == {"finished": 1}
    untouched = container.jobs.get(waiting.id)  # the worker left rather than take more work
    assert untouched.status is JobStatus.QUEUED
    assert untouched.attempts == 0


def test_metrics_count_jobs_by_kind_and_outcome(container: Container, clock: FakeClock) -> None:
    handlers = {
        "test.ok": ScriptedHandler(),
        "test.flaky": ScriptedHandler(failures=[RuntimeError("once")]),
        "test.broken": ScriptedHandler(failures=[PermanentJobError("never")]),
        "test.hopeless": ScriptedHandler(failures=[RuntimeError("always")] * 10),
    }
    worker = make_worker(container, handlers)
    for kind in handlers:
        container.jobs.enqueue(kind, max_attempts=1 if kind == "test.hopeless" else None)

    assert drain(worker) == 4
    clock.advance(timedelta(minutes=5))
    assert drain(worker) == 1  # the flaky job's retry

    rendered = container.metrics.render()
    assert b"investai_jobs_total" in rendered
    assert job_outcomes(rendered) == {
        ("test.ok", "succeeded"): 1.0,
        ("test.flaky", "retried"): 1.0,
        ("test.flaky", "succeeded"): 1.0,
        ("test.broken", "dead"): 1.0,
        ("test.hopeless", "dead"): 1.0,
    }
    durations = {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(rendered.decode())
        for sample in family.samples
        if sample.name == "investai_job_duration_seconds_count"
    }
    assert durations == {"test.ok": 1.0, "test.flaky": 2.0, "test.broken": 1.0, "test.hopeless": 1.0}
