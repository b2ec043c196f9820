"""The caller's own profile: preferences and notification settings, and erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from investai.api.schemas.auth import Password
from investai.domain.users import InvestmentPreferences, NotificationSettings, Role
from investai.http.schemas import Strict


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


class ErasureCreate(Strict):
    password: Password = Field(min_length=1, max_length=256, description="re-authentication for erasure")
    confirm: Literal["ERASE"]
