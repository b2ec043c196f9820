"""Jobs in the AWS shape on the session's moto server: DynamoDB records whose ids SQS carries to the runner.

Records run on a :class:`FakeClock`; SQS delays and visibility timeouts run in real seconds, so retries use a
one-second back-off and every receive waits against a deadline.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from investai.adapters.aws.dynamodb_jobs import DynamoDbJobRecords
from investai.adapters.aws.provision import ensure_queue, ensure_table
from investai.adapters.aws.resources import JOBS_TABLE, QueueSpec, ResourceNames
from investai.adapters.aws.sqs_dispatch import MAX_DELAY_S, SqsDispatch
from investai.adapters.local.clock import FakeClock
from investai.domain.errors import NotFound
from investai.domain.jobs import Job, JobStatus, RetryPolicy
from investai.jobs.runner import JobRunner, RunOutcome
from investai.jobs.worker import Worker
from investai.ports.jobs import ClaimOutcome, Delivery
from tests.aws import MotoServer, fresh_prefix

KIND = "test.work"
VISIBILITY = timedelta(seconds=30)
TTL = timedelta(days=7)
RETRY = RetryPolicy(max_attempts=3, base_delay_s=1.0, max_delay_s=1.0, jitter=0.0)
QUEUE = QueueSpec(role="jobs", visibility_timeout_s=30, max_receive_count=2)
DEADLINE_S = 20.0


class RecordingClient:
    """A boto3 client that remembers each call's operation and arguments."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name in ("exceptions", "meta", "get_waiter") or not callable(attribute):
            return attribute

        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return attribute(**kwargs)

        return call

    def arguments(self, operation: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == operation]


@dataclass
class ScriptedHandler:
    """Raises ``failures`` one per call, then succeeds; records the jobs it is given."""

    failures: list[Exception] = field(default_factory=list)
    calls: list[Job] = field(default_factory=list)

    def __call__(self, job: Job) -> Mapping[str, Any]:
        self.calls.append(job)
        if len(self.calls) <= len(self.failures):
            raise self.failures[len(self.calls) - 1]
        return {"attempt": job.attempts}


@dataclass
class AwsJobs:
    clock: FakeClock
    sqs: RecordingClient
    dynamodb: Any
    table: str
    queue_url: str
    dlq_url: str
    dispatch: SqsDispatch
    records: DynamoDbJobRecords

    def receive(self, *, expect: int = 1, visibility: timedelta = VISIBILITY, url: str | None = None) -> list[Delivery]:
        """Receive until ``expect`` deliveries came (or the deadline passed)."""
        dispatch = self.dispatch if url is None else SqsDispatch(sqs=self.sqs, queue_url=url, clock=self.clock)
        deliveries: list[Delivery] = []
        deadline = time.monotonic() + DEADLINE_S
        while len(deliveries) < expect and time.monotonic() < deadline:
            deliveries += dispatch.receive(max_messages=expect, wait_s=1, visibility_timeout=visibility)
        return deliveries

    def messages(self, url: str | None = None) -> dict[str, int]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        names.append("ApproximateNumberOfMessagesDelayed")
        found = self.sqs.get_queue_attributes(QueueUrl=url or self.queue_url, AttributeNames=names)["Attributes"]
        return {"visible": int(found[names[0]]), "in_flight": int(found[names[1]]), "delayed": int(found[names[2]])}

    def runner(self, handler: ScriptedHandler) -> JobRunner:
        return JobRunner(records=self.records, handlers={KIND: handler}, visibility_timeout=VISIBILITY)


@pytest.fixture
def aws(moto: MotoServer, clock: FakeClock) -> Iterator[AwsJobs]:
    names = ResourceNames(prefix=fresh_prefix())
    sqs = RecordingClient(moto.client("sqs"))
    dynamodb = moto.client("dynamodb")
    table = names.table(JOBS_TABLE.role)
    ensure_table(dynamodb, JOBS_TABLE, table)
    queue_url, dlq_url = ensure_queue(sqs, QUEUE, names.queue, names.dead_letter_queue)
    dispatch = SqsDispatch(sqs=sqs, queue_url=queue_url, clock=clock)
    records = DynamoDbJobRecords(
        dynamodb=dynamodb, table_name=table, clock=clock, retry=RETRY, ttl=TTL, dispatch=dispatch
    )
    try:
        yield AwsJobs(clock, sqs, dynamodb, table, queue_url, dlq_url, dispatch, records)
    finally:
        dynamodb.delete_table(TableName=table)
        for url in (queue_url, dlq_url):
            sqs.delete_queue(QueueUrl=url)


# -- provisioning and health --------------------------------------------------------------------------------


def test_ensure_queue_sets_the_redrive_policy_and_is_idempotent(aws: AwsJobs, moto: MotoServer) -> None:
    attributes = aws.sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["All"])["Attributes"]
    dlq_arn = aws.sqs.get_queue_attributes(QueueUrl=aws.dlq_url, AttributeNames=["QueueArn"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn["QueueArn"],
        "maxReceiveCount": QUEUE.max_receive_count,
    }
    assert attributes["VisibilityTimeout"] == str(QUEUE.visibility_timeout_s)
    names = aws.queue_url.rsplit("/", 1)[-1], aws.dlq_url.rsplit("/", 1)[-1]
    assert ensure_queue(aws.sqs, QUEUE, *names) == (aws.queue_url, aws.dlq_url)
    ttl = aws.dynamodb.describe_time_to_live(TableName=aws.table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiresAt"
    aws.records.check()
    aws.dispatch.check()


# -- delivery through SQS -----------------------------------------------------------------------------------


def test_an_enqueued_job_arrives_runs_and_its_message_is_deleted(aws: AwsJobs) -> None:
    handler = ScriptedHandler()
    job = aws.records.enqueue(KIND, {"n": 1})
    [delivery] = aws.receive()
    assert (delivery.job_id, delivery.kind, delivery.receive_count) == (job.id, KIND, 1)
    sent = aws.sqs.arguments("send_message")[0]
    assert sent["DelaySeconds"] == 0
    assert sent["MessageAttributes"]["kind"]["StringValue"] == KIND

    handled = aws.runner(handler).handle(delivery.job_id)
    assert (handled.claim, handled.run, handled.settled) == (ClaimOutcome.CLAIMED, RunOutcome.SUCCEEDED, True)
    aws.dispatch.delete(delivery)
    assert aws.records.get(job.id).status is JobStatus.SUCCEEDED
    assert aws.records.get(job.id).result == {"attempt": 1}
    assert aws.messages() == {"visible": 0, "in_flight": 0, "delayed": 0}


def test_a_failed_run_is_retried_through_a_new_delayed_message(aws: AwsJobs) -> None:
    handler = ScriptedHandler(failures=[RuntimeError("flaky")])
    runner = aws.runner(handler)
    job = aws.records.enqueue(KIND)
    [first] = aws.receive()
    handled = runner.handle(first.job_id)
    assert handled.run is RunOutcome.RETRIED
    assert handled.settled
    aws.dispatch.delete(first)

    retried = aws.records.get(job.id)
    assert retried.status is JobStatus.QUEUED
    assert retried.available_at == aws.clock.now() + timedelta(seconds=1)
    assert aws.sqs.arguments("send_message")[-1]["DelaySeconds"] == 1
    assert aws.messages()["delayed"] + aws.messages()["visible"] == 1  # the new message; the old one is gone

    [early] = aws.receive()  # SQS's delay has passed in real time, the back-off has not on the records' clock
    not_yet = runner.handle(early.job_id)
    assert (not_yet.claim, not_yet.retry_after) == (ClaimOutcome.NOT_YET, timedelta(seconds=1))
    aws.dispatch.defer(early, not_yet.retry_after or timedelta(0))

    aws.clock.advance(timedelta(seconds=1))
    [again] = aws.receive()
    assert again.receive_count == 2
    assert runner.handle(again.job_id).run is RunOutcome.SUCCEEDED
    aws.dispatch.delete(again)
    assert [call.attempts for call in handler.calls] == [1, 2]
    assert aws.records.get(job.id).status is JobStatus.SUCCEEDED


def test_a_duplicate_message_for_a_finished_job_does_nothing(aws: AwsJobs) -> None:
    handler = ScriptedHandler()
    runner = aws.runner(handler)
    job = aws.records.enqueue(KIND)
    [delivery] = aws.receive()
    runner.handle(delivery.job_id)
    aws.dispatch.delete(delivery)

    aws.dispatch.send(aws.records.get(job.id))  # SQS delivers at least once
    [duplicate] = aws.receive()
    handled = runner.handle(duplicate.job_id)
    assert (handled.claim, handled.run, handled.settled) == (ClaimOutcome.FINISHED, None, True)
    assert len(handler.calls) == 1
    assert runner.handle("job_purged_long_ago").claim is ClaimOutcome.UNKNOWN


def test_a_message_never_deleted_ends_in_the_dead_letter_queue(aws: AwsJobs) -> None:
    job = aws.records.enqueue(KIND)
    counts = [aws.receive(visibility=timedelta(0))[0].receive_count for _ in range(QUEUE.max_receive_count)]
    assert counts == [1, 2]
    assert aws.dispatch.receive(max_messages=1, wait_s=1, visibility_timeout=timedelta(0)) == []  # redriven
    [dead] = aws.receive(url=aws.dlq_url)
    assert dead.job_id == job.id


def test_long_delays_are_capped_and_malformed_messages_are_dropped(aws: AwsJobs) -> None:
    aws.records.enqueue(KIND, delay=timedelta(hours=2))
    assert aws.sqs.arguments("send_message")[-1]["DelaySeconds"] == MAX_DELAY_S
    for body in ("not json", json.dumps(["a list"]), json.dumps({"job_id": 7, "kind": KIND})):
        aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=body)
    assert aws.dispatch.receive(max_messages=10, wait_s=1, visibility_timeout=VISIBILITY) == []
    assert len(aws.sqs.arguments("delete_message")) == 3
    assert aws.messages() == {"visible": 0, "in_flight": 0, "delayed": 1}


def test_a_worker_fed_by_sqs_processes_jobs_end_to_end(aws: AwsJobs) -> None:
    handler = ScriptedHandler(failures=[RuntimeError("once")])
    worker = Worker(records=aws.records, handlers={KIND: handler}, visibility_timeout=VISIBILITY, dispatch=aws.dispatch)
    jobs = [aws.records.enqueue(KIND, {"n": n}) for n in range(3)]
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE_S
    try:
        while time.monotonic() < deadline:
            if all(aws.records.get(job.id).status is JobStatus.SUCCEEDED for job in jobs):
                break
            aws.clock.advance(timedelta(milliseconds=200))  # lets the retry's back-off pass
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(DEADLINE_S)
    assert all(aws.records.get(job.id).status is JobStatus.SUCCEEDED for job in jobs)
    assert len(handler.calls) == 4
    assert aws.messages() == {"visible": 0, "in_flight": 0, "delayed": 0}


# -- DynamoDB specifics: time to live -----------------------------------------------------------------------


def item(aws: AwsJobs, key: str) -> dict[str, Any]:
    found = aws.dynamodb.get_item(TableName=aws.table, Key={"pk": {"S": key}}, ConsistentRead=True)
    stored: dict[str, Any] = found.get("Item", {})
    return stored


def test_only_finished_jobs_and_their_keys_carry_the_ttl_attribute(aws: AwsJobs) -> None:
    job = aws.records.enqueue(KIND, idempotency_key="k1")
    assert "expiresAt" not in item(aws, f"job#{job.id}")
    assert item(aws, f"key#{KIND}#k1")["jobId"] == {"S": job.id}
    assert "expiresAt" not in item(aws, f"key#{KIND}#k1")

    done = aws.records.ack(aws.records.lease(visibility_timeout=VISIBILITY) or job)
    expires = str(int(done.expires_at.timestamp()))
    assert item(aws, f"job#{job.id}")["expiresAt"] == {"N": expires}
    assert item(aws, f"key#{KIND}#k1")["expiresAt"] == {"N": expires}


def test_expired_jobs_read_as_purged_before_anything_deletes_them(aws: AwsJobs) -> None:
    job = aws.records.enqueue(KIND, idempotency_key="k1")
    leased = aws.records.lease(visibility_timeout=VISIBILITY)
    assert leased is not None
    aws.records.fail(leased, "boom", permanent=True)
    assert aws.records.counts()[JobStatus.DEAD] == 1
    aws.clock.advance(TTL)

    assert item(aws, f"job#{job.id}")  # moto never expires items; real TTL deletion is lazy
    with pytest.raises(NotFound):
        aws.records.get(job.id)
    assert aws.records.dead_letters() == []
    assert aws.records.counts()[JobStatus.DEAD] == 0
    again = aws.records.enqueue(KIND, idempotency_key="k1")  # the key is free again
    assert again.id != job.id
    assert item(aws, f"key#{KIND}#k1")["jobId"] == {"S": again.id}

    assert aws.records.purge_expired() == 1
    assert item(aws, f"job#{job.id}") == {}
    assert item(aws, f"key#{KIND}#k1")["jobId"] == {"S": again.id}  # the newer job keeps its key


def test_a_job_whose_message_was_lost_is_sent_again_and_runs_once(aws: AwsJobs) -> None:
    handler = ScriptedHandler()
    lost = aws.records.enqueue(KIND, idempotency_key="lost")
    (delivery,) = aws.receive()
    aws.dispatch.delete(delivery)  # as if the send had failed after the record was written
    assert aws.records.redeliver_stale(older_than=timedelta(minutes=15)) == 0  # too recent to call lost

    aws.clock.advance(timedelta(minutes=16))
    fresh = aws.records.enqueue(KIND, idempotency_key="fresh")  # ready, but its message is surely on its way
    assert aws.records.redeliver_stale(older_than=timedelta(minutes=15)) == 1

    deliveries = aws.receive(expect=2)
    assert sorted(d.job_id for d in deliveries) == sorted([lost.id, fresh.id])
    runner = aws.runner(handler)
    for received in deliveries:
        assert runner.handle(received.job_id).settled
        aws.dispatch.delete(received)
    assert sorted(job.id for job in handler.calls) == sorted([lost.id, fresh.id])
    assert aws.records.get(lost.id).status is JobStatus.SUCCEEDED
    assert aws.records.redeliver_stale(older_than=timedelta(0)) == 0  # nothing ready is left
