"""The Cognito identity provider against a moto server: pool creation, admin sign-up, first sign-in with a
temporary password, MFA, refresh, sign-out, user administration and token verification.

What moto does not emulate, and how it is covered here:
- TOTP: VerifySoftwareToken and the SOFTWARE_TOKEN_MFA challenge accept any code, and AssociateSoftwareToken
  returns one short secret for everyone. The provider checks every code itself against the secret Cognito
  returned; the tests give it a 160-bit secret (``LongTotpSecret``) and show wrong codes refused, and show that
  moto's own short secret works the same way.
- RevokeToken is not implemented (HTTP 500): it is best effort, and the session record ends the session.
- Temporary-password expiry, Cognito's own lockout and password history are not enforced by moto: expiry and
  lockout are the provider's own too (tested), password history is Cognito's only (not tested).
- Token validity settings are ignored (tokens last 3600 s): expiry is tested with the injected clock.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from investai.adapters.aws.cognito_common import CognitoPolicy
from investai.adapters.aws.cognito_identity import ChallengeSessions, CognitoIdentity, cognito_identity
from investai.adapters.aws.cognito_pool import ensure_user_pool
from investai.adapters.aws.cognito_tokens import JwksCache, jwks_url, pool_issuer
from investai.adapters.aws.resources import UserPoolSpec
from investai.adapters.local.clock import FakeClock
from investai.adapters.local.keyring import LocalKeyring
from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_audit import SqliteAuditLog
from investai.adapters.local.sqlite_identity import SqliteMfaSecretRepository, SqliteTokenStore
from investai.adapters.local.sqlite_records import SqliteUserRepository
from investai.bootstrap import build_container
from investai.config import Settings
from investai.domain.access import Principal
from investai.domain.audit import AuditOutcome
from investai.domain.auth import CallContext, Challenge, TokenSet
from investai.domain.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidToken,
    NotFound,
    StoreUnavailable,
    WeakPassword,
)
from investai.domain.users import Role, UserStatus
from investai.ports.audit import AuditLog
from investai.ports.identity import (
    IdentityVerifier,
    MfaEnrolment,
    MfaSecretRepository,
    SignIn,
    TokenStore,
    UserDirectory,
)
from investai.ports.repositories import UserRepository
from investai.security.envelope import EnvelopeCipher
from investai.security.totp import code_at
from investai.server import create_app
from tests.aws import MotoServer, fresh_prefix

PASSWORD = "Correct-Horse-9-Battery!"
NEW_PASSWORD = "Another-Horse-7-Stable?"
CTX = CallContext(ip="203.0.113.7", request_id="req-1")
KEY = b"k" * 32


class LongTotpSecret:
    """moto's cognito-idp client, except that AssociateSoftwareToken returns a fresh 160-bit secret, as Cognito
    does (moto's own is one fixed short secret). moto accepts any TOTP code, so the secret is only ours to check."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.secret = pyotp.random_base32()

    def associate_software_token(self, **kwargs: Any) -> dict[str, Any]:
        return {**self._client.associate_software_token(**kwargs), "SecretCode": self.secret}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@dataclass
class Setup:
    identity: CognitoIdentity
    client: Any
    pool_id: str
    client_id: str
    users: UserRepository
    tokens: TokenStore
    mfa_secrets: MfaSecretRepository
    audit: AuditLog
    clock: FakeClock
    admin: Principal

    def actions(self, *, outcome: AuditOutcome | None = None) -> list[str]:
        events = reversed(self.audit.list_events(limit=500))
        return [e.action for e in events if outcome is None or e.outcome is outcome]


def _build(moto: MotoServer, tmp_path: Path, client: Any | None = None) -> Iterator[Setup]:
    raw = moto.client("cognito-idp")
    prefix = fresh_prefix()
    pool_id, client_id = ensure_user_pool(raw, UserPoolSpec(), f"{prefix}-users", f"{prefix}-web")
    clock = FakeClock(datetime.now(UTC))  # moto's tokens carry the real time
    db = SqliteDatabase(path=tmp_path / "investai.db", migrations=MIGRATIONS)
    db.migrate()
    keys = LocalKeyring(
        path=tmp_path / "keys" / "keyring.json", master_secret="cognito-test-secret-0123456789", clock=clock
    )
    users, tokens = SqliteUserRepository(db=db), SqliteTokenStore(db=db)
    audit = SqliteAuditLog(db=db, clock=clock)
    mfa_secrets = SqliteMfaSecretRepository(db=db, cipher=EnvelopeCipher(key_manager=keys))
    cognito = client if client is not None else LongTotpSecret(raw)
    identity = cognito_identity(
        cognito,
        pool_id=pool_id,
        client_id=client_id,
        users=users,
        tokens=tokens,
        mfa_secrets=mfa_secrets,
        audit=audit,
        clock=clock,
        challenge_key=KEY,
    )
    first = identity.directory.ensure_first_administrator(
        email="admin@example.com", password=PASSWORD, organisation_id="org_1"
    )
    assert first is not None
    admin = Principal.acting_as(first.user, actor="test", at=clock.now())
    try:
        yield Setup(identity, cognito, pool_id, client_id, users, tokens, mfa_secrets, audit, clock, admin)
    finally:
        db.close()


@pytest.fixture
def env(moto: MotoServer, tmp_path: Path) -> Iterator[Setup]:
    yield from _build(moto, tmp_path)


def _tokens(result: TokenSet | Challenge) -> TokenSet:
    assert isinstance(result, TokenSet), result
    return result


def _challenge(result: TokenSet | Challenge, name: str) -> str:
    assert isinstance(result, Challenge), result
    assert result.challenge == name
    return str(result.session)


def _member(env: Setup, *, role: Role = Role.ANALYST, email: str = "ana@example.com") -> TokenSet:
    """A user with a permanent password, signed in."""
    env.identity.directory.create_user(
        actor=env.admin, email=email, role=role, organisation_id="ignored", password=PASSWORD
    )
    return _tokens(env.identity.sign_in.login(email, PASSWORD, CTX))


def _code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


# -- pool ------------------------------------------------------------------------------------------------------
def test_the_pool_and_client_are_created_once_as_specified(moto: MotoServer) -> None:
    client, prefix = moto.client("cognito-idp"), fresh_prefix()
    ids = ensure_user_pool(client, UserPoolSpec(), f"{prefix}-users", f"{prefix}-web")
    assert ensure_user_pool(client, UserPoolSpec(), f"{prefix}-users", f"{prefix}-web") == ids
    pool = client.describe_user_pool(UserPoolId=ids[0])["UserPool"]
    assert pool["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 12,
        "RequireUppercase": True,
        "RequireLowercase": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "PasswordHistorySize": 5,
        "TemporaryPasswordValidityDays": 7,
    }
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    mfa = client.get_user_pool_mfa_config(UserPoolId=ids[0])
    assert mfa["MfaConfiguration"] == "OPTIONAL"
    assert mfa["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
    app = client.describe_user_pool_client(UserPoolId=ids[0], ClientId=ids[1])["UserPoolClient"]
    assert "ClientSecret" not in app
    assert sorted(app["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"]
    assert (app["AccessTokenValidity"], app["RefreshTokenValidity"]) == (60, 30)
    assert app["TokenValidityUnits"] == {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"}
    assert app["EnableTokenRevocation"] is True
    assert app["PreventUserExistenceErrors"] == "ENABLED"


def test_the_provider_fits_the_seam(env: Setup) -> None:
    faces: tuple[SignIn, MfaEnrolment, UserDirectory, IdentityVerifier] = (
        env.identity.sign_in,
        env.identity.mfa,
        env.identity.directory,
        env.identity.verifier,
    )
    assert all(faces)


# -- first sign-in ---------------------------------------------------------------------------------------------
def test_a_new_user_sets_a_password_at_first_sign_in_and_gets_a_principal(env: Setup) -> None:
    created = env.identity.directory.create_user(
        actor=env.admin, email=" Pat@Example.com", role=Role.PORTFOLIO_MANAGER, organisation_id="org_2"
    )
    assert created.temporary_password is not None
    assert created.user.organisation_id == "org_1"  # the administrator's organisation, whatever was asked
    assert created.user.status is UserStatus.FORCE_CHANGE_PASSWORD
    cognito_user = env.client.admin_get_user(UserPoolId=env.pool_id, Username=created.user.id)
    assert cognito_user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert {"Name": "email", "Value": "pat@example.com"} in cognito_user["UserAttributes"]

    session = _challenge(
        env.identity.sign_in.login("pat@example.com", created.temporary_password, CTX), "NEW_PASSWORD_REQUIRED"
    )
    with pytest.raises(WeakPassword):
        env.identity.sign_in.respond_new_password(session, "weakpassword", CTX)
    tokens = _tokens(env.identity.sign_in.respond_new_password(session, NEW_PASSWORD, CTX))
    principal = env.identity.verifier.verify(tokens.access_token)
    assert (principal.user_id, principal.role, principal.organisation_id) == (
        created.user.id,
        Role.PORTFOLIO_MANAGER,
        "org_1",
    )
    assert principal.mfa is False
    assert env.users.get(created.user.id).status is UserStatus.ACTIVE
    with pytest.raises(InvalidToken):  # a challenge session is used once
        env.identity.sign_in.respond_new_password(session, NEW_PASSWORD + "x", CTX)
    assert _tokens(env.identity.sign_in.login("pat@example.com", NEW_PASSWORD, CTX))
    assert env.actions()[-4:] == ["user.created", "auth.password_set", "auth.login", "auth.login"]


def test_a_challenge_session_is_bound_to_its_user_and_challenge(env: Setup) -> None:
    created = env.identity.directory.create_user(
        actor=env.admin, email="pat@example.com", role=Role.ANALYST, organisation_id="x"
    )
    assert created.temporary_password is not None
    session = _challenge(
        env.identity.sign_in.login("pat@example.com", created.temporary_password, CTX), "NEW_PASSWORD_REQUIRED"
    )
    prefix, body, mac = session.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**data, "u": env.admin.user_id}).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):  # another user's id under the same MAC
        env.identity.sign_in.respond_new_password(f"{prefix}.{forged}.{mac}", NEW_PASSWORD, CTX)
    with pytest.raises(InvalidToken):  # a NEW_PASSWORD_REQUIRED session answering MFA
        env.identity.sign_in.respond_mfa(session, "123456", CTX)
    env.clock.advance(timedelta(seconds=CognitoPolicy().challenge_ttl_s + 1))
    with pytest.raises(InvalidToken):
        env.identity.sign_in.respond_new_password(session, NEW_PASSWORD, CTX)
    with pytest.raises(ValueError, match="32 bytes"):
        ChallengeSessions(key=b"short", clock=env.clock, ttl_s=60)


def test_an_expired_temporary_password_is_refused(env: Setup) -> None:
    created = env.identity.directory.create_user(
        actor=env.admin, email="pat@example.com", role=Role.ANALYST, organisation_id="x"
    )
    assert created.temporary_password is not None
    env.clock.advance(timedelta(days=7, seconds=1))  # moto does not expire temporary passwords; we do
    with pytest.raises(AuthenticationFailed):
        env.identity.sign_in.login("pat@example.com", created.temporary_password, CTX)
    assert env.audit.list_events(limit=1)[0].details == {"reason": "temporary_password_expired"}


def test_wrong_passwords_and_unknown_addresses_fail_alike_and_lock_the_account(env: Setup) -> None:
    _member(env)
    with pytest.raises(AuthenticationFailed) as unknown:
        env.identity.sign_in.login("nobody@example.com", PASSWORD, CTX)
    with pytest.raises(AuthenticationFailed) as wrong:
        env.identity.sign_in.login("ana@example.com", "Wrong-Password-1!", CTX)
    assert str(unknown.value) == str(wrong.value) == "incorrect email or password"
    assert "email_sha256" in (env.audit.list_events(action="auth.login", limit=2)[1].details or {})
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            env.identity.sign_in.login("ana@example.com", "Wrong-Password-1!", CTX)
    with pytest.raises(AuthenticationFailed):  # locked: even the right password is refused for now
        env.identity.sign_in.login("ana@example.com", PASSWORD, CTX)
    assert env.audit.list_events(limit=1)[0].details == {"reason": "locked"}
    env.clock.advance(timedelta(seconds=31))
    assert _tokens(env.identity.sign_in.login("ana@example.com", PASSWORD, CTX))
    user = env.users.get_by_email("ana@example.com")
    assert user is not None
    assert user.failed_attempts == 0


# -- MFA -------------------------------------------------------------------------------------------------------
def test_mfa_setup_refuses_a_wrong_code_and_sign_in_then_asks_for_one(env: Setup) -> None:
    tokens = _member(env)
    principal = env.identity.verifier.verify(tokens.access_token)
    setup = env.identity.mfa.begin_setup(principal)
    assert setup.secret == env.client.secret
    assert setup.otpauth_uri.startswith("otpauth://totp/")
    assert "ana%40example.com" in setup.otpauth_uri
    assert env.identity.mfa.pending_setup(principal) == setup
    now = env.clock.now()
    wrong = f"{(int(_code(setup.secret, now)) + 1) % 1_000_000:06d}"
    with pytest.raises(AuthenticationFailed):  # moto would accept it; the provider does not
        env.identity.mfa.confirm_setup(principal, wrong, CTX)
    assert env.actions(outcome=AuditOutcome.FAILURE)[-1] == "mfa.setup"
    recovery = env.identity.mfa.confirm_setup(principal, _code(setup.secret, now), CTX)
    assert len(recovery) == 10
    assert env.users.get(principal.user_id).mfa_enabled
    settings = env.client.admin_get_user(UserPoolId=env.pool_id, Username=principal.user_id)
    assert settings["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"
    with pytest.raises(Conflict):
        env.identity.mfa.begin_setup(principal)

    env.clock.advance(timedelta(seconds=30))  # the setup's code is spent; the next step's is not
    session = _challenge(env.identity.sign_in.login("ana@example.com", PASSWORD, CTX), "MFA")
    with pytest.raises(AuthenticationFailed):
        env.identity.sign_in.respond_mfa(
            session, "000000" if _code(setup.secret, env.clock.now()) != "000000" else "111111", CTX
        )
    signed_in = env.identity.sign_in.respond_mfa(session, _code(setup.secret, env.clock.now()), CTX)
    assert env.identity.verifier.verify(signed_in.access_token).mfa is True
    used_at = env.clock.now()
    env.clock.advance(timedelta(seconds=30))
    with pytest.raises(InvalidToken):  # the session was used (the code is a fresh one)
        env.identity.sign_in.respond_mfa(session, _code(setup.secret, env.clock.now()), CTX)

    session = _challenge(env.identity.sign_in.login("ana@example.com", PASSWORD, CTX), "MFA")
    with pytest.raises(AuthenticationFailed):  # a spent step's code cannot be replayed
        env.identity.sign_in.respond_mfa(session, _code(setup.secret, used_at), CTX)
    assert _tokens(env.identity.sign_in.respond_mfa(session, recovery[0], CTX))  # Cognito has no recovery codes
    session = _challenge(env.identity.sign_in.login("ana@example.com", PASSWORD, CTX), "MFA")
    with pytest.raises(AuthenticationFailed):
        env.identity.sign_in.respond_mfa(session, recovery[0], CTX)  # each is good once

    current = env.identity.verifier.verify(signed_in.access_token)
    with pytest.raises(AuthenticationFailed):
        env.identity.mfa.disable(
            current, "999999" if _code(setup.secret, env.clock.now()) != "999999" else "888888", CTX
        )
    env.identity.mfa.disable(current, recovery[1], CTX)
    assert not env.users.get(principal.user_id).mfa_enabled
    assert _tokens(env.identity.sign_in.login("ana@example.com", PASSWORD, CTX))
    assert env.actions()[-1] == "auth.login"
    assert "mfa.disabled" in env.actions()


def test_the_providers_own_short_secret_is_checked_like_any_other(moto: MotoServer, tmp_path: Path) -> None:
    for env in _build(moto, tmp_path, client=moto.client("cognito-idp")):
        principal = env.identity.verifier.verify(_member(env).access_token)
        setup = env.identity.mfa.begin_setup(principal)
        now = env.clock.now().timestamp()
        wrong = f"{(int(code_at(setup.secret, now)) + 1) % 1_000_000:06d}"
        with pytest.raises(AuthenticationFailed):
            env.identity.mfa.confirm_setup(principal, wrong, CTX)
        assert env.identity.mfa.confirm_setup(principal, code_at(setup.secret, now), CTX)
        assert env.users.get(principal.user_id).mfa_enabled


def test_mfa_needs_the_request_s_own_verified_token(env: Setup) -> None:
    _member(env)
    user = env.users.get_by_email("ana@example.com")
    assert user is not None
    with pytest.raises(AuthenticationFailed, match="sign in again"):  # e.g. a command acting as the user
        env.identity.mfa.begin_setup(Principal.acting_as(user, actor="cli", at=env.clock.now()))


# -- sessions --------------------------------------------------------------------------------------------------
def test_refresh_keeps_the_refresh_token_and_logout_ends_the_session(env: Setup) -> None:
    tokens = _member(env)
    principal = env.identity.verifier.verify(tokens.access_token)
    refreshed = env.identity.sign_in.refresh(tokens.refresh_token, CTX)
    assert refreshed.refresh_token == tokens.refresh_token  # Cognito rotates only with rotation on
    assert refreshed.access_token != tokens.access_token
    again = env.identity.verifier.verify(refreshed.access_token)
    assert again.session_id == principal.session_id
    env.identity.sign_in.logout(
        user_id=principal.user_id, organisation_id=principal.organisation_id, session_id=principal.session_id, ctx=CTX
    )
    for token in (tokens.access_token, refreshed.access_token):
        with pytest.raises(InvalidToken, match="revoked"):
            env.identity.verifier.verify(token)
    with pytest.raises(InvalidToken):
        env.identity.sign_in.refresh(tokens.refresh_token, CTX)
    with pytest.raises(InvalidToken):
        env.identity.sign_in.refresh("not-a-refresh-token", CTX)
    assert env.actions()[-1] == "token.revoked"

    other = _tokens(env.identity.sign_in.login("ana@example.com", PASSWORD, CTX))
    session = env.identity.verifier.verify(other.access_token).session_id
    user_id, refresh_token = principal.user_id, other.refresh_token  # RevokeToken: moto answers 500, best effort
    env.identity.sign_in.logout(
        user_id=user_id, organisation_id="org_1", session_id=session, ctx=CTX, refresh_token=refresh_token
    )
    with pytest.raises(InvalidToken):
        env.identity.verifier.verify(other.access_token)


def test_sign_out_everywhere_ends_every_session_here_and_at_cognito(env: Setup) -> None:
    first = _member(env)
    second = _tokens(env.identity.sign_in.login("ana@example.com", PASSWORD, CTX))
    principal = env.identity.verifier.verify(first.access_token)
    assert (
        env.identity.sign_in.sign_out_everywhere(
            user_id=principal.user_id, organisation_id=principal.organisation_id, ctx=CTX
        )
        == 2
    )
    for tokens in (first, second):
        with pytest.raises(InvalidToken):
            env.identity.verifier.verify(tokens.access_token)
        with pytest.raises(InvalidToken):
            env.identity.sign_in.refresh(tokens.refresh_token, CTX)
    raw = env.client.initiate_auth  # Cognito itself refuses the refresh token now
    with pytest.raises(env.client.exceptions.NotAuthorizedException):
        raw(
            ClientId=env.client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": first.refresh_token}
        )
    assert env.audit.list_events(action="token.revoked_all", limit=1)[0].details == {"sessions": 2}


def test_change_and_confirm_password(env: Setup) -> None:
    tokens = _member(env)
    principal = env.identity.verifier.verify(tokens.access_token)
    sign_in = env.identity.sign_in
    sign_in.confirm_password(principal.user_id, PASSWORD, CTX)
    with pytest.raises(AuthenticationFailed):
        sign_in.confirm_password(principal.user_id, "Wrong-Password-1!", CTX)
    with pytest.raises(AuthenticationFailed):
        sign_in.change_password(user_id=principal.user_id, current="Wrong-Password-1!", new=NEW_PASSWORD, ctx=CTX)
    with pytest.raises(WeakPassword):
        sign_in.change_password(user_id=principal.user_id, current=PASSWORD, new="short", ctx=CTX)
    with pytest.raises(WeakPassword):
        sign_in.change_password(user_id=principal.user_id, current=PASSWORD, new=PASSWORD, ctx=CTX)
    sign_in.change_password(user_id=principal.user_id, current=PASSWORD, new=NEW_PASSWORD, ctx=CTX)
    with pytest.raises(InvalidToken):  # every session ends with a password change
        env.identity.verifier.verify(tokens.access_token)
    with pytest.raises(AuthenticationFailed):
        sign_in.login("ana@example.com", PASSWORD, CTX)
    assert _tokens(sign_in.login("ana@example.com", NEW_PASSWORD, CTX))
    assert env.users.get(principal.user_id).failed_attempts == 0
    assert "auth.password_changed" in env.actions()
    assert env.actions(outcome=AuditOutcome.FAILURE) == ["auth.reauthenticate", "auth.password_change", "auth.login"]


# -- administration --------------------------------------------------------------------------------------------
def test_a_disabled_user_is_refused_everywhere_until_enabled(env: Setup) -> None:
    tokens = _member(env)
    user_id = env.identity.verifier.verify(tokens.access_token).user_id
    updated = env.identity.directory.update_user(env.admin, user_id, enabled=False, ctx=CTX)
    assert updated.status is UserStatus.DISABLED
    assert env.client.admin_get_user(UserPoolId=env.pool_id, Username=user_id)["Enabled"] is False
    with pytest.raises(InvalidToken):
        env.identity.verifier.verify(tokens.access_token)
    with pytest.raises(InvalidToken):
        env.identity.sign_in.refresh(tokens.refresh_token, CTX)
    with pytest.raises(AuthenticationFailed, match="incorrect email or password"):
        env.identity.sign_in.login("ana@example.com", PASSWORD, CTX)
    assert env.audit.list_events(limit=1)[0].details == {"reason": "disabled"}
    env.identity.directory.update_user(env.admin, user_id, enabled=True, ctx=CTX)
    assert env.users.get(user_id).status is UserStatus.ACTIVE
    assert _tokens(env.identity.sign_in.login("ana@example.com", PASSWORD, CTX))
    with pytest.raises(Conflict):
        env.identity.directory.update_user(env.admin, env.admin.user_id, enabled=False)


def test_a_role_change_applies_at_once_and_ends_sessions(env: Setup) -> None:
    tokens = _member(env)
    user_id = env.identity.verifier.verify(tokens.access_token).user_id
    env.identity.directory.update_user(env.admin, user_id, role=Role.COMPLIANCE_OFFICER, display_name="Ana", ctx=CTX)
    with pytest.raises(InvalidToken):
        env.identity.verifier.verify(tokens.access_token)
    fresh = _tokens(env.identity.sign_in.login("ana@example.com", PASSWORD, CTX))
    assert env.identity.verifier.verify(fresh.access_token).role is Role.COMPLIANCE_OFFICER
    assert env.actions()[-2:] == ["user.role_changed", "auth.login"]


def test_another_organisation_s_users_are_not_found(env: Setup) -> None:
    outsider = env.identity.directory.create_user(
        actor=None, email="out@example.com", role=Role.ANALYST, organisation_id="org_9", password=PASSWORD
    ).user
    directory = env.identity.directory
    with pytest.raises(NotFound):
        directory.read_user(env.admin, outsider.id, CTX)
    with pytest.raises(NotFound):
        directory.update_user(env.admin, outsider.id, enabled=False)
    with pytest.raises(NotFound):
        directory.reset_password(env.admin, outsider.id)
    with pytest.raises(NotFound):
        directory.read_user(env.admin, "usr_unknown", CTX)
    assert [u.email for u in directory.list_users(env.admin, CTX)] == ["admin@example.com"]
    denied = env.audit.list_events(action="user.read", limit=1)[0]
    assert (denied.outcome, denied.resource_id) == (AuditOutcome.DENIED, "usr_unknown")
    assert env.client.admin_get_user(UserPoolId=env.pool_id, Username=outsider.id)["Enabled"] is True


def test_reset_password_forces_a_new_one_and_ends_sessions(env: Setup) -> None:
    tokens = _member(env)
    user_id = env.identity.verifier.verify(tokens.access_token).user_id
    reset = env.identity.directory.reset_password(env.admin, user_id, CTX)
    assert reset.temporary_password is not None
    assert reset.user.status is UserStatus.FORCE_CHANGE_PASSWORD
    with pytest.raises(InvalidToken):
        env.identity.verifier.verify(tokens.access_token)
    with pytest.raises(AuthenticationFailed):
        env.identity.sign_in.login("ana@example.com", PASSWORD, CTX)
    session = _challenge(
        env.identity.sign_in.login("ana@example.com", reset.temporary_password, CTX), "NEW_PASSWORD_REQUIRED"
    )
    assert _tokens(env.identity.sign_in.respond_new_password(session, NEW_PASSWORD, CTX))


def test_creating_users_refuses_taken_addresses_and_weak_passwords_without_leftovers(env: Setup) -> None:
    directory = env.identity.directory
    with pytest.raises(Conflict):
        directory.create_user(actor=env.admin, email="ADMIN@example.com", role=Role.ANALYST, organisation_id="x")
    with pytest.raises(WeakPassword):
        directory.create_user(
            actor=env.admin, email="new@example.com", role=Role.ANALYST, organisation_id="x", password="weak"
        )
    assert env.users.get_by_email("new@example.com") is None
    pool_users = env.client.list_users(UserPoolId=env.pool_id)["Users"]
    assert [u["Username"] for u in pool_users] == [env.admin.user_id]
    assert directory.ensure_first_administrator(email="x@example.com", password=None, organisation_id="org_1") is None


# -- verification ----------------------------------------------------------------------------------------------
def _segments(token: str) -> list[str]:
    return token.split(".")


def test_tokens_of_another_client_use_pool_or_time_are_refused(env: Setup, moto: MotoServer) -> None:
    tokens = _member(env)
    verifier = env.identity.verifier
    principal = verifier.verify(tokens.access_token)
    with pytest.raises(InvalidToken):  # an id token is not an access token
        verifier.verify(tokens.id_token)
    header, payload, signature = _segments(tokens.access_token)
    flipped = ("A" if signature[10] != "A" else "B").join([signature[:10], signature[11:]])
    with pytest.raises(InvalidToken):
        verifier.verify(f"{header}.{payload}.{flipped}")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raised = base64.urlsafe_b64encode(json.dumps({**claims, "username": env.admin.user_id}).encode()).rstrip(b"=")
    with pytest.raises(InvalidToken):
        verifier.verify(f"{header}.{raised.decode()}.{signature}")

    other = env.client.create_user_pool_client(
        UserPoolId=env.pool_id, ClientName="other", GenerateSecret=False, ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    foreign = env.client.initiate_auth(
        ClientId=other,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": principal.user_id, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    with pytest.raises(InvalidToken, match="another client"):
        verifier.verify(foreign["AccessToken"])

    outside = env.client.initiate_auth(  # our client, but not signed in through the product: no live session
        ClientId=env.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": principal.user_id, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    with pytest.raises(InvalidToken, match="revoked"):
        verifier.verify(outside["AccessToken"])

    raw, prefix = moto.client("cognito-idp"), fresh_prefix()
    pool, client = ensure_user_pool(raw, UserPoolSpec(), f"{prefix}-users", f"{prefix}-web")
    raw.admin_create_user(
        UserPoolId=pool, Username=principal.user_id, TemporaryPassword=PASSWORD, MessageAction="SUPPRESS"
    )
    raw.admin_set_user_password(UserPoolId=pool, Username=principal.user_id, Password=PASSWORD, Permanent=True)
    elsewhere = raw.initiate_auth(
        ClientId=client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": principal.user_id, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    with pytest.raises(InvalidToken):  # moto signs every pool's tokens with one key: the issuer tells them apart
        verifier.verify(elsewhere["AccessToken"])

    env.clock.advance(timedelta(hours=1, seconds=31))
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(tokens.access_token)


def test_the_key_set_url_follows_the_client_s_endpoint(moto: MotoServer) -> None:
    import boto3

    local = moto.client("cognito-idp")
    assert jwks_url(local, "us-east-1_abc") == f"{moto.endpoint}/us-east-1_abc/.well-known/jwks.json"
    aws = boto3.client(
        "cognito-idp", region_name="eu-west-2", aws_access_key_id="x", aws_secret_access_key="x", endpoint_url=None
    )
    if aws.meta.endpoint_url == "https://cognito-idp.eu-west-2.amazonaws.com":  # no AWS_ENDPOINT_URL set here
        assert jwks_url(aws, "eu-west-2_abc") == f"{pool_issuer('eu-west-2', 'eu-west-2_abc')}/.well-known/jwks.json"
    assert pool_issuer("eu-west-2", "p") == "https://cognito-idp.eu-west-2.amazonaws.com/p"


def test_the_key_set_is_cached_and_refetched_for_unknown_keys_at_most_once_a_minute() -> None:
    fetched: list[str] = []
    now = [0.0]
    documents = [
        {"keys": [{"kid": "a", "kty": "RSA"}]},
        {"keys": [{"kid": "a", "kty": "RSA"}, {"kid": "b", "kty": "RSA"}]},
    ]

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return documents[min(len(fetched) - 1, 1)]

    cache = JwksCache("https://example.test/jwks.json", fetch=fetch, monotonic=lambda: now[0])
    first = cache()
    assert cache() is first
    assert cache.refresh_for("a")  # known: no fetch
    assert len(fetched) == 1
    now[0] = 10.0
    assert not cache.refresh_for("zzz")  # too soon after the first fetch
    assert len(fetched) == 1
    now[0] = 61.0
    assert cache.refresh_for("b")
    assert len(fetched) == 2
    assert not cache.refresh_for("zzz")
    assert len(fetched) == 2
    assert cache() is not first


def test_an_unreachable_key_set_is_unavailable_not_a_bad_token(env: Setup) -> None:
    tokens = _member(env)

    def broken(url: str) -> dict[str, Any]:
        raise StoreUnavailable("down")

    identity = cognito_identity(
        env.client,
        pool_id=env.pool_id,
        client_id=env.client_id,
        users=env.users,
        tokens=env.tokens,
        mfa_secrets=env.mfa_secrets,
        audit=env.audit,
        clock=env.clock,
        challenge_key=KEY,
        fetch=broken,
    )
    with pytest.raises(StoreUnavailable):
        identity.verifier.verify(tokens.access_token)


# -- through the API -------------------------------------------------------------------------------------------
@pytest.fixture
def api(moto: MotoServer, tmp_path: Path) -> Iterator[tuple[TestClient, Setup]]:
    """The embedded container with its identity provider replaced by Cognito's, served by the real app."""
    clock = FakeClock(datetime.now(UTC))
    container = build_container(Settings(data_dir=tmp_path / "var", _env_file=None), clock=clock)
    raw = moto.client("cognito-idp")
    prefix = fresh_prefix()
    pool_id, client_id = ensure_user_pool(raw, UserPoolSpec(), f"{prefix}-users", f"{prefix}-web")
    cognito = LongTotpSecret(raw)
    identity = cognito_identity(
        cognito,
        pool_id=pool_id,
        client_id=client_id,
        users=container.users,
        tokens=container.identity.tokens,
        mfa_secrets=container.identity.mfa_secrets,
        audit=container.identity.audit,
        clock=clock,
        challenge_key=KEY,
    )
    container.identity.auth = identity.sign_in
    container.identity.mfa = identity.mfa
    container.identity.users = identity.directory
    container.identity.verifier = identity.verifier
    first = identity.directory.ensure_first_administrator(
        email="admin@example.com", password=PASSWORD, organisation_id="org_1"
    )
    assert first is not None
    admin = Principal.acting_as(first.user, actor="test", at=clock.now())
    setup = Setup(
        identity,
        cognito,
        pool_id,
        client_id,
        container.users,
        container.identity.tokens,
        container.identity.mfa_secrets,
        container.identity.audit,
        clock,
        admin,
    )
    try:
        with TestClient(create_app(container), base_url="http://127.0.0.1") as client:
            yield client, setup
    finally:
        container.close()


def test_the_auth_endpoints_work_unchanged_with_cognito(api: tuple[TestClient, Setup]) -> None:
    client, env = api
    login = client.post("/api/v1/auth/login", json={"email": "admin@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.text
    admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
    created = client.post("/api/v1/admin/users", json={"email": "m@example.com", "role": "analyst"}, headers=admin)
    assert created.status_code == 201, created.text
    temporary = created.json()["temporary_password"]

    wrong = client.post("/api/v1/auth/login", json={"email": "m@example.com", "password": "Wrong-Password-1!"})
    unknown = client.post("/api/v1/auth/login", json={"email": "x@example.com", "password": "Wrong-Password-1!"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]

    challenge = client.post("/api/v1/auth/login", json={"email": "m@example.com", "password": temporary}).json()
    assert challenge["challenge"] == "NEW_PASSWORD_REQUIRED"
    weak = client.post(
        "/api/v1/auth/challenge/new-password", json={"session": challenge["session"], "new_password": "weak"}
    )
    assert weak.status_code == 422, weak.text
    tokens = client.post(
        "/api/v1/auth/challenge/new-password", json={"session": challenge["session"], "new_password": NEW_PASSWORD}
    ).json()
    member = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/v1/profile", headers=member).status_code == 200

    setup = client.post("/api/v1/auth/mfa/setup", headers=member)
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    refused = client.post("/api/v1/auth/mfa/verify", json={"code": "000000"}, headers=member)
    good = pyotp.TOTP(secret).at(env.clock.now())
    if good != "000000":
        assert refused.status_code == 401
    confirmed = client.post("/api/v1/auth/mfa/verify", json={"code": good}, headers=member)
    assert confirmed.status_code == 200, confirmed.text
    env.clock.advance(timedelta(seconds=30))
    mfa = client.post("/api/v1/auth/login", json={"email": "m@example.com", "password": NEW_PASSWORD}).json()
    assert mfa["challenge"] == "MFA"
    answered = client.post(
        "/api/v1/auth/challenge/mfa", json={"session": mfa["session"], "code": pyotp.TOTP(secret).at(env.clock.now())}
    )
    assert answered.status_code == 200, answered.text

    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert client.post("/api/v1/auth/logout", headers=member).status_code == 204
    assert client.get("/api/v1/profile", headers=member).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    second = {"Authorization": f"Bearer {answered.json()['access_token']}"}
    assert client.get("/api/v1/profile", headers=second).status_code == 200


class Throttled:
    """A cognito-idp client whose sign-in calls are throttled."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def initiate_auth(self, **kwargs: Any) -> dict[str, Any]:
        error = {"Error": {"Code": "TooManyRequestsException", "Message": "Too many requests"}}
        raise ClientError(error, "InitiateAuth")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_throttling_is_a_clear_retryable_error_not_a_failed_sign_in(moto: MotoServer, tmp_path: Path) -> None:
    for env in _build(moto, tmp_path, client=Throttled(moto.client("cognito-idp"))):
        with pytest.raises(StoreUnavailable, match="limiting requests") as raised:
            env.identity.sign_in.login("admin@example.com", PASSWORD, CTX)
        assert raised.value.retry_after_s == 5.0
        with pytest.raises(StoreUnavailable):
            env.identity.sign_in.refresh("whatever", CTX)
        assert env.users.get(env.admin.user_id).failed_attempts == 0
