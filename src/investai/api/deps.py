"""Dependencies as ``Annotated`` aliases, so routes declare what they need in their signature."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from investai.bootstrap import Container
from investai.domain.access import Permission, Principal
from investai.services.auth_common import CallContext

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="investai"'}


# Dependencies are async because they never block: sync ones would each hop through the thread pool.


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _principal_of(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        reason = getattr(request.state, "auth_error", None) or "authentication required"
        raise HTTPException(401, reason, headers=UNAUTHORIZED_HEADERS)
    return principal


async def get_principal(request: Request) -> Principal:
    return _principal_of(request)


async def get_call_context(request: Request) -> CallContext:
    client = request.client.host if request.client else None
    return CallContext(ip=getattr(request.state, "client_ip", None) or client, request_id=request.state.request_id)


def require(permission: Permission) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits principals holding ``permission`` (401 without one, 403 without the right)."""

    async def check(request: Request) -> Principal:
        principal = _principal_of(request)  # read directly: one dependency per request, not two
        if not principal.can(permission):
            raise HTTPException(403, f"this action needs the {permission.value} permission")
        return principal

    check.__name__ = f"require_{permission.name.lower()}"
    return check


ContainerDep = Annotated[Container, Depends(get_container)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
Context = Annotated[CallContext, Depends(get_call_context)]
SelfService = Annotated[Principal, Depends(require(Permission.PROFILE_SELF))]
Administrator = Annotated[Principal, Depends(require(Permission.USERS_ADMIN))]
Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
Operator = Annotated[Principal, Depends(require(Permission.OPS_READ))]
Restorer = Annotated[Principal, Depends(require(Permission.DATA_RESTORE))]
IdeaReader = Annotated[Principal, Depends(require(Permission.IDEAS_READ))]
IdeaRequester = Annotated[Principal, Depends(require(Permission.IDEAS_REQUEST))]
JobReader = Annotated[Principal, Depends(require(Permission.JOBS_READ))]
DocumentReader = Annotated[Principal, Depends(require(Permission.DOCUMENTS_READ))]
DocumentWriter = Annotated[Principal, Depends(require(Permission.DOCUMENTS_WRITE))]
KnowledgeSearcher = Annotated[Principal, Depends(require(Permission.KNOWLEDGE_SEARCH))]
MarketReader = Annotated[Principal, Depends(require(Permission.MARKET_READ))]
MarketWriter = Annotated[Principal, Depends(require(Permission.MARKET_WRITE))]
MarketAdmin = Annotated[Principal, Depends(require(Permission.MARKET_ADMIN))]
AnalyticsRunner = Annotated[Principal, Depends(require(Permission.ANALYTICS_RUN))]
