"""The WAF middleware: runs the rules of :mod:`investai.api.middleware.waf_rules` on every HTTP request and
answers a match with 403 ``waf_blocked`` naming the rule, as an AWS WAF web ACL in front of the API would.

Head rules run first, so a request blocked on its path or headers is refused before its body is read. A
non-upload body is then read — at most ``max_body_bytes``, more is ``SizeRestrictions_BODY`` — inspected,
and replayed to the application unchanged. Multipart uploads stream through untouched: their cap and checks
belong to the upload pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from investai.api.middleware.client_ip import IPNetwork, client_ip, parse_networks
from investai.api.middleware.rate_limit import send_json_error
from investai.api.middleware.waf_rules import (
    SIZE_RESTRICTIONS_BODY,
    RequestHead,
    WafConfig,
    first_body_match,
    first_head_match,
    is_upload,
)
from investai.config import Settings
from investai.observability.logging import get_logger

log = get_logger("investai.waf")


def waf_config(settings: Settings) -> WafConfig:
    return WafConfig(
        max_query_bytes=settings.waf_max_query_bytes,
        max_cookie_bytes=settings.waf_max_cookie_bytes,
        max_uri_path_bytes=settings.waf_max_uri_path_bytes,
        max_body_bytes=settings.waf_max_body_bytes,
        block_localhost_host=settings.block_localhost_host,
        ip_blocklist=tuple(parse_networks(settings.waf_ip_blocklist)),
        blocked_countries=frozenset(code.strip().upper() for code in settings.waf_blocked_countries if code.strip()),
        country_header=settings.waf_country_header.strip().lower(),
    )


def request_head(scope: Scope, address: str) -> RequestHead:
    raw_path: bytes | None = scope.get("raw_path")
    path = raw_path.split(b"?", 1)[0].decode("latin-1") if raw_path else str(scope.get("path", ""))
    return RequestHead(
        method=str(scope.get("method", "GET")),
        path=path,
        query_string=bytes(scope.get("query_string", b"")).decode("latin-1"),
        headers=tuple((key.decode("latin-1").lower(), value.decode("latin-1")) for key, value in scope["headers"]),
        client_ip=address,
    )


class _BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> tuple[bytes, Message | None]:
    """The whole body, or ``_BodyTooLarge`` past ``limit`` bytes. A disconnect ends the read early and is
    returned so that it can be replayed."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), None


def replaying(body: bytes, disconnect: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that hands the application the body already read, then defers to the server."""
    pending: list[Message] = [disconnect or {"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


class WafMiddleware:
    def __init__(self, app: ASGIApp, *, config: WafConfig, trusted_proxies: Sequence[IPNetwork]) -> None:
        self.app = app
        self.config = config
        self.trusted_proxies = list(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = request_head(scope, client_ip(scope, self.trusted_proxies))
        rule = first_head_match(head, self.config)
        if rule is not None:
            await self._block(scope, send, head, rule)
            return
        content_type = head.header("content-type") or ""
        if is_upload(content_type):
            await self.app(scope, receive, send)
            return
        declared = (head.header("content-length") or "").strip()
        if declared.isdigit() and int(declared) > self.config.max_body_bytes:
            await self._block(scope, send, head, SIZE_RESTRICTIONS_BODY)
            return
        try:
            body, disconnect = await read_body(receive, self.config.max_body_bytes)
        except _BodyTooLarge:
            await self._block(scope, send, head, SIZE_RESTRICTIONS_BODY)
            return
        rule = first_body_match(body, content_type)
        if rule is not None:
            await self._block(scope, send, head, rule)
            return
        await self.app(scope, replaying(body, disconnect, receive), send)

    async def _block(self, scope: Scope, send: Send, head: RequestHead, rule: str) -> None:
        log.warning("waf.blocked", rule=rule, client_ip=head.client_ip, method=head.method, path=scope.get("path"))
        await send_json_error(scope, send, 403, f"blocked by rule {rule}", code="waf_blocked", extra={"rule": rule})
