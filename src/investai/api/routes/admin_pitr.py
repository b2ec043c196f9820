"""Point-in-time reads and restores of ideas and profiles, for administrators of their organisation.

``as_of`` is a second with a time zone (``2026-12-01T10:00:05Z``) inside the retention window; it covers
every revision written up to the end of that second. Outside the window: 422. Nothing then: 404. Ideas are
shown as to any reader: document text only from documents the administrator may read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from investai.api.deps import Restorer
from investai.api.schemas.pitr import (
    IdeaAsOfPublic,
    IdeaRestoredPublic,
    IdeasAsOfPublic,
    ProfileAsOfPublic,
    ProfileRestoredPublic,
    RestoreCreate,
)
from investai.api.schemas.profile import ProfilePublic
from investai.domain.pitr import second_of
from investai.http.deps import ContainerDep, Context


async def _never_cached(response: Response) -> None:
    """Every read is audited and must answer from the store, never from the response cache."""
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(prefix="/api/v1/admin/pitr", tags=["admin"], dependencies=[Depends(_never_cached)])
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No revision then, or not of your organisation"},
    422: {"description": "as_of without a time zone, in the future or older than the retention window"},
}
AsOfQuery = Annotated[datetime, Query(description="a second with a time zone, e.g. 2026-12-01T10:00:05Z")]


@router.get(
    "/ideas", response_model=IdeasAsOfPublic, responses=ERRORS, summary="Your organisation's ideas as of a second"
)
def ideas_as_of(
    admin: Restorer,
    container: ContainerDep,
    ctx: Context,
    as_of: AsOfQuery,
    limit: int = Query(default=50, ge=1, le=500),
    before: int | None = Query(default=None, ge=0, le=2**62),
) -> IdeasAsOfPublic:
    ideas = container.pitr.ideas_as_of(admin, ctx, as_of, limit=limit, before=before)
    next_before = ideas[-1].timestamp if len(ideas) == limit else None
    return IdeasAsOfPublic(as_of=second_of(as_of), ideas=ideas, next_before=next_before)


@router.get("/ideas/{idea_id}", response_model=IdeaAsOfPublic, responses=ERRORS, summary="An idea as of a second")
def idea_as_of(
    idea_id: str, admin: Restorer, container: ContainerDep, ctx: Context, as_of: AsOfQuery
) -> IdeaAsOfPublic:
    return IdeaAsOfPublic(as_of=second_of(as_of), idea=container.pitr.idea_as_of(admin, ctx, idea_id, as_of))


@router.post(
    "/ideas/{idea_id}/restore",
    response_model=IdeaRestoredPublic,
    responses=ERRORS,
    summary="Make the idea as of a second its latest revision",
)
def restore_idea(
    idea_id: str, body: RestoreCreate, admin: Restorer, container: ContainerDep, ctx: Context
) -> IdeaRestoredPublic:
    result = container.pitr.restore_idea(admin, ctx, idea_id, body.as_of)
    return IdeaRestoredPublic(
        as_of=second_of(body.as_of),
        created=result.created,
        restored_version=result.restored_version,
        idea=result.idea,
    )


@router.get(
    "/profiles/{user_id}", response_model=ProfileAsOfPublic, responses=ERRORS, summary="A profile as of a second"
)
def profile_as_of(
    user_id: str, admin: Restorer, container: ContainerDep, ctx: Context, as_of: AsOfQuery
) -> ProfileAsOfPublic:
    profile = container.pitr.profile_as_of(admin, ctx, user_id, as_of)
    return ProfileAsOfPublic(as_of=second_of(as_of), profile=ProfilePublic.model_validate(profile.model_dump()))


@router.post(
    "/profiles/{user_id}/restore",
    response_model=ProfileRestoredPublic,
    responses=ERRORS,
    summary="Make the preferences and notifications as of a second the latest profile",
)
def restore_profile(
    user_id: str, body: RestoreCreate, admin: Restorer, container: ContainerDep, ctx: Context
) -> ProfileRestoredPublic:
    result = container.pitr.restore_profile(admin, ctx, user_id, body.as_of)
    profile = ProfilePublic.model_validate(result.profile.model_dump())
    return ProfileRestoredPublic(as_of=second_of(body.as_of), created=result.created, profile=profile)
