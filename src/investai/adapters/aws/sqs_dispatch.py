"""Job ids to workers through SQS (:class:`investai.ports.jobs.JobDispatch`).

A message is ``{"job_id": ..., "kind": ...}`` with the kind also as a message attribute (for filtering and
for people reading the queue). SQS delays a message by at most 15 minutes, so a job due later arrives early
and is deferred: the runner's claim answers ``NOT_YET`` with the time left, and the consumer hides the message
that long (at most 12 hours at a time). The queue's redrive policy moves a message that keeps coming back
without being dealt with to the dead-letter queue (see :func:`investai.adapters.aws.provision.ensure_queue`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from investai.domain.jobs import Job
from investai.observability.logging import get_logger
from investai.ports.clock import Clock
from investai.ports.jobs import Delivery

MAX_DELAY_S = 900  # SendMessage DelaySeconds
MAX_VISIBILITY_S = 43_200  # ChangeMessageVisibility / ReceiveMessage VisibilityTimeout: 12 hours
MAX_WAIT_S = 20  # ReceiveMessage long polling
MAX_BATCH = 10  # ReceiveMessage MaxNumberOfMessages
KIND_ATTRIBUTE = "kind"

log = get_logger(__name__)


class SqsDispatch:
    health_name = "job_dispatch"

    def __init__(self, *, sqs: Any, queue_url: str, clock: Clock) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._clock = clock

    def send(self, job: Job) -> None:
        wait_s = (job.available_at - self._clock.now()).total_seconds()
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps({"job_id": job.id, "kind": job.kind}),
            DelaySeconds=min(max(math.ceil(wait_s), 0), MAX_DELAY_S),
            MessageAttributes={KIND_ATTRIBUTE: {"DataType": "String", "StringValue": job.kind}},
        )

    def receive(self, *, max_messages: int, wait_s: float, visibility_timeout: timedelta) -> list[Delivery]:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(max(max_messages, 1), MAX_BATCH),
            WaitTimeSeconds=min(max(int(wait_s), 0), MAX_WAIT_S),
            VisibilityTimeout=_seconds(visibility_timeout),
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=[KIND_ATTRIBUTE],
        )
        deliveries = []
        for message in response.get("Messages", []):
            delivery = _delivery(message)
            if delivery is None:
                log.warning("jobs.malformed_message", message_id=message.get("MessageId"), body=_excerpt(message))
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
                continue
            deliveries.append(delivery)
        return deliveries

    def delete(self, delivery: Delivery) -> None:
        try:
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=delivery.receipt)
        except self._sqs.exceptions.ReceiptHandleIsInvalid:
            log.warning("jobs.delete_stale_receipt", job_id=delivery.job_id)  # delivered again meanwhile: harmless

    def defer(self, delivery: Delivery, delay: timedelta) -> None:
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url, ReceiptHandle=delivery.receipt, VisibilityTimeout=_seconds(delay)
            )
        except (self._sqs.exceptions.ReceiptHandleIsInvalid, self._sqs.exceptions.MessageNotInflight):
            log.warning("jobs.defer_stale_receipt", job_id=delivery.job_id)  # visible again already

    def check(self) -> None:
        self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])


def _delivery(message: dict[str, Any]) -> Delivery | None:
    """The delivery a received message carries (``ReceiveMessage``'s keys), or ``None`` when it is not one of
    ours."""
    return parse_delivery(
        message.get("Body"),
        receipt=message["ReceiptHandle"],
        receive_count=(message.get("Attributes") or {}).get("ApproximateReceiveCount"),
    )


def lambda_record_delivery(record: Mapping[str, Any]) -> Delivery | None:
    """The delivery an SQS record of a Lambda event carries (``body``, ``receiptHandle``,
    ``attributes.ApproximateReceiveCount``), read exactly as a received message is; ``None`` when it is not one
    of ours."""
    return parse_delivery(
        record.get("body"),
        receipt=str(record.get("receiptHandle") or ""),
        receive_count=(record.get("attributes") or {}).get("ApproximateReceiveCount"),
    )


def parse_delivery(body: object, *, receipt: str, receive_count: object = None) -> Delivery | None:
    """A message body ``{"job_id": ..., "kind": ...}`` as a delivery, or ``None`` when it is not one."""
    try:
        document = json.loads(body) if isinstance(body, str | bytes) else None
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    job_id, kind = document.get("job_id"), document.get("kind")
    if not (isinstance(job_id, str) and job_id and isinstance(kind, str) and kind):
        return None
    count = str(receive_count or "1")
    return Delivery(job_id=job_id, kind=kind, receipt=receipt, receive_count=int(count) if count.isdigit() else 1)


def _seconds(delay: timedelta) -> int:
    return min(max(math.ceil(delay.total_seconds()), 0), MAX_VISIBILITY_S)


def _excerpt(message: dict[str, Any]) -> str:
    return str(message.get("Body", ""))[:200]
