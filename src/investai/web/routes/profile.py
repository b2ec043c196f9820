"""The signed-in user's own pages: investment preferences and notification settings, where their monthly model
budgets stand, password change, two-factor authentication (set-up with a QR code, recovery codes, turning it
off) and the data export link.

They call the services the API's ``/api/v1/profile`` (``/budget`` included) and ``/api/v1/auth`` routes
call. MFA set-up begins with a POST; reloading the set-up page shows the secret already issued
(``MfaService.pending_setup``) rather than replacing it, so a QR code scanned a moment ago keeps working."""

from __future__ import annotations

import io
import re
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from markupsafe import Markup
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from investai.bootstrap import Container
from investai.domain.access import Principal
from investai.domain.errors import AuthenticationFailed, ValidationFailed
from investai.domain.idea_parts import AssetClass, TimeHorizon
from investai.domain.users import (
    DigestFrequency,
    EsgPreference,
    InvestmentPreferences,
    NotificationSettings,
    RiskTolerance,
)
from investai.http.deps import ContainerDep, Context
from investai.services.auth_common import CallContext
from investai.web.budgets import budget_standing
from investai.web.deps import SelfPage
from investai.web.rendering import render
from investai.web.session import CookiePolicy

router = APIRouter()
Text = Annotated[str, Form(max_length=256)]
LongText = Annotated[str, Form(max_length=20_000)]
Checked = Annotated[str | None, Form(max_length=10)]
Choices = Annotated[list[str] | None, Form()]
_LIST_SEPARATORS = re.compile(r"[,;\n]+")
WRONG_CODE = "That code was not accepted. Enter the current 6-digit code from your authenticator app."
QR_LABEL = "QR code to scan with your authenticator app"
FIELD_MESSAGES = {
    "risk_tolerance": "Choose a risk tolerance from the list.",
    "time_horizon": "Choose an investment horizon from the list.",
    "sectors": "Name at most 50 sectors, each a short name.",
    "asset_classes": "Choose asset classes from the list.",
    "exclusions": "List at most 500 exclusions.",
    "esg": "Choose an ESG preference from the list.",
    "digest": "Choose how often to receive the digest.",
}
OPTIONS = {
    "risk_tolerances": list(RiskTolerance),
    "horizons": list(TimeHorizon),
    "asset_classes": list(AssetClass),
    "esg_preferences": list(EsgPreference),
    "digests": list(DigestFrequency),
}


def qr_svg(uri: str) -> Markup:
    """``uri`` as an inline SVG QR code: a path with classes, no script, no style attributes, no XML prologue."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", xmldecl=False, svgclass="qr-code", lineclass="qr-line", omitsize=True, border=4,
        light="#fff", title=QR_LABEL,
    )  # fmt: skip
    svg = buffer.getvalue().decode().strip().replace("<svg ", f'<svg role="img" aria-label="{QR_LABEL}" ', 1)
    return Markup(svg)  # noqa: S704 - segno's markup: the URI is drawn as modules, never as text


def _split(text: str) -> list[str]:
    return [item.strip() for item in _LIST_SEPARATORS.split(text) if item.strip()]


# -- profile ----------------------------------------------------------------------------------------------
def _profile_page(
    request: Request, container: Container, principal: Principal, ctx: CallContext, *, status: int = 200, **extra: Any
) -> Response:
    profile = container.identity.profiles.read(principal, ctx)
    saved = {**profile.preferences.model_dump(mode="json"), **profile.notifications.model_dump(mode="json")}
    context: dict[str, Any] = {
        "user": container.identity.users.get_user(principal, principal.user_id),
        "profile": profile,
        "form": extra.pop("submitted", None) or saved,
        "budget": budget_standing(container.budgets.status(principal)),
        "errors": {},
        **OPTIONS,
        **extra,
    }
    return render(request, "profile/profile.html", context, status_code=status)


@router.get("/profile")
def profile_page(request: Request, principal: SelfPage, container: ContainerDep, ctx: Context) -> Response:
    return _profile_page(request, container, principal, ctx)


@router.post("/profile")
def save_profile(
    request: Request,
    principal: SelfPage,
    container: ContainerDep,
    ctx: Context,
    risk_tolerance: Text = "",
    time_horizon: Text = "",
    sectors: LongText = "",
    asset_classes: Choices = None,
    exclusions: LongText = "",
    esg: Text = "",
    digest: Text = "",
    notify_email: Checked = None,
    notify_in_app: Checked = None,
    on_idea_ready: Checked = None,
    on_review_decision: Checked = None,
) -> Response:
    raw = {
        "risk_tolerance": risk_tolerance,
        "time_horizon": time_horizon,
        "sectors": _split(sectors),
        "asset_classes": asset_classes or [],
        "exclusions": _split(exclusions),
        "esg": esg,
    }
    flags = {"email": notify_email, "in_app": notify_in_app, "on_idea_ready": on_idea_ready}
    flags["on_review_decision"] = on_review_decision
    try:
        preferences = InvestmentPreferences.model_validate(raw)
        notifications = NotificationSettings.model_validate(
            {**{key: value is not None for key, value in flags.items()}, "digest": digest}
        )
    except ValidationError as exc:
        fields = {str(error["loc"][0]) for error in exc.errors() if error.get("loc")}
        errors = {field: FIELD_MESSAGES.get(field, "This value is not valid.") for field in fields}
        submitted = {**raw, **{key: value is not None for key, value in flags.items()}, "digest": digest}
        return _profile_page(request, container, principal, ctx, status=422, errors=errors, submitted=submitted)
    container.identity.profiles.update(principal, preferences=preferences, notifications=notifications, ctx=ctx)
    return RedirectResponse("/profile?notice=profile_saved", status_code=303)


@router.post("/profile/password")
def change_password(
    request: Request,
    principal: SelfPage,
    container: ContainerDep,
    ctx: Context,
    current_password: Text = "",
    new_password: Text = "",
    confirm_password: Text = "",
) -> Response:
    def refused(status: int, message: str) -> Response:
        return _profile_page(request, container, principal, ctx, status=status, password_error=message)

    if new_password != confirm_password:
        return refused(422, "The two new passwords differ.")
    try:
        container.identity.auth.change_password(
            user_id=principal.user_id, current=current_password, new=new_password, ctx=ctx
        )
    except AuthenticationFailed:
        return refused(401, "The current password is not correct.")
    except ValidationFailed as exc:
        return refused(422, str(exc)[:1].upper() + str(exc)[1:] + ".")
    # every session, this one included, has ended: drop the cookies and sign in again
    response = RedirectResponse("/login?notice=password_changed", status_code=303)
    policy: CookiePolicy = request.app.state.web_cookies
    for cookie in policy.cleared():
        response.headers.append("set-cookie", cookie.decode())
    return response


# -- two-factor authentication ----------------------------------------------------------------------------
def _mfa_page(
    request: Request, container: Container, principal: Principal, *, status: int = 200, error: str | None = None
) -> Response:
    user = container.identity.users.get_user(principal, principal.user_id)
    setup = None if user.mfa_enabled else container.identity.mfa.pending_setup(principal)
    context = {
        "user": user,
        "setup": setup,
        "qr": qr_svg(setup.otpauth_uri) if setup else None,
        "error": error,
    }
    return render(request, "profile/mfa.html", context, status_code=status)


@router.get("/profile/mfa")
def mfa_page(request: Request, principal: SelfPage, container: ContainerDep) -> Response:
    return _mfa_page(request, container, principal)


@router.post("/profile/mfa/start")
def start_mfa(principal: SelfPage, container: ContainerDep) -> Response:
    container.identity.mfa.begin_setup(principal)  # Conflict (409 page) when MFA is already on
    return RedirectResponse("/profile/mfa", status_code=303)


@router.post("/profile/mfa")
def confirm_mfa(
    request: Request, principal: SelfPage, container: ContainerDep, ctx: Context, code: Text = ""
) -> Response:
    try:
        codes = container.identity.mfa.confirm_setup(principal, code.replace(" ", ""), ctx)
    except AuthenticationFailed:
        return _mfa_page(request, container, principal, status=400, error=WRONG_CODE)
    return render(request, "profile/recovery_codes.html", {"codes": codes})


@router.post("/profile/mfa/disable")
def disable_mfa(
    request: Request, principal: SelfPage, container: ContainerDep, ctx: Context, code: Text = ""
) -> Response:
    try:
        container.identity.mfa.disable(principal, code.strip(), ctx)
    except AuthenticationFailed:
        message = "That code was not accepted. Enter the current code from your app, or a recovery code."
        return _profile_page(request, container, principal, ctx, status=400, mfa_error=message)
    return RedirectResponse("/profile?notice=mfa_disabled", status_code=303)
