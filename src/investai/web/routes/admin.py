"""Administration pages: the organisation's users (create one with a temporary password, change a role,
disable or enable, reset a password), the hash-chained audit log with its verification, and the system view
(readiness of every store, jobs, market tiers, metrics).

They call the services the API's ``/api/v1/admin`` and ops routes call. A temporary password is shown once,
in the answer to the POST that created it (never in a URL, never cached)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from investai import __version__
from investai.bootstrap import Container
from investai.domain.access import Permission, Principal
from investai.domain.audit import AuditVerification
from investai.domain.auth import CreatedUser
from investai.domain.errors import Conflict
from investai.domain.users import Role, UserStatus
from investai.http.deps import ContainerDep, Context
from investai.http.schemas import UserCreate
from investai.observability.metrics import Metrics
from investai.services.auth_common import CallContext
from investai.services.queries import UserNames
from investai.web.deps import AdminPage, AuditPage, OpsPage
from investai.web.rendering import render

router = APIRouter()
Text = Annotated[str, Form(max_length=1000)]
AUDIT_PAGE_SIZE = 50
DUPLICATE_EMAIL = "A user with that email address already exists in your organisation."
FIELD_MESSAGES = {
    "email": "Enter a valid email address, such as name@example.com.",
    "role": "Choose one of the roles in the list.",
    "display_name": "The display name can have at most 200 characters.",
}


def admin_sections(principal: Principal) -> list[tuple[str, str]]:
    """The administration pages the principal may open, for the section navigation."""
    sections = [
        ("/admin", "Users", Permission.USERS_ADMIN),
        ("/admin/audit", "Audit log", Permission.AUDIT_READ),
        ("/admin/system", "System", Permission.OPS_READ),
    ]
    return [(href, label) for href, label, permission in sections if principal.can(permission)]


# -- users ------------------------------------------------------------------------------------------------
def _users_page(
    request: Request, container: Container, admin: Principal, ctx: CallContext, *, status: int = 200, **extra: Any
) -> Response:
    context: dict[str, Any] = {
        "users": container.identity.users.list_users(admin, ctx),
        "roles": list(Role),
        "sections": admin_sections(admin),
        "form": {"email": "", "display_name": "", "role": Role.ANALYST.value},
        "errors": {},
        **extra,
    }
    return render(request, "admin/users.html", context, status_code=status)


def _field_errors(exc: ValidationError) -> dict[str, str]:
    fields = {str(error["loc"][0]) for error in exc.errors() if error.get("loc")}
    return {field: FIELD_MESSAGES.get(field, "This value is not valid.") for field in fields}


@router.get("/admin")
def users_page(request: Request, admin: AdminPage, container: ContainerDep, ctx: Context) -> Response:
    return _users_page(request, container, admin, ctx)


@router.post("/admin/users")
def create_user(
    request: Request,
    admin: AdminPage,
    container: ContainerDep,
    ctx: Context,
    email: Text = "",
    role: Text = "",
    display_name: Text = "",
) -> Response:
    form = {"email": email, "display_name": display_name, "role": role}
    try:
        body = UserCreate.model_validate(
            {"email": email.strip(), "role": role, "display_name": display_name.strip() or None}
        )
    except ValidationError as exc:
        return _users_page(request, container, admin, ctx, status=422, form=form, errors=_field_errors(exc))
    try:
        created = container.identity.users.create_user(
            actor=admin,
            email=body.email,
            role=body.role,
            organisation_id=admin.organisation_id,
            display_name=body.display_name,
            ctx=ctx,
        )
    except Conflict:
        errors = {"email": DUPLICATE_EMAIL}
        return _users_page(request, container, admin, ctx, status=409, form=form, errors=errors)
    return _users_page(request, container, admin, ctx, created=created)


def _user_page(
    request: Request,
    container: Container,
    admin: Principal,
    ctx: CallContext,
    user_id: str,
    *,
    status: int = 200,
    error: str | None = None,
    reset: CreatedUser | None = None,
) -> Response:
    user = container.identity.users.read_user(admin, user_id, ctx)  # NotFound for another organisation's user
    context = {
        "user": user,
        "roles": list(Role),
        "sections": admin_sections(admin),
        "is_self": user.id == admin.user_id,
        "disabled": user.status is UserStatus.DISABLED,
        "error": error,
        "reset": reset,
    }
    return render(request, "admin/user.html", context, status_code=status)


@router.get("/admin/users/{user_id}")
def user_page(request: Request, user_id: str, admin: AdminPage, container: ContainerDep, ctx: Context) -> Response:
    return _user_page(request, container, admin, ctx, user_id)


def _updated(
    request: Request, container: Container, admin: Principal, ctx: CallContext, user_id: str, **change: Any
) -> Response:
    try:
        container.identity.users.update_user(admin, user_id, ctx=ctx, **change)
    except Conflict as exc:  # e.g. an administrator demoting or disabling themselves
        message = str(exc)[:1].upper() + str(exc)[1:] + "."
        return _user_page(request, container, admin, ctx, user_id, status=409, error=message)
    return RedirectResponse(f"/admin/users/{user_id}?notice=user_updated", status_code=303)


@router.post("/admin/users/{user_id}/role")
def change_role(
    request: Request, user_id: str, admin: AdminPage, container: ContainerDep, ctx: Context, role: Text = ""
) -> Response:
    try:
        chosen = Role(role)
    except ValueError:
        message = FIELD_MESSAGES["role"]
        return _user_page(request, container, admin, ctx, user_id, status=422, error=message)
    return _updated(request, container, admin, ctx, user_id, role=chosen)


@router.post("/admin/users/{user_id}/disable")
def disable_user(request: Request, user_id: str, admin: AdminPage, container: ContainerDep, ctx: Context) -> Response:
    return _updated(request, container, admin, ctx, user_id, enabled=False)


@router.post("/admin/users/{user_id}/enable")
def enable_user(request: Request, user_id: str, admin: AdminPage, container: ContainerDep, ctx: Context) -> Response:
    return _updated(request, container, admin, ctx, user_id, enabled=True)


@router.post("/admin/users/{user_id}/reset-password")
def reset_password(request: Request, user_id: str, admin: AdminPage, container: ContainerDep, ctx: Context) -> Response:
    reset = container.identity.users.reset_password(admin, user_id, ctx)
    return _user_page(request, container, admin, ctx, user_id, reset=reset)


# -- audit log --------------------------------------------------------------------------------------------
def _audit_page(
    request: Request,
    container: Container,
    auditor: Principal,
    *,
    action: str | None = None,
    actor: str | None = None,
    before: int | None = None,
    verification: AuditVerification | None = None,
) -> Response:
    action, actor = (action or "").strip() or None, (actor or "").strip() or None
    events = container.identity.audit.list_events(
        organisation_id=auditor.organisation_id,
        actor_id=actor,
        action=action,
        limit=AUDIT_PAGE_SIZE + 1,
        before_seq=before,
    )
    filters = {key: value for key, value in (("action", action), ("actor", actor)) if value}
    older = None
    if len(events) > AUDIT_PAGE_SIZE:
        events = events[:AUDIT_PAGE_SIZE]
        older = "/admin/audit?" + urlencode({**filters, "before": events[-1].seq})
    named = [event.actor_id for event in events]
    named += [event.resource_id for event in events if event.resource_type == "user"]
    context = {
        "events": events,
        "people": UserNames(container.identity.users, auditor).names(named),
        "filters": filters,
        "action": action or "",
        "actor": actor or "",
        "paged": before is not None,
        "newest": "/admin/audit" + ("?" + urlencode(filters) if filters else ""),
        "older": older,
        "verification": verification,
        "sections": admin_sections(auditor),
    }
    return render(request, "admin/audit.html", context)


@router.get("/admin/audit")
def audit_page(
    request: Request,
    auditor: AuditPage,
    container: ContainerDep,
    action: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    return _audit_page(request, container, auditor, action=action, actor=actor, before=before)


@router.post("/admin/audit/verify")
def verify_audit(request: Request, auditor: AuditPage, container: ContainerDep) -> Response:
    return _audit_page(request, container, auditor, verification=container.identity.audit.verify())


# -- system -----------------------------------------------------------------------------------------------
def _status_class(status: str) -> str:
    """``"404"`` -> ``"4xx"``."""
    return status[:1] + "xx"


def _http_overview(metrics: Metrics) -> dict[str, Any]:
    """Requests, errors and latency the in-process Prometheus registry counted since the process started."""
    by_status: dict[str, float] = {}
    for (status,), count in metrics.totals("investai_http_requests_total", "status").items():
        by_status[_status_class(status)] = by_status.get(_status_class(status), 0.0) + count
    latency_sum = sum(metrics.totals("investai_http_request_duration_seconds_sum").values())
    latency_count = sum(metrics.totals("investai_http_request_duration_seconds_count").values())
    routes = metrics.totals("investai_http_requests_total", "method", "route")
    jobs = metrics.totals("investai_jobs_total", "kind", "outcome")
    return {
        "requests": int(sum(by_status.values())),
        "by_status": {status: int(count) for status, count in sorted(by_status.items())},
        "errors": int(sum(metrics.totals("investai_http_errors_total").values())),
        "mean_latency_ms": latency_sum / latency_count * 1000 if latency_count else None,
        "busiest": sorted(((f"{m} {r}", int(n)) for (m, r), n in routes.items()), key=lambda row: -row[1])[:10],
        "jobs": sorted((kind, outcome, int(n)) for (kind, outcome), n in jobs.items()),
    }


def _model_usage(metrics: Metrics) -> list[dict[str, Any]]:
    """Model calls, tokens and cost per model since the process started."""
    calls = metrics.totals("investai_model_calls_total", "model", "outcome")
    tokens = metrics.totals("investai_model_tokens_total", "model", "direction")
    cost = metrics.totals("investai_model_cost_usd_total", "model")
    return [
        {
            "model": model,
            "calls": int(sum(n for (m, _), n in calls.items() if m == model)),
            "failed": int(sum(n for (m, outcome), n in calls.items() if m == model and outcome != "ok")),
            "input_tokens": int(tokens.get((model, "input"), 0)),
            "output_tokens": int(tokens.get((model, "output"), 0)),
            "cost": cost.get((model,), 0.0),
        }
        for model in sorted({key[0] for key in (*calls, *tokens, *cost)})
    ]


@router.get("/admin/system")
def system_page(request: Request, operator: OpsPage, container: ContainerDep) -> Response:
    models = _model_usage(container.metrics)
    context = {
        "readiness": container.operations.readiness(),
        "job_counts": sorted((status.value, count) for status, count in container.operations.job_counts().items()),
        "tiers": container.market.tier_counts(),
        "version": __version__,
        "metrics": _http_overview(container.metrics),
        "models": models,
        "model_calls": sum(row["calls"] for row in models),
        "model_tokens": sum(row["input_tokens"] + row["output_tokens"] for row in models),
        "model_cost": sum(row["cost"] for row in models),
        "sections": admin_sections(operator),
        "schedules": container.schedules(),
    }
    context |= _backups(container)
    return render(request, "admin/system.html", context)


def _backups(container: Container) -> dict[str, Any]:
    if container.backups is None:
        return {"backups_by_aws": True}
    latest = container.backups.latest()
    age = (container.clock.now() - latest.created_at).total_seconds() / 60 if latest is not None else None
    return {
        "latest_backup": latest,
        "backup_age_minutes": age,
        "backup_retention_days": container.settings.backup_retention_days,
    }
