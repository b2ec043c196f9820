"""The idea-request page as served behind API Gateway and CloudFront: ``progress_transport=poll`` and a
``static_url`` on another origin. Chromium drives the page; every request it makes is answered in process by the
app (through a TestClient), the CDN's by the app's own ``/static`` files — so the browser really enforces the
page's Content-Security-Policy on the CDN's scripts and styles, and really runs the polling script.

The page must follow the request by reading the JSON status (and the new messages) every 2 s — never opening
the event stream — and finish as the stream would: the final state, the ideas listed, the message log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, Page, Route

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.users import Role
from investai.server import create_app
from tests.conftest import drain, sign_up
from tests.web.conftest import sign_in

APP = "http://127.0.0.1:8000"
CDN_HOST = "cdn.example.test"
CDN = f"https://{CDN_HOST}/static"
NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
HOP_HEADERS = {"content-encoding", "content-length", "transfer-encoding", "connection"}


@dataclass
class Traffic:
    """What the page asked for (time, method, URL) and what went wrong on it."""

    requests: list[tuple[float, str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def paths(self, suffix: str) -> list[float]:
        """When the page asked for an app URL ending in ``suffix`` (query left out)."""
        return [at for at, _, url in self.requests if urlsplit(url).path.endswith(suffix)]


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("polling") / "var",
        static_url=CDN,
        progress_transport="poll",
    )
    built = build_container(settings, clock=FakeClock(NOW))
    built.market.load_sample()
    yield built
    built.close()


def serve_in_process(page: Page, client: TestClient, traffic: Traffic) -> None:
    """Answer every request of the page from the app; the CDN's from the app's ``/static``."""

    def answer(route: Route) -> None:
        request = route.request
        url = urlsplit(request.url)
        traffic.requests.append((time.monotonic(), request.method, request.url))
        if f"{url.scheme}://{url.netloc}" != APP and url.netloc != CDN_HOST:
            traffic.problems.append(f"request outside the app and the CDN: {request.url}")
            route.abort()
            return
        if url.path.endswith("/events"):  # buffered behind API Gateway: the page must never open it
            traffic.problems.append(f"event stream opened: {request.url}")
            route.abort()
            return
        headers = {name: value for name, value in request.all_headers().items() if name != "host"}
        target = url.path + (f"?{url.query}" if url.query else "")
        client.cookies.clear()  # the browser's cookies come in its Cookie header
        response = client.request(request.method, target, headers=headers, content=request.post_data_buffer)
        kept = {name: value for name, value in response.headers.items() if name.lower() not in HOP_HEADERS}
        route.fulfill(status=response.status_code, headers=kept, body=response.content)

    page.context.route("**/*", answer)


def watch(page: Page, traffic: Traffic) -> None:
    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            traffic.problems.append(f"console: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda error: traffic.problems.append(f"page error: {error}"))


def wait_until(page: Page, traffic: Traffic, what: str, done: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"still waiting for {what}; problems: {traffic.problems}"
        page.wait_for_timeout(100)  # lets the page run and its requests be answered


def test_the_request_page_polls_its_status_and_finishes_as_the_stream_would(
    browser: Browser, container: Container
) -> None:
    app = create_app(container)
    user = sign_in(app, sign_up(container, role=Role.ANALYST))
    browser_side = TestClient(app, base_url=APP)  # answers the browser, with the browser's cookies
    submitted = user.api("POST", "/api/v1/ideas/requests", json={"tickers": ["AAPL", "MSFT"], "max_ideas": 2})
    assert submitted.status_code == 202, submitted.text
    request_id = submitted.json()["request_id"]
    status_path = f"/api/v1/ideas/requests/{request_id}"

    context = browser.new_context(base_url=APP)
    context.add_cookies([{"name": c.name, "value": c.value or "", "url": APP} for c in user.client.cookies.jar])
    page = context.new_page()
    traffic = Traffic()
    watch(page, traffic)
    serve_in_process(page, browser_side, traffic)
    try:
        page.goto(f"/ideas/requests/{request_id}")
        wait_until(page, traffic, "two polls", lambda: len(traffic.paths(status_path)) >= 2)
        assert page.locator("#request-status").inner_text() == "queued"
        polls = traffic.paths(status_path)
        assert polls[1] - polls[0] >= 1.8  # every 2 s, not in a loop

        drain(container)  # the job runs (the page's next poll waits meanwhile)
        wait_until(page, traffic, "succeeded", lambda: page.locator("#request-status").inner_text() == "succeeded")
        ideas = user.api("GET", f"{status_path}/results").json()["ideas"]
        assert ideas
        wait_until(page, traffic, "the ideas", lambda: page.locator("#request-results li").count() == len(ideas))
        links = page.locator("#request-results li a")
        assert sorted(links.nth(n).get_attribute("href") or "" for n in range(len(ideas))) == sorted(
            f"/ideas/{idea['id']}" for idea in ideas
        )
        assert page.locator("#overall-percent").inner_text() == "100%"
        assert page.locator("#log-hint").inner_text() == "The conversation is kept with the request."
        messages = user.api("GET", f"{status_path}/messages").json()
        assert page.locator("#agent-log li").count() == len(messages) > 0  # each message once

        settled = len(traffic.paths(status_path))
        page.wait_for_timeout(2500)
        assert len(traffic.paths(status_path)) == settled  # polling stopped with the request
        assert traffic.paths(f"{status_path}/events") == []  # no event stream was ever opened
        static = [url for _, _, url in traffic.requests if "/static/" in url]
        assert static
        assert all(url.startswith(CDN + "/") for url in static), static  # allowed by the page's policy
        assert traffic.problems == []
    finally:
        page.screenshot(path=str(_artifacts() / "progress-polling.png"), full_page=True)
        context.close()
        browser_side.close()
        user.client.close()


def _artifacts() -> Path:
    folder = Path(__file__).resolve().parents[2] / "artifacts" / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
