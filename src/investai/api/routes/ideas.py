"""Idea requests: templates, schema, validation, submission (202 + job, or synchronous), status with per-agent
progress, the SSE event stream, results, the agents' messages, cancel and history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import Field

from investai.api.deps import IdeaReader, IdeaRequester
from investai.api.schemas.ideas import IdeaRequestCreate, IdeaRequestValidationPublic, IdeaResultsPublic
from investai.domain.agents import AgentMessage
from investai.domain.idea_jobs import IdeaRequestRecord, RequestStatus
from investai.domain.idea_request import REQUEST_TEMPLATES, RequestTemplate
from investai.http.deps import ContainerDep, Context
from investai.http.schemas import IdeaRequestPublic, idea_request_public

router = APIRouter(prefix="/api/v1/ideas", tags=["ideas"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such request (or not yours)"}}
NO_STORE = {"Cache-Control": "no-store"}
POLL_S = 0.25
RequestId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


@router.get("/requests/schema", summary="JSON schema of an idea request")
def request_schema(principal: IdeaRequester) -> dict[str, Any]:
    return IdeaRequestCreate.model_json_schema()


@router.get("/requests/templates", response_model=list[RequestTemplate], summary="Request templates")
def request_templates(principal: IdeaRequester) -> list[RequestTemplate]:
    return list(REQUEST_TEMPLATES.values())


@router.post(
    "/requests/validate",
    response_model=IdeaRequestValidationPublic,
    summary="Validate an idea request: 422 with field errors, or the normalised request and warnings",
)
def validate_request(
    body: IdeaRequestCreate, principal: IdeaRequester, container: ContainerDep
) -> IdeaRequestValidationPublic:
    request, _ = container.idea_requests.parse(principal, body.model_dump(exclude_unset=True))
    return IdeaRequestValidationPublic(request=request, warnings=request.warnings())


@router.post(
    "/requests",
    status_code=202,
    response_model=IdeaRequestPublic,
    responses={200: {"description": "mode=sync: the finished request and its ideas"}, 422: {"description": "Invalid"}},
    summary="Request ideas: 202 with the job to follow, or (mode=sync, small requests) the ideas at once",
)
def submit(
    body: IdeaRequestCreate,
    principal: IdeaRequester,
    container: ContainerDep,
    ctx: Context,
    mode: Literal["async", "sync"] = "async",
) -> Any:
    service = container.idea_requests
    fields = body.model_dump(exclude_unset=True)
    if mode == "sync":
        record, ideas = service.generate_now(principal, ctx, fields)
        payload = {
            "request": idea_request_public(record, container.clock.now()),
            "ideas": [idea.model_dump(mode="json") for idea in ideas],
        }
        return JSONResponse(payload, status_code=200, headers=NO_STORE)
    record = service.submit(principal, ctx, fields)
    headers = {**NO_STORE, "Location": f"/api/v1/ideas/requests/{record.id}"}
    return JSONResponse(idea_request_public(record, container.clock.now()), status_code=202, headers=headers)


@router.get("/requests", response_model=list[IdeaRequestPublic], summary="Your idea requests, newest first")
def history(
    principal: IdeaReader,
    container: ContainerDep,
    ctx: Context,
    status: RequestStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    scope: Literal["mine", "organisation"] = "mine",
    limit: int = Query(default=50, ge=1, le=200),
) -> Any:
    records = container.idea_requests.history(
        principal, ctx, status=status, since=since, until=until, limit=limit, everyone=scope == "organisation"
    )
    now = container.clock.now()
    return JSONResponse([idea_request_public(record, now) for record in records], headers=NO_STORE)


@router.get("/requests/{request_id}", response_model=IdeaRequestPublic, responses=NOT_FOUND)
def status(request_id: RequestId, principal: IdeaReader, container: ContainerDep, ctx: Context) -> Any:
    record = container.idea_requests.status(principal, ctx, request_id)
    return JSONResponse(idea_request_public(record, container.clock.now()), headers=NO_STORE)


@router.get(
    "/requests/{request_id}/results",
    response_model=IdeaResultsPublic,
    responses={**NOT_FOUND, 409: {"description": "Not finished, failed or cancelled"}},
)
def results(request_id: RequestId, principal: IdeaReader, container: ContainerDep, ctx: Context) -> Any:
    ideas = container.idea_requests.results(principal, ctx, request_id)
    return JSONResponse(
        {"request_id": request_id, "ideas": [idea.model_dump(mode="json") for idea in ideas]}, headers=NO_STORE
    )


@router.get("/requests/{request_id}/messages", response_model=list[AgentMessage], responses=NOT_FOUND)
def messages(
    request_id: RequestId,
    principal: IdeaReader,
    container: ContainerDep,
    ctx: Context,
    after: int = Query(default=0, ge=0, le=2**31),
) -> Any:
    container.idea_requests.status(principal, ctx, request_id)
    found = container.idea_requests.messages(principal, request_id, after=after)
    return JSONResponse([message.model_dump(mode="json") for _, message in found], headers=NO_STORE)


@router.delete(
    "/requests/{request_id}",
    response_model=IdeaRequestPublic,
    responses={**NOT_FOUND, 409: {"description": "Already finished"}},
)
def cancel(request_id: RequestId, principal: IdeaRequester, container: ContainerDep, ctx: Context) -> Any:
    record = container.idea_requests.cancel(principal, ctx, request_id)
    return JSONResponse(idea_request_public(record, container.clock.now()), headers=NO_STORE)


def _visible_request(
    request_id: RequestId, principal: IdeaReader, container: ContainerDep, ctx: Context
) -> IdeaRequestRecord:
    """Authorise a stream before it starts (a dependency runs before the response's headers are sent)."""
    return container.idea_requests.status(principal, ctx, request_id)


@router.get(
    "/requests/{request_id}/events",
    response_class=EventSourceResponse,
    responses=NOT_FOUND,
    summary="Server-sent events: `progress` on every change, `message` per agent message, `done` at the end",
)
async def events(
    request_id: RequestId,
    request: Request,
    principal: IdeaReader,
    container: ContainerDep,
    record: Annotated[IdeaRequestRecord, Depends(_visible_request)],
) -> AsyncIterator[ServerSentEvent]:
    service = container.idea_requests
    last_seen: str | None = None
    after = 0
    while True:
        payload = idea_request_public(record, container.clock.now())
        fingerprint = f"{record.status}|{record.updated_at.isoformat()}"
        if fingerprint != last_seen:
            last_seen = fingerprint
            yield ServerSentEvent(event="progress", data=payload)
        for seq, message in await run_in_threadpool(service.messages, principal, request_id, after=after):
            after = seq
            yield ServerSentEvent(event="message", id=str(seq), data=message.model_dump(mode="json"))
        if record.finished:
            yield ServerSentEvent(event="done", data=payload)
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_S)
        record = await run_in_threadpool(service.peek, principal, request_id)
