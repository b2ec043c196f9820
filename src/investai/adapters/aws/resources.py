"""The AWS shape's resources, defined once: tables, bucket, queues, key, secret and user pool.

``investai aws provision`` creates them (on an emulator or a sandbox account, for development and tests) with
:func:`provision`; the CDK app reads the same definitions. Names come from one prefix (``ResourceNames``), and
any one of them can be overridden by a setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

AttributeType = Literal["S", "N", "B"]


@dataclass(frozen=True)
class Key:
    name: str
    type: AttributeType = "S"


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index (projection ALL)."""

    name: str
    partition: Key
    sort: Key | None = None


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table: keys, indexes, time-to-live attribute, and whether it holds personal data that a
    customer-managed key must encrypt."""

    role: str
    partition: Key
    sort: Key | None = None
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None
    customer_managed_key: bool = False
    description: str = ""

    def key_schema(self) -> list[dict[str, str]]:
        schema = [{"AttributeName": self.partition.name, "KeyType": "HASH"}]
        if self.sort is not None:
            schema.append({"AttributeName": self.sort.name, "KeyType": "RANGE"})
        return schema

    def attribute_definitions(self) -> list[dict[str, str]]:
        keys = [self.partition, self.sort]
        for index in self.indexes:
            keys += [index.partition, index.sort]
        seen: dict[str, str] = {}
        for key in keys:
            if key is not None:
                if seen.setdefault(key.name, key.type) != key.type:
                    raise ValueError(f"table {self.role}: attribute {key.name} has two types")
        return [{"AttributeName": name, "AttributeType": kind} for name, kind in seen.items()]


@dataclass(frozen=True)
class QueueSpec:
    role: str
    visibility_timeout_s: int = 900  # the processing function's timeout
    max_receive_count: int = 5  # receives before a message moves to the dead-letter queue
    retention_s: int = 14 * 86400


@dataclass(frozen=True)
class BucketSpec:
    """The proprietary-data bucket: versioned, SSE-KMS with a bucket key, public access blocked, tiered."""

    infrequent_access_days: int = 30
    archive_days: int = 90
    noncurrent_expiry_days: int | None = None


@dataclass(frozen=True)
class UserPoolSpec:
    """The Cognito user pool: administrators create users; the password policy of the embedded shape."""

    password_min_length: int = 12
    temporary_password_days: int = 7
    access_token_minutes: int = 60
    refresh_token_days: int = 30
    mfa: Literal["OFF", "OPTIONAL", "ON"] = "OPTIONAL"


# --- record tables (DynamoDB repositories) -------------------------------------------------------------------
RECORD_TABLES: tuple[TableSpec, ...] = ()

# --- identity and audit tables ---------------------------------------------------------------------------------
IDENTITY_TABLES: tuple[TableSpec, ...] = ()

# --- jobs ------------------------------------------------------------------------------------------------------
JOB_TABLES: tuple[TableSpec, ...] = ()

JOBS_QUEUE = QueueSpec(role="jobs")
BUCKET = BucketSpec()
USER_POOL = UserPoolSpec()


def tables() -> tuple[TableSpec, ...]:
    """Every table of the AWS shape."""
    return (*RECORD_TABLES, *IDENTITY_TABLES, *JOB_TABLES)


@dataclass(frozen=True)
class ResourceNames:
    """Physical names: ``<prefix>-<role>`` unless overridden (e.g. a bucket name taken elsewhere)."""

    prefix: str = "investai"
    bucket_name: str | None = None
    table_names: Mapping[str, str] = field(default_factory=dict)
    queue_url: str | None = None
    key_id: str | None = None
    secret_id: str | None = None
    user_pool_id: str | None = None
    user_pool_client_id: str | None = None

    @property
    def bucket(self) -> str:
        return self.bucket_name or f"{self.prefix}-data"

    def table(self, role: str) -> str:
        return self.table_names.get(role) or f"{self.prefix}-{role}"

    @property
    def queue(self) -> str:
        return f"{self.prefix}-{JOBS_QUEUE.role}"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.prefix}-{JOBS_QUEUE.role}-dlq"

    @property
    def key(self) -> str:
        """The data key: an id, ARN or alias."""
        return self.key_id or f"alias/{self.prefix}-data"

    @property
    def secret(self) -> str:
        return self.secret_id or f"{self.prefix}/app"

    @property
    def user_pool(self) -> str:
        return f"{self.prefix}-users"

    @property
    def user_pool_client(self) -> str:
        return f"{self.prefix}-web"


def create_table_arguments(spec: TableSpec, name: str) -> dict[str, Any]:
    """``dynamodb.create_table`` keyword arguments for a table (on-demand billing)."""
    arguments: dict[str, Any] = {
        "TableName": name,
        "KeySchema": spec.key_schema(),
        "AttributeDefinitions": spec.attribute_definitions(),
        "BillingMode": "PAY_PER_REQUEST",
    }
    if spec.indexes:
        arguments["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition.name, "KeyType": "HASH"},
                    *([{"AttributeName": index.sort.name, "KeyType": "RANGE"}] if index.sort else []),
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    return arguments
