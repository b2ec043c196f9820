"""Every page each role can reach from the navigation opens in the browser with no console error and no
failed request, and without touching any host but the local server (issue 8, must-shows 2 and 3)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, Session
from tests.e2e.flows import new_user_session, sign_in

WEB = Path(__file__).resolve().parents[2] / "src" / "investai" / "web"


def visit_every_navigation_page(session: Session) -> list[str]:
    page = session.page
    hrefs = page.locator("nav[aria-label=Main] a").evaluate_all("links => links.map(link => link.getAttribute('href'))")
    assert "/" in hrefs
    for href in hrefs:
        session.goto(href)
        expect(page.locator("main h1").first).to_be_visible()
        page.wait_for_load_state("networkidle")
    return hrefs


@pytest.mark.parametrize("role", ["analyst", "portfolio-manager", "compliance-officer"])
def test_every_page_of_a_role_is_clean(open_session: Callable[..., Session], server: Server, role: str) -> None:
    session = open_session(role)
    new_user_session(session, server, role, "pages")
    hrefs = visit_every_navigation_page(session)
    assert ("/compliance" in hrefs) is (role == "compliance-officer")
    assert ("/admin/audit" in hrefs) is (role == "compliance-officer")
    assert "/admin" not in hrefs


def test_every_administrator_page_is_clean(open_session: Callable[..., Session]) -> None:
    session = open_session("admin")
    sign_in(session, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(session.page.get_by_role("heading", name="Dashboard")).to_be_visible()
    hrefs = visit_every_navigation_page(session)
    assert {"/admin", "/admin/audit", "/market", "/profile"} <= set(hrefs)
    for path in ("/admin/system",):
        session.goto(path)
        expect(session.page.locator("main h1").first).to_be_visible()


def test_the_ui_names_no_host_but_its_own() -> None:
    """Templates, scripts and styles load nothing from elsewhere: no absolute URLs, no protocol-relative ones."""
    offenders = []
    for path in sorted(WEB.rglob("*")):
        if path.suffix not in {".html", ".js", ".css"}:
            continue
        text = path.read_text(encoding="utf-8").replace("http://www.w3.org/", "")  # XML namespaces name no host
        for marker in ("http://", "https://", 'src="//', "src='//", 'href="//', "url(//", "@import"):
            if marker in text:
                offenders.append(f"{path.relative_to(WEB)}: {marker}")
    assert offenders == []
