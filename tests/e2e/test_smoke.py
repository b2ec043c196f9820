"""The sign-in page in a real browser: served, styled, scripted, with no console errors."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Session


def test_sign_in_and_out(open_session: Callable[..., Session]) -> None:
    session = open_session("admin")
    page = session.page
    session.goto("/")
    expect(page).to_have_url(f"{session.base_url}/login?next=/")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
