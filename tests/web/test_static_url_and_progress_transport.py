"""Two settings for serving behind CloudFront and API Gateway, without a browser: ``static_url`` (pages load
CSS, scripts and plotly.js from a CDN, and the pages' Content-Security-Policy allows it) and
``progress_transport`` (the idea-request page polls instead of opening an event stream). With both unset,
pages are as they always were. The browser side is ``tests/e2e/test_progress_polling.py``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from investai.adapters.local.clock import FakeClock
from investai.api.middleware.security_headers import PAGE_CSP, STRICT_CSP
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.users import Role
from investai.server import create_app
from tests.conftest import sign_up
from tests.web.conftest import NOW, WebUser, sign_in

CDN = "https://d123.cloudfront.net/static"
PAGES = {"/": 200, "/market": 200, "/ideas": 200, "/ideas/new": 200, "/documents": 200, "/profile": 200}
PAGES["/nowhere"] = 404  # the error page too
_ASSET = re.compile(r'(?:href|src)="([^"]*\.(?:css|js|svg))"')


@pytest.fixture(params=["default", "cdn"])
def configured(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Container]]:
    changes = {"static_url": CDN + "/", "progress_transport": "poll"} if request.param == "cdn" else {}
    settings = Settings(_env_file=None, data_dir=tmp_path / "var", **changes)
    container = build_container(settings, clock=FakeClock(NOW))
    yield request.param, container
    container.close()


@pytest.fixture
def user(configured: tuple[str, Container]) -> Iterator[WebUser]:
    _, container = configured
    signed_in = sign_in(create_app(container), sign_up(container, role=Role.ANALYST))
    yield signed_in
    signed_in.client.close()


def test_pages_load_static_files_from_the_configured_base(configured: tuple[str, Container], user: WebUser) -> None:
    mode, _ = configured
    base = CDN if mode == "cdn" else "/static"
    for path, status in PAGES.items():
        page = user.page(path, status=status).text
        assets = _ASSET.findall(page)
        assert f"{base}/css/app.css" in assets, path
        assert f"{base}/js/app.js" in assets, path
        assert all(asset.startswith(base + "/") for asset in assets), (path, assets)
        if mode == "cdn":
            assert '"/static/' not in page, path
    assert f'src="{base}/vendor/plotly.min.js"' in user.page("/market").text
    assert user.client.get("/static/js/app.js").status_code == 200  # still served here for whoever asks


def test_the_pages_policy_allows_the_static_origin_and_nothing_else_changes(
    configured: tuple[str, Container], user: WebUser
) -> None:
    mode, _ = configured
    page_policy = user.page("/market").headers["content-security-policy"]
    api_policy = user.client.get("/api/v1/profile").headers["content-security-policy"]
    assert api_policy == STRICT_CSP
    if mode == "default":
        assert page_policy == PAGE_CSP
        return
    directives = dict(part.strip().split(" ", 1) for part in page_policy.split(";"))
    origin = "https://d123.cloudfront.net"
    for directive in ("script-src", "style-src", "img-src"):
        assert origin in directives[directive].split(), directive
    assert "'unsafe-inline'" not in directives["script-src"]
    assert directives["default-src"] == "'self'"
    assert "cloudfront" not in directives.get("connect-src", "")  # the API stays same-origin


def test_the_progress_page_carries_its_transport(configured: tuple[str, Container], user: WebUser) -> None:
    mode, _ = configured
    submitted = user.api("POST", "/api/v1/ideas/requests", json={"tickers": ["AAPL"], "max_ideas": 1})
    assert submitted.status_code == 202, submitted.text
    page = user.page(f"/ideas/requests/{submitted.json()['request_id']}").text
    data = re.search(r'<script type="application/json" id="request-data" ([^>]*)>', page)
    assert data is not None
    expected = "poll" if mode == "cdn" else "sse"
    assert data.group(1) == f'data-progress-transport="{expected}"'
