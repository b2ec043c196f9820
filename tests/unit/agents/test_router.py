"""The model router: rate limit under a burst (simulated clock), retries with back-off, the fallback chain,
usage and cost; Bedrock through botocore's Stubber for throttling-then-success and persistent failure."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from investai.adapters.aws.bedrock_models import BedrockModelProvider, converse_arguments
from investai.adapters.models.offline import OfflineModelProvider
from investai.agents.prompts import PromptTemplate
from investai.agents.router import ModelLink, ModelRouter, Price, RetryPolicy, TokenBucket
from investai.domain.idea_parts import ModelUse
from investai.domain.llm import (
    ModelError,
    ModelRefused,
    ModelRequest,
    ModelResponse,
    ModelThrottled,
    ModelUnavailable,
    TaskKind,
    Usage,
)
from tests.factories import SimClock

SONNET = "anthropic.claude-3-7-sonnet-20250219-v1:0"
HAIKU = "anthropic.claude-3-5-haiku-20241022-v1:0"
TEMPLATE = PromptTemplate(name="test.plan", version="3", task=TaskKind.REASONING, system="Plan.", user="Plan $what.")


def request() -> ModelRequest:
    return TEMPLATE.render(offline_answer="offline plan", what="a screen")


class Scripted:
    """A provider that plays a script of answers and errors, recording the models it was asked for."""

    def __init__(self, name: str, script: list[str | ModelError]) -> None:
        self.name = name
        self.script = list(script)
        self.calls: list[str] = []

    def complete(self, request: ModelRequest, *, model_id: str, timeout_s: float) -> ModelResponse:
        self.calls.append(model_id)
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, ModelError):
            raise step
        return ModelResponse(
            text=step, provider=self.name, model_id=model_id, usage=Usage(input_tokens=1000, output_tokens=500)
        )


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def record_model_call(self, use: ModelUse, outcome: str) -> None:
        self.calls.append((use.model_id, outcome))


def router(providers: dict[str, object], chain: list[ModelLink], clock: SimClock, **options: object) -> ModelRouter:
    return ModelRouter(
        providers=providers,  # type: ignore[arg-type]
        chains={TaskKind.REASONING: chain},
        offline=OfflineModelProvider(),
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        rng=random.Random(7),
        **options,  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------------------------------ token bucket


def _respects_bucket(starts: list[float], rate_per_minute: float, burst: int) -> bool:
    """No interval [t_i, t_j] holds more starts than the burst plus what the rate refills in it."""
    starts = sorted(starts)
    rate = rate_per_minute / 60
    return all(
        j - i + 1 <= burst + rate * (starts[j] - starts[i]) + 1e-6
        for i in range(len(starts))
        for j in range(i, min(len(starts), i + 400))
    )


def test_a_burst_of_calls_is_spread_to_the_rate() -> None:
    clock = SimClock()
    provider = Scripted("bedrock", [])
    routed = router({"bedrock": provider}, [ModelLink("bedrock", SONNET)], clock, requests_per_minute=1000, burst=50)
    starts = []
    for _ in range(1500):
        routed.complete(request(), step="plan")
        starts.append(clock.now)
    assert len(provider.calls) == 1500
    assert starts[49] == 0.0
    assert starts[50] > 0.0
    assert clock.now == pytest.approx((1500 - 50) / (1000 / 60))  # then exactly the rate
    assert sum(1 for start in starts if start < 60.0) <= 1000 + 50
    assert _respects_bucket(starts, 1000, 50)


def test_concurrent_reservations_never_exceed_the_rate() -> None:
    clock = SimClock()
    clock.now = 100.0
    bucket = TokenBucket(1000, 20, clock.monotonic)
    starts: list[float] = []
    lock = threading.Lock()

    def burst() -> None:
        for _ in range(100):
            wait = bucket.reserve()
            with lock:
                starts.append(clock.now + wait)

    threads = [threading.Thread(target=burst) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(starts) == 800
    assert sorted(starts)[19] == 100.0
    assert sorted(starts)[20] > 100.0
    assert _respects_bucket(starts, 1000, 20)


def test_buckets_are_per_model() -> None:
    clock = SimClock()
    routed = router({"bedrock": Scripted("bedrock", [])}, [ModelLink("bedrock", SONNET)], clock, burst=1)
    assert routed.bucket(SONNET).reserve() == 0.0
    assert routed.bucket(HAIKU).reserve() == 0.0
    assert routed.bucket(SONNET).reserve() > 0.0


def test_a_wait_longer_than_allowed_falls_back_instead_of_blocking() -> None:
    clock = SimClock()
    provider = Scripted("bedrock", [])
    routed = router(
        {"bedrock": provider},
        [ModelLink("bedrock", SONNET)],
        clock,
        requests_per_minute=60,
        burst=1,
        max_wait_s=0.5,
        retry=RetryPolicy(max_attempts=1),
    )
    assert routed.complete(request(), step="plan").response.provider == "bedrock"
    answer = routed.complete(request(), step="plan")
    assert answer.response.offline
    assert answer.fell_back
    assert "local rate limit" in answer.failures[0]
    assert clock.sleeps == []


# ------------------------------------------------------------------------------------------ retries and fallback


def test_throttling_is_retried_with_jittered_exponential_backoff() -> None:
    clock = SimClock()
    provider = Scripted("bedrock", [ModelThrottled("slow"), ModelUnavailable("503"), "answer"])
    routed = router(
        {"bedrock": provider},
        [ModelLink("bedrock", SONNET)],
        clock,
        retry=RetryPolicy(max_attempts=4, backoff_base_s=0.5, backoff_max_s=20.0),
    )
    answer = routed.complete(request(), step="plan")
    assert answer.response.text == "answer"
    assert not answer.fell_back
    assert provider.calls == [SONNET] * 3
    assert len(clock.sleeps) == 2
    assert 0.0 <= clock.sleeps[0] <= 0.5
    assert 0.0 <= clock.sleeps[1] <= 1.0


def test_backoff_is_capped() -> None:
    clock = SimClock()
    provider = Scripted("bedrock", [ModelThrottled("slow")] * 7 + ["answer"])
    routed = router(
        {"bedrock": provider},
        [ModelLink("bedrock", SONNET)],
        clock,
        retry=RetryPolicy(max_attempts=8, backoff_base_s=1.0, backoff_max_s=4.0),
    )
    assert routed.complete(request(), step="plan").response.text == "answer"
    assert max(clock.sleeps) <= 4.0
    assert len(clock.sleeps) == 7


def test_persistent_failure_moves_down_the_chain_to_offline() -> None:
    clock = SimClock()
    primary = Scripted("bedrock", [ModelUnavailable("503")] * 10)
    recorder = Recorder()
    routed = router(
        {"bedrock": primary},
        [ModelLink("bedrock", SONNET), ModelLink("bedrock", HAIKU)],
        clock,
        retry=RetryPolicy(max_attempts=3),
        metrics=recorder,
    )
    answer = routed.complete(request(), step="plan")
    assert primary.calls == [SONNET] * 3 + [HAIKU] * 3
    assert answer.response.offline
    assert answer.response.text == "offline plan"
    assert answer.use.offline
    assert answer.use.provider == "offline"
    assert len(answer.failures) == 2
    assert recorder.calls.count((SONNET, "model_unavailable")) == 3
    assert recorder.calls[-1] == ("offline-template-v1", "ok")


def test_a_refusal_is_not_retried() -> None:
    clock = SimClock()
    primary = Scripted("bedrock", [ModelRefused("validation")])
    fallback = Scripted("openai", ["from the second model"])
    routed = router(
        {"bedrock": primary, "openai": fallback},
        [ModelLink("bedrock", SONNET), ModelLink("openai", "llama3.1:8b")],
        clock,
    )
    answer = routed.complete(request(), step="plan")
    assert primary.calls == [SONNET]
    assert answer.response.text == "from the second model"
    assert answer.failures == [f"bedrock:{SONNET}: validation"]
    assert clock.sleeps == []


def test_usage_cost_and_prompt_are_recorded() -> None:
    clock = SimClock()
    routed = router(
        {"bedrock": Scripted("bedrock", ["x"])},
        [ModelLink("bedrock", SONNET)],
        clock,
        prices={SONNET: Price(input_per_1k=0.003, output_per_1k=0.015)},
    )
    rendered = request()
    use = routed.complete(rendered, step="plan").use
    assert (use.input_tokens, use.output_tokens) == (1000, 500)
    assert use.cost_usd == pytest.approx(0.003 + 0.0075)
    assert (use.prompt_template, use.prompt_version, use.prompt_hash) == ("test.plan", "3", rendered.prompt.sha256)
    assert use.step == "plan"
    assert not use.offline


def test_a_task_without_a_chain_is_answered_offline() -> None:
    clock = SimClock()
    routed = router({}, [], clock)
    fast = PromptTemplate(name="t.fast", version="1", task=TaskKind.FAST, system="s", user="u")
    assert routed.complete(fast.render(offline_answer="o"), step="research").response.offline


def test_unknown_provider_in_a_chain_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown providers"):
        router({}, [ModelLink("bedrock", SONNET)], SimClock())


# ------------------------------------------------------------------------------------------ Bedrock, stubbed


@pytest.fixture
def bedrock() -> Iterator[tuple[BedrockModelProvider, Stubber]]:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    with Stubber(client) as stubber:
        yield BedrockModelProvider(client), stubber
        stubber.assert_no_pending_responses()


def _ok(text: str) -> dict[str, object]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 200, "outputTokens": 80, "totalTokens": 280},
        "metrics": {"latencyMs": 900},
    }


def test_bedrock_throttling_then_success(bedrock: tuple[BedrockModelProvider, Stubber]) -> None:
    provider, stubber = bedrock
    rendered = request()
    expected = converse_arguments(rendered, SONNET)
    stubber.add_client_error("converse", "ThrottlingException", "Rate exceeded", 429, expected_params=expected)
    stubber.add_client_error("converse", "ThrottlingException", "Rate exceeded", 429, expected_params=expected)
    stubber.add_response("converse", _ok("a plan from Claude"), expected_params=expected)
    clock = SimClock()
    routed = router({"bedrock": provider}, [ModelLink("bedrock", SONNET)], clock)
    answer = routed.complete(rendered, step="plan")
    assert answer.response.text == "a plan from Claude"
    assert not answer.fell_back
    assert (answer.use.input_tokens, answer.use.output_tokens, answer.use.latency_ms) == (200, 80, 900.0)
    assert len(clock.sleeps) == 2


def test_bedrock_persistent_failure_falls_back(bedrock: tuple[BedrockModelProvider, Stubber]) -> None:
    provider, stubber = bedrock
    rendered = request()
    for model in (SONNET, HAIKU):
        for _ in range(2):
            stubber.add_client_error(
                "converse",
                "ServiceUnavailableException",
                "down",
                503,
                expected_params=converse_arguments(rendered, model),
            )
    routed = router(
        {"bedrock": provider},
        [ModelLink("bedrock", SONNET), ModelLink("bedrock", HAIKU)],
        SimClock(),
        retry=RetryPolicy(max_attempts=2),
    )
    answer = routed.complete(rendered, step="plan")
    assert answer.response.offline
    assert answer.response.text == "offline plan"
    assert [failure.split(":")[0] for failure in answer.failures] == ["bedrock", "bedrock"]


# ------------------------------------------------------------------------------------------ wiring from settings


def test_settings_choose_the_chains_and_prices() -> None:
    from investai.bootstrap import build_model_router
    from investai.config import Settings
    from investai.observability.metrics import Metrics

    offline = build_model_router(Settings(_env_file=None), metrics=Metrics())
    assert offline.chain(TaskKind.REASONING) == []
    settings = Settings(_env_file=None, model_provider="bedrock", model_reasoning=SONNET, model_fast=HAIKU)
    metrics = Metrics()
    routed = build_model_router(settings, metrics=metrics)
    assert routed.chain(TaskKind.REASONING) == [ModelLink("bedrock", SONNET), ModelLink("bedrock", HAIKU)]
    assert routed.chain(TaskKind.FAST) == [ModelLink("bedrock", HAIKU)]
    assert routed.chain(TaskKind.QUANTITATIVE)[-1] == ModelLink("bedrock", HAIKU)
    scripted = build_model_router(settings, metrics=metrics, providers={"bedrock": Scripted("bedrock", ["x"])})
    use = scripted.complete(request(), step="plan").use
    assert use.cost_usd == 0.0  # no price for this id in the table: cost unknown is recorded as zero
    text = metrics.render().decode()
    assert f'investai_model_calls_total{{model="{SONNET}",outcome="ok",provider="bedrock"}} 1.0' in text
    assert f'investai_model_tokens_total{{direction="input",model="{SONNET}"}} 1000.0' in text
