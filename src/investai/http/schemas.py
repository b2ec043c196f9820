"""Bodies both entry points use: the API accepts or answers them as JSON, the web UI validates its forms with
the same models (so a form and the API refuse the same input) and gives its pages' scripts the same JSON.
Named as the API's schemas are: ``XCreate`` for a body that creates, ``XUpdate`` for one that changes, ``XPublic``
for an answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from investai.domain.agents import AgentProgress
from investai.domain.feedback import ActionTaken, FeedbackAspect
from investai.domain.idea_jobs import IdeaRequestRecord, RequestStatus, Usage
from investai.domain.idea_request import IdeaRequest
from investai.domain.users import Role


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(Strict):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Role
    display_name: str | None = Field(default=None, max_length=200)


class FeedbackCreate(BaseModel):
    """Feedback on an idea: a rating 1-5, optional aspect scores, the action taken and comments."""

    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    usefulness: int | None = Field(default=None, ge=1, le=5)
    accuracy: int | None = Field(default=None, ge=1, le=5)
    insight: int | None = Field(default=None, ge=1, le=5)
    action_taken: ActionTaken = ActionTaken.NONE
    comments: dict[FeedbackAspect, Annotated[str, Field(max_length=2000)]] = Field(default_factory=dict)
    comment: str | None = Field(default=None, max_length=4000)


class IdeaRequestPublic(BaseModel):
    request_id: str
    status: RequestStatus
    percent: float
    eta_seconds: float | None
    progress: list[AgentProgress]
    request: IdeaRequest
    template: str | None
    warnings: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    idea_ids: list[str]
    blocked: dict[str, str]
    skipped: dict[str, str]
    failures: list[str]
    screened: int
    error: str | None
    usage: Usage
    links: dict[str, str]


def idea_request_public(record: IdeaRequestRecord, now: datetime) -> dict[str, Any]:
    """The request as JSON, as the API answers it and the progress page starts from."""
    base = f"/api/v1/ideas/requests/{record.id}"
    return IdeaRequestPublic(
        request_id=record.id,
        status=record.status,
        percent=round(record.percent, 1),
        eta_seconds=None if (eta := record.seconds_remaining(now)) is None else round(eta, 1),
        progress=list(record.progress.values()),
        request=record.request,
        template=record.template,
        warnings=record.warnings,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        idea_ids=record.idea_ids,
        blocked=record.blocked,
        skipped=record.skipped,
        failures=record.failures,
        screened=record.screened,
        error=record.error,
        usage=record.usage,
        links={"self": base, "events": f"{base}/events", "results": f"{base}/results", "messages": f"{base}/messages"},
    ).model_dump(mode="json")
