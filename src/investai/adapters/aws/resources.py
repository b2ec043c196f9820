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
            if key is not None and seen.setdefault(key.name, key.type) != key.type:
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
    """The proprietary-data bucket: versioned, SSE-KMS with a bucket key, public access blocked, tiered.

    The object store keeps its objects under ``object_prefix``; only the keys under ``tiered_prefixes`` (relative
    to it: uploaded documents) move to colder tiers, since other objects (signing keys, parses) are read often
    and an archived object cannot be read without a restore. Transitions are S3's own, by the bucket's lifecycle
    configuration (:meth:`lifecycle_configuration`): a current version moves ``infrequent_access_days`` after it
    was written, a noncurrent one that many days after it was superseded.
    """

    infrequent_access_days: int = 30
    archive_days: int = 90
    noncurrent_expiry_days: int | None = None
    object_prefix: str = "objects/"
    tiered_prefixes: tuple[str, ...] = ("documents/",)
    abort_incomplete_upload_days: int = 7
    derived_prefixes: tuple[str, ...] = ("knowledge/", "market/")
    """Bucket-level prefixes of data the AWS shape rewrites as it goes (the LanceDB index, compacted bar files):
    never tiered (they are read all the time), and versions they replace expire after
    ``derived_noncurrent_days``, the recovery window, so rewrites do not pile up forever."""
    derived_noncurrent_days: int = 35

    def __post_init__(self) -> None:
        if self.infrequent_access_days < 30:
            raise ValueError("S3 moves objects to STANDARD_IA no sooner than 30 days after creation")
        if self.archive_days < self.infrequent_access_days + 30:
            raise ValueError("S3 keeps objects in STANDARD_IA for 30 days before a transition to GLACIER")
        if self.noncurrent_expiry_days is not None and self.noncurrent_expiry_days <= self.archive_days:
            raise ValueError("noncurrent versions must expire after they are archived")

    def lifecycle_configuration(self) -> dict[str, Any]:
        """``put_bucket_lifecycle_configuration``'s ``LifecycleConfiguration``: one rule per tiered prefix."""
        return {
            "Rules": [
                *(self._tiering_rule(prefix) for prefix in self.tiered_prefixes),
                *(self._derived_rule(prefix) for prefix in self.derived_prefixes),
            ]
        }

    def _derived_rule(self, prefix: str) -> dict[str, Any]:
        return {
            "ID": f"expire-replaced-{prefix.strip('/').replace('/', '-')}",
            "Status": "Enabled",
            "Filter": {"Prefix": prefix},
            "NoncurrentVersionExpiration": {"NoncurrentDays": self.derived_noncurrent_days},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": self.abort_incomplete_upload_days},
        }

    def _tiering_rule(self, prefix: str) -> dict[str, Any]:
        tiers = ((self.infrequent_access_days, "STANDARD_IA"), (self.archive_days, "GLACIER"))
        rule: dict[str, Any] = {
            "ID": f"tier-{prefix.strip('/').replace('/', '-') or 'all'}",
            "Status": "Enabled",
            "Filter": {"Prefix": f"{self.object_prefix}{prefix}"},
            "Transitions": [{"Days": days, "StorageClass": tier} for days, tier in tiers],
            "NoncurrentVersionTransitions": [{"NoncurrentDays": days, "StorageClass": tier} for days, tier in tiers],
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": self.abort_incomplete_upload_days},
        }
        if self.noncurrent_expiry_days is not None:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": self.noncurrent_expiry_days}
        return rule


@dataclass(frozen=True)
class UserPoolSpec:
    """The Cognito user pool: administrators create users; the password policy of the embedded shape.

    Users are named by the product's user id (``usr_...``), with the e-mail address as an attribute. The app
    client has no secret and allows password sign-in (``USER_PASSWORD_AUTH``) and refresh only; token revocation
    is on and user-existence errors are hidden. :meth:`password_policy`, :meth:`pool_arguments` and
    :meth:`client_arguments` are the API's own shapes, for ``investai aws provision`` and the CDK app alike.
    """

    password_min_length: int = 12
    require_uppercase: bool = True
    require_lowercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = True
    password_history_size: int = 5  # Cognito's Essentials tier and above (the default tier of a new pool)
    temporary_password_days: int = 7
    access_token_minutes: int = 60
    id_token_minutes: int = 60
    refresh_token_days: int = 30
    challenge_session_minutes: int = 3  # how long a sign-in challenge (new password, TOTP) may be answered
    mfa: Literal["OFF", "OPTIONAL", "ON"] = "OPTIONAL"
    software_token_mfa: bool = True
    auth_flows: tuple[str, ...] = ("ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")

    def password_policy(self) -> dict[str, Any]:
        return {
            "MinimumLength": self.password_min_length,
            "RequireUppercase": self.require_uppercase,
            "RequireLowercase": self.require_lowercase,
            "RequireNumbers": self.require_numbers,
            "RequireSymbols": self.require_symbols,
            "PasswordHistorySize": self.password_history_size,
            "TemporaryPasswordValidityDays": self.temporary_password_days,
        }

    def pool_arguments(self, name: str) -> dict[str, Any]:
        """``create_user_pool`` keyword arguments. MFA starts OFF: a pool cannot be created with MFA on or
        optional without an SMS configuration, so TOTP is switched on afterwards (``mfa_arguments``)."""
        return {
            "PoolName": name,
            "Policies": {"PasswordPolicy": self.password_policy()},
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Priority": 1, "Name": "admin_only"}]},
            "UsernameConfiguration": {"CaseSensitive": True},
            "MfaConfiguration": "OFF",
        }

    def mfa_arguments(self, pool_id: str) -> dict[str, Any]:
        """``set_user_pool_mfa_config`` keyword arguments: TOTP (no SMS) with this spec's MFA mode."""
        return {
            "UserPoolId": pool_id,
            "SoftwareTokenMfaConfiguration": {"Enabled": self.software_token_mfa},
            "MfaConfiguration": self.mfa,
        }

    def client_arguments(self, pool_id: str, name: str) -> dict[str, Any]:
        """``create_user_pool_client`` keyword arguments: a public client (no secret) of this spec."""
        return {
            "UserPoolId": pool_id,
            "ClientName": name,
            "GenerateSecret": False,
            "ExplicitAuthFlows": list(self.auth_flows),
            "AccessTokenValidity": self.access_token_minutes,
            "IdTokenValidity": self.id_token_minutes,
            "RefreshTokenValidity": self.refresh_token_days,
            "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
            "EnableTokenRevocation": True,
            "PreventUserExistenceErrors": "ENABLED",
            "AuthSessionValidity": self.challenge_session_minutes,
        }


# --- record tables (DynamoDB repositories) -------------------------------------------------------------------
# Items carry their domain model as JSON in ``body`` beside these key and index attributes; the adapters are
# investai.adapters.aws.dynamodb_{ideas,users,records,idea_requests}. "head" items sit at sort key 2**62.
_TS = Key("timestamp", "N")

IDEAS_TABLE = TableSpec(
    role="ideas",
    partition=Key("id"),
    sort=_TS,
    indexes=(
        IndexSpec("byUser", Key("userId"), _TS),  # latest revisions only (sparse), as are the next three
        IndexSpec("byStatus", Key("orgStatus"), _TS),  # "<organisationId>#<status>"
        IndexSpec("byDate", Key("orgDate"), _TS),  # "<organisationId>#<YYYY-MM-DD>"
        IndexSpec("byExpiry", Key("expiryQueue"), Key("expiresAt", "N")),  # one partition: approved or rejected
        IndexSpec("byOrganisation", Key("organisationId"), _TS),  # every revision, for point-in-time lists
    ),
    description="InvestmentIdeas: one item per revision keyed (id, timestamp ms), plus a head item per idea",
)
PROFILES_TABLE = TableSpec(
    role="profiles",
    partition=Key("userId"),
    sort=_TS,
    indexes=(IndexSpec("bySuperseded", Key("prunable"), Key("supersededAt", "N")),),  # one partition, for pruning
    customer_managed_key=True,
    description="UserProfiles: envelope-encrypted revisions keyed (userId, timestamp ms), plus a head item",
)
USERS_TABLE = TableSpec(
    role="users",
    partition=Key("pk"),  # "user#<id>", or "email#<address>" for the item that keeps an address unique
    indexes=(
        IndexSpec("byOrganisation", Key("organisationId"), Key("emailKey")),
        IndexSpec("byEmail", Key("listAll"), Key("emailKey")),  # one partition: the administrators' user list
    ),
    customer_managed_key=True,
    description="Users of the embedded identity store, and per-user records of the aws shape",
)
DOCUMENTS_TABLE = TableSpec(
    role="documents",
    partition=Key("id"),
    indexes=(
        IndexSpec("byOwner", Key("ownerId"), Key("updatedAt", "N")),
        IndexSpec("byOrganisation", Key("organisationId"), Key("updatedAt", "N")),
    ),
    description="Document metadata, status, ownership, visibility and versions",
)
FEEDBACK_TABLE = TableSpec(
    role="feedback",
    partition=Key("id"),
    indexes=(
        IndexSpec("byIdea", Key("ideaId"), Key("createdAt", "N")),
        IndexSpec("byUser", Key("userId"), Key("createdAt", "N")),
    ),
    description="Feedback users give on ideas",
)
IDEA_REQUESTS_TABLE = TableSpec(
    role="idea-requests",
    partition=Key("id"),
    indexes=(  # sort key "<created_at ms, 15 digits>#<id>": newest first, ties by id
        IndexSpec("byOrganisation", Key("organisationId"), Key("createdKey")),
        IndexSpec("byOwner", Key("orgOwner"), Key("createdKey")),  # "<organisationId>#<ownerId>"
        IndexSpec("byStatus", Key("orgStatus"), Key("createdKey")),  # "<organisationId>#<status>"
    ),
    description="Idea-generation requests: parameters, progress, outcome; cancelRequested beside the body",
)
AGENT_MESSAGES_TABLE = TableSpec(
    role="agent-messages",
    partition=Key("requestId"),
    sort=Key("seq", "N"),
    description="The agents' messages per idea request (its audit trail), numbered 1, 2, ...",
)

RECORD_TABLES: tuple[TableSpec, ...] = (
    IDEAS_TABLE,
    PROFILES_TABLE,
    USERS_TABLE,
    DOCUMENTS_TABLE,
    FEEDBACK_TABLE,
    IDEA_REQUESTS_TABLE,
    AGENT_MESSAGES_TABLE,
)

# --- identity and audit tables ---------------------------------------------------------------------------------
# Adapters: investai.adapters.aws.dynamodb_audit and dynamodb_identity. DynamoDB deletes an item some time
# (up to days) after the epoch second in its "purgeAt" attribute; readers treat an item past its expiry as gone.
_SEQ = Key("seq", "N")

AUDIT_TABLE = TableSpec(
    role="audit",
    partition=Key("chain"),
    sort=_SEQ,  # records 1, 2, ...; the chain's head item (last seq and hash) sits at seq 0
    indexes=(
        IndexSpec("byOrganisation", Key("organisationId"), _SEQ),
        IndexSpec("byActor", Key("actorId"), _SEQ),
    ),
    customer_managed_key=True,
    description="The hash-chained audit log: one item per record, moved forward with its head in one transaction",
)
TOKEN_FAMILIES_TABLE = TableSpec(
    role="token-families",
    partition=Key("familyId"),  # a session, or "user#<id>": the user's revocation generation
    indexes=(IndexSpec("byUser", Key("userId"), Key("createdAt", "N")),),
    ttl_attribute="purgeAt",
    customer_managed_key=True,
    description="Refresh-token families (sessions): expiry, revocation, how and when the user authenticated",
)
REFRESH_TOKENS_TABLE = TableSpec(
    role="refresh-tokens",
    partition=Key("tokenHash"),
    ttl_attribute="purgeAt",
    description="Refresh tokens by SHA-256: family and the time of their single use",
)
SINGLE_USE_KEYS_TABLE = TableSpec(
    role="single-use-keys",
    partition=Key("useKey"),
    ttl_attribute="purgeAt",
    description="Keys that may be used once (challenge sessions, TOTP steps) until they expire",
)
MFA_SECRETS_TABLE = TableSpec(
    role="mfa-secrets",
    partition=Key("userId"),
    customer_managed_key=True,
    description="TOTP secrets and recovery-code hashes, envelope-encrypted before they are stored",
)

IDENTITY_TABLES: tuple[TableSpec, ...] = (
    AUDIT_TABLE,
    TOKEN_FAMILIES_TABLE,
    REFRESH_TOKENS_TABLE,
    SINGLE_USE_KEYS_TABLE,
    MFA_SECRETS_TABLE,
)

# --- jobs ------------------------------------------------------------------------------------------------------
# investai.adapters.aws.dynamodb_jobs: "job#<id>" items (the Job as JSON in ``body``) and "key#<kind>#<key>"
# uniqueness items for idempotency keys. ``expiresAt`` (epoch s) is set on finished jobs only.
JOBS_TABLE = TableSpec(
    role="jobs",
    partition=Key("pk"),
    indexes=(  # queued/leased: "<10 - priority>#<availableAt us>#<createdAt us>#<id>"; finished: "<expiresAt us>#<id>"
        IndexSpec("byStatus", Key("status"), Key("statusOrder")),
    ),
    ttl_attribute="expiresAt",
    description="Job records (TTL 7 days from completion); SQS carries their ids to the workers",
)
JOB_TABLES: tuple[TableSpec, ...] = (JOBS_TABLE,)

# --- market data, search, models ----------------------------------------------------------------------------
# Bar history itself is Parquet in the data bucket (investai.adapters.aws.s3_bars); these tables hold what is
# small and transactional beside it.
MARKET_TABLE = TableSpec(
    role="market",
    partition=Key("pk"),  # "symbol", "quarantine", "held#<digest>", "provider#<name>"
    sort=Key("sk"),
    description="Market catalog: the symbol master, quarantined bars and the providers' ingested files",
)
QUOTES_TABLE = TableSpec(
    role="quotes",
    partition=Key("symbol"),
    sort=Key("ts", "N"),  # epoch microseconds
    indexes=(IndexSpec("byTier", Key("tier"), Key("ts", "N")),),  # "memory" | "magnetic": retention, counts
    ttl_attribute="expiresAt",
    description="Real-time quotes in two tiers (memory 24 h, magnetic 7 d), expired by TTL",
)
LOCKS_TABLE = TableSpec(
    role="locks",
    partition=Key("lock"),
    ttl_attribute="expiresAt",
    description="Leases that serialise writers across processes (search index commits, market writes)",
)
RATE_LIMITS_TABLE = TableSpec(
    role="rate-limits",
    partition=Key("bucket"),  # the limited key (a model id): one token-bucket item, "tat" (epoch us), per key
    ttl_attribute="expiresAt",  # a day past the furthest "tat" may reach: an expired item is a full bucket
    description="Requests per model (a token bucket per model id) shared by every Lambda instance and process",
)
EMBEDDINGS_TABLE = TableSpec(
    role="embeddings",
    partition=Key("key", "B"),  # SHA-256 of the model id and the text
    ttl_attribute="expiresAt",
    description="Embedding vectors by content hash, shared by every process",
)
USAGE_TABLE = TableSpec(
    role="usage",
    partition=Key("pk"),  # "month#<YYYY-MM>", "batch#<key>" or "budget#<organisationId>"
    sort=Key("sk"),  # "<organisationId>#<dimension>#<name>", "batch", or "<scope>#<subjectId>"
    description="Model usage: month-to-date counters (atomic ADD), the batches recorded, and budget overrides",
)
DATA_TABLES: tuple[TableSpec, ...] = (
    MARKET_TABLE,
    QUOTES_TABLE,
    LOCKS_TABLE,
    RATE_LIMITS_TABLE,
    EMBEDDINGS_TABLE,
    USAGE_TABLE,
)

JOBS_QUEUE = QueueSpec(role="jobs")
BUCKET = BucketSpec()
USER_POOL = UserPoolSpec()


def tables() -> tuple[TableSpec, ...]:
    """Every table of the AWS shape."""
    return (*RECORD_TABLES, *IDENTITY_TABLES, *JOB_TABLES, *DATA_TABLES)


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
