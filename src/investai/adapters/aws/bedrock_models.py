"""Bedrock models through the Converse API (Claude, Nova and any other Converse model)."""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from investai.domain.llm import (
    BadModelOutput,
    ModelRefused,
    ModelRequest,
    ModelResponse,
    ModelThrottled,
    ModelUnavailable,
    Usage,
)

STRUCTURED_TOOL = "record_answer"
"""Structured output is asked for as a forced call of one tool whose input schema is the JSON schema: the
Converse form every tool-capable model (Claude 3.x, Nova) supports."""

_THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException"})
_UNAVAILABLE = frozenset(
    {"InternalServerException", "ServiceUnavailableException", "ModelTimeoutException", "ModelNotReadyException"}
)


def converse_arguments(request: ModelRequest, model_id: str) -> dict[str, Any]:
    """The keyword arguments of ``bedrock-runtime.converse`` for a request."""
    arguments: dict[str, Any] = {
        "modelId": model_id,
        "messages": [{"role": message.role, "content": [{"text": message.content}]} for message in request.messages],
        "inferenceConfig": {"maxTokens": request.max_tokens, "temperature": request.temperature},
    }
    if request.system:
        arguments["system"] = [{"text": request.system}]
    if request.json_schema is not None:
        arguments["toolConfig"] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": STRUCTURED_TOOL,
                        "description": "Record the answer as a JSON object matching the schema.",
                        "inputSchema": {"json": request.json_schema},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": STRUCTURED_TOOL}},
        }
    return arguments


class BedrockModelProvider:
    """A :class:`~investai.ports.models.ModelProvider` over an injected ``bedrock-runtime`` client.

    The client should be built with botocore's own retries off (``Config(retries={"max_attempts": 1})``): the
    model router retries with back-off and jitter and moves down its fallback chain, and two layers of retries
    would multiply the wait. The per-call timeout is the client's read timeout, set where the client is built.
    """

    name = "bedrock"

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def complete(self, request: ModelRequest, *, model_id: str, timeout_s: float) -> ModelResponse:
        started = time.perf_counter()
        try:
            answer = self._client.converse(**converse_arguments(request, model_id))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            message = f"bedrock {model_id}: {code or 'error'}"
            if code in _THROTTLED or status == 429:
                raise ModelThrottled(message) from exc
            if code in _UNAVAILABLE or status >= 500:
                raise ModelUnavailable(message) from exc
            raise ModelRefused(message) from exc
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            raise ModelUnavailable(f"bedrock {model_id}: timed out") from exc
        except BotoCoreError as exc:
            raise ModelUnavailable(f"bedrock {model_id}: {type(exc).__name__}") from exc
        latency_ms = float(answer.get("metrics", {}).get("latencyMs", (time.perf_counter() - started) * 1000))
        blocks = answer.get("output", {}).get("message", {}).get("content", [])
        text = "".join(block["text"] for block in blocks if "text" in block)
        data = None
        if request.json_schema is not None:
            data = next((block["toolUse"].get("input") for block in blocks if "toolUse" in block), None)
            if not isinstance(data, dict):
                raise BadModelOutput(
                    f"bedrock {model_id}: no structured answer (stop reason {answer.get('stopReason')})"
                )
            text = json.dumps(data, sort_keys=True)
        usage = answer.get("usage", {})
        return ModelResponse(
            text=text,
            data=data,
            usage=Usage(input_tokens=int(usage.get("inputTokens", 0)), output_tokens=int(usage.get("outputTokens", 0))),
            provider=self.name,
            model_id=model_id,
            latency_ms=max(latency_ms, 0.0),
            stop_reason=answer.get("stopReason"),
        )


def bedrock_runtime_client(*, region: str, timeout_s: float, session: Any = None) -> BaseClient:
    """A ``bedrock-runtime`` client with botocore's retries off (the router retries) and the call timeout, made
    by ``session`` (a boto3 session, e.g. one signing with an assumed role) or boto3's default session."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=timeout_s, connect_timeout=10)
    return (session or boto3).client("bedrock-runtime", region_name=region, config=config)
