"""The processing function: SQS hands it batches of job messages; each names a job that the container's
:class:`~investai.jobs.runner.JobRunner` claims and runs, exactly as a worker polling the queue would.

Per message (powertools' ``BatchProcessor``, partial batch responses — the event source mapping must have
``ReportBatchItemFailures`` on):

- a settled job (it ran, failed into a retry — which is a new, delayed message — was dead-lettered, or was
  finished already) is a success: Lambda deletes the message. Redeliveries do no work twice: the job record's
  claim decides, and a finished job is left alone.
- a job that is not ready (``NOT_YET``: waiting out its back-off; ``BUSY``: another worker holds it) has its
  message hidden until it may be ready (``retry_after``) and is reported as a batch item failure, so Lambda
  leaves the message in the queue.
- a poisoned message — a body that names no job, a job id no record has, an exception — is reported as failed
  and never fails the rest of the batch; after the queue's ``maxReceiveCount`` receives SQS moves it to the
  dead-letter queue.

While a job runs, its message's visibility is extended with each heartbeat of the job's lease.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from investai.aws_lambda import runtime
from investai.bootstrap.aws_jobs import job_dispatch, record_delivery
from investai.jobs.runner import JobRunner
from investai.observability.logging import get_logger
from investai.ports.jobs import ClaimOutcome, JobDispatch

log = get_logger(__name__)


class DeliveryFailed(Exception):
    """A message that is not done with: reported as a batch item failure, so SQS delivers it again."""


class UnreadableMessage(DeliveryFailed):
    """The message's body names no job: it can never succeed, and ends in the dead-letter queue."""


class UnknownJob(DeliveryFailed):
    """No job record has the id the message names (purged, or never written)."""


class NotSettled(DeliveryFailed):
    """The job is not ready yet, or another worker holds it: its message comes back when it may be."""


class QueueConsumer:
    """Runs the job each SQS record names, and tells the batch processor which messages are not done with."""

    def __init__(self, *, runner: JobRunner, dispatch: JobDispatch, visibility_timeout: timedelta) -> None:
        self._runner = runner
        self._dispatch = dispatch
        self._visibility = visibility_timeout
        self._processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def __call__(self, event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        """The batch response: ``{"batchItemFailures": [{"itemIdentifier": <message id>}, ...]}``."""
        response = process_partial_response(
            event=event, record_handler=self.handle_record, processor=self._processor, context=context
        )
        return dict(response)

    def handle_record(self, record: SQSRecord) -> dict[str, Any]:
        """Run the job ``record`` names; raises :class:`DeliveryFailed` (or what went wrong) unless settled."""
        try:
            return self._handle(record)
        except DeliveryFailed:
            raise
        except Exception:
            log.exception("jobs.delivery_failed", message_id=record.message_id)
            raise

    def _handle(self, record: SQSRecord) -> dict[str, Any]:
        delivery = record_delivery(record.raw_event)
        if delivery is None:
            log.warning("jobs.malformed_message", message_id=record.message_id, body=str(record.body)[:200])
            raise UnreadableMessage(f"message {record.message_id} names no job")
        keep = partial(self._dispatch.defer, delivery, self._visibility)
        handled = self._runner.handle(delivery.job_id, keep_delivery=keep)
        if handled.claim is ClaimOutcome.UNKNOWN:
            log.warning("jobs.unknown_job", message_id=record.message_id, job_id=delivery.job_id)
            raise UnknownJob(f"no job {delivery.job_id} (message {record.message_id})")
        if not handled.settled:
            delay = handled.retry_after or timedelta(0)
            self._dispatch.defer(delivery, delay)
            log.info("jobs.deferred", job_id=delivery.job_id, claim=handled.claim.value, delay_s=delay.total_seconds())
            raise NotSettled(f"job {delivery.job_id} is {handled.claim.value}; delivered again in {delay}")
        return {"job_id": delivery.job_id, "claim": handled.claim.value, "run": handled.run and handled.run.value}


def _build() -> QueueConsumer:
    container = runtime.container()
    return QueueConsumer(
        runner=container.worker(name="lambda").runner,
        dispatch=job_dispatch(container),
        visibility_timeout=timedelta(seconds=container.settings.job_visibility_timeout_s),
    )


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS's event source mapping: a batch of job messages in, the ones to deliver again out."""
    with runtime.invocation():
        return runtime.part("processing", _build)(event, context)
