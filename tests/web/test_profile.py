"""The profile pages: preferences and notifications, password change, two-factor set-up (QR code, secret,
recovery codes) and turning it off, the data export link — per role, with refusals and attack cases."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container
from investai.domain.access import Principal
from investai.domain.users import Role
from tests.web.conftest import BASE_URL, WebUser

WebFactory = Callable[..., WebUser]
NEW_PASSWORD = "Another-Passw0rd-42!"
_SECRET = re.compile(r'<code id="mfa-secret" class="mfa-secret">([A-Z2-7]+)</code>')
_CODES = re.compile(r'<ol id="recovery-codes" class="codes">(.*?)</ol>', re.S)
PREFERENCES = {
    "risk_tolerance": "aggressive",
    "time_horizon": "long",
    "esg": "prefer",
    "asset_classes": ["equity", "etf"],
    "sectors": "Energy, Utilities",
    "exclusions": "XOM\nTobacco",
    "digest": "daily",
    "notify_in_app": "on",
    "on_review_decision": "on",
}


def mfa_secret(page: str) -> str:
    found = _SECRET.findall(page)
    assert len(found) == 1, "the set-up page shows the secret once"
    return str(found[0])


def fresh_client(app: FastAPI) -> WebUser:
    client = TestClient(app, base_url=BASE_URL)
    user = WebUser(client=client, account=None)  # type: ignore[arg-type]
    user.page("/login")
    return user


# -- the page per role ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", list(Role))
def test_every_role_has_a_profile_page(web: WebFactory, role: Role) -> None:
    user = web(role=role)
    text = user.page("/profile").text
    assert "<h1>Profile</h1>" in text
    assert html.escape(user.account.user.email) in text
    for field, label in (
        ("risk_tolerance", "Risk tolerance"),
        ("time_horizon", "Investment horizon"),
        ("current_password", "Current password"),
        ("new_password", "New password"),
        ("confirm_password", "Repeat new password"),
    ):
        assert f'<label for="{field}">{label}</label>' in text
    assert '<a class="button primary" href="/profile/mfa">Set up two-factor authentication</a>' in text
    assert 'href="/api/v1/profile/export"' in text
    export = user.client.get("/api/v1/profile/export")
    assert export.status_code == 200
    assert export.json()["user"]["email"] == user.account.user.email


def test_signed_out_visitors_are_sent_to_sign_in(sample_app: FastAPI) -> None:
    with TestClient(sample_app, base_url=BASE_URL) as client:
        for path in ("/profile", "/profile/mfa"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == f"/login?next={path}"


# -- preferences ---------------------------------------------------------------------------------------------
def test_preferences_round_trip(web: WebFactory, sample_container: Container) -> None:
    user = web(role=Role.PORTFOLIO_MANAGER)
    user.page("/profile")
    saved = user.submit("/profile", PREFERENCES)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/profile?notice=profile_saved"
    text = user.page(saved.headers["location"]).text
    assert "Your preferences were saved." in text
    assert '<option value="aggressive" selected>' in text
    assert '<option value="long" selected>' in text
    assert '<option value="prefer" selected>' in text
    assert '<option value="daily" selected>' in text
    assert 'value="Energy, Utilities"' in text
    assert ">XOM, Tobacco</textarea>" in text
    assert 'id="asset-etf" name="asset_classes" value="etf" checked' in text
    assert 'id="asset-crypto" name="asset_classes" value="crypto">' in text
    assert 'id="notify_email" name="notify_email" value="on">' in text  # unticked stays unticked

    profile = sample_container.identity.profiles.get(_principal(sample_container, user))
    assert profile.preferences.model_dump(mode="json") == {
        "risk_tolerance": "aggressive",
        "time_horizon": "long",
        "sectors": ["Energy", "Utilities"],
        "asset_classes": ["equity", "etf"],
        "exclusions": ["XOM", "Tobacco"],
        "esg": "prefer",
    }
    notifications = profile.notifications
    assert (notifications.email, notifications.in_app, notifications.digest.value) == (False, True, "daily")
    assert (notifications.on_idea_ready, notifications.on_review_decision) == (False, True)
    assert user.client.get("/api/v1/profile").json()["preferences"]["risk_tolerance"] == "aggressive"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"risk_tolerance": "yolo"}, "risk_tolerance", "Choose a risk tolerance from the list."),
        ({"asset_classes": ["equity", "tulips"]}, "asset_classes", "Choose asset classes from the list."),
        ({"sectors": ", ".join(f"S{i}" for i in range(51))}, "sectors", "Name at most 50 sectors"),
        ({"digest": "hourly"}, "digest", "Choose how often to receive the digest."),
    ],
)
def test_invalid_preferences_are_refused_with_a_message(
    web: WebFactory, change: dict[str, object], field: str, message: str
) -> None:
    user = web()
    user.page("/profile")
    response = user.submit("/profile", {**PREFERENCES, **change})
    assert response.status_code == 422
    assert "Your preferences were not saved" in response.text
    assert message in response.text
    assert f'id="{field}-error"' in response.text
    assert "Your preferences were saved." not in user.page("/profile").text


def test_preferences_are_escaped(web: WebFactory) -> None:
    user = web()
    user.page("/profile")
    payload = '"><b id="injected">bold</b>'
    assert user.submit("/profile", {**PREFERENCES, "sectors": payload}).status_code == 303
    text = user.page("/profile").text
    assert 'id="injected"' not in text
    assert str(escape(payload)) in text


def test_a_form_without_the_csrf_token_is_refused(web: WebFactory, sample_container: Container) -> None:
    user = web()
    user.page("/profile")
    for path, data in (
        ("/profile", PREFERENCES),
        ("/profile/password", {"current_password": user.account.password, "new_password": NEW_PASSWORD}),
        ("/profile/mfa/start", {}),
    ):
        response = user.client.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403
    assert sample_container.identity.mfa.pending_setup(_principal(sample_container, user)) is None
    user.page("/profile")  # the password did not change: still signed in


# -- password ------------------------------------------------------------------------------------------------
def test_changing_the_password_ends_the_session(web: WebFactory, sample_app: FastAPI) -> None:
    user = web()
    user.page("/profile")
    wrong = user.submit(
        "/profile/password",
        {"current_password": "Not-my-passw0rd!", "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 401
    assert "The current password is not correct." in wrong.text
    differ = user.submit(
        "/profile/password",
        {"current_password": user.account.password, "new_password": NEW_PASSWORD, "confirm_password": "other"},
    )
    assert differ.status_code == 422
    assert "The two new passwords differ." in differ.text
    weak = user.submit(
        "/profile/password",
        {"current_password": user.account.password, "new_password": "short", "confirm_password": "short"},
    )
    assert weak.status_code == 422
    assert "12" in weak.text

    access = user.client.cookies.get("investai_access")
    changed = user.submit(
        "/profile/password",
        {"current_password": user.account.password, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == "/login?notice=password_changed"
    assert not user.client.cookies.get("investai_access")
    assert user.client.get("/profile", follow_redirects=False).headers["location"] == "/login?next=/profile"
    stale = user.client.get("/api/v1/profile", headers={"Authorization": f"Bearer {access}"})
    assert stale.status_code == 401

    again = fresh_client(sample_app)
    old = again.submit("/login", {"email": user.account.user.email, "password": user.account.password})
    assert old.status_code == 401
    new = again.submit("/login", {"email": user.account.user.email, "password": NEW_PASSWORD, "next": "/profile"})
    assert new.status_code == 303
    assert new.headers["location"] == "/profile"


# -- two-factor authentication -------------------------------------------------------------------------------
def test_mfa_setup_turns_it_on_and_sign_in_then_asks_for_a_code(
    web: WebFactory, sample_app: FastAPI, sample_container: Container
) -> None:
    user = web()
    start = user.page("/profile/mfa").text
    assert ">Start setup</button>" in start
    assert 'id="mfa-secret"' not in start

    started = user.submit("/profile/mfa/start")
    assert started.status_code == 303
    assert started.headers["location"] == "/profile/mfa"
    page = user.page("/profile/mfa")
    assert page.headers["cache-control"] == "no-store"
    secret = mfa_secret(page.text)
    assert '<label for="code">Code from your app</label>' in page.text
    assert ">Turn on two-factor authentication</button>" in page.text
    assert mfa_secret(user.page("/profile/mfa").text) == secret  # a reload keeps the secret already scanned

    clock = sample_container.clock
    wrong = user.submit(
        "/profile/mfa", {"code": "000000" if pyotp.TOTP(secret).at(clock.now()) != "000000" else "111111"}
    )
    assert wrong.status_code == 400
    assert "That code was not accepted." in wrong.text
    assert mfa_secret(wrong.text) == secret

    turned_on = user.submit("/profile/mfa", {"code": pyotp.TOTP(secret).at(clock.now())})
    assert turned_on.status_code == 200
    assert turned_on.headers["cache-control"] == "no-store"
    listed = _CODES.search(turned_on.text)
    assert listed is not None
    codes = re.findall(r"<code>([0-9a-f-]+)</code>", listed.group(1))
    assert len(codes) == 10
    assert "Two-factor authentication is on." in turned_on.text
    profile = user.page("/profile").text
    assert "Turn off two-factor authentication" in profile
    assert "Set up two-factor authentication</a>" not in profile
    assert "already on" in user.page("/profile/mfa").text
    assert user.submit("/profile/mfa/start").status_code == 409

    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(seconds=60))  # the code used to turn MFA on cannot be replayed
    browser = fresh_client(sample_app)
    challenged = browser.submit("/login", {"email": user.account.user.email, "password": user.account.password})
    assert challenged.status_code == 303
    assert challenged.headers["location"] == "/login/mfa"
    browser.page("/login/mfa")
    answered = browser.submit("/login/mfa", {"code": pyotp.TOTP(secret).at(clock.now())})
    assert answered.status_code == 303
    assert "<h1>Profile</h1>" in browser.page("/profile").text


def test_the_qr_code_is_inline_svg_without_script_or_styles(web: WebFactory) -> None:
    user = web()
    user.page("/profile/mfa")
    user.submit("/profile/mfa/start")
    text = user.page("/profile/mfa").text
    figure = re.search(r'<div class="qr">(<svg.*?</svg>)</div>', text, re.S)
    assert figure is not None
    svg = figure.group(1)
    assert svg.startswith('<svg role="img" aria-label="QR code to scan with your authenticator app" ')
    assert 'class="qr-code"' in svg
    assert "<script" not in svg
    assert "style=" not in svg
    assert "<?xml" not in svg
    assert "data:" not in text


def test_turning_mfa_off_needs_a_current_code(web: WebFactory, sample_container: Container) -> None:
    user = web()
    user.page("/profile/mfa")
    user.submit("/profile/mfa/start")
    secret = mfa_secret(user.page("/profile/mfa").text)
    clock = sample_container.clock
    codes_page = user.submit("/profile/mfa", {"code": pyotp.TOTP(secret).at(clock.now())}).text
    codes = re.findall(r"<code>([0-9a-f-]+)</code>", codes_page)
    user.page("/profile")
    refused = user.submit("/profile/mfa/disable", {"code": "12345678"})
    assert refused.status_code == 400
    assert "That code was not accepted." in refused.text
    turned_off = user.submit("/profile/mfa/disable", {"code": codes[0]})
    assert turned_off.status_code == 303
    assert turned_off.headers["location"] == "/profile?notice=mfa_disabled"
    text = user.page(turned_off.headers["location"]).text
    assert "Two-factor authentication is off." in text
    assert "Set up two-factor authentication</a>" in text


def test_confirming_without_a_started_setup_is_a_conflict_page(web: WebFactory) -> None:
    user = web()
    user.page("/profile/mfa")
    response = user.submit("/profile/mfa", {"code": "123456"})
    assert response.status_code == 409
    assert "start MFA setup first" in response.text


def _principal(container: Container, user: WebUser) -> Principal:
    return container.identity.verifier.verify(user.account.tokens.access_token)
