"""The analysis agent: every number of an idea, computed by :mod:`investai.analytics` from point-in-time data.

``screen`` reads adjusted closes of the whole universe as of the request's moment and ranks them on the
factor blend the plan chose; ``analyse`` computes, for one candidate, its risk metrics against the benchmark,
one-day VaR/CVaR, scenarios over the horizon (circular block bootstrap, seeded by symbol and date so a rerun
gives the same paths), entry / target / stop levels from the instrument's volatility over the horizon, a
position size (the profile's risk budget over the volatility, capped by a fractional Kelly bet and the
profile's maximum weight; :mod:`investai.agents.policy`), fit with the current holdings and liquidity.
Each figure carries a market citation (series, date range, value, as-of). Last, the quantitative
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
from investai.agents.findings import CandidateAnalysis
from investai.agents.market_view import MarketAsOf
from investai.agents.planning import Plan
from investai.agents.policy import Mandate, mandate
from investai.agents.policy import levels as policy_levels
from investai.analytics import performance, portfolio, risk, scenarios, technical
from investai.analytics.factors import FUNDAMENTAL_FACTORS, factor_scores, raw_factors
from investai.analytics.returns import adjusted_closes, simple_returns
from investai.analytics.signal import (
    Calibration,
    LearnedWeights,
    history_calendar_days,
    point_in_time_signal,
    price_factor_weights,
    weighted_composite,
)
from investai.domain.agents import AgentName, MessageType
from investai.domain.citations import DocumentCitation, MarketCitation
from investai.domain.common import DomainModel
from investai.domain.errors import NotFound
from investai.domain.idea_parts import RiskLevel
from investai.ports.research import FundamentalsReader, MarketReader, PointInTimeMarket

HISTORY_DAYS = 3 * 366
"""Calendar days of history used per symbol, back from its latest bar at the as-of moment: 12-1 momentum needs
253 trading days, risk figures use it all."""
SCENARIO_PATHS = 2000
BOOTSTRAP_BLOCK = 10
ADV_WINDOW = 20
LIQUIDITY_PARTICIPATION = 0.1
MIN_RETURNS = 126
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
    weights: dict[str, float] = Field(default_factory=dict, description="factor -> weight the composite used")
    signal: LearnedWeights | None = Field(default=None, description="how those weights were learned, and from what")
    weights_basis: str = Field(default="", description="one sentence on where the weights come from")
    fundamentals: dict[str, DocumentCitation] = Field(
        default_factory=dict, description="symbol -> the table row its value, quality and growth factors came from"
    )
    calibration: Calibration | None = Field(
        default=None,
        description="composite percentile -> measured probability of beating the equal-weighted universe over "
        "the horizon, from past windows that had ended by the as-of moment (a confidence for the ideas)",
    )


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

    def __init__(self, market: MarketReader, fundamentals: FundamentalsReader | None = None) -> None:
        self._market = market
        self._fundamentals = fundamentals
        self._frames: dict[str, pd.DataFrame] = {}
        self._at: PointInTimeMarket | None = None

    # --- data ------------------------------------------------------------------------------------------------

    def _frame(self, ctx: RunContext, symbol: str) -> pd.DataFrame:
        if symbol not in self._frames:
            try:
                frame = self._view(ctx).daily_bars(symbol)
            except NotFound:
                frame = pd.DataFrame(columns=["date", "close", "adj_close", "volume", "high", "low"])
            if not frame.empty:  # the window ends at the latest bar available, however old that is
                dates = pd.to_datetime(frame["date"])
                frame = frame[dates >= dates.iloc[-1] - pd.Timedelta(days=HISTORY_DAYS)].reset_index(drop=True)
            self._frames[symbol] = frame
        return self._frames[symbol]

    def _view(self, ctx: RunContext) -> PointInTimeMarket:
        """The market as known at the run's as-of moment (one view per moment)."""
        if self._at is None or self._at.as_of != ctx.as_of:
            self._at = MarketAsOf(self._market, ctx.as_of)
        return self._at

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
        fundamentals = self._fundamental_rows(ctx, list(prices.columns))
        scores = factor_scores(prices, fundamentals=fundamentals)
        raw = raw_factors(prices, fundamentals)
        # The weights are learned point in time from a longer history (past windows that ended by the as-of).
        since = (pd.Timestamp(ctx.as_of.date()) - pd.Timedelta(days=history_calendar_days())).date()
        series = {}
        for symbol in prices.columns:
            try:
                bars = self._view(ctx).daily_bars(symbol, start=since)
            except NotFound:
                continue
            if not bars.empty:
                series[symbol] = adjusted_closes(bars)
        history = pd.DataFrame(series).sort_index().reindex(columns=prices.columns) if series else prices
        base = price_factor_weights(plan.factor_weights, scores.columns)
        signal = point_in_time_signal(history, base, ctx.request.investment_horizon.trading_days)
        composite = weighted_composite(scores, signal.weights.weights).dropna()
        if plan.mandate is not None and plan.mandate.positive_momentum:
            momentum = raw["momentum"].reindex(composite.index)
            laggards = [symbol for symbol in composite.index if not (momentum[symbol] > 0)]
            dropped |= {
                symbol: "12-1 momentum not positive (the template ranks momentum leaders only)" for symbol in laggards
            }
            composite = composite.drop(index=laggards)
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
            weights=signal.weights.weights,
            signal=signal.weights,
            weights_basis=signal.weights.basis(),
            calibration=signal.calibration,
            fundamentals=_fundamental_citations(fundamentals),
        )

    def _fundamental_rows(self, ctx: RunContext, symbols: list[str]) -> pd.DataFrame | None:
        """The latest fundamentals row of each symbol in the tables the requester may read, published by the
        as-of moment (``None`` without a fundamentals reader or rows)."""
        if self._fundamentals is None or not symbols:
            return None
        frame = self._fundamentals.fundamentals(reader=ctx.reader, symbols=symbols, as_of=ctx.as_of)
        return None if frame is None or frame.empty else frame

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
        bench_returns = self._benchmark_returns(ctx, plan.benchmark, symbol)
        metrics = risk_metrics(returns, bench_returns)
        technicals = technical_levels(close)
        horizon = request.investment_horizon.trading_days
        outcomes, fan, expected = horizon_scenarios(returns, horizon, _seed(symbol, end))
        last = float(close.iloc[-1])
        volatility = metrics.get("volatility")
        if not volatility or volatility <= 0.0:
            return None  # no spread to size the position or place its stop with
        shape = plan.mandate or mandate(request)
        levels = policy_levels(last, volatility, horizon, shape)
        sizing = self._sizing(request.amount, returns, volatility, levels, shape)
        weight = float(sizing["weight"] or 0.0)
        metrics["liquidity_days"] = _liquidity_days(frame, request.amount, weight, last)
        ranked = screen.ranked
        percentile = 1.0 - ranked.index(symbol) / max(len(ranked) - 1, 1) if symbol in ranked else 0.0
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
            fit=self._fit(ctx, returns, weight),
            risk_level=risk_level(volatility),
            confidence_inputs=confidence_inputs(screen, percentile, expected, len(returns)),
            confidence_basis=confidence_basis(screen, percentile),
            citations=self._citations(ctx, symbol, start, end, last, metrics, technicals),
            fundamentals_citation=screen.fundamentals.get(symbol) if _has_fundamentals(screen, symbol) else None,
        )
        commentary, use = write_commentary(ctx, analysis, plan.benchmark if bench_returns is not None else None)
        return analysis.model_copy(update={"commentary": commentary, "commentary_use": use})

    def _benchmark_returns(self, ctx: RunContext, benchmark: str | None, symbol: str) -> pd.Series | None:
        if not benchmark or benchmark == symbol:
            return None
        bench_close = self.closes(ctx, [benchmark])
        return None if bench_close.empty else simple_returns(bench_close[benchmark]).dropna()

    @staticmethod
    def _sizing(
        amount: float | None, returns: pd.Series, volatility: float, levels: dict[str, float], shape: Mandate
    ) -> dict[str, float | None]:
        """The position's weight: its risk budget over its volatility (a calmer stock gets more), capped by the
        profile's maximum weight and by a half-Kelly bet (halved when the Kelly bet is not positive). The book
        step later scales the ideas of one request together to fit the room the holdings leave."""
        risk_weight = portfolio.volatility_target_weight(volatility, shape.risk_budget, shape.max_weight)
        kelly = portfolio.kelly_fraction(float(returns.mean()), float(returns.var(ddof=1)), cap=shape.max_weight)
        weight = min(risk_weight, kelly) if kelly > 0 else risk_weight / 2
        stop_loss = 1.0 - levels["stop"] / levels["entry"]
        return {
            "weight": weight,
            "risk_budget": shape.risk_budget,
            "volatility_target_weight": risk_weight,
            "kelly_weight": kelly,
            "max_weight": shape.max_weight,
            "stop_loss": stop_loss,
            "notional": amount * weight if amount else None,
            "max_loss": (amount * weight * stop_loss) if amount else None,
        }

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


def risk_metrics(returns: pd.Series, bench_returns: pd.Series | None) -> dict[str, float | None]:
    """Performance and risk figures of daily ``returns`` (against the benchmark's when given), with one-day
    95% and 99% VaR and CVaR (historical, as positive losses)."""
    summary = performance.performance_summary(returns, bench_returns)
    assert isinstance(summary, dict)
    metrics: dict[str, float | None] = {key: _finite(value) for key, value in summary.items()}
    for level in (0.95, 0.99):
        suffix = f"{round(level * 100)}"
        metrics[f"var_{suffix}"] = _finite(risk.value_at_risk(returns, level))
        metrics[f"cvar_{suffix}"] = _finite(risk.conditional_value_at_risk(returns, level))
    return metrics


def technical_levels(close: pd.Series) -> dict[str, float | None]:
    return {
        "rsi_14": _finite(technical.rsi(close, 14).iloc[-1]),
        "sma_50": _finite(technical.sma(close, 50).iloc[-1]),
        "sma_200": _finite(technical.sma(close, 200).iloc[-1]),
        "trend_signal": _finite(technical.trend_signal(close).iloc[-1]),
        "distance_from_high": _finite(technical.distance_from_high(close).iloc[-1]),
        "momentum_12_1": _finite(technical.momentum_12_1(close).iloc[-1]),
    }


def horizon_scenarios(
    returns: pd.Series, horizon: int, seed: int
) -> tuple[dict[str, dict[str, float]], list[dict[str, float]], dict[str, float]]:
    """Bull/base/bear outcomes, the fan chart and the expected return over ``horizon`` trading days, from a
    seeded circular block bootstrap of the daily returns."""
    paths = scenarios.block_bootstrap_paths(
        returns.to_numpy(), horizon=horizon, paths=SCENARIO_PATHS, block=min(BOOTSTRAP_BLOCK, horizon), seed=seed
    )
    finals = scenarios.horizon_returns(paths)
    outcomes = {
        name: {key: float(outcome[key]) for key in ("probability", "min", "median", "max")}
        for name, outcome in scenarios.scenario_outcomes(finals).items()
    }
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
    return outcomes, fan, expected


def _liquidity_days(frame: pd.DataFrame, amount: float | None, weight: float, last: float) -> float | None:
    """Days to trade the position at a tenth of the average daily volume; ``None`` without an amount or with
    too little volume data (the compliance rule then says *not computed*)."""
    volume = pd.to_numeric(frame["volume"], errors="coerce").tail(ADV_WINDOW)
    adv = float(volume.mean()) if volume.notna().sum() >= ADV_WINDOW // 2 else math.nan
    if not amount or not math.isfinite(adv) or adv <= 0:
        return None
    return _finite(risk.liquidity_days(amount * weight / last, adv, LIQUIDITY_PARTICIPATION))


def _fundamental_citations(fundamentals: pd.DataFrame | None) -> dict[str, DocumentCitation]:
    """The table row behind each symbol's fundamental factors, as a document citation."""
    if fundamentals is None:
        return {}
    cited: dict[str, DocumentCitation] = {}
    for symbol, row in fundamentals.iterrows():
        try:
            cited[str(symbol)] = DocumentCitation(
                document_id=str(row["document_id"]),
                version=int(row["version"]),
                table=None if pd.isna(row.get("table")) else str(row["table"]),
                row=None if pd.isna(row.get("row")) else int(row["row"]),
            )
        except (KeyError, TypeError, ValueError):
            continue
    return cited


def confidence_inputs(
    screen: Screen, percentile: float, expected: dict[str, float], observations: int
) -> dict[str, float]:
    """What confidence is made of: the measured probability that a name at this composite percentile gained
    over the horizon (``calibrated_probability``, from past windows that had ended by the as-of moment) when
    the screen has a calibration, and the inputs of the heuristic used without one."""
    inputs = {
        "composite_percentile": percentile,
        "probability_of_gain": expected["probability_of_gain"],
        "history_share": min(1.0, observations / (252 * 3)),
    }
    if screen.calibration is not None and screen.calibration.formation_dates:
        inputs["calibrated_probability"] = screen.calibration.gain_probability(percentile)
    return inputs


def confidence_basis(screen: Screen, percentile: float) -> str:
    if screen.calibration is not None and screen.calibration.formation_dates:
        return screen.calibration.gain_basis(percentile)
    return (
        "no past forward window to measure against: a heuristic of the composite percentile, the bootstrap "
        "probability of gain and the history available"
    )


def _has_fundamentals(screen: Screen, symbol: str) -> bool:
    factors = screen.factors.get(symbol, {})
    return symbol in screen.fundamentals and any(factors.get(name) is not None for name in FUNDAMENTAL_FACTORS)
