"""Feedback users give on ideas."""

from __future__ import annotations

from pydantic import Field

from investai.domain.common import DomainModel, Identifier, UtcDatetime


class Feedback(DomainModel):
    id: Identifier
    idea_id: Identifier
    idea_version: int = Field(ge=1)
    user_id: Identifier
    organisation_id: Identifier
    rating: int = Field(ge=1, le=5)
    useful: bool | None = None
    comment: str | None = Field(default=None, max_length=4000)
    created_at: UtcDatetime
