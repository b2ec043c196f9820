"""The AWS shape's clients, names and job delivery — DynamoDB job records whose ids SQS carries — built without
the rest of the shape.

:func:`~investai.bootstrap.aws.build_aws` builds its job records and queue here, and so does the scheduler
Lambda, which only enqueues jobs and ships as a small ZIP without pandas, numpy, pyarrow or DuckDB: this module
imports nothing of the data stack, and the AWS adapters only inside its functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from investai.bootstrap.jobs import job_ttl, retry_policy
from investai.config import ConfigurationError, Settings
from investai.domain.errors import NotFound
from investai.jobs.schedule import Schedule, shape_schedules
from investai.ports.clock import Clock
from investai.ports.jobs import Delivery, JobDispatch, JobRecords

if TYPE_CHECKING:
    from investai.adapters.aws.clients import AwsClients
    from investai.adapters.aws.resources import ResourceNames
    from investai.bootstrap.container import Container


def aws_clients(settings: Settings) -> AwsClients:
    """The shape's boto3 clients; DynamoDB and Bedrock runtime clients sign with the roles the settings name
    (``aws_dynamodb_role_arn``, ``aws_bedrock_role_arn``), assumed through STS and refreshed before expiry."""
    from investai.adapters.aws.clients import AwsClients

    roles = {"dynamodb": settings.aws_dynamodb_role_arn, "bedrock-runtime": settings.aws_bedrock_role_arn}
    return AwsClients(region=settings.aws_region, roles={service: arn for service, arn in roles.items() if arn})


def resource_names(settings: Settings) -> ResourceNames:
    from investai.adapters.aws.resources import ResourceNames

    return ResourceNames(
        prefix=settings.aws_resource_prefix,
        bucket_name=settings.aws_bucket,
        table_names=dict(settings.aws_table_names),
        queue_url=settings.aws_jobs_queue_url,
        key_id=settings.aws_kms_key_id,
        secret_id=settings.aws_secret_id,
        user_pool_id=settings.aws_user_pool_id,
        user_pool_client_id=settings.aws_user_pool_client_id,
    )


def job_queue(
    settings: Settings, clients: AwsClients, names: ResourceNames, clock: Clock
) -> tuple[JobRecords, JobDispatch]:
    """The job records (DynamoDB) and the queue that carries their ids (SQS), the queue found by name when
    its URL is not given; ``NotFound`` before ``investai aws provision`` (or the CDK app) made it."""
    from investai.adapters.aws.dynamodb_jobs import DynamoDbJobRecords
    from investai.adapters.aws.sqs_dispatch import SqsDispatch

    sqs = clients.client("sqs")
    queue_url = names.queue_url
    if queue_url is None:
        try:
            queue_url = str(sqs.get_queue_url(QueueName=names.queue)["QueueUrl"])
        except sqs.exceptions.QueueDoesNotExist as exc:
            raise NotFound(f"SQS queue {names.queue} does not exist (run `investai aws provision`)") from exc
    dispatch = SqsDispatch(sqs=sqs, queue_url=queue_url, clock=clock)
    records = DynamoDbJobRecords(
        dynamodb=clients.client("dynamodb"),
        table_name=names.table("jobs"),
        clock=clock,
        retry=retry_policy(settings),
        ttl=job_ttl(settings),
        dispatch=dispatch,
    )
    return records, dispatch


def system_clock() -> Clock:
    from investai.adapters.local.clock import SystemClock

    return SystemClock()


def build_job_records(settings: Settings, *, clock: Clock | None = None) -> JobRecords:
    """The job records of the AWS shape, each enqueued job sent to the queue: all a scheduler needs."""
    records, _ = job_queue(settings, aws_clients(settings), resource_names(settings), clock or system_clock())
    return records


def aws_schedules(settings: Settings) -> list[Schedule]:
    """The recurring jobs of the AWS shape — what :meth:`Container.schedules` answers there, without building
    the container: S3 lifecycle rules move documents between tiers and AWS takes the backups (so neither is
    scheduled), SQS delivers jobs (so lost deliveries are sent again), the Parquet bar history is compacted, and
    KMS rotates the master key itself (automatic rotation), so no key-rotation job runs."""
    return shape_schedules(
        settings,
        tiers_moved_by_store=True,
        backups_taken=False,
        jobs_dispatched=True,
        history_compactable=True,
        keys_rotated_by_service=True,
    )


def record_delivery(record: Mapping[str, Any]) -> Delivery | None:
    """The job delivery an SQS record of a Lambda event carries, read as a received message is; ``None`` when
    the record is not a job message."""
    from investai.adapters.aws.sqs_dispatch import lambda_record_delivery

    return lambda_record_delivery(record)


def job_dispatch(container: Container) -> JobDispatch:
    """The queue a container's jobs are delivered through (to defer or keep a delivery); refused on a shape
    whose workers poll the records instead."""
    dispatch = container.dispatch
    if dispatch is None:
        raise ConfigurationError(f"the {container.shape} shape delivers no jobs through a queue")
    return dispatch
