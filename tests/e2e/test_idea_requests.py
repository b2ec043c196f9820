"""Requesting ideas in a real browser: an analyst fills the form from a template (the page validates through
the API and shows advice as it goes), generates ideas and watches the live progress reach "succeeded", opens
the list and compares two ideas; a compliance officer then approves one on the review queue."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS, Server, Session
from tests.e2e.flows import new_user_session

GENERATION_TIMEOUT_MS = 120_000


def snapshot(page: Page, name: str) -> None:
    """A picture of an intermediate page for review (the harness photographs only the last one)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"idea-requests-{name}.png"), full_page=True)


def request_from_template(page: Page) -> list[str]:
    """Fill the form from a template, generate, follow the progress; returns the resulting ideas' paths."""
    page.goto("/ideas/new")
    expect(page.get_by_role("heading", name="Request ideas")).to_be_visible()
    expect(page.get_by_role("button", name="Apply template")).to_be_hidden()  # the script applies templates itself

    page.get_by_label("Risk tolerance").select_option("very_aggressive")
    page.get_by_label("Investment horizon").select_option("intraday")
    warnings = page.locator("#request-warnings")
    expect(warnings).to_be_visible()
    expect(warnings.locator("li").first).to_contain_text("very_aggressive risk over the intraday horizon")

    page.get_by_label("Template").select_option("balanced_diversified")
    expect(page.get_by_label("Risk tolerance")).to_have_value("moderate")
    expect(page.get_by_label("Investment horizon")).to_have_value("medium")
    expect(page.get_by_label("Maximum ideas")).to_have_value("8")
    expect(page.locator("#template-description")).to_contain_text("spread across sectors")
    expect(warnings).to_be_hidden()
    page.get_by_label("Maximum ideas").fill("3")
    page.get_by_role("button", name="Add holding").click()
    page.get_by_label("Holding 4 symbol").fill("JPM")
    page.get_by_label("Holding 4 weight").fill("0.1")
    snapshot(page, "form")

    page.get_by_role("button", name="Generate ideas").click()
    expect(page).to_have_url(re.compile(r"/ideas/requests/[A-Za-z0-9_.:-]+$"))
    expect(page.locator("#request-status")).to_have_text("succeeded", timeout=GENERATION_TIMEOUT_MS)
    expect(page.locator('#agents li[data-agent="synthesis"] [data-role="state"]')).to_have_text("done")
    expect(page.locator("#overall-percent")).to_have_text("100%")
    links = page.locator("#request-results a[href^='/ideas/']")
    expect(links.first).to_be_visible()
    expect(page.locator("#agent-log li").first).to_be_visible()
    expect(page.get_by_text("JPM 10.0%")).to_be_visible()
    snapshot(page, "progress")
    return [str(links.nth(index).get_attribute("href")) for index in range(links.count())]


def compare_two(page: Page, paths: list[str]) -> None:
    page.goto("/ideas")
    expect(page.get_by_role("heading", name="Ideas", exact=True)).to_be_visible()
    compare = page.get_by_role("button", name="Compare")
    expect(compare).to_be_disabled()
    for path in paths[:2]:
        page.locator(f"#pick-{path.rsplit('/', 1)[1]}").check()
    expect(compare).to_be_enabled()
    compare.click()
    expect(page.get_by_role("heading", name="Compare ideas")).to_be_visible()
    for path in paths[:2]:
        expect(page.locator(f"#compare-table thead a[href='{path}']")).to_be_visible()
    expect(page.locator("#compare-table")).to_contain_text("Sharpe ratio")
    expect(page.locator("#fan-chart .main-svg").first).to_be_visible()
    expect(page.locator("#outcome-chart .main-svg").first).to_be_visible()


def submit_for_review(page: Page, path: str) -> None:
    """What the idea's page does: the status change through the API, with the page's session and CSRF token."""
    idea_id = path.rsplit("/", 1)[1]
    status = page.evaluate(
        """async (id) => (await InvestAI.api(`/api/v1/ideas/${id}/status`,
               {method: "POST", json: {status: "in_review"}})).status""",
        idea_id,
    )
    assert status == "in_review"


def test_an_analyst_requests_and_compares_ideas_and_an_officer_approves_one(
    open_session: Callable[..., Session], server: Server
) -> None:
    analyst = open_session("analyst")
    new_user_session(analyst, server, "analyst", "requests")
    analyst.page.wait_for_load_state("load")  # the dashboard's scripts finish before the test moves on
    paths = request_from_template(analyst.page)
    assert len(paths) >= 2, "the sample data should give at least two ideas"
    compare_two(analyst.page, paths)
    analyst.page.goto("/ideas")
    snapshot(analyst.page, "list")
    submit_for_review(analyst.page, paths[0])

    officer = open_session("compliance")
    new_user_session(officer, server, "compliance-officer", "requests")
    page = officer.page
    page.wait_for_load_state("load")
    page.goto("/compliance")
    expect(page.get_by_role("heading", name="Compliance review")).to_be_visible()
    entry = page.locator(f"article:has(a[href='{paths[0]}'])")
    expect(entry).to_be_visible()
    snapshot(page, "queue")
    entry.get_by_label("Note").fill("Disclosures checked.")
    entry.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text("The idea was approved.")
    decided = page.locator("table tr", has=page.locator(f"a[href='{paths[0]}']"))
    expect(decided).to_contain_text("approved")
    expect(decided).to_contain_text("Disclosures checked.")
