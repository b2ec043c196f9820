"""Identity flows through the HTTP API: admin-only sign-up and the new-password challenge, password policy
and history, TOTP MFA with recovery codes, lockout with back-off, no user enumeration, refresh-token rotation
with reuse detection, sign-out, organisation-scoped administration, profile export and erasure, and the audit
trail all of that leaves. Time moves only through the injected ``FakeClock``."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import jwt
import pyotp
import pytest
from fastapi.testclient import TestClient

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container
from investai.domain.users import Role
from investai.server import create_app
from tests.conftest import Account, sign_up

if TYPE_CHECKING:
    from httpx2 import Response  # what the TestClient answers with

LOGIN = "/api/v1/auth/login"
NEW_PASSWORD = "/api/v1/auth/challenge/new-password"
MFA = "/api/v1/auth/challenge/mfa"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
EVERYWHERE = "/api/v1/auth/sign-out-everywhere"
PASSWORD = "/api/v1/auth/password"
MFA_SETUP = "/api/v1/auth/mfa/setup"
MFA_VERIFY = "/api/v1/auth/mfa/verify"
MFA_DISABLE = "/api/v1/auth/mfa/disable"
ADMIN_USERS = "/api/v1/admin/users"
AUDIT = "/api/v1/admin/audit"
AUDIT_VERIFY = "/api/v1/admin/audit/verify"
PROFILE = "/api/v1/profile"
EXPORT = "/api/v1/profile/export"
ERASE = "/api/v1/profile/erase"
JWKS = "/.well-known/jwks.json"

TOKEN_FIELDS = {"access_token", "id_token", "refresh_token", "token_type", "expires_in"}
FRESH = {"Cache-Control": "no-cache"}  # reads that must see writes made under another collection
GENERIC_FAILURE = "incorrect email or password"
PER_REQUEST_HEADERS = {"x-request-id", "content-length", "date"}


# -- helpers -----------------------------------------------------------------------------------------------
@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


@dataclass
class Member:
    """A user created through the admin API who has replaced the temporary password and signed in."""

    id: str
    email: str
    password: str
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_email() -> str:
    return f"member.{secrets.token_hex(6)}@example.com"


def strong(label: str) -> str:
    """A password that satisfies the policy."""
    return f"Strong-Passw0rd-{label}!"


def login(client: TestClient, email: str, password: str) -> Response:
    return client.post(LOGIN, json={"email": email, "password": password})


def sign_in(client: TestClient, email: str, password: str) -> dict[str, Any]:
    """Tokens of a new session (no challenge expected)."""
    response = login(client, email, password)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == TOKEN_FIELDS, body
    return body


def refresh(client: TestClient, refresh_token: str) -> Response:
    return client.post(REFRESH, json={"refresh_token": refresh_token})


def create_member(client: TestClient, admin: Account, *, role: Role = Role.ANALYST) -> tuple[str, str, str]:
    """A user created by ``admin``: (id, e-mail, temporary password)."""
    response = client.post(ADMIN_USERS, json={"email": new_email(), "role": role.value}, headers=admin.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["temporary_password"]
    return body["user"]["id"], body["user"]["email"], body["temporary_password"]


def activate(client: TestClient, admin: Account, *, role: Role = Role.ANALYST, password: str | None = None) -> Member:
    user_id, email, temporary = create_member(client, admin, role=role)
    challenge = login(client, email, temporary).json()
    assert challenge["challenge"] == "NEW_PASSWORD_REQUIRED"
    password = password or strong(secrets.token_hex(3))
    response = client.post(NEW_PASSWORD, json={"session": challenge["session"], "new_password": password})
    assert response.status_code == 200, response.text
    return Member(id=user_id, email=email, password=password, tokens=response.json())


def totp(secret: str, clock: FakeClock) -> str:
    return pyotp.TOTP(secret).at(int(clock.now().timestamp()))


def wrong_code(secret: str, clock: FakeClock) -> str:
    """A six-digit code that no time step near now produces."""
    now = int(clock.now().timestamp())
    near = {pyotp.TOTP(secret).at(now + 30 * offset) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def enable_mfa(client: TestClient, clock: FakeClock, member: Member) -> tuple[str, list[str]]:
    """Set up and confirm TOTP for ``member``: (secret, recovery codes)."""
    setup = client.post(MFA_SETUP, headers=member.headers)
    assert setup.status_code == 200, setup.text
    secret = str(setup.json()["secret"])
    verify = client.post(MFA_VERIFY, json={"code": totp(secret, clock)}, headers=member.headers)
    assert verify.status_code == 200, verify.text
    return secret, list(verify.json()["recovery_codes"])


def mfa_session(client: TestClient, member: Member) -> str:
    response = login(client, member.email, member.password)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["challenge"] == "MFA"
    assert not TOKEN_FIELDS & set(body)
    return str(body["session"])


def answer_mfa(client: TestClient, session: str, code: str) -> Response:
    return client.post(MFA, json={"session": session, "code": code})


def assert_error(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "request_id"} <= set(body["error"])
    if code is not None:
        assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    error: dict[str, Any] = body["error"]
    return error


def comparable(response: Response) -> tuple[int, dict[str, Any], dict[str, str]]:
    """What a client can observe of an answer, minus what differs on every request."""
    body = response.json()
    body["error"].pop("request_id")
    headers = {name: value for name, value in response.headers.items() if name not in PER_REQUEST_HEADERS}
    return response.status_code, body, headers


def access_claims(tokens: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return claims


def admin_view(client: TestClient, admin: Account, user_id: str) -> Response:
    return client.get(f"{ADMIN_USERS}/{user_id}", headers={**admin.headers, **FRESH})


def audit_events(client: TestClient, admin: Account, **params: Any) -> list[dict[str, Any]]:
    response = client.get(AUDIT, params={"limit": 500, **params}, headers={**admin.headers, **FRESH})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


# -- admin-only sign-up, the new-password challenge, password policy ---------------------------------------
class TestSignUp:
    def test_a_new_user_must_replace_the_temporary_password(self, client: TestClient, admin: Account) -> None:
        user_id, email, temporary = create_member(client, admin)
        assert admin_view(client, admin, user_id).json()["status"] == "force_change_password"

        challenge = login(client, email, temporary)
        assert challenge.status_code == 200
        assert challenge.headers["cache-control"] == "no-store"
        assert set(challenge.json()) == {"challenge", "session"}
        assert challenge.json()["challenge"] == "NEW_PASSWORD_REQUIRED"
        session = challenge.json()["session"]
        assert_error(client.get(PROFILE, headers=bearer(session)), 401)  # a challenge session grants nothing

        same = client.post(NEW_PASSWORD, json={"session": session, "new_password": temporary})
        assert "differ" in assert_error(same, 422, "weak_password")["message"]

        password = strong("first")
        answered = client.post(NEW_PASSWORD, json={"session": session, "new_password": password})
        assert answered.status_code == 200, answered.text
        assert answered.headers["cache-control"] == "no-store"
        tokens = answered.json()
        assert set(tokens) == TOKEN_FIELDS
        assert tokens["token_type"] == "Bearer"
        assert tokens["expires_in"] == 3600
        assert client.get(PROFILE, headers=bearer(tokens["access_token"])).json()["user_id"] == user_id
        identity = jwt.decode(tokens["id_token"], options={"verify_signature": False})
        assert (identity["token_use"], identity["email"], identity["sub"]) == ("id", email, user_id)

        reused = client.post(NEW_PASSWORD, json={"session": session, "new_password": strong("second")})
        assert_error(reused, 401)
        assert_error(login(client, email, temporary), 401)
        assert set(sign_in(client, email, password)) == TOKEN_FIELDS  # no challenge any more
        assert admin_view(client, admin, user_id).json()["status"] == "active"

    def test_weak_new_passwords_are_refused_listing_what_is_missing(self, client: TestClient, admin: Account) -> None:
        rules = ["at least 12 characters", "an upper-case letter", "a lower-case letter", "a digit", "a symbol"]
        cases = {
            "Sh0rt-Pass!": ["at least 12 characters"],
            "lowercase-only-0!": ["an upper-case letter"],
            "UPPERCASE-ONLY-0!": ["a lower-case letter"],
            "No-Digits-Here-At-All!": ["a digit"],
            "NoSymbolsHere0123": ["a symbol"],
            "x": ["at least 12 characters", "an upper-case letter", "a digit", "a symbol"],
            " " * 12: ["an upper-case letter", "a lower-case letter", "a digit", "a symbol"],
        }
        _, email, temporary = create_member(client, admin)
        session = login(client, email, temporary).json()["session"]
        for password, missing in cases.items():
            response = client.post(NEW_PASSWORD, json={"session": session, "new_password": password})
            message = assert_error(response, 422, "weak_password")["message"]
            for rule in rules:
                assert (rule in message) == (rule in missing), (password, message)
        # refusals do not use the session up
        accepted = client.post(NEW_PASSWORD, json={"session": session, "new_password": strong("ok")})
        assert accepted.status_code == 200, accepted.text

    def test_the_current_and_last_n_passwords_cannot_be_reused(
        self, client: TestClient, container: Container, admin: Account
    ) -> None:
        history = container.settings.password_history
        member = activate(client, admin, password=strong("p0"))
        used = [member.password]
        headers = member.headers

        def change(new: str) -> Response:
            return client.post(PASSWORD, json={"current_password": used[-1], "new_password": new}, headers=headers)

        assert "differ" in assert_error(change(used[-1]), 422, "weak_password")["message"]
        assert "a symbol" in assert_error(change("NoSymbolsHere0123"), 422, "weak_password")["message"]
        for index in range(1, history + 1):
            assert change(strong(f"p{index}")).status_code == 204
            used.append(strong(f"p{index}"))
            headers = bearer(sign_in(client, member.email, used[-1])["access_token"])
        # now the current one and the last N before it are all refused, the oldest of them included
        for old in (used[-1], used[-2], used[0]):
            assert "differ" in assert_error(change(old), 422, "weak_password")["message"], old
        assert change(strong("next")).status_code == 204
        used.append(strong("next"))
        headers = bearer(sign_in(client, member.email, used[-1])["access_token"])
        assert change(used[0]).status_code == 204  # p0 has left the window of N
        assert set(sign_in(client, member.email, used[0])) == TOKEN_FIELDS

    def test_the_temporary_password_expires_after_seven_days(
        self, client: TestClient, admin: Account, clock: FakeClock
    ) -> None:
        user_id, email, temporary = create_member(client, admin)
        clock.advance(timedelta(days=7) - timedelta(seconds=1))
        assert login(client, email, temporary).json()["challenge"] == "NEW_PASSWORD_REQUIRED"
        clock.advance(timedelta(seconds=1))
        expired = login(client, email, temporary)
        assert assert_error(expired, 401)["message"] == GENERIC_FAILURE
        assert comparable(expired) == comparable(login(client, new_email(), temporary))

        admin_tokens = sign_in(client, admin.user.email, admin.password)  # a week on, the old session is over
        reset = client.post(f"{ADMIN_USERS}/{user_id}/reset-password", headers=bearer(admin_tokens["access_token"]))
        assert reset.status_code == 200, reset.text
        fresh = reset.json()["temporary_password"]
        assert fresh != temporary
        assert login(client, email, fresh).json()["challenge"] == "NEW_PASSWORD_REQUIRED"


# -- TOTP MFA ----------------------------------------------------------------------------------------------
class TestMfa:
    def test_setup_sign_in_replay_and_recovery_codes(
        self, client: TestClient, admin: Account, clock: FakeClock
    ) -> None:
        member = activate(client, admin)
        setup = client.post(MFA_SETUP, headers=member.headers)
        assert setup.status_code == 200
        assert setup.headers["cache-control"] == "no-store"
        secret, uri = setup.json()["secret"], setup.json()["otpauth_uri"]
        assert len(secret) >= 16
        assert uri.startswith("otpauth://totp/")
        assert f"secret={secret}" in uri
        assert "issuer=" in uri
        assert pyotp.parse_uri(uri).secret == secret

        assert_error(client.post(MFA_VERIFY, json={"code": wrong_code(secret, clock)}, headers=member.headers), 401)
        verified = client.post(MFA_VERIFY, json={"code": totp(secret, clock)}, headers=member.headers)
        assert verified.status_code == 200, verified.text
        assert verified.headers["cache-control"] == "no-store"
        recovery = verified.json()["recovery_codes"]
        assert len(recovery) == len(set(recovery)) == 10
        assert admin_view(client, admin, member.id).json()["mfa_enabled"] is True
        assert_error(client.post(MFA_SETUP, headers=member.headers), 409)  # already on

        clock.advance(timedelta(seconds=30))  # the setup code's step is spent
        first = mfa_session(client, member)
        assert_error(answer_mfa(client, first, wrong_code(secret, clock)), 401)
        code = totp(secret, clock)
        tokens = answer_mfa(client, first, code)
        assert tokens.status_code == 200, tokens.text
        assert set(tokens.json()) == TOKEN_FIELDS
        assert access_claims(tokens.json())["amr"] == ["pwd", "mfa"]
        assert client.get(PROFILE, headers=bearer(tokens.json()["access_token"])).status_code == 200

        second = mfa_session(client, member)
        assert_error(answer_mfa(client, second, code), 401)  # the same code cannot be replayed
        clock.advance(timedelta(seconds=30))
        assert answer_mfa(client, second, totp(secret, clock)).status_code == 200  # a failure kept the session

        clock.advance(timedelta(seconds=30))
        assert_error(answer_mfa(client, first, totp(secret, clock)), 401)  # a used session stays used

        third = mfa_session(client, member)
        assert answer_mfa(client, third, recovery[0]).status_code == 200
        fourth = mfa_session(client, member)
        assert_error(answer_mfa(client, fourth, recovery[0]), 401)  # each recovery code works once
        assert answer_mfa(client, fourth, recovery[1]).status_code == 200

    def test_mfa_can_be_disabled_with_a_code(self, client: TestClient, admin: Account, clock: FakeClock) -> None:
        member = activate(client, admin)
        secret, _ = enable_mfa(client, clock, member)
        clock.advance(timedelta(seconds=30))
        assert_error(client.post(MFA_DISABLE, json={"code": wrong_code(secret, clock)}, headers=member.headers), 401)
        assert admin_view(client, admin, member.id).json()["mfa_enabled"] is True
        disabled = client.post(MFA_DISABLE, json={"code": totp(secret, clock)}, headers=member.headers)
        assert disabled.status_code == 204
        assert admin_view(client, admin, member.id).json()["mfa_enabled"] is False
        assert set(sign_in(client, member.email, member.password)) == TOKEN_FIELDS  # no MFA challenge
        assert_error(client.post(MFA_DISABLE, json={"code": totp(secret, clock)}, headers=member.headers), 409)


# -- lockout -----------------------------------------------------------------------------------------------
class TestLockout:
    def test_failures_lock_with_a_doubling_back_off_that_success_resets(
        self, client: TestClient, container: Container, admin: Account, clock: FakeClock
    ) -> None:
        settings = container.settings
        assert (settings.lockout_threshold, settings.lockout_base_s, settings.lockout_max_s) == (5, 30.0, 900.0)
        member = activate(client, admin)
        wrong = strong("wrong")
        unknown = login(client, new_email(), member.password)

        def lock_s() -> float:
            locked_until = container.users.get(member.id).locked_until
            return 0.0 if locked_until is None else (locked_until - clock.now()).total_seconds()

        for _ in range(4):
            assert_error(login(client, member.email, wrong), 401)
            assert lock_s() == 0
        assert_error(login(client, member.email, wrong), 401)
        assert lock_s() == 30
        locked = login(client, member.email, member.password)
        assert comparable(locked) == comparable(unknown)  # the right password fails exactly like an unknown user
        clock.advance(timedelta(seconds=29))
        assert comparable(login(client, member.email, member.password)) == comparable(unknown)
        clock.advance(timedelta(seconds=1))

        windows = []
        for _ in range(6):  # each further failure doubles the lock, up to 15 minutes
            assert_error(login(client, member.email, wrong), 401)
            windows.append(lock_s())
            clock.advance(timedelta(seconds=windows[-1]))
        assert windows == [60, 120, 240, 480, 900, 900]

        assert set(sign_in(client, member.email, member.password)) == TOKEN_FIELDS  # unlocked after the window
        stored = container.users.get(member.id)
        assert (stored.failed_attempts, stored.locked_until) == (0, None)  # success resets the count
        for _ in range(4):
            assert_error(login(client, member.email, wrong), 401)
        assert set(sign_in(client, member.email, member.password)) == TOKEN_FIELDS

    def test_wrong_mfa_codes_count_towards_lockout(
        self, client: TestClient, container: Container, admin: Account, clock: FakeClock
    ) -> None:
        member = activate(client, admin)
        secret, _ = enable_mfa(client, clock, member)
        clock.advance(timedelta(seconds=30))
        unknown = login(client, new_email(), member.password)
        session = mfa_session(client, member)
        for _ in range(container.settings.lockout_threshold):
            assert_error(answer_mfa(client, session, wrong_code(secret, clock)), 401)
        assert_error(answer_mfa(client, session, totp(secret, clock)), 401)  # even the right code, now
        assert comparable(login(client, member.email, member.password)) == comparable(unknown)
        clock.advance(timedelta(seconds=container.settings.lockout_base_s))
        session = mfa_session(client, member)
        assert answer_mfa(client, session, totp(secret, clock)).status_code == 200


# -- no user enumeration -----------------------------------------------------------------------------------
class TestNoEnumeration:
    def test_every_sign_in_failure_looks_the_same(self, client: TestClient, admin: Account) -> None:
        active = activate(client, admin)
        locked = activate(client, admin)
        disabled = activate(client, admin)
        _, pending, _ = create_member(client, admin)
        for _ in range(5):
            login(client, locked.email, strong("wrong"))
        patch = client.patch(f"{ADMIN_USERS}/{disabled.id}", json={"enabled": False}, headers=admin.headers)
        assert patch.status_code == 200

        answers = {
            "unknown e-mail": login(client, new_email(), strong("any")),
            "unknown e-mail, its user's password": login(client, new_email(), active.password),
            "wrong password": login(client, active.email, strong("wrong")),
            "wrong password, e-mail in capitals": login(client, active.email.upper(), strong("wrong")),
            "locked, right password": login(client, locked.email, locked.password),
            "locked, wrong password": login(client, locked.email, strong("wrong")),
            "disabled, right password": login(client, disabled.email, disabled.password),
            "disabled, wrong password": login(client, disabled.email, strong("wrong")),
            "temporary password pending, wrong password": login(client, pending, strong("wrong")),
        }
        reference = comparable(answers["unknown e-mail"])
        assert reference[0] == 401
        assert reference[1] == {"error": {"code": "unauthorized", "message": GENERIC_FAILURE}}
        for name, answer in answers.items():
            assert comparable(answer) == reference, name
            assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]


# -- sessions: refresh rotation, expiry, sign-out ----------------------------------------------------------
class TestSessions:
    def test_refresh_rotates_and_reuse_revokes_the_whole_family(self, client: TestClient, admin: Account) -> None:
        member = activate(client, admin)
        first = member.tokens
        other = sign_in(client, member.email, member.password)  # a second session of the same user

        rotated = refresh(client, first["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        assert rotated.headers["cache-control"] == "no-store"
        second = rotated.json()
        assert set(second) == TOKEN_FIELDS
        assert second["refresh_token"] != first["refresh_token"]
        assert access_claims(second)["sid"] == access_claims(first)["sid"]
        assert client.get(PROFILE, headers=bearer(second["access_token"])).status_code == 200
        third = refresh(client, second["refresh_token"]).json()
        assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])

        assert_error(refresh(client, first["refresh_token"]), 401)  # reuse of a rotated token
        assert_error(refresh(client, third["refresh_token"]), 401)  # ... revoked the newest one too
        for tokens in (first, second, third):
            assert_error(client.get(PROFILE, headers=bearer(tokens["access_token"])), 401)

        assert client.get(PROFILE, headers=bearer(other["access_token"])).status_code == 200
        assert refresh(client, other["refresh_token"]).status_code == 200

        reuse = audit_events(client, admin, action="token.reuse_detected")
        assert [(e["resource_id"], e["outcome"], e["actor_id"]) for e in reuse] == [
            (access_claims(first)["sid"], "denied", member.id)
        ]

    @pytest.mark.parametrize("token", ["", "x" * 513, "not-a-refresh-token"])
    def test_a_malformed_refresh_token_is_refused(self, client: TestClient, token: str) -> None:
        response = refresh(client, token)
        assert response.status_code in (401, 422)
        assert_error(response, response.status_code)

    def test_refresh_stops_working_after_thirty_days(
        self, client: TestClient, admin: Account, clock: FakeClock
    ) -> None:
        member = activate(client, admin)
        clock.advance(timedelta(days=30) - timedelta(seconds=1))
        renewed = refresh(client, member.tokens["refresh_token"])
        assert renewed.status_code == 200, renewed.text
        clock.advance(timedelta(seconds=1))
        assert_error(refresh(client, renewed.json()["refresh_token"]), 401)
        assert set(sign_in(client, member.email, member.password)) == TOKEN_FIELDS

    def test_an_access_token_lasts_an_hour_and_refresh_renews_it(
        self, client: TestClient, container: Container, admin: Account, clock: FakeClock
    ) -> None:
        member = activate(client, admin)
        clock.advance(timedelta(seconds=3600 + container.settings.token_leeway_s))
        assert client.get(PROFILE, headers=member.headers).status_code == 200
        clock.advance(timedelta(seconds=1))
        assert_error(client.get(PROFILE, headers=member.headers), 401)
        renewed = refresh(client, member.tokens["refresh_token"])
        assert renewed.status_code == 200
        assert client.get(PROFILE, headers=bearer(renewed.json()["access_token"])).status_code == 200

    def test_logout_revokes_only_that_session(self, client: TestClient, admin: Account) -> None:
        member = activate(client, admin)
        other = sign_in(client, member.email, member.password)
        assert_error(client.post(LOGOUT), 401)
        assert client.post(LOGOUT, headers=member.headers).status_code == 204
        assert_error(client.get(PROFILE, headers=member.headers), 401)
        assert_error(refresh(client, member.tokens["refresh_token"]), 401)
        assert client.get(PROFILE, headers=bearer(other["access_token"])).status_code == 200
        assert refresh(client, other["refresh_token"]).status_code == 200
        assert [e["resource_id"] for e in audit_events(client, admin, action="token.revoked")] == [
            access_claims(member.tokens)["sid"]
        ]

    def test_sign_out_everywhere_revokes_every_session(self, client: TestClient, admin: Account) -> None:
        member = activate(client, admin)
        other = sign_in(client, member.email, member.password)
        response = client.post(EVERYWHERE, headers=member.headers)
        assert response.status_code == 200
        assert response.json() == {"revoked_sessions": 2}
        for tokens in (member.tokens, other):
            assert_error(client.get(PROFILE, headers=bearer(tokens["access_token"])), 401)
            assert_error(refresh(client, tokens["refresh_token"]), 401)
        assert set(sign_in(client, member.email, member.password)) == TOKEN_FIELDS
        assert audit_events(client, admin, action="token.revoked_all")[0]["details"] == {"sessions": 2}

    def test_a_password_change_revokes_every_session(self, client: TestClient, admin: Account) -> None:
        member = activate(client, admin)
        other = sign_in(client, member.email, member.password)
        new = strong("changed")
        wrong = client.post(
            PASSWORD, json={"current_password": strong("wrong"), "new_password": new}, headers=member.headers
        )
        assert_error(wrong, 401)
        changed = client.post(
            PASSWORD, json={"current_password": member.password, "new_password": new}, headers=member.headers
        )
        assert changed.status_code == 204
        for tokens in (member.tokens, other):
            assert_error(client.get(PROFILE, headers=bearer(tokens["access_token"])), 401)
            assert_error(refresh(client, tokens["refresh_token"]), 401)
        assert_error(login(client, member.email, member.password), 401)
        assert set(sign_in(client, member.email, new)) == TOKEN_FIELDS


# -- administration ----------------------------------------------------------------------------------------
class TestAdministration:
    def test_only_administrators_manage_users(self, client: TestClient, analyst: Account) -> None:
        body = {"email": new_email(), "role": "administrator"}
        assert_error(client.post(ADMIN_USERS, json=body), 401, "unauthorized")
        assert_error(client.post(ADMIN_USERS, json=body, headers=analyst.headers), 403, "forbidden")
        assert_error(client.get(ADMIN_USERS, headers=analyst.headers), 403, "forbidden")
        assert_error(client.get(AUDIT, headers=analyst.headers), 403, "forbidden")
        own = client.patch(f"{ADMIN_USERS}/{analyst.user.id}", json={"role": "administrator"}, headers=analyst.headers)
        assert_error(own, 403, "forbidden")

    def test_an_administrator_cannot_reach_another_organisations_users(
        self, client: TestClient, container: Container, admin: Account
    ) -> None:
        other_admin = sign_up(container, role=Role.ADMINISTRATOR, organisation="org_2")
        foreign_id, _, _ = create_member(client, other_admin)
        unknown_id = "usr_" + "0" * 32

        def both(method: str, suffix: str = "", body: dict[str, Any] | None = None) -> None:
            answers = [
                client.request(method, f"{ADMIN_USERS}/{user_id}{suffix}", json=body, headers=admin.headers)
                for user_id in (foreign_id, unknown_id)
            ]
            foreign, unknown = (comparable(answer) for answer in answers)
            assert foreign[0] == unknown[0] == 404, (method, suffix)
            assert foreign[1]["error"]["message"].replace(foreign_id, "ID") == unknown[1]["error"]["message"].replace(
                unknown_id, "ID"
            )

        both("GET")
        both("PATCH", body={"role": "administrator"})
        both("PATCH", body={"enabled": False})
        both("POST", "/reset-password")
        listed = client.get(ADMIN_USERS, headers={**admin.headers, **FRESH}).json()
        assert foreign_id not in {user["id"] for user in listed}
        assert {user["organisation_id"] for user in listed} == {"org_1"}

        untouched = admin_view(client, other_admin, foreign_id).json()
        assert (untouched["role"], untouched["status"]) == ("analyst", "force_change_password")
        smuggled = {"email": new_email(), "role": "analyst", "organisation_id": "org_2"}
        assert_error(client.post(ADMIN_USERS, json=smuggled, headers=admin.headers), 422)

    def test_administrators_cannot_demote_or_disable_themselves(self, client: TestClient, admin: Account) -> None:
        own = f"{ADMIN_USERS}/{admin.user.id}"
        assert_error(client.patch(own, json={"role": "analyst"}, headers=admin.headers), 409, "conflict")
        assert_error(client.patch(own, json={"enabled": False}, headers=admin.headers), 409, "conflict")
        assert_error(client.patch(own, json={"role": "analyst", "enabled": True}, headers=admin.headers), 409)
        renamed = client.patch(own, json={"display_name": "Root"}, headers=admin.headers)
        assert renamed.status_code == 200
        assert (renamed.json()["role"], renamed.json()["status"]) == ("administrator", "active")
        assert client.get(ADMIN_USERS, headers=admin.headers).status_code == 200  # still signed in

    def test_disabling_a_user_revokes_their_sessions(self, client: TestClient, admin: Account) -> None:
        member = activate(client, admin)
        disabled = client.patch(f"{ADMIN_USERS}/{member.id}", json={"enabled": False}, headers=admin.headers)
        assert disabled.status_code == 200
        assert disabled.json()["status"] == "disabled"
        assert_error(client.get(PROFILE, headers=member.headers), 401)
        assert_error(refresh(client, member.tokens["refresh_token"]), 401)
        assert_error(login(client, member.email, member.password), 401)
        enabled = client.patch(f"{ADMIN_USERS}/{member.id}", json={"enabled": True}, headers=admin.headers)
        assert enabled.json()["status"] == "active"
        assert set(sign_in(client, member.email, member.password)) == TOKEN_FIELDS

    def test_a_password_reset_does_not_enable_a_disabled_account(self, client: TestClient, admin: Account) -> None:
        member = activate(client, admin)
        client.patch(f"{ADMIN_USERS}/{member.id}", json={"enabled": False}, headers=admin.headers)
        reset = client.post(f"{ADMIN_USERS}/{member.id}/reset-password", headers=admin.headers)
        assert reset.status_code == 200, reset.text
        assert reset.json()["user"]["status"] == "disabled"
        assert_error(login(client, member.email, reset.json()["temporary_password"]), 401)
        enabled = client.patch(f"{ADMIN_USERS}/{member.id}", json={"enabled": True}, headers=admin.headers)
        assert enabled.json()["status"] == "force_change_password"  # the reset's temporary password now applies
        assert login(client, member.email, reset.json()["temporary_password"]).json()["challenge"] == (
            "NEW_PASSWORD_REQUIRED"
        )

    def test_a_role_change_ends_the_sessions_and_is_audited(self, client: TestClient, admin: Account) -> None:
        member = activate(client, admin)
        changed = client.patch(f"{ADMIN_USERS}/{member.id}", json={"role": "portfolio-manager"}, headers=admin.headers)
        assert changed.status_code == 200
        assert_error(client.get(PROFILE, headers=member.headers), 401)
        tokens = sign_in(client, member.email, member.password)
        assert access_claims(tokens)["custom:role"] == "portfolio-manager"
        events = audit_events(client, admin, action="user.role_changed")
        assert [(e["resource_id"], e["actor_id"], e["details"]) for e in events] == [
            (member.id, admin.user.id, {"from": "analyst", "to": "portfolio-manager"})
        ]


# -- profile -----------------------------------------------------------------------------------------------
PREFERENCES = {
    "risk_tolerance": "aggressive",
    "time_horizon": "long",
    "sectors": ["Energy", "Utilities"],
    "asset_classes": ["equity"],
    "exclusions": ["tobacco"],
    "esg": "prefer",
}
NOTIFICATIONS = {"email": False, "in_app": True, "digest": "daily", "on_idea_ready": True, "on_review_decision": False}


class TestProfile:
    def test_defaults_then_preferences_round_trip(self, client: TestClient, analyst: Account) -> None:
        default = client.get(PROFILE, headers=analyst.headers)
        assert default.status_code == 200
        body = default.json()
        assert (body["user_id"], body["role"], body["organisation_id"]) == (analyst.user.id, "analyst", "org_1")
        assert body["preferences"]["risk_tolerance"] == "moderate"

        put = client.put(
            PROFILE, json={"preferences": PREFERENCES, "notifications": NOTIFICATIONS}, headers=analyst.headers
        )
        assert put.status_code == 200, put.text
        again = client.get(PROFILE, headers=analyst.headers).json()
        assert again["preferences"] == PREFERENCES
        assert again["notifications"] == NOTIFICATIONS

        bad = {"preferences": {**PREFERENCES, "risk_tolerance": "reckless"}}
        assert_error(client.put(PROFILE, json=bad, headers=analyst.headers), 422)
        extra = {"preferences": PREFERENCES, "user_id": "usr_someone"}
        assert_error(client.put(PROFILE, json=extra, headers=analyst.headers), 422)

    def test_export_holds_the_user_profile_and_audit_events_but_no_password_hashes(
        self, client: TestClient, analyst: Account
    ) -> None:
        assert client.put(PROFILE, json={"preferences": PREFERENCES}, headers=analyst.headers).status_code == 200
        response = client.get(EXPORT, headers=analyst.headers)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-disposition"].startswith("attachment")
        data = response.json()
        assert data["user"]["id"] == analyst.user.id
        assert data["user"]["email"] == analyst.user.email
        assert not {"password_hash", "password_history"} & set(data["user"])
        assert "$argon2" not in response.text
        assert analyst.password not in response.text
        assert data["profile"]["preferences"]["risk_tolerance"] == "aggressive"
        assert {"auth.login", "profile.updated"} <= {event["action"] for event in data["audit_events"]}

    def test_erasure_needs_the_password_and_confirmation(self, client: TestClient, admin: Account) -> None:
        member = activate(client, admin)
        assert client.get(EXPORT, headers=member.headers).status_code == 200
        assert_error(client.post(ERASE, json={"password": member.password}, headers=member.headers), 422)
        lower = {"password": member.password, "confirm": "erase"}
        assert_error(client.post(ERASE, json=lower, headers=member.headers), 422)
        wrong = {"password": strong("wrong"), "confirm": "ERASE"}
        assert_error(client.post(ERASE, json=wrong, headers=member.headers), 401)
        assert client.get(PROFILE, headers=member.headers).status_code == 200  # nothing happened yet

        erased = client.post(ERASE, json={"password": member.password, "confirm": "ERASE"}, headers=member.headers)
        assert erased.status_code == 204
        assert_error(client.get(PROFILE, headers=member.headers), 401)
        assert_error(refresh(client, member.tokens["refresh_token"]), 401)
        gone = login(client, member.email, member.password)
        assert comparable(gone) == comparable(login(client, new_email(), member.password))
        assert_error(admin_view(client, admin, member.id), 404)

        events = audit_events(client, admin, actor_id=member.id)
        actions = [(e["action"], e["outcome"]) for e in events]
        assert ("profile.exported", "success") in actions
        assert ("user.erased", "success") in actions
        assert ("auth.reauthenticate", "failure") in actions
        assert member.email not in json.dumps([e for e in events if e["action"] == "user.erased"])


# -- the audit trail and public keys -----------------------------------------------------------------------
class TestAuditAndKeys:
    def test_security_events_are_recorded_and_the_chain_verifies(
        self, client: TestClient, admin: Account, clock: FakeClock
    ) -> None:
        member = activate(client, admin)
        assert_error(login(client, member.email, strong("wrong")), 401)
        secret, _ = enable_mfa(client, clock, member)
        clock.advance(timedelta(seconds=30))
        assert client.post(MFA_DISABLE, json={"code": totp(secret, clock)}, headers=member.headers).status_code == 204
        assert client.post(LOGOUT, headers=member.headers).status_code == 204
        patch = client.patch(f"{ADMIN_USERS}/{member.id}", json={"role": "compliance-officer"}, headers=admin.headers)
        assert patch.status_code == 200

        events = audit_events(client, admin)
        recorded = {(e["action"], e["outcome"]) for e in events}
        expected = {
            ("user.created", "success"),
            ("auth.password_set", "success"),
            ("auth.login", "success"),
            ("auth.login", "failure"),
            ("mfa.enabled", "success"),
            ("mfa.disabled", "success"),
            ("token.revoked", "success"),
            ("user.role_changed", "success"),
        }
        assert expected <= recorded
        failure = next(e for e in events if (e["action"], e["outcome"]) == ("auth.login", "failure"))
        assert (failure["actor_id"], failure["details"]) == (member.id, {"reason": "bad_password"})
        assert member.password not in json.dumps(events)
        assert all(e["organisation_id"] == "org_1" for e in events)

        verified = client.get(AUDIT_VERIFY, headers={**admin.headers, **FRESH})
        assert verified.status_code == 200
        assert verified.json()["ok"] is True
        assert verified.json()["checked"] >= len(events)
        assert verified.json()["first_broken_seq"] is None

    def test_the_jwks_is_public_and_lists_the_current_key(self, client: TestClient, admin: Account) -> None:
        response = client.get(JWKS)
        assert response.status_code == 200
        keys = response.json()["keys"]
        kid = jwt.get_unverified_header(admin.tokens.access_token)["kid"]
        assert kid in {key["kid"] for key in keys}
        for key in keys:
            assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
            assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
