"""Liveness, readiness and metrics."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from investai import __version__
from investai.api.deps import Operator
from investai.api.errors import error_response
from investai.api.schemas.ops import HealthPublic, ReadinessPublic
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


@router.get("/metrics", summary="Prometheus metrics (needs ops:read)", response_class=Response)
def metrics(operator: Operator, container: ContainerDep) -> Response:
    for status, count in container.operations.job_counts().items():
        container.metrics.jobs_by_status.labels(status.value).set(count)
    return Response(container.metrics.render(), media_type=container.metrics.content_type)
