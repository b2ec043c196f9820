"""Create the AWS shape's resources from :mod:`investai.adapters.aws.resources`: idempotent, so running it
again changes nothing that exists. For emulators and sandbox accounts; production is deployed by the CDK app."""

from __future__ import annotations

from typing import Any

from investai.adapters.aws.resources import TableSpec, create_table_arguments


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
