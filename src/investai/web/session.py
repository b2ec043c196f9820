"""The browser session: tokens in HttpOnly cookies, transparent refresh, and CSRF protection.

The web UI signs in through the same identity service as the API and keeps the resulting tokens in
cookies, so JavaScript never sees a token:

* ``investai_access`` holds the RS256 access token (lifetime of the token), ``investai_refresh`` the refresh
  token (30 days); both ``HttpOnly``, ``SameSite=Lax``, ``Path=/`` and ``Secure`` unless the dev profile
  serves plain HTTP on loopback (``INVESTAI_WEB_COOKIE_SECURE``).
* A request without an ``Authorization`` header is authenticated from the access cookie; when that token has
  expired the refresh token is rotated once and the new cookies are set on the response. Concurrent requests
  holding the same expired cookie share one rotation (a short grace map), so a page's parallel requests do not
  look like refresh-token reuse, which would revoke the session.
* Every state-changing request that is authenticated by cookie, and every one to a web page, must carry the
  CSRF token: header ``X-CSRF-Token`` (scripts read it from ``<meta name="csrf-token">``) or, for an
  url-encoded form, the ``csrf_token`` field. The token is an HMAC of a random nonce kept in the
  ``investai_csrf`` cookie (signed double submit, OWASP); a cross-origin ``Origin`` or a ``Sec-Fetch-Site:
  cross-site`` request is refused outright.
  Bearer-token API clients are unaffected: a browser cannot attach that header across sites.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlsplit

import anyio.to_thread
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from investai.domain.access import Principal
from investai.domain.errors import DomainError, InvalidToken
from investai.http.headers import header_value
from investai.ports.identity import IdentityVerifier
from investai.services.auth_common import CallContext, TokenSet

ACCESS_COOKIE = "investai_access"
REFRESH_COOKIE = "investai_refresh"
CSRF_COOKIE = "investai_csrf"
CHALLENGE_COOKIE = "investai_challenge"
NEXT_COOKIE = "investai_next"
CSRF_HEADER = b"x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPE = "application/x-www-form-urlencoded"
API_PREFIXES = ("/api/", "/.well-known/", "/health", "/ready", "/metrics", "/docs", "/redoc", "/openapi.json")
SESSIONLESS_PREFIXES = ("/static/", "/health", "/ready", "/.well-known/")
REFRESH_GRACE_S = 30.0
MAX_FORM_BYTES = 65_536
_NONCE_BYTES = 32

Refresher = Callable[[str, CallContext], TokenSet]


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class CsrfTokens:
    """Signed double-submit tokens: ``token = HMAC-SHA256(secret, nonce)``, the nonce in a cookie."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"investai-web-csrf\x00" + secret.encode()).digest()

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(_NONCE_BYTES)

    @staticmethod
    def plausible_nonce(value: str | None) -> bool:
        return value is not None and 32 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()

    def token_for(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def valid(self, nonce: str | None, token: str | None) -> bool:
        if not token or not self.plausible_nonce(nonce):
            return False
        assert nonce is not None
        return hmac.compare_digest(self.token_for(nonce), token)


@dataclass(frozen=True)
class CookiePolicy:
    secure: bool
    access_ttl_s: int
    refresh_ttl_s: int

    def cookie(self, name: str, value: str, *, max_age: int) -> bytes:
        parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts).encode("latin-1")

    def session(self, tokens: TokenSet) -> list[bytes]:
        return [
            self.cookie(ACCESS_COOKIE, tokens.access_token, max_age=self.access_ttl_s),
            self.cookie(REFRESH_COOKIE, tokens.refresh_token, max_age=self.refresh_ttl_s),
        ]

    def cleared(self, *names: str) -> list[bytes]:
        return [self.cookie(name, "", max_age=0) for name in names or (ACCESS_COOKIE, REFRESH_COOKIE)]


class RefreshGrace:
    """Remembers, for a few seconds, what each refresh token was rotated into, so requests racing with the
    same expired cookie reuse one rotation instead of tripping reuse detection."""

    def __init__(self, *, grace_s: float = REFRESH_GRACE_S, now: Callable[[], float] = time.monotonic) -> None:
        self._grace_s = grace_s
        self._now = now
        self._lock = threading.Lock()
        self._rotated: dict[str, tuple[float, TokenSet]] = {}

    def rotate(self, refresh_token: str, ctx: CallContext, refresher: Refresher) -> TokenSet:
        key = hashlib.sha256(refresh_token.encode()).hexdigest()
        with self._lock:
            now = self._now()
            self._rotated = {k: v for k, v in self._rotated.items() if v[0] > now}
            if key in self._rotated:
                return self._rotated[key][1]
            tokens = refresher(refresh_token, ctx)
            self._rotated[key] = (now + self._grace_s, tokens)
            return tokens


def read_cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for key, value in scope["headers"]:
        if key == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: S112 - a malformed cookie header is ignored, like a browser would
                continue
    return {name: morsel.value for name, morsel in jar.items()}


class WebSessionMiddleware:
    """Cookie authentication, refresh and CSRF checks; sits outside the bearer authentication middleware."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: IdentityVerifier,
        refresher: Refresher,
        csrf: CsrfTokens,
        cookies: CookiePolicy,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.refresher = refresher
        self.csrf = csrf
        self.cookies = cookies
        self.grace = RefreshGrace()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(SESSIONLESS_PREFIXES):
            await self.app(scope, receive, send)
            return
        if is_api_path(path) and header_value(scope, b"authorization") is not None:
            # a bearer-token API call: no session cookie is read and no CSRF check applies (a browser never
            # adds an Authorization header by itself), so it needs no CSRF nonce either
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        jar = read_cookies(scope)
        set_cookies: list[bytes] = []
        nonce = jar.get(CSRF_COOKIE)
        if not CsrfTokens.plausible_nonce(nonce):
            nonce = CsrfTokens.new_nonce()
            set_cookies.append(self.cookies.cookie(CSRF_COOKIE, nonce, max_age=self.cookies.refresh_ttl_s))
        assert nonce is not None
        state["csrf_token"] = self.csrf.token_for(nonce)
        cookie_auth = False
        if header_value(scope, b"authorization") is None and (ACCESS_COOKIE in jar or REFRESH_COOKIE in jar):
            principal, fresh = await self._from_cookies(scope, jar)
            if fresh is not None:
                set_cookies += self.cookies.session(fresh)
            elif principal is None:
                set_cookies += self.cookies.cleared()
            if principal is not None:
                state["principal"] = principal
                cookie_auth = True
        method = str(scope.get("method", "GET")).upper()
        if method in UNSAFE_METHODS and (cookie_auth or not is_api_path(path)):
            accepted, receive = await self._csrf_accepted(scope, receive, nonce)
            if not accepted:
                await _refuse(scope, send, set_cookies)
                return
        await self.app(scope, receive, _with_cookies(send, set_cookies))

    async def _from_cookies(self, scope: Scope, jar: dict[str, str]) -> tuple[Principal | None, TokenSet | None]:
        access = jar.get(ACCESS_COOKIE)
        if access:
            try:
                return await anyio.to_thread.run_sync(self.verifier.verify, access), None
            except InvalidToken:
                pass
        refresh = jar.get(REFRESH_COOKIE)
        if not refresh:
            return None, None
        client = scope.get("client")
        ctx = CallContext(ip=client[0] if client else None, request_id=scope.get("state", {}).get("request_id"))
        try:
            tokens = await anyio.to_thread.run_sync(self.grace.rotate, refresh, ctx, self.refresher)
            principal = await anyio.to_thread.run_sync(self.verifier.verify, tokens.access_token)
        except DomainError:
            return None, None
        return principal, tokens

    async def _csrf_accepted(self, scope: Scope, receive: Receive, nonce: str) -> tuple[bool, Receive]:
        # a browser says where a request came from; the token below is still required when it says nothing
        # (``Referrer-Policy: no-referrer`` makes Chromium send ``Origin: null`` for same-origin form posts)
        if header_value(scope, b"sec-fetch-site") == "cross-site":
            return False, receive
        origin = header_value(scope, b"origin")
        if origin not in (None, "null") and urlsplit(origin).netloc != header_value(scope, b"host"):
            return False, receive
        if self.csrf.valid(nonce, header_value(scope, CSRF_HEADER)):
            return True, receive
        content_type = (header_value(scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type != FORM_TYPE:
            return False, receive
        body, replay = await _buffer_body(receive)
        if body is None:
            return False, replay
        fields = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
        return self.csrf.valid(nonce, fields.get(CSRF_FIELD)), replay


async def _buffer_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """Read the whole (small) form body and hand back a receive that replays it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None, receive
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None, receive
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _with_cookies(send: Send, cookies: list[bytes]) -> Send:
    if not cookies:
        return send

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = list(message.get("headers", [])) + [(b"set-cookie", c) for c in cookies]
        await send(message)

    return sender


async def _refuse(scope: Scope, send: Send, cookies: list[bytes]) -> None:
    path = str(scope.get("path", ""))
    message = "the request did not carry a valid CSRF token; reload the page and try again"
    if is_api_path(path):
        request_id = scope.get("state", {}).get("request_id")
        body = orjson.dumps({"error": {"code": "csrf_failed", "message": message, "request_id": request_id}})
        content_type = b"application/json"
    else:
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Form expired</title>"
            f"<p>{message}.</p><p><a href=/>Back to the dashboard</a></p></html>"
        ).encode()
        content_type = b"text/html; charset=utf-8"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers += [(b"set-cookie", c) for c in cookies]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
