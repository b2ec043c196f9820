"""Liveness, readiness and metrics."""

from __future__ import annotations

import math
from dataclasses import asdict

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from investai import __version__
from investai.api.deps import MetricsScraper
from investai.api.errors import error_response
from investai.api.schemas.ops import HealthPublic, ReadinessPublic
from investai.bootstrap import Container
from investai.http.deps import ContainerDep

router = APIRouter(tags=["ops"])
NO_STORE = {"Cache-Control": "no-store"}
"""Probes answer for this moment: no cache may keep an answer (and the edge never limits them)."""


@router.get("/health", response_model=HealthPublic, summary="Liveness: the process answers")
def health(response: Response) -> HealthPublic:
    response.headers.update(NO_STORE)
    return HealthPublic(status="ok", version=__version__)


@router.get(
    "/ready",
    response_model=ReadinessPublic,
    summary="Readiness: every store answers",
    responses={503: {"description": "A component failed; the body names it"}},
)
def ready(request: Request, container: ContainerDep) -> JSONResponse:
    readiness = container.operations.readiness()
    checks = [asdict(check) for check in readiness.checks]
    if readiness.ready:
        return JSONResponse({"status": "ready", "checks": checks}, headers=NO_STORE)
    message = f"not ready: {', '.join(readiness.failed)} failed"
    return error_response(request, 503, message, code="not_ready", headers=NO_STORE, extra={"checks": checks})


@router.get(
    "/metrics",
    summary="Prometheus metrics (the scrape token and/or an allowed address; never a user's sign-in)",
    response_class=Response,
    responses={
        404: {"description": "Not served on AWS Lambda: that shape's metrics are in CloudWatch"},
        503: {"description": "The scrape token could not be read from the secret store"},
    },
)
def metrics(_scrape: MetricsScraper, container: ContainerDep) -> Response:
    """Samples the operational gauges (jobs, the oldest ready job, the data directory, the newest backup) at
    scrape time, then renders the registry. Never cached (``no-store``; the response cache keeps ``/api/`` only);
    counted by the per-client rate limit like any request, where a scrape every 15 s uses 20 of a window's 2,000.

    Where it is served: ``investai serve``, one registry per server process, scraped by
    Prometheus. Not on AWS Lambda: an instance's registry holds only what that instance served, so the function
    answers 404 and API Gateway does not route ``/metrics`` to it; that shape's metrics are CloudWatch's (API
    Gateway and Lambda metrics, and the EMF lines the functions write under ``InvestmentAI``)."""
    _sample_gauges(container)
    return Response(container.metrics.render(), media_type=container.metrics.content_type, headers=NO_STORE)


def _sample_gauges(container: Container) -> None:
    sample = container.operations.sample(data_dir=container.settings.data_dir, backups=container.backups)
    gauges = container.metrics
    for status, count in sample.job_counts.items():
        gauges.jobs_by_status.labels(status.value).set(count)
    gauges.dead_letter_jobs.set(sample.dead_letter_jobs)
    gauges.oldest_ready_job_age.set(sample.oldest_ready_job_age_s)
    if sample.data_dir is not None:
        gauges.data_dir_free_bytes.set(sample.data_dir.free_bytes)
        gauges.data_dir_used_ratio.set(sample.data_dir.used_ratio)
    if not sample.backups_taken_here:
        gauges.last_backup_timestamp.set(math.nan)
    else:
        gauges.last_backup_timestamp.set(sample.last_backup_at.timestamp() if sample.last_backup_at else 0.0)
