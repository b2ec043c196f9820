"""Job handlers: thin wrappers that turn a job's payload into one service call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from investai.domain.jobs import Job
from investai.jobs.kinds import (
    BACKUP,
    DOCUMENT_LIFECYCLE,
    EXPIRE_IDEAS,
    MARKET_COMPACTION,
    MARKET_REFRESH,
    MARKET_RETENTION,
    PURGE_EXPIRED,
    REDELIVER_JOBS,
    ROTATE_KEYS,
)
from investai.jobs.worker import JobHandler, PermanentJobError
from investai.ports.backups import Backups
from investai.ports.clock import Clock
from investai.ports.market import MarketDataProvider
from investai.services.document_lifecycle import DocumentLifecycle
from investai.services.document_processing import DocumentProcessor
from investai.services.documents import PROCESS_DOCUMENT
from investai.services.idea_lifecycle import IdeaLifecycle
from investai.services.idea_requests import JOB_KIND as GENERATE_IDEAS
from investai.services.idea_requests import IdeaRequestService
from investai.services.key_rotation import KeyRotation
from investai.services.market import MarketDataService
from investai.services.market_feeds import MarketFeedService, feed_summary
from investai.services.operations import OperationsService

__all__ = [
    "BACKUP",
    "DOCUMENT_LIFECYCLE",
    "EXPIRE_IDEAS",
    "MARKET_COMPACTION",
    "MARKET_REFRESH",
    "MARKET_RETENTION",
    "PURGE_EXPIRED",
    "REDELIVER_JOBS",
    "ROTATE_KEYS",
    "build_handlers",
]


def build_handlers(
    *,
    operations: OperationsService,
    processor: DocumentProcessor,
    lifecycle: DocumentLifecycle,
    market: MarketDataService,
    provider: MarketDataProvider,
    idea_requests: IdeaRequestService,
    idea_lifecycle: IdeaLifecycle,
    backups: Backups | None = None,
    clock: Clock | None = None,
    key_rotation: KeyRotation | None = None,
    feeds: MarketFeedService | None = None,
) -> dict[str, JobHandler]:
    def purge_expired(_job: Job) -> Mapping[str, Any]:
        return {"purged": operations.purge_expired()}

    def redeliver_jobs(_job: Job) -> Mapping[str, Any]:
        return {"redelivered": operations.redeliver_stale_jobs()}

    def process_document(job: Job) -> Mapping[str, Any]:
        document_id = job.payload.get("document_id")
        if not isinstance(document_id, str) or not document_id:
            raise PermanentJobError("the job names no document")
        return processor.process(document_id)

    def apply_lifecycle(_job: Job) -> Mapping[str, Any]:
        return {"moved": lifecycle.apply()}

    def market_retention(_job: Job) -> Mapping[str, Any]:
        return market.apply_retention().model_dump()

    def market_compaction(_job: Job) -> Mapping[str, Any]:
        return {"symbols": market.compact_history()}

    def market_refresh(_job: Job) -> Mapping[str, Any]:
        outcomes = market.refresh(provider)
        result: dict[str, Any] = {
            "files": len(outcomes),
            "refused": [name for name, outcome in outcomes if isinstance(outcome, str)],
            "accepted": sum(outcome.accepted for _, outcome in outcomes if not isinstance(outcome, str)),
        }
        if feeds is not None and feeds.vendors:  # the vendor feeds, after the drop folder
            result["vendors"] = feed_summary(feeds.run())
        return result

    def generate_ideas(job: Job) -> Mapping[str, Any]:
        request_id = job.payload.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise PermanentJobError("the job names no idea request")
        record = idea_requests.run(request_id)
        return {"status": record.status.value, "ideas": len(record.idea_ids)}

    def expire_ideas(_job: Job) -> Mapping[str, Any]:
        return {"expired": idea_lifecycle.expire_due()}

    def backup(_job: Job) -> Mapping[str, Any]:
        if backups is None or clock is None:
            raise PermanentJobError("this deployment takes no backups of its own")
        summary = backups.create()
        pruned = backups.prune(clock.now())
        return {"backup": summary.id, "files": summary.files, "new_bytes": summary.new_bytes, "pruned": pruned}

    def rotate_keys(job: Job) -> Mapping[str, Any]:
        if key_rotation is None:
            raise PermanentJobError("this deployment's key service rotates its keys itself")
        return key_rotation.rotate(source="schedule", period=job.idempotency_key or job.id)

    return {
        ROTATE_KEYS: rotate_keys,
        BACKUP: backup,
        GENERATE_IDEAS: generate_ideas,
        EXPIRE_IDEAS: expire_ideas,
        PURGE_EXPIRED: purge_expired,
        REDELIVER_JOBS: redeliver_jobs,
        PROCESS_DOCUMENT: process_document,
        DOCUMENT_LIFECYCLE: apply_lifecycle,
        MARKET_RETENTION: market_retention,
        MARKET_REFRESH: market_refresh,
        MARKET_COMPACTION: market_compaction,
    }
