"""Language-model providers: offline (deterministic), Bedrock Converse, OpenAI-compatible servers."""

from __future__ import annotations

from typing import Protocol

from investai.domain.llm import ModelRequest, ModelResponse


class ModelProvider(Protocol):
    name: str
    """Short provider name recorded in provenance: ``offline``, ``bedrock``, ``openai``."""

    def complete(self, request: ModelRequest, *, model_id: str, timeout_s: float) -> ModelResponse:
        """Answer one chat request with ``model_id``.

        Raises :class:`~investai.domain.llm.ModelThrottled` or :class:`~investai.domain.llm.ModelUnavailable`
        for failures worth retrying, :class:`~investai.domain.llm.ModelRefused` for a refused request and
        :class:`~investai.domain.llm.BadModelOutput` when structured output was asked for and the answer is
        not a JSON object. With ``request.json_schema`` set, ``response.data`` is the parsed object.
        """
        ...
