"""Tracing pieces on their own: the provider (sampler, id format, extra processors), trace headers (W3C and AWS
X-Ray, Lambda's variable), trace context through a job payload, spans around ports and jobs, model-call spans
of the router, and trace ids in log lines."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from investai.agents.router import ModelLink, Price, RetryPolicy
from investai.domain.llm import ModelRefused, ModelUnavailable
from investai.observability.logging import configure_logging, get_logger
from investai.observability.traced import traced, traced_jobs
from investai.observability.tracing import (
    build_tracer_provider,
    current_trace_id,
    extract_headers,
    job_context,
    lambda_invocation_context,
    trace_payload,
)
from tests.factories import SimClock
from tests.unit.agents.test_router import HAIKU, SONNET, Scripted, request, router

XRAY_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
XRAY_TRACE_ID = "5759e988bd862e3fe1be46a994272793"
XRAY_PARENT = "53995c3f42cd8ad8"
W3C_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
W3C_PARENT = "00f067aa0ba902b7"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    built = build_tracer_provider(
        service_name="investai",
        exporter="none",
        otlp_endpoint="",
        version="test",
        span_processors=[SimpleSpanProcessor(exporter)],
    )
    yield built
    built.shutdown()


def hex_trace(span_context: trace.SpanContext) -> str:
    return f"{span_context.trace_id:032x}"


# --- the provider ------------------------------------------------------------------------------------------------


def test_extra_span_processors_record_even_without_an_exporter(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with provider.get_tracer("t").start_as_current_span("work") as span:
        assert span.is_recording()
    assert [finished.name for finished in exporter.get_finished_spans()] == ["work"]


def test_xray_ids_start_with_the_time_and_w3c_ids_are_random() -> None:
    xray = build_tracer_provider(service_name="s", exporter="none", otlp_endpoint="", version="t", id_format="xray")
    w3c = build_tracer_provider(service_name="s", exporter="none", otlp_endpoint="", version="t", id_format="w3c")
    now = int(time.time())
    with xray.get_tracer("t").start_as_current_span("x") as span:
        seconds = int(hex_trace(span.get_span_context())[:8], 16)
    assert now - 5 <= seconds <= now + 5
    starts = set()
    for _ in range(5):
        with w3c.get_tracer("t").start_as_current_span("w") as span:
            starts.add(int(hex_trace(span.get_span_context())[:8], 16))
    assert not all(now - 5 <= start <= now + 5 for start in starts)
    with pytest.raises(ValueError, match="trace id format"):
        build_tracer_provider(service_name="s", exporter="none", otlp_endpoint="", version="t", id_format="uuid")


# --- trace headers -----------------------------------------------------------------------------------------------


def test_an_xray_header_in_any_letter_case_gives_its_root_and_parent() -> None:
    header = f"Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1"
    for name in ("X-Amzn-Trace-Id", "x-amzn-trace-id"):
        parent = trace.get_current_span(extract_headers({name: header})).get_span_context()
        assert hex_trace(parent) == XRAY_TRACE_ID
        assert f"{parent.span_id:016x}" == XRAY_PARENT
        assert parent.trace_flags.sampled


def test_traceparent_wins_over_an_xray_header() -> None:
    headers = {
        "x-amzn-trace-id": f"Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1",
        "traceparent": f"00-{W3C_TRACE_ID}-{W3C_PARENT}-01",
    }
    assert hex_trace(trace.get_current_span(extract_headers(headers)).get_span_context()) == W3C_TRACE_ID


def test_a_malformed_header_leaves_the_given_context() -> None:
    assert not trace.get_current_span(extract_headers({"x-amzn-trace-id": "Root=nonsense"})).get_span_context().is_valid


def test_the_lambda_variable_is_the_invocations_trace() -> None:
    environ = {"_X_AMZN_TRACE_ID": f"Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1"}
    token = otel_context.attach(lambda_invocation_context(environ))
    try:
        assert current_trace_id() == XRAY_TRACE_ID
    finally:
        otel_context.detach(token)
    assert not trace.get_current_span(lambda_invocation_context({})).get_span_context().is_valid


# --- through a job's payload -------------------------------------------------------------------------------------


def test_a_job_payload_carries_the_enqueuing_span_and_the_job_continues_it(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    assert trace_payload() == {}  # outside a span there is nothing to carry
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("submit") as submit:
        payload: dict[str, Any] = {"request_id": "ireq_1", **trace_payload()}
    assert json.loads(json.dumps(payload)) == payload  # stored as JSON
    handlers = traced_jobs({"ideas.generate": lambda job: current_trace_id()}, tracer=tracer)
    seen = handlers["ideas.generate"](Job(id="job_1", kind="ideas.generate", attempts=1, payload=payload))
    assert seen == hex_trace(submit.get_span_context())
    job_span = next(span for span in exporter.get_finished_spans() if span.name == "job ideas.generate")
    assert job_span.kind is SpanKind.CONSUMER
    assert job_span.parent is not None
    assert job_span.parent.span_id == submit.get_span_context().span_id
    assert job_span.attributes is not None
    assert job_span.attributes["investai.job.id"] == "job_1"


def test_a_payload_without_trace_continues_the_current_context() -> None:
    assert job_context({"request_id": "x"}) is otel_context.get_current()
    assert not trace.get_current_span(job_context({"trace": {"traceparent": "garbage"}})).get_span_context().is_valid


@dataclass
class Job:
    id: str
    kind: str
    attempts: int
    payload: dict[str, Any] = field(default_factory=dict)


# --- around a port -----------------------------------------------------------------------------------------------


class Store:
    """A stand-in adapter: one read, one write that fails, an attribute."""

    label = "store-1"

    def read(self, key: str) -> str:
        return f"value of {key}"

    def write(self, key: str) -> None:
        raise KeyError(key)

    def other(self) -> str:
        return "untraced"


def test_traced_operations_are_spans_and_everything_else_is_the_targets(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    store = traced(Store(), tracer=provider.get_tracer("t"), component="things", operations=("read", "write"))
    assert store.read("a") == "value of a"
    assert store.other() == "untraced"
    assert store.label == "store-1"
    with pytest.raises(KeyError):
        store.write("b")
    read, write = exporter.get_finished_spans()
    assert (read.name, write.name) == ("things.read", "things.write")
    assert read.attributes is not None
    assert dict(read.attributes) == {
        "investai.component": "things",
        "investai.operation": "read",
        "investai.implementation": "Store",
        "investai.layer": "store",
    }
    assert write.status.status_code is StatusCode.ERROR
    assert [event.name for event in write.events] == ["exception"]


def test_with_the_sampler_off_a_port_is_handed_over_unwrapped() -> None:
    off = build_tracer_provider(service_name="s", exporter="none", otlp_endpoint="", version="t")
    store = Store()
    assert traced(store, tracer=off.get_tracer("t"), component="things", operations=("read",)) is store
    assert traced(store, tracer=trace.NoOpTracer(), component="things", operations=("read",)) is store
    off.shutdown()


# --- model calls -------------------------------------------------------------------------------------------------


def test_a_model_call_is_one_span_with_its_attempts_tokens_and_cost(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    clock = SimClock()
    bedrock = Scripted("bedrock", [ModelUnavailable("503"), ModelRefused("no"), "ok"])
    routed = router(
        {"bedrock": bedrock},
        [ModelLink("bedrock", SONNET), ModelLink("bedrock", HAIKU)],
        clock,
        prices={HAIKU: Price(0.001, 0.005)},
        retry=RetryPolicy(max_attempts=3),
        tracer=provider.get_tracer("t"),
    )
    answer = routed.complete(request(), step="planning")
    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert span.name == f"chat {SONNET}"
    assert span.kind is SpanKind.CLIENT
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == SONNET
    assert attributes["gen_ai.response.model"] == HAIKU == answer.use.model_id
    assert attributes["gen_ai.provider.name"] == "bedrock"
    assert attributes["gen_ai.usage.input_tokens"] == 1000
    assert attributes["gen_ai.usage.output_tokens"] == 500
    assert attributes["investai.cost_usd"] == pytest.approx(0.0035) == answer.use.cost_usd
    assert attributes["investai.model.attempts"] == 3
    assert attributes["investai.model.fallback"] is True
    assert attributes["investai.model.outcome"] == "fallback"
    attempts = [dict(event.attributes or {}) for event in span.events]
    assert [
        (a["gen_ai.request.model"], a["investai.model.attempt"], a["investai.model.outcome"]) for a in attempts
    ] == [
        (SONNET, 1, "model_unavailable"),
        (SONNET, 2, "model_refused"),
        (HAIKU, 1, "ok"),
    ]
    assert [a["investai.model.chain_position"] for a in attempts] == [0, 0, 1]


def test_an_offline_answer_is_a_model_call_too(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    routed = router({}, [], SimClock(), tracer=provider.get_tracer("t"))
    routed.complete(request(), step="planning")
    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.provider.name"] == "offline"
    assert attributes["investai.model.offline"] is True
    assert attributes["investai.model.fallback"] is False
    assert attributes["investai.model.attempts"] == 1


# --- log lines ---------------------------------------------------------------------------------------------------


def test_log_lines_name_the_current_trace_and_span(provider: TracerProvider) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", json=True, stream=stream)
    log = get_logger("test")
    log.info("outside")
    with provider.get_tracer("t").start_as_current_span("work") as span:
        log.info("inside")
    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert "trace_id" not in outside
    assert inside["trace_id"] == hex_trace(span.get_span_context())
    assert inside["span_id"] == f"{span.get_span_context().span_id:016x}"
