"""Monthly model budgets through the API: 429 with its body and Retry-After (the user's budget and the
organisation's), acceptance below them, the reset at the month boundary (a fake clock), overrides set by an
administrator (audited), the check a queued request meets when it starts, the usage a finished run records,
the budget status a user reads and the administrator's cost report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container
from investai.config import Settings
from investai.domain.access import Principal
from investai.domain.agents import AgentMessage, AgentName, AgentState
from investai.domain.budgets import usd_to_nanos
from investai.domain.common import new_id
from investai.domain.idea_jobs import RequestStatus
from investai.domain.idea_parts import ModelUse
from investai.domain.idea_request import IdeaRequest
from investai.domain.knowledge import AccessScope
from investai.domain.users import Role
from investai.ports.ideas import GenerationResult
from investai.server import create_app
from investai.services.auth_common import CallContext, TokenSet
from investai.services.idea_requests import IdeaRequestService
from tests.conftest import Account, drain, sign_up
from tests.conftest import spend as record_use
from tests.factories import T0

REQUEST = {"max_ideas": 2, "tickers": ["AAPL", "MSFT"]}
RESET = datetime(2024, 2, 1, tzinfo=UTC)  # the month after T0 (2024-01-02 09:30 UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        _env_file=None,
        budget_user_monthly_usd=1.0,
        budget_user_monthly_tokens=0,  # unlimited
        budget_org_monthly_usd=None,  # unlimited
        budget_org_monthly_tokens=None,
    )


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


def spend(container: Container, account: Account, *, usd: float = 0.0, tokens: int = 0, at: datetime = T0) -> None:
    record_use(container, account, usd=usd, tokens=tokens, at=at)


def signed_in_again(container: Container, account: Account) -> Account:
    tokens = container.identity.auth.login(account.user.email, account.password, CallContext())
    assert isinstance(tokens, TokenSet)
    return Account(user=account.user, password=account.password, tokens=tokens)


def submit(client: TestClient, account: Account, *, mode: str = "async") -> Any:
    return client.post(f"/api/v1/ideas/requests?mode={mode}", json=REQUEST, headers=account.headers)


def metric(status: dict[str, Any], scope: str, name: str) -> dict[str, Any]:
    return next(item for item in status[scope]["metrics"] if item["metric"] == name)


def test_below_the_budget_a_request_is_accepted_and_the_status_shows_the_spend(
    client: TestClient, container: Container, analyst: Account
) -> None:
    spend(container, analyst, usd=0.99)
    assert submit(client, analyst).status_code == 202
    status = client.get("/api/v1/profile/budget", headers=analyst.headers)
    assert status.status_code == 200
    assert status.headers["cache-control"] == "no-store"
    body = status.json()
    assert (body["month"], body["resets_at"]) == ("2024-01", "2024-02-01T00:00:00Z")
    usd = metric(body, "user", "usd")
    assert (usd["limit"], usd["spent"], usd["exceeded"]) == (1.0, pytest.approx(0.99), False)
    assert usd["remaining"] == pytest.approx(0.01)
    assert metric(body, "user", "tokens")["limit"] is None
    assert metric(body, "organisation", "usd") == {
        "metric": "usd",
        "limit": None,
        "spent": pytest.approx(0.99),
        "remaining": None,
        "exceeded": False,
    }


def test_a_spent_user_budget_answers_429_with_which_budget_and_when_it_resets(
    client: TestClient, container: Container, analyst: Account
) -> None:
    spend(container, analyst, usd=1.0)
    for mode in ("async", "sync"):
        response = submit(client, analyst, mode=mode)
        assert response.status_code == 429
        error = response.json()["error"]
        assert error["code"] == "budget_exceeded"
        assert (error["budget"], error["metric"], error["limit"], error["spent"]) == ("user", "usd", 1.0, 1.0)
        assert error["resets_at"] == "2024-02-01T00:00:00Z"
        assert error["request_id"]
        assert int(response.headers["retry-after"]) == int((RESET - T0).total_seconds())
    assert client.get("/api/v1/ideas/requests", headers=analyst.headers).json() == []  # nothing was stored
    assert metric(client.get("/api/v1/profile/budget", headers=analyst.headers).json(), "user", "usd")["exceeded"]


def test_a_spent_organisation_budget_stops_every_user_of_it_only(
    client: TestClient, container: Container, analyst: Account, admin: Account
) -> None:
    response = client.put("/api/v1/admin/budgets/organisation", json={"monthly_tokens": 5000}, headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["monthly_tokens"] == 5000
    colleague = sign_up(container, role=Role.PORTFOLIO_MANAGER)
    spend(container, colleague, tokens=4999)
    assert submit(client, analyst).status_code == 202
    spend(container, colleague, tokens=1)
    refused = submit(client, analyst)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["budget"], error["metric"], error["limit"], error["spent"]) == ("organisation", "tokens", 5000, 5000)
    assert refused.headers["retry-after"] == str(int((RESET - T0).total_seconds()))
    elsewhere = sign_up(container, role=Role.ANALYST, organisation="org_2")
    assert submit(client, elsewhere).status_code == 202


def test_the_budget_resets_at_the_first_instant_of_the_next_month_utc(
    client: TestClient, container: Container, clock: FakeClock, analyst: Account
) -> None:
    spend(container, analyst, usd=3.0)
    clock.set(RESET - timedelta(milliseconds=1))
    analyst = signed_in_again(container, analyst)  # the first access token expired meanwhile
    refused = submit(client, analyst)
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
    clock.set(RESET)
    assert submit(client, analyst).status_code == 202
    body = client.get("/api/v1/profile/budget", headers=analyst.headers).json()
    assert (body["month"], body["resets_at"]) == ("2024-02", "2024-03-01T00:00:00Z")
    assert metric(body, "user", "usd")["spent"] == 0.0


def test_administrators_override_a_users_budget_audited(
    client: TestClient, container: Container, analyst: Account, admin: Account
) -> None:
    path = f"/api/v1/admin/budgets/users/{analyst.user.id}"
    spend(container, analyst, usd=1.5)
    assert submit(client, analyst).status_code == 429
    assert client.put(path, json={"monthly_usd": 2.0}, headers=analyst.headers).status_code == 403
    raised = client.put(path, json={"monthly_usd": 2.0}, headers=admin.headers)
    assert raised.status_code == 200
    assert raised.json()["updated_by"] == admin.user.id
    assert submit(client, analyst).status_code == 202
    spend(container, analyst, usd=10.0)
    assert client.put(path, json={"monthly_usd": 0}, headers=admin.headers).status_code == 200  # 0: no limit
    assert submit(client, analyst).status_code == 202
    listed = client.get("/api/v1/admin/budgets", headers=admin.headers).json()
    assert [(item["scope"], item["subject_id"], item["monthly_usd"]) for item in listed] == [
        ("user", analyst.user.id, 0.0)
    ]
    assert client.delete(path, headers=admin.headers).status_code == 204
    assert client.delete(path, headers=admin.headers).status_code == 204  # idempotent
    assert client.delete(f"/api/v1/admin/budgets/users/{new_id('usr_')}", headers=admin.headers).status_code == 404
    assert submit(client, analyst).status_code == 429  # the default again
    other_admin = sign_up(container, role=Role.ADMINISTRATOR, organisation="org_2")
    assert client.put(path, json={"monthly_usd": 9.0}, headers=other_admin.headers).status_code == 404
    assert client.put(path, json={"monthly_usd": -1}, headers=admin.headers).status_code == 422
    actions = [event.action for event in container.identity.audit.list_events(organisation_id="org_1")]
    assert actions.count("budget.set") == 2
    assert actions.count("budget.clear") == 1


def test_a_queued_request_does_not_start_once_the_budget_is_spent(
    client: TestClient, container: Container, analyst: Account
) -> None:
    accepted = submit(client, analyst)
    assert accepted.status_code == 202
    spend(container, analyst, usd=1.0)  # another request's spend, recorded meanwhile
    assert drain(container) == 1
    status = client.get(accepted.headers["location"], headers=analyst.headers).json()
    assert status["status"] == "failed"
    assert status["error"].startswith("budget_exceeded: ")
    assert status["started_at"] is None


class PricedGenerator:
    """A generator standing in for the agent team: no ideas, and the model uses it was given."""

    def __init__(self, uses: list[ModelUse]) -> None:
        self.uses = uses

    def generate(
        self,
        request: IdeaRequest,
        *,
        request_id: str,
        reader: AccessScope,
        on_message: Callable[[AgentMessage], None] = lambda message: None,
        on_progress: Callable[[AgentName, AgentState, float, str | None], None] = lambda *args: None,
        is_cancelled: Callable[[], bool] = lambda: False,
    ) -> GenerationResult:
        return GenerationResult(model_uses=self.uses)


def test_a_finished_run_records_its_model_uses_once(container: Container, clock: FakeClock, analyst: Account) -> None:
    uses = [
        ModelUse(
            step=step, provider="bedrock", model_id=model, input_tokens=inputs, output_tokens=outputs, cost_usd=cost
        )
        for step, model, inputs, outputs, cost in (
            ("planning", "model-r", 1200, 300, 0.0081),
            ("research", "model-f", 800, 100, 0.00104),
            ("research", "model-f", 700, 90, 0.00092),
            ("synthesis", "model-r", 2500, 900, 0.021),
        )
    ]
    service = IdeaRequestService(
        requests=container._adapters.records.idea_requests,
        ideas=container.ideas,
        users=container.users,
        jobs=container.jobs,
        generator=PricedGenerator(uses),
        audit=container.identity.audit,
        clock=container.clock,
        sources=container.identity.ideas.sources,
        budgets=container.budgets,
    )
    principal = Principal.acting_as(analyst.user, actor="test", at=T0)
    record = service.submit_unqueued(principal, CallContext(), REQUEST)
    finished = service.run(record.id)
    assert finished.status is RequestStatus.SUCCEEDED
    service.run(record.id)  # already finished: nothing runs or counts again
    report = container.budgets.report(month="2024-01")
    assert report.total.calls == 4 == finished.usage.calls
    assert report.total.tokens == sum(use.input_tokens + use.output_tokens for use in uses)
    assert usd_to_nanos(report.total.cost_usd) == usd_to_nanos(sum(use.cost_usd for use in uses))
    assert {line.key: line.calls for line in report.by_step} == {"planning": 1, "research": 2, "synthesis": 1}
    assert {line.key: line.tokens for line in report.by_model} == {"model-r": 4900, "model-f": 1690}
    assert [line.key for line in report.by_user] == [analyst.user.id]
    spent = container.budgets.status(principal).user.metrics[0]
    assert spent.spent == pytest.approx(0.03106)


def test_the_administrators_cost_report_is_their_organisations(
    client: TestClient, container: Container, analyst: Account, admin: Account
) -> None:
    colleague = sign_up(container, role=Role.PORTFOLIO_MANAGER)
    elsewhere = sign_up(container, role=Role.ANALYST, organisation="org_2")
    spend(container, analyst, usd=0.25, tokens=1000)
    spend(container, colleague, usd=0.5, tokens=3000)
    spend(container, colleague, usd=0.125, tokens=10)
    spend(container, elsewhere, usd=7.0, tokens=99)
    spend(container, analyst, usd=4.0, at=RESET)  # next month
    response = client.get("/api/v1/admin/costs", params={"month": "2024-01"}, headers=admin.headers)
    assert response.status_code == 200
    report = response.json()
    assert report["organisation_id"] == "org_1"
    assert (report["total"]["calls"], report["total"]["tokens"]) == (3, 4010)
    assert report["total"]["cost_usd"] == pytest.approx(0.875)
    assert [(line["key"], line["tokens"]) for line in report["by_user"]] == [
        (colleague.user.id, 3010),
        (analyst.user.id, 1000),
    ]
    assert client.get("/api/v1/admin/costs", headers=admin.headers).json() == report  # this month by default
    assert client.get("/api/v1/admin/costs", headers=analyst.headers).status_code == 403
    assert client.get("/api/v1/admin/costs", params={"month": "2024-13"}, headers=admin.headers).status_code == 422
