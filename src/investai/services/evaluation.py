"""Walk-forward evaluation of the idea generator over history.

At each rebalance date ``d`` (the last trading day of each month, or quarter, or week, of the benchmark's
calendar) the generator runs as of the end of ``d`` exactly as a user's request would, seeing only data
available then. Its ideas are then held for the horizon (``h`` trading days) and scored on the realised
adjusted closes from ``d`` to ``d + h``:

* hit rate: the share of ideas whose return was positive;
* information coefficient: Spearman correlation of the generator's screen scores with the realised returns of
  every screened symbol, averaged over dates, with its t-statistic;
* excess return of the equal-weighted ideas over three baselines picked the same day from the same universe:
  equal weight of every symbol, the top ``n`` by plain 12-1 momentum, and ``n`` symbols drawn at random (a
  seeded draw per date);
* each mean with a Newey-West (HAC) standard error whose lag is the number of overlapping holding periods minus
  one (3-month holding rebalanced monthly: 2 lags), its t-statistic and ``mean +- 1.96 se`` interval, and the
  same mean from non-overlapping periods only (every third one) as a cross-check;
* a reliability table of the screen's calibrated probabilities: at each date every screened symbol's composite
  percentile is mapped to the probability of beating the equal-weighted universe that the calibration available
  that day measured (:func:`investai.analytics.signal.point_in_time_signal`, from windows that had ended by
  then), bucketed against how often it happened over the evaluation horizon, with the Brier score;
* a second reliability table for the probability an idea's confidence states, that the symbol's return over the
  horizon is positive (the same calibration's gain probability), with the Brier scores of a constant at the
  realised base rate and of the pooled past gain frequency alone, and the same figures for the ideas picked.

The walk-forward computes that calibration (and the learned weights it reports per date) with the same function
and the same closes the screen uses, for the universe the screen ranked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from investai.analytics import signal as signal_module
from investai.analytics.evaluation import overlap_lags, reliability_table, spearman_ic, summarise
from investai.analytics.factors import PRICE_FACTORS, factor_weights
from investai.analytics.factors import momentum as momentum_factor
from investai.analytics.returns import adjusted_closes
from investai.analytics.signal import (
    composite_percentiles,
    history_calendar_days,
    point_in_time_signal,
    price_factor_weights,
)
from investai.domain.errors import ValidationFailed
from investai.domain.idea_parts import TimeHorizon
from investai.domain.idea_request import IdeaRequest, ResearchDepth
from investai.domain.knowledge import AccessScope
from investai.domain.market import AssetClass
from investai.domain.users import RiskTolerance
from investai.ports.ideas import IdeaGenerator
from investai.ports.research import MarketReader

HORIZONS = {"1m": 21, "3m": 63, "6m": 126, "12m": 252}
REQUEST_HORIZON = {
    "1m": TimeHorizon.SHORT,
    "3m": TimeHorizon.SHORT,
    "6m": TimeHorizon.MEDIUM,
    "12m": TimeHorizon.MEDIUM,
}
FREQUENCIES = {"weekly": "W", "monthly": "M", "quarterly": "Q"}
INTERVAL_DAYS = {"weekly": 5, "monthly": 21, "quarterly": 63}
"""Trading days between rebalance dates, for the Newey-West lag."""
RELIABILITY_EDGES = (0.0, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 1.0)


BASELINES = (("equal_weight", "equal weight"), ("momentum", "12-1 momentum"), ("random", "random"))
TARGET_T = 2.0
"""The IC t-statistic (Newey-West) the track record is held to."""
PREDICTION_COLUMNS = [
    "date",
    "symbol",
    "percentile",
    "predicted",
    "outcome",
    "gain_predicted",
    "gain_prior",
    "gain_outcome",
    "picked",
    "confidence",
]
"""Per screened symbol and date: its composite percentile; the calibrated probability of beating the
equal-weighted universe and whether it did; the calibrated probability of a positive return, the pooled past
gain frequency (the calibration's prior) and whether the return was positive; whether it was picked as an idea
and the confidence the idea showed (NaN when not picked)."""


@dataclass
class EvaluationReport:
    settings: dict[str, Any]
    periods: pd.DataFrame
    summary: dict[str, dict[str, float]]
    picks: dict[str, list[str]] = field(default_factory=dict)
    predictions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PREDICTION_COLUMNS))
    latest_calibration: list[dict[str, Any]] = field(default_factory=list)

    def reliability(self) -> tuple[pd.DataFrame, float]:
        """Predicted probability (bucketed) against the realised frequency, and the Brier score."""
        return reliability_table(self.predictions["predicted"], self.predictions["outcome"], RELIABILITY_EDGES)

    def gain_reliability(self, *, picked_only: bool = False) -> tuple[pd.DataFrame, float]:
        """The gain probability (bucketed) against the realised share of positive returns, and the Brier score,
        over every screened symbol-date or only the ideas picked."""
        rows = self._gain_rows(picked_only=picked_only)
        return reliability_table(rows["gain_predicted"], rows["gain_outcome"], RELIABILITY_EDGES)

    def _gain_rows(self, *, picked_only: bool = False) -> pd.DataFrame:
        if "gain_predicted" not in self.predictions.columns:
            return pd.DataFrame(columns=PREDICTION_COLUMNS)
        rows = self.predictions.dropna(subset=["gain_predicted", "gain_outcome"])
        return rows[rows["picked"].astype(bool)] if picked_only else rows

    def target(self) -> tuple[bool, list[str]]:
        """Whether the IC is positive with a Newey-West t above 2 and no excess return is significantly
        negative (its interval lies wholly below zero); the reasons it is not met."""
        s = self.summary
        reasons = []
        t = s["ic"]["t"]
        if not (s["ic"]["value"] > 0 and t > TARGET_T):
            reasons.append(f"IC {s['ic']['value']:.3f} with t = {t:.2f} (not above {TARGET_T:.0f})")
        for name, label in BASELINES:
            high = s[f"excess_vs_{name}"]["high"]
            if high < 0:
                reasons.append(f"excess vs {label} significantly below zero (interval up to {high:.1%})")
        return not reasons, reasons

    def markdown(self, chart: str | None = None) -> str:
        s = self.summary
        st = self.settings
        lags = st["lags"]
        lines = [
            "# Walk-forward evaluation of the idea generator",
            "",
            f"Command: `{st['command']}`",
            "",
            f"{len(self.periods)} rebalance dates from {st['first']} to {st['last']} ({st['freq']}), "
            f"{st['max_ideas']} ideas each, held {st['horizon']} ({st['horizon_days']} trading days), risk tolerance "
            f"{st['risk']}, universe of {st['universe']} symbols. Models: {st['models']}.",
            "",
            "Inference: "
            + (
                f"the holding periods overlap ({st['horizon_days']}-day holding, rebalanced every "
                f"{st['interval_days']} trading days), so each mean has a Newey-West (HAC, Bartlett) standard error "
                f"with {lags} lag{'s' if lags != 1 else ''}; the interval is mean +- 1.96 se and t = mean / se. "
                "Cross-check: the same mean over non-overlapping periods only "
                f"(every {_ordinal(lags + 1)} date from the first) with an i.i.d. standard error. No bootstrap is used."
                if lags
                else "the holding periods do not overlap; each mean has an i.i.d. standard error (Newey-West with 0 "
                "lags); the interval is mean +- 1.96 se and t = mean / se."
            ),
            "",
            f"| measure | value | 95% interval (Newey-West) | t | non-overlapping (every {_ordinal(lags + 1)} date) |",
            "|---|---:|---|---:|---|",
            _row("hit rate (ideas with a positive return)", s["hit_rate"], percent=True, t=False),
            _row("information coefficient (Spearman, mean over dates)", s["ic"]),
            _row("ideas' mean return per period", s["ideas_return"], percent=True),
        ]
        for name, label in BASELINES:
            lines.append(_row(f"{label} baseline return per period", s[f"{name}_return"], percent=True))
            lines.append(_row(f"excess return vs {label}", s[f"excess_vs_{name}"], percent=True))
        met, reasons = self.target()
        lines += [
            "",
            "Target (IC > 0 with Newey-West t > 2, and ideas' returns not significantly below any baseline): "
            + ("**met**." if met else "**not met**: " + "; ".join(reasons) + "."),
        ]
        lines += self._signal_lines()
        lines += self._reliability_lines()
        if chart:
            lines += ["", f"![cumulative excess returns and reliability]({chart})"]
        return "\n".join(lines) + "\n"

    def _signal_lines(self) -> list[str]:
        weights = self.periods[[c for c in self.periods.columns if c.startswith("w_")]]
        if weights.empty:
            return []
        st = self.settings
        lines = [
            "",
            "## Ranking signal",
            "",
            "The screen ranks on factor weights learned at each date from the past only "
            "(`investai.analytics.signal`): the mean Spearman IC of each price factor over formation dates every "
            f"{st['signal_step']} trading days whose {st['signal_horizon_days']}-day forward windows had ended by the "
            f"date (up to {st['signal_lookback_days']} trading days back), floored at zero, times the profile's base "
            "weight, normalised, and shrunk towards the base weights with a learned share "
            f"n / (n + {st['signal_prior']:g}), n the non-overlapping windows behind the mean.",
            "",
            "| factor | base weight | learned weight: mean over dates | min | max | last date |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for column in weights.columns:
            name = column.removeprefix("w_")
            series = weights[column]
            lines.append(
                f"| {name} | {st['base_weights'].get(name, 0.0):.2f} | {series.mean():.2f} | {series.min():.2f} | "
                f"{series.max():.2f} | {series.iloc[-1]:.2f} |"
            )
        share = self.periods["learned_share"]
        windows = self.periods["signal_windows"]
        lines += [
            "",
            f"Learned share {share.min():.0%} to {share.max():.0%} (mean {share.mean():.0%}); the weights rested on "
            f"{windows.min():.0f} to {windows.max():.0f} non-overlapping windows.",
        ]
        return lines

    def _reliability_lines(self) -> list[str]:
        if self.predictions.empty:
            return []
        st = self.settings
        table, brier = self.reliability()
        outcome = self.predictions["outcome"].astype(float)
        climatology = float(((0.5 - outcome) ** 2).mean())
        base_rate = float(outcome.mean())
        lines = [
            "",
            "## Calibrated confidence: reliability",
            "",
            "Event: a screened symbol's return over the holding period beats the equal-weighted mean of the "
            "screened universe. At each date every screened symbol's composite percentile is mapped to the "
            f"probability the calibration available that day measured ({st['calibration_buckets']} percentile "
            f"buckets, formation dates every {st['signal_step']} trading days over up to "
            f"{st['calibration_days']} trading days whose {st['signal_horizon_days']}-day windows had ended, "
            f"Beta prior of {st['calibration_prior']:g} effective observations on the pooled frequency); out of "
            "sample, since no window after the date is used.",
            "",
            "| predicted probability | symbol-dates | mean predicted | realised frequency |",
            "|---|---:|---:|---:|",
        ]
        lines += _table_rows(table)
        lines += [
            "",
            f"Brier score {brier:.4f} over {len(self.predictions)} symbol-dates (a constant 50% scores "
            f"{climatology:.4f}, a constant at the realised base rate of {base_rate:.1%} "
            f"{_constant_brier(outcome):.4f}; lower is better).",
        ]
        lines += self._gain_lines()
        if self.latest_calibration:
            lines += [
                "",
                f"Calibration as of {st['last']} (the table a request that day used):",
                "",
                "| composite percentile | symbol-dates | effective | beat the universe | probability | gained | "
                "gain probability |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for item in self.latest_calibration:
                lines.append(
                    f"| {item['low']:.0%} to {item['high']:.0%} | {item['observations']} | {item['effective']:.0f} | "
                    f"{_percent(item['frequency'])} | {item['probability']:.1%} | "
                    f"{_percent(item.get('gain_frequency'))} | {_percent(item.get('gain_probability'))} |"
                )
        return lines

    def _gain_lines(self) -> list[str]:
        rows = self._gain_rows()
        if rows.empty:
            return []
        table, brier = self.gain_reliability()
        outcome = rows["gain_outcome"].astype(float)
        prior = rows["gain_prior"].astype(float)
        prior_brier = float(((prior - outcome) ** 2).mean())
        lines = [
            "",
            "## Confidence shown on ideas: probability of a positive return",
            "",
            "Event: a screened symbol's return over the holding period is positive (a long position made money). "
            "The same calibration counts it over the same past symbol-dates (gain probability: the same buckets, "
            "effective counts and Beta prior, centred on the pooled past gain frequency); out of sample as above.",
            "",
            "| predicted probability | symbol-dates | mean predicted | realised frequency |",
            "|---|---:|---:|---:|",
        ]
        lines += _table_rows(table)
        lines += [
            "",
            f"Brier score {brier:.4f} over {len(rows)} symbol-dates; a constant at the realised base rate of "
            f"{outcome.mean():.1%} (known only in hindsight) scores {_constant_brier(outcome):.4f}, and the pooled "
            f"past gain frequency alone (the prior each date had, mean {prior.mean():.1%}) {prior_brier:.4f}; "
            "lower is better.",
        ]
        picked = self._gain_rows(picked_only=True)
        if picked.empty:
            return lines
        picked_table, picked_brier = self.gain_reliability(picked_only=True)
        gained = picked["gain_outcome"].astype(float)
        shown = picked["confidence"].astype(float)
        lines += [
            "",
            f"The ideas picked ({len(picked)} idea-dates): mean predicted gain probability "
            f"{picked['gain_predicted'].mean():.1%}, realised hit rate {gained.mean():.1%} (Brier {picked_brier:.4f}; "
            f"a constant at their realised hit rate scores {_constant_brier(gained):.4f})"
            + (f"; mean confidence shown on the ideas {shown.mean():.1%}." if shown.notna().any() else "."),
            "",
            "| ideas' predicted gain probability | idea-dates | mean predicted | gained |",
            "|---|---:|---:|---:|",
        ]
        lines += _table_rows(picked_table)
        return lines

    def chart(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, (axis, right) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=110, gridspec_kw={"width_ratios": [2, 1]})
        for name, label in BASELINES:
            excess = (self.periods["ideas"] - self.periods[f"baseline_{name}"]).fillna(0.0).cumsum()
            axis.plot(self.periods.index, excess * 100, label=f"vs {label}")
        axis.axhline(0.0, color="grey", linewidth=0.8)
        axis.set_ylabel("cumulative sum of period excess returns, %")
        axis.set_title("Ideas against baselines, walk-forward")
        axis.legend()
        right.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--")
        if not self.predictions.empty:
            table, brier = self.reliability()
            right.scatter(
                table["predicted"], table["realised"], s=10 + table["count"] / 20, label=f"beat universe ({brier:.3f})"
            )
            if not self._gain_rows().empty:
                gain_table, gain_brier = self.gain_reliability()
                right.scatter(
                    gain_table["predicted"],
                    gain_table["realised"],
                    s=10 + gain_table["count"] / 20,
                    marker="s",
                    label=f"positive return ({gain_brier:.3f})",
                )
            right.legend(title="event (Brier)", loc="upper left", fontsize="small")
            right.set_title("Reliability of the calibrated probabilities")
        right.set_xlim(0.2, 0.8)
        right.set_ylim(0.2, 0.8)
        right.set_xlabel("predicted probability")
        right.set_ylabel("realised frequency")
        figure.tight_layout()
        figure.savefig(path)
        plt.close(figure)


def _percent(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1%}"


def _constant_brier(outcome: pd.Series) -> float:
    """Brier score of a constant forecast at the realised frequency (the base rate, known only in hindsight)."""
    values = outcome.astype(float)
    return float(((values.mean() - values) ** 2).mean()) if len(values) else math.nan


def _table_rows(table: pd.DataFrame) -> list[str]:
    return [
        f"| {row.low:.2f} to {row.high:.2f} | {row.count} | {row.predicted:.1%} | {row.realised:.1%} |"
        for row in table.itertuples()
    ]


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _row(label: str, figures: dict[str, float], *, percent: bool = False, t: bool = True) -> str:
    def fmt(value: float) -> str:
        if not math.isfinite(value):
            return "n/a"
        return f"{value:.1%}" if percent else f"{value:.3f}"

    tstat = f"{figures['t']:.2f}" if t and math.isfinite(figures["t"]) else ""
    sparse = (
        f"{fmt(figures['nonoverlap_value'])} ({fmt(figures['nonoverlap_low'])} to "
        f"{fmt(figures['nonoverlap_high'])}, n = {figures['nonoverlap_periods']:.0f})"
    )
    return (
        f"| {label} | {fmt(figures['value'])} | {fmt(figures['low'])} to {fmt(figures['high'])} | {tstat} | {sparse} |"
    )


class WalkForward:
    def __init__(self, *, generator: IdeaGenerator, market: MarketReader) -> None:
        self._generator = generator
        self._market = market

    def _closes(self, symbols: list[str]) -> pd.DataFrame:
        series = {}
        for symbol in symbols:
            frame = self._market.bar_frame(symbol)
            if frame.empty:
                continue
            series[symbol] = adjusted_closes(frame)
        return pd.DataFrame(series).sort_index()

    def run(
        self,
        *,
        start: date,
        end: date,
        freq: str = "monthly",
        horizon: str = "3m",
        max_ideas: int = 5,
        risk: RiskTolerance = RiskTolerance.MODERATE,
        reader: AccessScope,
        command: str = "investai evaluate",
        models: str = "offline",
        on_period: Callable[[int, int, date], None] = lambda done, total, day: None,
    ) -> EvaluationReport:
        if horizon not in HORIZONS or freq not in FREQUENCIES:
            raise ValidationFailed(f"horizon is one of {sorted(HORIZONS)}, freq one of {sorted(FREQUENCIES)}")
        if start >= end:
            raise ValidationFailed("start must come before end")
        days = HORIZONS[horizon]
        master = self._market.symbols(asset_class=AssetClass.EQUITY, limit=5000)
        universe = [info.symbol for info in master]
        benchmarks = [info.benchmark for info in master]
        calendar_symbol = max(set(b for b in benchmarks if b), key=benchmarks.count, default=universe[0])
        closes = self._closes(sorted(set(universe) | {calendar_symbol}))
        calendar = closes[calendar_symbol].dropna().index
        in_range = calendar[(calendar >= pd.Timestamp(start)) & (calendar <= pd.Timestamp(end))]
        rebalance = pd.Series(in_range, index=in_range).groupby(in_range.to_period(FREQUENCIES[freq])).max()
        positions = {moment: calendar.get_loc(moment) for moment in rebalance}
        dates = [moment for moment, at in positions.items() if at + days < len(calendar)]
        rows = []
        predictions: list[pd.DataFrame] = []
        latest: list[dict[str, Any]] = []
        picks: dict[str, list[str]] = {}
        prices = closes[universe]
        request_horizon = REQUEST_HORIZON[horizon]
        signal_days = request_horizon.trading_days
        base = price_factor_weights(factor_weights(request_horizon.value, risk.value), PRICE_FACTORS)
        history_span = pd.Timedelta(days=history_calendar_days())
        for index, moment in enumerate(dates):
            day = moment.date()
            exit_moment = calendar[positions[moment] + days]
            forward = (prices.loc[exit_moment] / prices.loc[moment] - 1.0).dropna()
            result = self._generator.generate(
                IdeaRequest(
                    as_of=day,
                    max_ideas=max_ideas,
                    risk_tolerance=risk,
                    investment_horizon=request_horizon,
                    research_depth=ResearchDepth.QUICK,
                    min_confidence=0.0,
                ),
                request_id=f"eval-{day.isoformat()}",
                reader=reader,
            )
            chosen = [idea.instruments[0].symbol for idea in result.ideas]
            shown = {idea.instruments[0].symbol: float(idea.confidence) for idea in result.ideas}
            picks[day.isoformat()] = chosen
            realised = forward.reindex(chosen).dropna()
            available = forward.index.intersection(prices.loc[:moment].iloc[-1].dropna().index)
            history = prices.loc[:moment, available]
            top_momentum = momentum_factor(history).dropna().sort_values(ascending=False).index[:max_ideas]
            rng = np.random.default_rng(int(day.strftime("%Y%m%d")))  # a fixed draw per date
            random_pick = rng.choice(np.asarray(available), size=min(max_ideas, len(available)), replace=False)
            # The calibration and weights the screen had that day: same function, same closes, same universe.
            screened = sorted(symbol for symbol in result.scores if symbol in prices.columns)  # as planned
            signal = point_in_time_signal(
                prices.loc[moment - history_span : moment, screened].dropna(how="all"), base, signal_days
            )
            percentile = composite_percentiles(pd.Series(result.scores, dtype=np.float64))
            outcome_returns = forward.reindex(percentile.index).dropna()
            if len(outcome_returns):
                beat = (outcome_returns > outcome_returns.mean()).astype(float)
                at = percentile.reindex(beat.index)
                calibration = signal.calibration
                predictions.append(
                    pd.DataFrame(
                        {
                            "date": moment,
                            "symbol": beat.index,
                            "percentile": at.to_numpy(),
                            "predicted": [calibration.probability(p) for p in at],
                            "outcome": beat.to_numpy(),
                            "gain_predicted": [calibration.gain_probability(p) for p in at],
                            "gain_prior": calibration.gain_prior_mean,
                            "gain_outcome": (outcome_returns > 0.0).astype(float).to_numpy(),
                            "picked": [symbol in shown for symbol in beat.index],
                            "confidence": [shown.get(symbol, math.nan) for symbol in beat.index],
                        },
                        columns=PREDICTION_COLUMNS,
                    )
                )
            latest = [item.model_dump() for item in signal.calibration.buckets]
            rows.append(
                {
                    "date": moment,
                    "ideas": float(realised.mean()) if len(realised) else math.nan,
                    "hit_rate": float((realised > 0).mean()) if len(realised) else math.nan,
                    "ic": spearman_ic(pd.Series(result.scores), forward),
                    "baseline_equal_weight": float(forward.reindex(available).mean()),
                    "baseline_momentum": float(forward.reindex(top_momentum).mean()) if len(top_momentum) else math.nan,
                    "baseline_random": float(forward.reindex(random_pick).mean()),
                    "count": len(realised),
                    **{f"w_{name}": signal.weights.weights.get(name, math.nan) for name in base},
                    "learned_share": signal.weights.learned_share,
                    "signal_windows": signal.weights.windows,
                }
            )
            on_period(index + 1, len(dates), day)
        periods = (
            pd.DataFrame(rows).set_index("date")
            if rows
            else pd.DataFrame(
                columns=["ideas", "hit_rate", "ic", "baseline_equal_weight", "baseline_momentum", "baseline_random"]
            )
        )
        interval_days = INTERVAL_DAYS[freq]
        lags = overlap_lags(days, interval_days)
        return EvaluationReport(
            settings={
                "command": command,
                "first": dates[0].date().isoformat() if dates else "-",
                "last": dates[-1].date().isoformat() if dates else "-",
                "freq": freq,
                "horizon": horizon,
                "horizon_days": days,
                "interval_days": interval_days,
                "lags": lags,
                "max_ideas": max_ideas,
                "risk": risk.value,
                "universe": len(universe),
                "models": models,
                "overlap": days > interval_days,
                "base_weights": base,
                "signal_horizon_days": signal_days,
                "signal_step": signal_module.STEP,
                "signal_lookback_days": signal_module.LOOKBACK_DAYS,
                "signal_prior": signal_module.PRIOR_WINDOWS,
                "calibration_days": signal_module.CALIBRATION_DAYS,
                "calibration_buckets": signal_module.BUCKETS,
                "calibration_prior": signal_module.CALIBRATION_PRIOR,
            },
            periods=periods,
            summary=summarise(periods, lags=lags) if rows else {},
            picks=picks,
            predictions=(
                pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(columns=PREDICTION_COLUMNS)
            ),
            latest_calibration=latest,
        )


def write_report(report: EvaluationReport, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    chart = directory / "evaluation.png"
    report.chart(chart)
    markdown = directory / "evaluation.md"
    markdown.write_text(report.markdown(chart.name), encoding="utf-8")
    report.periods.to_csv(directory / "evaluation_periods.csv")
    report.predictions.to_csv(directory / "evaluation_predictions.csv", index=False)
    return markdown, chart
