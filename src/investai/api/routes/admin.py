"""Administration: users of the administrator's organisation, the audit log, model budgets and costs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from investai.api.deps import Administrator, Auditor
from investai.api.schemas.budgets import BudgetUpdate
from investai.api.schemas.people import AuditEventPublic
from investai.api.schemas.users import UserCreatedPublic, UserPublic, UserUpdate
from investai.domain.audit import AuditVerification
from investai.domain.budgets import MONTH_PATTERN, BudgetOverride, BudgetScope, CostReport
from investai.http.deps import ContainerDep, Context
from investai.http.schemas import UserCreate
from investai.services.queries import UserNames


async def _never_cached(response: Response) -> None:
    """Administration views must be current: a user changed elsewhere (MFA, erasure) or a new audit record
    does not pass through this collection's writes, so the response cache must not keep these."""
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(_never_cached)])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such user in your organisation"}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "E-mail taken, or a change to your own account"}}


@router.get("/users", response_model=list[UserPublic], summary="Users of your organisation")
def list_users(admin: Administrator, container: ContainerDep, ctx: Context) -> list[UserPublic]:
    return [UserPublic.of(user) for user in container.identity.users.list_users(admin, ctx)]


@router.post(
    "/users",
    response_model=UserCreatedPublic,
    status_code=201,
    responses=CONFLICT,
    summary="Create a user (temporary password)",
)
def create_user(body: UserCreate, admin: Administrator, container: ContainerDep, ctx: Context) -> UserCreatedPublic:
    created = container.identity.users.create_user(
        actor=admin,
        email=body.email,
        role=body.role,
        organisation_id=admin.organisation_id,
        display_name=body.display_name,
        ctx=ctx,
    )
    return UserCreatedPublic(user=UserPublic.of(created.user), temporary_password=created.temporary_password)


@router.get("/users/{user_id}", response_model=UserPublic, responses=NOT_FOUND, summary="One user")
def get_user(user_id: str, admin: Administrator, container: ContainerDep, ctx: Context) -> UserPublic:
    return UserPublic.of(container.identity.users.read_user(admin, user_id, ctx))


@router.patch(
    "/users/{user_id}", response_model=UserPublic, responses={**NOT_FOUND, **CONFLICT}, summary="Change role or status"
)
def update_user(
    user_id: str, body: UserUpdate, admin: Administrator, container: ContainerDep, ctx: Context
) -> UserPublic:
    updated = container.identity.users.update_user(
        admin, user_id, role=body.role, enabled=body.enabled, display_name=body.display_name, ctx=ctx
    )
    return UserPublic.of(updated)


@router.post(
    "/users/{user_id}/reset-password",
    response_model=UserCreatedPublic,
    responses=NOT_FOUND,
    summary="Issue a new temporary password and end the user's sessions",
)
def reset_password(user_id: str, admin: Administrator, container: ContainerDep, ctx: Context) -> UserCreatedPublic:
    reset = container.identity.users.reset_password(admin, user_id, ctx)
    return UserCreatedPublic(user=UserPublic.of(reset.user), temporary_password=reset.temporary_password)


@router.get(
    "/audit",
    response_model=list[AuditEventPublic],
    summary="Audit records of your organisation, newest first, with the names of the users they mention",
)
def list_audit(
    auditor: Auditor,
    container: ContainerDep,
    action: str | None = Query(default=None, max_length=100),
    actor_id: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=500),
    before_seq: int | None = Query(default=None, ge=1, le=2**62),
) -> list[AuditEventPublic]:
    events = container.identity.audit.list_events(
        organisation_id=auditor.organisation_id, actor_id=actor_id, action=action, limit=limit, before_seq=before_seq
    )
    names = UserNames(container.identity.users, auditor)
    return [AuditEventPublic.of(event, names) for event in events]


@router.get("/audit/verify", response_model=AuditVerification, summary="Verify the audit hash chain")
def verify_audit(auditor: Auditor, container: ContainerDep) -> AuditVerification:
    return container.identity.audit.verify()


@router.get(
    "/costs",
    response_model=CostReport,
    summary="Model cost and tokens of your organisation for a month (this one by default): by user, model and step",
)
def cost_report(
    admin: Administrator,
    container: ContainerDep,
    ctx: Context,
    month: str | None = Query(default=None, pattern=MONTH_PATTERN, description="YYYY-MM (UTC)"),
) -> CostReport:
    return container.budgets.organisation_report(admin, ctx, month=month)


@router.get("/budgets", response_model=list[BudgetOverride], summary="Budget overrides of your organisation")
def list_budgets(admin: Administrator, container: ContainerDep) -> list[BudgetOverride]:
    return container.budgets.overrides(admin)


@router.put(
    "/budgets/organisation", response_model=BudgetOverride, summary="Set your organisation's monthly model budgets"
)
def set_organisation_budget(
    body: BudgetUpdate, admin: Administrator, container: ContainerDep, ctx: Context
) -> BudgetOverride:
    return container.budgets.set_override(
        admin,
        ctx,
        scope=BudgetScope.ORGANISATION,
        subject_id=admin.organisation_id,
        monthly_usd=body.monthly_usd,
        monthly_tokens=body.monthly_tokens,
    )


@router.put(
    "/budgets/users/{user_id}",
    response_model=BudgetOverride,
    responses=NOT_FOUND,
    summary="Set a user's monthly model budgets",
)
def set_user_budget(
    user_id: str, body: BudgetUpdate, admin: Administrator, container: ContainerDep, ctx: Context
) -> BudgetOverride:
    return container.budgets.set_override(
        admin,
        ctx,
        scope=BudgetScope.USER,
        subject_id=user_id,
        monthly_usd=body.monthly_usd,
        monthly_tokens=body.monthly_tokens,
    )


@router.delete(
    "/budgets/organisation",
    status_code=204,
    summary="Return your organisation to the default budgets (204 whether or not it had its own)",
)
def clear_organisation_budget(admin: Administrator, container: ContainerDep, ctx: Context) -> Response:
    container.budgets.clear_override(admin, ctx, scope=BudgetScope.ORGANISATION, subject_id=admin.organisation_id)
    return Response(status_code=204)


@router.delete(
    "/budgets/users/{user_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Return a user to the default budgets (204 whether or not they had their own)",
)
def clear_user_budget(user_id: str, admin: Administrator, container: ContainerDep, ctx: Context) -> Response:
    container.budgets.clear_override(admin, ctx, scope=BudgetScope.USER, subject_id=user_id)
    return Response(status_code=204)
