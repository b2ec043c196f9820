"""OpenTelemetry tracing. The exporter is off by default; console or OTLP/HTTP by setting."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import Tracer


def build_tracer_provider(*, service_name: str, exporter: str, otlp_endpoint: str, version: str) -> TracerProvider:
    """A provider of our own (not the global one), so every Container carries its own tracing. With no
    exporter nothing would read a span, so none is recorded: the sampler is off, and spans still carry a
    valid context (an incoming ``traceparent`` is continued) so log lines keep their trace ids."""
    resource = Resource.create({"service.name": service_name, "service.version": version})
    sampler = ALWAYS_OFF if exporter == "none" else ParentBased(ALWAYS_ON)
    provider = TracerProvider(resource=resource, sampler=sampler)
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
