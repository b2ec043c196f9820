"""Administration and profile in a real browser: the administrator creates an analyst and reads the
temporary password; the analyst chooses a password, turns on two-factor authentication from the QR page's
secret and signs in again with a code; the administrator verifies the audit chain and opens the system view."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pyotp
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Session
from tests.e2e.flows import NEW_PASSWORD, answer_mfa, first_sign_in, sign_in

TOTP_STEP_S = 30


def settle(session: Session) -> None:
    """Let the current page finish loading its scripts before leaving it (a script cut off by the next
    navigation counts as a failed request)."""
    session.page.wait_for_load_state("load")


def go(session: Session, path: str) -> None:
    settle(session)
    session.goto(path)


def create_analyst(admin: Session, email: str) -> str:
    """Fill the "Create a user" form; returns the temporary password shown once."""
    page = admin.page
    go(admin, "/admin")
    expect(page.get_by_role("heading", name="Administration", exact=True)).to_be_visible()
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Display name", exact=True).fill("E2E Analyst")
    page.get_by_label("Role", exact=True).select_option("analyst")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name="User created")).to_be_visible()
    expect(page.locator("#temporary-password-email")).to_have_text(email)
    expect(page.get_by_role("row").filter(has_text=email)).to_contain_text("must set password")
    return page.locator("#temporary-password").inner_text().strip()


def turn_on_mfa(analyst: Session) -> tuple[str, int]:
    """From the profile page through set-up; returns the secret and the TOTP step of the code used."""
    page = analyst.page
    go(analyst, "/profile")
    expect(page.get_by_role("heading", name="Profile", exact=True)).to_be_visible()
    settle(analyst)
    page.get_by_role("link", name="Set up two-factor authentication").click()
    settle(analyst)
    page.get_by_role("button", name="Start setup").click()
    expect(page.get_by_role("img", name="QR code to scan with your authenticator app")).to_be_visible()
    secret = page.locator("#mfa-secret").inner_text().strip()
    step = int(time.time()) // TOTP_STEP_S
    page.get_by_label("Code from your app", exact=True).fill(pyotp.TOTP(secret).at(step * TOTP_STEP_S))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    settle(analyst)
    page.get_by_role("link", name="back to my profile").click()
    expect(page.get_by_role("button", name="Turn off two-factor authentication")).to_be_visible()
    return secret, step


def check_audit_and_system(admin: Session) -> None:
    page = admin.page
    go(admin, "/admin/audit")
    expect(page.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="mfa.enabled").first).to_be_visible()
    page.get_by_role("button", name="Verify chain").click()
    expect(page.locator("#verification")).to_contain_text("The chain is intact")
    settle(admin)
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="System").click()
    expect(page.get_by_role("heading", name="System", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Stores")).to_be_visible()
    expect(page.locator(".kpi").first).to_contain_text("ready")


def test_an_admin_creates_an_analyst_who_turns_on_two_factor(open_session: Callable[..., Session]) -> None:
    admin = open_session("admin")
    sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(admin.page.get_by_role("heading", name="Dashboard")).to_be_visible()
    email = f"e2e-analyst-{uuid.uuid4().hex[:8]}@example.com"
    temporary = create_analyst(admin, email)

    analyst = open_session("analyst")
    first_sign_in(analyst, email, temporary)
    secret, used_step = turn_on_mfa(analyst)
    settle(analyst)
    analyst.page.get_by_role("button", name="Sign out").click()
    expect(analyst.page.get_by_role("status")).to_have_text("You are signed out.")

    check_audit_and_system(admin)

    while int(time.time()) // TOTP_STEP_S <= used_step:  # a code is accepted once: wait for the next one
        time.sleep(0.5)
    settle(analyst)
    sign_in(analyst, email, NEW_PASSWORD)
    answer_mfa(analyst, secret)
    expect(analyst.page.get_by_role("heading", name="Dashboard")).to_be_visible()
    settle(analyst)
