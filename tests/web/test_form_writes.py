"""Web forms and the API they share services with: a form that changes something drops the API's cached
reads of it, as the API's own write would; form text that is not valid Unicode is refused naming the
field, before and after sign-in, like everywhere else; and the page's upload refuses a spoofed file name."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from investai.api.middleware.cache import collections_changed_by
from investai.domain.users import Role
from investai.web.app import API_COLLECTIONS_CHANGED_BY_FORMS, PAGES
from tests.web.conftest import BASE_URL, WebUser

WebFactory = Callable[..., WebUser]
SIGN_IN_FORMS = {"/login", "/login/new-password", "/login/mfa", "/logout"}  # sessions, no API resource
FORM = {"content-type": "application/x-www-form-urlencoded"}


def cached_profile(user: WebUser) -> httpx.Response:
    response = user.api("GET", "/api/v1/profile")
    assert response.status_code == 200, response.text
    return response


def test_saving_preferences_on_the_page_refreshes_the_cached_api_profile(web: WebFactory) -> None:
    user = web(role=Role.PORTFOLIO_MANAGER)
    before = cached_profile(user)
    assert cached_profile(user).headers["x-cache"] == "HIT"
    assert before.json()["preferences"]["risk_tolerance"] != "aggressive"

    user.page("/profile")
    saved = user.submit(
        "/profile",
        {
            "risk_tolerance": "aggressive",
            "time_horizon": "long",
            "esg": "prefer",
            "digest": "daily",
            "sectors": "Energy",
        },
    )
    assert saved.status_code == 303, saved.text

    after = cached_profile(user)
    assert after.headers["x-cache"] == "MISS"
    assert after.json()["preferences"]["risk_tolerance"] == "aggressive"
    assert after.json()["preferences"]["sectors"] == ["Energy"]


def test_every_form_that_writes_names_the_api_collections_it_changes(sample_app: FastAPI) -> None:
    api_collections = {"/".join(path.split("/")[:4]) for path in sample_app.openapi()["paths"]}
    forms = [
        route.path
        for page in PAGES
        for route in page.router.routes
        if isinstance(route, APIRoute)
        and route.methods & {"POST", "PUT", "PATCH", "DELETE"}
        and route.path not in SIGN_IN_FORMS
    ]
    assert len(forms) > 10
    for path in forms:
        changed = collections_changed_by(path, API_COLLECTIONS_CHANGED_BY_FORMS)
        assert changed, f"{path} drops no cached API read"
        assert set(changed) <= api_collections, path
    assert collections_changed_by("/profile", API_COLLECTIONS_CHANGED_BY_FORMS)[0] == "/api/v1/profile"
    assert collections_changed_by("/compliance/idea_1/approve", API_COLLECTIONS_CHANGED_BY_FORMS) == ("/api/v1/ideas",)


def refused(response: httpx.Response, location: list[Any]) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"] == location


def test_the_sign_in_form_refuses_text_that_is_not_unicode(sample_app: FastAPI) -> None:
    with TestClient(sample_app, base_url=BASE_URL) as client:
        user = WebUser(client=client, account=None)  # type: ignore[arg-type]
        user.page("/login")
        for bad in (b"%ED%A0%80", b"%FF", b"\xff"):
            body = b"email=ana" + bad + b"%40example.com&password=a&next=%2F&csrf_token=" + user.csrf.encode()
            refused(client.post("/login", content=body, headers=FORM), ["body", "email"])
        refused(client.get("/login?next=%2F%FF"), ["query", "next"])


def test_forms_of_a_signed_in_user_refuse_text_that_is_not_unicode(web: WebFactory) -> None:
    user = web(role=Role.PORTFOLIO_MANAGER)
    before = cached_profile(user).json()["preferences"]
    user.page("/profile")
    body = b"risk_tolerance=aggressive&time_horizon=long&sectors=Energy%ED%A0%80&csrf_token=" + user.csrf.encode()
    refused(user.client.post("/profile", content=body, headers=FORM), ["body", "sectors"])
    assert user.api("GET", "/api/v1/profile", headers={"Cache-Control": "no-cache"}).json()["preferences"] == before
    refused(user.client.get("/knowledge?q=caf%E9"), ["query", "q"])


def test_the_upload_on_the_documents_page_refuses_a_spoofed_file_name(web: WebFactory) -> None:
    user = web()
    user.page("/documents")
    response = user.api(
        "POST", "/api/v1/documents", files={"file": ("report\u202efdp.csv", io.BytesIO(b"ticker,note\nAAPL,x\n"))}
    )
    assert response.status_code == 422, response.text
    assert "U+202E" in response.json()["error"]["message"]
