"""Ideas and jobs, read through ownership rules: another user's or organisation's object answers 404."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from investai.api import idea_json
from investai.api.deps import CurrentPrincipal, IdeaReader, JobReader
from investai.api.schemas.ideas import IdeaStatusUpdate
from investai.domain.feedback import Feedback
from investai.domain.idea_parts import Strategy
from investai.domain.idea_views import IdeaView
from investai.domain.jobs import Job
from investai.domain.lifecycle import IdeaStatus
from investai.http.deps import ContainerDep, Context
from investai.http.schemas import FeedbackCreate

router = APIRouter(prefix="/api/v1", tags=["ideas", "jobs"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found (or not yours)"}}
NO_STORE = {"Cache-Control": "no-store"}


def ideas_response(request: Request, ideas: list[IdeaView]) -> Response:
    """Ideas serialised straight to JSON bytes by pydantic-core, each unrestricted revision once
    (:mod:`investai.api.idea_json`)."""
    return Response(idea_json.of(request).many(ideas), media_type="application/json", headers=NO_STORE)


@router.get("/ideas", response_model=list[IdeaView], summary="Your ideas (or your organisation's), filtered")
def list_ideas(
    request: Request,
    principal: IdeaReader,
    container: ContainerDep,
    ctx: Context,
    status: IdeaStatus | None = None,
    symbol: str | None = Query(default=None, max_length=32),
    strategy: Strategy | None = None,
    day: date | None = Query(default=None, alias="date", description="generation day (UTC)"),
    owner: str | None = Query(default=None, max_length=64, description="organisation-wide readers only"),
    limit: int = Query(default=50, ge=1, le=200),
    before: int | None = Query(default=None, ge=0, le=2**62, description="timestamp cursor (epoch ms)"),
) -> Any:
    found = container.identity.ideas.list(
        principal,
        ctx,
        status=status,
        symbol=symbol,
        strategy=strategy.value if strategy else None,
        day=day.isoformat() if day else None,
        owner_id=owner,
        limit=limit,
        before=before,
    )
    return ideas_response(request, found)


@router.get("/ideas/{idea_id}", response_model=IdeaView, responses=NOT_FOUND, summary="One idea")
def get_idea(
    request: Request,
    idea_id: str,
    principal: IdeaReader,
    container: ContainerDep,
    ctx: Context,
    version: int | None = Query(default=None, ge=1, le=2**31),
) -> Any:
    # not cached: what an idea shows depends on the documents the caller may read, which can change any time
    idea = container.identity.ideas.get(principal, idea_id, ctx, version=version)
    return Response(idea_json.of(request).one(idea), media_type="application/json", headers=NO_STORE)


@router.get("/ideas/{idea_id}/versions", response_model=list[IdeaView], responses=NOT_FOUND)
def idea_versions(request: Request, idea_id: str, principal: IdeaReader, container: ContainerDep, ctx: Context) -> Any:
    return ideas_response(request, container.identity.ideas.history(principal, idea_id, ctx))


@router.post(
    "/ideas/{idea_id}/status",
    response_model=IdeaView,
    responses={**NOT_FOUND, 403: {"description": "Not your move"}, 409: {"description": "Not allowed from here"}},
    summary="Change an idea's status: owners submit, withdraw and archive; compliance officers approve or reject",
)
def change_status(
    idea_id: str, body: IdeaStatusUpdate, principal: CurrentPrincipal, container: ContainerDep, ctx: Context
) -> IdeaView:
    return container.idea_lifecycle.transition(
        principal, ctx, idea_id, body.status, reason=body.reason, override=body.override
    )


@router.post("/ideas/{idea_id}/feedback", response_model=Feedback, status_code=201, responses=NOT_FOUND)
def give_feedback(
    idea_id: str, body: FeedbackCreate, principal: CurrentPrincipal, container: ContainerDep, ctx: Context
) -> Feedback:
    return container.idea_lifecycle.give_feedback(principal, ctx, idea_id, body.model_dump())


@router.get("/ideas/{idea_id}/feedback", response_model=list[Feedback], responses=NOT_FOUND)
def list_feedback(idea_id: str, principal: IdeaReader, container: ContainerDep, ctx: Context) -> Any:
    found = container.idea_lifecycle.feedback_for(principal, ctx, idea_id)
    return JSONResponse([item.model_dump(mode="json") for item in found], headers=NO_STORE)


@router.get("/ideas/{idea_id}/explanation", responses=NOT_FOUND, summary="Why: decision path, factors, sources")
def explain(idea_id: str, principal: IdeaReader, container: ContainerDep, ctx: Context) -> Any:
    return JSONResponse(container.idea_insights.explain(principal, ctx, idea_id), headers=NO_STORE)


@router.get(
    "/ideas/{idea_id}/performance", responses=NOT_FOUND, summary="Realised return against expected and benchmark"
)
def performance(idea_id: str, principal: IdeaReader, container: ContainerDep, ctx: Context) -> Any:
    return JSONResponse(container.idea_insights.performance(principal, ctx, idea_id), headers=NO_STORE)


@router.get("/ideas/{idea_id}/export", responses=NOT_FOUND, summary="The idea as Markdown or HTML, with its chart")
def export(
    idea_id: str,
    principal: IdeaReader,
    container: ContainerDep,
    ctx: Context,
    format: Literal["markdown", "html"] = "markdown",
) -> Response:
    content, media_type = container.idea_insights.export(principal, ctx, idea_id, format)
    suffix = "md" if format == "markdown" else "html"
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{idea_id}.{suffix}"'}
    if format == "html":
        headers["Content-Security-Policy"] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return Response(content, media_type=media_type, headers=headers)


@router.get("/jobs/{job_id}", response_model=Job, responses=NOT_FOUND, summary="A job you started")
def get_job(job_id: str, principal: JobReader, container: ContainerDep, ctx: Context) -> Any:
    job = container.identity.jobs.get(principal, job_id, ctx)
    return JSONResponse(job.model_dump(mode="json"), headers=NO_STORE)


@router.post("/jobs/{job_id}/cancel", response_model=Job, responses={**NOT_FOUND, 409: {"description": "Finished"}})
def cancel_job(job_id: str, principal: JobReader, container: ContainerDep, ctx: Context) -> Job:
    return container.identity.jobs.cancel(principal, job_id, ctx)
