"""The AWS shape's resources as one deployment: create them all (``investai aws provision``, for emulators
and sandbox accounts; production is deployed by the CDK app) and find the identifiers AWS assigns (queue URL,
user pool and app client ids) from their names."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from investai.adapters.aws.clients import AwsClients
from investai.adapters.aws.cognito_pool import ensure_user_pool, find_user_pool
from investai.adapters.aws.provision import ensure_bucket, ensure_data_key, ensure_queue, ensure_secret, ensure_table
from investai.adapters.aws.resources import BUCKET, JOBS_QUEUE, USER_POOL, ResourceNames, tables
from investai.domain.errors import NotFound


@dataclass(frozen=True)
class ProvisionReport:
    """What exists after provisioning: each resource's kind, name and whether this run created it."""

    resources: list[tuple[str, str, bool]] = field(default_factory=list)
    names: ResourceNames = field(default_factory=ResourceNames)


def provision(clients: AwsClients, names: ResourceNames, *, initial_secrets: dict[str, str]) -> ProvisionReport:
    """Create every resource the AWS shape uses, in dependency order (the key first: the bucket, the secret and
    the tables holding personal data are encrypted with it). Safe to run again."""
    created: list[tuple[str, str, bool]] = []
    existed = _key_exists(clients.client("kms"), names.key)
    key_arn = ensure_data_key(clients.client("kms"), names.key) if names.key.startswith("alias/") else names.key
    created.append(("kms key", names.key, not existed))
    created.append(
        ("s3 bucket", names.bucket, ensure_bucket(clients.client("s3"), BUCKET, names.bucket, kms_key=key_arn))
    )
    created.append(
        (
            "secret",
            names.secret,
            ensure_secret(clients.client("secretsmanager"), names.secret, kms_key=key_arn, initial=initial_secrets),
        )
    )
    for spec in tables():
        name = names.table(spec.role)
        created.append(("dynamodb table", name, ensure_table(clients.client("dynamodb"), spec, name, kms_key=key_arn)))
    sqs = clients.client("sqs")
    queue_existed = _queue_exists(sqs, names.queue)
    queue_url, _ = ensure_queue(sqs, JOBS_QUEUE, names.queue, names.dead_letter_queue)
    created.append(("sqs queue", names.queue, not queue_existed))
    cognito = clients.client("cognito-idp")
    pool_existed = find_user_pool(cognito, names.user_pool, names.user_pool_client) is not None
    pool_id, client_id = ensure_user_pool(cognito, USER_POOL, names.user_pool, names.user_pool_client)
    created.append(("cognito user pool", names.user_pool, not pool_existed))
    resolved = replace(names, queue_url=queue_url, user_pool_id=pool_id, user_pool_client_id=client_id)
    return ProvisionReport(resources=created, names=resolved)


def resolve(clients: AwsClients, names: ResourceNames) -> ResourceNames:
    """``names`` with the identifiers AWS assigned filled in (looked up by name where not given);
    ``NotFound`` naming what is missing, e.g. before ``investai aws provision``."""
    queue_url = names.queue_url
    if queue_url is None:
        sqs = clients.client("sqs")
        try:
            queue_url = str(sqs.get_queue_url(QueueName=names.queue)["QueueUrl"])
        except sqs.exceptions.QueueDoesNotExist as exc:
            raise NotFound(f"SQS queue {names.queue} does not exist (run `investai aws provision`)") from exc
    pool_id, client_id = names.user_pool_id, names.user_pool_client_id
    if pool_id is None or client_id is None:
        found = find_user_pool(clients.client("cognito-idp"), names.user_pool, names.user_pool_client)
        if found is None:
            raise NotFound(f"Cognito user pool {names.user_pool} does not exist (run `investai aws provision`)")
        pool_id, client_id = pool_id or found[0], client_id or found[1]
    return replace(names, queue_url=queue_url, user_pool_id=pool_id, user_pool_client_id=client_id)


def _key_exists(kms: Any, key: str) -> bool:
    try:
        kms.describe_key(KeyId=key)
    except kms.exceptions.NotFoundException:
        return False
    return True


def _queue_exists(sqs: Any, name: str) -> bool:
    try:
        sqs.get_queue_url(QueueName=name)
    except sqs.exceptions.QueueDoesNotExist:
        return False
    return True
