"""The whole product in a real browser, as its users meet it (issue 8, must-show 1):

an administrator creates an analyst and a compliance officer; the analyst signs in, changes the temporary
password, sets up MFA (the code computed here from the secret the page shows), uploads a PDF and sees it
indexed, searches it and opens the citation, requests ideas from a template and watches the progress reach
done, opens an idea, follows a citation, gives feedback and submits it for review; the compliance officer
approves it; the analyst sees it approved. Every page visited is checked for console errors and failed
requests by the ``open_session`` fixture, which also saves a screenshot of each session's last page."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect

from tests.document_files import make_pdf
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, Session
from tests.e2e.flows import first_sign_in, sign_in

PHRASE = "Halvorsen Timberworks raised its lumber hedge ratio to 62 percent"
GENERATION_TIMEOUT_MS = 120_000
INDEXING_TIMEOUT_MS = 120_000


def create_user_on_admin_page(page: Page, email: str, role: str) -> str:
    page.goto("/admin")
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Display name").fill(email.split("@")[0].replace("-", " ").title())
    page.get_by_label("Role").select_option(role)
    page.get_by_role("button", name="Create user").click()
    temporary = page.locator("#temporary-password")
    expect(temporary).to_be_visible()
    return temporary.inner_text().strip()


def set_up_mfa(page: Page) -> None:
    page.goto("/profile")
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    page.get_by_role("link", name="Set up two-factor authentication").click()
    secret_box = page.locator("#mfa-secret")
    if not secret_box.is_visible():
        page.get_by_role("button", name=re.compile("start|set up", re.IGNORECASE)).click()
    expect(page.locator(".qr svg")).to_be_visible()
    secret = re.sub(r"\s+", "", secret_box.inner_text())
    page.get_by_label("Code from your app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.locator("#recovery-codes")).to_be_visible()


def upload_and_find(page: Page, pdf: Path) -> None:
    page.goto("/documents")
    expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible()
    page.get_by_label("File").set_input_files(str(pdf))
    page.get_by_label("Title").fill("Halvorsen Timberworks field note")
    page.get_by_role("button", name="Upload").click()
    row = page.locator("tr", has_text="Halvorsen Timberworks field note")
    expect(row.locator(".badge", has_text="indexed")).to_be_visible(timeout=INDEXING_TIMEOUT_MS)

    page.goto("/knowledge")
    page.get_by_role("searchbox", name="Search").fill("lumber hedge ratio Halvorsen")
    page.get_by_role("button", name="Search", exact=True).click()
    hit = page.locator("article.hit", has_text="Halvorsen").first
    expect(hit).to_be_visible()
    hit.locator("a.citation").click()
    expect(page.locator("#cited")).to_contain_text("lumber hedge ratio")


def request_ideas(page: Page) -> str:
    page.goto("/ideas/new")
    expect(page.get_by_role("heading", name="Request ideas")).to_be_visible()
    page.get_by_label("Template").select_option("balanced_diversified")
    page.get_by_role("button", name="Generate ideas").click()
    expect(page).to_have_url(re.compile(r"/ideas/requests/[^/]+$"))
    expect(page.locator("#request-status")).to_have_text("succeeded", timeout=GENERATION_TIMEOUT_MS)
    first = page.locator("#request-results a[href^='/ideas/']").first
    expect(first).to_be_visible()
    href = first.get_attribute("href")
    assert href is not None
    first.click()
    expect(page).to_have_url(re.compile(re.escape(href) + r"(#\w+)?$"))
    return href


def follow_a_citation(page: Page, idea_path: str) -> None:
    page.get_by_role("tab", name="Evidence").click()
    citation = page.locator("[role=tabpanel]:visible a.citation").first
    expect(citation).to_be_visible()
    href = citation.get_attribute("href") or ""
    citation.click()
    if href.startswith("/documents/"):
        expect(page.locator("#cited")).to_be_visible()
    else:
        expect(page.get_by_role("heading", name="Market")).to_be_visible()
    page.goto(idea_path)


def give_feedback_and_submit(page: Page) -> None:
    page.get_by_role("tab", name="Feedback").click()
    panel = page.locator("[role=tabpanel]:visible")
    panel.get_by_label("Rating").select_option("4")
    panel.get_by_label("Usefulness").select_option("5")
    panel.get_by_label("Comments").fill("Clear thesis; the bear case deserves more weight.")
    panel.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_role("status")).to_have_text("Thank you: your feedback was recorded.")
    page.get_by_role("tab", name="Feedback").click()
    expect(page.locator("#feedback-list")).to_contain_text("the bear case deserves more weight")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("#idea-status")).to_have_text("in_review")


def approve_on_compliance_page(page: Page, idea_path: str) -> None:
    page.goto("/compliance")
    expect(page.get_by_role("heading", name="Compliance review")).to_be_visible()
    entry = page.locator(f"section:has(a[href='{idea_path}']), article:has(a[href='{idea_path}'])").first
    expect(entry).to_be_visible()
    entry.get_by_label("Note").fill("Disclosures checked; sizing within limits.")
    entry.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text("The idea was approved.")


def test_an_analyst_and_a_compliance_officer_take_an_idea_from_request_to_approval(
    open_session: Callable[..., Session], server: Server, tmp_path: Path
) -> None:
    admin = open_session("admin")
    sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(admin.page.get_by_role("heading", name="Dashboard")).to_be_visible()
    analyst_temporary = create_user_on_admin_page(admin.page, "ana-flow@example.com", "analyst")
    officer_temporary = create_user_on_admin_page(admin.page, "cora-flow@example.com", "compliance-officer")

    analyst = open_session("analyst")
    first_sign_in(analyst, "ana-flow@example.com", analyst_temporary)
    set_up_mfa(analyst.page)
    pdf = tmp_path / "halvorsen.pdf"
    pdf.write_bytes(make_pdf([f"Field note.\n\n{PHRASE} after the autumn price swings."], title="Halvorsen"))
    upload_and_find(analyst.page, pdf)
    idea_path = request_ideas(analyst.page)
    follow_a_citation(analyst.page, idea_path)
    give_feedback_and_submit(analyst.page)

    officer = open_session("compliance")
    first_sign_in(officer, "cora-flow@example.com", officer_temporary)
    approve_on_compliance_page(officer.page, idea_path)

    analyst.page.goto(idea_path)
    expect(analyst.page.locator("#idea-status")).to_have_text("approved")
