"""What every agent of one request shares: the request, who asked, the as-of moment, the model router and
the channels for messages and progress."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from investai.agents.router import ModelRouter
from investai.domain.agents import AgentMessage, AgentName, AgentState, MessagePriority, MessageType
from investai.domain.citations import DocumentSource
from investai.domain.errors import DomainError
from investai.domain.idea_parts import ModelUse
from investai.domain.idea_request import IdeaRequest
from investai.domain.knowledge import AccessScope
from investai.ports.clock import Clock


class Cancelled(DomainError):
    """The requester cancelled the job; the agents stop at their next check."""

    code = "cancelled"


def as_of_moment(day: date) -> datetime:
    """The end of ``day`` (midnight that ends it, UTC): an as-of date includes everything stamped that day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


@dataclass
class RunContext:
    request: IdeaRequest
    request_id: str
    reader: AccessScope
    as_of: datetime
    router: ModelRouter
    clock: Clock
    code_version: str
    on_message: Callable[[AgentMessage], None] = lambda message: None
    on_progress: Callable[[AgentName, AgentState, float, str | None], None] = lambda *args: None
    is_cancelled: Callable[[], bool] = lambda: False
    model_uses: list[ModelUse] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def message(
        self,
        sender: AgentName,
        kind: MessageType,
        content: dict[str, Any],
        *,
        recipient: AgentName | None = None,
        parent: AgentMessage | None = None,
        priority: MessagePriority = MessagePriority.NORMAL,
        sources: Sequence[DocumentSource] = (),
    ) -> AgentMessage:
        """Record a message of the request's conversation (the audit trail) and return it. ``sources`` are the
        document versions whose text shaped ``content``: a reader who may not read one of them is shown the
        message without its content."""
        message = AgentMessage(
            sender=sender,
            recipient=recipient,
            type=kind,
            priority=priority,
            content=content,
            conversation_id=self.request_id,
            request_id=self.request_id,
            parent_id=parent.id if parent else None,
            created_at=self.clock.now(),
            document_sources=list(sources),
        )
        self.on_message(message)
        return message

    def progress(self, agent: AgentName, state: AgentState, percent: float, detail: str | None = None) -> None:
        self.on_progress(agent, state, max(0.0, min(100.0, percent)), detail)

    def check_cancelled(self) -> None:
        if self.is_cancelled():
            raise Cancelled(f"request {self.request_id} was cancelled")

    def record_use(self, use: ModelUse) -> None:
        with self._lock:
            self.model_uses.append(use)
