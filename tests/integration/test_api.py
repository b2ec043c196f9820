"""The HTTP edge: health, readiness, docs, metrics, and one JSON error shape for bad input."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from investai.bootstrap import Container
from investai.observability.logging import configure_logging
from investai.server import create_app
from tests.conftest import Account


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def assert_error_shape(body: dict[str, object], code: str) -> None:
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict)
    assert {"code", "message", "request_id"} <= set(error)
    assert error["code"] == code
    assert error["request_id"]
    assert "Traceback" not in json.dumps(body)


def test_health_answers_with_version(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-request-id"]


def test_ready_lists_every_store(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    names = {check["name"] for check in response.json()["checks"]}
    assert names == {"sqlite", "object_store", "job_queue", "keyring", "audit_log", "market_store", "search_index"}
    assert all(check["ok"] for check in response.json()["checks"])


def test_ready_names_the_failing_store(client: TestClient, container: Container) -> None:
    objects_dir = container.settings.objects_dir
    shutil.rmtree(objects_dir, ignore_errors=True)
    objects_dir.parent.mkdir(parents=True, exist_ok=True)
    objects_dir.write_bytes(b"not a directory")  # the object store can no longer write
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "not_ready"
    assert "object_store" in body["error"]["message"]
    failed = [check["name"] for check in body["error"]["checks"] if not check["ok"]]
    assert failed == ["object_store"]


def test_docs_and_openapi_are_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text
    assert "https://" not in page.text
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v1/ideas/requests/validate" in spec["paths"]


def test_metrics_count_requests_by_route(client: TestClient, admin: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVESTAI_METRICS_TOKEN", "scrape-token-for-the-request-metrics-test")
    client.get("/health")
    client.get("/no/such/route")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=admin.headers).status_code == 401  # a user's token never opens it
    text = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-for-the-request-metrics-test"}).text
    assert 'investai_http_requests_total{method="GET",route="/health",status="200"} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "investai_http_request_duration_seconds_bucket" in text
    assert 'investai_http_errors_total{code="not_found",route="unmatched",status="404"} 1.0' in text
    assert 'investai_jobs_in_queue{status="queued"}' in text


def test_a_valid_request_id_is_echoed_and_a_hostile_one_replaced(client: TestClient) -> None:
    assert client.get("/health", headers={"X-Request-ID": "abc-123-def"}).headers["x-request-id"] == "abc-123-def"
    replaced = client.get("/health", headers={"X-Request-ID": "bad id <script>"}).headers["x-request-id"]
    assert replaced != "bad id"
    assert len(replaced) == 32


def test_idea_request_validation_normalises_and_warns(client: TestClient, analyst: Account) -> None:
    response = client.post(
        "/api/v1/ideas/requests/validate",
        json={"tickers": ["aapl", "msft"], "risk_tolerance": "aggressive", "investment_horizon": "short"},
        headers=analyst.headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["request"]["tickers"] == ["AAPL", "MSFT"]
    assert any("short horizon" in warning for warning in body["warnings"])


class TestBadInput:
    @pytest.fixture
    def client(self, app: FastAPI, analyst: Account) -> Iterator[TestClient]:
        with TestClient(app, base_url="http://127.0.0.1", headers=analyst.headers) as test_client:
            yield test_client

    @pytest.fixture
    def logs(self) -> io.StringIO:
        """The JSON log lines the app writes during the test."""
        stream = io.StringIO()
        configure_logging(level="DEBUG", json=True, stream=stream)
        return stream

    def _assert_quiet_logs(self, logs: io.StringIO) -> None:
        lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
        assert lines, "expected request log lines"
        assert not [line for line in lines if line["level"] in ("error", "critical")]
        assert not [line for line in lines if "exception" in line or "Traceback" in json.dumps(line)]

    def test_unknown_route_is_a_json_404(self, client: TestClient, logs: io.StringIO) -> None:
        response = client.get("/api/v1/nothing-here")
        assert response.status_code == 404
        assert_error_shape(response.json(), "not_found")
        self._assert_quiet_logs(logs)

    def test_wrong_method_is_a_json_405(self, client: TestClient, logs: io.StringIO) -> None:
        response = client.delete("/health")
        assert response.status_code == 405
        assert_error_shape(response.json(), "method_not_allowed")
        self._assert_quiet_logs(logs)

    @pytest.mark.parametrize(
        "body",
        [b"{bad json", b'{"tickers": [1, 2', b"[]", b'{"max_ideas": 1e309}', b'{"tickers": ["a b"]}'],
    )
    def test_malformed_json_is_a_json_422(self, client: TestClient, logs: io.StringIO, body: bytes) -> None:
        response = client.post(
            "/api/v1/ideas/requests/validate", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert_error_shape(
            {"error": {k: v for k, v in response.json()["error"].items() if k != "details"}}, "validation_error"
        )
        self._assert_quiet_logs(logs)

    def test_undecodable_body_is_a_json_422(self, client: TestClient, logs: io.StringIO) -> None:
        response = client.post(
            "/api/v1/ideas/requests/validate", content=b"\xff\xfe\x00", headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert_error_shape(response.json(), "validation_error")
        assert response.json()["error"]["details"][0]["loc"] == ["body"]
        self._assert_quiet_logs(logs)

    def test_rule_breaking_request_is_a_json_422(self, client: TestClient) -> None:
        response = client.post("/api/v1/ideas/requests/validate", json={"tickers": ["AAPL"], "exclusions": ["aapl"]})
        assert response.status_code == 422
        assert "exclusions" in json.dumps(response.json()["error"]["details"])

    def test_declared_oversized_body_is_a_json_413(
        self, client: TestClient, container: Container, logs: io.StringIO
    ) -> None:
        size = container.settings.max_body_bytes + 1
        response = client.post(
            "/api/v1/ideas/requests/validate", content=b"{" + b" " * size, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert_error_shape(response.json(), "payload_too_large")
        self._assert_quiet_logs(logs)

    @pytest.mark.parametrize("waf", [False, True])
    def test_streamed_oversized_body_is_refused(
        self, container: Container, analyst: Account, logs: io.StringIO, waf: bool
    ) -> None:
        """Without Content-Length the cap counts bytes as they arrive. With the WAF on, whichever limit the
        arriving chunks pass first answers: the WAF's body rule (403, naming it) or the hard cap (413)."""
        container.settings = container.settings.model_copy(update={"waf_enabled": waf})
        chunk = b" " * 65536
        chunks = container.settings.max_body_bytes // len(chunk) + 2

        def body() -> Iterator[bytes]:  # no Content-Length: sent chunked
            yield b"{"
            for _ in range(chunks):
                yield chunk

        with TestClient(create_app(container), base_url="http://127.0.0.1", headers=analyst.headers) as client:
            response = client.post(
                "/api/v1/ideas/requests/validate", content=body(), headers={"content-type": "application/json"}
            )
        expected = {413: "payload_too_large"} | ({403: "waf_blocked"} if waf else {})
        assert response.status_code in expected
        error = {k: v for k, v in response.json()["error"].items() if k != "rule"}
        assert_error_shape({"error": error}, expected[response.status_code])
        self._assert_quiet_logs(logs)

    def test_nonnumeric_content_length_is_a_json_400(self, app: FastAPI) -> None:
        import asyncio

        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/api/v1/ideas/requests/validate",
            "raw_path": b"/api/v1/ideas/requests/validate",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"12abc")],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("127.0.0.1", 80),
            "client": ("127.0.0.1", 5000),
            "root_path": "",
        }
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
        assert sent[0]["status"] == 400
        assert_error_shape(json.loads(sent[1]["body"]), "bad_request")  # type: ignore[arg-type]

    def test_unexpected_exception_is_a_json_500_without_a_trace(self, app: FastAPI) -> None:
        @app.get("/boom")
        def boom() -> None:
            raise RuntimeError("secret internal detail")

        with TestClient(app, base_url="http://127.0.0.1") as client:
            response = client.get("/boom")
        assert response.status_code == 500
        assert_error_shape(response.json(), "internal_error")
        assert "secret internal detail" not in response.text
