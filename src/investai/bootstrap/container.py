"""The Container: services wired once from one shape's adapters. Entry points (API, web, CLI, workers, Lambda
handlers) get a Container and call its services; nothing here names an adapter type."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from opentelemetry.sdk.trace import TracerProvider

from investai.agents.router import ModelRouter
from investai.bootstrap.adapters import Adapters
from investai.config import ConfigurationError, Settings
from investai.domain.errors import Unsupported
from investai.jobs.schedule import Schedule, shape_schedules
from investai.jobs.worker import JobHandler, Worker, WorkerPool
from investai.observability.metrics import Metrics
from investai.ports.audit import AuditLog
from investai.ports.backups import Backups
from investai.ports.clock import Clock
from investai.ports.health import HealthCheck
from investai.ports.identity import (
    IdentityVerifier,
    MfaEnrolment,
    MfaSecretRepository,
    SignIn,
    TokenIssuer,
    TokenStore,
    UserDirectory,
)
from investai.ports.jobs import JobDispatch, JobRecords
from investai.ports.keys import KeyManager
from investai.ports.knowledge import Embedder, SearchIndex
from investai.ports.market import MarketDataProvider, TimeSeriesStore
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
from investai.services.analytics import AnalyticsService
from investai.services.budgets import BudgetService
from investai.services.document_lifecycle import DocumentLifecycle
from investai.services.document_processing import DocumentProcessor
from investai.services.documents import DocumentService
from investai.services.idea_insights import IdeaInsights
from investai.services.idea_lifecycle import IdeaLifecycle
from investai.services.idea_requests import IdeaRequestService
from investai.services.knowledge import KnowledgeService
from investai.services.market import MarketDataService
from investai.services.market_feeds import MarketFeedService
from investai.services.market_quarantine import MarketReview
from investai.services.operations import OperationsService
from investai.services.pitr import PointInTimeService
from investai.services.profile import ProfileService
from investai.services.queries import IdeaQueries, JobQueries
from investai.services.samples import SampleLibrary


@dataclass
class Identity:
    """Sign-in, tokens, users, profiles and the audit log."""

    verifier: IdentityVerifier
    issuer: TokenIssuer | None
    tokens: TokenStore
    mfa_secrets: MfaSecretRepository
    audit: AuditLog
    auth: SignIn
    mfa: MfaEnrolment
    users: UserDirectory
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
    shape: str
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
    jobs: JobRecords
    scheduler: Scheduler
    metrics: Metrics
    models: ModelRouter
    idea_requests: IdeaRequestService
    idea_lifecycle: IdeaLifecycle
    idea_insights: IdeaInsights
    budgets: BudgetService
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
    market_feeds: MarketFeedService
    backups: Backups | None
    _adapters: Adapters
    _handlers: dict[str, JobHandler] = field(default_factory=dict)

    @property
    def handlers(self) -> dict[str, JobHandler]:
        return dict(self._handlers)

    def secret(self, name: str) -> str:
        """A runtime secret (``secret_key``, API keys) through the secret store — Secrets Manager on AWS, the
        environment and secret files here — falling back to the settings (and their dev-profile default)."""
        stored = self.secrets.get(name)
        if stored:
            return stored
        return self.settings.secret_value(name)

    def local_backups(self) -> Backups:
        """The backup repository of the embedded shape; ``Unsupported`` on a shape that AWS backs up."""
        if self.backups is None:
            raise Unsupported(
                "this deployment is backed up by AWS (DynamoDB point-in-time recovery, S3 versioning and AWS"
                " Backup), not by `investai backup`"
            )
        return self.backups

    def signing_keys(self) -> TokenIssuer:
        """The local token issuer; ``Unsupported`` when the identity provider signs its own tokens (Cognito)."""
        if self.identity.issuer is None:
            raise Unsupported("tokens are signed by the identity provider (Cognito); it rotates its own keys")
        return self.identity.issuer

    @property
    def jobs_dispatched(self) -> bool:
        """Whether jobs reach workers through a queue (the AWS shape) rather than by polling the records."""
        return self._adapters.dispatch is not None

    @property
    def dispatch(self) -> JobDispatch | None:
        """The queue jobs are delivered through (the AWS shape), or ``None`` where workers poll the records."""
        return self._adapters.dispatch

    def worker_pool(self) -> WorkerPool:
        return WorkerPool([self.worker(name=f"worker-{index}") for index in range(self.settings.worker_concurrency)])

    def worker(self, *, name: str = "worker", kinds: set[str] | None = None) -> Worker:
        """A worker for this shape's delivery (polling records, or the dispatch queue), for ``kinds`` or all.
        Workers fed by a queue take every kind (see :class:`~investai.jobs.worker.QueueDeliveries`)."""
        if kinds is not None and self._adapters.dispatch is not None:
            raise ConfigurationError("workers fed by the job queue run every kind of job")
        handlers = {kind: handler for kind, handler in self._handlers.items() if kinds is None or kind in kinds}
        return Worker(
            records=self.jobs,
            handlers=handlers,
            visibility_timeout=timedelta(seconds=self.settings.job_visibility_timeout_s),
            poll_interval=self.settings.worker_poll_interval_s,
            metrics=self.metrics,
            name=name,
            dispatch=self._adapters.dispatch,
        )

    def schedules(self) -> list[Schedule]:
        """The recurring jobs this deployment's settings ask for: backups only where the shape takes them,
        document tiers only where the object store does not move them itself, redelivery of jobs only where a
        queue delivers them."""
        return shape_schedules(
            self.settings,
            tiers_moved_by_store=self.objects.tiers_managed_by_lifecycle,
            backups_taken=self.backups is not None,
            jobs_dispatched=self.jobs_dispatched,
            history_compactable=self.market.compactable,
        )

    @contextmanager
    def first_start(self) -> Iterator[None]:
        """Hold while preparing a new deployment (the first administrator, the sample history and corpus):
        processes starting together take turns, so the second finds the work done instead of racing it."""
        with self._adapters.first_start():
            yield

    def start_scheduler(self) -> None:
        for schedule in self.schedules():
            self.scheduler.add(schedule)
        self.scheduler.start()

    def close(self) -> None:
        self.scheduler.shutdown()
        self.tracer_provider.shutdown()
        for close in self._adapters.closers:
            close()
