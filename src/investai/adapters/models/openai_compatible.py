"""OpenAI-compatible chat servers (Ollama, vLLM, llama.cpp, or OpenAI itself) through the ``openai`` SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import openai

from investai.domain.llm import (
    BadModelOutput,
    ModelRefused,
    ModelRequest,
    ModelResponse,
    ModelThrottled,
    ModelUnavailable,
    Usage,
)


def chat_arguments(request: ModelRequest, model_id: str) -> dict[str, Any]:
    messages: list[dict[str, str]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.extend({"role": message.role, "content": message.content} for message in request.messages)
    arguments: dict[str, Any] = {
        "model": model_id,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    if request.json_schema is not None:
        arguments["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": request.json_schema},
        }
    return arguments


class OpenAICompatibleProvider:
    """A :class:`~investai.ports.models.ModelProvider` for any server speaking the chat-completions protocol.

    The SDK's own retries are off (``max_retries=0``): the model router retries with back-off and falls back.
    ``http_client`` lets tests (and proxies) supply the transport.
    """

    name = "openai"

    def __init__(self, *, base_url: str, api_key: str, http_client: httpx2.Client | None = None) -> None:
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, http_client=http_client)

    def complete(self, request: ModelRequest, *, model_id: str, timeout_s: float) -> ModelResponse:
        started = time.perf_counter()
        try:
            answer = self._client.chat.completions.create(**chat_arguments(request, model_id), timeout=timeout_s)
        except openai.RateLimitError as exc:
            raise ModelThrottled(f"openai {model_id}: rate limited") from exc
        except (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError) as exc:
            raise ModelUnavailable(f"openai {model_id}: {type(exc).__name__}") from exc
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise ModelUnavailable(f"openai {model_id}: HTTP {exc.status_code}") from exc
            raise ModelRefused(f"openai {model_id}: HTTP {exc.status_code}") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        choice = answer.choices[0] if answer.choices else None
        text = (choice.message.content or "") if choice is not None else ""
        data = None
        if request.json_schema is not None:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise BadModelOutput(f"openai {model_id}: the answer is not JSON") from exc
            if not isinstance(data, dict):
                raise BadModelOutput(f"openai {model_id}: the answer is not a JSON object")
        usage = answer.usage
        return ModelResponse(
            text=text,
            data=data,
            usage=Usage(
                input_tokens=usage.prompt_tokens if usage else 0, output_tokens=usage.completion_tokens if usage else 0
            ),
            provider=self.name,
            model_id=model_id,
            latency_ms=latency_ms,
            stop_reason=choice.finish_reason if choice is not None else None,
        )
