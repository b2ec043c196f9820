"""Point-in-time reads and restores of ideas and profiles."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from investai.api.schemas.profile import ProfilePublic
from investai.domain.idea_views import IdeaView


class RestoreCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: datetime = Field(description="restore the content current at the end of this second")


class IdeaAsOfPublic(BaseModel):
    as_of: datetime
    idea: IdeaView


class IdeasAsOfPublic(BaseModel):
    as_of: datetime
    ideas: list[IdeaView]
    next_before: int | None = Field(description="pass as before for the next page; null on the last page")


class IdeaRestoredPublic(BaseModel):
    as_of: datetime
    created: bool = Field(description="false when the latest revision already had that content")
    restored_version: int = Field(description="the version that was current then")
    idea: IdeaView = Field(description="the latest revision now")


class ProfileAsOfPublic(BaseModel):
    as_of: datetime
    profile: ProfilePublic


class ProfileRestoredPublic(BaseModel):
    as_of: datetime
    created: bool
    profile: ProfilePublic = Field(description="the latest profile now")
