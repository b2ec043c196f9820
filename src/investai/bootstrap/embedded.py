"""The embedded shape: every store on one machine under ``DATA_DIR`` — SQLite records and jobs, a local
versioned encrypted object store, DuckDB market data, a LanceDB knowledge base, local MiniLM embeddings, the
local identity provider and APScheduler."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from filelock import FileLock

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
from investai.adapters.local.sqlite_jobs import SqliteJobRecords
from investai.adapters.local.sqlite_records import (
    SqliteDocumentRepository,
    SqliteFeedbackRepository,
    SqliteProfileRepository,
    SqliteUserRepository,
)
from investai.adapters.local.sqlite_usage import SqliteUsageLedger
from investai.adapters.market_vendors import RateLimit, RetryPolicy, vendor_feeds
from investai.bootstrap.adapters import Adapters, Records
from investai.bootstrap.jobs import job_ttl, retry_policy
from investai.bootstrap.local_identity import local_identity
from investai.bootstrap.overrides import Overrides
from investai.config import Settings
from investai.domain.backups import RestoreReport
from investai.jobs.schedule import enqueue_scheduled
from investai.ports.clock import Clock
from investai.ports.health import HealthCheck
from investai.ports.jobs import JobRecords
from investai.ports.knowledge import Embedder
from investai.ports.market_feeds import MarketFeed
from investai.ports.scheduler import Scheduler
from investai.ports.secrets import SecretStore
from investai.security.envelope import EnvelopeCipher


def build_embedded(settings: Settings, overrides: Overrides) -> Adapters:
    clock = overrides.clock or SystemClock()
    data_directory = DataDirectoryUse(settings.data_dir)  # refuses a directory that a restore is filling
    secrets = overrides.secrets or EnvFileSecretStore(directory=settings.secrets_dir)
    keys = overrides.keys or LocalKeyring(
        path=settings.keyring_path, master_secret=settings.secret_value("master_secret"), clock=clock
    )
    cipher = EnvelopeCipher(key_manager=keys)
    database = SqliteDatabase(path=settings.database_path, migrations=MIGRATIONS)
    database.migrate()
    objects = LocalObjectStore(root=settings.objects_dir, cipher=cipher, clock=clock)
    jobs = SqliteJobRecords(db=database, clock=clock, retry=retry_policy(settings), ttl=job_ttl(settings))
    idea_records = SqliteIdeaRepository(db=database)
    records = Records(
        ideas=idea_records,
        users=SqliteUserRepository(db=database),
        profiles=SqliteProfileRepository(db=database, cipher=cipher),
        documents=SqliteDocumentRepository(db=database),
        feedback=SqliteFeedbackRepository(db=database),
        idea_requests=SqliteIdeaRequestRepository(db=database, ideas=idea_records),
    )
    audit = SqliteAuditLog(db=database, clock=clock)
    identity = local_identity(
        settings,
        records=records,
        audit=audit,
        tokens=SqliteTokenStore(db=database),
        mfa_secrets=SqliteMfaSecretRepository(db=database, cipher=cipher),
        objects=objects,
        clock=clock,
        signing_key_lock=FileLock(settings.data_dir / "keys" / "signing-keys.lock"),  # shared by every process
    )
    embedder = overrides.embedder or local_embedder(settings)
    index = LanceDbSearchIndex(path=settings.knowledge_dir, dimension=embedder.dimension)
    market_store = local_market_store(settings)
    feeds = market_vendor_feeds(settings, secrets)
    checks: list[HealthCheck] = [
        database,
        objects,
        jobs,
        *([keys] if isinstance(keys, LocalKeyring) else []),
        audit,
        market_store,  # opened by its first call, never at start: a damaged file fails this check, not the start
        index,
    ]
    return Adapters(
        shape="embedded",
        clock=clock,
        secrets=secrets,
        keys=keys,
        cipher=cipher,
        objects=objects,
        records=records,
        audit=audit,
        jobs=jobs,
        dispatch=None,
        embedder=embedder,
        index=index,
        market_store=market_store,
        market_provider=DirectoryProvider(settings.market_drop_path),
        scheduler=overrides.scheduler or in_process_scheduler(jobs, clock),
        identity=identity,
        backups=EmbeddedBackups(
            root=settings.backup_path,
            sources=BackupSources(
                database=database,
                index=index,
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
        ),
        first_start=lambda: first_start_lock(settings.data_dir),
        usage=SqliteUsageLedger(db=database),  # in the main database, so backups hold it
        health_checks=checks,
        closers=[index.close, market_store.close, database.close, data_directory.close, *(f.close for f in feeds)],
        market_feeds=feeds,
    )


def local_embedder(settings: Settings) -> Embedder:
    return SentenceTransformerEmbedder(
        cache_path=settings.embedding_cache_path, batch_size=settings.embedding_batch_size
    )


def market_vendor_feeds(settings: Settings, secrets: SecretStore) -> list[MarketFeed]:
    """The vendor feeds the settings name (both shapes; keys come from the shape's secret store)."""
    return list(
        vendor_feeds(
            settings.market_vendors,
            secrets=secrets,
            limits={name: RateLimit(*limit) for name, limit in settings.market_vendor_rate_limits.items()},
            retry=RetryPolicy(
                attempts=settings.market_vendor_max_attempts,
                max_wait_s=settings.market_vendor_max_wait_s,
                timeout_s=settings.market_vendor_timeout_s,
            ),
        )
    )


def local_market_store(settings: Settings) -> DuckDbTimeSeriesStore:
    return DuckDbTimeSeriesStore(
        path=settings.market_path,
        memory_retention=timedelta(hours=settings.quotes_memory_retention_h),
        magnetic_retention=timedelta(days=settings.quotes_magnetic_retention_days),
        lease_timeout_s=settings.market_lease_timeout_s,
    )


def in_process_scheduler(jobs: JobRecords, clock: Clock) -> Scheduler:
    """APScheduler whose every trigger enqueues its schedule's job once per period."""
    return ApScheduler(lambda schedule: enqueue_scheduled(jobs, schedule, clock.now()))


@contextmanager
def first_start_lock(data_dir: Path) -> Iterator[None]:
    """Held while preparing a new data directory: processes starting together take turns."""
    ensure_private_dir(data_dir)
    with FileLock(data_dir / ".first-start.lock", mode=0o600):
        yield


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
