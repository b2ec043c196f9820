"""One idea request is one trace: the API request, the service call, the job the worker runs, every agent step,
every model call and the store operations, on the sample data, with the models behind an OpenAI-compatible
server on 127.0.0.1 that answers plain-text prompts (with token counts) and refuses the rest, so those fall back
to the offline provider. The trace id is in every log line of the run and in every agent message; an incoming
``X-Amzn-Trace-Id`` or ``traceparent`` is continued; with no exporter nothing is recorded yet the job's log
lines keep the request's trace id."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings, TracingExporter
from investai.domain.access import Principal
from investai.domain.jobs import Job
from investai.domain.users import Role
from investai.jobs.worker import Worker
from investai.observability.logging import configure_logging, get_logger
from investai.ports.knowledge import Embedder
from investai.server import create_app
from investai.services.auth_common import CallContext
from investai.services.idea_requests import JOB_KIND
from tests.conftest import Account, drain, sign_up
from tests.model_server import Reply, Seen, completion, error, model_server

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
ORG = "org_traced"
AGENTS = {"supervisor", "planning", "research", "analysis", "compliance", "synthesis"}
REQUEST = {"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 2}
XRAY_ROOT = "1-65940c4a-3f1e2d3c4b5a69788796a5b4"
XRAY_PARENT = "53995c3f42cd8ad8"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def answer_text_refuse_json(seen: Seen) -> Reply:
    """A plain-text prompt gets an answer with 120 prompt and 30 completion tokens; one that asks for JSON is
    refused (HTTP 400)."""
    if seen.wants_json:
        return error(400, "JSON answers are not served here")
    return completion(
        seen.model, "The passages say little beyond the figures.", prompt_tokens=120, completion_tokens=30
    )


@pytest.fixture(scope="module")
def chat_url() -> Iterator[str]:
    with model_server(answer_text_refuse_json) as server:
        yield server.url


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, chat_url: str) -> Iterator[Container]:
    """Spans are recorded only when an exporter is configured; the console one is the simplest."""
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("traced") / "var",
        tracing_exporter=TracingExporter.CONSOLE,
        model_provider="openai",
        openai_base_url=chat_url,
    )
    built = build_container(settings, clock=FakeClock(NOW), embedder=embedder)
    built.market.load_sample()
    assert built.knowledge.samples.ensure_loaded(ORG) > 0
    drain(built)
    yield built
    built.close()


@pytest.fixture(scope="module")
def spans(traced: Container) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    traced.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture(scope="module")
def client(traced: Container) -> Iterator[TestClient]:
    with TestClient(create_app(traced), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def requester(traced: Container) -> Account:
    return sign_up(traced, role=Role.ANALYST, organisation=ORG)


@pytest.fixture
def logs() -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level="INFO", json=True, stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def attribute(span: ReadableSpan, name: str) -> Any:
    return (span.attributes or {}).get(name)


def submit_and_run(
    client: TestClient, container: Container, account: Account, headers: dict[str, str] | None = None
) -> str:
    response = client.post("/api/v1/ideas/requests", headers={**account.headers, **(headers or {})}, json=REQUEST)
    assert response.status_code == 202, response.text
    assert drain(container) == 1
    return str(response.json()["request_id"])


def test_one_idea_request_is_one_trace_through_api_worker_agents_models_and_stores(
    client: TestClient, traced: Container, spans: InMemorySpanExporter, requester: Account, logs: io.StringIO
) -> None:
    spans.clear()
    request_id = submit_and_run(client, traced, requester)
    finished = spans.get_finished_spans()
    logged = lines(logs)

    (server,) = [span for span in finished if span.kind is SpanKind.SERVER]
    assert server.name == "POST /api/v1/ideas/requests"
    trace_id = hex_trace(server)
    assert {hex_trace(span) for span in finished} == {trace_id}

    by_name = {span.name: span for span in finished}
    submit, job, run = (
        by_name["idea_request_service.submit"],
        by_name["job ideas.generate"],
        by_name["idea_request_service.run"],
    )
    assert job.kind is SpanKind.CONSUMER
    assert submit.parent is not None
    assert submit.parent.span_id == server.context.span_id
    assert job.parent is not None
    assert job.parent.span_id == submit.context.span_id
    assert run.parent is not None
    assert run.parent.span_id == job.context.span_id

    agent_spans = [span for span in finished if attribute(span, "gen_ai.operation.name") == "invoke_agent"]
    assert {attribute(span, "gen_ai.agent.name") for span in agent_spans} == AGENTS
    assert {attribute(span, "gen_ai.conversation.id") for span in agent_spans} == {request_id}

    principal = Principal.acting_as(requester.user, actor="test", at=NOW)
    usage = traced.idea_requests.status(principal, CallContext(), request_id).usage
    model_spans = [span for span in finished if attribute(span, "gen_ai.operation.name") == "chat"]
    assert len(model_spans) == usage.calls > 0
    agent_ids = {span.context.span_id for span in agent_spans}
    assert all(span.parent is not None and span.parent.span_id in agent_ids for span in model_spans)
    assert sum(attribute(span, "gen_ai.usage.input_tokens") for span in model_spans) == usage.input_tokens
    assert sum(attribute(span, "gen_ai.usage.output_tokens") for span in model_spans) == usage.output_tokens
    assert sum(attribute(span, "investai.cost_usd") for span in model_spans) == pytest.approx(usage.cost_usd)
    answered = [span for span in model_spans if attribute(span, "gen_ai.provider.name") == "openai"]
    assert answered, "the plain-text prompts are answered by the server"
    assert usage.input_tokens == 120 * len(answered)
    assert usage.cost_usd > 0
    for span in answered:
        assert attribute(span, "gen_ai.response.model") == attribute(span, "gen_ai.request.model")
        assert attribute(span, "investai.cost_usd") > 0
        assert attribute(span, "investai.model.fallback") is False
    fell_back = [span for span in model_spans if attribute(span, "investai.model.fallback")]
    assert fell_back, "the prompts asking for JSON are refused and answered offline"
    for span in fell_back:
        assert attribute(span, "gen_ai.response.model") == "offline-template-v1"
        assert attribute(span, "investai.model.attempts") >= 2
        assert attribute(span, "investai.model.outcome") == "fallback"
        assert [event.name for event in span.events][-1] == "gen_ai.attempt"

    stores = {span.name for span in finished if attribute(span, "investai.layer") == "store"}
    assert {"market.bar_frame", "knowledge.passages", "search_index.search", "idea_requests.complete"} <= stores

    assert {"http.request", "job.finished"} <= {line["event"] for line in logged}
    product = [line for line in logged if "http://127.0.0.1/api/" not in line["event"]]  # not the test client's
    assert any("chat/completions" in line["event"] for line in product)  # the model server's HTTP client, too
    assert {line.get("trace_id") for line in product} == {trace_id}

    messages = client.get(f"/api/v1/ideas/requests/{request_id}/messages", headers=requester.headers).json()
    assert {message["sender"] for message in messages} >= AGENTS - {"synthesis"}
    assert {message["trace_id"] for message in messages} == {trace_id}


def test_an_xray_trace_header_is_continued_by_the_request_and_its_job(
    client: TestClient, traced: Container, spans: InMemorySpanExporter, requester: Account
) -> None:
    spans.clear()
    header = f"Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1"
    submit_and_run(client, traced, requester, {"X-Amzn-Trace-Id": header})
    finished = spans.get_finished_spans()
    (server,) = [span for span in finished if span.kind is SpanKind.SERVER]
    assert server.parent is not None
    assert f"{server.parent.span_id:016x}" == XRAY_PARENT
    assert {hex_trace(span) for span in finished} == {XRAY_ROOT[2:].replace("-", "")}
    assert any(span.name == "job ideas.generate" for span in finished)


def test_a_w3c_traceparent_is_continued(client: TestClient, spans: InMemorySpanExporter, requester: Account) -> None:
    spans.clear()
    traceparent = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"
    response = client.post(
        "/api/v1/ideas/requests/validate", headers={**requester.headers, "traceparent": traceparent}, json=REQUEST
    )
    assert response.status_code == 200
    (server,) = spans.get_finished_spans()
    assert hex_trace(server) == CALLER_TRACE


def test_without_an_exporter_a_jobs_log_lines_keep_the_trace_it_was_enqueued_under(
    container: Container, analyst: Account, logs: io.StringIO
) -> None:
    """No span is recorded (the sampler is off), but the job payload still carries the request's trace and
    every line the job logs names it."""
    exporter = InMemorySpanExporter()
    container.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    with TestClient(create_app(container), base_url="http://127.0.0.1") as client:
        response = client.post(
            "/api/v1/ideas/requests",
            headers={**analyst.headers, "traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"},
            json={"tickers": ["AAPL"], "max_ideas": 1},
        )
    assert response.status_code == 202, response.text
    carried: list[str] = []
    log = get_logger("test.job")

    def handler(job: Job) -> dict[str, Any]:
        log.info("test.job_ran")
        carried.append(job.payload["trace"]["traceparent"])
        return {}

    worker = Worker(records=container.jobs, handlers={JOB_KIND: handler}, visibility_timeout=timedelta(minutes=5))
    assert worker.run_once()
    assert carried
    assert carried[0].split("-")[1] == CALLER_TRACE
    job_lines = [line for line in lines(logs) if line["event"] in ("test.job_ran", "job.finished")]
    assert [line["event"] for line in job_lines] == ["test.job_ran", "job.finished"]
    assert {line["trace_id"] for line in job_lines} == {CALLER_TRACE}
    assert exporter.get_finished_spans() == ()


# -- document processing continues the trace of the change that queued it -----------------------------------------

EPS_CSV = b"ticker,eps,note\nAAPL,6.1,services mix\nMSFT,9.7,cloud\n"


def _change_and_its_job(
    client: TestClient, traced: Container, spans: InMemorySpanExporter, path: str, **sent: Any
) -> tuple[ReadableSpan, ReadableSpan, dict[str, Any]]:
    """POST ``path``, run the one processing job it queues: the request's server span, the job's span, the body."""
    spans.clear()
    response = client.post(path, **sent)
    assert response.status_code in (200, 201), response.text
    assert drain(traced) == 1
    finished = spans.get_finished_spans()
    (server,) = [span for span in finished if span.kind is SpanKind.SERVER]
    (job,) = [span for span in finished if span.name == "job documents.process"]
    assert {hex_trace(span) for span in finished} == {hex_trace(server)}, "one trace: the request and its job"
    assert job.kind is SpanKind.CONSUMER
    assert attribute(job, "investai.job.kind") == "documents.process"
    assert job.parent is not None
    assert job.parent.span_id == server.context.span_id
    return server, job, response.json()


def test_an_upload_and_its_processing_job_are_one_trace(
    client: TestClient, traced: Container, spans: InMemorySpanExporter, requester: Account, logs: io.StringIO
) -> None:
    headers = requester.headers
    server, _job, document = _change_and_its_job(
        client, traced, spans, "/api/v1/documents", headers=headers, files={"file": ("eps.csv", EPS_CSV)}
    )
    assert server.name == "POST /api/v1/documents"
    upload_trace = hex_trace(server)
    job_lines = [line for line in lines(logs) if line.get("job_kind") == "documents.process"]
    assert "job.finished" in {line["event"] for line in job_lines}
    assert {line.get("trace_id") for line in job_lines} == {upload_trace}
    assert traced.documents.get(document["id"]).status.value == "indexed"

    second = {"files": {"file": ("eps2.csv", EPS_CSV + b"JPM,4.2,rates\n")}}
    changes = [  # a new version and a restore: each job continues the trace of its own request
        (f"/api/v1/documents/{document['id']}/versions", second),
        (f"/api/v1/documents/{document['id']}/versions/1/restore", {}),
    ]
    traces = {upload_trace}
    for path, sent in changes:
        server, _job, _body = _change_and_its_job(client, traced, spans, path, headers=headers, **sent)
        assert server.name.startswith("POST /api/v1/documents/")
        traces.add(hex_trace(server))
    assert len(traces) == 3, "every change is a trace of its own"
