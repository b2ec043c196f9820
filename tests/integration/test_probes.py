"""The health checks under load: a client that has used up its rate limit (or a service that has used up
its throttle) still gets 200 from ``/health`` and ``/ready``, which never count against either and are
never cached, so a load balancer probing from a busy address keeps the service in rotation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import build_container
from investai.config import Settings
from investai.server import create_app
from investai.services.operations import Readiness

LIMIT = 4


def probe(client: TestClient) -> None:
    runs = len(client.readiness_runs)  # type: ignore[attr-defined]
    health = client.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"
    assert health.headers["cache-control"] == "no-store"
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    assert ready.json()["checks"], "the body lists the checks"
    assert ready.headers["cache-control"] == "no-store"
    assert "x-cache" not in ready.headers
    assert len(client.readiness_runs) == runs + 1  # type: ignore[attr-defined]


def serve(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, **overrides: object
) -> Iterator[TestClient]:
    """A client of an app with these settings; ``client.readiness_runs`` counts the readiness checks run."""
    settings = Settings(data_dir=tmp_path / "var", _env_file=None, **overrides)  # type: ignore[arg-type]
    container = build_container(settings, clock=clock)
    runs: list[int] = []
    readiness = container.operations.readiness

    def counted() -> Readiness:
        runs.append(1)
        return readiness()

    monkeypatch.setattr(container.operations, "readiness", counted)
    try:
        with TestClient(create_app(container), base_url="http://127.0.0.1") as client:
            client.readiness_runs = runs  # type: ignore[attr-defined]
            yield client
    finally:
        container.close()


@pytest.fixture
def rate_limited(tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    yield from serve(tmp_path, clock, monkeypatch, rate_limit_requests=LIMIT)


@pytest.fixture
def throttled(tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    yield from serve(tmp_path, clock, monkeypatch, throttle_burst=LIMIT, throttle_rate_rps=0.001)


def test_probes_answer_after_the_client_used_up_its_rate_limit(rate_limited: TestClient) -> None:
    for _ in range(3):
        probe(rate_limited)  # probes do not count: the whole limit is left for other requests
    for _ in range(LIMIT):
        assert rate_limited.get("/.well-known/jwks.json").status_code == 200
    refused = rate_limited.get("/.well-known/jwks.json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"

    for _ in range(3):
        probe(rate_limited)


def test_probes_answer_when_the_service_is_throttled(throttled: TestClient) -> None:
    probe(throttled)
    for _ in range(LIMIT):
        assert throttled.get("/.well-known/jwks.json").status_code == 200
    refused = throttled.get("/.well-known/jwks.json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"

    for _ in range(3):
        probe(throttled)
