"""Security response headers on every HTTP response, modelled on the CloudFront ``SecurityHeadersPolicy``
response-headers policy (HSTS, nosniff, frame denial, referrer policy) plus COOP and a strict CSP.

The CSP allows no inline script anywhere except the Swagger UI and ReDoc pages (``/docs``, ``/redoc`` and
the Swagger OAuth2 redirect page under ``/docs/``), which bootstrap themselves with an inline script and
inline styles; there ``'unsafe-inline'`` is added for scripts and styles only. Web UI pages allow inline
styles (plotly.js styles the SVG it draws through style attributes) and ``data:`` images, never inline
script or ``eval``; when the static files come from elsewhere (``static_url``, a CDN), that origin is allowed
for the pages' scripts, styles and images. A header the application set itself is never overwritten.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
DOCS_PATHS = ("/docs", "/redoc")


def is_docs_page(path: str) -> bool:
    return any(path == docs or path.startswith(docs + "/") for docs in DOCS_PATHS)


def page_csp(static_origin: str | None = None) -> str:
    """The web pages' policy; ``static_origin`` (``https://d123.cloudfront.net``) may serve their scripts,
    styles and images too."""
    if not static_origin:
        return PAGE_CSP
    return (
        f"default-src 'self'; script-src 'self' {static_origin}; style-src 'self' 'unsafe-inline' {static_origin}; "
        f"img-src 'self' data: {static_origin}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    )


def csp_for(path: str, *, static_origin: str | None = None) -> str:
    """Swagger and ReDoc get their inline bootstrap; web pages may style inline (plotly.js sets style
    attributes on the SVG it draws) but never run inline script; API answers get the strictest policy."""
    if is_docs_page(path):
        return DOCS_CSP
    if path.startswith(("/api/", "/.well-known/", "/health", "/ready", "/metrics", "/openapi.json")):
        return STRICT_CSP
    return page_csp(static_origin)


def security_headers(hsts_max_age_s: int, *, path: str, static_origin: str | None = None) -> list[tuple[bytes, bytes]]:
    return [
        (b"strict-transport-security", f"max-age={hsts_max_age_s}; includeSubDomains".encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"content-security-policy", csp_for(path, static_origin=static_origin).encode()),
    ]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts_max_age_s: int, static_origin: str | None = None) -> None:
        self.app = app
        self.hsts_max_age_s = hsts_max_age_s
        self.static_origin = static_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = security_headers(
            self.hsts_max_age_s, path=str(scope.get("path", "")), static_origin=self.static_origin
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [(name, value) for name, value in defaults if name not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)
