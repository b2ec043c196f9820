"""The AWS shape: records, jobs, audit and sessions in DynamoDB, objects in S3 (SSE-KMS), data keys from KMS,
secrets from Secrets Manager, job delivery through SQS, identities in a Cognito user pool, the knowledge base in
LanceDB on S3 or in OpenSearch, bar history as Parquet in S3 with quotes in DynamoDB or Timestream, embeddings
from Bedrock Titan with a shared DynamoDB cache, and the models' rate limit counted in DynamoDB.

Endpoints and credentials come from boto3's own configuration (``AWS_ENDPOINT_URL`` points every client at an
emulator). Nothing is kept in ``DATA_DIR`` but scratch files; backups are AWS's own (PITR, S3 versioning, AWS
Backup). AWS adapters are imported inside the builder, so the embedded shape never loads boto3.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from investai.bootstrap.adapters import Adapters, IdentityProvider, Records
from investai.bootstrap.aws_jobs import aws_clients, job_queue, resource_names
from investai.bootstrap.embedded import in_process_scheduler, local_embedder, market_vendor_feeds
from investai.bootstrap.models import shared_quota
from investai.bootstrap.overrides import Overrides
from investai.config import ConfigurationError, EmbeddingProvider, QuotesBackend, SearchBackend, Settings
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.health import HealthCheck
from investai.ports.identity import MfaSecretRepository, TokenStore
from investai.ports.knowledge import Embedder, SearchIndex
from investai.ports.market import TimeSeriesStore
from investai.ports.secrets import SecretStore
from investai.security.envelope import EnvelopeCipher

if TYPE_CHECKING:
    from investai.adapters.aws.clients import AwsClients
    from investai.adapters.aws.deployment import ProvisionReport
    from investai.adapters.aws.opensearch_index import OpenSearchSearchIndex
    from investai.adapters.aws.resources import ResourceNames


@dataclass(frozen=True)
class NamedCheck:
    """An adapter's own check, reported under the AWS resource it reaches (``dynamodb:investai-ideas``)."""

    health_name: str
    check: Callable[[], None]


def provision(settings: Settings) -> ProvisionReport:
    """Create every resource of the AWS shape that does not exist (with a fresh ``secret_key`` in a new
    application secret); safe to run again. The report names each resource and the ids AWS assigned."""
    import secrets

    from investai.adapters.aws.clients import AwsClients
    from investai.adapters.aws.deployment import provision as provision_resources

    clients = AwsClients(region=settings.aws_region)  # the operator's own credentials, not the data-plane roles
    report = provision_resources(
        clients, resource_names(settings), initial_secrets={"secret_key": secrets.token_urlsafe(48)}
    )
    if settings.quotes_backend is QuotesBackend.TIMESTREAM:
        from investai.adapters.aws.timestream_quotes import ensure_timestream

        database = settings.timestream_database or f"{settings.aws_resource_prefix}-market"
        created = ensure_timestream(
            clients.client("timestream-write"),
            database=database,
            table=settings.timestream_table,
            memory_hours=max(1, round(settings.quotes_memory_retention_h)),
            magnetic_days=max(1, round(settings.quotes_magnetic_retention_days)),
        )
        report.resources.append(("timestream table", f"{database}.{settings.timestream_table}", created))
    if settings.search_backend is SearchBackend.OPENSEARCH:
        client, index = _opensearch(settings, _search_dimension(settings))
        existed = bool(client.indices.exists(index=settings.opensearch_index))
        index.ensure()
        index.close()
        report.resources.append(("opensearch index", settings.opensearch_index, not existed))
    return report


def _search_dimension(settings: Settings) -> int:
    """The vector size of the configured embedder, without loading it."""
    if settings.embedding_provider is EmbeddingProvider.LOCAL:
        from investai.adapters.local.embedder import DIMENSION

        return DIMENSION
    return settings.titan_dimension


def build_aws(settings: Settings, overrides: Overrides) -> Adapters:
    from investai.adapters.aws.deployment import resolve
    from investai.adapters.aws.dynamodb_audit import DynamoDbAuditLog
    from investai.adapters.aws.dynamodb_identity import DynamoDbMfaSecretRepository, DynamoDbTokenStore
    from investai.adapters.aws.dynamodb_lock import DynamoDbLease
    from investai.adapters.aws.dynamodb_usage import DynamoDbUsageLedger
    from investai.adapters.aws.kms_keys import KmsKeyManager
    from investai.adapters.aws.s3_market_provider import S3PrefixProvider
    from investai.adapters.aws.s3_objects import S3ObjectStore
    from investai.adapters.aws.secrets_manager import SecretsManagerSecretStore
    from investai.adapters.local.clock import SystemClock

    clock = overrides.clock or SystemClock()
    clients = aws_clients(settings)
    names = resolve(clients, resource_names(settings))
    dynamodb, table = clients.client("dynamodb"), names.table
    secret_store = SecretsManagerSecretStore(
        client=clients.client("secretsmanager"), secret_id=names.secret, clock=clock
    )
    secrets = overrides.secrets or secret_store
    kms = KmsKeyManager(kms=clients.client("kms"), key_id=names.key)
    keys = overrides.keys or kms
    cipher = EnvelopeCipher(key_manager=keys)
    objects = S3ObjectStore(
        s3=clients.client("s3"), bucket=names.bucket, kms_key_id=names.key, cipher=cipher, clock=clock
    )
    jobs, dispatch = job_queue(settings, clients, names, clock)
    records, record_checks = _records(dynamodb, names, cipher)
    audit = DynamoDbAuditLog(dynamodb=dynamodb, table=table("audit"), clock=clock)
    tokens = DynamoDbTokenStore(
        dynamodb=dynamodb,
        families_table=table("token-families"),
        tokens_table=table("refresh-tokens"),
        single_use_table=table("single-use-keys"),
    )
    mfa_secrets = DynamoDbMfaSecretRepository(dynamodb=dynamodb, table=table("mfa-secrets"), cipher=cipher)
    identity, pool_check = _cognito(
        settings,
        clients,
        names,
        records=records,
        tokens=tokens,
        mfa_secrets=mfa_secrets,
        audit=audit,
        clock=clock,
        secrets=secrets,
    )
    embedder = _embedder(settings, clients, names, overrides)
    index, index_checks = _search_index(settings, clients, names, embedder.dimension)
    market_store, market_checks = _market_store(settings, clients, names)
    market_provider = S3PrefixProvider(
        clients.client("s3"),
        bucket=names.bucket,
        prefix=settings.market_provider_prefix,
        max_bytes=settings.max_upload_bytes,
    )
    first_start = DynamoDbLease(dynamodb, table("locks"), "first-start", wait_s=600.0)
    feeds = market_vendor_feeds(settings, secrets)
    usage = DynamoDbUsageLedger(client=dynamodb, table=table("usage"))
    checks: list[HealthCheck] = [
        *([NamedCheck(f"kms:{names.key}", kms.check)] if keys is kms else []),
        NamedCheck(f"s3:{names.bucket}", objects.check),
        *([NamedCheck(f"secretsmanager:{names.secret}", secret_store.check)] if secrets is secret_store else []),
        NamedCheck(f"sqs:{names.queue}", dispatch.check),
        NamedCheck(f"cognito-idp:{names.user_pool_id}", pool_check),
        *(
            NamedCheck(f"dynamodb:{table(role)}", check)
            for role, check in (
                *record_checks,
                ("audit", audit.check),
                ("jobs", jobs.check),
                ("token-families", tokens.check),
                ("usage", usage.check),
            )
        ),
        *index_checks,
        *market_checks,
    ]
    return Adapters(
        shape="aws",
        clock=clock,
        secrets=secrets,
        keys=keys,
        cipher=cipher,
        objects=objects,
        records=records,
        audit=audit,
        jobs=jobs,
        dispatch=dispatch,
        embedder=embedder,
        index=index,
        market_store=market_store,
        market_provider=market_provider,
        scheduler=overrides.scheduler or in_process_scheduler(jobs, clock),
        identity=identity,
        backups=None,
        first_start=first_start,
        usage=usage,
        health_checks=checks,
        closers=[index.close, market_store.close, embedder_close(embedder), *(feed.close for feed in feeds)],
        market_feeds=feeds,
        model_quota=shared_quota(settings, dynamodb, table("rate-limits")),
    )


def _embedder(settings: Settings, clients: AwsClients, names: ResourceNames, overrides: Overrides) -> Embedder:
    """Bedrock Titan v2 with the shared DynamoDB cache (or the local model when asked for, or an override)."""
    if overrides.embedder is not None:
        return overrides.embedder
    if settings.embedding_provider is EmbeddingProvider.LOCAL:
        return local_embedder(settings)
    from investai.adapters.aws.bedrock_embeddings import TitanEmbedder, bedrock_embeddings_client
    from investai.adapters.aws.dynamodb_vector_cache import DynamoDbVectorCache

    cache = DynamoDbVectorCache(clients.client("dynamodb"), names.table("embeddings"))
    return TitanEmbedder(
        bedrock_embeddings_client(
            region=settings.aws_region,
            timeout_s=settings.model_timeout_s,
            session=clients.session("bedrock-runtime"),
        ),
        model_id=settings.titan_model_id,
        dimension=settings.titan_dimension,
        normalize=settings.titan_normalize,
        concurrency=settings.titan_concurrency,
        batch_size=settings.embedding_batch_size,
        cache=cache,
    )


def embedder_close(embedder: Embedder) -> Callable[[], None]:
    close = getattr(embedder, "close", None)
    return close if callable(close) else (lambda: None)


def _opensearch(settings: Settings, dimension: int) -> tuple[Any, OpenSearchSearchIndex]:
    """The configured OpenSearch client and the index over it."""
    from investai.adapters.aws.opensearch_index import OpenSearchSearchIndex, build_opensearch_client

    if not settings.opensearch_url:
        raise ConfigurationError("INVESTAI_SEARCH_BACKEND=opensearch needs INVESTAI_OPENSEARCH_URL")
    client = build_opensearch_client(settings.opensearch_url, region=settings.aws_region, auth=settings.opensearch_auth)
    index = OpenSearchSearchIndex(
        client, index=settings.opensearch_index, dimension=dimension, weights=settings.opensearch_hybrid_weights
    )
    return client, index


def _search_index(
    settings: Settings, clients: AwsClients, names: ResourceNames, dimension: int
) -> tuple[SearchIndex, list[HealthCheck]]:
    """LanceDB on S3 (writers serialised by a DynamoDB lease) or an OpenSearch domain."""
    if settings.search_backend is SearchBackend.OPENSEARCH:
        _, index = _opensearch(settings, dimension)
        return index, [NamedCheck(f"opensearch:{settings.opensearch_index}", index.check)]
    from investai.adapters.aws.dynamodb_lock import DynamoDbLease
    from investai.adapters.local.lancedb_index import LanceDbSearchIndex

    lance = LanceDbSearchIndex(
        path=f"s3://{names.bucket}/knowledge",
        dimension=dimension,
        storage_options=clients.lancedb_storage_options(),
        write_lock=DynamoDbLease(clients.client("dynamodb"), names.table("locks"), "search-index"),
    )
    return lance, []


def _market_store(
    settings: Settings, clients: AwsClients, names: ResourceNames
) -> tuple[TimeSeriesStore, list[HealthCheck]]:
    """Bar history as Parquet in the data bucket, the catalog in DynamoDB, quotes in DynamoDB or Timestream."""
    from investai.adapters.aws.dynamodb_lock import DynamoDbLease
    from investai.adapters.aws.dynamodb_market_catalog import DynamoDbMarketCatalog
    from investai.adapters.aws.market_parts import QuoteTiers
    from investai.adapters.aws.market_store import ComposedTimeSeriesStore
    from investai.adapters.aws.s3_bars import S3BarHistory

    dynamodb = clients.client("dynamodb")
    memory = timedelta(hours=settings.quotes_memory_retention_h)
    magnetic = timedelta(days=settings.quotes_magnetic_retention_days)
    quotes: QuoteTiers
    if settings.quotes_backend is QuotesBackend.TIMESTREAM:
        from investai.adapters.aws.timestream_quotes import TimestreamQuoteTiers

        database = settings.timestream_database or f"{settings.aws_resource_prefix}-market"
        quotes = TimestreamQuoteTiers(
            clients.client("timestream-write"),
            clients.client("timestream-query"),
            database=database,
            table=settings.timestream_table,
            memory_retention=memory,
            magnetic_retention=magnetic,
        )
        quotes_check = NamedCheck(f"timestream:{database}", quotes.check)
    else:
        from investai.adapters.aws.dynamodb_quotes import DynamoDbQuoteTiers

        quotes = DynamoDbQuoteTiers(
            dynamodb, names.table("quotes"), memory_retention=memory, magnetic_retention=magnetic
        )
        quotes_check = NamedCheck(f"dynamodb:{names.table('quotes')}", quotes.check)
    bars = S3BarHistory(
        clients.s3_filesystem(),
        bucket=names.bucket,
        prefix=settings.market_s3_prefix,
        write_lock=DynamoDbLease(dynamodb, names.table("locks"), "market-history"),
    )
    catalog = DynamoDbMarketCatalog(dynamodb, names.table("market"))
    store = ComposedTimeSeriesStore(bars=bars, quotes=quotes, catalog=catalog)
    checks: list[HealthCheck] = [
        NamedCheck(f"s3:{names.bucket}/{settings.market_s3_prefix}", bars.check),
        NamedCheck(f"dynamodb:{names.table('market')}", catalog.check),
        quotes_check,
    ]
    return store, checks


def _records(
    dynamodb: Any, names: ResourceNames, cipher: EnvelopeCipher
) -> tuple[Records, list[tuple[str, Callable[[], None]]]]:
    from investai.adapters.aws.dynamodb_idea_requests import DynamoDbIdeaRequestRepository
    from investai.adapters.aws.dynamodb_ideas import DynamoDbIdeaRepository
    from investai.adapters.aws.dynamodb_records import DynamoDbDocumentRepository, DynamoDbFeedbackRepository
    from investai.adapters.aws.dynamodb_users import DynamoDbProfileRepository, DynamoDbUserRepository

    table = names.table
    ideas = DynamoDbIdeaRepository(client=dynamodb, table=table("ideas"))
    users = DynamoDbUserRepository(client=dynamodb, table=table("users"))
    profiles = DynamoDbProfileRepository(client=dynamodb, table=table("profiles"), cipher=cipher)
    documents = DynamoDbDocumentRepository(client=dynamodb, table=table("documents"))
    feedback = DynamoDbFeedbackRepository(client=dynamodb, table=table("feedback"))
    requests = DynamoDbIdeaRequestRepository(
        client=dynamodb, requests_table=table("idea-requests"), messages_table=table("agent-messages"), ideas=ideas
    )
    records = Records(
        ideas=ideas, users=users, profiles=profiles, documents=documents, feedback=feedback, idea_requests=requests
    )
    checks: list[tuple[str, Callable[[], None]]] = [
        ("ideas", ideas.check),
        ("users", users.check),
        ("profiles", profiles.check),
        ("documents", documents.check),
        ("feedback", feedback.check),
        ("idea-requests", requests.check),
    ]
    return records, checks


def _cognito(
    settings: Settings,
    clients: AwsClients,
    names: ResourceNames,
    *,
    records: Records,
    tokens: TokenStore,
    mfa_secrets: MfaSecretRepository,
    audit: AuditLog,
    clock: Clock,
    secrets: SecretStore,
) -> tuple[IdentityProvider, Callable[[], None]]:
    from investai.adapters.aws.cognito_common import CognitoPolicy
    from investai.adapters.aws.cognito_identity import cognito_identity

    assert names.user_pool_id is not None  # resolve() fills the ids in or raises
    assert names.user_pool_client_id is not None
    secret_key = secrets.get("secret_key")
    if not secret_key or len(secret_key) < 32:
        raise ConfigurationError(
            f"the secret {names.secret} must hold a 'secret_key' of 32+ characters (`investai aws provision` makes one)"
        )
    cognito = cognito_identity(
        clients.client("cognito-idp"),
        pool_id=names.user_pool_id,
        client_id=names.user_pool_client_id,
        users=records.users,
        tokens=tokens,
        mfa_secrets=mfa_secrets,
        audit=audit,
        clock=clock,
        challenge_key=hashlib.sha256(f"cognito-challenge:{secret_key}".encode()).digest(),
        policy=CognitoPolicy(
            refresh_ttl=timedelta(days=settings.refresh_token_ttl_days),
            temporary_password_ttl=timedelta(days=settings.temporary_password_days),
            lockout_threshold=settings.lockout_threshold,
            lockout_base_s=settings.lockout_base_s,
            lockout_max_s=settings.lockout_max_s,
            challenge_ttl_s=settings.challenge_ttl_s,
            leeway_s=settings.token_leeway_s,
        ),
    )
    provider = IdentityProvider(
        sign_in=cognito.sign_in,
        mfa=cognito.mfa,
        directory=cognito.directory,
        verifier=cognito.verifier,
        tokens=tokens,
        mfa_secrets=mfa_secrets,
        issuer=None,
    )
    return provider, cognito.directory.check
