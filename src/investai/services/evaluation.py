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
* 95% bootstrap intervals over dates for each mean.
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

from investai.analytics.evaluation import spearman_ic, summarise
from investai.analytics.factors import momentum as momentum_factor
from investai.analytics.returns import adjusted_closes
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


@dataclass
class EvaluationReport:
    settings: dict[str, Any]
    periods: pd.DataFrame
    summary: dict[str, dict[str, float]]
    picks: dict[str, list[str]] = field(default_factory=dict)

    def markdown(self, chart: str | None = None) -> str:
        s = self.summary
        lines = [
            "# Walk-forward evaluation of the idea generator",
            "",
            f"Command: `{self.settings['command']}`",
            "",
            f"{len(self.periods)} rebalance dates from {self.settings['first']} to {self.settings['last']} "
            f"({self.settings['freq']}), {self.settings['max_ideas']} ideas each, held {self.settings['horizon']} "
            f"({self.settings['horizon_days']} trading days), risk tolerance {self.settings['risk']}, universe of "
            f"{self.settings['universe']} symbols. Models: {self.settings['models']}. Intervals: 95% percentile "
            "bootstrap over dates"
            + (
                " (holding periods overlap, so they are narrower than they should be)."
                if self.settings["overlap"]
                else "."
            ),
            "",
            "| measure | value | 95% interval |",
            "|---|---:|---|",
            _row("hit rate (ideas with a positive return)", s["hit_rate"], percent=True),
            _row("information coefficient (Spearman, mean over dates)", s["ic"]),
            f"| IC t-statistic | {s['ic_t_stat']['value']:.2f} | |",
            _row("ideas' mean return per period", s["ideas_return"], percent=True),
        ]
        for name, label in (("equal_weight", "equal weight"), ("momentum", "12-1 momentum"), ("random", "random")):
            lines.append(_row(f"{label} baseline return per period", s[f"{name}_return"], percent=True))
            lines.append(_row(f"excess return vs {label}", s[f"excess_vs_{name}"], percent=True))
        if chart:
            lines += ["", f"![cumulative excess returns]({chart})"]
        return "\n".join(lines) + "\n"

    def chart(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(9, 4.5), dpi=110)
        for name, label in (
            ("equal_weight", "vs equal weight"),
            ("momentum", "vs 12-1 momentum"),
            ("random", "vs random"),
        ):
            excess = (self.periods["ideas"] - self.periods[f"baseline_{name}"]).fillna(0.0).cumsum()
            axis.plot(self.periods.index, excess * 100, label=label)
        axis.axhline(0.0, color="grey", linewidth=0.8)
        axis.set_ylabel("cumulative sum of period excess returns, %")
        axis.set_title("Ideas against baselines, walk-forward")
        axis.legend()
        figure.tight_layout()
        figure.savefig(path)
        plt.close(figure)


def _row(label: str, figures: dict[str, float], *, percent: bool = False) -> str:
    def fmt(value: float) -> str:
        if not math.isfinite(value):
            return "n/a"
        return f"{value:.1%}" if percent else f"{value:.3f}"

    return f"| {label} | {fmt(figures['value'])} | {fmt(figures['low'])} to {fmt(figures['high'])} |"


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
        picks: dict[str, list[str]] = {}
        prices = closes[universe]
        for index, moment in enumerate(dates):
            day = moment.date()
            exit_moment = calendar[positions[moment] + days]
            forward = (prices.loc[exit_moment] / prices.loc[moment] - 1.0).dropna()
            result = self._generator.generate(
                IdeaRequest(
                    as_of=day,
                    max_ideas=max_ideas,
                    risk_tolerance=risk,
                    investment_horizon=REQUEST_HORIZON[horizon],
                    research_depth=ResearchDepth.QUICK,
                    min_confidence=0.0,
                ),
                request_id=f"eval-{day.isoformat()}",
                reader=reader,
            )
            chosen = [idea.instruments[0].symbol for idea in result.ideas]
            picks[day.isoformat()] = chosen
            realised = forward.reindex(chosen).dropna()
            available = forward.index.intersection(prices.loc[:moment].iloc[-1].dropna().index)
            history = prices.loc[:moment, available]
            top_momentum = momentum_factor(history).dropna().sort_values(ascending=False).index[:max_ideas]
            rng = np.random.default_rng(int(day.strftime("%Y%m%d")))  # a fixed draw per date
            random_pick = rng.choice(np.asarray(available), size=min(max_ideas, len(available)), replace=False)
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
        interval_days = {"weekly": 5, "monthly": 21, "quarterly": 63}[freq]
        return EvaluationReport(
            settings={
                "command": command,
                "first": dates[0].date().isoformat() if dates else "-",
                "last": dates[-1].date().isoformat() if dates else "-",
                "freq": freq,
                "horizon": horizon,
                "horizon_days": days,
                "max_ideas": max_ideas,
                "risk": risk.value,
                "universe": len(universe),
                "models": models,
                "overlap": days > interval_days,
            },
            periods=periods,
            summary=summarise(periods) if rows else {},
            picks=picks,
        )


def write_report(report: EvaluationReport, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    chart = directory / "evaluation.png"
    report.chart(chart)
    markdown = directory / "evaluation.md"
    markdown.write_text(report.markdown(chart.name), encoding="utf-8")
    report.periods.to_csv(directory / "evaluation_periods.csv")
    return markdown, chart
