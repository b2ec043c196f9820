"""Analytics use cases: risk metrics and technical indicators of one symbol, computed point in time from the
market data service's bars with the pure functions of :mod:`investai.analytics`.

Point in time: every series is read ``as_of`` (nothing dated, ingested or available after it), and every
indicator is causal, so a figure as of T never depends on anything after T. Indicators are computed over the
history before ``start`` too (their warm-up), then cut to [start, end].
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd

from investai.analytics import performance, portfolio, risk, stress, technical
from investai.analytics.returns import adjusted_closes, simple_returns
from investai.domain.errors import ValidationFailed
from investai.services.market import MarketDataService, check_range, finite_or_none

MIN_OBSERVATIONS = 20
"""Fewer daily returns than this in the range and the metrics are refused (422) rather than reported as noise."""


class AnalyticsService:
    def __init__(self, *, market: MarketDataService) -> None:
        self._market = market

    def _prices(self, symbol: str, start: date | None, end: date | None, as_of: datetime | None) -> pd.Series:
        """Adjusted closes (the close where there is none), indexed by date."""
        return adjusted_closes(self._market.bar_frame(symbol, start=start, end=end, as_of=as_of))

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
        figures: dict[str, Any] = {key: finite_or_none(value) for key, value in summary.items()}
        for confidence, suffix in ((0.95, "95"), (0.99, "99")):
            figures[f"var_{suffix}"] = finite_or_none(risk.value_at_risk(returns, confidence, method="historical"))
            figures[f"cvar_{suffix}"] = finite_or_none(
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
        check_range(start, end)
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
            {"date": moment.date().isoformat(), **{name: finite_or_none(value) for name, value in row.items()}}
            for moment, row in table.iterrows()
        ]
        return {
            "symbol": info.symbol,
            "as_of": as_of.isoformat() if as_of else None,
            "indicators": rows,
            "latest": rows[-1] if rows else None,
        }

    def rebased(
        self,
        symbols: list[str],
        *,
        lookback_days: int = 365,
        as_of: datetime | None = None,
        base: float = 100.0,
    ) -> dict[str, Any]:
        """Adjusted closes of several symbols over the last ``lookback_days`` calendar days up to the latest
        date they all share (as of ``as_of``), each divided by its first price in that window and multiplied by
        ``base``: what ``base`` invested in each grew to. Symbols with no price at all are left out and listed
        in ``missing``; dates where any other symbol has no price are skipped."""
        if lookback_days < 1:
            raise ValidationFailed("lookback_days must be at least 1")
        prices, _sectors = self._panel(symbols, None, None, as_of)
        missing = [str(name) for name in prices.columns if prices[name].isna().all()]
        shared = prices.drop(columns=missing).dropna()
        if not shared.empty:
            shared = shared.loc[shared.index[-1] - pd.Timedelta(days=lookback_days) :]
        scaled = shared / shared.iloc[0] * base if not shared.empty else shared
        return {
            "start": scaled.index[0].date().isoformat() if len(scaled) else None,
            "end": scaled.index[-1].date().isoformat() if len(scaled) else None,
            "as_of": as_of.isoformat() if as_of else None,
            "base": base,
            "dates": [moment.date().isoformat() for moment in scaled.index],
            "series": {str(name): [finite_or_none(value) for value in scaled[name]] for name in scaled.columns},
            "missing": missing,
        }

    # --- portfolios --------------------------------------------------------------------------------------------

    def _panel(
        self, symbols: list[str], start: date | None, end: date | None, as_of: datetime | None
    ) -> tuple[pd.DataFrame, dict[str, str]]:
        """Prices of several symbols side by side (dates where every one has a price) and their sectors."""
        infos = [self._market.symbol(symbol) for symbol in dict.fromkeys(symbols)]
        prices = pd.DataFrame({info.symbol: self._prices(info.symbol, start, end, as_of) for info in infos})
        sectors = {info.symbol: info.sector or "<unknown>" for info in infos}
        return prices, sectors

    def optimise(
        self,
        symbols: list[str],
        *,
        method: portfolio.OptimisationMethod,
        start: date | None = None,
        end: date | None = None,
        as_of: datetime | None = None,
        max_weight: float | None = None,
        sector_cap: float | None = None,
    ) -> dict[str, Any]:
        """Long-only, fully invested weights by the chosen method (skfolio), under a per-asset cap and a
        per-sector cap (sectors from the symbol master), on daily returns over dates all symbols share."""
        prices, sectors = self._panel(symbols, start, end, as_of)
        returns = prices.pct_change(fill_method=None).iloc[1:].dropna()
        try:
            result = portfolio.optimise(
                returns,
                method,
                max_weight=max_weight,
                sectors=sectors if sector_cap is not None else None,
                sector_cap=sector_cap,
            )
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from exc
        return {
            "method": method,
            "weights": {name: float(weight) for name, weight in result.weights.items()},
            "expected_return": finite_or_none(result.expected_return),
            "volatility": finite_or_none(result.volatility),
            "observations": len(returns),
            "start": returns.index[0].date().isoformat() if len(returns) else None,
            "end": returns.index[-1].date().isoformat() if len(returns) else None,
            "as_of": as_of.isoformat() if as_of else None,
        }

    def stress(
        self,
        weights: dict[str, float],
        *,
        as_of: datetime | None = None,
        market_move: float = -0.20,
        sector_shocks: dict[str, float] | None = None,
        vol_multiplier: float = 2.0,
    ) -> dict[str, Any]:
        """The portfolio replayed through the dated historical windows that the data as of ``as_of`` covers,
        and a hypothetical shock: the market moving by ``market_move`` (each asset by its beta over the last
        year), optional sector shocks, and volatility times ``vol_multiplier``."""
        symbols = list(weights)
        prices, sectors = self._panel(symbols, None, None, as_of)
        frame_weights = pd.Series({info: float(weights[info]) for info in prices.columns})
        returns = prices.pct_change(fill_method=None).iloc[1:].tail(252)
        betas = pd.Series({symbol: self._beta(symbol, returns[symbol], as_of) for symbol in prices.columns})
        try:
            windows = stress.replay_historical(frame_weights, prices)
            shock = stress.hypothetical_shock(
                frame_weights,
                betas,
                market_move=market_move,
                sector_shocks=sector_shocks,
                sectors=sectors,
                vol_multiplier=vol_multiplier,
                returns=returns.dropna(),
            )
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from exc
        historical = [
            {"window": str(name), **{str(key): finite_or_none(value) for key, value in row.items()}}
            for name, row in windows.iterrows()
        ]
        hypothetical = {
            key: (
                {str(k): finite_or_none(v) for k, v in value.items()}
                if isinstance(value, pd.Series)
                else finite_or_none(value)
            )
            for key, value in shock.items()
        }
        return {"as_of": as_of.isoformat() if as_of else None, "historical": historical, "hypothetical": hypothetical}

    def _beta(self, symbol: str, returns: pd.Series, as_of: datetime | None) -> float:
        """Beta to the symbol's benchmark over the same days (1.0 when it has none or too little data)."""
        info = self._market.symbol(symbol)
        if not info.benchmark or info.benchmark == info.symbol:
            return 1.0
        bench = simple_returns(self._prices(info.benchmark, None, None, as_of)).reindex(returns.index)
        _alpha, beta = performance.alpha_beta(returns, bench)
        value = finite_or_none(beta)
        return 1.0 if value is None else value
