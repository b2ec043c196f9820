"""Language-model calls as data: messages, requests, responses, usage and the errors a provider raises.

Numbers never come from here: a model writes words, code computes figures (docs/ARCHITECTURE.md section 5).
Every request names the versioned prompt template it was rendered from and carries the deterministic answer the offline
provider returns, so the whole flow works with no model at all and a failed model call degrades to the same
answer instead of failing the request.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from investai.domain.common import DomainModel
from investai.domain.errors import DomainError


class TaskKind(StrEnum):
    """What a call is for; the router maps each kind to a chain of models."""

    REASONING = "reasoning"  # planning, synthesis
    FAST = "fast"  # research summaries, compliance review
    QUANTITATIVE = "quantitative"  # analysis commentary


class ChatMessage(DomainModel):
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1, max_length=200_000)


class PromptRef(DomainModel):
    """The template a request was rendered from: name, version and the SHA-256 of the rendered text."""

    name: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=32)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ModelRequest(DomainModel):
    """One chat call. ``json_schema`` asks for structured output (a JSON object matching it)."""

    task: TaskKind
    system: str = Field(default="", max_length=50_000)
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    json_schema: dict[str, Any] | None = None
    max_tokens: int = Field(default=1024, ge=1, le=32_000)
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    prompt: PromptRef
    offline_answer: str | dict[str, Any] = Field(
        description="what the offline provider answers: the rule-based or template result, computed by code"
    )

    @model_validator(mode="after")
    def _offline_answer_fits(self) -> ModelRequest:
        if self.json_schema is not None and not isinstance(self.offline_answer, dict):
            raise ValueError("a structured request needs a structured (object) offline answer")
        return self

    def rendered_text(self) -> str:
        """The system prompt and messages as one text (what :attr:`PromptRef.sha256` hashes)."""
        return render_hash_text(self.system, [(message.role, message.content) for message in self.messages])


def render_hash_text(system: str, messages: list[tuple[str, str]]) -> str:
    parts = [f"system:{system}", *(f"{role}:{content}" for role, content in messages)]
    return "\n\x1e".join(parts)


def prompt_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Usage(DomainModel):
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)


class ModelResponse(DomainModel):
    """A provider's answer: the text, the parsed object when a schema was given, usage and timing."""

    text: str
    data: dict[str, Any] | None = None
    usage: Usage = Field(default_factory=Usage)
    provider: str = Field(min_length=1, max_length=64)
    model_id: str = Field(min_length=1, max_length=200)
    latency_ms: float = Field(default=0.0, ge=0.0)
    stop_reason: str | None = Field(default=None, max_length=64)
    offline: bool = False


class ModelError(DomainError):
    """A model call failed. ``retryable`` failures (throttling, 5xx, timeouts) are retried with back-off; the
    others (a refused request, bad credentials, an unparseable answer) move straight to the next model."""

    code = "model_error"
    retryable = False


class ModelThrottled(ModelError):
    code = "model_throttled"
    retryable = True


class ModelUnavailable(ModelError):
    """A server-side failure (5xx, model not ready) or a timeout."""

    code = "model_unavailable"
    retryable = True


class ModelRefused(ModelError):
    """The provider rejected the request (validation, access denied, unknown model)."""

    code = "model_refused"


class BadModelOutput(ModelError):
    """The answer is not the JSON object the schema asked for."""

    code = "bad_model_output"
