"""OpenTelemetry tracing. The exporter is off by default; console or OTLP/HTTP by setting.

Trace context travels in three ways: W3C ``traceparent``/``tracestate`` (and ``baggage``) headers, AWS X-Ray's
``X-Amzn-Trace-Id`` header (and, inside a Lambda invocation, the ``_X_AMZN_TRACE_ID`` variable that carries
it), and the ``trace`` field of a job's payload, so a job continues the trace of the request that enqueued it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import Getter, TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACE_PAYLOAD_KEY = "trace"
"""The job payload field holding the W3C trace context of the request that enqueued the job."""
LAMBDA_TRACE_VARIABLE = "_X_AMZN_TRACE_ID"
"""Where Lambda puts the X-Ray trace header of the current invocation."""


def build_tracer_provider(
    *,
    service_name: str,
    exporter: str,
    otlp_endpoint: str,
    version: str,
    id_format: str = "w3c",
    span_processors: Sequence[SpanProcessor] = (),
) -> TracerProvider:
    """A provider of our own (not the global one), so every Container carries its own tracing.

    With no exporter and no ``span_processors`` nothing would read a span, so none is recorded: the sampler is
    off, and spans still carry a valid context (an incoming trace is continued) so log lines keep their trace
    ids. Otherwise the caller's sampling decision is followed, and a trace that starts here is sampled.
    ``id_format`` ``xray`` makes trace ids AWS X-Ray accepts (the first 8 hex digits are the start time);
    ``span_processors`` are added after the exporter's (an in-memory exporter in tests, for one)."""
    resource = Resource.create({"service.name": service_name, "service.version": version})
    recording = exporter != "none" or bool(span_processors)
    sampler = ParentBased(ALWAYS_ON) if recording else ALWAYS_OFF
    provider = TracerProvider(resource=resource, sampler=sampler, id_generator=_id_generator(id_format))
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    for processor in span_processors:
        provider.add_span_processor(processor)
    return provider


def _id_generator(id_format: str) -> IdGenerator:
    if id_format == "xray":
        from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator

        return AwsXRayIdGenerator()
    if id_format != "w3c":
        raise ValueError(f"unknown trace id format {id_format!r}: w3c or xray")
    return RandomIdGenerator()


def get_tracer(provider: TracerProvider, name: str) -> Tracer:
    return provider.get_tracer(name)


def current_trace_id() -> str | None:
    """The active span's trace id as 32 hex digits, or None outside a span."""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


@functools.cache
def propagator() -> TextMapPropagator:
    """X-Ray, then W3C trace context and baggage: when a request carries both trace headers, ``traceparent``
    (set by the caller) wins over ``X-Amzn-Trace-Id`` (which a load balancer may add on its own)."""
    return CompositePropagator([AwsXRayPropagator(), TraceContextTextMapPropagator(), W3CBaggagePropagator()])


@functools.cache
def header_fields() -> frozenset[bytes]:
    """The trace headers :func:`extract_headers` reads, lower-cased as ASGI scopes carry them."""
    return frozenset(field.lower().encode("latin-1") for field in propagator().fields)


class _LowerCaseGetter(Getter[Mapping[str, str]]):
    """Reads a carrier whose keys are lower-case header names, whatever the case a propagator asks in."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key.lower())
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier)


_GETTER = _LowerCaseGetter()


def extract_headers(headers: Mapping[str, str], context: otel_context.Context | None = None) -> otel_context.Context:
    """The trace context the headers carry (``traceparent``, ``X-Amzn-Trace-Id``, in any letter case), on top of
    ``context`` (by default an empty one); ``context`` itself when they carry none that is valid."""
    lowered = {key.lower(): value for key, value in headers.items()}
    return propagator().extract(lowered, context=context, getter=_GETTER)


def lambda_invocation_context(environ: Mapping[str, str]) -> otel_context.Context:
    """The trace of the current Lambda invocation (``_X_AMZN_TRACE_ID``), else the current context."""
    header = environ.get(LAMBDA_TRACE_VARIABLE)
    current = otel_context.get_current()
    return extract_headers({"x-amzn-trace-id": header}, current) if header else current


def trace_payload() -> dict[str, dict[str, str]]:
    """``{"trace": {"traceparent": ...}}`` for the current span, to put in a job's payload; empty outside a span."""
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return {TRACE_PAYLOAD_KEY: carrier} if carrier else {}


def job_context(payload: Mapping[str, Any]) -> otel_context.Context:
    """The trace a job continues: the one its payload carries (see :func:`trace_payload`), else the current one
    (on Lambda, the invocation's)."""
    carried = payload.get(TRACE_PAYLOAD_KEY)
    if not isinstance(carried, Mapping):
        return otel_context.get_current()
    fields = {str(key): value for key, value in carried.items() if isinstance(value, str)}
    return TraceContextTextMapPropagator().extract(fields, context=otel_context.get_current())
