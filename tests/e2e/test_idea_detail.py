"""The idea page in a real browser: an analyst's ideas (generated through the API), every tab with its charts
drawn, a citation followed to the document viewer, submit for review, feedback, and a compliance officer's
approval with a note; no console error, no failed request on the way."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from investai.domain.citations import DocumentCitation
from investai.web.links import citation_href
from tests.e2e.conftest import Server, Session
from tests.e2e.flows import NEW_PASSWORD, create_user, first_sign_in

TABS = ("Overview", "Analysis", "Risks", "Evidence", "Compliance", "History", "Feedback")
CHARTS = ("price-chart", "fan-chart", "factor-chart")
INDEXING_TIMEOUT_S = 120.0
GENERATION_TIMEOUT_S = 180.0


def bearer(server: Server, email: str) -> dict[str, str]:
    response = httpx.post(
        f"{server.base_url}/api/v1/auth/login", json={"email": email, "password": NEW_PASSWORD}, timeout=30
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def wait_for_sample_documents(server: Server, headers: dict[str, str]) -> None:
    """The server indexes the sample documents after it starts; ideas cite them once they are indexed."""
    deadline = time.monotonic() + INDEXING_TIMEOUT_S
    while True:
        documents = httpx.get(f"{server.base_url}/api/v1/documents", headers=headers, timeout=30).json()
        if documents and all(document["status"] == "indexed" for document in documents):
            return
        assert time.monotonic() < deadline, f"sample documents not indexed: {documents}"
        time.sleep(1.0)


def generate_ideas(server: Server, headers: dict[str, str]) -> list[dict[str, Any]]:
    body = {"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 2}
    response = httpx.post(
        f"{server.base_url}/api/v1/ideas/requests?mode=sync", json=body, headers=headers, timeout=GENERATION_TIMEOUT_S
    )
    assert response.status_code == 200, response.text
    ideas: list[dict[str, Any]] = response.json()["ideas"]
    assert ideas
    return ideas


def visit_every_tab(page: Page) -> None:
    for name in TABS:
        page.get_by_role("tab", name=name).click()
        expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")
        expect(page.get_by_role("tabpanel", name=name)).to_be_visible()
        expect(page).to_have_url(re.compile(f"#{name.lower()}$"))
        if name == "Analysis":
            for chart in CHARTS:
                expect(page.locator(f"#{chart} svg.main-svg").first).to_be_visible()
            expect(page.locator("#risk-metrics a.citation").first).to_be_visible()
    page.keyboard.press("Home")  # the tabs answer the keyboard too
    expect(page.get_by_role("tab", name="Overview")).to_be_focused()
    expect(page.get_by_role("tabpanel", name="Overview")).to_be_visible()


def follow_a_document_citation(page: Page, idea: dict[str, Any]) -> None:
    page.get_by_role("tab", name="Evidence").click()
    cited = next(item["citation"] for item in idea["supporting_evidence"] if item["citation"]["kind"] == "document")
    link = page.get_by_role("tabpanel", name="Evidence").locator("a.citation[href^='/documents/']").first
    expected = citation_href(DocumentCitation.model_validate(cited))
    expect(link).to_have_attribute("href", expected)
    if page.request.get(expected).status != 200:  # the document viewer is another area's page
        return
    link.click()
    expect(page).to_have_url(re.compile(r"/documents/[^/]+/view\?"))
    expect(page.locator("#cited")).to_be_visible()
    page.go_back()
    expect(page.locator("#idea-status")).to_be_visible()


def test_an_analyst_reads_an_idea_submits_it_and_gives_feedback(
    open_session: Callable[..., Session], server: Server
) -> None:
    email = "ideadetail-analyst@example.com"
    analyst = open_session("analyst")
    first_sign_in(analyst, email, create_user(server, email, "analyst"))
    analyst.page.wait_for_load_state()  # let the dashboard finish loading before leaving it
    headers = bearer(server, email)
    wait_for_sample_documents(server, headers)
    idea = generate_ideas(server, headers)[0]
    page = analyst.page

    analyst.goto(f"/ideas/{idea['id']}")  # goto waits for the load event
    expect(page.get_by_role("heading", level=1)).to_have_text(idea["title"])
    expect(page.locator("#idea-status")).to_have_text("draft")
    expect(page.get_by_role("link", name="Export HTML")).to_have_attribute(
        "href", f"/api/v1/ideas/{idea['id']}/export?format=html"
    )
    visit_every_tab(page)
    follow_a_document_citation(page, idea)

    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("#idea-status")).to_have_text("in_review")
    page.wait_for_load_state()  # the tabs work once the page's scripts have run
    expect(page.get_by_role("status")).to_have_text("The idea's status was changed.")
    expect(page.get_by_role("button", name="Withdraw")).to_be_visible()

    page.get_by_role("tab", name="Feedback").click()
    form = page.get_by_role("tabpanel", name="Feedback")
    form.get_by_label("Rating").select_option("4")
    form.get_by_label("Usefulness").select_option("5")
    form.get_by_label("Accuracy").select_option("3")
    form.get_by_label("Insight").select_option("4")
    form.get_by_label("Action taken").select_option("watchlist")
    form.get_by_label("Comments").fill("Clear thesis; the bear case deserves more weight.")
    form.get_by_role("button", name="Send feedback").click()
    expect(page).to_have_url(re.compile(r"notice=feedback_saved#feedback$"))
    expect(page.get_by_role("status")).to_have_text("Thank you: your feedback was recorded.")
    listed = page.get_by_role("tabpanel", name="Feedback")
    expect(listed).to_be_visible()
    expect(listed.locator("#feedback-list")).to_contain_text("Clear thesis; the bear case deserves more weight.")
    expect(listed.locator("#feedback-list")).to_contain_text("4/5")

    officer_email = "ideadetail-officer@example.com"
    officer = open_session("officer")
    first_sign_in(officer, officer_email, create_user(server, officer_email, "compliance-officer"))
    officer.page.wait_for_load_state()  # let the dashboard finish loading before leaving it
    officer.goto(f"/ideas/{idea['id']}")
    expect(officer.page.locator("#idea-status")).to_have_text("in_review")
    officer.page.get_by_label("Note").fill("Sizing and disclosures checked.")
    officer.page.get_by_role("button", name="Approve").click()
    expect(officer.page.locator("#idea-status")).to_have_text("approved")
    officer.page.wait_for_load_state()
    officer.page.get_by_role("tab", name="History").click()
    history = officer.page.get_by_role("tabpanel", name="History")
    expect(history).to_contain_text(officer_email)
    expect(history).to_contain_text("Sizing and disclosures checked.")
    expect(history).to_contain_text(email)

    page.reload()
    expect(page.locator("#idea-status")).to_have_text("approved")
