"""structlog JSON logging; every line carries the request id bound for the request and the trace and span ids
of the span current where it is logged.

Our own log lines are rendered by structlog directly (about a third of the cost of going through the
standard library); lines from libraries (uvicorn, APScheduler, ...) pass through the standard library with
the same processors and renderer, onto the same stream.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, TextIO

import orjson
import structlog
from opentelemetry import trace


class _LockedWriter:
    """One stream shared by our lines and the standard library's handler, written a whole line at a time."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write_line(self, message: str) -> None:
        with self._lock:
            self._stream.write(message + "\n")
            self._stream.flush()


class _NamedLogger:
    """What structlog writes through; ``name`` is read by ``add_logger_name``."""

    def __init__(self, writer: _LockedWriter, name: str | None) -> None:
        self._writer = writer
        self.name = name or "investai"

    def msg(self, message: str) -> None:
        self._writer.write_line(message)

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = err = msg


def configure_logging(*, level: str = "INFO", json: bool = True, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library's logging through one JSON (or console) renderer."""
    out = stream or sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    tracebacks: list[Any] = [structlog.processors.format_exc_info] if json else []
    writer = _LockedWriter(out)
    structlog.configure(
        processors=[*shared, structlog.stdlib.add_logger_name, *tracebacks, renderer],
        logger_factory=lambda name=None, *_args: _NamedLogger(writer, name),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # our middleware logs each request
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def add_trace_ids(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: the trace and span ids of the span current where the line is logged (a request,
    a job, an agent step on any thread it runs on), over any bound before; nothing is added outside a span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = f"{context.trace_id:032x}"
        event_dict["span_id"] = f"{context.span_id:016x}"
    return event_dict


def _orjson_dumps(value: Any, **options: Any) -> str:
    """structlog's JSON serializer hook backed by orjson (structlog's documented fast path, about twice the
    speed of the standard library here). Keys that are not strings are stringified, anything orjson cannot
    encode goes through structlog's fallback (``repr``)."""
    return orjson.dumps(value, default=options.get("default"), option=orjson.OPT_NON_STR_KEYS).decode()


def get_logger(name: str) -> Any:
    """A logger whose lines carry ``"logger": name``; it follows whatever configuration is current."""
    return structlog.get_logger(name)


def bind_context(**values: Any) -> None:
    structlog.contextvars.bind_contextvars(**values)


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()
