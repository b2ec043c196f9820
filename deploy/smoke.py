#!/usr/bin/env python3
"""Smoke test of a running deployment (staging or prod after ``cdk deploy``, or ``investai serve`` locally).

    python deploy/smoke.py --url https://api.example.com
    SMOKE_USERNAME=smoke@example.com SMOKE_PASSWORD=... python deploy/smoke.py --url https://api.example.com

Checks, one ``PASS``/``FAIL`` line each: ``/health`` and ``/ready`` answer 200 with JSON; responses carry the
security headers; an API call without a token answers 401 with the JSON error shape
``{"error": {"code", "message", "request_id"}}``; a static asset of the web UI loads. With credentials
(``--username``/``--password`` or ``SMOKE_USERNAME``/``SMOKE_PASSWORD``; a user with no pending challenge, such as
a dedicated read-only analyst) it also signs in through ``POST /api/v1/auth/login``, reads the ideas and
documents lists, and signs out. Exits 1 when any check fails, 2 on bad arguments.

Each request has a timeout, and only answers that a fresh deployment may give for a moment (connection errors,
timeouts, 429, 502, 503, 504) are retried, a bounded number of times. Needs only httpx and the standard library.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

RETRIED_STATUSES = frozenset({429, 502, 503, 504})
SECURITY_HEADERS = {
    "strict-transport-security": r"max-age=\d+",
    "x-content-type-options": r"^nosniff$",
    "x-frame-options": r"^(DENY|SAMEORIGIN)$",
    "referrer-policy": r".+",
    "content-security-policy": r"default-src",
}
STATIC_FALLBACK = "/static/css/app.css"
STATIC_LINK = re.compile(r"""(?:href|src)=["']([^"'\s]+\.(?:css|js)(?:\?[^"'\s]*)?)["']""")


class CheckFailed(Exception):
    """The check's expectation was not met; the message says how."""


class Unreachable(CheckFailed):
    """No answer at all (connection refused, DNS, timeout) after every retry."""


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str
    unreachable: bool = False


@dataclass
class Smoke:
    """One deployment under test: its base URL, the HTTP client, and what the checks learnt so far."""

    base_url: str
    client: httpx.Client
    retries: int = 3
    retry_wait_s: float = 1.0
    token: str | None = None
    results: list[Result] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path if path.startswith("/") else path

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer, retrying only what a deployment may answer while it warms up."""
        headers = {"Cache-Control": "no-cache", **kwargs.pop("headers", {})}
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                answer = self.client.request(method, self.url(path), headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if last:
                    raise Unreachable(f"{method} {path}: no answer ({type(exc).__name__}: {exc})") from exc
            else:
                if answer.status_code not in RETRIED_STATUSES or last:
                    return answer
            time.sleep(self.retry_wait_s * 2**attempt)
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def run(self, name: str, check: Callable[[Smoke], str]) -> bool:
        started = time.monotonic()
        try:
            result = Result(name, True, check(self))
        except CheckFailed as exc:
            result = Result(name, False, str(exc), unreachable=isinstance(exc, Unreachable))
        elapsed_ms = (time.monotonic() - started) * 1000
        self.results.append(result)
        print(f"{'PASS' if result.ok else 'FAIL'}  {name:<20} {result.detail} ({elapsed_ms:.0f} ms)", flush=True)
        return result.ok


def expect_json(answer: httpx.Response, status: int) -> Any:
    where = f"{answer.request.method} {answer.request.url.path}"
    if answer.status_code != status:
        raise CheckFailed(f"{where}: expected {status}, got {answer.status_code}: {answer.text[:200]!r}")
    if not answer.headers.get("content-type", "").startswith("application/json"):
        raise CheckFailed(f"{where}: expected JSON, got {answer.headers.get('content-type')!r}")
    try:
        return answer.json()
    except ValueError as exc:
        raise CheckFailed(f"{where}: the body is not JSON: {answer.text[:200]!r}") from exc


def check_health(smoke: Smoke) -> str:
    body = expect_json(smoke.request("GET", "/health"), 200)
    if not isinstance(body, dict) or body.get("status") != "ok":
        raise CheckFailed(f"/health: expected status ok, got {body!r}")
    return f"200, version {body.get('version', '?')}"


def check_ready(smoke: Smoke) -> str:
    body = expect_json(smoke.request("GET", "/ready"), 200)
    if not isinstance(body, dict) or body.get("status") != "ready":
        raise CheckFailed(f"/ready: expected status ready, got {body!r}")
    return f"200, {len(body.get('checks', []))} stores answer"


def check_security_headers(smoke: Smoke) -> str:
    checked = 0
    for path in ("/health", "/api/v1/ideas"):
        answer = smoke.request("GET", path)
        for name, pattern in SECURITY_HEADERS.items():
            value = answer.headers.get(name)
            if value is None or not re.search(pattern, value):
                raise CheckFailed(f"{path}: header {name} is {value!r}, expected /{pattern}/")
            checked += 1
    return f"{checked} headers on 2 answers"


def check_unauthenticated(smoke: Smoke) -> str:
    body = expect_json(smoke.request("GET", "/api/v1/ideas"), 401)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not all(isinstance(error.get(key), str) for key in ("code", "message")):
        raise CheckFailed(f"401 without the error shape {{'error': {{code, message, request_id}}}}: {body!r}")
    if not error.get("request_id"):
        raise CheckFailed(f"401 without a request_id: {body!r}")
    return f"401 {error['code']}"


def static_asset_path(smoke: Smoke) -> str:
    """The first stylesheet or script the sign-in page links to (on this server or a CDN, as the page names
    it), else the UI's main stylesheet on this server."""
    try:
        page = smoke.request("GET", "/login", headers={"Accept": "text/html"})
    except Unreachable:
        return STATIC_FALLBACK
    found = STATIC_LINK.search(page.text) if page.status_code == 200 else None
    if found is None:
        return STATIC_FALLBACK
    return found.group(1) if found.group(1).startswith("/") else urljoin(str(page.url), found.group(1))


def check_static_asset(smoke: Smoke, static_url: str | None = None) -> str:
    path = static_url or static_asset_path(smoke)
    answer = smoke.request("GET", path, follow_redirects=True)
    if answer.status_code != 200 or not answer.content:
        raise CheckFailed(f"{path}: expected 200 with a body, got {answer.status_code} ({len(answer.content)} bytes)")
    kind = answer.headers.get("content-type", "")
    if not any(expected in kind for expected in ("css", "javascript")):
        raise CheckFailed(f"{path}: unexpected content type {kind!r}")
    return f"{path}, {len(answer.content)} bytes, {kind.split(';')[0]}"


def check_sign_in(smoke: Smoke, username: str, password: str) -> str:
    answer = smoke.request("POST", "/api/v1/auth/login", json={"email": username, "password": password})
    body = expect_json(answer, 200)
    if "challenge" in body:
        raise CheckFailed(f"the smoke user has a pending {body['challenge']} challenge; use one that has none")
    if not body.get("access_token"):
        raise CheckFailed("200 without an access token")
    smoke.token = body["access_token"]
    return "signed in"


def check_list(path: str) -> Callable[[Smoke], str]:
    def check(smoke: Smoke) -> str:
        if smoke.token is None:
            raise CheckFailed("not signed in")
        body = expect_json(smoke.request("GET", path, headers={"Authorization": f"Bearer {smoke.token}"}), 200)
        if not isinstance(body, list):
            raise CheckFailed(f"{path}: expected a JSON list, got {type(body).__name__}")
        return f"200, {len(body)} items"

    return check


def check_sign_out(smoke: Smoke) -> str:
    if smoke.token is None:
        raise CheckFailed("not signed in")
    answer = smoke.request("POST", "/api/v1/auth/logout", headers={"Authorization": f"Bearer {smoke.token}"})
    if answer.status_code != 204:
        raise CheckFailed(f"expected 204, got {answer.status_code}")
    return "session ended"


def run_checks(smoke: Smoke, *, username: str | None, password: str | None, static_url: str | None) -> bool:
    if not smoke.run("health", check_health) and smoke.results[-1].unreachable:
        print("SKIP  the other checks     the server does not answer", flush=True)
        return False
    smoke.run("ready", check_ready)
    smoke.run("security headers", check_security_headers)
    smoke.run("unauthenticated 401", check_unauthenticated)
    smoke.run("static asset", lambda s: check_static_asset(s, static_url))
    if username and password:
        if smoke.run("sign in", lambda s: check_sign_in(s, username, password)):
            smoke.run("ideas list", check_list("/api/v1/ideas"))
            smoke.run("documents list", check_list("/api/v1/documents"))
            smoke.run("sign out", check_sign_out)
    else:
        print("SKIP  signed-in checks     no --username/--password (SMOKE_USERNAME/SMOKE_PASSWORD)", flush=True)
    return all(result.ok for result in smoke.results)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Smoke test of a running Investment AI Agent deployment.")
    parser.add_argument("--url", required=True, help="base URL, e.g. https://api.example.com (a path prefix is kept)")
    parser.add_argument("--username", default=os.environ.get("SMOKE_USERNAME"), help="default: $SMOKE_USERNAME")
    parser.add_argument("--password", default=os.environ.get("SMOKE_PASSWORD"), help="default: $SMOKE_PASSWORD")
    parser.add_argument("--static-url", help="a static asset to load (path or absolute URL, e.g. on a CDN)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    parser.add_argument("--retries", type=int, default=3, help="retries of a request that may succeed later")
    parser.add_argument("--retry-wait", type=float, default=1.0, help="first wait between retries, doubled each time")
    args = parser.parse_args(argv)
    if not re.match(r"^https?://[^/]+", args.url):
        parser.error(f"--url must be an http(s) URL, not {args.url!r}")
    if bool(args.username) != bool(args.password):
        parser.error("give both a username and a password, or neither")
    if not 0 <= args.retries <= 10 or not 0 < args.timeout <= 120:
        parser.error("--retries must be 0..10 and --timeout 0..120 seconds")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    timeout = httpx.Timeout(args.timeout, connect=min(args.timeout, 5.0))
    headers = {"User-Agent": "investai-smoke/1", "Accept": "application/json"}
    with httpx.Client(timeout=timeout, headers=headers, follow_redirects=False) as client:
        smoke = Smoke(args.url, client, args.retries, args.retry_wait)
        ok = run_checks(smoke, username=args.username, password=args.password, static_url=args.static_url)
    failed = [result.name for result in smoke.results if not result.ok]
    summary = f"{len(smoke.results) - len(failed)} passed, {len(failed)} failed"
    print(f"smoke {args.url}: {'passed' if ok else 'FAILED'} ({summary}{': ' + ', '.join(failed) if failed else ''})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
