"""Dependencies of web pages: the signed-in principal (or a redirect to the sign-in page) and role checks
that answer with a page instead of JSON. The container and the call context are declared with the shared
aliases of :mod:`investai.http.deps`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from investai.bootstrap import Container
from investai.domain.access import Permission, Principal
from investai.domain.errors import DomainError
from investai.http.deps import PrincipalCheck, permission_check


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


def page_requires(permission: Permission) -> PrincipalCheck:
    """A dependency that admits signed-in principals holding ``permission`` (a redirect to the sign-in page
    without a session, a 403 page without the right)."""
    return permission_check(permission, principal_of=_signed_in, refuse=PageForbidden, name="page_requires")


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
