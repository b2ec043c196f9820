"""Public key discovery for the local token issuer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from investai.api.deps import ContainerDep

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens (public)")
def jwks(container: ContainerDep) -> Any:
    return JSONResponse(container.identity.issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})
