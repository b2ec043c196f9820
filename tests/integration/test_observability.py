"""Traces, logs and metrics agree on the request: one span per request, ids in every log line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings, TracingExporter
from investai.observability.logging import configure_logging
from investai.observability.tracing import build_tracer_provider
from investai.server import create_app
from tests.conftest import Account


@pytest.fixture
def container(settings: Settings, clock: FakeClock) -> Iterator[Container]:
    """Spans are recorded only when an exporter is configured; the console one is the simplest."""
    built = build_container(settings.model_copy(update={"tracing_exporter": TracingExporter.CONSOLE}), clock=clock)
    yield built
    built.close()


@pytest.fixture
def spans(container: Container) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    container.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def logs() -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level="INFO", json=True, stream=stream)
    return stream


@pytest.fixture
def client(container: Container, logs: io.StringIO) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


def request_logs(logs: io.StringIO) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "http.request"]


def test_each_request_is_one_server_span_named_by_route(
    client: TestClient, spans: InMemorySpanExporter, analyst: Account
) -> None:
    spans.clear()
    client.post("/api/v1/ideas/requests/validate", json={}, headers=analyst.headers)
    finished = spans.get_finished_spans()
    assert [span.name for span in finished] == ["POST /api/v1/ideas/requests/validate"]
    assert finished[0].attributes is not None
    assert finished[0].attributes["http.status_code"] == 200


def test_an_incoming_traceparent_continues_the_callers_trace(
    client: TestClient, spans: InMemorySpanExporter, logs: io.StringIO
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    client.get("/health", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    (span,) = spans.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == trace_id
    (line,) = request_logs(logs)
    assert line["trace_id"] == trace_id


def test_log_lines_carry_request_and_trace_ids(client: TestClient, logs: io.StringIO) -> None:
    response = client.get("/health", headers={"X-Request-ID": "req-0001-abcd"})
    (line,) = request_logs(logs)
    assert line["request_id"] == "req-0001-abcd" == response.headers["x-request-id"]
    assert isinstance(line["trace_id"], str)
    assert len(line["trace_id"]) == 32
    assert line["status"] == 200
    assert line["route"] == "/health"


def test_console_exporter_is_selected_by_setting(tmp_path: object) -> None:
    settings = Settings(_env_file=None, tracing_exporter="console")
    provider = build_tracer_provider(
        service_name="investai", exporter=settings.tracing_exporter.value, otlp_endpoint="", version="test"
    )
    processors = provider._active_span_processor._span_processors  # the SDK exposes no public accessor
    assert [type(p).__name__ for p in processors] == ["SimpleSpanProcessor"]
    provider.shutdown()


def test_no_exporter_by_default_records_nothing_but_keeps_trace_ids() -> None:
    provider = build_tracer_provider(service_name="investai", exporter="none", otlp_endpoint="", version="test")
    assert provider._active_span_processor._span_processors == ()
    with provider.get_tracer("t").start_as_current_span("request") as span:
        assert not span.is_recording()
        assert span.get_span_context().is_valid  # log lines still get a trace id
    provider.shutdown()


def test_with_no_exporter_requests_keep_trace_ids_and_continue_the_callers_trace(
    settings: Settings, clock: FakeClock, logs: io.StringIO
) -> None:
    """With no exporter the middleware skips the span machinery, but every log line still has a trace id: the
    caller's when it sent a ``traceparent``, a fresh one per request otherwise."""
    built = build_container(settings, clock=clock)
    exporter = InMemorySpanExporter()
    built.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    caller = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        with TestClient(create_app(built), base_url="http://127.0.0.1") as client:
            client.get("/health", headers={"traceparent": f"00-{caller}-00f067aa0ba902b7-01"})
            client.get("/health")
            client.get("/health")
    finally:
        built.close()
    assert exporter.get_finished_spans() == ()
    first, second, third = (line["trace_id"] for line in request_logs(logs))
    assert first == caller
    assert isinstance(second, str)
    assert isinstance(third, str)
    assert len(second) == len(third) == 32
    assert len({first, second, third}) == 3
