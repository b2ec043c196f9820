"""Users of an administrator's organisation. ``UserCreate`` is shared with the admin page:
:mod:`investai.http.schemas`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from investai.domain.users import Role, User, UserStatus
from investai.http.schemas import Strict


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
