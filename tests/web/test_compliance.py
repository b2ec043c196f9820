"""The compliance review queue: what an officer sees of each idea in review, approve and reject through the
lifecycle service, the service's refusals shown as messages, and who may do what."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from markupsafe import escape

from investai.bootstrap import Container
from investai.domain.idea_parts import ComplianceIssue, ComplianceState, Severity
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus
from investai.domain.users import Role
from investai.services.auth_common import CallContext
from tests.conftest import sign_up
from tests.web.conftest import NOW, ORG, WebUser, drain, sign_in


@dataclass
class Team:
    analyst: WebUser
    ideas: list[InvestmentIdea]

    def submit_for_review(self, idea: InvestmentIdea) -> None:
        """What the analyst does on the API (or the idea's page): draft -> in_review."""
        self.analyst.page("/ideas")
        response = self.analyst.api("POST", f"/api/v1/ideas/{idea.id}/status", json={"status": "in_review"})
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def team(sample_app: FastAPI, sample_container: Container) -> Team:
    account = sign_up(sample_container, role=Role.ANALYST, organisation=ORG)
    principal = sample_container.identity.verifier.verify(account.tokens.access_token)
    record = sample_container.idea_requests.submit(
        principal, CallContext(), {"max_ideas": 6, "min_confidence": 0.0, "tickers": ["AAPL", "MSFT", "JPM", "XOM"]}
    )
    drain(sample_container)
    ideas = sample_container.idea_requests.results(principal, CallContext(), record.id)
    assert len(ideas) >= 4, "the sample data should give at least four ideas"
    return Team(analyst=sign_in(sample_app, account), ideas=ideas)


def article(page: str, idea_id: str) -> str:
    found = re.search(
        rf'<article class="card review[^"]*" aria-labelledby="title-{idea_id}">(.*?)</article>', page, re.S
    )
    assert found, f"{idea_id} is not in the queue"
    return found.group(1)


def test_the_queue_shows_ideas_in_review_with_their_compliance(team: Team, web: Callable[..., WebUser]) -> None:
    idea = team.ideas[0]
    team.submit_for_review(idea)
    officer = web(role=Role.COMPLIANCE_OFFICER)
    page = officer.page("/compliance").text
    assert "<h1>Compliance review</h1>" in page
    entry = article(page, idea.id)
    assert f'<a href="/ideas/{idea.id}">{escape(idea.title)}</a>' in entry
    assert f"badge status-{idea.compliance.state.value}" in entry
    for check in idea.compliance.checks:
        assert str(escape(check.name.replace("_", " "))) in entry
    for text in idea.compliance.disclosures:
        assert str(escape(text)) in entry
    assert f'<label for="note-{idea.id}">Note</label>' in entry
    assert f'<label for="reason-{idea.id}">Reason</label>' in entry
    assert f'action="/compliance/{idea.id}/approve"' in entry
    assert ">Approve</button>" in entry
    assert ">Reject</button>" in entry
    assert page.count('name="csrf_token"') >= 3  # sign-out plus the two decision forms
    for draft in team.ideas[1:]:
        assert f'aria-labelledby="title-{draft.id}"' not in page  # drafts are not waiting


def test_approve_with_a_note(team: Team, web: Callable[..., WebUser], sample_container: Container) -> None:
    idea = team.ideas[1]
    team.submit_for_review(idea)
    officer = web(role=Role.COMPLIANCE_OFFICER)
    officer.page("/compliance")
    response = officer.submit(f"/compliance/{idea.id}/approve", {"note": "Disclosures complete."})
    assert response.status_code == 303
    assert response.headers["location"] == "/compliance?notice=idea_approved"
    page = officer.page(response.headers["location"]).text
    assert '<p class="notice" role="status">The idea was approved.</p>' in page
    assert f'aria-labelledby="title-{idea.id}"' not in page
    decided = page.split("<h2>Recently decided</h2>")[1]
    assert f'<a href="/ideas/{idea.id}">' in decided
    assert "Disclosures complete." in decided
    stored = sample_container.ideas.get(idea.id)
    assert stored.status is IdeaStatus.APPROVED
    assert stored.compliance.state is ComplianceState.COMPLIANT


def test_reject_needs_a_reason(team: Team, web: Callable[..., WebUser], sample_container: Container) -> None:
    idea = team.ideas[2]
    team.submit_for_review(idea)
    officer = web(role=Role.COMPLIANCE_OFFICER)
    officer.page("/compliance")
    refused = officer.submit(f"/compliance/{idea.id}/reject", {"reason": "   "})
    assert refused.status_code == 422
    assert "The idea was not rejected: a rejection needs a reason." in refused.text
    assert 'class="card review failed"' in refused.text  # the queue is shown again, the idea marked
    assert sample_container.ideas.get(idea.id).status is IdeaStatus.IN_REVIEW
    rejected = officer.submit(f"/compliance/{idea.id}/reject", {"reason": "Concentration too high for the book."})
    assert rejected.status_code == 303
    assert rejected.headers["location"] == "/compliance?notice=idea_rejected"
    stored = sample_container.ideas.get(idea.id)
    assert stored.status is IdeaStatus.REJECTED
    assert stored.status_history[-1].reason == "Concentration too high for the book."


def test_the_services_refusals_are_messages(
    team: Team, web: Callable[..., WebUser], sample_container: Container
) -> None:
    idea = team.ideas[3]
    officer = web(role=Role.COMPLIANCE_OFFICER)
    officer.page("/compliance")
    draft = officer.submit(f"/compliance/{idea.id}/approve", {"note": ""})
    assert draft.status_code == 409
    assert "The idea was not approved: an idea cannot move from draft to approved." in draft.text
    issue = ComplianceIssue(rule="restricted_list", severity=Severity.CRITICAL, message="On the restricted list.")
    blocked = idea.compliance.model_copy(update={"state": ComplianceState.NON_COMPLIANT, "issues": [issue]})
    stored = sample_container.ideas.get(idea.id)
    sample_container.ideas.add(stored.revise(at=NOW, compliance=blocked.model_dump()))
    team.submit_for_review(idea)
    page = officer.page("/compliance").text
    entry = article(page, idea.id)
    assert '<span class="severity severity-critical">critical</span> On the restricted list.' in entry
    assert "A critical issue blocks approval" in entry
    refused = officer.submit(f"/compliance/{idea.id}/approve", {"note": "ok"})
    assert refused.status_code == 422
    assert "critical compliance issue cannot be approved" in refused.text
    assert sample_container.ideas.get(idea.id).status is IdeaStatus.IN_REVIEW


def test_only_compliance_officers_of_the_organisation_decide(team: Team, web: Callable[..., WebUser]) -> None:
    idea = team.ideas[0]
    assert "Your role does not allow this page." in team.analyst.page("/compliance", status=403).text
    refused = team.analyst.submit(f"/compliance/{idea.id}/approve", {"note": ""})
    assert refused.status_code == 403
    web(role=Role.PORTFOLIO_MANAGER).page("/compliance", status=403)
    outsider = web(role=Role.COMPLIANCE_OFFICER, organisation="org_other")
    page = outsider.page("/compliance").text
    assert idea.id not in page
    assert "Nothing is waiting" in page
    assert outsider.submit(f"/compliance/{idea.id}/approve", {"note": ""}).status_code == 404
    assert outsider.submit("/compliance/no-such-idea/reject", {"reason": "x"}).status_code == 404


def test_decisions_need_the_csrf_token(team: Team, web: Callable[..., WebUser], sample_container: Container) -> None:
    idea = team.ideas[0]
    officer = web(role=Role.COMPLIANCE_OFFICER)
    officer.page("/compliance")
    forged = officer.client.post(f"/compliance/{idea.id}/approve", data={"note": ""}, follow_redirects=False)
    assert forged.status_code == 403
    assert sample_container.ideas.get(idea.id).status is IdeaStatus.IN_REVIEW


def test_titles_and_notes_are_escaped(team: Team, web: Callable[..., WebUser], sample_container: Container) -> None:
    idea = team.ideas[0]
    payload = "<script>alert(1)</script>"
    stored = sample_container.ideas.get(idea.id)
    sample_container.ideas.add(stored.revise(at=NOW, title=payload))
    officer = web(role=Role.COMPLIANCE_OFFICER)
    page = officer.page("/compliance").text
    assert payload not in page
    assert str(escape(payload)) in page
