"""Public key discovery for the local token issuer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from investai.domain.errors import NotFound
from investai.http.deps import ContainerDep

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens (public)")
def jwks(container: ContainerDep) -> Any:
    """The local issuer's keys; 404 where the identity provider publishes its own (a Cognito pool's JWKS)."""
    issuer = container.identity.issuer
    if issuer is None:
        raise NotFound("tokens are signed by the identity provider, which publishes its own keys")
    return JSONResponse(issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})
