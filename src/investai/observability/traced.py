"""Spans around the operations of a port or a service, and around jobs, put in place by the bootstrap: the code
that calls them still sees the port (or the service) and nothing of tracing.

With the sampler off (no exporter) nothing would ever be recorded: ports are then handed over unwrapped, at no
cost; a job still runs in a (non-recording) span, so its log lines keep the trace id it was enqueued under.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar, cast

from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NoOpTracer, SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from investai.observability.tracing import job_context

T = TypeVar("T")
R = TypeVar("R")

MARKET_READS = ("symbols", "symbol", "bar_frame")
"""Operations of :class:`~investai.ports.research.MarketReader` traced as store reads."""
EVIDENCE_SEARCHES = ("passages",)
"""... of :class:`~investai.ports.research.EvidenceSearch`."""
FUNDAMENTALS_READS = ("fundamentals",)
"""... of :class:`~investai.ports.research.FundamentalsReader`."""
INDEX_SEARCHES = ("search",)
"""... of :class:`~investai.ports.knowledge.SearchIndex`."""
IDEA_WRITES = ("add",)
"""... of :class:`~investai.ports.repositories.IdeaRepository` (every revision of an idea is an ``add``)."""
IDEA_REQUEST_WRITES = ("add", "complete")
"""... of :class:`~investai.ports.repositories.IdeaRequestRepository` (``complete`` stores the ideas)."""
IDEA_REQUEST_CALLS = ("submit", "generate_now", "run", "cancel")
"""The idea-request service's calls traced (``run`` is the generate-ideas job's)."""

COMPONENT = "investai.component"
OPERATION = "investai.operation"
IMPLEMENTATION = "investai.implementation"
LAYER = "investai.layer"


class _Traced:
    """Forwards every attribute to the target; the traced operations are bound on the instance, each in a span."""

    def __init__(self, target: object, operations: dict[str, Callable[..., Any]]) -> None:
        self.__dict__["_traced_target"] = target
        self.__dict__.update(operations)

    def __getattr__(self, name: str) -> Any:  # only for what the instance does not hold itself
        target = self.__dict__.get("_traced_target")
        if target is None:
            raise AttributeError(name)
        return getattr(target, name)

    def __repr__(self) -> str:
        return f"traced({self.__dict__['_traced_target']!r})"


def traced(target: T, *, tracer: Tracer, component: str, operations: Iterable[str], layer: str = "store") -> T:
    """``target`` with each of its ``operations`` run in a span named ``<component>.<operation>`` (attributes:
    component, operation, the implementing class, the layer: ``store`` for a port's adapter, ``service`` for a
    use case). An exception still propagates, recorded on the span. Every other attribute is the target's own.

    Static checks see a ``T``: callers use the result exactly as the target. An ``isinstance`` check against the
    target's class fails on it, so wrap a port where it is handed to its callers, not where adapters are
    inspected. A tracer that never records (sampler off) gets ``target`` itself back."""
    if not _may_record(tracer):
        return target
    base: dict[str, AttributeValue] = {COMPONENT: component, IMPLEMENTATION: type(target).__name__, LAYER: layer}
    wrapped = {
        name: _in_span(getattr(target, name), tracer, f"{component}.{name}", {**base, OPERATION: name})
        for name in operations
    }
    return cast(T, _Traced(target, wrapped))


def _may_record(tracer: Tracer) -> bool:
    """False for a tracer that never records a span: the API's no-op tracer, or the SDK's with the sampler off."""
    return not isinstance(tracer, NoOpTracer) and getattr(tracer, "sampler", None) is not ALWAYS_OFF


def _in_span(
    method: Callable[..., Any], tracer: Tracer, name: str, attributes: Mapping[str, AttributeValue]
) -> Callable[..., Any]:
    @functools.wraps(method)
    def in_span(*args: Any, **kwargs: Any) -> Any:
        with tracer.start_as_current_span(name, attributes=attributes):
            return method(*args, **kwargs)

    return in_span


class JobLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def attempts(self) -> int: ...

    @property
    def payload(self) -> dict[str, Any]: ...


J = TypeVar("J", bound=JobLike)


def traced_jobs(handlers: Mapping[str, Callable[[J], R]], *, tracer: Tracer) -> dict[str, Callable[[J], R]]:
    """Each job handler run in a span ``job <kind>`` that continues the trace the job's payload carries (the
    request that enqueued it; see :func:`~investai.observability.tracing.trace_payload`), else the current
    one."""
    return {kind: _job_in_span(handler, tracer) for kind, handler in handlers.items()}


def _job_in_span(handler: Callable[[J], R], tracer: Tracer) -> Callable[[J], R]:
    @functools.wraps(handler)
    def in_span(job: J) -> R:
        attributes: dict[str, AttributeValue] = {
            "investai.job.id": job.id,
            "investai.job.kind": job.kind,
            "investai.job.attempt": job.attempts,
        }
        with tracer.start_as_current_span(
            f"job {job.kind}", context=job_context(job.payload), kind=SpanKind.CONSUMER, attributes=attributes
        ):
            return handler(job)

    return in_span
