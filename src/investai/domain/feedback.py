"""Feedback users give on ideas."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from investai.domain.common import DomainModel, Identifier, UtcDatetime


class ActionTaken(StrEnum):
    NONE = "none"
    WATCHLIST = "watchlist"
    TRADED = "traded"
    PASSED = "passed"


class FeedbackAspect(StrEnum):
    USEFULNESS = "usefulness"
    ACCURACY = "accuracy"
    INSIGHT = "insight"


class Feedback(DomainModel):
    id: Identifier
    idea_id: Identifier
    idea_version: int = Field(ge=1)
    user_id: Identifier
    organisation_id: Identifier
    rating: int = Field(ge=1, le=5, description="overall, 1 (poor) to 5 (excellent)")
    useful: bool | None = None
    usefulness: int | None = Field(default=None, ge=1, le=5)
    accuracy: int | None = Field(default=None, ge=1, le=5)
    insight: int | None = Field(default=None, ge=1, le=5)
    action_taken: ActionTaken = ActionTaken.NONE
    comments: dict[FeedbackAspect, Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, description="a comment per aspect"
    )
    comment: str | None = Field(default=None, max_length=4000)
    created_at: UtcDatetime
