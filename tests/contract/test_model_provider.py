"""Contract of the ModelProvider port, run against every provider.

Bedrock runs through botocore's ``Stubber`` (every request is validated against the real bedrock-runtime
service model); the OpenAI-compatible provider talks to an ``httpx2.MockTransport`` that checks the
chat-completions request it receives; the offline provider needs neither. Each backend is scripted with the
same replies: plain text, a structured object, throttling, a server error, a refusal, malformed output.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx2
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from investai.adapters.aws.bedrock_models import STRUCTURED_TOOL, BedrockModelProvider, converse_arguments
from investai.adapters.models.offline import OfflineModelProvider
from investai.adapters.models.openai_compatible import OpenAICompatibleProvider
from investai.agents.prompts import PromptTemplate
from investai.domain.llm import BadModelOutput, ModelRefused, ModelRequest, ModelThrottled, ModelUnavailable, TaskKind
from investai.ports.models import ModelProvider

SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "tickers": {"type": "array", "items": {"type": "string"}}},
    "required": ["summary", "tickers"],
}
ANSWER = {"summary": "Two names pass the screen.", "tickers": ["AAPL", "MSFT"]}
TEXT = "Momentum leaders in technology."
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"

TEXT_TEMPLATE = PromptTemplate(
    name="contract.text", version="1", task=TaskKind.FAST, system="Be brief.", user="Summarise $topic."
)
JSON_TEMPLATE = PromptTemplate(
    name="contract.json",
    version="1",
    task=TaskKind.FAST,
    system="Answer in JSON.",
    user="Pick from $names.",
    json_schema=SCHEMA,
)


def text_request() -> ModelRequest:
    return TEXT_TEMPLATE.render(offline_answer=TEXT, topic="the screen")


def json_request() -> ModelRequest:
    return JSON_TEMPLATE.render(offline_answer=ANSWER, names="AAPL, MSFT, XOM")


Script = list[tuple[str, Any]]


# ------------------------------------------------------------------------------------------- backends


def bedrock_backend(script: Script, requests: list[ModelRequest]) -> Iterator[ModelProvider]:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    stubber = Stubber(client)
    errors = {
        "throttle": ("ThrottlingException", 429),
        "server_error": ("ServiceUnavailableException", 503),
        "refuse": ("ValidationException", 400),
    }
    for (kind, payload), request in zip(script, requests, strict=True):
        expected = converse_arguments(request, MODEL)
        if kind in errors:
            code, status = errors[kind]
            stubber.add_client_error("converse", code, "scripted", status, expected_params=expected)
            continue
        if kind == "text":
            content: list[dict[str, Any]] = [{"text": payload}]
        elif kind == "json":
            content = [{"toolUse": {"toolUseId": "t1", "name": STRUCTURED_TOOL, "input": payload}}]
        else:  # malformed: text where a tool call was required
            content = [{"text": "not a tool call"}]
        stubber.add_response(
            "converse",
            {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": "tool_use" if kind == "json" else "end_turn",
                "usage": {"inputTokens": 120, "outputTokens": 30, "totalTokens": 150},
                "metrics": {"latencyMs": 420},
            },
            expected_params=expected,
        )
    with stubber:
        yield BedrockModelProvider(client)
        stubber.assert_no_pending_responses()


def openai_backend(script: Script, requests: list[ModelRequest]) -> Iterator[ModelProvider]:
    replies = iter(script)
    seen: list[dict[str, Any]] = []

    def handle(http_request: httpx2.Request) -> httpx2.Response:
        assert http_request.url.path.endswith("/chat/completions")
        assert http_request.headers["authorization"] == "Bearer local-key"
        body = json.loads(http_request.content)
        seen.append(body)
        kind, payload = next(replies)
        if kind == "throttle":
            return httpx2.Response(429, json={"error": {"message": "slow down"}})
        if kind == "server_error":
            return httpx2.Response(503, json={"error": {"message": "overloaded"}})
        if kind == "refuse":
            return httpx2.Response(400, json={"error": {"message": "bad request"}})
        content = json.dumps(payload) if kind == "json" else (payload if kind == "text" else "not json {")
        return httpx2.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
            },
        )

    client = httpx2.Client(transport=httpx2.MockTransport(handle))
    yield OpenAICompatibleProvider(base_url="http://127.0.0.1:11434/v1", api_key="local-key", http_client=client)
    for body, request in zip(seen, requests, strict=False):
        assert body["model"] == MODEL
        assert body["messages"][0] == {"role": "system", "content": request.system}
        assert ("response_format" in body) == (request.json_schema is not None)


def offline_backend(script: Script, requests: list[ModelRequest]) -> Iterator[ModelProvider]:
    yield OfflineModelProvider()


BACKENDS: dict[str, Callable[[Script, list[ModelRequest]], Iterator[ModelProvider]]] = {
    "bedrock": bedrock_backend,
    "openai": openai_backend,
    "offline": offline_backend,
}
SCRIPTED = ("bedrock", "openai")  # the providers that talk to a model and can fail


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Iterator[Callable[[Script, list[ModelRequest]], ModelProvider]]:
    generators: list[Iterator[ModelProvider]] = []

    def make(script: Script, requests: list[ModelRequest]) -> ModelProvider:
        generator = BACKENDS[request.param](script, requests)
        generators.append(generator)
        return next(generator)

    make.name = request.param  # type: ignore[attr-defined]
    yield make
    for generator in generators:
        for _ in generator:  # run the backend's closing checks
            pass


# ------------------------------------------------------------------------------------------- contract


def test_plain_text_answer(backend: Callable[[Script, list[ModelRequest]], ModelProvider]) -> None:
    request = text_request()
    provider = backend([("text", TEXT)], [request])
    response = provider.complete(request, model_id=MODEL, timeout_s=5.0)
    assert response.text == TEXT
    assert response.data is None
    assert response.provider == provider.name
    assert response.offline == (provider.name == "offline")
    assert response.model_id == (MODEL if provider.name != "offline" else response.model_id)
    assert response.latency_ms >= 0.0
    if provider.name != "offline":
        assert (response.usage.input_tokens, response.usage.output_tokens) == (120, 30)


def test_structured_answer_is_the_parsed_object(backend: Callable[[Script, list[ModelRequest]], ModelProvider]) -> None:
    request = json_request()
    provider = backend([("json", ANSWER)], [request])
    response = provider.complete(request, model_id=MODEL, timeout_s=5.0)
    assert response.data == ANSWER
    assert json.loads(response.text) == ANSWER


@pytest.mark.parametrize(
    ("reply", "error"),
    [("throttle", ModelThrottled), ("server_error", ModelUnavailable), ("refuse", ModelRefused)],
)
def test_failures_map_to_the_error_tree(
    backend: Callable[[Script, list[ModelRequest]], ModelProvider], reply: str, error: type[Exception]
) -> None:
    if backend.name not in SCRIPTED:  # type: ignore[attr-defined]
        pytest.skip("the offline provider cannot fail")
    request = text_request()
    provider = backend([(reply, None)], [request])
    with pytest.raises(error) as caught:
        provider.complete(request, model_id=MODEL, timeout_s=5.0)
    assert caught.value.retryable == (reply != "refuse")  # type: ignore[attr-defined]


def test_malformed_structured_answer_is_bad_output(
    backend: Callable[[Script, list[ModelRequest]], ModelProvider],
) -> None:
    if backend.name not in SCRIPTED:  # type: ignore[attr-defined]
        pytest.skip("the offline provider answers with code's own result")
    request = json_request()
    provider = backend([("malformed", None)], [request])
    with pytest.raises(BadModelOutput):
        provider.complete(request, model_id=MODEL, timeout_s=5.0)
