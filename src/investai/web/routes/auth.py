"""Sign-in pages: password, the forced change of a temporary password, the MFA challenge, and sign-out.

They call the identity service the API's ``/auth`` routes call; the resulting tokens go into HttpOnly
cookies (``investai.web.session``), a pending challenge into a short-lived HttpOnly cookie."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from investai.domain.errors import AuthenticationFailed, ValidationFailed
from investai.http.deps import ContainerDep, Context
from investai.services.auth_common import Challenge, TokenSet
from investai.web.deps import safe_next
from investai.web.rendering import render
from investai.web.session import CHALLENGE_COOKIE, NEXT_COOKIE, CookiePolicy, read_cookies

router = APIRouter()
Text = Annotated[str, Form(max_length=256)]
SIGN_IN_FAILED = "Incorrect email or password."
CHALLENGE_PAGES = {"NEW_PASSWORD_REQUIRED": "/login/new-password", "MFA": "/login/mfa"}


def _cookies(request: Request) -> CookiePolicy:
    policy: CookiePolicy = request.app.state.web_cookies
    return policy


def _signed_in(request: Request, result: TokenSet | Challenge, next_path: str) -> Response:
    """Where a sign-in step leads: the next challenge's page, or the page the user asked for."""
    policy = _cookies(request)
    if isinstance(result, Challenge):
        response = RedirectResponse(CHALLENGE_PAGES[result.challenge], status_code=303)
        ttl = request.app.state.container.settings.challenge_ttl_s
        pending = [
            policy.cookie(CHALLENGE_COOKIE, result.session, max_age=ttl),
            policy.cookie(NEXT_COOKIE, quote(next_path, safe=""), max_age=ttl),
        ]
        for cookie in pending:
            response.headers.append("set-cookie", cookie.decode())
        return response
    response = RedirectResponse(next_path, status_code=303)
    for cookie in policy.session(result) + policy.cleared(CHALLENGE_COOKIE, NEXT_COOKIE):
        response.headers.append("set-cookie", cookie.decode())
    return response


def _pending(request: Request) -> tuple[str | None, str]:
    jar = read_cookies(request.scope)
    return jar.get(CHALLENGE_COOKIE), safe_next(unquote(jar.get(NEXT_COOKIE) or "/"))


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    if getattr(request.state, "principal", None) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "auth/login.html", {"next": safe_next(next), "email": ""})


@router.post("/login")
async def login(
    request: Request, container: ContainerDep, ctx: Context, email: Text, password: Text, next: Text = "/"
) -> Response:
    target = safe_next(next)
    try:
        result = await run_in_threadpool(container.identity.auth.login, email, password, ctx)
    except AuthenticationFailed:
        context = {"next": target, "email": email, "error": SIGN_IN_FAILED}
        return render(request, "auth/login.html", context, status_code=401)
    return _signed_in(request, result, target)


def _challenge_expired(request: Request) -> Response:
    context = {"next": "/", "email": "", "error": "The sign-in step expired. Sign in again."}
    return render(request, "auth/login.html", context, status_code=401)


@router.get("/login/new-password")
def new_password_page(request: Request) -> Response:
    session, _ = _pending(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "auth/new_password.html")


@router.post("/login/new-password")
async def new_password(
    request: Request, container: ContainerDep, ctx: Context, new_password: Text, confirm_password: Text
) -> Response:
    session, target = _pending(request)
    if session is None:
        return _challenge_expired(request)
    if new_password != confirm_password:
        return render(request, "auth/new_password.html", {"error": "The two passwords differ."}, status_code=422)
    try:
        result = await run_in_threadpool(container.identity.auth.respond_new_password, session, new_password, ctx)
    except ValidationFailed as exc:
        return render(request, "auth/new_password.html", {"error": str(exc)}, status_code=422)
    except AuthenticationFailed:
        return _challenge_expired(request)
    return _signed_in(request, result, target)


@router.get("/login/mfa")
def mfa_page(request: Request) -> Response:
    session, _ = _pending(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "auth/mfa.html")


@router.post("/login/mfa")
async def mfa(request: Request, container: ContainerDep, ctx: Context, code: Text) -> Response:
    session, target = _pending(request)
    if session is None:
        return _challenge_expired(request)
    try:
        result = await run_in_threadpool(container.identity.auth.respond_mfa, session, code.strip(), ctx)
    except AuthenticationFailed:
        # a wrong code spends nothing: the challenge stays open until it expires or too many failures lock it
        context = {"error": "That code was not accepted. Try the current code, or a recovery code."}
        return render(request, "auth/mfa.html", context, status_code=401)
    return _signed_in(request, result, target)


@router.post("/logout")
async def logout(request: Request, container: ContainerDep, ctx: Context) -> Response:
    principal = getattr(request.state, "principal", None)
    if principal is not None:
        await run_in_threadpool(
            lambda: container.identity.auth.logout(
                user_id=principal.user_id,
                organisation_id=principal.organisation_id,
                session_id=principal.session_id,
                ctx=ctx,
            )
        )
    response = RedirectResponse("/login?notice=signed_out", status_code=303)
    for cookie in _cookies(request).cleared():
        response.headers.append("set-cookie", cookie.decode())
    return response
