"""Settings in, a Container out: pick the shape's adapters, then wire every service once from them."""

from __future__ import annotations

from datetime import timedelta

from investai import __version__
from investai.agents.supervisor import Supervisor
from investai.bootstrap.adapters import Adapters
from investai.bootstrap.container import Container, Identity, Knowledge
from investai.bootstrap.models import build_model_router
from investai.bootstrap.overrides import Overrides
from investai.config import Backend, Settings
from investai.domain.budgets import BudgetLimits
from investai.ingest import IngestLimits
from investai.ingest.chunking import ChunkingOptions
from investai.ingest.market_plausibility import PlausibilityRules
from investai.jobs.handlers import build_handlers
from investai.observability.metrics import Metrics
from investai.observability.traced import (
    EVIDENCE_SEARCHES,
    FUNDAMENTALS_READS,
    IDEA_REQUEST_CALLS,
    IDEA_REQUEST_WRITES,
    IDEA_WRITES,
    INDEX_SEARCHES,
    MARKET_READS,
    traced,
    traced_jobs,
)
from investai.observability.tracing import build_tracer_provider, get_tracer
from investai.ports.clock import Clock
from investai.ports.keys import KeyManager
from investai.ports.knowledge import Embedder
from investai.ports.scheduler import Scheduler
from investai.ports.secrets import SecretStore
from investai.services.analytics import AnalyticsService
from investai.services.budgets import BudgetDefaults, BudgetService
from investai.services.document_lifecycle import DocumentLifecycle
from investai.services.document_processing import DocumentProcessor
from investai.services.documents import DocumentService
from investai.services.fundamentals import DocumentFundamentals
from investai.services.idea_insights import IdeaInsights
from investai.services.idea_lifecycle import IdeaLifecycle
from investai.services.idea_requests import IdeaRequestService
from investai.services.key_rotation import KeyRotation
from investai.services.knowledge import KnowledgeEvidence, KnowledgeService
from investai.services.market import MarketDataService, MarketLimits
from investai.services.market_feeds import FeedOptions, MarketFeedService
from investai.services.market_quarantine import MarketReview
from investai.services.operations import OperationsService
from investai.services.pitr import PointInTimeService
from investai.services.profile import ProfileService
from investai.services.queries import IdeaQueries, JobQueries
from investai.services.samples import SampleLibrary
from investai.services.source_access import SourceAccess


def build_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
    keys: KeyManager | None = None,
    secrets: SecretStore | None = None,
    scheduler: Scheduler | None = None,
    embedder: Embedder | None = None,
) -> Container:
    """Build the adapters of the configured shape and wire the services; keyword arguments replace a
    component (tests' fakes, or a per-port choice)."""
    overrides = Overrides(clock=clock, keys=keys, secrets=secrets, scheduler=scheduler, embedder=embedder)
    if settings.backend is Backend.AWS:
        from investai.bootstrap.aws import build_aws

        adapters = build_aws(settings, overrides)
    else:
        from investai.bootstrap.embedded import build_embedded

        adapters = build_embedded(settings, overrides)
    try:
        return wire(settings, adapters)
    except BaseException:
        for close in adapters.closers:
            close()
        raise


def wire(settings: Settings, adapters: Adapters) -> Container:
    clock, records, audit = adapters.clock, adapters.records, adapters.audit
    identity = _identity(settings, adapters)
    knowledge = _knowledge(settings, adapters, identity)
    market, market_review = _market(settings, adapters)
    market_feeds = _market_feeds(settings, adapters, market)
    pitr_retention = timedelta(days=settings.pitr_retention_days)
    operations = OperationsService(
        checks=adapters.health_checks,
        queue=adapters.jobs,
        sessions=identity.tokens,
        clock=clock,
        profiles=records.profiles,
        pitr_retention=pitr_retention,
        redeliver_after=timedelta(seconds=settings.job_redeliver_after_s),
    )
    metrics = Metrics()
    tracer_provider = build_tracer_provider(
        service_name=settings.service_name,
        exporter=settings.tracing_exporter.value,
        otlp_endpoint=settings.otlp_endpoint,
        version=__version__,
        id_format=settings.effective_tracing_id_format.value,
    )
    tracer = get_tracer(tracer_provider, "investai")
    models = build_model_router(
        settings, metrics=metrics, secrets=adapters.secrets, quota=adapters.model_quota, tracer=tracer
    )
    index = traced(knowledge.index, tracer=tracer, component="search_index", operations=INDEX_SEARCHES)
    generator = Supervisor(
        market=traced(market, tracer=tracer, component="market", operations=MARKET_READS),
        evidence=traced(
            KnowledgeEvidence(index=index, embedder=knowledge.embedder),
            tracer=tracer,
            component="knowledge",
            operations=EVIDENCE_SEARCHES,
        ),
        router=models,
        clock=clock,
        restricted=tuple(settings.compliance_restricted_symbols),
        max_liquidity_days=settings.compliance_max_liquidity_days,
        fundamentals=traced(
            DocumentFundamentals(documents=records.documents, objects=adapters.objects),
            tracer=tracer,
            component="fundamentals",
            operations=FUNDAMENTALS_READS,
        ),
        tracer=tracer,
    )
    budgets = BudgetService(
        ledger=adapters.usage, users=records.users, audit=audit, clock=clock, defaults=budget_defaults(settings)
    )
    idea_requests = IdeaRequestService(
        budgets=budgets,
        requests=traced(
            records.idea_requests, tracer=tracer, component="idea_requests", operations=IDEA_REQUEST_WRITES
        ),
        ideas=records.ideas,
        users=records.users,
        jobs=adapters.jobs,
        generator=generator,
        audit=audit,
        clock=clock,
        sources=identity.ideas.sources,
        callback_hosts=settings.idea_callback_hosts,
        sync_max_ideas=settings.ideas_sync_max,
        profiles=records.profiles,
    )
    idea_requests = traced(
        idea_requests, tracer=tracer, component="idea_request_service", operations=IDEA_REQUEST_CALLS, layer="service"
    )
    idea_lifecycle = IdeaLifecycle(
        ideas=traced(records.ideas, tracer=tracer, component="ideas", operations=IDEA_WRITES),
        feedback=records.feedback,
        queries=identity.ideas,
        audit=audit,
        clock=clock,
    )
    return Container(
        settings=settings,
        shape=adapters.shape,
        clock=clock,
        secrets=adapters.secrets,
        keys=adapters.keys,
        cipher=adapters.cipher,
        objects=adapters.objects,
        ideas=records.ideas,
        users=records.users,
        profiles=records.profiles,
        documents=records.documents,
        feedback=records.feedback,
        jobs=adapters.jobs,
        scheduler=adapters.scheduler,
        metrics=metrics,
        models=models,
        idea_requests=idea_requests,
        idea_lifecycle=idea_lifecycle,
        budgets=budgets,
        idea_insights=IdeaInsights(queries=identity.ideas, requests=records.idea_requests, market=market),
        tracer_provider=tracer_provider,
        operations=operations,
        health_checks=adapters.health_checks,
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
        market_store=adapters.market_store,
        market_provider=adapters.market_provider,
        market_review=market_review,
        market_feeds=market_feeds,
        backups=adapters.backups,
        _adapters=adapters,
        _handlers=traced_jobs(
            build_handlers(
                operations=operations,
                processor=knowledge.processor,
                lifecycle=knowledge.lifecycle,
                market=market,
                provider=adapters.market_provider,
                feeds=market_feeds,
                idea_requests=idea_requests,
                idea_lifecycle=idea_lifecycle,
                backups=adapters.backups,
                clock=clock,
                key_rotation=KeyRotation(keys=adapters.keys, audit=audit),
            ),
            tracer=tracer,  # each job a span, in the trace of the request that enqueued it
        ),
    )


def budget_defaults(settings: Settings) -> BudgetDefaults:
    """The configured monthly budgets (None or 0: unlimited)."""
    return BudgetDefaults(
        user=BudgetLimits(
            monthly_usd=settings.budget_user_monthly_usd, monthly_tokens=settings.budget_user_monthly_tokens
        ),
        organisation=BudgetLimits(
            monthly_usd=settings.budget_org_monthly_usd, monthly_tokens=settings.budget_org_monthly_tokens
        ),
    )


def _identity(settings: Settings, adapters: Adapters) -> Identity:
    records, audit, clock, provider = adapters.records, adapters.audit, adapters.clock, adapters.identity
    sources = SourceAccess(documents=records.documents)
    return Identity(
        verifier=provider.verifier,
        issuer=provider.issuer,
        tokens=provider.tokens,
        mfa_secrets=provider.mfa_secrets,
        audit=audit,
        auth=provider.sign_in,
        mfa=provider.mfa,
        users=provider.directory,
        profiles=ProfileService(
            users=records.users,
            profiles=records.profiles,
            mfa=provider.mfa_secrets,
            tokens=provider.tokens,
            ideas=records.ideas,
            documents=records.documents,
            feedback=records.feedback,
            audit=audit,
            clock=clock,
            sources=sources,
        ),
        ideas=IdeaQueries(ideas=records.ideas, audit=audit, sources=sources),
        jobs=JobQueries(jobs=adapters.jobs, audit=audit),
    )


def _knowledge(settings: Settings, adapters: Adapters, identity: Identity) -> Knowledge:
    records, objects, clock = adapters.records, adapters.objects, adapters.clock
    limits = IngestLimits(
        max_pages=settings.max_document_pages,
        pdf_timeout_s=settings.pdf_timeout_s,
        pdf_memory_bytes=settings.pdf_memory_mb * 1_048_576,
        pdf_active_content=settings.pdf_active_content,
    )
    processor = DocumentProcessor(
        documents=records.documents,
        objects=objects,
        index=adapters.index,
        embedder=adapters.embedder,
        limits=limits,
        chunking=ChunkingOptions(max_chars=settings.chunk_max_chars, overlap_chars=settings.chunk_overlap_chars),
        scratch_dir=settings.scratch_dir,
    )
    documents = DocumentService(
        documents=records.documents,
        objects=objects,
        jobs=adapters.jobs,
        audit=adapters.audit,
        clock=clock,
        limits=limits,
        scratch_dir=settings.scratch_dir,
    )
    return Knowledge(
        embedder=adapters.embedder,
        index=adapters.index,
        documents=documents,
        processor=processor,
        lifecycle=DocumentLifecycle(
            objects=objects,
            clock=clock,
            infrequent_access_days=settings.documents_infrequent_access_days,
            archive_days=settings.documents_archive_days,
        ),
        search=KnowledgeService(index=adapters.index, embedder=adapters.embedder, audit=adapters.audit),
        samples=SampleLibrary(
            users=records.users,
            user_admin=identity.users,
            documents=documents,
            records=records.documents,
            clock=clock,
        ),
    )


def _market_feeds(settings: Settings, adapters: Adapters, market: MarketDataService) -> MarketFeedService:
    options = FeedOptions(
        history_days=settings.market_vendor_history_days,
        overlap_days=settings.market_vendor_overlap_days,
        symbols=tuple(settings.market_vendor_symbols),
        quotes=settings.market_vendor_quotes,
        max_run_s=settings.market_vendor_max_run_s,
    )
    return MarketFeedService(
        market=market, store=adapters.market_store, clock=adapters.clock, feeds=adapters.market_feeds, options=options
    )


def _market(settings: Settings, adapters: Adapters) -> tuple[MarketDataService, MarketReview]:
    plausibility = PlausibilityRules(
        max_daily_rise=settings.market_max_daily_rise,
        max_daily_fall=settings.market_max_daily_fall,
        max_correction=settings.market_max_correction,
        max_price=settings.market_max_price,
        min_price=settings.market_min_price,
        max_volume=settings.market_max_volume,
    )
    market = MarketDataService(
        store=adapters.market_store,
        clock=adapters.clock,
        audit=adapters.audit,
        limits=MarketLimits(
            auto_create_symbols=settings.market_auto_create_symbols,
            max_import_rows=settings.market_max_import_rows,
            quote_max_age=timedelta(days=settings.quotes_magnetic_retention_days),
            quote_max_skew=timedelta(seconds=settings.quotes_max_clock_skew_s),
            plausibility=plausibility,
        ),
    )
    review = MarketReview(store=adapters.market_store, clock=adapters.clock, audit=adapters.audit, rules=plausibility)
    return market, review
