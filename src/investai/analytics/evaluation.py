"""Track-record statistics of a walk-forward evaluation: hit rate, information coefficient, excess returns
against baselines, with intervals that respect overlapping holding periods, and the reliability of calibrated
probabilities.

Inputs are per rebalance date (a period): the ideas' realised forward returns, the generator's scores and the
realised forward returns of every screened symbol, and the baselines' period returns. All returns are simple
returns over the evaluation horizon, as fractions.

Overlap: when the holding period is ``k`` rebalance intervals long (3-month holding, monthly rebalancing:
``k = 3``), consecutive period returns share ``k - 1`` intervals of prices, so they are autocorrelated up to
lag ``k - 1`` and an i.i.d. standard error is too small. Means are therefore given with Newey-West (HAC,
Bartlett kernel) standard errors with ``lags = k - 1`` (:func:`overlap_lags`, :func:`newey_west_se`), the
estimator of statsmodels' ``OLS(y, ones).fit(cov_type="HAC", cov_kwds={"maxlags": lags})`` without small-sample
correction; intervals are ``mean +- z * se`` (normal approximation). As a cross-check each mean is also
estimated from non-overlapping periods only (every ``k``-th period, starting with the first) with an i.i.d.
standard error. :func:`bootstrap_interval` is an i.i.d. percentile bootstrap kept for independent samples; the
report does not use it.

NaN policy: symbols without a realised return are dropped from their period; a period left with fewer than
three scored symbols has no IC; statistics over no period are NaN. Newey-West runs over the finite values in
date order (a missing period is skipped, not imputed).
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


def overlap_lags(horizon_days: int, interval_days: int) -> int:
    """Newey-West lags for holding periods of ``horizon_days`` trading days rebalanced every ``interval_days``:
    the number of holding periods that overlap minus one, ``ceil(horizon / interval) - 1`` (63-day holding,
    21-day rebalancing: 2; no overlap: 0)."""
    if horizon_days < 1 or interval_days < 1:
        raise ValueError("horizon_days and interval_days must be positive")
    return max(0, math.ceil(horizon_days / interval_days) - 1)


def newey_west_se(values: Sequence[float] | FloatArray, lags: int) -> float:
    """Newey-West (HAC) standard error of the mean of the finite values, in date order.

    ``sqrt((g0 + 2 * sum_{l=1..L} (1 - l / (L + 1)) * g_l) / n)`` with the autocovariances
    ``g_l = sum_t (x_t - m)(x_{t-l} - m) / n`` (Bartlett kernel, no small-sample correction): statsmodels'
    ``OLS(x, ones).fit(cov_type="HAC", cov_kwds={"maxlags": L}).bse[0]``. ``lags=0`` is the i.i.d. standard
    error with ``ddof=0``. NaN below two values; lags beyond ``n - 1`` are truncated.
    """
    if lags < 0:
        raise ValueError("lags must be non-negative")
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    n = array.size
    if n < 2:
        return math.nan
    errors = array - array.mean()
    long_run = float(errors @ errors) / n
    for lag in range(1, min(lags, n - 1) + 1):
        long_run += 2.0 * (1.0 - lag / (lags + 1.0)) * float(errors[lag:] @ errors[:-lag]) / n
    return math.sqrt(max(long_run, 0.0) / n)


def mean_estimate(values: Sequence[float] | FloatArray, lags: int, *, level: float = 0.95) -> dict[str, float]:
    """Mean of the finite values with its Newey-West standard error (``lags``), t-statistic (mean / se) and
    ``mean +- z * se`` interval, plus the same from the non-overlapping subsample (every ``lags + 1``-th value
    from the first, i.i.d. standard error with ``ddof=1``).

    Returns ``value, se, t, low, high, periods`` and ``nonoverlap_value, nonoverlap_t, nonoverlap_low,
    nonoverlap_high, nonoverlap_periods`` (NaN where undefined).
    """
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    mean = float(array.mean()) if array.size else math.nan
    se = newey_west_se(array, lags)
    sparse = array[:: lags + 1]
    sparse_mean = float(sparse.mean()) if sparse.size else math.nan
    sparse_se = float(sparse.std(ddof=1) / math.sqrt(sparse.size)) if sparse.size > 1 else math.nan

    def ratio(num: float, den: float) -> float:
        return num / den if math.isfinite(den) and den > 0 else math.nan

    return {
        "value": mean,
        "se": se,
        "t": ratio(mean, se),
        "low": mean - z * se,
        "high": mean + z * se,
        "periods": float(array.size),
        "nonoverlap_value": sparse_mean,
        "nonoverlap_t": ratio(sparse_mean, sparse_se),
        "nonoverlap_low": sparse_mean - z * sparse_se,
        "nonoverlap_high": sparse_mean + z * sparse_se,
        "nonoverlap_periods": float(sparse.size),
    }


def summarise(periods: pd.DataFrame, *, lags: int = 0, level: float = 0.95) -> dict[str, dict[str, float]]:
    """The report's figures from a per-period frame (rows in date order).

    ``periods`` has one row per rebalance date and the columns ``ideas`` (the equal-weighted ideas' return),
    ``hit_rate`` (share of ideas that gained), ``ic`` (Spearman IC of the scores), and one column per baseline
    named ``baseline_<name>``. ``lags`` is the Newey-West lag (:func:`overlap_lags`). Returns
    ``{name: mean_estimate(...)}`` for ``hit_rate``, ``ic``, ``ideas_return``, ``<name>_return`` and
    ``excess_vs_<name>`` (the ideas' return minus the baseline's, per period), and ``ic_t_stat`` (the IC's
    Newey-West t-statistic as ``value``, for readers of the earlier summary).
    """
    out: dict[str, dict[str, float]] = {}
    out["hit_rate"] = mean_estimate(periods["hit_rate"], lags, level=level)
    out["ic"] = mean_estimate(periods["ic"], lags, level=level)
    nan = math.nan
    out["ic_t_stat"] = {"value": out["ic"]["t"], "low": nan, "high": nan, "periods": out["ic"]["periods"]}
    out["ideas_return"] = mean_estimate(periods["ideas"], lags, level=level)
    for column in periods.columns:
        if column.startswith("baseline_"):
            name = column.removeprefix("baseline_")
            out[f"{name}_return"] = mean_estimate(periods[column], lags, level=level)
            out[f"excess_vs_{name}"] = mean_estimate(periods["ideas"] - periods[column], lags, level=level)
    return out


def reliability_table(
    predicted: Sequence[float] | FloatArray,
    outcome: Sequence[float] | FloatArray,
    edges: Sequence[float] = (0.0, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 1.0),
) -> tuple[pd.DataFrame, float]:
    """Reliability of probabilities: predictions bucketed by ``edges`` (left-closed, the last bucket closed),
    with the count, mean prediction and realised frequency of each non-empty bucket, and the Brier score
    ``mean((p - y) ** 2)`` over every pair (pairs with a NaN dropped; outcomes are 0 or 1).

    Returns the table (``low, high, count, predicted, realised``) and the Brier score (NaN with no pair).
    """
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    keep = np.isfinite(p) & np.isfinite(y)
    p, y = p[keep], y[keep]
    bounds = np.asarray(edges, dtype=np.float64)
    which = np.clip(np.searchsorted(bounds, p, side="right") - 1, 0, len(bounds) - 2)
    rows = []
    for bucket in range(len(bounds) - 1):
        inside = which == bucket
        if inside.any():
            rows.append(
                {
                    "low": float(bounds[bucket]),
                    "high": float(bounds[bucket + 1]),
                    "count": int(inside.sum()),
                    "predicted": float(p[inside].mean()),
                    "realised": float(y[inside].mean()),
                }
            )
    table = pd.DataFrame(rows, columns=["low", "high", "count", "predicted", "realised"])
    brier = float(np.mean((p - y) ** 2)) if p.size else math.nan
    return table, brier
