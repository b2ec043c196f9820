"""Steps several browser tests share: signing in (with the temporary-password and MFA steps), and creating
users as the administrator through the API."""

from __future__ import annotations

import re

import httpx
import pyotp
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, Session

NEW_PASSWORD = "Fresh-Passw0rd-for-E2E!"


def admin_token(server: Server) -> str:
    response = httpx.post(
        f"{server.base_url}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, timeout=30
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def create_user(server: Server, email: str, role: str) -> str:
    """A new user of the administrator's organisation; returns the temporary password."""
    response = httpx.post(
        f"{server.base_url}/api/v1/admin/users",
        json={"email": email, "role": role},
        headers={"Authorization": f"Bearer {admin_token(server)}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["temporary_password"])


def sign_in(session: Session, email: str, password: str) -> None:
    """Fill the sign-in form; the caller checks where it leads."""
    page = session.page
    session.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def first_sign_in(session: Session, email: str, temporary: str, new_password: str = NEW_PASSWORD) -> None:
    """Sign in with a temporary password and choose a new one, as a new user does; ends on the dashboard."""
    sign_in(session, email, temporary)
    page = session.page
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill(new_password)
    page.get_by_label("Repeat it").fill(new_password)
    page.get_by_role("button", name="Set password and continue").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def new_user_session(session: Session, server: Server, role: str, label: str) -> str:
    """Create a user of ``role`` and sign them in through the pages; returns the email."""
    email = f"{label}-{re.sub(r'[^a-z0-9]', '', role)}@example.com"
    first_sign_in(session, email, create_user(server, email, role))
    return email


def answer_mfa(session: Session, secret: str) -> None:
    page = session.page
    expect(page.get_by_role("heading", name="Two-factor code")).to_be_visible()
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()
