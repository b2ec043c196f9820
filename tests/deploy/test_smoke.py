"""``deploy/smoke.py`` against the real product: ``investai serve`` on 127.0.0.1 with a fresh data directory, its
first administrator and an analyst to sign in as. The script passes there; it fails (exit 1, the check named)
against a port nobody listens on, and against the same server behind a loopback proxy that breaks one thing
at a time: a route, a header, the error shape, a static file."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.deploy.scripts import DEPLOY, ROOT
from tests.processes import USER_PASSWORD, Api, Deployment, Server, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SMOKE_EMAIL = "smoke@example.com"
CHECKS = (
    "health",
    "ready",
    "security headers",
    "unauthenticated 401",
    "static asset",
    "sign in",
    "ideas list",
    "documents list",
    "sign out",
)
FAST_FAILURE = ("--retries", "1", "--retry-wait", "0.05", "--timeout", "10")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length", "content-encoding"}

Answer = tuple[int, list[tuple[str, str]], bytes]
Breakage = Callable[[str, Answer], Answer]


@dataclass(frozen=True)
class Running:
    server: Server
    email: str
    password: str

    @property
    def url(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    deployment = Deployment(tmp_path_factory.mktemp("smoke"))
    server = deployment.start_server(
        args=("--no-worker", "--no-scheduler"),
        INVESTAI_LOAD_SAMPLE_DOCUMENTS="false",
        INVESTAI_LOAD_SAMPLE_MARKET_DATA="false",
    )
    try:
        server.wait_ready()
        admin = Api.admin(server.base_url)
        admin.new_user(SMOKE_EMAIL, "analyst").close()  # signs in once to set its own password
        admin.close()
        yield Running(server, SMOKE_EMAIL, USER_PASSWORD)
    finally:
        server.stop()


def smoke(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "smoke.py"), "--url", url, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def lines(answer: subprocess.CompletedProcess[str], verdict: str) -> set[str]:
    """The names of the checks reported with ``verdict`` (PASS, FAIL or SKIP)."""
    prefix = f"{verdict}  "
    return {line[len(prefix) :][:20].strip() for line in answer.stdout.splitlines() if line.startswith(prefix)}


def test_the_smoke_test_passes_against_the_running_product(running: Running) -> None:
    answer = smoke(running.url, "--username", running.email, "--password", running.password)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert lines(answer, "PASS") == set(CHECKS)
    assert not lines(answer, "FAIL")
    assert running.password not in answer.stdout + answer.stderr
    assert answer.stdout.splitlines()[-1].startswith(f"smoke {running.url}: passed (9 passed, 0 failed")


def test_credentials_may_come_from_the_environment(running: Running) -> None:
    answer = smoke(running.url, env={"SMOKE_USERNAME": running.email, "SMOKE_PASSWORD": running.password})
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "documents list" in lines(answer, "PASS")


def test_without_credentials_only_the_anonymous_checks_run(running: Running) -> None:
    answer = smoke(running.url)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert lines(answer, "PASS") == set(CHECKS[:5])
    assert lines(answer, "SKIP") == {"signed-in checks"}


def test_a_wrong_password_fails_the_sign_in(running: Running) -> None:
    answer = smoke(running.url, "--username", running.email, "--password", "Not-The-Passw0rd!", *FAST_FAILURE)
    assert answer.returncode == 1
    assert lines(answer, "FAIL") == {"sign in"}


def test_a_port_nobody_listens_on_fails_at_once() -> None:
    started = time.monotonic()
    answer = smoke(f"http://127.0.0.1:{free_port()}", *FAST_FAILURE)
    assert answer.returncode == 1
    assert lines(answer, "FAIL") == {"health"}
    assert "does not answer" in answer.stdout
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("arguments", [("--url", "127.0.0.1:8000"), ("--url", "http://x", "--username", "a")])
def test_bad_arguments_exit_2(arguments: tuple[str, ...]) -> None:
    answer = subprocess.run(
        [sys.executable, str(DEPLOY / "smoke.py"), *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    assert answer.returncode == 2, answer.stderr


# -- the same server, one thing broken ------------------------------------------------------------------------


def failing_route(prefix: str, status: int = 500) -> Breakage:
    def breaks(path: str, answer: Answer) -> Answer:
        if not path.startswith(prefix):
            return answer
        body = b'{"error": {"code": "broken", "message": "broken by the test", "request_id": "r"}}'
        return status, [("content-type", "application/json")], body

    return breaks


def without_header(name: str) -> Breakage:
    def breaks(path: str, answer: Answer) -> Answer:
        status, headers, body = answer
        return status, [(key, value) for key, value in headers if key.lower() != name], body

    return breaks


def bare_401(path: str, answer: Answer) -> Answer:
    status, headers, _ = answer
    return (status, headers, b'{"detail": "Not authenticated"}') if status == 401 else answer


BREAKAGES: dict[str, tuple[Breakage, str]] = {
    "ready answers 500": (failing_route("/ready"), "ready"),
    "ready answers 503 (retried, then failed)": (failing_route("/ready", 503), "ready"),
    "no X-Frame-Options header": (without_header("x-frame-options"), "security headers"),
    "401 without the error shape": (bare_401, "unauthenticated 401"),
    "static files missing": (failing_route("/static/", 404), "static asset"),
    "documents list answers 500": (failing_route("/api/v1/documents"), "documents list"),
}


def proxy_handler(upstream: str, breaks: Breakage) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the test reads the smoke script's output, not the proxy's

        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key: value for key, value in self.headers.items() if key.lower() not in HOP_BY_HOP}
            answer = httpx.request(self.command, upstream + self.path, headers=headers, content=body, timeout=30)
            kept = [(key, value) for key, value in answer.headers.multi_items() if key.lower() not in HOP_BY_HOP]
            status, out_headers, content = breaks(self.path, (answer.status_code, kept, answer.content))
            self.send_response(status)
            for key, value in out_headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = forward  # noqa: N815 - http.server dispatches on these names

    return Handler


@pytest.fixture
def broken_proxy(running: Running) -> Iterator[Callable[[Breakage], str]]:
    started: list[ThreadingHTTPServer] = []

    def start(breaks: Breakage) -> str:
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), proxy_handler(running.url, breaks))
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        started.append(proxy)
        return f"http://127.0.0.1:{proxy.server_address[1]}"

    yield start
    for proxy in started:
        proxy.shutdown()
        proxy.server_close()


def test_the_proxy_alone_breaks_nothing(running: Running, broken_proxy: Callable[[Breakage], str]) -> None:
    """Guard: each failure below comes from its breakage, not from the proxy."""
    url = broken_proxy(lambda _path, answer: answer)
    answer = smoke(url, "--username", running.email, "--password", running.password, *FAST_FAILURE)
    assert answer.returncode == 0, answer.stdout + answer.stderr


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_one_broken_thing_fails_the_smoke_test_and_names_the_check(
    case: str, running: Running, broken_proxy: Callable[[Breakage], str]
) -> None:
    breaks, check = BREAKAGES[case]
    answer = smoke(broken_proxy(breaks), "--username", running.email, "--password", running.password, *FAST_FAILURE)
    assert answer.returncode == 1, answer.stdout
    assert check in lines(answer, "FAIL"), answer.stdout
    assert "FAILED" in answer.stdout.splitlines()[-1]
