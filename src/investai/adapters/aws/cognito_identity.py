"""The Cognito identity provider: the AWS shape's SignIn, MfaEnrolment, UserDirectory and IdentityVerifier,
behind the same ``/api/v1/auth/*`` endpoints, audit records and domain errors as the local provider.

Cognito holds credentials, sign-in sessions and MFA; the users table holds what the product needs (role,
organisation, status, display name, lockout bookkeeping). Users are named in the pool by the product's user id
(``usr_...``), with the e-mail address as an attribute: sign-in resolves the address through the users table.
The parts: :mod:`.cognito_sign_in`, :mod:`.cognito_mfa`, :mod:`.cognito_users`, :mod:`.cognito_tokens`; the pool
itself: :mod:`.cognito_pool`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from investai.adapters.aws.cognito_common import CognitoPolicy
from investai.adapters.aws.cognito_mfa import CognitoMfaEnrolment
from investai.adapters.aws.cognito_sign_in import ChallengeSessions, CognitoSignIn
from investai.adapters.aws.cognito_tokens import CognitoTokenVerifier, JwksCache, JwksFetcher, fetch_jwks, jwks_url
from investai.adapters.aws.cognito_users import CognitoUserDirectory
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.identity import MfaSecretRepository, TokenStore
from investai.ports.repositories import UserRepository

if TYPE_CHECKING:
    from investai.ports.identity import IdentityVerifier, MfaEnrolment, SignIn, UserDirectory

__all__ = ["ChallengeSessions", "CognitoIdentity", "CognitoPolicy", "cognito_identity"]


@dataclass(frozen=True)
class CognitoIdentity:
    """The four faces of the Cognito provider, for the composition root."""

    sign_in: CognitoSignIn
    mfa: CognitoMfaEnrolment
    directory: CognitoUserDirectory
    verifier: CognitoTokenVerifier


def cognito_identity(
    cognito: Any,
    *,
    pool_id: str,
    client_id: str,
    users: UserRepository,
    tokens: TokenStore,
    mfa_secrets: MfaSecretRepository,
    audit: AuditLog,
    clock: Clock,
    challenge_key: bytes,
    policy: CognitoPolicy | None = None,
    fetch: JwksFetcher = fetch_jwks,
) -> CognitoIdentity:
    """The provider over an injected ``cognito-idp`` client (whose endpoint also locates the JWKS)."""
    policy = policy or CognitoPolicy()
    verifier = CognitoTokenVerifier(
        jwks=JwksCache(jwks_url(cognito, pool_id), fetch=fetch),
        region=str(cognito.meta.region_name),
        pool_id=pool_id,
        client_id=client_id,
        users=users,
        tokens=tokens,
        clock=clock,
        leeway_s=policy.leeway_s,
    )
    sessions = ChallengeSessions(key=challenge_key, clock=clock, ttl_s=policy.challenge_ttl_s)
    common: dict[str, Any] = {"cognito": cognito, "pool_id": pool_id, "users": users, "audit": audit, "clock": clock}
    return CognitoIdentity(
        sign_in=CognitoSignIn(
            **common,
            client_id=client_id,
            tokens=tokens,
            mfa=mfa_secrets,
            sessions=sessions,
            verifier=verifier,
            policy=policy,
        ),
        mfa=CognitoMfaEnrolment(**common, mfa=mfa_secrets, registry=verifier.registry, policy=policy),
        directory=CognitoUserDirectory(**common, tokens=tokens, policy=policy),
        verifier=verifier,
    )


if TYPE_CHECKING:  # the provider fits the seam (mypy checks this function's return)

    def _fits_the_seam(identity: CognitoIdentity) -> tuple[SignIn, MfaEnrolment, UserDirectory, IdentityVerifier]:
        return identity.sign_in, identity.mfa, identity.directory, identity.verifier
