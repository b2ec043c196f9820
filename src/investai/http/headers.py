"""What a request says about itself: a header's value, the client's address, the request id."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Scope


def header_value(scope: Scope, name: bytes) -> str | None:
    """The first value of the request header ``name`` (lower-case bytes), decoded as Latin-1."""
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def client_address(request: Request) -> str | None:
    """The client's IP as the edge derived it (trusted proxies walked), else the socket peer."""
    peer = request.client.host if request.client else None
    return getattr(request.state, "client_ip", None) or peer


def request_id_of(request: Request) -> str | None:
    """The id the request context middleware gave this request (``None`` before it ran)."""
    return getattr(request.state, "request_id", None)
