"""The analysis agent: every number of an idea, computed by :mod:`investai.analytics` from point-in-time data.

``screen`` reads adjusted closes of the whole universe as of the request's moment and ranks them on the
factor blend the plan chose; ``analyse`` computes, for one candidate, its risk metrics against the benchmark,
one-day VaR/CVaR, scenarios over the horizon (circular block bootstrap, seeded by symbol and date so a rerun
gives the same paths), entry / target / stop levels from those scenarios, a position size (volatility target
capped by a fractional Kelly bet and the profile's maximum weight), fit with the current holdings and
liquidity. Each figure carries a market citation (series, date range, value, as-of). Last, the quantitative
model comments on the computed metrics (:mod:`investai.agents.commentary`), or code does when its commentary
is rejected or no model answers.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from investai.agents.commentary import write_commentary
from investai.agents.context import RunContext
from investai.agents.planning import Plan
from investai.analytics import performance, portfolio, risk, scenarios, technical
from investai.analytics.factors import composite_score, factor_scores, raw_factors
from investai.analytics.returns import adjusted_closes, simple_returns
from investai.domain.agents import AgentName, MessageType
from investai.domain.citations import MarketCitation
from investai.domain.common import DomainModel
from investai.domain.errors import NotFound
from investai.domain.idea_parts import ModelUse, QuantitativeCommentary, RiskLevel
from investai.domain.users import RiskTolerance
from investai.ports.research import MarketReader

HISTORY_DAYS = 3 * 366
"""Calendar days of history used per symbol, back from its latest bar at the as-of moment: 12-1 momentum needs
253 trading days, risk figures use it all."""
STALE_DAYS = 7
"""Prices older than this at the as-of moment are flagged (compliance note, counter-argument)."""
MIN_RETURNS = 126
SCENARIO_PATHS = 2000
BOOTSTRAP_BLOCK = 10
ADV_WINDOW = 20
LIQUIDITY_PARTICIPATION = 0.1
TARGET_VOLATILITY = {  # annual portfolio volatility a single position is scaled to, by profile
    RiskTolerance.VERY_CONSERVATIVE: 0.08,
    RiskTolerance.CONSERVATIVE: 0.10,
    RiskTolerance.MODERATE: 0.15,
    RiskTolerance.AGGRESSIVE: 0.20,
    RiskTolerance.VERY_AGGRESSIVE: 0.25,
}
MAX_WEIGHT = {
    RiskTolerance.VERY_CONSERVATIVE: 0.05,
    RiskTolerance.CONSERVATIVE: 0.07,
    RiskTolerance.MODERATE: 0.10,
    RiskTolerance.AGGRESSIVE: 0.15,
    RiskTolerance.VERY_AGGRESSIVE: 0.20,
}
RISK_LEVEL_BOUNDS = ((0.18, RiskLevel.LOW), (0.28, RiskLevel.MODERATE), (0.45, RiskLevel.HIGH))
"""Annualised volatility below each bound gives that risk level; above the last, very high."""


class Screen(DomainModel):
    """The universe ranked on the plan's factor blend, as of the request's moment."""

    start: date | None
    end: date | None
    ranked: list[str] = Field(description="symbols with a composite score, best first")
    composite: dict[str, float]
    factors: dict[str, dict[str, float | None]] = Field(description="symbol -> factor z-scores")
    raw: dict[str, dict[str, float | None]] = Field(description="symbol -> raw factor values")
    dropped: dict[str, str] = Field(default_factory=dict, description="symbol -> why it was not scored")


class CandidateAnalysis(DomainModel):
    symbol: str
    start: date
    end: date
    data_age_days: int = Field(ge=0, description="calendar days from the latest bar to the as-of moment")
    last_close: float
    observations: int
    composite: float
    composite_percentile: float = Field(ge=0.0, le=1.0)
    factors: dict[str, float | None]
    raw_factors: dict[str, float | None]
    metrics: dict[str, float | None]
    technicals: dict[str, float | None]
    horizon_days: int
    scenarios: dict[str, dict[str, float]]
    fan: list[dict[str, float]] = Field(description="percentiles of the cumulative return per step")
    expected_return: dict[str, float]
    levels: dict[str, float]
    sizing: dict[str, float | None]
    fit: dict[str, float] | None = None
    risk_level: RiskLevel
    confidence_inputs: dict[str, float]
    citations: dict[str, MarketCitation]
    commentary: QuantitativeCommentary | None = None
    commentary_use: ModelUse | None = Field(default=None, description="the model call behind the commentary")

    def figures(self) -> list[float]:
        """Every number this analysis computed (the grounding check's allowed values)."""
        values: list[float] = [self.last_close, self.composite, self.composite_percentile, float(self.horizon_days)]
        values += [float(self.data_age_days), self.end.year, self.end.month, self.end.day]
        for group in (self.factors, self.raw_factors, self.metrics, self.technicals, self.sizing, self.fit or {}):
            values.extend(value for value in group.values() if value is not None)
        for outcome in self.scenarios.values():
            values.extend(outcome.values())
        values.extend(self.expected_return.values())
        values.extend(self.levels.values())
        values.extend(self.confidence_inputs.values())
        return [float(value) for value in values if math.isfinite(float(value))]


def _seed(symbol: str, day: date | None) -> int:
    digest = hashlib.sha256(f"{symbol}|{day}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**63)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def risk_level(volatility: float | None) -> RiskLevel:
    if volatility is None:
        return RiskLevel.VERY_HIGH
    for bound, level in RISK_LEVEL_BOUNDS:
        if volatility < bound:
            return level
    return RiskLevel.VERY_HIGH


class AnalysisAgent:
    name = AgentName.ANALYSIS

    def __init__(self, market: MarketReader) -> None:
        self._market = market
        self._frames: dict[str, pd.DataFrame] = {}

    # --- data ------------------------------------------------------------------------------------------------

    def _frame(self, ctx: RunContext, symbol: str) -> pd.DataFrame:
        if symbol not in self._frames:
            end = ctx.as_of.date()
            try:
                frame = self._market.bar_frame(symbol, end=end, as_of=ctx.as_of)
            except NotFound:
                frame = pd.DataFrame(columns=["date", "close", "adj_close", "volume", "high", "low"])
            if not frame.empty:  # the window ends at the latest bar available, however old that is
                dates = pd.to_datetime(frame["date"])
                frame = frame[dates >= dates.iloc[-1] - pd.Timedelta(days=HISTORY_DAYS)].reset_index(drop=True)
            self._frames[symbol] = frame
        return self._frames[symbol]

    def closes(self, ctx: RunContext, symbols: list[str]) -> pd.DataFrame:
        series = {}
        for symbol in symbols:
            frame = self._frame(ctx, symbol)
            if frame.empty:
                continue
            series[symbol] = adjusted_closes(frame)
        if not series:
            return pd.DataFrame()
        return pd.DataFrame(series).sort_index()

    # --- screen ----------------------------------------------------------------------------------------------

    def screen(self, ctx: RunContext, plan: Plan) -> Screen:
        prices = self.closes(ctx, plan.universe)
        dropped = {symbol: "no price history as of the request" for symbol in plan.universe if symbol not in prices}
        if prices.empty:
            return Screen(start=None, end=None, ranked=[], composite={}, factors={}, raw={}, dropped=dropped)
        counts = prices.notna().sum()
        short = [symbol for symbol in prices.columns if counts[symbol] < MIN_RETURNS + 1]
        dropped |= {symbol: f"fewer than {MIN_RETURNS + 1} closes" for symbol in short}
        prices = prices.drop(columns=short)
        scores = factor_scores(prices)
        raw = raw_factors(prices)
        composite = composite_score(scores, ctx.request.investment_horizon.value, ctx.request.risk_tolerance.value)
        composite = composite.dropna()
        return Screen(
            start=prices.index[0].date() if len(prices) else None,
            end=prices.index[-1].date() if len(prices) else None,
            ranked=list(composite.index),
            composite={symbol: float(value) for symbol, value in composite.items()},
            factors={
                symbol: {name: _finite(value) for name, value in row.items()} for symbol, row in scores.iterrows()
            },
            raw={symbol: {name: _finite(value) for name, value in row.items()} for symbol, row in raw.iterrows()},
            dropped=dropped,
        )

    # --- one candidate ---------------------------------------------------------------------------------------

    def analyse(self, ctx: RunContext, plan: Plan, screen: Screen, symbol: str) -> CandidateAnalysis | None:
        """The full analysis of one candidate, or ``None`` when its data cannot support a long idea."""
        request = ctx.request
        frame = self._frame(ctx, symbol)
        close = adjusted_closes(frame).dropna()
        returns = simple_returns(close).dropna()
        if len(returns) < MIN_RETURNS:
            return None
        start, end = close.index[0].date(), close.index[-1].date()
        bench_returns = None
        if plan.benchmark and plan.benchmark != symbol:
            bench_close = self.closes(ctx, [plan.benchmark])
            if not bench_close.empty:
                bench_returns = simple_returns(bench_close[plan.benchmark]).dropna()
        summary = performance.performance_summary(returns, bench_returns)
        assert isinstance(summary, dict)
        metrics: dict[str, float | None] = {key: _finite(value) for key, value in summary.items()}
        for level in (0.95, 0.99):
            suffix = f"{round(level * 100)}"
            metrics[f"var_{suffix}"] = _finite(risk.value_at_risk(returns, level))
            metrics[f"cvar_{suffix}"] = _finite(risk.conditional_value_at_risk(returns, level))
        technicals = {
            "rsi_14": _finite(technical.rsi(close, 14).iloc[-1]),
            "sma_50": _finite(technical.sma(close, 50).iloc[-1]),
            "sma_200": _finite(technical.sma(close, 200).iloc[-1]),
            "trend_signal": _finite(technical.trend_signal(close).iloc[-1]),
            "distance_from_high": _finite(technical.distance_from_high(close).iloc[-1]),
            "momentum_12_1": _finite(technical.momentum_12_1(close).iloc[-1]),
        }
        horizon = request.investment_horizon.trading_days
        paths = scenarios.block_bootstrap_paths(
            returns.to_numpy(),
            horizon=horizon,
            paths=SCENARIO_PATHS,
            block=min(BOOTSTRAP_BLOCK, horizon),
            seed=_seed(symbol, end),
        )
        outcomes_raw = scenarios.scenario_outcomes(scenarios.horizon_returns(paths))
        outcomes = {
            name: {
                "probability": float(outcome["probability"]),
                "min": float(outcome["min"]),
                "median": float(outcome["median"]),
                "max": float(outcome["max"]),
            }
            for name, outcome in outcomes_raw.items()
        }
        finals = scenarios.horizon_returns(paths)
        fan_frame = scenarios.fan_chart(paths, percentiles=(5, 25, 50, 75, 95))
        step = max(1, horizon // 20)
        fan = [  # "step" is the trading day of the horizon the row describes (every ``step``-th day is kept)
            {"step": float(day), **{str(column): float(value) for column, value in row.items()}}
            for day, row in fan_frame.iloc[step - 1 :: step].iterrows()
        ]
        expected = {
            "point": float(np.median(finals)),
            "low": float(np.percentile(finals, 5)),
            "high": float(np.percentile(finals, 95)),
            "mean": float(np.mean(finals)),
            "probability_of_gain": float(np.mean(finals > 0.0)),
        }
        last = float(close.iloc[-1])
        up, down = float(np.percentile(finals, 75)), float(np.percentile(finals, 10))
        if not (up > 0.0 and down < 0.0):
            return None  # the scenarios leave no room for a long with a target above and a stop below
        levels = {"entry": last, "target": last * (1.0 + up), "stop": last * (1.0 + down)}
        volatility = metrics.get("volatility")
        tolerance = request.risk_tolerance
        vol_weight = (
            portfolio.volatility_target_weight(volatility, TARGET_VOLATILITY[tolerance], MAX_WEIGHT[tolerance])
            if volatility
            else 0.0
        )
        kelly = portfolio.kelly_fraction(float(returns.mean()), float(returns.var(ddof=1)), cap=MAX_WEIGHT[tolerance])
        weight = min(vol_weight, kelly) if kelly > 0 else vol_weight / 2
        sizing: dict[str, float | None] = {
            "weight": weight,
            "volatility_target_weight": vol_weight,
            "kelly_weight": kelly,
            "max_weight": MAX_WEIGHT[tolerance],
            "notional": request.amount * weight if request.amount else None,
            "max_loss": (request.amount * weight * abs(down)) if request.amount else None,
        }
        volume = pd.to_numeric(frame["volume"], errors="coerce").tail(ADV_WINDOW)
        adv = float(volume.mean()) if volume.notna().sum() >= ADV_WINDOW // 2 else math.nan
        if request.amount and math.isfinite(adv) and adv > 0:
            shares = request.amount * weight / last
            metrics["liquidity_days"] = _finite(risk.liquidity_days(shares, adv, LIQUIDITY_PARTICIPATION))
        else:
            metrics["liquidity_days"] = None
        fit = self._fit(ctx, returns, weight)
        ranked = screen.ranked
        percentile = 1.0 - ranked.index(symbol) / max(len(ranked) - 1, 1) if symbol in ranked else 0.0
        citations = self._citations(ctx, symbol, start, end, last, metrics, technicals)
        analysis = CandidateAnalysis(
            symbol=symbol,
            start=start,
            end=end,
            data_age_days=max(0, (ctx.as_of.date() - end).days),
            last_close=last,
            observations=len(returns),
            composite=screen.composite.get(symbol, 0.0),
            composite_percentile=percentile,
            factors=screen.factors.get(symbol, {}),
            raw_factors=screen.raw.get(symbol, {}),
            metrics=metrics,
            technicals=technicals,
            horizon_days=horizon,
            scenarios=outcomes,
            fan=fan,
            expected_return=expected,
            levels=levels,
            sizing=sizing,
            fit=fit,
            risk_level=risk_level(volatility),
            confidence_inputs={
                "composite_percentile": percentile,
                "probability_of_gain": expected["probability_of_gain"],
                "history_share": min(1.0, len(returns) / (252 * 3)),
            },
            citations=citations,
        )
        commentary, use = write_commentary(ctx, analysis, plan.benchmark if bench_returns is not None else None)
        return analysis.model_copy(update={"commentary": commentary, "commentary_use": use})

    def _fit(self, ctx: RunContext, returns: pd.Series, weight: float) -> dict[str, float] | None:
        holdings = [holding for holding in ctx.request.holdings if holding.weight > 0]
        if not holdings or weight >= 1.0:
            return None
        book = self.closes(ctx, [holding.symbol for holding in holdings])
        if book.empty:
            return None
        book_returns = simple_returns(book).dropna(how="all")
        weights = pd.Series({holding.symbol: holding.weight for holding in holdings}).reindex(book_returns.columns)
        try:
            fit = portfolio.portfolio_fit(returns, book_returns.fillna(0.0), weights.fillna(0.0), weight)
        except ValueError as exc:
            ctx.message(AgentName.ANALYSIS, MessageType.UPDATE, {"portfolio_fit": f"not computed: {exc}"})
            return None
        return {key: float(value) for key, value in fit.items() if _finite(value) is not None}

    def _citations(
        self,
        ctx: RunContext,
        symbol: str,
        start: date,
        end: date,
        last: float,
        metrics: dict[str, float | None],
        technicals: dict[str, float | None],
    ) -> dict[str, MarketCitation]:
        def cite(series: str, value: float | None, since: date = start) -> MarketCitation:
            return MarketCitation(symbol=symbol, series=series, start=since, end=end, value=value, as_of=ctx.as_of)

        citations = {"last_close": cite("adj_close", last, end)}
        for key in (
            "volatility",
            "sharpe",
            "sortino",
            "max_drawdown",
            "beta",
            "var_95",
            "var_99",
            "cvar_95",
            "cvar_99",
        ):
            citations[key] = cite(f"daily_returns:{key}", metrics.get(key))
        citations["momentum_12_1"] = cite("adj_close:momentum_12_1", technicals.get("momentum_12_1"))
        citations["rsi_14"] = cite("adj_close:rsi_14", technicals.get("rsi_14"))
        return citations

    def report(self, ctx: RunContext, screen: Screen) -> None:
        ctx.message(
            AgentName.ANALYSIS,
            MessageType.RESPONSE,
            {
                "screened": len(screen.ranked),
                "dropped": screen.dropped,
                "top": [(symbol, round(screen.composite[symbol], 4)) for symbol in screen.ranked[:10]],
                "data_end": screen.end.isoformat() if screen.end else None,
            },
            recipient=AgentName.SUPERVISOR,
        )
