"""The idea request pages: the form (every parameter, profile defaults, templates, validation with field
errors and warnings, the no-script path), the progress page before and after the job ran, the API calls the
page scripts make, cancel, and who may see what."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

from markupsafe import escape

from investai.bootstrap import Container
from investai.domain.idea_parts import TimeHorizon
from investai.domain.users import EsgPreference, InvestmentPreferences, NotificationSettings, RiskTolerance, Role
from investai.services.auth_common import CallContext
from tests.web.conftest import WebUser, drain

FIELDS = (
    "template",
    "risk_tolerance",
    "investment_horizon",
    "max_ideas",
    "amount",
    "currency",
    "sectors",
    "asset_classes",
    "tickers",
    "exclusions",
    "esg",
    "min_confidence",
    "research_depth",
    "holding_symbol",
    "holding_weight",
    "as_of",
    "priority",
    "universe",
    "callback_url",
)
SMALL = {"template": "balanced_diversified", "max_ideas": "2", "tickers": "AAPL, MSFT JPM"}


def form(**changes: Any) -> dict[str, Any]:
    """A complete form as the page sends it without scripts."""
    fields: dict[str, Any] = {
        "template": "",
        "risk_tolerance": "moderate",
        "investment_horizon": "medium",
        "min_confidence": "0.5",
        "esg": "none",
        "max_ideas": "5",
        "research_depth": "standard",
        "amount": "",
        "currency": "USD",
        "asset_classes": ["equity"],
        "tickers": "",
        "exclusions": "",
        "holding_symbol": ["", "", ""],
        "holding_weight": ["", "", ""],
        "as_of": "",
        "priority": "normal",
        "universe": "",
        "callback_url": "",
    }
    return fields | changes


def principal_of(container: Container, user: WebUser) -> Any:
    return container.identity.verifier.verify(user.account.tokens.access_token)


def request_id_from(location: str) -> str:
    found = re.fullmatch(r"/ideas/requests/([A-Za-z0-9_.:-]+)", location)
    assert found, location
    return found.group(1)


def selected(page: str, name: str) -> str | None:
    block = re.search(rf'<select id="{name}" name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert block, name
    chosen = re.search(r'<option value="([^"]*)" selected>', block.group(1))
    return chosen.group(1) if chosen else None


def test_the_form_offers_every_parameter_and_starts_from_the_profile(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    user = web()
    preferences = InvestmentPreferences(
        risk_tolerance=RiskTolerance.AGGRESSIVE,
        time_horizon=TimeHorizon.LONG,
        sectors=["Information Technology"],
        exclusions=["XOM"],
        esg=EsgPreference.PREFER,
    )
    sample_container.identity.profiles.update(
        principal_of(sample_container, user),
        preferences=preferences,
        notifications=NotificationSettings(),
        ctx=CallContext(),
    )
    page = user.page("/ideas/new").text
    assert "<h1>Request ideas</h1>" in page
    assert '<label for="template">Template</label>' in page
    for label in ("Risk tolerance", "Investment horizon", "Maximum ideas", "Amount", "Currency", "ESG preference"):
        assert f">{label}</label>" in page, label
    for name in FIELDS:
        assert f'name="{name}"' in page, name
    for name in ("conservative_retirement", "aggressive_growth", "balanced_diversified", "esg_focused"):
        assert f'<option value="{name}"' in page
    assert '<option value="short_term_tactical"' in page
    assert selected(page, "risk_tolerance") == "aggressive"
    assert selected(page, "investment_horizon") == "long"
    assert selected(page, "esg") == "prefer"
    assert 'value="Information Technology" checked' in page
    assert 'id="exclusions" name="exclusions" type="text" value="XOM"' in page
    assert 'value="equity" checked' in page
    assert ">Generate ideas</button>" in page
    templates = json.loads(html.unescape(re.search(r'id="request-templates">(.*?)</script>', page).group(1)))  # type: ignore[union-attr]
    assert {template["name"] for template in templates} >= {"balanced_diversified", "esg_focused"}
    assert '<script src="/static/js/idea_request_form.js" defer></script>' in page


def test_a_template_can_be_applied_without_scripts(web: Callable[..., WebUser]) -> None:
    user = web()
    user.page("/ideas/new")
    response = user.submit("/ideas/new", form(template="esg_focused", action="apply_template"))
    assert response.status_code == 200
    assert selected(response.text, "esg") == "require"
    assert selected(response.text, "investment_horizon") == "long"
    assert selected(response.text, "template") == "esg_focused"
    assert "Moderate risk with an ESG screen required" in response.text


def test_a_request_through_the_form_runs_and_its_page_lists_the_ideas(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    user = web()
    user.page("/ideas/new")
    response = user.submit("/ideas/new", form(**SMALL, holding_symbol=["AAPL", "", ""], holding_weight=["0.2", "", ""]))
    assert response.status_code == 303, response.text[:800]
    request_id = request_id_from(response.headers["location"])
    before = user.page(f"/ideas/requests/{request_id}").text
    assert '<span id="request-status" class="badge status-queued">queued</span>' in before
    assert 'data-agent="planning"' in before
    assert 'data-agent="synthesis"' in before
    assert ">Cancel</button>" in before
    assert "AAPL 20.0%" in before  # the holding, as a weight
    assert "/static/js/idea_request_progress.js" in before
    drain(sample_container)
    after = user.page(f"/ideas/requests/{request_id}").text
    assert '<span id="request-status" class="badge status-succeeded">succeeded</span>' in after
    record = sample_container.idea_requests.status(principal_of(sample_container, user), CallContext(), request_id)
    assert record.idea_ids
    results = after.split('id="request-results"')[1].split("</ul>")[0]
    for idea_id in record.idea_ids:
        assert f'<a href="/ideas/{idea_id}">' in results
    assert ">Cancel</button>" not in after
    assert record.template == "balanced_diversified"
    assert record.request.tickers == ["AAPL", "MSFT", "JPM"]


def test_the_page_script_path_validates_submits_and_reads_results(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    user = web()
    user.page("/ideas/new")
    body = {"template": "short_term_tactical", "max_ideas": 2, "tickers": ["AAPL", "MSFT"], "sectors": []}
    checked = user.api("POST", "/api/v1/ideas/requests/validate", json=body)
    assert checked.status_code == 200, checked.text
    assert any("aggressive risk over the short horizon" in warning for warning in checked.json()["warnings"])
    submitted = user.api("POST", "/api/v1/ideas/requests", json=body)
    assert submitted.status_code == 202, submitted.text
    request_id = submitted.json()["request_id"]
    page = user.page(f"/ideas/requests/{request_id}").text
    assert "aggressive risk over the short horizon" in page  # the warnings given at submission
    drain(sample_container)
    status = user.api("GET", f"/api/v1/ideas/requests/{request_id}").json()
    assert status["status"] == "succeeded"
    results = user.api("GET", f"/api/v1/ideas/requests/{request_id}/results").json()["ideas"]
    page = user.page(f"/ideas/requests/{request_id}").text
    for idea in results:
        assert f'<a href="/ideas/{idea["id"]}">{escape(idea["title"])}</a>' in page
    stream = user.client.get(f"/api/v1/ideas/requests/{request_id}/events")
    assert stream.status_code == 200
    assert "event: done" in stream.text


def test_field_errors_are_shown_next_to_their_fields(web: Callable[..., WebUser]) -> None:
    user = web()
    user.page("/ideas/new")
    response = user.submit(
        "/ideas/new",
        form(max_ideas="50", min_confidence="2", holding_symbol=["AAPL", "", ""], holding_weight=["abc", "", ""]),
    )
    assert response.status_code == 422
    page = response.text
    max_ideas = page.split('id="error-max_ideas"')[1].split("</div>")[0]
    assert "less than or equal to 20" in max_ideas
    assert "less than or equal to 1" in page.split('id="error-min_confidence"')[1].split("</div>")[0]
    assert "row 1, weight" in page.split('id="error-holdings"')[1].split("</div>")[0]
    assert 'id="max_ideas" name="max_ideas" type="number" value="50"' in page  # what was typed is kept
    conflicting = user.submit("/ideas/new", form(tickers="AAPL", exclusions="aapl"))
    assert conflicting.status_code == 422
    assert "tickers also listed as exclusions: AAPL" in conflicting.text
    unknown = user.submit("/ideas/new", form(template="no_such_template"))
    assert unknown.status_code == 422
    assert "choose one of" in unknown.text.split('id="error-template"')[1].split("</div>")[0]


def test_the_validation_api_locates_each_problem_for_the_page_script(web: Callable[..., WebUser]) -> None:
    user = web()
    user.page("/ideas/new")
    refused = user.api("POST", "/api/v1/ideas/requests/validate", json={"max_ideas": 0, "asset_classes": []})
    assert refused.status_code == 422
    locations = {tuple(detail["loc"]) for detail in refused.json()["error"]["details"]}
    assert ("body", "max_ideas") in locations
    assert ("body", "asset_classes") in locations
    warned = user.api(
        "POST",
        "/api/v1/ideas/requests/validate",
        json={"risk_tolerance": "very_aggressive", "investment_horizon": "intraday"},
    )
    assert warned.status_code == 200
    assert warned.json()["warnings"] == [
        "very_aggressive risk over the intraday horizon: expect wide outcome ranges and large losses"
    ]


def test_cancel_as_the_page_script_does(web: Callable[..., WebUser], sample_container: Container) -> None:
    user = web()
    user.page("/ideas/new")
    response = user.submit("/ideas/new", form(**SMALL))
    request_id = request_id_from(response.headers["location"])
    user.page(f"/ideas/requests/{request_id}")
    cancelled = user.api("DELETE", f"/api/v1/ideas/requests/{request_id}")
    assert cancelled.status_code == 200, cancelled.text
    drain(sample_container)
    page = user.page(f"/ideas/requests/{request_id}").text
    assert '<span id="request-status" class="badge status-cancelled">cancelled</span>' in page
    assert "No ideas: the request cancelled." in page


def test_requests_of_others_answer_404(web: Callable[..., WebUser]) -> None:
    owner = web()
    owner.page("/ideas/new")
    request_id = request_id_from(owner.submit("/ideas/new", form(**SMALL)).headers["location"])
    colleague = web()  # same organisation, but an analyst reads only their own
    assert "404" in colleague.page(f"/ideas/requests/{request_id}", status=404).text
    outsider = web(role=Role.PORTFOLIO_MANAGER, organisation="org_other")
    outsider.page(f"/ideas/requests/{request_id}", status=404)
    manager = web(role=Role.PORTFOLIO_MANAGER)  # organisation-wide reader: may follow it, not cancel it
    page = manager.page(f"/ideas/requests/{request_id}").text
    assert 'id="request-status"' in page
    assert ">Cancel</button>" not in page
    owner.page("/ideas/requests/no-such-request", status=404)


def test_roles_without_the_permission_get_a_403_page(web: Callable[..., WebUser]) -> None:
    officer = web(role=Role.COMPLIANCE_OFFICER)
    assert "Your role does not allow this page." in officer.page("/ideas/new", status=403).text
    admin = web(role=Role.ADMINISTRATOR)
    admin.page("/ideas/new", status=403)
    admin.page("/ideas/requests/anything", status=403)


def test_the_form_needs_its_csrf_token(web: Callable[..., WebUser]) -> None:
    user = web()
    user.page("/ideas/new")
    refused = user.client.post("/ideas/new", data=form(**SMALL), follow_redirects=False)
    assert refused.status_code == 403
    assert user.api("GET", "/api/v1/ideas/requests").json() == []


def test_request_values_are_escaped(web: Callable[..., WebUser], sample_container: Container) -> None:
    user = web()
    payload = "<script>alert(1)</script>"
    record = sample_container.idea_requests.submit(
        principal_of(sample_container, user), CallContext(), {"universe": payload, "max_ideas": 1}
    )
    page = user.page(f"/ideas/requests/{record.id}").text
    assert payload not in page
    assert escape(payload) in page
