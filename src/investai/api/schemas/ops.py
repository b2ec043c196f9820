"""Operations: liveness and readiness."""

from __future__ import annotations

from pydantic import BaseModel


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
