"""Sign-in, challenges, refresh, password change and MFA (snake_case JSON)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from investai.http.schemas import Strict

Password = str  # the policy is checked by the service, so its message lists what is missing


class LoginCreate(Strict):
    email: str = Field(min_length=3, max_length=254)
    password: Password = Field(min_length=1, max_length=256)


class NewPasswordAnswerCreate(Strict):
    session: str = Field(min_length=1, max_length=8192)
    new_password: Password = Field(min_length=1, max_length=256)


class MfaAnswerCreate(Strict):
    session: str = Field(min_length=1, max_length=8192)
    code: str = Field(min_length=6, max_length=32)


class RefreshCreate(Strict):
    refresh_token: str = Field(min_length=1, max_length=4096)  # Cognito's are about 1,800 characters


class TokensPublic(BaseModel):
    access_token: str
    id_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class ChallengePublic(BaseModel):
    challenge: Literal["MFA", "NEW_PASSWORD_REQUIRED"]
    session: str


class PasswordUpdate(Strict):
    current_password: Password = Field(min_length=1, max_length=256)
    new_password: Password = Field(min_length=1, max_length=256)


class MfaSetupPublic(BaseModel):
    secret: str
    otpauth_uri: str


class MfaCodeCreate(Strict):
    code: str = Field(min_length=6, max_length=32)


class RecoveryCodesPublic(BaseModel):
    recovery_codes: list[str]


class RevokedPublic(BaseModel):
    revoked_sessions: int
