"""Per-request context: a request id, a trace span, a structured log line and metrics for every
request, and the last-resort handler that turns an unexpected exception into a JSON 500."""

from __future__ import annotations

import json
import random
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from investai.http.errors import error_body
from investai.observability.logging import bind_context, clear_context, get_logger
from investai.observability.metrics import Metrics
from investai.observability.tracing import current_trace_id, extract_headers, header_fields

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")

log = get_logger("investai.http")


def _incoming_context(scope: Scope) -> otel_context.Context:
    """The trace context a caller propagated (``traceparent``, ``tracestate``, ``baggage``, or AWS X-Ray's
    ``X-Amzn-Trace-Id``), or the current one when the request carries none of those headers — most requests,
    which skip the extraction (on Lambda the current one is the invocation's trace)."""
    fields = header_fields()
    carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"] if key in fields}
    current = otel_context.get_current()
    return extract_headers(carrier, current) if carrier else current


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


@contextmanager
def _unrecorded_span(context: otel_context.Context) -> Iterator[Span]:
    """What the SDK makes of a span its sampler drops — a non-recording span that continues the caller's
    trace or starts a new trace id — without the sampler and span machinery, for when no exporter is set
    and nothing would ever read a recorded span. Log lines still carry the trace id, and calls made while
    handling the request still propagate it."""
    parent = trace.get_current_span(context).get_span_context()
    span = NonRecordingSpan(
        SpanContext(
            trace_id=parent.trace_id if parent.is_valid else random.getrandbits(128) or 1,
            span_id=random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=parent.trace_flags if parent.is_valid else TraceFlags(TraceFlags.DEFAULT),
        )
    )
    token = otel_context.attach(trace.set_span_in_context(span, context))
    try:
        yield span
    finally:
        otel_context.detach(token)


class RequestContextMiddleware:
    """``record_spans`` false (no trace exporter configured) skips the SDK's span machinery; see
    :func:`_unrecorded_span`."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, tracer: Tracer, record_spans: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracer
        self.record_spans = record_spans
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    @contextmanager
    def _server_span(self, name: str, scope: Scope) -> Iterator[Span]:
        context = _incoming_context(scope)
        if not self.record_spans:
            with _unrecorded_span(context) as span:
                yield span
            return
        token = otel_context.attach(context)
        try:
            with self.tracer.start_as_current_span(name, kind=SpanKind.SERVER) as span:
                yield span
        finally:
            otel_context.detach(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        supplied = headers.get(REQUEST_ID_HEADER, b"")
        request_id = supplied.decode() if _SAFE_REQUEST_ID.match(supplied) else secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        method = scope["method"]
        try:
            with self._server_span(f"{method} {scope['path']}", scope) as span:
                clear_context()
                bind_context(request_id=request_id, trace_id=current_trace_id())
                try:
                    await self.app(scope, receive, send_with_id)
                except Exception:
                    span.set_status(Status(StatusCode.ERROR))
                    log.exception("http.unhandled_exception", path=scope["path"], method=method)
                    if not status_holder["started"]:
                        await _internal_error(send_with_id, request_id)
                route = _route_label(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.status_code", status_holder["status"])
                self._observe(scope, method, route, status_holder["status"], started)
        finally:
            clear_context()

    def _observe(self, scope: Scope, method: str, route: str, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labelled children looked up once per (method, route, status)
            children = (
                self.metrics.http_requests.labels(method, route, str(status)),
                self.metrics.http_latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)
        if status >= 400:
            code = scope.get("state", {}).get("error_code", "error")
            self.metrics.http_errors.labels(route, str(status), code).inc()
        level = "warning" if status >= 500 else "info"
        getattr(log, level)(
            "http.request",
            method=method,
            path=scope["path"],
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 3),
        )


async def _internal_error(send: Send, request_id: str) -> None:
    body = json.dumps(error_body(500, "internal server error", request_id)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
