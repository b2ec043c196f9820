"""The API function: API Gateway events (REST API v1 proxy and HTTP API v2 payloads) through Mangum to the same
app ``investai serve`` runs (:func:`investai.server.create_app`), without the in-process worker and scheduler.

Mangum would run the app's lifespan around every event (startup and shutdown per request). Here the lifespan
starts once per execution environment, when the app is built on the first event — it opens the key manager, so
the first request finds it ready — and stays started; every request's scope carries the lifespan state, as
under uvicorn. A Lambda environment is frozen, not shut down, between events, so there is no shutdown to run.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES
from mangum.protocols import LifespanCycle
from mangum.types import ASGI, LambdaContext, Receive, Scope, Send

from investai.aws_lambda import runtime
from investai.server import create_app

TEXT_MIME_TYPES = [*DEFAULT_TEXT_MIME_TYPES, "image/svg+xml"]
"""Responses sent to API Gateway as text; anything else goes base64-encoded (REST APIs need binary media types
``*/*`` for those, HTTP APIs decode them as they are)."""


class _Started:
    """The app as a server that ran its lifespan gives it: each request's scope holds a copy of the state."""

    def __init__(self, app: ASGI) -> None:
        self.app = app
        self.state: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["state"] = dict(self.state)
        await self.app(scope, receive, send)


class ApiHandler:
    """One app behind Mangum, its lifespan started once (now) for every event that follows."""

    def __init__(self, app: ASGI) -> None:
        started = _Started(app)
        self._mangum = Mangum(started, lifespan="off", text_mime_types=TEXT_MIME_TYPES)  # sets up the event loop
        self._lifespan = LifespanCycle(app, "on")
        self._lifespan.__enter__()  # fails (and nothing is kept) when the app's startup fails
        started.state = self._lifespan.lifespan_state

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return self._mangum(event, context)

    def close(self) -> None:
        """Run the lifespan's shutdown (tests; a Lambda environment just ends)."""
        self._lifespan.__exit__(None, None, None)


def _build() -> ApiHandler:
    return ApiHandler(create_app(runtime.container(), background=False))


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway's proxy integration: one HTTP request in, its response out."""
    with runtime.invocation():
        return runtime.part("api", _build)(event, context)
