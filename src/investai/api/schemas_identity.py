"""Request and response schemas of the identity, admin and profile routes (snake_case JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from investai.domain.users import InvestmentPreferences, NotificationSettings, Role, User, UserStatus

Password = str  # the policy is checked by the service, so its message lists what is missing


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    email: str = Field(min_length=3, max_length=254)
    password: Password = Field(min_length=1, max_length=256)


class NewPasswordChallenge(Strict):
    session: str = Field(min_length=1, max_length=8192)
    new_password: Password = Field(min_length=1, max_length=256)


class MfaChallenge(Strict):
    session: str = Field(min_length=1, max_length=8192)
    code: str = Field(min_length=6, max_length=32)


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=1, max_length=512)


class TokensPublic(BaseModel):
    access_token: str
    id_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class ChallengePublic(BaseModel):
    challenge: Literal["MFA", "NEW_PASSWORD_REQUIRED"]
    session: str


class PasswordChange(Strict):
    current_password: Password = Field(min_length=1, max_length=256)
    new_password: Password = Field(min_length=1, max_length=256)


class MfaSetupPublic(BaseModel):
    secret: str
    otpauth_uri: str


class MfaCode(Strict):
    code: str = Field(min_length=6, max_length=32)


class RecoveryCodesPublic(BaseModel):
    recovery_codes: list[str]


class RevokedPublic(BaseModel):
    revoked_sessions: int


class UserCreate(Strict):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Role
    display_name: str | None = Field(default=None, max_length=200)


class UserUpdate(Strict):
    role: Role | None = None
    enabled: bool | None = None
    display_name: str | None = Field(default=None, max_length=200)


class UserPublic(BaseModel):
    id: str
    email: str
    display_name: str | None
    role: Role
    organisation_id: str
    status: UserStatus
    mfa_enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls.model_validate(user.model_dump(include=set(cls.model_fields)))


class UserCreatedPublic(BaseModel):
    user: UserPublic
    temporary_password: str | None = Field(description="shown once; the user must change it at first sign-in")


class ProfileUpdate(Strict):
    preferences: InvestmentPreferences
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)


class ProfilePublic(BaseModel):
    user_id: str
    role: Role
    organisation_id: str
    preferences: InvestmentPreferences
    notifications: NotificationSettings
    updated_at: datetime


class ErasureRequest(Strict):
    password: Password = Field(min_length=1, max_length=256, description="re-authentication for erasure")
    confirm: Literal["ERASE"]
