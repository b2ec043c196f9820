"""The roles a user can hold (kept apart from :mod:`investai.domain.users` so that light modules, such as the
document models the PDF parser process loads, need not build the user and profile models)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ANALYST = "analyst"
    PORTFOLIO_MANAGER = "portfolio-manager"
    COMPLIANCE_OFFICER = "compliance-officer"
    ADMINISTRATOR = "administrator"
