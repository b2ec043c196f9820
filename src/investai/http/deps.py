"""Dependencies both entry points declare, as ``Annotated`` aliases: the container and the call context, and
the one factory of permission checks. What a missing principal or permission becomes (a JSON 401/403 for
the API, a redirect or a 403 page for the web UI) is each entry point's choice.

Dependencies are async because they never block: sync ones would each hop through the thread pool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from investai.bootstrap import Container
from investai.domain.access import Permission, Principal
from investai.http.headers import client_address, request_id_of
from investai.services.auth_common import CallContext

PrincipalCheck = Callable[[Request], Awaitable[Principal]]


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def get_call_context(request: Request) -> CallContext:
    """Where the call came from, for the audit log: the client's address and the request id."""
    return CallContext(ip=client_address(request), request_id=request_id_of(request))


def permission_check(
    permission: Permission,
    *,
    principal_of: PrincipalCheck,
    refuse: Callable[[Permission], Exception],
    name: str,
) -> PrincipalCheck:
    """A dependency that admits principals holding ``permission``: ``principal_of`` finds the principal (or
    raises), ``refuse`` is raised for one without the right. Named ``{name}_{permission}``, so a route's
    dependencies tell which check it has."""

    async def check(request: Request) -> Principal:
        principal = await principal_of(request)  # called directly: one dependency per request, not two
        if not principal.can(permission):
            raise refuse(permission)
        return principal

    check.__name__ = f"{name}_{permission.name.lower()}"
    return check


ContainerDep = Annotated[Container, Depends(get_container)]
Context = Annotated[CallContext, Depends(get_call_context)]
