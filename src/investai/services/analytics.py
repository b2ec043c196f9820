"""Analytics use cases: risk metrics and technical indicators of one symbol, computed point in time from the
market data service's bars with the pure functions of :mod:`investai.analytics`.

Point in time: every series is read ``as_of`` (nothing dated, ingested or available after it), and every
indicator is causal, so a figure as of T never depends on anything after T. Indicators are computed over the
history before ``start`` too (their warm-up), then cut to [start, end].
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import pandas as pd

from investai.analytics import performance, risk, technical
from investai.analytics.returns import simple_returns
from investai.domain.errors import ValidationFailed
from investai.services.market import MarketDataService

MIN_OBSERVATIONS = 20
"""Fewer daily returns than this in the range and the metrics are refused (422) rather than reported as noise."""


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class AnalyticsService:
    def __init__(self, *, market: MarketDataService) -> None:
        self._market = market

    def _prices(self, symbol: str, start: date | None, end: date | None, as_of: datetime | None) -> pd.Series:
        """Adjusted closes (the close where there is none), indexed by date."""
        frame = self._market.bar_frame(symbol, start=start, end=end, as_of=as_of)
        prices = frame["adj_close"].where(frame["adj_close"].notna(), frame["close"]).astype(float)
        prices.index = pd.DatetimeIndex(pd.to_datetime(frame["date"]))
        return prices

    def risk(
        self,
        symbol: str,
        *,
        start: date | None = None,
        end: date | None = None,
        as_of: datetime | None = None,
        benchmark: str | None = None,
    ) -> dict[str, Any]:
        """Annualised volatility, Sharpe, Sortino, Calmar, Omega, max drawdown (a negative fraction), hit
        rate, CAGR, one-day VaR and CVaR at 95% and 99% (historical, positive loss fractions) and, against the
        benchmark (the symbol's own by default), beta, alpha, tracking error and information ratio."""
        info = self._market.symbol(symbol)
        returns = simple_returns(self._prices(info.symbol, start, end, as_of)).dropna()
        if len(returns) < MIN_OBSERVATIONS:
            raise ValidationFailed(
                f"{info.symbol} has {len(returns)} daily returns in that range; at least {MIN_OBSERVATIONS} are needed"
            )
        reference = (benchmark or info.benchmark or "").strip().upper() or None
        bench_returns = None
        if reference is not None and reference != info.symbol:
            bench_returns = simple_returns(self._prices(reference, start, end, as_of)).dropna()
        summary = performance.performance_summary(returns, bench_returns)
        assert isinstance(summary, dict)
        figures: dict[str, Any] = {key: _number(value) for key, value in summary.items()}
        for confidence, suffix in ((0.95, "95"), (0.99, "99")):
            figures[f"var_{suffix}"] = _number(risk.value_at_risk(returns, confidence, method="historical"))
            figures[f"cvar_{suffix}"] = _number(
                risk.conditional_value_at_risk(returns, confidence, method="historical")
            )
        return {
            "symbol": info.symbol,
            "benchmark": reference if bench_returns is not None else None,
            "start": returns.index[0].date().isoformat(),
            "end": returns.index[-1].date().isoformat(),
            "observations": len(returns),
            "as_of": as_of.isoformat() if as_of else None,
            "periodicity": "daily",
            **figures,
        }

    def indicators(
        self,
        symbol: str,
        *,
        start: date | None = None,
        end: date | None = None,
        as_of: datetime | None = None,
    ) -> dict[str, Any]:
        """SMA 50/200, EMA 20, RSI 14, MACD (12, 26, 9), Bollinger bands (20, 2), 12-1 momentum, the 50/200
        trend signal and the distance from the 52-week high, per date within [start, end]."""
        info = self._market.symbol(symbol)
        close = self._prices(info.symbol, None, end, as_of)
        table = pd.DataFrame(
            {
                "close": close,
                "sma_50": technical.sma(close, 50),
                "sma_200": technical.sma(close, 200),
                "ema_20": technical.ema(close, 20),
                "rsi_14": technical.rsi(close, 14),
                "momentum_12_1": technical.momentum_12_1(close),
                "trend": technical.trend_signal(close),
                "distance_from_high": technical.distance_from_high(close),
            }
        )
        table = table.join(technical.macd(close)).join(
            technical.bollinger_bands(close).rename(columns=lambda name: f"bollinger_{name}")
        )
        if start is not None:
            table = table.loc[pd.Timestamp(start) :]
        rows = [
            {"date": moment.date().isoformat(), **{name: _number(value) for name, value in row.items()}}
            for moment, row in table.iterrows()
        ]
        return {
            "symbol": info.symbol,
            "as_of": as_of.isoformat() if as_of else None,
            "indicators": rows,
            "latest": rows[-1] if rows else None,
        }
