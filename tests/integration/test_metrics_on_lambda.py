"""/metrics inside an AWS Lambda function: refused with a 404 that says the metrics are in CloudWatch — even with
the scrape token, and before the secret store is asked for it — because each instance keeps its own registry.
Outside Lambda the same request with the same token is served."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.adapters.local.secrets import EnvFileSecretStore
from investai.api.deps import METRICS_IN_CLOUDWATCH, on_lambda
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.server import create_app

TOKEN = "scrape-token-0123456789abcdef0123456789abcdef"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


class CountingSecrets(EnvFileSecretStore):
    """The scrape token in the environment mapping, and every name asked for recorded."""

    def __init__(self) -> None:
        super().__init__(environ={"INVESTAI_METRICS_TOKEN": TOKEN})
        self.asked: list[str] = []

    def get(self, name: str) -> str | None:
        self.asked.append(name)
        return super().get(name)


@pytest.fixture
def secrets() -> CountingSecrets:
    return CountingSecrets()


@pytest.fixture
def container(settings: Settings, clock: FakeClock, secrets: CountingSecrets) -> Iterator[Container]:
    built = build_container(settings, clock=clock, secrets=secrets)
    yield built
    built.close()


def test_on_lambda_metrics_answer_404_pointing_at_cloudwatch(
    container: Container, secrets: CountingSecrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "investai-prod-api")
    with TestClient(create_app(container), base_url="http://127.0.0.1") as client:
        secrets.asked.clear()
        response = client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["message"] == METRICS_IN_CLOUDWATCH
    assert "CloudWatch" in error["message"]
    assert error["details"] == {"metrics": "cloudwatch", "namespace": "InvestmentAI"}
    assert error["request_id"]
    assert "investai_http_requests_total" not in response.text
    assert "metrics_token" not in secrets.asked, "refused before the scrape token is read"


def test_outside_lambda_the_same_scrape_is_served(
    container: Container, secrets: CountingSecrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    with TestClient(create_app(container), base_url="http://127.0.0.1") as client:
        response = client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200, response.text
    assert "investai_http_requests_total" in response.text
    assert "metrics_token" in secrets.asked


def test_lambda_is_recognised_by_the_runtimes_variable() -> None:
    assert on_lambda({"AWS_LAMBDA_FUNCTION_NAME": "investai-dev-api"})
    assert not on_lambda({"AWS_LAMBDA_FUNCTION_NAME": ""})
    assert not on_lambda({})
