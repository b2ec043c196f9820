"""Sign-in, challenges, refresh, sign-out, password change and MFA (modelled on Cognito's flows)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from investai.api.deps import CurrentPrincipal, SelfService
from investai.api.schemas.auth import (
    ChallengePublic,
    LoginCreate,
    MfaAnswerCreate,
    MfaCodeCreate,
    MfaSetupPublic,
    NewPasswordAnswerCreate,
    PasswordUpdate,
    RecoveryCodesPublic,
    RefreshCreate,
    RevokedPublic,
    TokensPublic,
)
from investai.http.deps import ContainerDep, Context
from investai.services.auth_common import Challenge, TokenSet

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: {"description": "Not accepted (the reason is not disclosed)"}}
MFA_ERRORS: dict[int | str, dict[str, Any]] = {**AUTH_ERRORS, 409: {"description": "MFA is not in a state for this"}}
NO_STORE = {"Cache-Control": "no-store"}


def _answer(result: TokenSet | Challenge, response: Response) -> TokensPublic | ChallengePublic:
    response.headers.update(NO_STORE)
    if isinstance(result, Challenge):
        return ChallengePublic(challenge=result.challenge, session=result.session)
    return TokensPublic(
        access_token=result.access_token,
        id_token=result.id_token,
        refresh_token=result.refresh_token,
        expires_in=result.expires_in,
    )


@router.post("/login", response_model=TokensPublic | ChallengePublic, responses=AUTH_ERRORS, summary="Sign in")
def login(body: LoginCreate, container: ContainerDep, ctx: Context, response: Response) -> Any:
    return _answer(container.identity.auth.login(body.email, body.password, ctx), response)


@router.post(
    "/challenge/new-password",
    response_model=TokensPublic | ChallengePublic,
    responses=AUTH_ERRORS,
    summary="Answer NEW_PASSWORD_REQUIRED with a new password",
)
def new_password(body: NewPasswordAnswerCreate, container: ContainerDep, ctx: Context, response: Response) -> Any:
    return _answer(container.identity.auth.respond_new_password(body.session, body.new_password, ctx), response)


@router.post("/challenge/mfa", response_model=TokensPublic, responses=AUTH_ERRORS, summary="Answer MFA with a code")
def mfa_challenge(body: MfaAnswerCreate, container: ContainerDep, ctx: Context, response: Response) -> Any:
    return _answer(container.identity.auth.respond_mfa(body.session, body.code, ctx), response)


@router.post("/refresh", response_model=TokensPublic, responses=AUTH_ERRORS, summary="Rotate the refresh token")
def refresh(body: RefreshCreate, container: ContainerDep, ctx: Context, response: Response) -> Any:
    return _answer(container.identity.auth.refresh(body.refresh_token, ctx), response)


@router.post("/logout", status_code=204, responses=AUTH_ERRORS, summary="End this session")
def logout(principal: CurrentPrincipal, container: ContainerDep, ctx: Context) -> Response:
    container.identity.auth.logout(
        user_id=principal.user_id, organisation_id=principal.organisation_id, session_id=principal.session_id, ctx=ctx
    )
    return Response(status_code=204)


@router.post("/sign-out-everywhere", response_model=RevokedPublic, responses=AUTH_ERRORS, summary="End all sessions")
def sign_out_everywhere(principal: CurrentPrincipal, container: ContainerDep, ctx: Context) -> RevokedPublic:
    revoked = container.identity.auth.sign_out_everywhere(
        user_id=principal.user_id, organisation_id=principal.organisation_id, ctx=ctx
    )
    return RevokedPublic(revoked_sessions=revoked)


@router.post("/password", status_code=204, responses=AUTH_ERRORS, summary="Change the password (ends all sessions)")
def change_password(body: PasswordUpdate, principal: SelfService, container: ContainerDep, ctx: Context) -> Response:
    container.identity.auth.change_password(
        user_id=principal.user_id, current=body.current_password, new=body.new_password, ctx=ctx
    )
    return Response(status_code=204)


@router.post("/mfa/setup", response_model=MfaSetupPublic, responses=MFA_ERRORS, summary="Start TOTP setup")
def mfa_setup(principal: SelfService, container: ContainerDep, response: Response) -> MfaSetupPublic:
    response.headers.update(NO_STORE)
    setup = container.identity.mfa.begin_setup(principal)
    return MfaSetupPublic(secret=setup.secret, otpauth_uri=setup.otpauth_uri)


@router.post("/mfa/verify", response_model=RecoveryCodesPublic, responses=MFA_ERRORS, summary="Confirm TOTP setup")
def mfa_verify(
    body: MfaCodeCreate, principal: SelfService, container: ContainerDep, ctx: Context, response: Response
) -> RecoveryCodesPublic:
    response.headers.update(NO_STORE)
    return RecoveryCodesPublic(recovery_codes=container.identity.mfa.confirm_setup(principal, body.code, ctx))


@router.post("/mfa/disable", status_code=204, responses=MFA_ERRORS, summary="Turn MFA off (needs a code)")
def mfa_disable(body: MfaCodeCreate, principal: SelfService, container: ContainerDep, ctx: Context) -> Response:
    container.identity.mfa.disable(principal, body.code, ctx)
    return Response(status_code=204)
