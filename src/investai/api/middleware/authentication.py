"""Establish the principal once per request from a Bearer access token, so that route dependencies and
the response cache see the same, already-verified identity. Routes decide whether one is required.

A request without an ``Authorization`` header keeps the principal the web session middleware (outside this
one) may have established from the session cookie; a Bearer header always wins over a cookie."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from investai.domain.errors import InvalidToken
from investai.http.headers import header_value
from investai.ports.identity import IdentityVerifier


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, *, verifier: IdentityVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = scope.setdefault("state", {})
            authorization = header_value(scope, b"authorization")
            if authorization is not None:
                state.pop("principal", None)
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    state["auth_error"] = "the Authorization header must be 'Bearer <token>'"
                else:
                    try:
                        state["principal"] = self.verifier.verify(token.strip())
                    except InvalidToken as exc:
                        state["auth_error"] = str(exc)
        await self.app(scope, receive, send)
