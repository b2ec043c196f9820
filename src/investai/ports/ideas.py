"""Idea generation as a port: the services start it, the agent team (the supervisor) implements it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pydantic import Field

from investai.domain.agents import AgentMessage, AgentName, AgentState
from investai.domain.common import DomainModel
from investai.domain.idea_parts import ModelUse
from investai.domain.idea_request import IdeaRequest
from investai.domain.ideas import InvestmentIdea
from investai.domain.knowledge import AccessScope


class GenerationResult(DomainModel):
    ideas: list[InvestmentIdea] = Field(default_factory=list)
    blocked: dict[str, str] = Field(default_factory=dict, description="symbol -> the critical compliance issue")
    skipped: dict[str, str] = Field(default_factory=dict, description="symbol -> why it is not an idea")
    failures: list[str] = Field(default_factory=list, description="agent failures met and how they were handled")
    screened: int = 0
    scores: dict[str, float] = Field(default_factory=dict, description="every screened symbol's composite score")
    model_uses: list[ModelUse] = Field(default_factory=list)


class IdeaGenerator(Protocol):
    def generate(
        self,
        request: IdeaRequest,
        *,
        request_id: str,
        reader: AccessScope,
        on_message: Callable[[AgentMessage], None] = ...,
        on_progress: Callable[[AgentName, AgentState, float, str | None], None] = ...,
        is_cancelled: Callable[[], bool] = ...,
    ) -> GenerationResult:
        """Run the agent team for ``request`` as ``reader``; ``Cancelled`` when ``is_cancelled`` turns true."""
        ...
