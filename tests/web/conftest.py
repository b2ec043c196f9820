"""Web page tests without a browser: the FastAPI app in-process, signed in through the sign-in form with
cookies, every form carrying the page's CSRF token — what a browser does, minus rendering.

``sample_container`` (module scope) holds the sample market history and the sample documents, indexed with
the real embedder; ``web`` signs a user in and returns a :class:`WebUser`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.domain.users import Role
from investai.ports.knowledge import Embedder
from investai.server import create_app
from tests.conftest import PASSWORD, Account, drain, sign_up

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
ORG = "org_1"
BASE_URL = "http://127.0.0.1:8000"
_CSRF = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')


@pytest.fixture(scope="module")
def sample_container(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Container]:
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("web") / "var")
    built = build_container(settings, clock=FakeClock(NOW), embedder=embedder)
    built.market.load_sample()
    assert built.knowledge.samples.ensure_loaded(ORG) > 0
    drain(built)
    yield built
    built.close()


@pytest.fixture(scope="module")
def sample_app(sample_container: Container) -> FastAPI:
    return create_app(sample_container)


@dataclass
class WebUser:
    """A signed-in browser session: cookies in ``client``, the CSRF token of the last page read."""

    client: TestClient
    account: Account
    csrf: str = ""

    def page(self, path: str, *, status: int = 200, **params: Any) -> httpx.Response:
        response = self.client.get(path, params=params or None, follow_redirects=False)
        assert response.status_code == status, f"{path}: {response.status_code} {response.text[:500]}"
        if "text/html" in response.headers.get("content-type", ""):
            found = _CSRF.search(response.text)
            if found:
                self.csrf = found.group(1)
        return response

    def submit(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """POST a form as the browser would: url-encoded, with the page's CSRF token."""
        return self.client.post(path, data={**(data or {}), "csrf_token": self.csrf}, follow_redirects=False, **kwargs)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the API as the page's scripts do: session cookie plus the CSRF header."""
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)


def sign_in(app: FastAPI, account: Account) -> WebUser:
    client = TestClient(app, base_url=BASE_URL)
    user = WebUser(client=client, account=account)
    user.page("/login")
    response = user.submit("/login", {"email": account.user.email, "password": account.password, "next": "/"})
    assert response.status_code == 303, response.text[:500]
    user.page("/")
    return user


@pytest.fixture
def web(sample_app: FastAPI, sample_container: Container) -> Iterator[Callable[..., WebUser]]:
    """``web(role=Role.ANALYST, organisation=ORG)``: a new user of that role, signed in through the form."""
    clients: list[TestClient] = []

    def make(*, role: Role = Role.ANALYST, organisation: str = ORG) -> WebUser:
        user = sign_in(sample_app, sign_up(sample_container, role=role, organisation=organisation))
        clients.append(user.client)
        return user

    yield make
    for client in clients:
        client.close()


__all__ = ["BASE_URL", "NOW", "ORG", "PASSWORD", "WebUser", "drain", "sign_in"]
