"""Response schemas of the operational and validation endpoints."""

from __future__ import annotations

from pydantic import BaseModel

from investai.domain.idea_request import IdeaRequest


class HealthPublic(BaseModel):
    status: str
    version: str


class CheckPublic(BaseModel):
    name: str
    ok: bool
    latency_ms: float
    error: str | None = None


class ReadinessPublic(BaseModel):
    status: str
    checks: list[CheckPublic]


class IdeaRequestValidation(BaseModel):
    request: IdeaRequest
    warnings: list[str]
