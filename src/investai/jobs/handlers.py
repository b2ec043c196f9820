"""Job handlers: thin wrappers that turn a job's payload into one service call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from investai.domain.jobs import Job
from investai.jobs.worker import JobHandler
from investai.services.operations import OperationsService

PURGE_EXPIRED = "maintenance.purge_expired"


def build_handlers(*, operations: OperationsService) -> dict[str, JobHandler]:
    def purge_expired(_job: Job) -> Mapping[str, Any]:
        return {"purged": operations.purge_expired()}

    return {PURGE_EXPIRED: purge_expired}
