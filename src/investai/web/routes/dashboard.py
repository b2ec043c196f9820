"""The dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from investai.web.deps import SignedIn
from investai.web.rendering import render

router = APIRouter()


@router.get("/")
def dashboard(request: Request, principal: SignedIn) -> Response:
    return render(request, "dashboard.html")
