"""The caller's own profile: preferences, model budgets, data export and erasure."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from investai.api.deps import SelfService
from investai.api.schemas.profile import ErasureCreate, ProfilePublic, ProfileUpdate
from investai.domain.budgets import BudgetStatus
from investai.http.deps import ContainerDep, Context

router = APIRouter(prefix="/api/v1/profile", tags=["profile"])
PRIVATE = {"Cache-Control": "no-store"}


@router.get("", response_model=ProfilePublic, summary="Your preferences and notification settings")
def get_profile(principal: SelfService, container: ContainerDep, ctx: Context) -> Any:
    return container.identity.profiles.read(principal, ctx).model_dump()


@router.put("", response_model=ProfilePublic, summary="Replace your preferences and notification settings")
def put_profile(body: ProfileUpdate, principal: SelfService, container: ContainerDep, ctx: Context) -> Any:
    profile = container.identity.profiles.update(
        principal, preferences=body.preferences, notifications=body.notifications, ctx=ctx
    )
    return profile.model_dump()


@router.get(
    "/budget",
    response_model=BudgetStatus,
    summary="Your and your organisation's monthly model budgets: limits, month-to-date spend, when they reset",
)
def get_budget(principal: SelfService, container: ContainerDep) -> JSONResponse:
    status = container.budgets.status(principal)
    return JSONResponse(status.model_dump(mode="json"), headers=PRIVATE)


@router.get("/export", summary="Everything held about you, as JSON")
def export_profile(principal: SelfService, container: ContainerDep, ctx: Context) -> JSONResponse:
    data = container.identity.profiles.export(principal, ctx)
    headers = {**PRIVATE, "Content-Disposition": 'attachment; filename="investai-export.json"'}
    return JSONResponse(data, headers=headers)


@router.post("/erase", status_code=204, summary="Erase your account (needs your password)")
def erase_profile(body: ErasureCreate, principal: SelfService, container: ContainerDep, ctx: Context) -> Response:
    container.identity.auth.confirm_password(principal.user_id, body.password, ctx)
    container.identity.profiles.erase(principal, ctx)
    return Response(status_code=204)
