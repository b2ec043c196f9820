"""Composition root: the only module that chooses adapters. Settings in, a Container of services out.

Tests call :func:`build_container` with settings pointing at ``tmp_path`` and with fakes (clock, key
manager, ...) passed as keyword overrides.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from filelock import FileLock
from opentelemetry.sdk.trace import TracerProvider

from investai import __version__
from investai.adapters.local.backup.embedded import BackupSources, EmbeddedBackups
from investai.adapters.local.clock import SystemClock
from investai.adapters.local.data_directory import DataDirectoryUse
from investai.adapters.local.duckdb_market import DuckDbTimeSeriesStore
from investai.adapters.local.embedder import SentenceTransformerEmbedder
from investai.adapters.local.fsutil import ensure_private_dir
from investai.adapters.local.keyring import LocalKeyring
from investai.adapters.local.lancedb_index import LanceDbSearchIndex
from investai.adapters.local.market_directory import DirectoryProvider
from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.object_store import LocalObjectStore
from investai.adapters.local.scheduler import ApScheduler
from investai.adapters.local.secrets import EnvFileSecretStore
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_audit import SqliteAuditLog
from investai.adapters.local.sqlite_idea_requests import SqliteIdeaRequestRepository
from investai.adapters.local.sqlite_ideas import SqliteIdeaRepository
from investai.adapters.local.sqlite_identity import SqliteMfaSecretRepository, SqliteTokenStore
from investai.adapters.local.sqlite_jobs import SqliteJobQueue
from investai.adapters.local.sqlite_records import (
    SqliteDocumentRepository,
    SqliteFeedbackRepository,
    SqliteProfileRepository,
    SqliteUserRepository,
)
from investai.adapters.local.token_issuer import LocalTokenIssuer
from investai.adapters.models.offline import OfflineModelProvider
from investai.agents.router import ModelLink, ModelRouter, Price
from investai.agents.router import RetryPolicy as ModelRetryPolicy
from investai.agents.supervisor import Supervisor
from investai.config import Backend, ConfigurationError, ModelProviderName, Settings
from investai.domain.backups import RestoreReport
from investai.domain.jobs import RetryPolicy
from investai.domain.llm import TaskKind
from investai.ingest import IngestLimits
from investai.ingest.chunking import ChunkingOptions
from investai.ingest.market_plausibility import PlausibilityRules
from investai.jobs.handlers import build_handlers
from investai.jobs.schedule import Schedule, register_schedules, schedules
from investai.jobs.worker import JobHandler, Worker, WorkerPool
from investai.observability.metrics import Metrics
from investai.observability.tracing import build_tracer_provider
from investai.ports.audit import AuditLog
from investai.ports.backups import Backups
from investai.ports.clock import Clock
from investai.ports.health import HealthCheck
from investai.ports.identity import IdentityVerifier, MfaSecretRepository, TokenIssuer, TokenStore
from investai.ports.jobs import JobQueue
from investai.ports.keys import KeyManager
from investai.ports.knowledge import Embedder, SearchIndex
from investai.ports.market import MarketDataProvider, TimeSeriesStore
from investai.ports.models import ModelProvider
from investai.ports.object_store import ObjectStore
from investai.ports.repositories import (
    DocumentRepository,
    FeedbackRepository,
    IdeaRepository,
    ProfileRepository,
    UserRepository,
)
from investai.ports.scheduler import Scheduler
from investai.ports.secrets import SecretStore
from investai.security.envelope import EnvelopeCipher
from investai.security.identity import TokenVerifier
from investai.security.jwt import JwtVerifier
from investai.security.passwords import PasswordHasher
from investai.services.analytics import AnalyticsService
from investai.services.auth import AuthService
from investai.services.auth_common import AuthPolicy
from investai.services.document_lifecycle import DocumentLifecycle
from investai.services.document_processing import DocumentProcessor
from investai.services.documents import DocumentService
from investai.services.idea_insights import IdeaInsights
from investai.services.idea_lifecycle import IdeaLifecycle
from investai.services.idea_requests import IdeaRequestService
from investai.services.knowledge import KnowledgeEvidence, KnowledgeService
from investai.services.market import MarketDataService, MarketLimits
from investai.services.market_quarantine import MarketReview
from investai.services.mfa import MfaService
from investai.services.operations import OperationsService
from investai.services.pitr import PointInTimeService
from investai.services.profile import ProfileService
from investai.services.queries import IdeaQueries, JobQueries
from investai.services.samples import SampleLibrary
from investai.services.source_access import SourceAccess
from investai.services.users import UserAdminService


@dataclass(frozen=True)
class Records:
    """The record repositories, built once and shared by every service."""

    ideas: IdeaRepository
    users: UserRepository
    profiles: ProfileRepository
    documents: DocumentRepository
    feedback: FeedbackRepository


@dataclass
class Identity:
    """Sign-in, tokens, users, profiles and the audit log."""

    verifier: IdentityVerifier
    issuer: TokenIssuer
    tokens: TokenStore
    mfa_secrets: MfaSecretRepository
    audit: AuditLog
    auth: AuthService
    mfa: MfaService
    users: UserAdminService
    profiles: ProfileService
    ideas: IdeaQueries
    jobs: JobQueries


@dataclass
class Knowledge:
    """Documents, their processing and the searchable knowledge base."""

    embedder: Embedder
    index: SearchIndex
    documents: DocumentService
    processor: DocumentProcessor
    lifecycle: DocumentLifecycle
    search: KnowledgeService
    samples: SampleLibrary


@dataclass
class Container:
    settings: Settings
    clock: Clock
    secrets: SecretStore
    keys: KeyManager
    cipher: EnvelopeCipher
    objects: ObjectStore
    ideas: IdeaRepository
    users: UserRepository
    profiles: ProfileRepository
    documents: DocumentRepository
    feedback: FeedbackRepository
    jobs: JobQueue
    scheduler: Scheduler
    metrics: Metrics
    models: ModelRouter
    idea_requests: IdeaRequestService
    idea_lifecycle: IdeaLifecycle
    idea_insights: IdeaInsights
    tracer_provider: TracerProvider
    operations: OperationsService
    health_checks: list[HealthCheck]
    identity: Identity
    knowledge: Knowledge
    market: MarketDataService
    analytics: AnalyticsService
    pitr: PointInTimeService
    market_store: TimeSeriesStore
    market_provider: MarketDataProvider
    market_review: MarketReview
    backups: Backups
    database: SqliteDatabase | None = None
    data_directory: DataDirectoryUse | None = None
    _handlers: dict[str, JobHandler] = field(default_factory=dict)

    @property
    def handlers(self) -> dict[str, JobHandler]:
        return dict(self._handlers)

    def worker_pool(self) -> WorkerPool:
        workers = [
            Worker(
                queue=self.jobs,
                handlers=self._handlers,
                visibility_timeout=timedelta(seconds=self.settings.job_visibility_timeout_s),
                poll_interval=self.settings.worker_poll_interval_s,
                metrics=self.metrics,
                name=f"worker-{index}",
            )
            for index in range(self.settings.worker_concurrency)
        ]
        return WorkerPool(workers)

    def schedules(self) -> list[Schedule]:
        """The recurring jobs this deployment's settings ask for."""
        settings = self.settings
        return schedules(
            maintenance_cron=settings.maintenance_cron,
            lifecycle_cron=settings.document_lifecycle_cron,
            market_retention_cron=settings.market_retention_cron,
            market_refresh_cron=settings.market_refresh_cron,
            ideas_expiry_cron=settings.ideas_expiry_cron,
            backup_cron=settings.backup_cron,
        )

    @contextmanager
    def first_start(self) -> Iterator[None]:
        """Hold while preparing a new data directory (the first administrator, the sample history and corpus):
        processes starting together take turns, so the second finds the work done instead of racing it."""
        ensure_private_dir(self.settings.data_dir)
        with FileLock(self.settings.data_dir / ".first-start.lock", mode=0o600):
            yield

    def start_scheduler(self) -> None:
        register_schedules(scheduler=self.scheduler, queue=self.jobs, clock=self.clock, listed=self.schedules())
        self.scheduler.start()

    def close(self) -> None:
        self.scheduler.shutdown()
        self.knowledge.index.close()
        self.market_store.close()
        self.tracer_provider.shutdown()
        if self.database is not None:
            self.database.close()
        if self.data_directory is not None:
            self.data_directory.close()


def build_model_router(
    settings: Settings, *, metrics: Metrics, providers: dict[str, ModelProvider] | None = None
) -> ModelRouter:
    """The router over the configured provider: reasoning, fast and quantitative chains, each ending offline.

    Chains: reasoning tries the reasoning model then the fast one; quantitative tries its model then the fast
    one; fast tries the fast model. With ``model_provider=offline`` every chain is empty and the offline
    provider answers everything. ``providers`` replaces the configured one (tests).
    """
    name = settings.model_provider.value
    if providers is None:
        providers = {}
        if settings.model_provider is ModelProviderName.BEDROCK:
            from investai.adapters.aws.bedrock_models import BedrockModelProvider, bedrock_runtime_client

            client = bedrock_runtime_client(region=settings.aws_region, timeout_s=settings.model_timeout_s)
            providers[name] = BedrockModelProvider(client)
        elif settings.model_provider is ModelProviderName.OPENAI:
            from investai.adapters.models.openai_compatible import OpenAICompatibleProvider

            key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
            providers[name] = OpenAICompatibleProvider(base_url=settings.openai_base_url, api_key=key)
    chains: dict[TaskKind, list[ModelLink]] = {}
    if name in providers:
        reasoning, fast, quantitative = (
            ModelLink(name, settings.model_reasoning),
            ModelLink(name, settings.model_fast),
            ModelLink(name, settings.model_quantitative),
        )
        chains = {
            TaskKind.REASONING: [reasoning, fast],
            TaskKind.FAST: [fast],
            TaskKind.QUANTITATIVE: [quantitative, fast],
        }
    return ModelRouter(
        providers=providers,
        chains=chains,
        offline=OfflineModelProvider(),
        prices={model: Price(*price) for model, price in settings.model_prices.items()},
        requests_per_minute=settings.model_requests_per_minute,
        burst=settings.model_burst,
        timeout_s=settings.model_timeout_s,
        max_wait_s=settings.model_max_wait_s,
        retry=ModelRetryPolicy(
            max_attempts=settings.model_max_attempts,
            backoff_base_s=settings.model_backoff_base_s,
            backoff_max_s=settings.model_backoff_max_s,
        ),
        metrics=metrics,
    )


def build_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
    keys: KeyManager | None = None,
    secrets: SecretStore | None = None,
    scheduler: Scheduler | None = None,
    embedder: Embedder | None = None,
) -> Container:
    """Wire the adapters the settings ask for; keyword arguments replace a component (tests, fakes)."""
    if settings.backend is not Backend.EMBEDDED:
        raise ConfigurationError(f"backend {settings.backend.value!r} is not available in this build")
    clock = clock or SystemClock()
    data_directory = DataDirectoryUse(settings.data_dir)  # refuses a directory that a restore is filling
    secrets = secrets or EnvFileSecretStore(directory=settings.secrets_dir)
    keys = keys or LocalKeyring(
        path=settings.keyring_path, master_secret=settings.secret_value("master_secret"), clock=clock
    )
    cipher = EnvelopeCipher(key_manager=keys)
    database = SqliteDatabase(path=settings.database_path, migrations=MIGRATIONS)
    database.migrate()
    objects = LocalObjectStore(root=settings.objects_dir, cipher=cipher, clock=clock)
    retry = RetryPolicy(
        max_attempts=settings.job_max_attempts,
        base_delay_s=settings.job_backoff_base_s,
        max_delay_s=settings.job_backoff_max_s,
    )
    queue = SqliteJobQueue(db=database, clock=clock, retry=retry, ttl=timedelta(days=settings.job_ttl_days))
    checks: list[HealthCheck] = [database, objects, queue]
    if isinstance(keys, LocalKeyring):
        checks.append(keys)
    tracer_provider = build_tracer_provider(
        service_name=settings.service_name,
        exporter=settings.tracing_exporter.value,
        otlp_endpoint=settings.otlp_endpoint,
        version=__version__,
    )
    idea_records = SqliteIdeaRepository(db=database)
    records = Records(
        ideas=idea_records,
        users=SqliteUserRepository(db=database),
        profiles=SqliteProfileRepository(db=database, cipher=cipher),
        documents=SqliteDocumentRepository(db=database),
        feedback=SqliteFeedbackRepository(db=database),
    )
    audit = SqliteAuditLog(db=database, clock=clock)
    checks.append(audit)
    identity = build_identity(
        settings,
        records=records,
        audit=audit,
        database=database,
        cipher=cipher,
        objects=objects,
        clock=clock,
        jobs=queue,
    )
    pitr_retention = timedelta(days=settings.pitr_retention_days)
    operations = OperationsService(
        checks=checks,
        queue=queue,
        sessions=identity.tokens,
        clock=clock,
        profiles=records.profiles,
        pitr_retention=pitr_retention,
    )
    knowledge = build_knowledge(
        settings,
        records=records,
        objects=objects,
        jobs=queue,
        audit=audit,
        clock=clock,
        user_admin=identity.users,
        embedder=embedder,
    )
    market_store = DuckDbTimeSeriesStore(
        path=settings.market_path,
        memory_retention=timedelta(hours=settings.quotes_memory_retention_h),
        magnetic_retention=timedelta(days=settings.quotes_magnetic_retention_days),
    )
    plausibility = PlausibilityRules(
        max_daily_rise=settings.market_max_daily_rise,
        max_daily_fall=settings.market_max_daily_fall,
        max_correction=settings.market_max_correction,
        max_price=settings.market_max_price,
        min_price=settings.market_min_price,
        max_volume=settings.market_max_volume,
    )
    market = MarketDataService(
        store=market_store,
        clock=clock,
        audit=audit,
        limits=MarketLimits(
            auto_create_symbols=settings.market_auto_create_symbols,
            max_import_rows=settings.market_max_import_rows,
            quote_max_age=timedelta(days=settings.quotes_magnetic_retention_days),
            quote_max_skew=timedelta(seconds=settings.quotes_max_clock_skew_s),
            plausibility=plausibility,
        ),
    )
    market_review = MarketReview(store=market_store, clock=clock, audit=audit, rules=plausibility)
    provider = DirectoryProvider(settings.market_drop_path)
    metrics = Metrics()
    models = build_model_router(settings, metrics=metrics)
    generator = Supervisor(
        market=market,
        evidence=KnowledgeEvidence(index=knowledge.index, embedder=knowledge.embedder),
        router=models,
        clock=clock,
        restricted=tuple(settings.compliance_restricted_symbols),
        max_liquidity_days=settings.compliance_max_liquidity_days,
    )
    idea_request_records = SqliteIdeaRequestRepository(db=database, ideas=idea_records)
    idea_requests = IdeaRequestService(
        requests=idea_request_records,
        ideas=records.ideas,
        users=records.users,
        jobs=queue,
        generator=generator,
        audit=audit,
        clock=clock,
        sources=identity.ideas.sources,
        callback_hosts=settings.idea_callback_hosts,
        sync_max_ideas=settings.ideas_sync_max,
    )
    idea_lifecycle = IdeaLifecycle(
        ideas=records.ideas, feedback=records.feedback, queries=identity.ideas, audit=audit, clock=clock
    )
    if not isinstance(knowledge.index, LanceDbSearchIndex):
        raise ConfigurationError("the embedded shape keeps its knowledge base in LanceDB")
    backups = EmbeddedBackups(
        root=settings.backup_path,
        sources=BackupSources(
            database=database,
            index=knowledge.index,
            market=market_store,
            objects_dir=settings.objects_dir,
            keyring_path=settings.keyring_path,
            scratch_dir=settings.scratch_dir,
        ),
        keys=keys,
        clock=clock,
        retention=timedelta(days=settings.backup_retention_days),
        product_version=__version__,
        master_secret=settings.secret_value("master_secret"),
    )
    return Container(
        settings=settings,
        clock=clock,
        secrets=secrets,
        keys=keys,
        cipher=cipher,
        objects=objects,
        ideas=records.ideas,
        users=records.users,
        profiles=records.profiles,
        documents=records.documents,
        feedback=records.feedback,
        jobs=queue,
        scheduler=scheduler or ApScheduler(),
        metrics=metrics,
        models=models,
        idea_requests=idea_requests,
        idea_lifecycle=idea_lifecycle,
        idea_insights=IdeaInsights(queries=identity.ideas, requests=idea_request_records, market=market),
        tracer_provider=tracer_provider,
        operations=operations,
        health_checks=checks,
        identity=identity,
        knowledge=knowledge,
        market=market,
        analytics=AnalyticsService(market=market),
        pitr=PointInTimeService(
            ideas=records.ideas,
            profiles=records.profiles,
            users=records.users,
            audit=audit,
            clock=clock,
            sources=identity.ideas.sources,
            retention=pitr_retention,
        ),
        market_store=market_store,
        market_provider=provider,
        market_review=market_review,
        backups=backups,
        database=database,
        data_directory=data_directory,
        _handlers=build_handlers(
            operations=operations,
            processor=knowledge.processor,
            lifecycle=knowledge.lifecycle,
            market=market,
            provider=provider,
            idea_requests=idea_requests,
            idea_lifecycle=idea_lifecycle,
            backups=backups,
            clock=clock,
        ),
    )


def restore_backup(
    settings: Settings, *, backup_id: str | None, target: Path, clock: Clock | None = None
) -> RestoreReport:
    """Restore a backup of the configured repository into ``target`` (empty, unused), with the master secret of
    ``settings``; the newest backup when ``backup_id`` is ``None``."""
    from investai.adapters.local.backup.restore import restore_backup as restore

    return restore(
        repository_root=settings.backup_path,
        backup_id=backup_id,
        target=target,
        master_secret=settings.secret_value("master_secret"),
        clock=clock or SystemClock(),
    )


def build_knowledge(
    settings: Settings,
    *,
    records: Records,
    objects: ObjectStore,
    jobs: JobQueue,
    audit: AuditLog,
    clock: Clock,
    user_admin: UserAdminService,
    embedder: Embedder | None = None,
) -> Knowledge:
    embedder = embedder or SentenceTransformerEmbedder(
        cache_path=settings.embedding_cache_path, batch_size=settings.embedding_batch_size
    )
    index = LanceDbSearchIndex(path=settings.knowledge_dir, dimension=embedder.dimension)
    limits = IngestLimits(
        max_pages=settings.max_document_pages,
        pdf_timeout_s=settings.pdf_timeout_s,
        pdf_memory_bytes=settings.pdf_memory_mb * 1_048_576,
        pdf_active_content=settings.pdf_active_content,
    )
    chunking = ChunkingOptions(max_chars=settings.chunk_max_chars, overlap_chars=settings.chunk_overlap_chars)
    processor = DocumentProcessor(
        documents=records.documents,
        objects=objects,
        index=index,
        embedder=embedder,
        limits=limits,
        chunking=chunking,
        scratch_dir=settings.scratch_dir,
    )
    documents = DocumentService(
        documents=records.documents, objects=objects, jobs=jobs, audit=audit, clock=clock, limits=limits
    )
    return Knowledge(
        embedder=embedder,
        index=index,
        documents=documents,
        processor=processor,
        lifecycle=DocumentLifecycle(
            objects=objects,
            clock=clock,
            infrequent_access_days=settings.documents_infrequent_access_days,
            archive_days=settings.documents_archive_days,
        ),
        search=KnowledgeService(index=index, embedder=embedder, audit=audit),
        samples=SampleLibrary(
            users=records.users,
            user_admin=user_admin,
            documents=documents,
            records=records.documents,
            clock=clock,
            scratch_dir=settings.scratch_dir,
        ),
    )


def auth_policy(settings: Settings) -> AuthPolicy:
    return AuthPolicy(
        client_id=settings.client_id,
        access_ttl_s=settings.access_token_ttl_s,
        refresh_ttl=timedelta(days=settings.refresh_token_ttl_days),
        temporary_password_ttl=timedelta(days=settings.temporary_password_days),
        password_history=settings.password_history,
        lockout_threshold=settings.lockout_threshold,
        lockout_base_s=settings.lockout_base_s,
        lockout_max_s=settings.lockout_max_s,
        challenge_ttl_s=settings.challenge_ttl_s,
    )


def build_identity(
    settings: Settings,
    *,
    records: Records,
    audit: AuditLog,
    database: SqliteDatabase,
    cipher: EnvelopeCipher,
    objects: ObjectStore,
    clock: Clock,
    jobs: JobQueue,
) -> Identity:
    policy = auth_policy(settings)
    users = records.users
    tokens = SqliteTokenStore(db=database)
    mfa_secrets = SqliteMfaSecretRepository(db=database, cipher=cipher)
    issuer = LocalTokenIssuer(
        objects=objects,
        clock=clock,
        issuer=settings.issuer,
        max_token_ttl_s=settings.access_token_ttl_s,
        lock=FileLock(settings.data_dir / "keys" / "signing-keys.lock"),  # shared by every process of data_dir
    )
    jwt_verifier = JwtVerifier(
        jwks=issuer.jwks,
        issuer=settings.issuer,
        client_ids=frozenset({settings.client_id}),
        now=clock.now,
        leeway_s=settings.token_leeway_s,
    )
    hasher = PasswordHasher()
    sources = SourceAccess(documents=records.documents)
    verifier = TokenVerifier(
        jwt_verifier=jwt_verifier,
        session_active=lambda session, at: tokens.is_family_active(family_id=session, at=at),
        now=clock.now,
    )
    auth = AuthService(
        users=users,
        tokens=tokens,
        mfa=mfa_secrets,
        issuer=issuer,
        challenges=jwt_verifier,
        hasher=hasher,
        audit=audit,
        clock=clock,
        policy=policy,
    )
    return Identity(
        verifier=verifier,
        issuer=issuer,
        tokens=tokens,
        mfa_secrets=mfa_secrets,
        audit=audit,
        auth=auth,
        mfa=MfaService(users=users, mfa=mfa_secrets, audit=audit, clock=clock, issuer_name=policy.mfa_issuer_name),
        users=UserAdminService(users=users, tokens=tokens, hasher=hasher, audit=audit, clock=clock, policy=policy),
        profiles=ProfileService(
            users=users,
            profiles=records.profiles,
            mfa=mfa_secrets,
            tokens=tokens,
            ideas=records.ideas,
            documents=records.documents,
            feedback=records.feedback,
            audit=audit,
            clock=clock,
            sources=sources,
        ),
        ideas=IdeaQueries(ideas=records.ideas, audit=audit, sources=sources),
        jobs=JobQueries(jobs=jobs, audit=audit),
    )
