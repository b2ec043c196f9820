"""An idea-generation request as a tracked job: its parameters, per-agent progress, outcome and usage."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from investai.domain.agents import WORKERS, AgentName, AgentProgress
from investai.domain.common import DomainModel, Identifier, UtcDatetime
from investai.domain.idea_request import IdeaRequest


class RequestStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({RequestStatus.SUCCEEDED, RequestStatus.FAILED, RequestStatus.CANCELLED})


class Usage(DomainModel):
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    offline_calls: int = 0


class IdeaRequestRecord(DomainModel):
    id: Identifier
    owner_id: Identifier
    organisation_id: Identifier
    role: str = Field(min_length=1, max_length=64, description="the requester's role when the request was made")
    status: RequestStatus = RequestStatus.QUEUED
    request: IdeaRequest
    template: str | None = None
    warnings: list[str] = Field(default_factory=list)
    job_id: str | None = None
    synchronous: bool = False
    progress: dict[AgentName, AgentProgress] = Field(
        default_factory=lambda: {agent: AgentProgress(agent=agent) for agent in WORKERS}
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    cancel_requested: bool = False
    idea_ids: list[str] = Field(default_factory=list)
    blocked: dict[str, str] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)
    failures: list[str] = Field(default_factory=list)
    screened: int = 0
    error: str | None = Field(default=None, max_length=2000)
    usage: Usage = Field(default_factory=Usage)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def percent(self) -> float:
        """Overall progress: the mean of the agents' percentages (100 once finished)."""
        if self.finished:
            return 100.0
        return sum(item.percent for item in self.progress.values()) / max(len(self.progress), 1)

    def seconds_remaining(self, now: datetime) -> float | None:
        """A linear estimate from the time spent so far and the overall percentage; None before it starts."""
        if self.finished:
            return 0.0
        if self.started_at is None or self.percent <= 0.0:
            return None
        elapsed = (now - self.started_at).total_seconds()
        return max(0.0, elapsed * (100.0 - self.percent) / self.percent)
