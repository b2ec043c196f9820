"""The dashboard: each role sees the panels its permissions allow, and only objects it may read."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from investai.bootstrap import Container
from investai.domain.access import Principal
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.domain.market import MarketStoreBusy
from investai.domain.users import Role
from investai.services.auth_common import CallContext
from investai.web.routes.dashboard import overview_symbols
from tests.factories import T0, idea_data, make_idea
from tests.web.conftest import ORG, WebUser


def json_block(html: str, block_id: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', html, re.S)
    assert found, f"no JSON block {block_id}"
    return json.loads(found.group(1))


def principal_of(container: Container, user: WebUser) -> Principal:
    return container.identity.verifier.verify(user.account.tokens.access_token)


def add_idea(container: Container, owner: WebUser | None, **overrides: Any) -> InvestmentIdea:
    """An idea citing market series only: one citing a document its reader may not read (the factory's cites
    no stored document) is shown with its text withheld."""
    market = [item for item in idea_data()["supporting_evidence"] if item.citation.kind == "market"]
    fields: dict[str, Any] = {"organisation_id": ORG, "supporting_evidence": market}
    if owner is not None:
        fields.update(owner_id=owner.account.user.id, organisation_id=owner.account.user.organisation_id)
    idea = make_idea(**{**fields, **overrides})
    container.ideas.add(idea)
    return idea


def test_a_new_analyst_gets_helpful_empty_states(web: Callable[..., WebUser]) -> None:
    html = web(organisation="org_empty").page("/").text
    assert "<h1>Dashboard</h1>" in html
    assert 'No ideas yet — <a href="/ideas/new">request some</a>' in html
    assert "No requests yet." in html
    assert "Compliance review" not in html
    assert "Operations" not in html


def test_an_analyst_sees_their_own_ideas_and_requests(web: Callable[..., WebUser], sample_container: Container) -> None:
    analyst, colleague = web(), web()
    mine = add_idea(sample_container, analyst, title="Momentum in staples", status=IdeaStatus.APPROVED)
    theirs = add_idea(sample_container, colleague, title="A colleague's idea")
    elsewhere = add_idea(sample_container, None, organisation_id="org_other", title="Another firm's idea")
    record = sample_container.idea_requests.submit(
        principal_of(sample_container, analyst),
        CallContext(),
        {"risk_tolerance": "conservative", "investment_horizon": "long", "tickers": ["KO", "PEP"], "max_ideas": 2},
    )
    html = analyst.page("/").text
    ideas = html.split('id="recent-ideas"')[1].split("</ul>")[0]
    assert f'<a class="title" href="/ideas/{mine.id}">Momentum in staples</a>' in ideas
    assert '<span class="badge status-approved">approved</span>' in ideas
    assert "AAPL · momentum · confidence 70%" in ideas
    assert theirs.id not in html
    assert elsewhere.id not in html
    requests = html.split('id="recent-requests"')[1].split("</ul>")[0]
    assert f'href="/ideas/requests/{record.id}"' in requests
    assert "Conservative" in requests
    assert "KO, PEP" in requests
    assert '<span class="badge status-queued">queued</span>' in requests
    assert '<progress max="100" value="0' in requests


def test_a_portfolio_manager_sees_the_organisation_s_ideas(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    manager, analyst = web(role=Role.PORTFOLIO_MANAGER, organisation="org_pm"), web(organisation="org_pm")
    shared = add_idea(sample_container, analyst, title="Banks after the rate peak", status=IdeaStatus.IN_REVIEW)
    html = manager.page("/").text
    assert "Recent ideas in your organisation" in html
    assert f'href="/ideas/{shared.id}"' in html
    assert '<span class="badge status-in_review">in review</span>' in html
    assert "Your idea requests" in html
    assert "Compliance review" not in html


def test_a_compliance_officer_sees_the_review_queue(web: Callable[..., WebUser], sample_container: Container) -> None:
    officer, analyst = web(role=Role.COMPLIANCE_OFFICER, organisation="org_review"), web(organisation="org_review")
    waiting = [
        add_idea(
            sample_container,
            analyst,
            title=f"Waiting {n}",
            status=IdeaStatus.IN_REVIEW,
            generated_at=T0 + timedelta(hours=n),
        )
        for n in (2, 0, 1)
    ]
    add_idea(sample_container, analyst, title="Already approved", status=IdeaStatus.APPROVED)
    add_idea(sample_container, None, organisation_id="org_other", status=IdeaStatus.IN_REVIEW)
    html = officer.page("/").text
    assert '<span class="value" id="review-count">3</span>' in html
    assert "ideas in review" in html
    assert '<a class="button primary" href="/compliance">Open the review queue</a>' in html
    oldest = min(waiting, key=lambda idea: idea.timestamp)
    assert f'Oldest waiting: <a href="/ideas/{oldest.id}">' in html
    assert "Recent ideas in your organisation" in html
    assert "Your idea requests" not in html  # the role does not request ideas
    assert "No ideas yet" not in html
    assert "Operations" not in html


def test_a_compliance_officer_with_an_empty_queue(web: Callable[..., WebUser]) -> None:
    html = web(role=Role.COMPLIANCE_OFFICER, organisation="org_quiet").page("/").text
    assert '<span class="value" id="review-count">0</span>' in html
    assert "Nothing waits for review." in html
    assert "No ideas yet. Ideas appear here once analysts or portfolio managers request them." in html


def test_an_administrator_sees_operations_and_no_ideas(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    html = web(role=Role.ADMINISTRATOR).page("/").text
    assert "Operations" in html
    readiness = sample_container.operations.readiness()
    for check in readiness.checks:
        assert check.name in html.split('id="readiness"')[1]
    assert ('<span class="badge good">Ready</span>' in html) is readiness.ready
    counts = sample_container.operations.job_counts()
    jobs = html.split('id="job-counts"')[1].split("</div>")[0]
    for status, count in counts.items():
        assert f'<span class="value">{count:,}</span><span class="label">{status.value}</span>' in jobs
    assert "recent-ideas" not in html
    assert "Your recent ideas" not in html
    assert "Your idea requests" not in html
    assert "Compliance review" not in html
    assert 'id="market-overview"' in html


@pytest.mark.parametrize("role", list(Role))
def test_every_role_sees_the_market_overview(
    web: Callable[..., WebUser], sample_container: Container, role: Role
) -> None:
    html = web(role=role).page("/").text
    overview = json_block(html, "market-overview-data")
    symbols = overview_symbols(sample_container)
    assert symbols[0] == "SPX"
    assert len(symbols) == 5
    assert overview == json.loads(json.dumps(sample_container.analytics.rebased(symbols, lookback_days=365)))
    assert list(overview["series"]) == symbols
    assert overview["end"] == "2022-12-28"
    assert overview["start"] >= "2021-12-28"
    assert all(values[0] == 100.0 for values in overview["series"].values())
    assert '<script src="/static/vendor/plotly.min.js" defer></script>' in html
    assert '<script src="/static/js/dashboard.js" defer></script>' in html
    assert f'to the latest prices of <time datetime="{overview["end"]}">' in html


def test_a_busy_market_store_leaves_the_rest_of_the_dashboard(
    web: Callable[..., WebUser], sample_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = web()

    def busy(*args: object, **kwargs: object) -> None:
        raise MarketStoreBusy("locked")

    monkeypatch.setattr(sample_container.analytics, "rebased", busy)
    html = user.page("/").text
    assert "Market data is being updated right now; reload in a moment." in html
    assert "market-overview-data" not in html
    assert "Your recent ideas" in html


def test_idea_titles_are_escaped(web: Callable[..., WebUser], sample_container: Container) -> None:
    analyst = web()
    add_idea(sample_container, analyst, title='<img src=x onerror="alert(1)"> pick')
    html = analyst.page("/").text
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; pick" in html


def test_signed_out_visitors_are_sent_to_sign_in(web: Callable[..., WebUser]) -> None:
    user = web()
    user.client.cookies.clear()
    response = user.client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/"
