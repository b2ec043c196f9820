"""A Lambda invocation continues the X-Ray trace Lambda hands it (``_X_AMZN_TRACE_ID``) and sends its spans
before the handler returns (Lambda freezes the environment then)."""

from __future__ import annotations

from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from investai.aws_lambda.runtime import LambdaRuntime
from investai.config import Settings, TracingExporter
from investai.observability.tracing import current_trace_id

XRAY_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_an_invocation_continues_lambdas_trace_and_flushes_its_spans(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "var", tracing_exporter=TracingExporter.CONSOLE)
    runtime = LambdaRuntime(settings_loader=lambda: settings)
    try:
        container = runtime.container()
        exporter = InMemorySpanExporter()
        # a batch that would wait a minute before sending: only the end of the invocation sends it sooner
        container.tracer_provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
        tracer = container.tracer_provider.get_tracer("test")
        with runtime.invocation({"_X_AMZN_TRACE_ID": XRAY_HEADER}):
            assert current_trace_id() == "5759e988bd862e3fe1be46a994272793"
            with tracer.start_as_current_span("handled"):
                pass
            assert exporter.get_finished_spans() == ()
        (span,) = exporter.get_finished_spans()
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == "53995c3f42cd8ad8"
        assert current_trace_id() is None  # the invocation's trace ends with it
        assert not trace.get_current_span().get_span_context().is_valid
    finally:
        runtime.reset()
