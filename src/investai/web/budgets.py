"""Monthly model budgets as the pages show them: the budget a refused idea request ran into (its limit, the
spend and when it resets) and a user's standing on the profile page (month-to-date spend against each limit,
theirs and their organisation's). Amounts are text ready for a page: US dollars or tokens, or "unlimited"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from investai.domain.budgets import BudgetMetric, BudgetScope, BudgetStatus, MetricStatus, ScopeStatus
from investai.domain.errors import BudgetExceeded

METRIC_LABELS = {BudgetMetric.USD: "Model cost", BudgetMetric.TOKENS: "Model tokens"}


def amount(metric: BudgetMetric | str, value: float | None) -> str:
    """``value`` in the metric's unit: dollars (cents; four decimals below one cent) or whole tokens."""
    if value is None:
        return "unlimited"
    if BudgetMetric(metric) is BudgetMetric.USD:
        digits = 4 if 0 < value < 0.01 else 2
        return f"${value:,.{digits}f}"
    return f"{round(value):,} tokens"


@dataclass(frozen=True)
class BudgetRefusal:
    """Why an idea request was refused: whose budget, of what, its limit, the spend and the reset."""

    whose: str
    metric: str
    limit: str
    spent: str
    resets_at: datetime
    retry_after_s: float


def budget_refusal(exc: BudgetExceeded) -> BudgetRefusal:
    return BudgetRefusal(
        whose="Your" if exc.budget == BudgetScope.USER.value else "Your organisation's",
        metric=METRIC_LABELS[BudgetMetric(exc.metric)].lower(),
        limit=amount(exc.metric, exc.limit),
        spent=amount(exc.metric, exc.spent),
        resets_at=exc.resets_at,
        retry_after_s=exc.retry_after_s,
    )


@dataclass(frozen=True)
class MetricStanding:
    label: str
    spent: str
    limit: str
    remaining: str
    used_share: float | None  # 0-1 (capped), None when unlimited
    exceeded: bool


@dataclass(frozen=True)
class ScopeStanding:
    title: str
    metrics: list[MetricStanding]

    @property
    def exceeded(self) -> bool:
        return any(metric.exceeded for metric in self.metrics)


@dataclass(frozen=True)
class BudgetStanding:
    month: str
    resets_at: datetime
    scopes: list[ScopeStanding]

    @property
    def exceeded(self) -> bool:
        return any(scope.exceeded for scope in self.scopes)


def _metric(status: MetricStatus) -> MetricStanding:
    limit = status.limit
    return MetricStanding(
        label=METRIC_LABELS[status.metric],
        spent=amount(status.metric, status.spent),
        limit=amount(status.metric, limit),
        remaining="—" if status.remaining is None else amount(status.metric, status.remaining),
        used_share=None if not limit else min(1.0, status.spent / limit),
        exceeded=status.exceeded,
    )


def _scope(title: str, status: ScopeStatus) -> ScopeStanding:
    return ScopeStanding(title=title, metrics=[_metric(metric) for metric in status.metrics])


def budget_standing(status: BudgetStatus) -> BudgetStanding:
    return BudgetStanding(
        month=status.month,
        resets_at=status.resets_at,
        scopes=[_scope("You", status.user), _scope("Your organisation", status.organisation)],
    )
