"""The local identity provider: argon2id passwords, TOTP, RS256 tokens from the local issuer, refresh-token
families. The embedded shape uses it; the AWS shape uses a Cognito user pool instead."""

from __future__ import annotations

from datetime import timedelta

from filelock import BaseFileLock

from investai.adapters.local.token_issuer import LocalTokenIssuer
from investai.bootstrap.adapters import IdentityProvider, Records
from investai.config import Settings
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.identity import MfaSecretRepository, TokenStore
from investai.ports.object_store import ObjectStore
from investai.security.identity import TokenVerifier
from investai.security.jwt import JwtVerifier
from investai.security.passwords import PasswordHasher
from investai.services.auth import AuthService
from investai.services.auth_common import AuthPolicy
from investai.services.mfa import MfaService
from investai.services.users import UserAdminService


def auth_policy(settings: Settings) -> AuthPolicy:
    return AuthPolicy(
        client_id=settings.client_id,
        access_ttl_s=settings.access_token_ttl_s,
        refresh_ttl=timedelta(days=settings.refresh_token_ttl_days),
        temporary_password_ttl=timedelta(days=settings.temporary_password_days),
        password_history=settings.password_history,
        lockout_threshold=settings.lockout_threshold,
        lockout_base_s=settings.lockout_base_s,
        lockout_max_s=settings.lockout_max_s,
        challenge_ttl_s=settings.challenge_ttl_s,
    )


def local_identity(
    settings: Settings,
    *,
    records: Records,
    audit: AuditLog,
    tokens: TokenStore,
    mfa_secrets: MfaSecretRepository,
    objects: ObjectStore,
    clock: Clock,
    signing_key_lock: BaseFileLock,
) -> IdentityProvider:
    """The local provider over the given stores; its signing keys live in ``objects``."""
    policy = auth_policy(settings)
    users = records.users
    issuer = LocalTokenIssuer(
        objects=objects,
        clock=clock,
        issuer=settings.issuer,
        max_token_ttl_s=settings.access_token_ttl_s,
        lock=signing_key_lock,
    )
    jwt_verifier = JwtVerifier(
        jwks=issuer.jwks,
        issuer=settings.issuer,
        client_ids=frozenset({settings.client_id}),
        now=clock.now,
        leeway_s=settings.token_leeway_s,
    )
    hasher = PasswordHasher()
    sign_in = AuthService(
        users=users,
        tokens=tokens,
        mfa=mfa_secrets,
        issuer=issuer,
        challenges=jwt_verifier,
        hasher=hasher,
        audit=audit,
        clock=clock,
        policy=policy,
    )
    return IdentityProvider(
        sign_in=sign_in,
        mfa=MfaService(users=users, mfa=mfa_secrets, audit=audit, clock=clock, issuer_name=policy.mfa_issuer_name),
        directory=UserAdminService(users=users, tokens=tokens, hasher=hasher, audit=audit, clock=clock, policy=policy),
        verifier=TokenVerifier(
            jwt_verifier=jwt_verifier,
            session_active=lambda session, at: tokens.is_family_active(family_id=session, at=at),
            now=clock.now,
        ),
        tokens=tokens,
        mfa_secrets=mfa_secrets,
        issuer=issuer,
    )
