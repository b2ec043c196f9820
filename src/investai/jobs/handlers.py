"""Job handlers: thin wrappers that turn a job's payload into one service call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from investai.domain.jobs import Job
from investai.jobs.worker import JobHandler
from investai.services.operations import OperationsService

PURGE_JOBS = "maintenance.purge_jobs"


def build_handlers(*, operations: OperationsService) -> dict[str, JobHandler]:
    def purge_jobs(_job: Job) -> Mapping[str, Any]:
        return {"purged": operations.purge_expired_jobs()}

    return {PURGE_JOBS: purge_jobs}
