"""Messages the agents exchange and the progress they report; persisted as a request's audit trail."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any

from pydantic import Field

from investai.domain.citations import DocumentSource
from investai.domain.common import DomainModel, Identifier, UtcDatetime, new_id


class AgentName(StrEnum):
    SUPERVISOR = "supervisor"
    PLANNING = "planning"
    RESEARCH = "research"
    ANALYSIS = "analysis"
    COMPLIANCE = "compliance"
    SYNTHESIS = "synthesis"


WORKERS: tuple[AgentName, ...] = (
    AgentName.PLANNING,
    AgentName.ANALYSIS,
    AgentName.RESEARCH,
    AgentName.COMPLIANCE,
    AgentName.SYNTHESIS,
)
"""The agents whose progress a request reports, in the order they start."""


class MessageType(StrEnum):
    REQUEST = "request"
    RESPONSE = "response"
    UPDATE = "update"
    ERROR = "error"


class MessagePriority(IntEnum):
    LOW = 1
    NORMAL = 2
    HIGH = 3
    CRITICAL = 4


class AgentMessage(DomainModel):
    """One message between agents. ``recipient=None`` is a broadcast."""

    id: Identifier = Field(default_factory=lambda: new_id("msg_"))
    sender: AgentName
    recipient: AgentName | None = None
    type: MessageType
    priority: MessagePriority = MessagePriority.NORMAL
    content: dict[str, Any] = Field(default_factory=dict)
    conversation_id: Identifier
    request_id: Identifier
    parent_id: Identifier | None = None
    created_at: UtcDatetime
    document_sources: list[DocumentSource] | None = Field(
        default=None,
        description="the document versions whose text shaped the content (null: sent before this was recorded)",
    )
    trace_id: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{32}$",
        description="the trace (32 hex digits, OpenTelemetry) of the step that sent it: its spans and log lines",
    )


class AgentState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class AgentProgress(DomainModel):
    agent: AgentName
    state: AgentState = AgentState.PENDING
    percent: float = Field(default=0.0, ge=0.0, le=100.0)
    detail: str | None = Field(default=None, max_length=500)
    updated_at: UtcDatetime | None = None
