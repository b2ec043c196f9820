"""Model cost and token budgets: what a model use costs, who spent it, monthly limits and where spend stands.

Money is counted in whole nano-dollars (1e-9 USD) so that sums are exact in every store (a float sum depends
on its order; DynamoDB and SQLite add integers exactly). Months are UTC calendar months named ``YYYY-MM``; a
budget resets at the first instant of the next month, UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import Field

from investai.domain.common import DomainModel, Identifier, UtcDatetime
from investai.domain.idea_parts import ModelUse

NANOS_PER_USD = 1_000_000_000
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class BudgetScope(StrEnum):
    USER = "user"
    ORGANISATION = "organisation"


class BudgetMetric(StrEnum):
    USD = "usd"
    TOKENS = "tokens"


class UsageDimension(StrEnum):
    """What a month's usage is counted by, within an organisation."""

    ORGANISATION = "organisation"
    USER = "user"
    MODEL = "model"
    STEP = "step"


def usd_to_nanos(usd: float) -> int:
    return round(usd * NANOS_PER_USD)


def month_of(moment: datetime) -> str:
    """The UTC calendar month of ``moment``, ``YYYY-MM``."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def month_start(month: str) -> datetime:
    """The first instant of ``month`` (``YYYY-MM``), UTC."""
    if not re.fullmatch(MONTH_PATTERN, month):
        raise ValueError(f"{month!r} is not a month (YYYY-MM)")
    year, number = (int(part) for part in month.split("-"))
    return datetime(year, number, 1, tzinfo=UTC)


def next_month_start(moment: datetime) -> datetime:
    """The first instant of the month after ``moment``'s UTC month: when a monthly budget resets."""
    start = month_start(month_of(moment))
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


class UsageTotals(DomainModel):
    """Model calls, tokens and cost added up (cost in nano-dollars)."""

    calls: int = Field(default=0, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_nanos: int = Field(default=0, ge=0)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cost_usd(self) -> float:
        return self.cost_nanos / NANOS_PER_USD

    def spent(self, metric: BudgetMetric) -> float:
        return self.cost_usd if metric is BudgetMetric.USD else float(self.tokens)

    def plus(self, other: UsageTotals) -> UsageTotals:
        return UsageTotals(
            calls=self.calls + other.calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_nanos=self.cost_nanos + other.cost_nanos,
        )


class UsageEntry(DomainModel):
    """One model use, as the ledger records it: who, which model, which step, tokens, cost and when."""

    user_id: Identifier
    organisation_id: Identifier
    model_id: str = Field(min_length=1, max_length=200)
    step: str = Field(min_length=1, max_length=64)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0.0)
    at: UtcDatetime
    request_id: str | None = Field(default=None, max_length=64)

    @classmethod
    def of(
        cls, use: ModelUse, *, user_id: str, organisation_id: str, at: datetime, request_id: str | None
    ) -> UsageEntry:
        return cls(
            user_id=user_id,
            organisation_id=organisation_id,
            model_id=use.model_id,
            step=use.step,
            input_tokens=use.input_tokens,
            output_tokens=use.output_tokens,
            cost_usd=use.cost_usd,
            at=at,
            request_id=request_id,
        )

    @property
    def month(self) -> str:
        return month_of(self.at)

    @property
    def totals(self) -> UsageTotals:
        return UsageTotals(
            calls=1,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_nanos=usd_to_nanos(self.cost_usd),
        )

    def dimensions(self) -> dict[UsageDimension, str]:
        """The counters this use adds to, within its organisation and month: dimension -> name."""
        return {
            UsageDimension.ORGANISATION: self.organisation_id,
            UsageDimension.USER: self.user_id,
            UsageDimension.MODEL: self.model_id,
            UsageDimension.STEP: self.step,
        }


class BudgetLimits(DomainModel):
    """Monthly limits; ``None`` or 0 is unlimited."""

    monthly_usd: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    monthly_tokens: int | None = Field(default=None, ge=0)

    def limit(self, metric: BudgetMetric) -> float | None:
        value = self.monthly_usd if metric is BudgetMetric.USD else self.monthly_tokens
        return float(value) if value else None


class BudgetOverride(DomainModel):
    """An administrator's limits for one organisation or one user, over the configured defaults. A metric left
    ``None`` keeps its default; 0 makes it unlimited."""

    organisation_id: Identifier
    scope: BudgetScope
    subject_id: Identifier = Field(description="the organisation's id, or the user's")
    monthly_usd: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    monthly_tokens: int | None = Field(default=None, ge=0)
    updated_at: UtcDatetime
    updated_by: str | None = Field(default=None, max_length=64)

    def over(self, defaults: BudgetLimits) -> BudgetLimits:
        return BudgetLimits(
            monthly_usd=defaults.monthly_usd if self.monthly_usd is None else self.monthly_usd,
            monthly_tokens=defaults.monthly_tokens if self.monthly_tokens is None else self.monthly_tokens,
        )


class MetricStatus(DomainModel):
    metric: BudgetMetric
    limit: float | None = Field(description="None: unlimited")
    spent: float
    remaining: float | None
    exceeded: bool


class ScopeStatus(DomainModel):
    scope: BudgetScope
    subject_id: str
    metrics: list[MetricStatus]

    @classmethod
    def of(cls, scope: BudgetScope, subject_id: str, limits: BudgetLimits, spent: UsageTotals) -> ScopeStatus:
        metrics = []
        for metric in BudgetMetric:
            limit, used = limits.limit(metric), spent.spent(metric)
            metrics.append(
                MetricStatus(
                    metric=metric,
                    limit=limit,
                    spent=used,
                    remaining=None if limit is None else max(0.0, limit - used),
                    exceeded=limit is not None and used >= limit,
                )
            )
        return cls(scope=scope, subject_id=subject_id, metrics=metrics)

    @property
    def first_exceeded(self) -> MetricStatus | None:
        return next((metric for metric in self.metrics if metric.exceeded), None)


class BudgetStatus(DomainModel):
    """Where a user's and their organisation's month-to-date spend stand against their budgets."""

    month: str = Field(pattern=MONTH_PATTERN)
    resets_at: UtcDatetime
    user: ScopeStatus
    organisation: ScopeStatus

    @property
    def exceeded(self) -> tuple[ScopeStatus, MetricStatus] | None:
        """The first budget reached (the user's before the organisation's; cost before tokens)."""
        for scope in (self.user, self.organisation):
            metric = scope.first_exceeded
            if metric is not None:
                return scope, metric
        return None


class CostLine(DomainModel):
    key: str
    calls: int
    input_tokens: int
    output_tokens: int
    tokens: int
    cost_usd: float

    @classmethod
    def of(cls, key: str, totals: UsageTotals) -> CostLine:
        return cls(
            key=key,
            calls=totals.calls,
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            tokens=totals.tokens,
            cost_usd=totals.cost_usd,
        )


class CostReport(DomainModel):
    """A month's model usage: the total, and by organisation, user, model and step (largest cost first)."""

    month: str = Field(pattern=MONTH_PATTERN)
    organisation_id: str | None = Field(description="None: every organisation")
    total: CostLine
    by_organisation: list[CostLine]
    by_user: list[CostLine]
    by_model: list[CostLine]
    by_step: list[CostLine]
