"""The configured routes over Bedrock: the router that ``build_model_router`` makes from the default settings,
over ``BedrockModelProvider`` on a real ``bedrock-runtime`` client behind botocore's ``Stubber`` (which checks
every request and canned response against the service model). Each task kind reaches its model with the
expected Converse request; throttling and 5xx are retried, a validation error is not; persistent throttling
and a rate limit that would wait too long both move to the fast model. Sleep is simulated: no test waits."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from investai.adapters.aws.bedrock_models import BedrockModelProvider
from investai.agents.prompts import PromptTemplate
from investai.agents.router import ModelRouter
from investai.bootstrap.models import build_model_router
from investai.config import Settings
from investai.domain.llm import ModelRequest, TaskKind
from investai.observability.metrics import Metrics
from tests.factories import SimClock

SONNET = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
NOVA = "us.amazon.nova-pro-v1:0"
MAX_ATTEMPTS = 3

PLAN_SCHEMA = {
    "type": "object",
    "properties": {"tickers": {"type": "array", "items": {"type": "string"}}, "rationale": {"type": "string"}},
    "required": ["tickers", "rationale"],
}
COMMENTARY_SCHEMA = {
    "type": "object",
    "properties": {"commentary": {"type": "string"}},
    "required": ["commentary"],
}
TEMPLATES = {
    TaskKind.REASONING: PromptTemplate(
        name="test.plan",
        version="1",
        task=TaskKind.REASONING,
        system="You plan equity research.",
        user="Plan a screen of $sector.",
        json_schema=PLAN_SCHEMA,
        max_tokens=800,
    ),
    TaskKind.FAST: PromptTemplate(
        name="test.summary",
        version="1",
        task=TaskKind.FAST,
        system="You summarise filings.",
        user="Summarise: $text",
        max_tokens=300,
    ),
    TaskKind.QUANTITATIVE: PromptTemplate(
        name="test.commentary",
        version="1",
        task=TaskKind.QUANTITATIVE,
        system="You comment on computed figures.",
        user="Comment on a Sharpe ratio of $sharpe.",
        json_schema=COMMENTARY_SCHEMA,
        max_tokens=400,
    ),
}
OFFLINE = {
    TaskKind.REASONING: {"tickers": ["NVDA"], "rationale": "offline"},
    TaskKind.FAST: "offline summary",
    TaskKind.QUANTITATIVE: {"commentary": "offline"},
}
VALUES = {TaskKind.REASONING: {"sector": "semiconductors"}, TaskKind.FAST: {"text": "Revenue grew."}}
CONFIGURED = {TaskKind.REASONING: SONNET, TaskKind.FAST: HAIKU, TaskKind.QUANTITATIVE: NOVA}


def request(task: TaskKind) -> ModelRequest:
    return TEMPLATES[task].render(offline_answer=OFFLINE[task], **VALUES.get(task, {"sharpe": "1.42"}))


def expected_converse(task: TaskKind, model_id: str) -> dict[str, Any]:
    """The Converse request, written out rather than taken from ``converse_arguments``."""
    template = TEMPLATES[task]
    user = request(task).messages[0].content
    expected: dict[str, Any] = {
        "modelId": model_id,
        "messages": [{"role": "user", "content": [{"text": user}]}],
        "system": [{"text": template.system}],
        "inferenceConfig": {"maxTokens": template.max_tokens, "temperature": 0.0},
    }
    if template.json_schema is not None:
        expected["toolConfig"] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": "record_answer",
                        "description": "Record the answer as a JSON object matching the schema.",
                        "inputSchema": {"json": template.json_schema},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": "record_answer"}},
        }
    return expected


ANSWERS: dict[TaskKind, Any] = {
    TaskKind.REASONING: {"tickers": ["NVDA", "AMD"], "rationale": "leaders"},
    TaskKind.FAST: "Revenue grew on data-centre demand.",
    TaskKind.QUANTITATIVE: {"commentary": "Risk-adjusted returns were strong."},
}


def converse_response(task: TaskKind) -> dict[str, Any]:
    answer = ANSWERS[task]
    if isinstance(answer, dict):
        content: list[dict[str, Any]] = [
            {"toolUse": {"toolUseId": "tooluse_1", "name": "record_answer", "input": answer}}
        ]
        stop = "tool_use"
    else:
        content, stop = [{"text": answer}], "end_turn"
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": 1200, "outputTokens": 300, "totalTokens": 1500},
        "metrics": {"latencyMs": 850},
    }


class FixedWaits:
    """A quota that answers each model with a fixed wait, granting it when the caller will wait that long."""

    def __init__(self, waits: dict[str, float]) -> None:
        self.waits = waits
        self.asked: list[tuple[str, float]] = []

    def reserve(self, key: str, *, max_wait_s: float = math.inf) -> float:
        self.asked.append((key, max_wait_s))
        return self.waits.get(key, 0.0)


class Route:
    """The configured router over a stubbed client, with its metrics and simulated time."""

    def __init__(self, stubber: Stubber, router: ModelRouter, metrics: Metrics, time_: SimClock) -> None:
        self.stubber = stubber
        self.router = router
        self.metrics: Metrics = metrics
        self.time = time_

    def expect(self, task: TaskKind, model_id: str) -> None:
        self.stubber.add_response(
            "converse", converse_response(task), expected_params=expected_converse(task, model_id)
        )

    def fail(self, task: TaskKind, model_id: str, code: str, status: int, times: int = 1) -> None:
        for _ in range(times):
            self.stubber.add_client_error(
                "converse", code, "stubbed", status, expected_params=expected_converse(task, model_id)
            )

    def calls(self) -> dict[tuple[str, ...], float]:
        totals: dict[tuple[str, ...], float] = self.metrics.totals("investai_model_calls_total", "model", "outcome")
        return totals


@pytest.fixture
def settings() -> Settings:
    return Settings(
        _env_file=None,
        model_provider="bedrock",
        model_max_attempts=MAX_ATTEMPTS,
        model_backoff_base_s=0.001,
        model_backoff_max_s=0.004,
    )


@contextmanager
def make_route(settings: Settings, quota: Any = None) -> Iterator[Route]:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    metrics, time_ = Metrics(), SimClock()
    router = build_model_router(
        settings,
        metrics=metrics,
        providers={"bedrock": BedrockModelProvider(client)},
        quota=quota,
        monotonic=time_.monotonic,
        sleep=time_.sleep,
    )
    with Stubber(client) as stubber:
        yield Route(stubber, router, metrics, time_)
        stubber.assert_no_pending_responses()


@pytest.fixture
def route(settings: Settings) -> Iterator[Route]:
    with make_route(settings) as configured:
        yield configured


# ------------------------------------------------------------------------------------------ the three routes


def test_settings_defaults_name_the_three_models(settings: Settings) -> None:
    assert (settings.model_reasoning, settings.model_fast, settings.model_quantitative) == (SONNET, HAIKU, NOVA)


@pytest.mark.parametrize("task", list(TaskKind))
def test_each_task_kind_calls_its_model_with_the_expected_converse_request(
    route: Route, settings: Settings, task: TaskKind
) -> None:
    model = CONFIGURED[task]
    route.expect(task, model)
    answer = route.router.complete(request(task), step=task.value)
    assert not answer.fell_back
    assert (answer.use.provider, answer.use.model_id, answer.use.offline) == ("bedrock", model, False)
    assert (answer.use.input_tokens, answer.use.output_tokens, answer.use.latency_ms) == (1200, 300, 850.0)
    price_in, price_out = settings.model_prices[model]
    assert answer.use.cost_usd == pytest.approx(1.2 * price_in + 0.3 * price_out)
    if isinstance(ANSWERS[task], dict):
        assert answer.response.data == ANSWERS[task]
    else:
        assert answer.response.text == ANSWERS[task]
    assert route.calls() == {(model, "ok"): 1.0}
    assert route.time.sleeps == []


# ------------------------------------------------------------------------------------------ retries


def test_throttling_is_retried_then_succeeds(route: Route) -> None:
    route.fail(TaskKind.FAST, HAIKU, "ThrottlingException", 429, times=2)
    route.expect(TaskKind.FAST, HAIKU)
    answer = route.router.complete(request(TaskKind.FAST), step="research")
    assert answer.response.text == ANSWERS[TaskKind.FAST]
    assert not answer.fell_back
    assert route.calls() == {(HAIKU, "model_throttled"): 2.0, (HAIKU, "ok"): 1.0}
    assert len(route.time.sleeps) == 2
    assert all(0.0 <= pause <= 0.004 for pause in route.time.sleeps)


@pytest.mark.parametrize(("code", "status"), [("InternalServerException", 500), ("ServiceUnavailableException", 503)])
def test_a_server_error_is_retried(route: Route, code: str, status: int) -> None:
    route.fail(TaskKind.REASONING, SONNET, code, status)
    route.expect(TaskKind.REASONING, SONNET)
    answer = route.router.complete(request(TaskKind.REASONING), step="plan")
    assert answer.response.data == ANSWERS[TaskKind.REASONING]
    assert answer.use.model_id == SONNET
    assert route.calls() == {(SONNET, "model_unavailable"): 1.0, (SONNET, "ok"): 1.0}
    assert len(route.time.sleeps) == 1


def test_a_validation_error_is_not_retried(route: Route) -> None:
    route.fail(TaskKind.REASONING, SONNET, "ValidationException", 400)
    route.expect(TaskKind.REASONING, HAIKU)  # the next link of the reasoning chain
    answer = route.router.complete(request(TaskKind.REASONING), step="plan")
    assert answer.use.model_id == HAIKU
    assert answer.failures == [f"bedrock:{SONNET}: bedrock {SONNET}: ValidationException"]
    assert route.calls() == {(SONNET, "model_refused"): 1.0, (HAIKU, "ok"): 1.0}
    assert route.time.sleeps == []


def test_a_validation_error_on_the_last_model_answers_offline(route: Route) -> None:
    route.fail(TaskKind.FAST, HAIKU, "ValidationException", 400)
    answer = route.router.complete(request(TaskKind.FAST), step="research")
    assert answer.response.offline
    assert answer.response.text == OFFLINE[TaskKind.FAST]
    assert answer.use.provider == "offline"
    assert route.time.sleeps == []


# ------------------------------------------------------------------------------------------ fallback


def test_persistent_throttling_on_the_quantitative_model_falls_back_to_the_fast_model(
    route: Route, settings: Settings
) -> None:
    route.fail(TaskKind.QUANTITATIVE, NOVA, "ThrottlingException", 429, times=MAX_ATTEMPTS)
    route.expect(TaskKind.QUANTITATIVE, HAIKU)
    answer = route.router.complete(request(TaskKind.QUANTITATIVE), step="analysis")
    assert answer.fell_back
    assert answer.failures == [f"bedrock:{NOVA}: bedrock {NOVA}: ThrottlingException"]
    assert answer.response.data == ANSWERS[TaskKind.QUANTITATIVE]
    assert (answer.use.model_id, answer.use.provider, answer.use.offline) == (HAIKU, "bedrock", False)
    price_in, price_out = settings.model_prices[HAIKU]
    assert answer.use.cost_usd == pytest.approx(1.2 * price_in + 0.3 * price_out)
    assert route.calls() == {(NOVA, "model_throttled"): float(MAX_ATTEMPTS), (HAIKU, "ok"): 1.0}
    assert len(route.time.sleeps) == MAX_ATTEMPTS - 1


def test_a_rate_limit_that_would_wait_too_long_is_throttling_and_falls_back(settings: Settings) -> None:
    quota = FixedWaits({NOVA: 600.0})  # the shared limit has booked Nova ten minutes ahead
    with make_route(settings, quota) as route:
        route.expect(TaskKind.QUANTITATIVE, HAIKU)  # Nova is never called
        answer = route.router.complete(request(TaskKind.QUANTITATIVE), step="analysis")
        assert answer.use.model_id == HAIKU
        assert answer.failures == [f"bedrock:{NOVA}: {NOVA}: local rate limit would wait 600.0 s"]
        assert route.calls() == {(NOVA, "rate_limited"): float(MAX_ATTEMPTS), (HAIKU, "ok"): 1.0}
        assert quota.asked == [(NOVA, settings.model_max_wait_s)] * MAX_ATTEMPTS + [(HAIKU, settings.model_max_wait_s)]
        assert max(route.time.sleeps) <= 0.004  # back-off only: the router never sleeps through the long wait


def test_a_short_rate_limit_wait_is_slept_then_the_model_is_called(settings: Settings) -> None:
    quota = FixedWaits({SONNET: 2.5})
    with make_route(settings, quota) as route:
        route.expect(TaskKind.REASONING, SONNET)
        answer = route.router.complete(request(TaskKind.REASONING), step="plan")
        assert (answer.use.model_id, answer.fell_back) == (SONNET, False)
        assert route.time.sleeps == [2.5]


def test_a_quota_that_cannot_say_refuses_the_slot(settings: Settings) -> None:
    quota = FixedWaits({HAIKU: math.inf})
    patient = Settings(**{**settings.model_dump(), "model_max_wait_s": math.inf, "_env_file": None})
    with make_route(patient, quota) as route:
        answer = route.router.complete(request(TaskKind.FAST), step="research")
        assert answer.response.offline
        assert answer.failures == [f"bedrock:{HAIKU}: {HAIKU}: local rate limit would wait inf s"]
        assert not [pause for pause in route.time.sleeps if pause > 1]
