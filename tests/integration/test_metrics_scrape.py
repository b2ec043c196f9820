"""/metrics behind the full middleware stack: opened by the scrape token (from the secret store) and/or an allowed
client address, never by a user's access token; the gauges sampled at scrape time; and every series the alert rules
and the dashboard read present in the exposition after one scrape."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from investai.adapters.local.clock import FakeClock
from investai.adapters.local.secrets import EnvFileSecretStore
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.idea_parts import ModelUse
from investai.domain.users import Role
from investai.observability.alerts import ALERTS
from investai.server import create_app
from tests.conftest import sign_up

TOKEN = "scrape-token-0123456789abcdef0123456789abcdef"
OPS_DIR = Path(__file__).resolve().parents[2] / "ops"
METRIC_NAME = re.compile(r"\binvestai_[a-z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _container(settings: Settings, clock: FakeClock, token: str | None) -> Container:
    environ = {"INVESTAI_METRICS_TOKEN": token} if token else {}
    return build_container(settings, clock=clock, secrets=EnvFileSecretStore(environ=environ))


@pytest.fixture
def scraped(settings: Settings, clock: FakeClock) -> Iterator[Container]:
    """A container whose secret store holds the scrape token."""
    built = _container(settings, clock, TOKEN)
    yield built
    built.close()


@pytest.fixture
def client(scraped: Container) -> Iterator[TestClient]:
    with TestClient(create_app(scraped), base_url="http://127.0.0.1") as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == {401: "unauthorized", 403: "forbidden"}[status]
    assert "INVESTAI_METRICS_TOKEN" in json.dumps(error["details"])  # says how to configure a credential
    assert "investai_" not in response.text
    return error


def test_the_scrape_token_opens_metrics_uncached(client: TestClient) -> None:
    client.get("/health")
    response = client.get("/metrics", headers=bearer(TOKEN))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"
    assert "x-cache" not in response.headers
    assert 'investai_http_requests_total{method="GET",route="/health",status="200"} 1.0' in response.text
    # the token passed the authentication middleware untouched (not a JWT, not a principal) and opens nothing else
    assert client.get("/api/v1/profile", headers=bearer(TOKEN)).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong-" + TOKEN[6:]), bearer(TOKEN[:-1]), {"Authorization": f"Basic {TOKEN}"}, {"X-Token": TOKEN}],
    ids=["none", "wrong", "prefix", "basic-scheme", "other-header"],
)
def test_no_or_a_wrong_token_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    error = assert_refused(client.get("/metrics", headers=headers), 401)
    assert "scrape token" in error["message"]


def test_an_administrators_access_token_is_refused(client: TestClient, scraped: Container) -> None:
    admin = sign_up(scraped, role=Role.ADMINISTRATOR)
    assert client.get("/api/v1/admin/users", headers=admin.headers).status_code == 200  # the token is valid
    response = client.get("/metrics", headers=admin.headers)
    assert_refused(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_without_a_credential_configured_every_scrape_is_refused(settings: Settings, clock: FakeClock) -> None:
    container = _container(settings, clock, None)
    try:
        admin = sign_up(container, role=Role.ADMINISTRATOR)
        with TestClient(create_app(container), base_url="http://127.0.0.1") as client:
            for headers in ({}, admin.headers, bearer(TOKEN)):
                error = assert_refused(client.get("/metrics", headers=headers), 403)
                assert "no scrape credential" in error["message"]
    finally:
        container.close()


@pytest.fixture
def allow_listed(tmp_path: Path, clock: FakeClock) -> Iterator[Container]:
    """No token; scrapes from 10.1.0.0/16, as the edge sees the client behind the proxy 127.0.0.1."""
    settings = Settings(
        data_dir=tmp_path / "var",
        _env_file=None,
        metrics_allowed_networks=["10.1.0.0/16"],
        trusted_proxies=["127.0.0.1/32"],
    )
    built = _container(settings, clock, None)
    yield built
    built.close()


def test_the_allow_list_admits_a_listed_address_and_refuses_another(allow_listed: Container) -> None:
    app = create_app(allow_listed)
    with TestClient(app, base_url="http://127.0.0.1", client=("10.1.2.3", 40000)) as listed:
        assert listed.get("/metrics").status_code == 200
    with TestClient(app, base_url="http://127.0.0.1", client=("10.2.0.1", 40000)) as other:
        assert_refused(other.get("/metrics"), 403)
        admin = sign_up(allow_listed, role=Role.ADMINISTRATOR)
        assert_refused(other.get("/metrics", headers=admin.headers), 403)
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 40000)) as proxied:
        # behind our proxy, the client is the address it forwarded; a spoofed leftmost entry is never believed
        assert proxied.get("/metrics", headers={"X-Forwarded-For": "10.1.9.9"}).status_code == 200
        assert_refused(proxied.get("/metrics", headers={"X-Forwarded-For": "10.1.9.9, 192.0.2.7"}), 403)
        assert_refused(proxied.get("/metrics"), 403)  # the proxy itself is not listed


def test_token_and_allow_list_together_need_both(tmp_path: Path, clock: FakeClock) -> None:
    settings = Settings(data_dir=tmp_path / "var", _env_file=None, metrics_allowed_networks=["10.1.0.0/16"])
    container = _container(settings, clock, TOKEN)
    try:
        app = create_app(container)
        with TestClient(app, base_url="http://127.0.0.1", client=("10.1.2.3", 40000)) as listed:
            assert listed.get("/metrics", headers=bearer(TOKEN)).status_code == 200
            assert_refused(listed.get("/metrics"), 401)
        with TestClient(app, base_url="http://127.0.0.1", client=("10.2.0.1", 40000)) as other:
            assert_refused(other.get("/metrics", headers=bearer(TOKEN)), 403)
    finally:
        container.close()


def test_a_malformed_allow_list_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="METRICS_ALLOWED_NETWORKS"):
        Settings(data_dir=tmp_path / "var", _env_file=None, metrics_allowed_networks=["10.1.0.0/16", "not-an-ip"])


def samples(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def test_gauges_are_sampled_at_scrape_time(client: TestClient, scraped: Container, clock: FakeClock) -> None:
    first = samples(client.get("/metrics", headers=bearer(TOKEN)).text)
    assert first["investai_oldest_ready_job_age_seconds"] == 0
    assert first["investai_dead_letter_jobs"] == 0
    assert first["investai_last_backup_timestamp_seconds"] == 0  # no backup yet
    dead = scraped.jobs.enqueue("test.dead", max_attempts=1)
    leased = scraped.jobs.lease(visibility_timeout=timedelta(seconds=60))
    assert leased is not None
    assert leased.id == dead.id
    scraped.jobs.fail(leased, "boom", permanent=True)
    scraped.jobs.enqueue("test.waiting")
    clock.advance(timedelta(seconds=125))
    backup = scraped.local_backups().create()

    second = samples(client.get("/metrics", headers=bearer(TOKEN)).text)
    assert second["investai_oldest_ready_job_age_seconds"] == pytest.approx(125)
    assert second["investai_dead_letter_jobs"] == 1
    assert second["investai_last_backup_timestamp_seconds"] == backup.created_at.timestamp() > 0
    usage = shutil.disk_usage(scraped.settings.data_dir)
    assert 0 < second["investai_data_dir_free_bytes"] <= usage.total
    assert second["investai_data_dir_used_ratio"] == pytest.approx(1 - usage.free / usage.total, abs=0.01)


def _exposed_names(text: str) -> set[str]:
    """Every sample name the exposition declares (a family's suffixes by type) or carries."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads((OPS_DIR / "grafana" / "investai-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _rule_expressions() -> list[str]:
    yaml = pytest.importorskip("yaml")
    rules = yaml.safe_load((OPS_DIR / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_every_series_of_the_alerts_and_the_dashboard_is_exposed_after_one_scrape(
    client: TestClient, scraped: Container
) -> None:
    client.get("/health")
    scraped.metrics.record_model_call(ModelUse(step="plan", provider="offline", model_id="m"), "model_throttled")
    text = client.get("/metrics", headers=bearer(TOKEN)).text
    exposed = _exposed_names(text)
    rule_names = {name for expr in _rule_expressions() for name in METRIC_NAME.findall(expr)}
    dashboard_names = {name for expr in _dashboard_expressions() for name in METRIC_NAME.findall(expr)}
    assert len(rule_names) >= 8
    assert len(dashboard_names) >= len(rule_names)
    assert rule_names - exposed == set()
    assert dashboard_names - exposed == set()
    assert rule_names <= dashboard_names  # every alerted series has a panel
    sampled = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    alerted = {name for alert in ALERTS for name in METRIC_NAME.findall(alert.expr)}
    # the alerted series carry a value after one scrape (the model-cost counter only once a call has succeeded)
    assert alerted - sampled <= {"investai_model_cost_usd_total"}
