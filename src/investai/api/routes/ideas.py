"""Idea requests: the request schema and validation with warnings (generation arrives with the agents)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from investai.api.deps import IdeaRequester
from investai.api.schemas import IdeaRequestValidation
from investai.domain.idea_request import IdeaRequest

router = APIRouter(prefix="/api/v1/ideas", tags=["ideas"])


@router.get("/requests/schema", summary="JSON schema of an idea request")
def request_schema(principal: IdeaRequester) -> dict[str, Any]:
    return IdeaRequest.model_json_schema()


@router.post(
    "/requests/validate",
    response_model=IdeaRequestValidation,
    summary="Validate an idea request: 422 with field errors, or the normalised request and warnings",
)
def validate_request(request: IdeaRequest, principal: IdeaRequester) -> IdeaRequestValidation:
    return IdeaRequestValidation(request=request, warnings=request.warnings())
