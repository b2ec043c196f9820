"""The idea page without a browser: every tab's content against the idea itself, the chart data, status
changes by role (submit, withdraw, approve, reject, and what each role may not do), feedback, earlier versions,
other organisations and escaping of stored text."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from markupsafe import escape

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container
from investai.domain.citations import Citation
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.domain.users import Role
from investai.services.auth_common import CallContext
from investai.services.market import bar_frame_from_rows
from investai.web.links import citation_href
from tests.conftest import Account, sign_up
from tests.web.conftest import ORG, WebUser, drain, sign_in

TABS = ("Overview", "Analysis", "Risks", "Evidence", "Compliance", "History", "Feedback")
XSS = '<script>alert("rationale")</script><img src=x onerror=alert(1)>'


@dataclass(frozen=True)
class Generated:
    owner: Account
    ideas: list[InvestmentIdea]


@pytest.fixture(scope="module")
def generated(sample_container: Container) -> Generated:
    """Three ideas from one real request by an analyst, run by the worker."""
    owner = sign_up(sample_container, role=Role.ANALYST, organisation=ORG)
    principal = sample_container.identity.verifier.verify(owner.tokens.access_token)
    body = {"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 3}
    record = sample_container.idea_requests.submit(principal, CallContext(), body)
    drain(sample_container)
    ideas = sample_container.idea_requests.results(principal, CallContext(), record.id)
    assert len(ideas) == 3
    return Generated(owner=owner, ideas=ideas)


@pytest.fixture
def owner(sample_app: FastAPI, generated: Generated) -> WebUser:
    return sign_in(sample_app, generated.owner)


def latest(container: Container, idea_id: str) -> InvestmentIdea:
    return container.ideas.get(idea_id)


def panel(page: str, key: str) -> str:
    """The markup of one tab panel."""
    start = page.index(f'id="panel-{key}"')
    end = page.find('role="tabpanel"', start + 1)
    return page[start : end if end > 0 else len(page)]


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)))


def status_badge(page: str) -> str:
    found = re.search(r'<span id="idea-status"[^>]*>([^<]*)</span>', page)
    assert found, "no status badge"
    return found.group(1)


def hrefs(markup: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'<a class="citation" href="([^"]+)"', markup)]


def chart_data(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="idea-charts">(.*?)</script>', page, re.S)
    assert found, "no chart data block"
    return dict(json.loads(found.group(1)))


# --- reading ---------------------------------------------------------------------------------------------------


def test_the_page_shows_the_idea_in_every_tab(
    owner: WebUser, generated: Generated, sample_container: Container
) -> None:
    idea = latest(sample_container, generated.ideas[0].id)
    page = owner.page(f"/ideas/{idea.id}").text
    assert f'<h1 id="idea-title">{html.escape(idea.title)}</h1>' in page
    assert status_badge(page) == "draft"
    for name in TABS:
        assert re.search(rf'role="tab"[^>]*data-hash="{name.lower()}"[^>]*>{name}</button>', page), name
    assert f'href="/api/v1/ideas/{idea.id}/export?format=html"' in page
    assert f'href="/api/v1/ideas/{idea.id}/export?format=markdown"' in page
    facts = text_of(page.split('id="facts-heading"')[1].split("</dl>")[0])
    assert f"{idea.confidence * 100:.1f}%" in facts
    assert generated.owner.user.email in facts
    assert all(instrument.symbol in facts for instrument in idea.instruments)

    overview = text_of(panel(page, "overview"))
    assert idea.summary in overview
    assert idea.rationale.split("\n")[0].strip() in overview
    assert f"{idea.expected_return.point * 100:+.1f}%" in overview
    for outcome in idea.outcomes:
        assert f"{outcome.scenario.value.capitalize()} case" in overview
        assert f"{outcome.probability * 100:.0f}%" in overview
        assert all(condition in overview for condition in outcome.conditions)
    assert f"{idea.levels[0].entry:,.2f}" in overview
    assert f"{idea.levels[0].stop:,.2f}" in overview
    assert idea.provenance.code_version in overview
    assert "offline" in overview
    assert all(use.model_id in overview for use in idea.provenance.models)

    risks = text_of(panel(page, "risks"))
    assert all(text in risks for text in idea.counter_arguments)
    flagged = [issue for issue in idea.compliance.issues if issue.severity.value != "info"]
    assert all(issue.message in risks for issue in flagged)
    assert not any(
        i.message in risks for i in idea.compliance.issues if i.severity.value == "info" and i not in flagged
    )

    compliance = text_of(panel(page, "compliance"))
    assert idea.compliance.state.value.replace("_", " ") in compliance
    assert all(check.detail in compliance for check in idea.compliance.checks if check.detail)
    assert all(text in compliance for text in idea.compliance.disclosures)


def test_every_citation_links_where_citation_href_says(
    owner: WebUser, generated: Generated, sample_container: Container
) -> None:
    idea = latest(sample_container, generated.ideas[0].id)
    page = owner.page(f"/ideas/{idea.id}").text
    evidence = panel(page, "evidence")
    cited: list[Citation] = [item.citation for item in idea.supporting_evidence]
    assert idea.expected_return.citation is not None
    figures = [idea.expected_return.citation, *idea.metrics.sources]
    assert hrefs(evidence) == [citation_href(c) for c in cited + figures]
    assert any(c.kind == "document" for c in cited), "the sample documents should be cited"
    documents = [c for c in cited if c.kind == "document"]
    title = sample_container.knowledge.documents.get(
        sample_container.identity.verifier.verify(generated.owner.tokens.access_token),
        documents[0].document_id,
        CallContext(),
    ).title
    assert html.escape(title) in evidence
    assert f"page {documents[0].page}" in evidence
    metrics = panel(page, "analysis")
    assert all(citation_href(source) in hrefs(metrics) for source in idea.metrics.sources)
    assert all(item.weight is not None and f"{item.weight:,.3f}" in evidence for item in idea.supporting_evidence)


def test_the_analysis_tab_carries_its_charts_and_explanation(
    owner: WebUser, generated: Generated, sample_container: Container
) -> None:
    idea = latest(sample_container, generated.ideas[0].id)
    page = owner.page(f"/ideas/{idea.id}").text
    analysis = panel(page, "analysis")
    for chart in ("price-chart", "fan-chart", "factor-chart"):
        assert f'id="{chart}"' in analysis
    assert '<script src="/static/vendor/plotly.min.js" async id="plotly-bundle"></script>' in page
    assert '<script src="/static/js/idea_detail.js" defer></script>' in page
    data = chart_data(page)
    assert idea.analysis is not None
    price = data["price"]
    assert price["symbol"] == idea.instruments[0].symbol
    assert price["dates"][0] >= idea.analysis.data_start.isoformat()
    assert price["dates"][-1] == idea.analysis.data_end.isoformat()
    assert len(price["dates"]) == len(price["closes"]) > 100
    assert price["levels"] == {
        "entry": idea.levels[0].entry,
        "target": idea.levels[0].target,
        "stop": idea.levels[0].stop,
    }
    assert price["closes"][-1] == pytest.approx(idea.levels[0].entry)  # entry is the last close of the window
    assert [row["50"] for row in data["fan"]] == [row["50"] for row in idea.analysis.fan]
    assert data["fan"][-1]["day"] == idea.expected_return.horizon_days
    assert data["contributions"] == pytest.approx(idea.analysis.contributions)
    text = text_of(analysis)
    for label in ("Volatility (annualised)", "Sharpe ratio", "Sortino ratio", "Maximum drawdown", "Beta"):
        assert label in text
    for label in ("VaR 95% (one day)", "CVaR 95% (one day)", "VaR 99% (one day)", "CVaR 99% (one day)"):
        assert label in text
    assert f"{idea.metrics.volatility * 100:.2f}%" in text
    assert f"Ranked {idea.analysis.rank} of {idea.analysis.screened}" in text
    assert idea.analysis.commentary is not None
    assert "Quantitative commentary" in text
    assert idea.analysis.commentary.text in text
    assert "Written by code from these metrics." in text  # the sample runs offline
    assert f"Confidence {idea.confidence * 100:.1f}%" in text
    assert "Performance since generation" in text
    assert "Realised return" in text
    assert "Decision path" in text
    assert "Supervisor" in text.title()


def test_the_price_chart_is_point_in_time(owner: WebUser, generated: Generated, sample_container: Container) -> None:
    """A correction stored after the idea's data as-of moment never reaches its chart."""
    idea = latest(sample_container, generated.ideas[0].id)
    assert idea.analysis is not None
    symbol, day = idea.instruments[0].symbol, idea.analysis.data_end.isoformat()
    clock = sample_container.clock
    assert isinstance(clock, FakeClock)
    before = clock.now()
    clock.set(idea.provenance.data_as_of + timedelta(days=2))
    try:
        row = {"symbol": symbol, "date": day, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "adj_close": 1.0}
        frame, problems = bar_frame_from_rows([{**row, "volume": 1.0}])
        admin = sign_up(sample_container, role=Role.ADMINISTRATOR, organisation=ORG)
        principal = sample_container.identity.verifier.verify(admin.tokens.access_token)
        note = "vendor restated the close"  # a change this large is an administrator's explicit correction
        sample_container.market_review.correct(principal, CallContext(), frame, problems=problems, note=note)
    finally:
        clock.set(before)
    corrected = sample_container.market.bars(symbol, start=idea.analysis.data_end, end=idea.analysis.data_end)
    assert corrected[-1].close == 1.0
    price = chart_data(owner.page(f"/ideas/{idea.id}").text)["price"]
    assert price["dates"][-1] == day
    assert price["closes"][-1] == pytest.approx(idea.levels[0].entry) != 1.0


# --- status changes --------------------------------------------------------------------------------------------


def test_owner_submits_analyst_cannot_approve_officer_rejects_then_approves(
    owner: WebUser, web: Callable[..., WebUser], generated: Generated, sample_container: Container
) -> None:
    idea_id = generated.ideas[1].id
    page = owner.page(f"/ideas/{idea_id}").text
    assert "Submit for review</button>" in page
    assert ">Approve</button>" not in page
    assert ">Reject</button>" not in page

    skipped = owner.submit(f"/ideas/{idea_id}/status", {"status": "approved"})
    assert skipped.status_code == 409
    assert "cannot move from draft to approved" in skipped.text
    assert latest(sample_container, idea_id).status is IdeaStatus.DRAFT

    moved = owner.submit(f"/ideas/{idea_id}/status", {"status": "in_review"})
    assert moved.status_code == 303
    assert moved.headers["location"] == f"/ideas/{idea_id}?notice=status_changed"
    page = owner.page(moved.headers["location"]).text
    assert status_badge(page) == "in_review"
    assert "The idea&#39;s status was changed." in page
    assert "Withdraw</button>" in page
    assert "Submit for review</button>" not in page
    refused = owner.submit(f"/ideas/{idea_id}/status", {"status": "approved"})
    assert refused.status_code == 403  # an analyst cannot approve, not even their own idea
    assert "The status was not changed" in refused.text
    assert "compliance officers" in refused.text
    assert status_badge(refused.text) == "in_review"
    assert latest(sample_container, idea_id).status is IdeaStatus.IN_REVIEW

    colleague = web(role=Role.ANALYST)
    colleague.page("/")
    denied = colleague.submit(f"/ideas/{idea_id}/status", {"status": "approved"})
    assert denied.status_code == 404  # another analyst cannot even see it

    officer = web(role=Role.COMPLIANCE_OFFICER)
    page = officer.page(f"/ideas/{idea_id}").text
    assert '<label for="approve-note">Note</label>' in page
    assert '<label for="reject-reason">Reason</label>' in page
    assert "Withdraw</button>" not in page
    no_reason = officer.submit(f"/ideas/{idea_id}/status", {"status": "rejected", "reason": "  "})
    assert no_reason.status_code == 422
    assert "a rejection needs a reason" in no_reason.text
    assert latest(sample_container, idea_id).status is IdeaStatus.IN_REVIEW

    approved = officer.submit(f"/ideas/{idea_id}/status", {"status": "approved", "reason": "sizing checked"})
    assert approved.status_code == 303, approved.text[:400]
    page = officer.page(f"/ideas/{idea_id}").text
    assert status_badge(page) == "approved"
    history = text_of(panel(page, "history"))
    assert officer.account.user.email in history
    assert "sizing checked" in history
    assert generated.owner.user.email in history  # the owner submitted it
    again = officer.submit(f"/ideas/{idea_id}/status", {"status": "approved"})
    assert again.status_code == 409
    assert "cannot move from approved to approved" in again.text


def test_officer_rejects_with_a_reason_and_owner_withdraws(
    owner: WebUser, web: Callable[..., WebUser], generated: Generated, sample_container: Container
) -> None:
    idea_id = generated.ideas[2].id
    assert owner.submit(f"/ideas/{idea_id}/status", {"status": "in_review"}).status_code == 303
    assert owner.submit(f"/ideas/{idea_id}/status", {"status": "draft"}).status_code == 303
    assert latest(sample_container, idea_id).status is IdeaStatus.DRAFT
    assert owner.submit(f"/ideas/{idea_id}/status", {"status": "in_review"}).status_code == 303
    officer = web(role=Role.COMPLIANCE_OFFICER)
    officer.page(f"/ideas/{idea_id}")
    rejected = officer.submit(f"/ideas/{idea_id}/status", {"status": "rejected", "reason": "stale prices"})
    assert rejected.status_code == 303
    page = owner.page(f"/ideas/{idea_id}#history").text
    assert status_badge(page) == "rejected"
    assert "stale prices" in text_of(panel(page, "history"))
    bogus = owner.submit(f"/ideas/{idea_id}/status", {"status": "launched"})
    assert bogus.status_code == 422
    assert "There is no status called" in bogus.text


def test_a_status_form_without_the_csrf_token_is_refused(
    owner: WebUser, generated: Generated, sample_container: Container
) -> None:
    idea_id = generated.ideas[0].id
    response = owner.client.post(f"/ideas/{idea_id}/status", data={"status": "in_review"}, follow_redirects=False)
    assert response.status_code == 403
    assert latest(sample_container, idea_id).status is IdeaStatus.DRAFT


# --- feedback --------------------------------------------------------------------------------------------------


def test_feedback_round_trip_and_refusals(
    owner: WebUser, web: Callable[..., WebUser], generated: Generated, sample_container: Container
) -> None:
    idea_id = generated.ideas[0].id
    page = owner.page(f"/ideas/{idea_id}").text
    feedback = panel(page, "feedback")
    for label, field in (("Rating", "rating"), ("Usefulness", "usefulness"), ("Accuracy", "accuracy")):
        assert f'<label for="feedback-{field}">{label}</label>' in feedback
    assert '<label for="feedback-insight">Insight</label>' in feedback
    assert '<label for="feedback-action_taken">Action taken</label>' in feedback
    assert '<label for="feedback-comment">Comments</label>' in feedback
    assert "Send feedback</button>" in feedback

    bad = owner.submit(f"/ideas/{idea_id}/feedback", {"rating": "9", "usefulness": "x", "comment": "hm"})
    assert bad.status_code == 422
    assert "Rating:" in bad.text
    assert "Usefulness:" in bad.text
    assert 'aria-selected="true" tabindex="0">Feedback</button>' in bad.text
    assert ">hm</textarea>" in bad.text  # what was typed is kept
    missing = owner.submit(f"/ideas/{idea_id}/feedback", {"action_taken": "sold_everything"})
    assert missing.status_code == 422
    assert "Action taken:" in missing.text

    comment = "Useful framing <b>bold</b>"
    sent = owner.submit(
        f"/ideas/{idea_id}/feedback",
        {
            "rating": "4",
            "usefulness": "5",
            "accuracy": "3",
            "insight": "",
            "action_taken": "watchlist",
            "comment": comment,
        },
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/ideas/{idea_id}?notice=feedback_saved#feedback"
    stored = sample_container.feedback.list_for_idea(idea_id)
    assert [(f.rating, f.usefulness, f.accuracy, f.insight, f.action_taken.value, f.comment) for f in stored] == [
        (4, 5, 3, None, "watchlist", comment)
    ]
    page = owner.page(sent.headers["location"]).text
    listed = panel(page, "feedback")
    assert "<strong>4/5</strong>" in listed
    assert html.escape(comment) in listed
    assert "<b>bold</b>" not in listed
    assert "Thank you: your feedback was recorded." in page

    officer = web(role=Role.COMPLIANCE_OFFICER)
    page = officer.page(f"/ideas/{idea_id}").text
    assert "Send feedback" not in page  # no ideas:feedback permission, but the feedback is listed
    assert html.escape(comment) in panel(page, "feedback")
    forbidden = officer.submit(f"/ideas/{idea_id}/feedback", {"rating": "5"})
    assert forbidden.status_code == 403
    assert len(sample_container.feedback.list_for_idea(idea_id)) == 1


# --- versions, access, escaping ---------------------------------------------------------------------------------


def test_stored_text_is_escaped_and_earlier_versions_are_read_only(
    owner: WebUser, generated: Generated, sample_container: Container
) -> None:
    original = latest(sample_container, generated.ideas[2].id)
    revised = original.revise(
        at=sample_container.clock.now(), rationale=f"First paragraph {XSS}\n\nSecond paragraph", title=f"T {XSS}"
    )
    sample_container.ideas.add(revised)
    page = owner.page(f"/ideas/{revised.id}").text
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert str(escape(XSS)) in page
    rationale = page.split('id="idea-rationale"')[1].split("</div>")[0]
    assert rationale.count("<p>") == 2
    assert 'id="old-version"' not in page

    old = owner.page(f"/ideas/{revised.id}", version=original.version).text
    assert 'id="old-version"' in old
    assert f"version {original.version}, an earlier version" in old
    assert html.escape(original.title) in old
    assert "<script>" not in old
    assert "/status" not in old
    assert "Send feedback" not in old
    history = panel(old, "history")
    assert f'href="?version={original.version - 1}#history"' in history or original.version == 1
    assert f'href="/ideas/{revised.id}#history"' in history
    owner.page(f"/ideas/{revised.id}", version=revised.version + 5, status=404)


def test_other_organisations_and_other_analysts_get_404(
    web: Callable[..., WebUser], generated: Generated, sample_container: Container
) -> None:
    idea_id = generated.ideas[0].id
    for user in (web(role=Role.ANALYST, organisation="org_2"), web(role=Role.COMPLIANCE_OFFICER, organisation="org_2")):
        page = user.page(f"/ideas/{idea_id}", status=404)
        assert "404" in page.text
        assert "not found" in page.text
        assert user.submit(f"/ideas/{idea_id}/status", {"status": "archived"}).status_code == 404
    colleague = web(role=Role.ANALYST)
    colleague.page(f"/ideas/{idea_id}", status=404)
    manager = web(role=Role.PORTFOLIO_MANAGER)
    page = manager.page(f"/ideas/{idea_id}").text  # organisation-wide reader
    assert "Submit for review" not in page
    assert "Send feedback</button>" in page
    admin = web(role=Role.ADMINISTRATOR)
    assert "Your role does not allow this page." in admin.page(f"/ideas/{idea_id}", status=403).text
    missing = web().page("/ideas/idea_does_not_exist", status=404)
    assert "not found" in missing.text
    assert latest(sample_container, idea_id).status is IdeaStatus.DRAFT
