"""OpenAI-compatible chat servers (Ollama, vLLM, llama.cpp, or OpenAI itself) through the ``openai`` SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import openai

from investai.adapters.market_vendors.http import retry_after_seconds
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


class _ServerSaidWhen:
    """The server's ``Retry-After`` in seconds (``None`` when it sent none): the router waits at least that
    long before asking again, or moves on when that is longer than it may wait."""

    retry_after_s: float | None = None


class ServerThrottled(_ServerSaidWhen, ModelThrottled):
    """HTTP 429."""


class ServerUnavailable(_ServerSaidWhen, ModelUnavailable):
    """HTTP 5xx."""


def _server_error(model_id: str, exc: openai.APIStatusError) -> ModelThrottled | ModelUnavailable:
    """A 429 or 5xx as the router's retryable errors, carrying the server's ``Retry-After``."""
    delay = retry_after_seconds(exc.response.headers.get("retry-after"), now=time.time)
    said = "" if delay is None else f", Retry-After {delay:g} s"
    error: ServerThrottled | ServerUnavailable = (
        ServerThrottled(f"openai {model_id}: rate limited (HTTP 429{said})")
        if exc.status_code == 429
        else ServerUnavailable(f"openai {model_id}: HTTP {exc.status_code}{said}")
    )
    error.retry_after_s = delay
    return error


def _first_choice(answer: object, model_id: str) -> tuple[str, str | None]:
    """The text and finish reason of the answer's first choice. A body that is not a chat completion (not JSON,
    no choices, a choice without a message, content that is not text) is :class:`BadModelOutput`."""
    choices = getattr(answer, "choices", None)
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = getattr(choice, "message", None)
    content = getattr(message, "content", None)
    if message is None or not isinstance(content, str | None):
        raise BadModelOutput(f"openai {model_id}: the answer is not a chat completion")
    reason = getattr(choice, "finish_reason", None)
    return content or "", reason if isinstance(reason, str) else None


def _tokens(usage: object, name: str) -> int:
    count = getattr(usage, name, None)
    return count if isinstance(count, int) and count >= 0 else 0


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
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise ModelUnavailable(f"openai {model_id}: {type(exc).__name__}") from exc
        except openai.APIStatusError as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise _server_error(model_id, exc) from exc
            raise ModelRefused(f"openai {model_id}: HTTP {exc.status_code}") from exc
        except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:  # a body that is not JSON
            raise BadModelOutput(f"openai {model_id}: the answer is not a chat completion") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        text, finish_reason = _first_choice(answer, model_id)
        data = None
        if request.json_schema is not None:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise BadModelOutput(f"openai {model_id}: the answer is not JSON") from exc
            if not isinstance(data, dict):
                raise BadModelOutput(f"openai {model_id}: the answer is not a JSON object")
        usage = getattr(answer, "usage", None)
        return ModelResponse(
            text=text,
            data=data,
            usage=Usage(
                input_tokens=_tokens(usage, "prompt_tokens"), output_tokens=_tokens(usage, "completion_tokens")
            ),
            provider=self.name,
            model_id=model_id,
            latency_ms=latency_ms,
            stop_reason=finish_reason,
        )
