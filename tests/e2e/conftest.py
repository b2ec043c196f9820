"""Browser tests: a real ``investai serve`` on loopback (fresh data directory, sample data loaded, worker and
scheduler running) driven by Playwright through Debian's Chromium.

Every page fixture records console errors, uncaught page errors, failed requests and responses with an
error status; a test fails if any occurred, and every test saves a screenshot of its last page under
``artifacts/e2e/``. Chromium must be at ``/usr/bin/chromium`` (``.ci/run`` installs it); set
``INVESTAI_SKIP_BROWSER_TESTS=1`` to skip these tests deliberately on a machine without it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # no name resolves but the loopback address: a page that reached for any other host would fail here
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "e2e"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Admin-Passw0rd-for-E2E!"
SERVER_START_S = 180.0


@dataclass
class Server:
    base_url: str
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "INVESTAI_DATA_DIR": str(root / "var"),
        "INVESTAI_ADMIN_EMAIL": ADMIN_EMAIL,
        "INVESTAI_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "INVESTAI_ISSUER": base_url,
        "INVESTAI_LOG_LEVEL": "WARNING",
        # every browser test shares this server and one client address; the per-IP limit (2000 requests per
        # 5 minutes) is tested on its own in tests/security, here it would only make the run order matter
        "INVESTAI_RATE_LIMIT_REQUESTS": "100000",
    }
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "investai", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    served = Server(base_url=base_url, data_dir=root / "var", log_path=log_path)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{served.log()}")
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not start within {SERVER_START_S} s:\n{served.log()}")
            time.sleep(0.5)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test module: Playwright's sync API keeps an event loop running on this thread while it
    is open, which would break ``asyncio.run`` in the tests that follow the browser tests."""
    if os.environ.get("INVESTAI_SKIP_BROWSER_TESTS") == "1":
        pytest.skip("browser tests skipped on request (INVESTAI_SKIP_BROWSER_TESTS=1)")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class PageProblems:
    """What went wrong on the pages a test visited."""

    items: list[str] = field(default_factory=list)
    expected_statuses: set[tuple[str, int]] = field(default_factory=set)

    def expect_status(self, path_pattern: str, status: int) -> None:
        """A response the test provokes on purpose (a refused form, say) is not a problem."""
        self.expected_statuses.add((path_pattern, status))

    def expected(self, url: str, status: int) -> bool:
        return any(re.search(pattern, url) and status == code for pattern, code in self.expected_statuses)

    def response(self, url: str, status: int) -> None:
        if status >= 400 and not self.expected(url, status):
            self.items.append(f"HTTP {status} {url}")

    def console_error(self, text: str, url: str) -> None:
        """Chromium logs every error response as a console error too; an expected one is not a problem."""
        status = _RESOURCE_STATUS.search(text)
        if status and self.expected(url, int(status.group(1))):
            return
        self.items.append(f"console: {text} ({url})")


_RESOURCE_STATUS = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")


def _watch(page: Page, problems: PageProblems, base_url: str) -> None:
    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.console_error(message.text, message.location.get("url", ""))

    page.on("console", console)
    page.on("pageerror", lambda error: problems.items.append(f"page error: {error}"))

    def failed(request: Request) -> None:
        failure = request.failure or ""
        # a load the browser cancels because the page navigates away (a stream, a script still arriving) is
        # not a failure; refused connections, resets and unresolvable hosts are
        if "ERR_ABORTED" in failure:
            return
        problems.items.append(f"request failed: {request.url} {failure}")

    page.on("requestfailed", failed)
    page.on("response", lambda response: problems.response(response.url, response.status))

    def outside(route: Route) -> None:
        problems.items.append(f"request outside the local server: {route.request.url}")
        route.abort()

    page.context.route(re.compile(rf"^(?!{re.escape(base_url)}/|data:|blob:|about:).*"), outside)


@dataclass
class Session:
    """One browser context (its own cookies) and its page, watched for problems."""

    page: Page
    problems: PageProblems
    base_url: str

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)


@pytest.fixture
def open_session(browser: Browser, server: Server, request: pytest.FixtureRequest) -> Iterator[Callable[..., Session]]:
    """A factory of browser sessions; each is checked for problems and photographed at the end of the test."""
    sessions: list[tuple[str, Session, BrowserContext]] = []

    def make(name: str = "user") -> Session:
        context = browser.new_context(base_url=server.base_url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)
        page = context.new_page()
        problems = PageProblems()
        _watch(page, problems, server.base_url)
        session = Session(page=page, problems=problems, base_url=server.base_url)
        sessions.append((name, session, context))
        return session

    yield make
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found = []
    for name, session, context in sessions:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{request.node.name}-{name}")
        try:
            session.page.screenshot(path=str(ARTIFACTS / f"{slug}.png"), full_page=True)
        finally:
            context.close()
        found += [f"[{name}] {item}" for item in session.problems.items]
    assert found == [], "problems on the pages visited:\n" + "\n".join(found)
