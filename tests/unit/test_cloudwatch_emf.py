"""Model cost, tokens and errors as CloudWatch Embedded Metric Format on Lambda: the exact lines the product writes
to stdout, which CloudWatch Logs turns into ``InvestmentAI/ModelCostUSD`` (no dimensions: the series the CDK app's
``model-cost`` alarm watches, see tests/infra/test_monitoring.py), ``InvestmentAI/ModelTokens`` by ``Direction``
and ``InvestmentAI/ModelErrors`` (no dimensions: the ``model-errors`` alarm's series)."""

from __future__ import annotations

import io
import json
import math
import random
from typing import Any

import pytest

from investai.agents.prompts import PromptTemplate
from investai.agents.router import ModelLink, ModelRouter, Price
from investai.domain.idea_parts import ModelUse
from investai.domain.llm import ModelRequest, ModelResponse, ModelThrottled, TaskKind, Usage
from investai.observability.metrics import EmbeddedMetricWriter, Metrics

SONNET = "anthropic.claude-3-7-sonnet-20250219-v1:0"
NOW = 1_767_225_600.25  # 2026-01-01T00:00:00.25Z
TEMPLATE = PromptTemplate(name="test.plan", version="1", task=TaskKind.REASONING, system="Plan.", user="Plan $what.")


def use(**fields: Any) -> ModelUse:
    defaults: dict[str, Any] = {
        "step": "plan",
        "provider": "bedrock",
        "model_id": SONNET,
        "input_tokens": 1200,
        "output_tokens": 340,
        "cost_usd": 0.0087,
        "latency_ms": 950.0,
    }
    return ModelUse.model_validate({**defaults, **fields})


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def directive(document: dict[str, Any]) -> dict[str, Any]:
    (only,) = document["_aws"]["CloudWatchMetrics"]
    return only


@pytest.fixture
def on_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "investai-prod-processing")


@pytest.fixture
def off_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)


def test_on_lambda_a_model_call_writes_its_cost_without_dimensions_to_stdout(
    on_lambda: None, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = Metrics()
    metrics.record_model_call(use(), "ok")
    cost, input_tokens, output_tokens = lines(capsys.readouterr().out)

    assert directive(cost) == {
        "Namespace": "InvestmentAI",
        "Dimensions": [[]],  # an empty dimension set: the metric has no dimensions, as the alarm's has none
        "Metrics": [{"Name": "ModelCostUSD", "Unit": "None"}],
    }
    assert cost["ModelCostUSD"] == pytest.approx(0.0087)
    assert isinstance(cost["_aws"]["Timestamp"], int)
    assert cost["model"] == SONNET  # a property for Logs Insights, not a dimension
    assert set(cost) == {"_aws", "ModelCostUSD", "model"}

    for document, direction, tokens in ((input_tokens, "input", 1200), (output_tokens, "output", 340)):
        assert directive(document) == {
            "Namespace": "InvestmentAI",
            "Dimensions": [["Direction"]],
            "Metrics": [{"Name": "ModelTokens", "Unit": "Count"}],
        }
        assert document["Direction"] == direction
        assert document["ModelTokens"] == tokens
    # the Prometheus counters are kept as before
    assert metrics.totals("investai_model_cost_usd_total") == {(): pytest.approx(0.0087)}


def test_the_document_shape_and_timestamp_in_milliseconds() -> None:
    stream = io.StringIO()
    EmbeddedMetricWriter(stream, clock=lambda: NOW).put("ModelCostUSD", 0.5, "None")
    (document,) = lines(stream.getvalue())
    assert document == {
        "_aws": {
            "Timestamp": 1_767_225_600_250,
            "CloudWatchMetrics": [
                {"Namespace": "InvestmentAI", "Dimensions": [[]], "Metrics": [{"Name": "ModelCostUSD", "Unit": "None"}]}
            ],
        },
        "ModelCostUSD": 0.5,
    }
    assert stream.getvalue().count("\n") == 1  # one JSON document per line, as CloudWatch Logs needs it


def test_off_lambda_nothing_is_written(off_lambda: None, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = Metrics()
    assert metrics.embedded is None
    metrics.record_model_call(use(), "ok")
    assert capsys.readouterr().out == ""
    assert metrics.totals("investai_model_calls_total", "outcome") == {("ok",): 1.0}


def test_failed_calls_cost_nothing_and_write_one_error(on_lambda: None, capsys: pytest.CaptureFixture[str]) -> None:
    Metrics().record_model_call(use(input_tokens=0, output_tokens=0, cost_usd=0.0), "model_throttled")
    (document,) = lines(capsys.readouterr().out)
    assert directive(document) == {
        "Namespace": "InvestmentAI",
        "Dimensions": [[]],
        "Metrics": [{"Name": "ModelErrors", "Unit": "Count"}],
    }
    assert document["ModelErrors"] == 1
    assert (document["model"], document["outcome"]) == (SONNET, "model_throttled")  # properties, not dimensions


def test_values_emf_cannot_carry_are_dropped() -> None:
    stream = io.StringIO()
    writer = EmbeddedMetricWriter(stream)
    writer.put("ModelCostUSD", math.nan, "None")
    writer.put("ModelCostUSD", math.inf, "None")
    assert stream.getvalue() == ""


def test_a_closed_stdout_loses_the_datapoint_not_the_call() -> None:
    stream = io.StringIO()
    stream.close()
    metrics = Metrics(embedded=EmbeddedMetricWriter(stream))
    metrics.record_model_call(use(), "ok")  # no exception
    assert metrics.totals("investai_model_calls_total", "outcome") == {("ok",): 1.0}


def test_for_lambda_reads_the_runtimes_variable() -> None:
    assert EmbeddedMetricWriter.for_lambda({}) is None
    assert EmbeddedMetricWriter.for_lambda({"AWS_LAMBDA_FUNCTION_NAME": ""}) is None
    assert isinstance(EmbeddedMetricWriter.for_lambda({"AWS_LAMBDA_FUNCTION_NAME": "f"}), EmbeddedMetricWriter)


class _Priced:
    name = "bedrock"

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)

    def complete(self, request: ModelRequest, *, model_id: str, timeout_s: float) -> ModelResponse:
        if self.failures:
            raise self.failures.pop(0)
        return ModelResponse(
            text="plan", provider="bedrock", model_id=model_id, usage=Usage(input_tokens=2000, output_tokens=1000)
        )


def test_the_routers_priced_call_reaches_cloudwatch_once(on_lambda: None, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the model router: the throttled attempt writes one error, the successful one its priced cost."""
    from investai.adapters.models.offline import OfflineModelProvider

    router = ModelRouter(
        providers={"bedrock": _Priced(ModelThrottled("slow down"))},
        chains={TaskKind.REASONING: [ModelLink("bedrock", SONNET)]},
        offline=OfflineModelProvider(),
        prices={SONNET: Price(input_per_1k=0.003, output_per_1k=0.015)},
        metrics=Metrics(),
        sleep=lambda _: None,
        rng=random.Random(1),
    )
    router.complete(TEMPLATE.render(offline_answer="offline", what="a screen"), step="plan")
    documents = lines(capsys.readouterr().out)
    assert [(d["ModelErrors"], d["outcome"]) for d in documents if "ModelErrors" in d] == [(1, "model_throttled")]
    costs = [document for document in documents if "ModelCostUSD" in document]
    assert [document["ModelCostUSD"] for document in costs] == [pytest.approx(2 * 0.003 + 1 * 0.015)]
    assert sorted((d["Direction"], d["ModelTokens"]) for d in documents if "ModelTokens" in d) == [
        ("input", 2000),
        ("output", 1000),
    ]
