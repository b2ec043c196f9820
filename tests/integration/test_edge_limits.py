"""Edge limits over injected time: the per-client rate limit, the global throttle, the per-principal response
cache, security headers and CORS."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Receive, Scope, Send

from investai.api.middleware.cache import ResponseCache, collection_of
from investai.api.middleware.edge import add_edge_protection, add_response_cache
from investai.api.middleware.rate_limit import SlidingWindowLimiter, client_key
from investai.api.middleware.throttle import TokenBucket
from investai.config import Settings

BASE_URL = "http://127.0.0.1"
ROLE_HEADER = "x-test-role"
USER_HEADER = "x-test-user"


class FakeNow:
    """Seconds on a clock the test moves."""

    def __init__(self, start: float = 0.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@dataclass(frozen=True)
class FakePrincipal:
    user_id: str
    organisation_id: str = "org_1"
    role: str = "analyst"


class FakeAuthentication:
    """Test-only stand-in for the authentication middleware: the principal named by a test header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = scope.setdefault("state", {})
            state.pop("principal", None)
            headers = dict(scope["headers"])
            user, role = headers.get(USER_HEADER.encode()), headers.get(ROLE_HEADER.encode(), b"analyst")
            if user:
                state["principal"] = FakePrincipal(user.decode(), role=role.decode())
        await self.app(scope, receive, send)


def build_app(settings: Settings, now: FakeNow) -> FastAPI:
    app = FastAPIOffline(title="edge-test")
    calls = itertools.count(1)

    def produced(request: Request, **extra: Any) -> dict[str, Any]:
        return {"call": next(calls), "user": request.headers.get(USER_HEADER), **extra}

    @app.get("/health")
    @app.get("/ping")  # an ordinary endpoint: the health checks are exempt from the limits
    async def ping(request: Request) -> dict[str, Any]:
        return produced(request)

    @app.get("/api/v1/ideas")
    async def ideas(request: Request) -> dict[str, Any]:
        return produced(request, query=str(request.query_params))

    @app.get("/api/v1/ideas/{idea_id}")
    async def idea(request: Request, idea_id: str) -> dict[str, Any]:
        return produced(request, id=idea_id)

    @app.api_route("/api/v1/reports", methods=["GET", "HEAD"], include_in_schema=False)
    async def reports(request: Request) -> dict[str, Any]:
        return produced(request)

    @app.get("/api/v1/jobs")
    async def jobs(request: Request) -> dict[str, Any]:
        return produced(request)

    @app.get("/api/v1/market/{symbol}/bars")
    async def bars(request: Request, symbol: str) -> JSONResponse:
        return JSONResponse(produced(request, symbol=symbol), headers={"cache-control": "public"})

    @app.post("/api/v1/market/bars")
    async def ingest(request: Request) -> dict[str, Any]:
        return produced(request)

    @app.get("/api/v1/private")
    async def private(request: Request) -> JSONResponse:
        return JSONResponse(produced(request), headers={"cache-control": "private, max-age=60"})

    @app.get("/api/v1/no-store")
    async def no_store(request: Request) -> JSONResponse:
        return JSONResponse(produced(request), headers={"cache-control": "no-store"})

    @app.get("/api/v1/missing")
    async def missing(request: Request) -> JSONResponse:
        return JSONResponse(produced(request), status_code=404)

    @app.get("/api/v1/framed")
    async def framed(request: Request) -> JSONResponse:
        return JSONResponse(produced(request), headers={"x-frame-options": "SAMEORIGIN"})

    @app.post("/api/v1/ideas", status_code=201)
    async def create_idea(request: Request) -> dict[str, Any]:
        return produced(request)

    @app.post("/api/v1/ideas/{idea_id}/fail")
    async def failed_write(request: Request) -> JSONResponse:
        return JSONResponse({"error": "no"}, status_code=409)

    add_response_cache(app, settings, now=now)
    app.add_middleware(FakeAuthentication)
    add_edge_protection(app, settings, now=now)
    return app


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path / "var", _env_file=None, **overrides)


@pytest.fixture
def now() -> FakeNow:
    return FakeNow()


def client_for(app: FastAPI, peer: str = "203.0.113.10") -> TestClient:
    return TestClient(app, base_url=BASE_URL, client=(peer, 50000))


@pytest.fixture
def client(tmp_path: Path, now: FakeNow) -> Iterator[TestClient]:
    with client_for(build_app(make_settings(tmp_path), now)) as test_client:
        yield test_client


# --- rate limit ----------------------------------------------------------------------------------------------


def test_the_default_rate_limit_is_2000_per_five_minutes(client: TestClient, now: FakeNow) -> None:
    for _ in range(2000):
        assert client.get("/ping").status_code == 200
    refused = client.get("/ping")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["retry-after"] == "300"
    now.advance(299)
    assert client.get("/ping").status_code == 429
    now.advance(1)
    assert client.get("/ping").status_code == 200


def test_the_window_slides(tmp_path: Path, now: FakeNow) -> None:
    settings = make_settings(tmp_path, rate_limit_requests=3, rate_limit_window_s=10.0)
    with client_for(build_app(settings, now)) as client:
        assert [client.get("/ping").status_code for _ in range(2)] == [200, 200]
        now.advance(6)
        assert client.get("/ping").status_code == 200
        now.advance(1)
        refused = client.get("/ping")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "3"  # the first two leave the window at t=10
        now.advance(3)
        assert [client.get("/ping").status_code for _ in range(3)] == [200, 200, 429]
        assert client.get("/ping").headers["retry-after"] == "6"  # the t=6 request leaves at t=16


def test_refused_requests_do_not_extend_the_wait(tmp_path: Path, now: FakeNow) -> None:
    settings = make_settings(tmp_path, rate_limit_requests=2, rate_limit_window_s=60.0)
    with client_for(build_app(settings, now)) as client:
        assert [client.get("/ping").status_code for _ in range(2)] == [200, 200]
        for _ in range(50):
            now.advance(1)
            assert client.get("/ping").status_code == 429
        now.advance(10)
        assert client.get("/ping").status_code == 200


def test_clients_are_limited_separately(tmp_path: Path, now: FakeNow) -> None:
    app = build_app(make_settings(tmp_path, rate_limit_requests=2, rate_limit_window_s=60.0), now)
    with client_for(app, "203.0.113.1") as first, client_for(app, "203.0.113.2") as second:
        assert [first.get("/ping").status_code for _ in range(3)] == [200, 200, 429]
        assert [second.get("/ping").status_code for _ in range(3)] == [200, 200, 429]


def test_clients_behind_a_trusted_proxy_are_told_apart(tmp_path: Path, now: FakeNow) -> None:
    settings = make_settings(tmp_path, rate_limit_requests=2, trusted_proxies=["10.0.0.0/8"])
    with client_for(build_app(settings, now), "10.0.0.5") as proxy:
        for client_address in ("198.51.100.1", "198.51.100.2"):
            headers = {"x-forwarded-for": f"{client_address}, 10.0.0.9"}
            assert [proxy.get("/ping", headers=headers).status_code for _ in range(3)] == [200, 200, 429]
        spoofed = {"x-forwarded-for": "192.0.2.99, 198.51.100.1"}  # the left entry is the client's own claim
        assert proxy.get("/ping", headers=spoofed).status_code == 429


def test_idle_clients_are_evicted_and_memory_is_capped(now: FakeNow) -> None:
    limiter = SlidingWindowLimiter(limit=5, window_s=10.0, now=now, max_clients=3)
    for index in range(3):
        assert limiter.hit(f"198.51.100.{index}").allowed
    assert len(limiter) == 3
    assert limiter.hit("198.51.100.3").allowed  # over the cap: the least recently seen goes
    assert len(limiter) == 3
    now.advance(10)
    assert limiter.hit("198.51.100.9").allowed
    assert len(limiter) == 1


def test_ipv6_clients_are_counted_per_64() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("198.51.100.7") == "198.51.100.7"


# --- throttle ------------------------------------------------------------------------------------------------


def test_throttle_allows_a_burst_then_refills(tmp_path: Path, now: FakeNow) -> None:
    settings = make_settings(tmp_path, throttle_burst=5, throttle_rate_rps=2.0)
    app = build_app(settings, now)
    with client_for(app, "203.0.113.1") as first, client_for(app, "203.0.113.2") as second:
        assert [first.get("/ping").status_code for _ in range(5)] == [200] * 5
        refused = second.get("/ping")  # the bucket is global: another client is refused too
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "throttled"
        assert refused.headers["retry-after"] == "1"
        now.advance(0.5)  # one token
        assert [first.get("/ping").status_code for _ in range(2)] == [200, 429]
        now.advance(100)  # refills to the burst, no further
        assert [second.get("/ping").status_code for _ in range(6)] == [200] * 5 + [429]


def test_token_bucket_retry_after_and_a_clock_stepping_back(now: FakeNow) -> None:
    bucket = TokenBucket(rate_rps=0.25, burst=1, now=now)
    assert bucket.take().allowed
    refused = bucket.take()
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(4.0)
    now.advance(-100)
    assert bucket.tokens == 0.0
    now.advance(104)
    assert bucket.take().allowed


# --- response cache ------------------------------------------------------------------------------------------


def get_as(client: TestClient, user: str | None, path: str, **kwargs: Any) -> Any:
    headers = {USER_HEADER: user} if user else {}
    return client.get(path, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)


def comparable_headers(response: Any) -> list[tuple[str, str]]:
    return [(name, value) for name, value in response.headers.multi_items() if name not in ("x-cache", "x-request-id")]


def test_a_repeated_read_is_a_byte_identical_hit(client: TestClient) -> None:
    first = get_as(client, "alice", "/api/v1/ideas", params={"status": "approved"})
    second = get_as(client, "alice", "/api/v1/ideas", params={"status": "approved"})
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert second.status_code == first.status_code == 200
    assert second.content == first.content
    assert comparable_headers(second) == comparable_headers(first)


def test_query_parameter_order_does_not_matter_but_repeated_values_do(client: TestClient) -> None:
    first = get_as(client, "alice", "/api/v1/ideas?b=2&a=1")
    assert get_as(client, "alice", "/api/v1/ideas?a=1&b=2").content == first.content
    assert get_as(client, "alice", "/api/v1/ideas?a=1&b=2").headers["x-cache"] == "HIT"
    get_as(client, "alice", "/api/v1/ideas?t=x&t=y")
    assert get_as(client, "alice", "/api/v1/ideas?t=y&t=x").headers["x-cache"] == "MISS"


def test_entries_expire_after_the_ttl(client: TestClient, now: FakeNow) -> None:
    first = get_as(client, "alice", "/api/v1/ideas")
    now.advance(299)
    assert get_as(client, "alice", "/api/v1/ideas").headers["x-cache"] == "HIT"
    now.advance(1)
    refreshed = get_as(client, "alice", "/api/v1/ideas")
    assert refreshed.headers["x-cache"] == "MISS"
    assert refreshed.json()["call"] != first.json()["call"]


def test_principals_never_see_each_others_responses(client: TestClient) -> None:
    alice = get_as(client, "alice", "/api/v1/ideas")
    bob = get_as(client, "bob", "/api/v1/ideas")
    assert bob.headers["x-cache"] == "MISS"
    assert bob.json()["user"] == "bob"
    assert get_as(client, "alice", "/api/v1/ideas").content == alice.content
    assert get_as(client, "bob", "/api/v1/ideas").json()["user"] == "bob"


def test_a_public_response_is_shared_by_one_role_of_one_organisation_only(client: TestClient) -> None:
    """Market bars read the same for everyone: colleagues of one role share the entry; another role (whose
    permissions may differ) and anonymous callers never get it, and a write to the collection drops it."""
    alice = get_as(client, "alice", "/api/v1/market/KO/bars")
    bob = get_as(client, "bob", "/api/v1/market/KO/bars")
    assert (alice.headers["x-cache"], bob.headers["x-cache"]) == ("MISS", "HIT")
    assert bob.json() == alice.json()
    carol = get_as(client, "carol", "/api/v1/market/KO/bars", headers={ROLE_HEADER: "viewer"})
    assert carol.headers["x-cache"] == "MISS"
    assert carol.json()["call"] != alice.json()["call"]
    assert get_as(client, None, "/api/v1/market/KO/bars").json()["call"] not in {
        alice.json()["call"],
        carol.json()["call"],
    }
    assert get_as(client, "bob", "/api/v1/market/PEP/bars").headers["x-cache"] == "MISS"
    assert client.post("/api/v1/market/bars", headers={USER_HEADER: "dave"}).status_code == 200
    assert get_as(client, "alice", "/api/v1/market/KO/bars").headers["x-cache"] == "MISS"


def test_anonymous_requests_are_never_cached(client: TestClient) -> None:
    responses = [get_as(client, None, "/api/v1/ideas") for _ in range(2)]
    assert responses[0].json()["call"] != responses[1].json()["call"]
    assert all("x-cache" not in response.headers for response in responses)
    assert get_as(client, "alice", "/api/v1/ideas").headers["x-cache"] == "MISS"  # nothing stored for anyone


@pytest.mark.parametrize("path", ["/api/v1/private", "/api/v1/no-store", "/api/v1/missing"])
def test_private_no_store_and_non_200_responses_are_not_cached(client: TestClient, path: str) -> None:
    first, second = get_as(client, "alice", path), get_as(client, "alice", path)
    assert second.headers["x-cache"] == "MISS"
    assert first.json()["call"] != second.json()["call"]


def test_paths_outside_the_api_are_not_cached(client: TestClient) -> None:
    first, second = get_as(client, "alice", "/health"), get_as(client, "alice", "/health")
    assert first.json()["call"] != second.json()["call"]
    assert "x-cache" not in second.headers


def test_a_write_invalidates_its_collection_for_every_principal(client: TestClient) -> None:
    get_as(client, "alice", "/api/v1/ideas")
    get_as(client, "bob", "/api/v1/ideas/idea_1")
    get_as(client, "alice", "/api/v1/jobs")
    assert client.post("/api/v1/ideas", headers={USER_HEADER: "carol"}).status_code == 201
    assert get_as(client, "alice", "/api/v1/ideas").headers["x-cache"] == "MISS"
    assert get_as(client, "bob", "/api/v1/ideas/idea_1").headers["x-cache"] == "MISS"
    assert get_as(client, "alice", "/api/v1/jobs").headers["x-cache"] == "HIT"


def test_a_failed_write_invalidates_nothing(client: TestClient) -> None:
    get_as(client, "alice", "/api/v1/ideas")
    assert client.post("/api/v1/ideas/idea_1/fail", headers={USER_HEADER: "alice"}).status_code == 409
    assert get_as(client, "alice", "/api/v1/ideas").headers["x-cache"] == "HIT"


def test_head_and_get_are_cached_apart(client: TestClient) -> None:
    headers = {USER_HEADER: "alice"}
    head = client.head("/api/v1/reports", headers=headers)
    assert (head.status_code, head.headers["x-cache"], head.content) == (200, "MISS", b"")
    get = client.get("/api/v1/reports", headers=headers)
    assert (get.headers["x-cache"], get.json()["user"]) == ("MISS", "alice")
    again = client.head("/api/v1/reports", headers=headers)
    assert (again.headers["x-cache"], again.content) == ("HIT", b"")
    assert client.get("/api/v1/reports", headers=headers).content == get.content


def test_a_client_can_ask_for_a_fresh_copy(client: TestClient) -> None:
    first = get_as(client, "alice", "/api/v1/ideas")
    fresh = get_as(client, "alice", "/api/v1/ideas", headers={"cache-control": "no-cache"})
    assert fresh.headers["x-cache"] == "MISS"
    assert fresh.json()["call"] != first.json()["call"]
    assert get_as(client, "alice", "/api/v1/ideas").content == fresh.content  # the fresh copy was stored


def test_the_least_recently_used_entry_is_evicted(tmp_path: Path, now: FakeNow) -> None:
    with client_for(build_app(make_settings(tmp_path, cache_max_entries=2), now)) as client:
        get_as(client, "alice", "/api/v1/ideas/1")
        get_as(client, "alice", "/api/v1/ideas/2")
        assert get_as(client, "alice", "/api/v1/ideas/1").headers["x-cache"] == "HIT"  # 2 is now the oldest
        get_as(client, "alice", "/api/v1/ideas/3")
        assert get_as(client, "alice", "/api/v1/ideas/2").headers["x-cache"] == "MISS"
        assert get_as(client, "alice", "/api/v1/ideas/3").headers["x-cache"] == "HIT"


def test_a_zero_ttl_turns_the_cache_off(tmp_path: Path, now: FakeNow) -> None:
    with client_for(build_app(make_settings(tmp_path, cache_ttl_s=0), now)) as client:
        first, second = get_as(client, "alice", "/api/v1/ideas"), get_as(client, "alice", "/api/v1/ideas")
        assert first.json()["call"] != second.json()["call"]
        assert "x-cache" not in second.headers


def test_a_response_that_raced_a_write_is_not_stored(now: FakeNow) -> None:
    cache = ResponseCache(ttl_s=60, max_entries=10, now=now)
    key = ("GET", "alice", "org_1", "analyst", "/api/v1/ideas", ())
    generation = cache.generation
    cache.invalidate("/api/v1/ideas")  # a write finished while the read was in flight
    assert not cache.put(key, 200, [], b"stale", "/api/v1/ideas", generation)
    assert cache.put(key, 200, [], b"fresh", "/api/v1/ideas", cache.generation)
    assert len(cache) == 1


def test_oversized_responses_and_byte_budget(now: FakeNow) -> None:
    cache = ResponseCache(ttl_s=60, max_entries=10, now=now, max_entry_bytes=100, max_total_bytes=150)
    assert not cache.put(("GET", "a", "", "", "/api/v1/x", ()), 200, [], b"x" * 101, "/api/v1/x", 0)
    for index in range(3):
        path = f"/api/v1/x/{index}"
        assert cache.put(("GET", "a", "", "", path, ()), 200, [], b"x" * 60, path, 0)
    assert len(cache) == 2


@pytest.mark.parametrize(
    ("path", "collection"),
    [
        ("/api/v1/ideas", "/api/v1/ideas"),
        ("/api/v1/ideas/", "/api/v1/ideas"),
        ("/api/v1/ideas/idea_1/feedback", "/api/v1/ideas"),
        ("/api/v1", "/api/v1"),
    ],
)
def test_collection_of(path: str, collection: str) -> None:
    assert collection_of(path) == collection


# --- security headers and CORS -------------------------------------------------------------------------------


def test_security_headers_are_on_every_response(client: TestClient) -> None:
    for response in (client.get("/health"), client.get("/nothing"), client.get("/health", params={"q": "<script>"})):
        headers = response.headers
        assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cross-origin-opener-policy"] == "same-origin"
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self';" in csp
        assert "object-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe" not in _directive(csp, "script-src")
    assert "unsafe-inline" not in client.get("/health").headers["content-security-policy"]


def _directive(csp: str, name: str) -> str:
    return next(part.strip() for part in csp.split(";") if part.strip().startswith(name + " "))


def test_web_pages_may_style_inline_but_never_run_inline_script(client: TestClient) -> None:
    csp = client.get("/login").headers["content-security-policy"]
    assert _directive(csp, "script-src") == "script-src 'self'"
    assert _directive(csp, "style-src") == "style-src 'self' 'unsafe-inline'"
    assert "form-action 'self'" in csp


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_pages_alone_may_run_inline_script(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline'" in csp
    assert "style-src 'self' 'unsafe-inline'" in csp
    assert "object-src 'none'" in csp
    assert "unsafe-inline" not in client.get("/openapi.json").headers["content-security-policy"]
    assert "unsafe" not in _directive(client.get("/docsx").headers["content-security-policy"], "script-src")


def test_a_header_the_app_set_is_kept(client: TestClient) -> None:
    response = client.get("/api/v1/framed")
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]


def test_the_hsts_age_comes_from_settings(tmp_path: Path, now: FakeNow) -> None:
    with client_for(build_app(make_settings(tmp_path, hsts_max_age_s=600), now)) as client:
        assert client.get("/health").headers["strict-transport-security"] == "max-age=600; includeSubDomains"


def test_cors_is_closed_by_default(client: TestClient) -> None:
    response = client.get("/health", headers={"origin": "https://app.example.com"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/api/v1/ideas",
        headers={"origin": "https://app.example.com", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_admits_a_configured_origin_only(tmp_path: Path, now: FakeNow) -> None:
    settings = make_settings(tmp_path, cors_allow_origins=["https://app.example.com"])
    with client_for(build_app(settings, now)) as client:
        allowed = client.get("/health", headers={"origin": "https://app.example.com"})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        preflight = client.options(
            "/api/v1/ideas",
            headers={
                "origin": "https://app.example.com",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        other = client.get("/health", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
