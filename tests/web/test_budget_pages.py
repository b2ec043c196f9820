"""Monthly model budgets on the pages: an idea request submitted through the form while a budget is spent answers
429 with ``Retry-After`` and the form again, showing the budget, the spend and when it resets (nothing is
queued); the profile page shows month-to-date spend and tokens against the user's and the organisation's limits;
the mapping the pages share with the API gives a spent budget 429 and Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.errors import BudgetExceeded
from investai.http.errors import headers_of, status_of
from investai.server import create_app
from tests.conftest import Account, sign_up
from tests.conftest import spend as record_use
from tests.web.conftest import NOW, ORG, WebUser, sign_in

RESET = datetime(2024, 2, 1, tzinfo=UTC)  # the first instant of the month after NOW (2024-01-02 09:30 UTC)
REQUEST_FORM = {
    "risk_tolerance": "moderate",
    "investment_horizon": "medium",
    "max_ideas": "2",
    "asset_classes": "equity",
}


@pytest.fixture
def budgeted(tmp_path: Path) -> Iterator[Container]:
    """A user budget of $1.00 (tokens unlimited); an organisation budget of 5,000 tokens (cost unlimited)."""
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "var",
        budget_user_monthly_usd=1.0,
        budget_user_monthly_tokens=0,
        budget_org_monthly_usd=None,
        budget_org_monthly_tokens=5000,
    )
    built = build_container(settings, clock=FakeClock(NOW))
    yield built
    built.close()


@pytest.fixture
def app(budgeted: Container) -> FastAPI:
    return create_app(budgeted)


def spend(container: Container, account: Account, *, usd: float = 0.0, tokens: int = 0) -> None:
    record_use(container, account, usd=usd, tokens=tokens, at=NOW)


def signed_in(app: FastAPI, container: Container) -> tuple[WebUser, Account]:
    account = sign_up(container, organisation=ORG)
    return sign_in(app, account), account


def test_a_request_over_the_budget_shows_the_budget_the_spend_and_the_reset(app: FastAPI, budgeted: Container) -> None:
    user, account = signed_in(app, budgeted)
    try:
        spend(budgeted, account, usd=1.25)
        user.page("/ideas/new")
        response = user.submit("/ideas/new", REQUEST_FORM)
        assert response.status_code == 429, response.text[:800]
        assert response.headers["content-type"].startswith("text/html")
        assert int(response.headers["retry-after"]) == int((RESET - NOW).total_seconds())
        page = response.text
        box = page.split('id="budget-exceeded"')[1].split("</div>")[0]
        assert "Your monthly model cost budget is spent" in box
        assert "<dt>Monthly budget</dt><dd>$1.00</dd>" in box
        assert "<dt>Spent this month</dt><dd>$1.25</dd>" in box
        assert '<time datetime="2024-02-01T00:00:00+00:00">2024-02-01 00:00 UTC</time>' in box
        assert 'id="request-form"' in page, "the form is shown again, as filled in"
        assert user.api("GET", "/api/v1/ideas/requests").json() == [], "nothing was queued"
        assert budgeted.jobs.lease(visibility_timeout=timedelta(minutes=1)) is None, "no job either"
    finally:
        user.client.close()


def test_a_spent_organisation_budget_names_the_organisation(app: FastAPI, budgeted: Container) -> None:
    user, _account = signed_in(app, budgeted)
    colleague = sign_up(budgeted, organisation=ORG)
    try:
        spend(budgeted, colleague, tokens=5000)
        user.page("/ideas/new")
        response = user.submit("/ideas/new", REQUEST_FORM)
        assert response.status_code == 429
        box = response.text.split('id="budget-exceeded"')[1].split("</div>")[0]
        assert "Your organisation&#39;s monthly model tokens budget is spent" in box
        assert "<dt>Monthly budget</dt><dd>5,000 tokens</dd>" in box
        assert "<dt>Spent this month</dt><dd>5,000 tokens</dd>" in box
    finally:
        user.client.close()


def test_below_the_budget_the_form_goes_through(app: FastAPI, budgeted: Container) -> None:
    user, account = signed_in(app, budgeted)
    try:
        spend(budgeted, account, usd=0.99)
        user.page("/ideas/new")
        response = user.submit("/ideas/new", REQUEST_FORM)
        assert response.status_code == 303, response.text[:800]
        assert response.headers["location"].startswith("/ideas/requests/")
    finally:
        user.client.close()


def test_the_profile_page_shows_spend_and_tokens_against_the_limits(app: FastAPI, budgeted: Container) -> None:
    user, account = signed_in(app, budgeted)
    colleague = sign_up(budgeted, organisation=ORG)
    try:
        spend(budgeted, account, usd=0.25, tokens=1200)
        spend(budgeted, colleague, usd=0.5, tokens=800)
        page = user.page("/profile").text
        section = page.split('id="budget"')[1].split("</section>")[0]
        assert "Month 2024-01 so far" in section
        assert '<time datetime="2024-02-01T00:00:00+00:00">2024-02-01 00:00 UTC</time>' in section
        rows = [row.split("</tr>")[0] for row in section.split("<tr>")[2:]]
        cells = [[cell.split(">", 1)[1].split("<", 1)[0].strip() for cell in row.split("<td")[1:]] for row in rows]
        assert [row[0] for row in cells] == ["Model cost", "Model tokens", "Model cost", "Model tokens"]
        you_cost, you_tokens, org_cost, org_tokens = cells
        assert you_cost[2:4] == ["$1.00", "$0.75"]  # limit, remaining
        assert you_cost[1] == "$0.25"  # spent
        assert you_tokens[1] == "1,200 tokens"
        assert you_tokens[2:4] == ["unlimited", "—"]
        assert org_cost[1] == "$0.75"
        assert org_cost[2] == "unlimited"
        assert org_tokens[1] == "2,000 tokens"
        assert org_tokens[2:4] == ["5,000 tokens", "3,000 tokens"]
        assert section.count('<span class="badge good">') == 2  # 25% and 40% used
        assert "25% used" in section
        assert "40% used" in section
        assert "A budget is spent" not in section

        spend(budgeted, colleague, tokens=3000)  # the organisation's 5,000 tokens are spent
        section = user.page("/profile").text.split('id="budget"')[1].split("</section>")[0]
        assert "A budget is spent: new idea requests are refused until it resets." in section
        assert section.count('<span class="badge bad">spent</span>') == 1
    finally:
        user.client.close()


def test_the_shared_mapping_gives_a_spent_budget_429_and_retry_after() -> None:
    exc = BudgetExceeded(budget="user", metric="usd", limit=1.0, spent=1.0, resets_at=RESET, retry_after_s=59.2)
    assert status_of(exc) == 429
    assert headers_of(exc) == {"Retry-After": "60"}
