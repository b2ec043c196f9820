"""The browser session: sign-in pages, cookies, CSRF on every cookie-authenticated write, refresh."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from investai.bootstrap import Container
from investai.domain.users import Role
from tests.web.conftest import BASE_URL, ORG, WebUser


def test_pages_redirect_to_sign_in_and_back(sample_app: FastAPI) -> None:
    with TestClient(sample_app, base_url=BASE_URL) as client:
        response = client.get("/?view=all", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/%3Fview%3Dall"


def test_the_session_cookies_are_http_only(web: Callable[..., WebUser]) -> None:
    user = web()
    cookies = {cookie.name: cookie for cookie in user.client.cookies.jar}
    assert {"investai_access", "investai_refresh", "investai_csrf"} <= set(cookies)
    for cookie in cookies.values():
        assert cookie.has_nonstandard_attr("HttpOnly")


def test_a_write_by_cookie_needs_the_csrf_token(web: Callable[..., WebUser]) -> None:
    user = web()
    body = {"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 1}
    refused = user.client.post("/api/v1/ideas/requests/validate", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    forged = user.client.post("/api/v1/ideas/requests/validate", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert forged.status_code == 403
    accepted = user.api("POST", "/api/v1/ideas/requests/validate", json=body)
    assert accepted.status_code == 200, accepted.text


def test_a_cross_site_form_is_refused_even_with_a_token(web: Callable[..., WebUser]) -> None:
    user = web()
    response = user.client.post(
        "/logout", data={"csrf_token": user.csrf}, headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert response.status_code == 403
    response = user.client.post(
        "/logout", data={"csrf_token": user.csrf}, headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False
    )
    assert response.status_code == 403
    user.page("/")  # still signed in


def test_bearer_clients_need_no_csrf_token(sample_container: Container, sample_app: FastAPI) -> None:
    from tests.conftest import sign_up

    account = sign_up(sample_container, role=Role.ANALYST, organisation=ORG)
    with TestClient(sample_app, base_url=BASE_URL) as client:
        body = {"risk_tolerance": "moderate", "investment_horizon": "medium", "max_ideas": 1}
        response = client.post("/api/v1/ideas/requests/validate", json=body, headers=account.headers)
        assert response.status_code == 200
        assert "set-cookie" not in response.headers  # no session, so no CSRF cookie for an API client
        assert "investai_csrf" in client.get("/login").headers.get("set-cookie", "")  # pages still get one


def test_an_expired_access_cookie_is_refreshed_once_for_racing_requests(
    web: Callable[..., WebUser], sample_container: Container
) -> None:
    user = web()
    original = user.client.cookies.get("investai_refresh")
    user.client.cookies.set("investai_access", "expired.or.garbage", domain="127.0.0.1")
    first = user.client.get("/", follow_redirects=False)
    assert first.status_code == 200
    rotated = first.cookies.get("investai_refresh")
    assert rotated
    # a second request racing with the old refresh token gets the same rotation, not a reuse revocation
    user.client.cookies.set("investai_access", "expired.or.garbage", domain="127.0.0.1")
    user.client.cookies.set("investai_refresh", original or "", domain="127.0.0.1")
    second = user.client.get("/", follow_redirects=False)
    assert second.status_code == 200
    assert second.cookies.get("investai_refresh") == rotated


def test_sign_out_revokes_the_session(web: Callable[..., WebUser]) -> None:
    user = web()
    access = user.client.cookies.get("investai_access")
    response = user.submit("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?notice=signed_out"
    user.client.cookies.set("investai_access", access or "", domain="127.0.0.1")
    assert user.client.get("/api/v1/ideas").status_code == 401


def test_a_wrong_password_gets_the_same_answer_for_unknown_users(
    sample_app: FastAPI, web: Callable[..., WebUser]
) -> None:
    known = web().account.user.email
    with TestClient(sample_app, base_url=BASE_URL) as client:
        user = WebUser(client=client, account=None)  # type: ignore[arg-type]
        user.page("/login")
        wrong = user.submit("/login", {"email": known, "password": "Wrong-password-123!"})
        unknown = user.submit("/login", {"email": "nobody@example.com", "password": "Wrong-password-123!"})
        assert wrong.status_code == unknown.status_code == 401
        assert "Incorrect email or password." in wrong.text
        assert "Incorrect email or password." in unknown.text


def test_next_never_leaves_the_site(web: Callable[..., WebUser]) -> None:
    user = web()
    user.client.cookies.delete("investai_access")
    user.client.cookies.delete("investai_refresh")
    user.page("/login")
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        response = user.submit(
            "/login", {"email": user.account.user.email, "password": user.account.password, "next": target}
        )
        assert response.headers["location"] == "/"
        user.client.cookies.delete("investai_access")
        user.client.cookies.delete("investai_refresh")
        user.page("/login")
