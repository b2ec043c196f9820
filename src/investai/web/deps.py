"""Dependencies of web pages: the signed-in principal (or a redirect to the sign-in page) and role checks
that answer with a page instead of JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from investai.bootstrap import Container
from investai.domain.access import Permission, Principal
from investai.domain.errors import DomainError
from investai.services.auth_common import CallContext


class LoginRequired(Exception):
    """No session: the page answers with a redirect to ``/login?next=…`` (the page asked for)."""


class PageForbidden(Exception):
    def __init__(self, permission: Permission) -> None:
        super().__init__(permission.value)
        self.permission = permission


def safe_next(value: str | None) -> str:
    """A local path to return to after sign-in; anything else (other hosts, ``//x``, ``/\\x``) becomes ``/``."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n"):
        return "/"
    return value


def login_redirect_target(request: Request) -> str:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(safe_next(path), safe="/")


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def web_context(request: Request) -> CallContext:
    client = request.client.host if request.client else None
    return CallContext(ip=getattr(request.state, "client_ip", None) or client, request_id=request.state.request_id)


async def _signed_in(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise LoginRequired
    container: Container = request.app.state.container
    try:
        user = await run_in_threadpool(container.identity.users.get_user, principal, principal.user_id)
    except DomainError as exc:  # erased or unknown: the session is no longer usable
        raise LoginRequired from exc
    request.state.user_label = user.display_name or user.email
    return principal


def page_requires(permission: Permission) -> Callable[[Request], Awaitable[Principal]]:
    async def check(request: Request) -> Principal:
        principal = await _signed_in(request)
        if not principal.can(permission):
            raise PageForbidden(permission)
        return principal

    check.__name__ = f"page_requires_{permission.name.lower()}"
    return check


ContainerDep = Annotated[Container, Depends(get_container)]
WebContext = Annotated[CallContext, Depends(web_context)]
SignedIn = Annotated[Principal, Depends(_signed_in)]
SelfPage = Annotated[Principal, Depends(page_requires(Permission.PROFILE_SELF))]
IdeaReaderPage = Annotated[Principal, Depends(page_requires(Permission.IDEAS_READ))]
IdeaRequesterPage = Annotated[Principal, Depends(page_requires(Permission.IDEAS_REQUEST))]
IdeaReviewerPage = Annotated[Principal, Depends(page_requires(Permission.IDEAS_REVIEW))]
FeedbackPage = Annotated[Principal, Depends(page_requires(Permission.IDEAS_FEEDBACK))]
DocumentReaderPage = Annotated[Principal, Depends(page_requires(Permission.DOCUMENTS_READ))]
DocumentWriterPage = Annotated[Principal, Depends(page_requires(Permission.DOCUMENTS_WRITE))]
KnowledgePage = Annotated[Principal, Depends(page_requires(Permission.KNOWLEDGE_SEARCH))]
MarketPage = Annotated[Principal, Depends(page_requires(Permission.MARKET_READ))]
AdminPage = Annotated[Principal, Depends(page_requires(Permission.USERS_ADMIN))]
AuditPage = Annotated[Principal, Depends(page_requires(Permission.AUDIT_READ))]
OpsPage = Annotated[Principal, Depends(page_requires(Permission.OPS_READ))]
