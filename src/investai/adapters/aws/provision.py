"""Create the AWS shape's resources from :mod:`investai.adapters.aws.resources`: idempotent, so running it
again changes nothing that exists. For emulators and sandbox accounts; production is deployed by the CDK app."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from investai.adapters.aws.resources import BucketSpec, QueueSpec, TableSpec, create_table_arguments


def ensure_table(dynamodb: Any, spec: TableSpec, name: str, *, kms_key: str | None = None) -> bool:
    """Create table ``name`` as ``spec`` says unless it exists; turn on TTL and point-in-time recovery.
    Returns whether it was created."""
    try:
        dynamodb.describe_table(TableName=name)
        return False
    except dynamodb.exceptions.ResourceNotFoundException:
        pass
    arguments = create_table_arguments(spec, name)
    if spec.customer_managed_key and kms_key:
        arguments["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms_key}
    dynamodb.create_table(**arguments)
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if spec.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
        )
    dynamodb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return True


def ensure_queue(sqs: Any, spec: QueueSpec, name: str, dlq_name: str) -> tuple[str, str]:
    """Create the dead-letter queue ``dlq_name`` and queue ``name`` (its visibility timeout, retention, and a
    redrive policy sending a message to the dead-letter queue on its ``max_receive_count``-th receive) unless
    they exist; both encrypted with SQS-managed keys. Returns ``(queue_url, dlq_url)``."""
    dlq_url = (
        _queue_url(sqs, dlq_name)
        or sqs.create_queue(
            QueueName=dlq_name,
            Attributes={"MessageRetentionPeriod": str(spec.retention_s), "SqsManagedSseEnabled": "true"},
        )["QueueUrl"]
    )
    queue_url = _queue_url(sqs, name)
    if queue_url is None:
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
        queue_url = sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(spec.visibility_timeout_s),
                "MessageRetentionPeriod": str(spec.retention_s),
                "RedrivePolicy": json.dumps(redrive),
                "SqsManagedSseEnabled": "true",
            },
        )["QueueUrl"]
    return queue_url, dlq_url


def _queue_url(sqs: Any, name: str) -> str | None:
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except sqs.exceptions.QueueDoesNotExist:
        return None


def tls_only_policy(bucket: str) -> dict[str, Any]:
    """A bucket policy that refuses every request not made over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def ensure_bucket(s3: Any, spec: BucketSpec, name: str, *, kms_key: str, require_tls: bool | None = None) -> bool:
    """Create bucket ``name`` unless it exists, then (again, idempotently) set what ``spec`` says: versioning,
    SSE-KMS with a bucket key by default, no public access, object ownership enforced, TLS only, and the
    lifecycle rules that move documents to colder tiers. Returns whether it was created.

    ``require_tls`` defaults to whether the client itself speaks HTTPS (always, on AWS): an emulator served over
    plain HTTP (moto enforces bucket policies) would otherwise be locked out of its own bucket."""
    if require_tls is None:
        require_tls = str(s3.meta.endpoint_url).startswith("https://")
    created = _create_bucket(s3, name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    if require_tls:
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(tls_only_policy(name)))
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration=spec.lifecycle_configuration())
    return created


def _create_bucket(s3: Any, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)  # asked first: us-east-1 answers a repeated CreateBucket with 200 OK
        return False
    except s3.exceptions.ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) not in {"404", "NoSuchBucket"}:
            raise  # 403: the name belongs to another account
    region = s3.meta.region_name
    arguments: dict[str, Any] = {"Bucket": name}
    if region and region != "us-east-1":  # us-east-1 refuses a location constraint naming itself
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**arguments)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        return False
    s3.get_waiter("bucket_exists").wait(Bucket=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return True


def ensure_data_key(kms: Any, alias: str, *, description: str = "investai data keys") -> str:
    """The ARN of the symmetric customer-managed key behind ``alias`` (``alias/...``), created with its alias
    unless it exists; automatic rotation is turned on either way."""
    try:
        arn = str(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"])
    except kms.exceptions.NotFoundException:
        created = kms.create_key(Description=description, KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")
        arn = str(created["KeyMetadata"]["Arn"])
        try:
            kms.create_alias(AliasName=alias, TargetKeyId=arn)
        except kms.exceptions.AlreadyExistsException:  # another provisioner won: use its key, retire ours
            kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
            arn = str(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"])
    kms.enable_key_rotation(KeyId=arn)
    return arn


def ensure_secret(secretsmanager: Any, name: str, *, kms_key: str, initial: Mapping[str, str] | None = None) -> bool:
    """Create the application's JSON secret ``name`` encrypted with ``kms_key`` unless it exists (values already
    stored are never replaced). Returns whether it was created."""
    try:
        secretsmanager.create_secret(
            Name=name,
            KmsKeyId=kms_key,
            SecretString=json.dumps(dict(initial or {})),
            Description="investai runtime secrets: a JSON object of name -> value",
        )
    except secretsmanager.exceptions.ResourceExistsException:
        return False
    return True
