"""Schemas the API shares: operational and validation answers, and bodies the web UI accepts too."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from investai.domain.feedback import ActionTaken, FeedbackAspect
from investai.domain.idea_request import IdeaRequest


class HealthPublic(BaseModel):
    status: str
    version: str


class CheckPublic(BaseModel):
    name: str
    ok: bool
    latency_ms: float
    error: str | None = None


class ReadinessPublic(BaseModel):
    status: str
    checks: list[CheckPublic]


class IdeaRequestValidation(BaseModel):
    request: IdeaRequest
    warnings: list[str]


class FeedbackIn(BaseModel):
    """Feedback on an idea: a rating 1-5, optional aspect scores, the action taken and comments."""

    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    usefulness: int | None = Field(default=None, ge=1, le=5)
    accuracy: int | None = Field(default=None, ge=1, le=5)
    insight: int | None = Field(default=None, ge=1, le=5)
    action_taken: ActionTaken = ActionTaken.NONE
    comments: dict[FeedbackAspect, Annotated[str, Field(max_length=2000)]] = Field(default_factory=dict)
    comment: str | None = Field(default=None, max_length=4000)
