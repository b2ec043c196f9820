"""Pure ASGI middleware: request context (ids, logs, metrics, traces, last-resort errors), body limits."""
