"""Budgets and costs: an administrator's override of the monthly limits. Status and reports are the domain's
own models (:class:`~investai.domain.budgets.BudgetStatus`, :class:`~investai.domain.budgets.CostReport`)."""

from __future__ import annotations

from pydantic import Field

from investai.http.schemas import Strict


class BudgetUpdate(Strict):
    monthly_usd: float | None = Field(
        default=None,
        ge=0,
        le=1e9,
        allow_inf_nan=False,
        description="model cost a month; unset: the default; 0: no limit",
    )
    monthly_tokens: int | None = Field(
        default=None, ge=0, le=10**15, description="input + output tokens a month; unset: the default; 0: no limit"
    )
