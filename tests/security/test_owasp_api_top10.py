"""One test class per OWASP API Security Top 10 (2023) risk, written against this API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from investai.bootstrap import Container
from investai.domain.errors import InvalidToken
from investai.domain.users import Role
from investai.security.jwt import JwtVerifier
from investai.server import create_app
from tests.conftest import Account, sign_up
from tests.factories import make_idea

PUBLIC_ROUTES = {
    "/login",
    "/login/new-password",
    "/login/mfa",
    "/logout",  # ends the session if there is one; needs the CSRF token like every web form
    "/static/vendor/plotly.min.js",
    "/health",
    "/ready",
    "/.well-known/jwks.json",
    "/api/v1/auth/login",
    "/api/v1/auth/challenge/new-password",
    "/api/v1/auth/challenge/mfa",
    "/api/v1/auth/refresh",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
def other_org_analyst(container: Container) -> Account:
    return sign_up(container, role=Role.ANALYST, organisation="org_2")


def _own_idea(container: Container, account: Account) -> str:
    idea = make_idea(owner_id=account.user.id, organisation_id=account.user.organisation_id)
    container.ideas.add(idea)
    return idea.id


class TestAPI1BrokenObjectLevelAuthorization:
    def test_another_users_idea_is_not_found(self, client: TestClient, container: Container, analyst: Account) -> None:
        colleague = sign_up(container, role=Role.ANALYST)
        idea_id = _own_idea(container, analyst)
        assert client.get(f"/api/v1/ideas/{idea_id}", headers=analyst.headers).status_code == 200
        for path in (f"/api/v1/ideas/{idea_id}", f"/api/v1/ideas/{idea_id}/versions"):
            response = client.get(path, headers=colleague.headers)
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "not_found"

    def test_another_organisations_idea_is_not_found_even_for_reviewers(
        self, client: TestClient, container: Container, analyst: Account
    ) -> None:
        idea_id = _own_idea(container, analyst)
        same_org_reviewer = sign_up(container, role=Role.COMPLIANCE_OFFICER)
        other_org_reviewer = sign_up(container, role=Role.COMPLIANCE_OFFICER, organisation="org_2")
        assert client.get(f"/api/v1/ideas/{idea_id}", headers=same_org_reviewer.headers).status_code == 200
        assert client.get(f"/api/v1/ideas/{idea_id}", headers=other_org_reviewer.headers).status_code == 404

    def test_a_missing_and_a_foreign_object_answer_alike(
        self, client: TestClient, container: Container, analyst: Account, other_org_analyst: Account
    ) -> None:
        idea_id = _own_idea(container, analyst)
        foreign = client.get(f"/api/v1/ideas/{idea_id}", headers=other_org_analyst.headers).json()
        missing = client.get("/api/v1/ideas/idea_does_not_exist", headers=other_org_analyst.headers).json()
        assert foreign["error"]["code"] == missing["error"]["code"] == "not_found"
        # the same message but for the id the caller sent: nothing tells "exists, not yours" from "absent"
        assert foreign["error"]["message"].replace(idea_id, "<id>") == missing["error"]["message"].replace(
            "idea_does_not_exist", "<id>"
        )

    def test_another_users_job_cannot_be_read_or_cancelled(
        self, client: TestClient, container: Container, analyst: Account, other_org_analyst: Account
    ) -> None:
        job = container.jobs.enqueue(
            "maintenance.purge_expired", owner_id=analyst.user.id, organisation_id=analyst.user.organisation_id
        )
        assert client.get(f"/api/v1/jobs/{job.id}", headers=analyst.headers).status_code == 200
        colleague = sign_up(container, role=Role.ANALYST)
        for account in (colleague, other_org_analyst):
            assert client.get(f"/api/v1/jobs/{job.id}", headers=account.headers).status_code == 404
            assert client.post(f"/api/v1/jobs/{job.id}/cancel", headers=account.headers).status_code == 404
        assert container.jobs.get(job.id).status.value == "queued"

    def test_admins_cannot_reach_users_of_another_organisation(
        self, client: TestClient, container: Container, admin: Account, other_org_analyst: Account
    ) -> None:
        user_id = other_org_analyst.user.id
        assert client.get(f"/api/v1/admin/users/{user_id}", headers=admin.headers).status_code == 404
        patch = client.patch(f"/api/v1/admin/users/{user_id}", json={"enabled": False}, headers=admin.headers)
        assert patch.status_code == 404
        listed = client.get("/api/v1/admin/users", headers=admin.headers).json()
        assert user_id not in {user["id"] for user in listed}


class TestAPI2BrokenAuthentication:
    def test_protected_routes_need_a_token(self, client: TestClient) -> None:
        response = client.get("/api/v1/profile")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_password_guessing_locks_the_account(
        self, client: TestClient, container: Container, analyst: Account
    ) -> None:
        for _ in range(5):
            bad = {"email": analyst.user.email, "password": "Wrong-Passw0rd!"}
            assert client.post("/api/v1/auth/login", json=bad).status_code == 401
        good = {"email": analyst.user.email, "password": analyst.password}
        assert client.post("/api/v1/auth/login", json=good).status_code == 401

    def test_unknown_user_and_wrong_password_answer_alike(self, client: TestClient, analyst: Account) -> None:
        unknown = client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "Xx-1234567890"})
        wrong = client.post("/api/v1/auth/login", json={"email": analyst.user.email, "password": "Xx-1234567890"})
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json()["error"]["message"] == wrong.json()["error"]["message"]


class TestAPI3BrokenObjectPropertyLevelAuthorization:
    def test_mass_assignment_of_protected_fields_is_refused(
        self, client: TestClient, admin: Account, analyst: Account
    ) -> None:
        escalate = {"role": "analyst", "organisation_id": "org_2", "password_hash": "x"}
        response = client.patch(f"/api/v1/admin/users/{analyst.user.id}", json=escalate, headers=admin.headers)
        assert response.status_code == 422
        profile = {"preferences": {}, "role": "administrator"}
        assert client.put("/api/v1/profile", json=profile, headers=analyst.headers).status_code == 422

    def test_responses_never_carry_secrets(self, client: TestClient, admin: Account, analyst: Account) -> None:
        bodies = [
            client.get(f"/api/v1/admin/users/{analyst.user.id}", headers=admin.headers).text,
            client.get("/api/v1/admin/users", headers=admin.headers).text,
            client.get("/api/v1/profile/export", headers=analyst.headers).text,
        ]
        for body in bodies:
            assert "password_hash" not in body
            assert "password_history" not in body
            assert "$argon2" not in body


class TestAPI4UnrestrictedResourceConsumption:
    def test_oversized_body_is_refused_before_it_is_read(self, client: TestClient, analyst: Account) -> None:
        response = client.post(
            "/api/v1/auth/login",
            content=b'{"email": "' + b"a" * 2_000_000 + b'"}',
            headers={"content-type": "application/json"},
        )
        assert response.status_code in (403, 413)  # the WAF body rule or the body cap, whichever is smaller

    def test_page_sizes_are_bounded(self, client: TestClient, analyst: Account) -> None:
        assert client.get("/api/v1/ideas?limit=100000", headers=analyst.headers).status_code == 422

    def test_huge_passwords_are_refused_without_hashing(self, client: TestClient) -> None:
        response = client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "x" * 10_000})
        assert response.status_code == 422

    def test_request_rate_is_limited_per_client(self, container: Container) -> None:
        limited = container.settings.model_copy(update={"rate_limit_requests": 3, "rate_limit_window_s": 300.0})
        container.settings = limited
        with TestClient(create_app(container), base_url="http://127.0.0.1") as client:
            statuses = [client.get("/.well-known/jwks.json").status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200]
        assert statuses[3:] == [429, 429]


class TestAPI5BrokenFunctionLevelAuthorization:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("GET", "/api/v1/admin/users", None),
            ("POST", "/api/v1/admin/users", {"email": "x@example.com", "role": "administrator"}),
            ("GET", "/api/v1/admin/audit", None),
            ("GET", "/api/v1/admin/audit/verify", None),
            ("GET", "/metrics", None),
        ],
    )
    def test_analysts_cannot_use_admin_functions(
        self, client: TestClient, analyst: Account, method: str, path: str, body: dict[str, Any] | None
    ) -> None:
        response = client.request(method, path, json=body, headers=analyst.headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"

    def test_compliance_officers_read_the_audit_log_but_cannot_create_users(
        self, client: TestClient, container: Container
    ) -> None:
        officer = sign_up(container, role=Role.COMPLIANCE_OFFICER)
        assert client.get("/api/v1/admin/audit", headers=officer.headers).status_code == 200
        create = {"email": "y@example.com", "role": "analyst"}
        assert client.post("/api/v1/admin/users", json=create, headers=officer.headers).status_code == 403

    def test_administrators_cannot_request_ideas(self, client: TestClient, admin: Account) -> None:
        response = client.post("/api/v1/ideas/requests/validate", json={}, headers=admin.headers)
        assert response.status_code == 403


class TestAPI6SensitiveBusinessFlows:
    def test_mfa_code_guessing_locks_the_account(
        self, client: TestClient, container: Container, analyst: Account
    ) -> None:
        import pyotp

        setup = client.post("/api/v1/auth/mfa/setup", headers=analyst.headers).json()
        code = pyotp.TOTP(setup["secret"]).at(container.clock.now())
        assert client.post("/api/v1/auth/mfa/verify", json={"code": code}, headers=analyst.headers).status_code == 200
        challenge = client.post(
            "/api/v1/auth/login", json={"email": analyst.user.email, "password": analyst.password}
        ).json()
        assert challenge["challenge"] == "MFA"
        for guess in range(5):
            answer = {"session": challenge["session"], "code": f"{guess:06d}"}
            assert client.post("/api/v1/auth/challenge/mfa", json=answer).status_code == 401
        right = {"session": challenge["session"], "code": pyotp.TOTP(setup["secret"]).at(container.clock.now())}
        assert client.post("/api/v1/auth/challenge/mfa", json=right).status_code == 401  # locked


class TestAPI7ServerSideRequestForgery:
    def test_metadata_service_urls_in_input_are_blocked(self, client: TestClient, analyst: Account) -> None:
        body = {"universe": "http://169.254.169.254/latest/meta-data/iam/"}
        response = client.post("/api/v1/ideas/requests/validate", json=body, headers=analyst.headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "waf_blocked"

    def test_token_supplied_key_urls_are_never_fetched(self, container: Container) -> None:
        fetched: list[str] = []

        def jwks() -> dict[str, Any]:
            fetched.append("jwks")
            return {"keys": []}

        verifier = JwtVerifier(jwks=jwks, issuer="x", client_ids=frozenset({"c"}), now=container.clock.now)
        attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        headers = {"kid": "attacker", "jku": "http://10.0.0.1/keys"}
        token = pyjwt.encode({"sub": "a"}, attacker_key, algorithm="RS256", headers=headers)
        with pytest.raises(InvalidToken, match="names its own key"):
            verifier.claims(token, token_use="access")
        assert fetched == []  # refused on the header, before any key lookup


class TestAPI8SecurityMisconfiguration:
    def test_security_headers_and_no_server_banner(self, client: TestClient) -> None:
        response = client.get("/health")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "max-age=" in response.headers["strict-transport-security"]
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert "server" not in response.headers

    def test_cors_is_closed_by_default(self, client: TestClient) -> None:
        response = client.options(
            "/api/v1/profile",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in response.headers
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"  # the one error shape

    def test_trace_and_unknown_methods_are_refused(self, client: TestClient) -> None:
        assert client.request("TRACE", "/health").status_code in (403, 405)

    def test_errors_never_reveal_internals(self, client: TestClient, analyst: Account) -> None:
        response = client.post(
            "/api/v1/ideas/requests/validate",
            content=b"{",
            headers={**analyst.headers, "content-type": "application/json"},
        )
        assert response.status_code == 422
        assert "Traceback" not in response.text
        assert "site-packages" not in response.text


class TestAPI9ImproperInventoryManagement:
    def test_every_route_is_documented_and_versioned(self, app: FastAPI) -> None:
        documented = set(app.openapi()["paths"])
        for route in app.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                assert route.path in documented
                assert route.path.startswith(("/api/v1/", "/health", "/ready", "/metrics", "/.well-known/"))

    def test_every_non_public_route_declares_a_permission_or_a_principal(self, app: FastAPI) -> None:
        for route in app.routes:
            if not isinstance(route, APIRoute) or route.path in PUBLIC_ROUTES:
                continue
            names = _dependency_names(route)
            if route.include_in_schema:
                assert any(name.startswith("require_") or name == "get_principal" for name in names), route.path
            else:  # a web page: signed in (redirect to /login otherwise), most with a role check too
                assert any(name.startswith("page_requires_") or name == "_signed_in" for name in names), route.path


class TestAPI10UnsafeConsumptionOfAPIs:
    @pytest.mark.parametrize(
        "keys",
        [
            {"keys": [{"kid": "k1", "kty": "RSA", "n": "not-base64!", "e": "AQAB"}]},
            {"keys": [{"kid": "k1", "kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]},
            {"keys": "not a list"},
            {},
        ],
    )
    def test_a_malformed_key_set_yields_invalid_token_not_a_crash(
        self, container: Container, analyst: Account, keys: Any
    ) -> None:
        settings = container.settings
        verifier = JwtVerifier(
            jwks=lambda: keys,
            issuer=settings.issuer,
            client_ids=frozenset({settings.client_id}),
            now=container.clock.now,
        )
        with pytest.raises(InvalidToken):
            verifier.claims(analyst.tokens.access_token, token_use="access")

    def test_the_same_token_verifies_against_the_real_key_set(self, container: Container, analyst: Account) -> None:
        settings = container.settings
        verifier = JwtVerifier(
            jwks=container.identity.issuer.jwks,
            issuer=settings.issuer,
            client_ids=frozenset({settings.client_id}),
            now=container.clock.now,
        )
        assert verifier.claims(analyst.tokens.access_token, token_use="access")["sub"] == analyst.user.id


def _dependency_names(route: APIRoute) -> set[str]:
    names: set[str] = set()
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if dependant.call is not None:
            names.add(getattr(dependant.call, "__name__", ""))
        pending.extend(dependant.dependencies)
    return names


class TestDataAccessIsAudited:
    def test_reads_and_refused_reads_are_in_the_audit_chain(
        self, client: TestClient, container: Container, analyst: Account, other_org_analyst: Account
    ) -> None:
        idea_id = _own_idea(container, analyst)
        client.get(f"/api/v1/ideas/{idea_id}", headers=analyst.headers)
        client.get(f"/api/v1/ideas/{idea_id}", headers=other_org_analyst.headers)
        reads = container.identity.audit.list_events(action="idea.read")
        outcomes = {(event.actor_id, event.outcome.value) for event in reads if event.resource_id == idea_id}
        assert outcomes == {(analyst.user.id, "success"), (other_org_analyst.user.id, "denied")}
        assert container.identity.audit.verify().ok

    def test_profile_and_user_reads_are_audited(
        self, client: TestClient, container: Container, admin: Account, other_org_analyst: Account
    ) -> None:
        client.get("/api/v1/profile", headers=admin.headers)
        client.get("/api/v1/admin/users", headers=admin.headers)
        client.get(f"/api/v1/admin/users/{admin.user.id}", headers=admin.headers)
        client.get(f"/api/v1/admin/users/{other_org_analyst.user.id}", headers=admin.headers)
        events = container.identity.audit.list_events(actor_id=admin.user.id)
        seen = {(event.action, event.resource_id, event.outcome.value) for event in events}
        assert ("profile.read", admin.user.id, "success") in seen
        assert ("user.list", None, "success") in seen
        assert ("user.read", admin.user.id, "success") in seen
        assert ("user.read", other_org_analyst.user.id, "denied") in seen
