"""Idea requests (submission, validation, results) and idea status changes. The request as answered
(``IdeaRequestPublic``) and feedback (``FeedbackCreate``) are shared with the web UI: :mod:`investai.http.schemas`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from investai.domain.idea_request import IdeaRequest
from investai.domain.idea_views import IdeaView
from investai.domain.lifecycle import IdeaStatus


class IdeaRequestCreate(IdeaRequest):
    """An idea request; ``template`` fills the parameters you do not give, and your saved investment
    preferences fill what neither gives (``use_profile: false`` to leave them out)."""

    template: str | None = Field(default=None, max_length=64, description="e.g. aggressive_growth")
    use_profile: bool = Field(default=True, description="fill unset fields from your saved investment preferences")


class IdeaRequestValidationPublic(BaseModel):
    request: IdeaRequest
    warnings: list[str]


class IdeaResultsPublic(BaseModel):
    request_id: str
    ideas: list[IdeaView]


class IdeaStatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: IdeaStatus
    reason: str | None = Field(default=None, max_length=2000)
    override: bool = Field(
        default=False,
        description="approve despite overridable critical compliance issues (stale prices); needs a reason",
    )
