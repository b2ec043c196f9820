"""The API's dependencies as ``Annotated`` aliases, so routes declare what they need in their signature: the
principal of the Bearer token (401 without one) and the permission each route needs (403 without it). The
container and the call context are declared with the shared aliases of :mod:`investai.http.deps`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from investai.domain.access import Permission, Principal
from investai.http.deps import PrincipalCheck, permission_check
from investai.http.errors import BEARER_CHALLENGE


async def get_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        reason = getattr(request.state, "auth_error", None) or "authentication required"
        raise HTTPException(401, reason, headers=BEARER_CHALLENGE)
    return principal


def _forbidden(permission: Permission) -> HTTPException:
    return HTTPException(403, f"this action needs the {permission.value} permission")


def require(permission: Permission) -> PrincipalCheck:
    """A dependency that admits principals holding ``permission`` (401 without one, 403 without the right)."""
    return permission_check(permission, principal_of=get_principal, refuse=_forbidden, name="require")


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
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
