"""Refuse oversized request bodies: by Content-Length before any byte is read, and by counting the
bytes of bodies sent without one (chunked). JSON bodies and multipart uploads have separate caps."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from investai.api.middleware.body_watch import call_watching_body
from investai.http.errors import error_body


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.lower(): value for key, value in scope["headers"]}
        is_upload = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        limit = self.max_upload_bytes if is_upload else self.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _reject(scope, send, 400, "Content-Length is not a number")
                return
            if int(declared) > limit:
                await _reject(scope, send, 413, f"request body exceeds {limit} bytes")
                return
        received = 0

        def count(chunk: bytes) -> None:
            nonlocal received
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge(413, f"request body exceeds {limit} bytes")

        refused = await call_watching_body(self.app, scope, receive, send, look=count, refusal=BodyTooLarge)
        if isinstance(refused, BodyTooLarge):
            await _reject(scope, send, 413, str(refused.detail))


class BodyTooLarge(HTTPException):
    """The streamed body passed the cap (an HTTPException, so FastAPI passes it through as a 413)."""


async def _reject(scope: Scope, send: Send, status: int, message: str) -> None:
    request_id = scope.get("state", {}).get("request_id")
    body = json.dumps(error_body(status, message, request_id)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
