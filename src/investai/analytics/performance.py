"""Risk and performance metrics of return series, matching empyrical's definitions.

Units and conventions
---------------------
Inputs are periodic simple returns as fractions (``0.01`` is 1%), oldest first. Annualised figures use
:func:`investai.analytics.periods.periods_per_year` of ``periodicity`` (252 for ``"daily"``): volatility-like
figures scale by ``sqrt(n)``, mean returns by ``n``. A float ``risk_free`` is an ANNUAL rate, converted to a
per-period rate as ``(1 + rf) ** (1 / n) - 1``; ``required_return`` of downside deviation and Sortino is a
PER-PERIOD threshold (as in empyrical); ``required_return`` of Omega is ANNUAL (as in empyrical).

Inputs and vectorisation
------------------------
Every metric accepts a ``pd.Series``, a 1-D ``np.ndarray`` or a ``pd.DataFrame`` with one column per asset.
1-D input gives a ``float``; a DataFrame gives a ``pd.Series`` indexed by column (computed column-wise in one
vectorised pass). A benchmark is a ``pd.Series`` or 1-D array shared by every column.

NaN policy
----------
* NaNs are dropped before computing, column by column (as empyrical's nan-aware reductions). Time-shaped
  outputs (:func:`drawdown_series`) keep the input's shape, are NaN on NaN rows, and equal the result on
  ``returns.dropna()`` elsewhere.
* Two-series metrics (tracking error, information ratio, alpha/beta): pandas inputs are aligned by index
  (inner join); bare arrays must have the same length and are aligned by position. A row where either the
  return or the benchmark is NaN is dropped.

Edge cases (none of them raises or emits a numpy warning)
----------------------------------------------------------
* Fewer than two (non-NaN) observations, including empty input: every dispersion-based figure and every ratio
  (volatility, downside deviation, Sharpe, Sortino, Calmar, Omega, tracking error, information ratio, alpha,
  beta) is ``nan``. :func:`max_drawdown`, :func:`hit_rate` and :func:`annual_return` are defined from one
  observation and are ``nan`` only when empty.
* Constant series (zero dispersion): volatility and tracking error are exactly ``0.0``; Sharpe, Sortino and
  information ratio are ``nan`` (a ratio over zero risk is undefined; empyrical returns ``inf`` there).
* Zero downside (no return below the threshold): Sortino is ``nan``; Omega with no loss is ``nan``.
* A series that only rises: :func:`max_drawdown` is ``0.0``, :func:`drawdown_details` has depth ``0.0`` and no
  trough, and Calmar is ``nan`` (no drawdown to divide by, as empyrical).
* Benchmark with (near) zero variance: beta and alpha are ``nan`` (empyrical's ``1e-30`` cut-off).

Agreement with empyrical is to ``rtol=1e-8`` (same formulas) on NaN-free data with at least two observations,
apart from the ``nan``-instead-of-``inf`` choices above; see ``tests/unit/analytics``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from investai.analytics.periods import Periodicity, periods_per_year
from investai.analytics.returns import (
    Returns,
    _annual_return_2d,
    _as_2d,
    _like,
    _scalar_like,
    per_period_rate,
)

__all__ = [
    "DrawdownDetails",
    "alpha_beta",
    "calmar_ratio",
    "downside_deviation",
    "drawdown_details",
    "drawdown_series",
    "hit_rate",
    "information_ratio",
    "max_drawdown",
    "omega_ratio",
    "performance_summary",
    "sharpe_ratio",
    "sortino_ratio",
    "tracking_error",
    "volatility",
]

FloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
Benchmark: TypeAlias = "pd.Series | FloatArray"
Metric: TypeAlias = "float | pd.Series"
BETA_VARIANCE_FLOOR = 1.0e-30
"""Benchmark variance below which beta is undefined (empyrical's cut-off)."""


# --- column-wise building blocks on 2-D arrays (NaN = missing) -------------------------------------------------


def _count(values: FloatArray) -> npt.NDArray[np.int_]:
    return np.asarray(np.sum(~np.isnan(values), axis=0), dtype=np.int_)


def _mean(values: FloatArray) -> FloatArray:
    """Column means ignoring NaN; NaN for a column without data."""
    count = _count(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, np.nansum(values, axis=0) / count, np.nan)


def _is_constant(values: FloatArray) -> npt.NDArray[np.bool_]:
    """True for columns whose non-NaN values are all equal (False for columns without data)."""
    high = np.fmax.reduce(values, axis=0, initial=-np.inf)
    low = np.fmin.reduce(values, axis=0, initial=np.inf)
    return np.asarray(high == low)


def _std(values: FloatArray) -> FloatArray:
    """Column sample standard deviations (ddof=1) ignoring NaN: NaN below two values, exactly 0 when constant."""
    count = _count(values)
    centred = values - _mean(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.nansum(centred * centred, axis=0) / (count - 1)
    std = np.where(count >= 2, np.sqrt(variance), np.nan)
    return np.where(_is_constant(values) & (count >= 2), 0.0, std)


def _ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """``numerator / denominator`` where the denominator is positive and finite, NaN elsewhere."""
    ok = np.isfinite(denominator) & (denominator > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, numerator / np.where(ok, denominator, 1.0), np.nan)


def _enough(values: FloatArray) -> npt.NDArray[np.bool_]:
    return np.asarray(_count(values) >= 2)


def _drawdown_2d(values: FloatArray) -> FloatArray:
    """Drawdown from the running peak of wealth (starting at 1 before the first period); NaN on NaN rows."""
    missing = np.isnan(values)
    wealth = np.cumprod(np.where(missing, 1.0, 1.0 + values), axis=0)
    peak = np.maximum(np.maximum.accumulate(wealth, axis=0), 1.0) if len(wealth) else wealth
    drawdown = wealth / peak - 1.0
    drawdown[missing] = np.nan
    return drawdown


def _max_drawdown_2d(values: FloatArray) -> FloatArray:
    worst = np.fmin.reduce(_drawdown_2d(values), axis=0, initial=np.inf)
    return np.where(np.isfinite(worst), worst, np.nan)


def _volatility_2d(values: FloatArray, ppy: int) -> FloatArray:
    return _std(values) * float(np.sqrt(ppy))


def _sharpe_2d(values: FloatArray, ppy: int, rf_per_period: float, std: FloatArray | None = None) -> FloatArray:
    """``std`` may pass in the already computed ``_std(values)`` (used when the risk-free rate is zero)."""
    if rf_per_period == 0.0:
        return _ratio(_mean(values) * np.sqrt(ppy), _std(values) if std is None else std)
    excess = values - rf_per_period
    return _ratio(_mean(excess) * np.sqrt(ppy), _std(excess))


def _downside_2d(values: FloatArray, ppy: int, required_return: float) -> FloatArray:
    shortfall = np.minimum(values - required_return, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        downside = np.sqrt(np.nansum(shortfall * shortfall, axis=0) / _count(values)) * np.sqrt(ppy)
    return np.where(_enough(values), downside, np.nan)


def _sortino_2d(values: FloatArray, ppy: int, required_return: float) -> FloatArray:
    downside = np.where(_is_constant(values), np.nan, _downside_2d(values, ppy, required_return))
    return _ratio(_mean(values - required_return) * ppy, downside)


def _calmar_2d(values: FloatArray, ppy: int) -> FloatArray:
    return _calmar_from(_annual_return_2d(values, ppy), _max_drawdown_2d(values), _enough(values))


def _calmar_from(annual: FloatArray, worst: FloatArray, enough: npt.NDArray[np.bool_]) -> FloatArray:
    depth = np.where(enough & (worst < 0.0), -worst, np.nan)
    return _ratio(annual, depth)


def _omega_2d(values: FloatArray, ppy: int, required_return: float) -> FloatArray:
    if not required_return > -1.0:
        return np.full(values.shape[1], np.nan)
    threshold = (1.0 + required_return) ** (1.0 / ppy) - 1.0
    excess = values - threshold
    gains = np.nansum(np.maximum(excess, 0.0), axis=0)
    losses = -np.nansum(np.minimum(excess, 0.0), axis=0)
    return np.where(_enough(values), _ratio(gains, losses), np.nan)


def _hit_rate_2d(values: FloatArray) -> FloatArray:
    count = _count(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, np.sum(values > 0.0, axis=0) / count, np.nan)


def _tracking_error_2d(values: FloatArray, bench: FloatArray, ppy: int) -> FloatArray:
    return _std(values - bench) * float(np.sqrt(ppy))


def _information_ratio_2d(values: FloatArray, bench: FloatArray, ppy: int) -> FloatArray:
    active = values - bench
    return _ratio(_mean(active) * ppy, _std(active) * np.sqrt(ppy))


def _alpha_beta_2d(values: FloatArray, bench: FloatArray, ppy: int, rf_per_period: float) -> FloatArray:
    """Shape (2, columns): row 0 annualised alpha, row 1 beta (empyrical's ``alpha_beta_aligned``)."""
    excess = values - rf_per_period
    bench_excess = bench - rf_per_period
    residual = bench_excess - _mean(bench_excess)
    covariance = _mean(residual * excess)
    variance = _mean(residual * residual)
    ok = _enough(values) & (variance >= BETA_VARIANCE_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(ok, covariance / np.where(ok, variance, 1.0), np.nan)
        alpha = np.power(1.0 + _mean(excess - beta * bench_excess), ppy) - 1.0
    return np.vstack([np.where(ok, alpha, np.nan), beta])


def _paired(returns: Returns, benchmark: Benchmark) -> tuple[FloatArray, FloatArray]:
    """Returns and benchmark as equal-shape 2-D arrays, aligned and NaN wherever either side is NaN."""
    if isinstance(returns, pd.Series | pd.DataFrame) and isinstance(benchmark, pd.Series):
        returns, benchmark = returns.align(benchmark, join="inner", axis=0)
    values = _as_2d(returns)
    bench = np.asarray(benchmark, dtype=np.float64).reshape(-1)
    if len(bench) != len(values):
        raise ValueError(f"returns ({len(values)} rows) and benchmark ({len(bench)} rows) cannot be aligned")
    bench_2d = np.broadcast_to(bench[:, None], values.shape)
    missing = np.isnan(values) | np.isnan(bench_2d)
    return np.where(missing, np.nan, values), np.where(missing, np.nan, bench_2d)


# --- public metrics ---------------------------------------------------------------------------------------------


def volatility(returns: Returns, periodicity: Periodicity | str = Periodicity.DAILY) -> Metric:
    """Annualised volatility: sample standard deviation (ddof=1) times ``sqrt(periods per year)``.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    periodicity : Periodicity or str
        Periodicity of ``returns`` (``"daily"`` scales by ``sqrt(252)``).

    Returns
    -------
    float or pd.Series
        Annualised volatility as a fraction (per column for a DataFrame). NaNs dropped; ``nan`` below two
        observations; exactly ``0.0`` for a constant series. Same as empyrical ``annual_volatility``.
    """
    return _scalar_like(returns, _volatility_2d(_as_2d(returns), periods_per_year(periodicity)))


def downside_deviation(
    returns: Returns, required_return: float = 0.0, periodicity: Periodicity | str = Periodicity.DAILY
) -> Metric:
    """Annualised downside deviation below ``required_return`` (empyrical ``downside_risk``).

    ``sqrt(mean(min(r - required_return, 0) ** 2)) * sqrt(periods per year)``, the mean taken over all periods.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    required_return : float
        Minimum acceptable return PER PERIOD, as a fraction.
    periodicity : Periodicity or str
        Periodicity of ``returns``.

    Returns
    -------
    float or pd.Series
        Annualised downside deviation as a fraction. NaNs dropped; ``nan`` below two observations (empyrical
        already answers from one).
    """
    ppy = periods_per_year(periodicity)
    return _scalar_like(returns, _downside_2d(_as_2d(returns), ppy, required_return))


def sharpe_ratio(
    returns: Returns, risk_free: float = 0.0, periodicity: Periodicity | str = Periodicity.DAILY
) -> Metric:
    """Annualised Sharpe ratio: ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods per year)``.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    risk_free : float
        ANNUAL risk-free rate as a fraction, converted per period as ``(1 + rf) ** (1 / n) - 1``.
    periodicity : Periodicity or str
        Periodicity of ``returns``.

    Returns
    -------
    float or pd.Series
        Dimensionless ratio. NaNs dropped; ``nan`` below two observations or for a constant series (empyrical
        gives ``inf`` there). Equals empyrical ``sharpe_ratio`` called with the per-period rate.
    """
    ppy = periods_per_year(periodicity)
    return _scalar_like(returns, _sharpe_2d(_as_2d(returns), ppy, per_period_rate(risk_free, periodicity)))


def sortino_ratio(
    returns: Returns, required_return: float = 0.0, periodicity: Periodicity | str = Periodicity.DAILY
) -> Metric:
    """Annualised Sortino ratio: ``mean(r - required_return) * n / downside_deviation`` (empyrical definition).

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    required_return : float
        Minimum acceptable return PER PERIOD, as a fraction.
    periodicity : Periodicity or str
        Periodicity of ``returns`` (``n`` is its periods per year).

    Returns
    -------
    float or pd.Series
        Dimensionless ratio. NaNs dropped; ``nan`` below two observations, for a constant series, or when no
        return falls below ``required_return`` (zero downside; empyrical gives ``inf``).
    """
    ppy = periods_per_year(periodicity)
    return _scalar_like(returns, _sortino_2d(_as_2d(returns), ppy, required_return))


def calmar_ratio(returns: Returns, periodicity: Periodicity | str = Periodicity.DAILY) -> Metric:
    """Calmar ratio: CAGR divided by the magnitude of the maximum drawdown (empyrical definition).

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    periodicity : Periodicity or str
        Periodicity of ``returns``, for the CAGR.

    Returns
    -------
    float or pd.Series
        Dimensionless ratio. NaNs dropped; ``nan`` below two observations or when there is no drawdown.
    """
    return _scalar_like(returns, _calmar_2d(_as_2d(returns), periods_per_year(periodicity)))


def omega_ratio(
    returns: Returns, required_return: float = 0.0, periodicity: Periodicity | str = Periodicity.DAILY
) -> Metric:
    """Omega ratio: sum of gains over the threshold divided by the sum of losses under it (empyrical).

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    required_return : float
        ANNUAL minimum acceptable return as a fraction, converted per period as ``(1 + x) ** (1 / n) - 1``.
    periodicity : Periodicity or str
        Periodicity of ``returns``.

    Returns
    -------
    float or pd.Series
        Dimensionless ratio. NaNs dropped; ``nan`` below two observations, with no loss under the threshold,
        or when ``required_return <= -1``.
    """
    ppy = periods_per_year(periodicity)
    return _scalar_like(returns, _omega_2d(_as_2d(returns), ppy, required_return))


def hit_rate(returns: Returns) -> Metric:
    """Share of periods with a strictly positive return.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions, any periodicity.

    Returns
    -------
    float or pd.Series
        Fraction in ``[0, 1]`` of non-NaN periods with ``r > 0`` (a zero return is not a hit and still counts
        in the denominator; quantstats ``win_rate`` leaves zeros out). ``nan`` when empty.
    """
    return _scalar_like(returns, _hit_rate_2d(_as_2d(returns)))


def drawdown_series(returns: Returns) -> Returns:
    """Drawdown at each period: wealth over its running peak, minus one.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions, oldest first.

    Returns
    -------
    Same type as ``returns``
        Drawdowns as fractions ``<= 0`` with the input's shape and index. Wealth starts at 1 before the first
        period, so a loss in the first period is already a drawdown (as empyrical). NaN rows are skipped when
        compounding and are NaN in the output. Causal: the value at ``t`` only depends on returns up to ``t``.
    """
    return _like(returns, _drawdown_2d(_as_2d(returns)))


def max_drawdown(returns: Returns) -> Metric:
    """Maximum drawdown: the most negative value of :func:`drawdown_series`.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.

    Returns
    -------
    float or pd.Series
        Negative fraction (``-0.25`` is a 25% peak-to-trough loss); ``0.0`` when wealth never falls below a
        previous peak; ``nan`` when empty. NaNs dropped.
    """
    return _scalar_like(returns, _max_drawdown_2d(_as_2d(returns)))


def tracking_error(
    returns: Returns, benchmark: Benchmark, periodicity: Periodicity | str = Periodicity.DAILY
) -> Metric:
    """Annualised tracking error: sample standard deviation (ddof=1) of ``r - benchmark`` times ``sqrt(n)``.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    benchmark : pd.Series or 1-D np.ndarray
        Benchmark periodic simple returns, same periodicity; aligned by index (inner) or by position.
    periodicity : Periodicity or str
        Periodicity of both series.

    Returns
    -------
    float or pd.Series
        Annualised tracking error as a fraction. Rows where either side is NaN are dropped; ``nan`` below two
        paired observations; ``0.0`` when the active return is constant.
    """
    values, bench = _paired(returns, benchmark)
    return _scalar_like(returns, _tracking_error_2d(values, bench, periods_per_year(periodicity)))


def information_ratio(
    returns: Returns, benchmark: Benchmark, periodicity: Periodicity | str = Periodicity.DAILY
) -> Metric:
    """Information ratio: annualised mean active return over annualised tracking error.

    ``mean(r - b) * n / (std(r - b, ddof=1) * sqrt(n))``, i.e. empyrical ``excess_sharpe`` times ``sqrt(n)``.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    benchmark : pd.Series or 1-D np.ndarray
        Benchmark periodic simple returns, same periodicity; aligned by index (inner) or by position.
    periodicity : Periodicity or str
        Periodicity of both series.

    Returns
    -------
    float or pd.Series
        Dimensionless ratio. Rows where either side is NaN are dropped; ``nan`` below two paired observations or
        when the tracking error is zero.
    """
    values, bench = _paired(returns, benchmark)
    return _scalar_like(returns, _information_ratio_2d(values, bench, periods_per_year(periodicity)))


def alpha_beta(
    returns: Returns,
    benchmark: Benchmark,
    risk_free: float = 0.0,
    periodicity: Periodicity | str = Periodicity.DAILY,
) -> tuple[Metric, Metric]:
    """Annualised alpha and beta against a benchmark (empyrical ``alpha_beta``).

    ``beta = cov(r - rf, b - rf) / var(b - rf)`` and ``alpha = (1 + mean((r - rf) - beta * (b - rf))) ** n - 1``
    (annualised by compounding).

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    benchmark : pd.Series or 1-D np.ndarray
        Benchmark periodic simple returns, same periodicity; aligned by index (inner) or by position.
    risk_free : float
        ANNUAL risk-free rate as a fraction, converted per period as ``(1 + rf) ** (1 / n) - 1``.
    periodicity : Periodicity or str
        Periodicity of both series.

    Returns
    -------
    tuple of (float or pd.Series, float or pd.Series)
        ``(alpha, beta)``: alpha as an annual fraction, beta dimensionless. Rows where either side is NaN are
        dropped; both ``nan`` below two paired observations or when the benchmark variance is below ``1e-30``.
    """
    values, bench = _paired(returns, benchmark)
    ppy = periods_per_year(periodicity)
    both = _alpha_beta_2d(values, bench, ppy, per_period_rate(risk_free, periodicity))
    return _scalar_like(returns, both[0]), _scalar_like(returns, both[1])


@dataclass(frozen=True)
class DrawdownDetails:
    """The deepest drawdown of a return series.

    Attributes
    ----------
    depth : float
        Peak-to-trough loss as a negative fraction; ``0.0`` when there is no drawdown, ``nan`` for empty input.
    peak : Hashable or None
        Index label (position for arrays) of the period that set the high-water mark; ``None`` when the
        high-water mark is the starting capital (the series lost money from its first period) or input is empty.
    trough : Hashable or None
        Label of the lowest point of the drawdown; ``None`` when there is no drawdown.
    recovery : Hashable or None
        Label of the first period back at or above the peak; ``None`` if not recovered (or no drawdown).
    duration : int
        Number of periods from the peak to the recovery, or to the last period when not recovered; ``0`` when
        there is no drawdown. Counted in non-NaN periods; the starting capital counts as the period before the
        first one.
    """

    depth: float
    peak: Hashable | None
    trough: Hashable | None
    recovery: Hashable | None
    duration: int


def drawdown_details(returns: pd.Series | FloatArray) -> DrawdownDetails:
    """Depth, peak, trough, recovery and duration of the deepest drawdown of one return series.

    Parameters
    ----------
    returns : pd.Series or 1-D np.ndarray
        Periodic simple returns as fractions, oldest first (one asset: DataFrames are not accepted).

    Returns
    -------
    DrawdownDetails
        See :class:`DrawdownDetails`. NaNs are dropped first; ties go to the earliest trough.
    """
    clean = returns.dropna() if isinstance(returns, pd.Series) else pd.Series(np.asarray(returns, dtype=float))
    clean = clean.dropna()
    if clean.empty:
        return DrawdownDetails(depth=float("nan"), peak=None, trough=None, recovery=None, duration=0)
    labels = list(clean.index)
    drawdown = _drawdown_2d(_as_2d(clean))[:, 0]
    trough_at = int(np.argmin(drawdown))
    depth = float(drawdown[trough_at])
    at_peak = np.flatnonzero(drawdown == 0.0)
    if depth == 0.0:
        return DrawdownDetails(depth=0.0, peak=labels[int(at_peak[-1])], trough=None, recovery=None, duration=0)
    before = at_peak[at_peak < trough_at]
    peak_at = int(before[-1]) if len(before) else -1
    after = at_peak[at_peak > trough_at]
    recovery_at = int(after[0]) if len(after) else None
    end_at = recovery_at if recovery_at is not None else len(labels) - 1
    return DrawdownDetails(
        depth=depth,
        peak=labels[peak_at] if peak_at >= 0 else None,
        trough=labels[trough_at],
        recovery=labels[recovery_at] if recovery_at is not None else None,
        duration=end_at - peak_at,
    )


def _summary_2d(values: FloatArray, ppy: int, rf_per_period: float) -> dict[str, FloatArray]:
    # Shared pieces are computed once: the same functions as the single metrics, so the same numbers.
    annual = _annual_return_2d(values, ppy)
    worst = _max_drawdown_2d(values)
    std = _std(values)
    return {
        "annual_return": annual,
        "volatility": std * float(np.sqrt(ppy)),
        "sharpe": _sharpe_2d(values, ppy, rf_per_period, std),
        "sortino": _sortino_2d(values, ppy, 0.0),
        "calmar": _calmar_from(annual, worst, _enough(values)),
        "omega": _omega_2d(values, ppy, 0.0),
        "max_drawdown": worst,
        "downside_deviation": _downside_2d(values, ppy, 0.0),
        "hit_rate": _hit_rate_2d(values),
    }


def _benchmark_summary_2d(
    values: FloatArray, bench: FloatArray, ppy: int, rf_per_period: float
) -> dict[str, FloatArray]:
    alpha, beta = _alpha_beta_2d(values, bench, ppy, rf_per_period)
    return {
        "beta": beta,
        "alpha": alpha,
        "tracking_error": _tracking_error_2d(values, bench, ppy),
        "information_ratio": _information_ratio_2d(values, bench, ppy),
    }


def performance_summary(
    returns: Returns,
    benchmark: Benchmark | None = None,
    periodicity: Periodicity | str = Periodicity.DAILY,
    risk_free: float = 0.0,
) -> dict[str, float | None] | pd.DataFrame:
    """All the metrics of this module in one call.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    benchmark : pd.Series or 1-D np.ndarray, optional
        Benchmark periodic simple returns; adds beta, alpha, tracking_error and information_ratio.
    periodicity : Periodicity or str
        Periodicity of the series.
    risk_free : float
        ANNUAL risk-free rate as a fraction, used by Sharpe, alpha and beta.

    Returns
    -------
    dict or pd.DataFrame
        For 1-D input a flat dict with keys ``volatility, sharpe, sortino, calmar, omega, max_drawdown,
        downside_deviation, hit_rate, annual_return`` (plus ``beta, alpha, tracking_error, information_ratio``
        with a benchmark); an undefined (NaN or infinite) figure is ``None`` so the dict serialises to JSON. For
        a DataFrame, one row per column and one column per key, undefined figures left as NaN.
        Single-asset metrics use all non-NaN rows of ``returns``; benchmark metrics use the paired rows. Sortino,
        downside deviation and Omega use a zero threshold.
    """
    ppy = periods_per_year(periodicity)
    rf = per_period_rate(risk_free, periodicity)
    summary = _summary_2d(_as_2d(returns), ppy, rf)
    if benchmark is not None:
        summary |= _benchmark_summary_2d(*_paired(returns, benchmark), ppy, rf)
    if isinstance(returns, pd.DataFrame):
        return pd.DataFrame(summary, index=returns.columns)
    return {key: float(value[0]) if np.isfinite(value[0]) else None for key, value in summary.items()}
