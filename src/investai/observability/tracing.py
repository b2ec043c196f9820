"""OpenTelemetry tracing. The exporter is off by default; console or OTLP/HTTP by setting."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace import Tracer


def build_tracer_provider(*, service_name: str, exporter: str, otlp_endpoint: str, version: str) -> TracerProvider:
    """A provider of our own (not the global one), so every Container carries its own tracing."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name, "service.version": version}))
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    return provider


def get_tracer(provider: TracerProvider, name: str) -> Tracer:
    return provider.get_tracer(name)


def current_trace_id() -> str | None:
    """The active span's trace id as 32 hex digits, or None outside a span."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None
