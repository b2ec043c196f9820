"""Annualisation constants, in one place: how many return periods make a year.

Every annualised figure in :mod:`investai.analytics` (volatility, Sharpe, alpha, ...) uses these, so a daily
series is always scaled by 252 trading days, a weekly one by 52 and a monthly one by 12, as empyrical and
quantstats do.
"""

from __future__ import annotations

from enum import StrEnum


class Periodicity(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


PERIODS_PER_YEAR: dict[Periodicity, int] = {
    Periodicity.DAILY: 252,
    Periodicity.WEEKLY: 52,
    Periodicity.MONTHLY: 12,
    Periodicity.QUARTERLY: 4,
    Periodicity.YEARLY: 1,
}
"""Return periods per year for each periodicity."""

TRADING_DAYS_PER_YEAR = PERIODS_PER_YEAR[Periodicity.DAILY]


def periods_per_year(periodicity: Periodicity | str) -> int:
    """The annualisation factor for ``periodicity`` (``"daily"`` -> 252)."""
    return PERIODS_PER_YEAR[Periodicity(periodicity)]
