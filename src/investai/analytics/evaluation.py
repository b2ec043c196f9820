"""Track-record statistics of a walk-forward evaluation: hit rate, information coefficient, excess returns
against baselines, with bootstrap confidence intervals.

Inputs are per rebalance date (a period): the ideas' realised forward returns, the generator's scores and the
realised forward returns of every screened symbol, and the baselines' period returns. All returns are simple
returns over the evaluation horizon, as fractions. Periods are the resampling unit of the bootstrap (they may
overlap when the horizon is longer than the rebalance interval; the intervals are then too narrow, which the
report states).

NaN policy: symbols without a realised return are dropped from their period; a period left with fewer than
three scored symbols has no IC; statistics over no period are NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

FloatArray = npt.NDArray[np.float64]
MIN_IC_SYMBOLS = 3


def spearman_ic(scores: pd.Series, forward: pd.Series) -> float:
    """Spearman rank correlation of scores with realised forward returns (NaN pairs dropped); NaN with fewer
    than three pairs or when either side is constant."""
    paired = pd.concat([scores.rename("s"), forward.rename("r")], axis=1, join="inner").dropna()
    if len(paired) < MIN_IC_SYMBOLS or paired["s"].nunique() < 2 or paired["r"].nunique() < 2:
        return math.nan
    return float(stats.spearmanr(paired["s"], paired["r"]).statistic)


def t_statistic(values: Sequence[float] | FloatArray) -> float:
    """``mean / (std / sqrt(n))`` of the finite values (ddof=1); NaN below two values or with zero spread."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size < 2:
        return math.nan
    spread = float(array.std(ddof=1))
    return math.nan if spread == 0.0 else float(array.mean() / (spread / math.sqrt(array.size)))


def bootstrap_interval(
    values: Sequence[float] | FloatArray,
    statistic: Callable[[FloatArray], float] | None = None,
    *,
    level: float = 0.95,
    draws: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` (default: the mean) over the finite values, resampled with
    replacement ``draws`` times from a seeded generator."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    samples = array[rng.integers(0, array.size, size=(draws, array.size))]
    estimates = samples.mean(axis=1) if statistic is None else np.array([statistic(row) for row in samples])
    tail = (1.0 - level) / 2.0
    return float(np.quantile(estimates, tail)), float(np.quantile(estimates, 1.0 - tail))


def summarise(
    periods: pd.DataFrame,
    *,
    level: float = 0.95,
    draws: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """The report's figures from a per-period frame.

    ``periods`` has one row per rebalance date and the columns ``ideas`` (the equal-weighted ideas' return),
    ``hit_rate`` (share of ideas that gained), ``ic`` (Spearman IC of the scores), and one column per baseline
    named ``baseline_<name>``. Returns ``{name: {"value", "low", "high"}}`` for ``hit_rate``, ``ic`` (plus
    ``ic_t_stat``), ``ideas_return`` and ``excess_vs_<name>`` (mean per period, with bootstrap intervals).
    """
    out: dict[str, dict[str, float]] = {}

    def entry(name: str, values: pd.Series) -> None:
        clean = values.to_numpy(dtype=np.float64)
        clean = clean[np.isfinite(clean)]
        low, high = bootstrap_interval(clean, level=level, draws=draws, seed=seed)
        out[name] = {
            "value": float(clean.mean()) if clean.size else math.nan,
            "low": low,
            "high": high,
            "periods": float(clean.size),
        }

    entry("hit_rate", periods["hit_rate"])
    entry("ic", periods["ic"])
    out["ic_t_stat"] = {
        "value": t_statistic(periods["ic"].to_numpy(dtype=np.float64)),
        "low": math.nan,
        "high": math.nan,
        "periods": float(periods["ic"].notna().sum()),
    }
    entry("ideas_return", periods["ideas"])
    for column in periods.columns:
        if column.startswith("baseline_"):
            name = column.removeprefix("baseline_")
            entry(f"{name}_return", periods[column])
            entry(f"excess_vs_{name}", periods["ideas"] - periods[column])
    return out
