"""Risk measures: Value at Risk, Conditional Value at Risk, Monte Carlo VaR, covariance and liquidity.

Conventions
-----------
* Inputs are simple (not log) periodic returns as fractions (0.01 is 1%). The measures are per period of the
  input (a daily series gives a one-day VaR); nothing here annualises or scales by the square root of time.
* **Sign convention**: VaR and CVaR are reported as *positive loss fractions*. A 95% VaR of 0.021 means a one-period
  loss of 2.1% or more happens 5% of the time; a 95% CVaR of 0.03 means the mean loss in that worst 5% is 3%. When
  even the tail of the distribution is a gain (for example a constant positive series) the result is negative.
  ``confidence`` is the confidence level ``c`` (0.95); the tail probability is ``1 - c``.
* **NaN policy**: NaNs are dropped from a single series; rows with any NaN are dropped from multi-asset inputs.
  Too few observations after that give ``nan`` (never an exception); invalid *arguments* (confidence outside
  (0, 1), an unknown method) raise ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal, TypeAlias, overload

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

__all__ = [
    "VaRMethod",
    "conditional_value_at_risk",
    "correlation_matrix",
    "ledoit_wolf_covariance",
    "liquidity_days",
    "monte_carlo_var",
    "risk_table",
    "value_at_risk",
]

VaRMethod: TypeAlias = Literal["historical", "parametric", "cornish_fisher"]
FloatArray: TypeAlias = npt.NDArray[np.float64]
ReturnsLike: TypeAlias = pd.Series | Sequence[float] | FloatArray

_CF_GRID_SIZE = 100_000
"""Standard-normal grid used to rearrange a non-monotone Cornish-Fisher quantile function."""
_MC_CHUNK_BYTES = 64 * 1024 * 1024
"""Memory budget for one chunk of Monte Carlo draws (the draws and the correlated returns, float64)."""


# --------------------------------------------------------------------------------------------------- helpers


def _clean_series(returns: ReturnsLike) -> FloatArray:
    values = np.asarray(returns, dtype=np.float64).ravel()
    return values[~np.isnan(values)]


def _clean_frame(returns: pd.DataFrame) -> pd.DataFrame:
    return returns.astype(np.float64).dropna(how="any")


def _tail_probability(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return 1.0 - confidence


def _historical_var(values: FloatArray, alpha: float) -> float:
    return -float(np.quantile(values, alpha, method="linear")) + 0.0


def _historical_cvar(values: FloatArray, alpha: float) -> float:
    threshold = np.quantile(values, alpha, method="linear")
    return -float(np.mean(values[values <= threshold])) + 0.0


def _sample_moments(values: FloatArray) -> tuple[float, float, float, float]:
    """Mean, standard deviation (ddof=1), bias-corrected skewness G1 and excess kurtosis G2 (NaN when n < 4).

    Deviations are scaled by their largest magnitude first, so tiny (or huge) returns neither underflow nor
    overflow; the caller guarantees the values are not all equal.
    """
    n = values.size
    mean = float(np.mean(values))
    dev = values - mean
    scale = float(np.max(np.abs(dev)))
    unit = dev / scale
    m2 = float(np.mean(unit**2))
    std = scale * math.sqrt(m2 * n / (n - 1))
    if n < 4:
        return mean, std, math.nan, math.nan
    g1 = float(np.mean(unit**3)) / m2**1.5
    g2 = float(np.mean(unit**4)) / m2**2 - 3.0
    skew = math.sqrt(n * (n - 1)) / (n - 2) * g1
    kurt = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * g2 + 6.0)
    return mean, std, skew, kurt


def _cf_quantile(z: FloatArray | float, skew: float, kurt: float) -> FloatArray:
    """Cornish-Fisher modified standard quantile ``z_cf(z)`` (a cubic in ``z``)."""
    zz = np.asarray(z, dtype=np.float64)
    return np.asarray(
        zz + (zz**2 - 1.0) * skew / 6.0 + (zz**3 - 3.0 * zz) * kurt / 24.0 - (2.0 * zz**3 - 5.0 * zz) * skew**2 / 36.0,
        dtype=np.float64,
    )


@lru_cache(maxsize=1)
def _normal_grid() -> tuple[FloatArray, FloatArray]:
    probabilities = (np.arange(_CF_GRID_SIZE, dtype=np.float64) + 0.5) / _CF_GRID_SIZE
    return probabilities, np.asarray(stats.norm.ppf(probabilities), dtype=np.float64)


def _cf_is_monotone(skew: float, kurt: float) -> bool:
    """Whether ``z_cf`` is non-decreasing on the grid's range of ``z`` (its derivative is a quadratic)."""
    _, z = _normal_grid()
    lo, hi = float(z[0]), float(z[-1])
    a2 = kurt / 8.0 - skew**2 / 6.0
    a1 = skew / 3.0
    a0 = 1.0 - kurt / 8.0 + 5.0 * skew**2 / 36.0
    candidates = [lo, hi]
    if a2 != 0.0 and lo < -a1 / (2.0 * a2) < hi:
        candidates.append(-a1 / (2.0 * a2))
    return min(a2 * c * c + a1 * c + a0 for c in candidates) >= 0.0


def _cf_standard_var_cvar(alpha: float, skew: float, kurt: float) -> tuple[float, float]:
    """Lower-tail modified quantile and the mean of the modified quantiles over ``(0, alpha]``, standardised."""
    if _cf_is_monotone(skew, kurt):
        z = float(stats.norm.ppf(alpha))
        pdf = float(stats.norm.pdf(z))
        # Truncated moments E[Z^k ; Z <= z] of a standard normal, k = 0..3.
        m0, m1, m2, m3 = alpha, -pdf, alpha - z * pdf, -(z * z + 2.0) * pdf
        tail_mean = (
            m1 + (m2 - m0) * skew / 6.0 + (m3 - 3.0 * m1) * kurt / 24.0 - (2.0 * m3 - 5.0 * m1) * skew**2 / 36.0
        ) / alpha
        return float(_cf_quantile(z, skew, kurt)), tail_mean
    # Outside the expansion's domain of validity: rearrange (sort) the modified quantiles, Chernozhukov,
    # Fernandez-Val and Galichon (2010), which restores a monotone quantile function.
    probabilities, z_grid = _normal_grid()
    rearranged = np.sort(_cf_quantile(z_grid, skew, kurt))
    quantile = float(np.interp(alpha, probabilities, rearranged))
    in_tail = rearranged[probabilities <= alpha]
    tail_mean = float(np.mean(in_tail)) if in_tail.size else quantile
    return quantile, tail_mean


def _var_cvar(values: FloatArray, alpha: float, method: str) -> tuple[float, float]:
    if method not in ("historical", "parametric", "cornish_fisher"):
        raise ValueError(f"method must be 'historical', 'parametric' or 'cornish_fisher', got {method!r}")
    if values.size < 2:
        return math.nan, math.nan
    if method == "historical":
        return _historical_var(values, alpha), _historical_cvar(values, alpha)
    if np.ptp(values) == 0.0:
        constant = -float(values[0]) + 0.0
        return constant, constant
    mean, std, skew, kurt = _sample_moments(values)
    if method == "parametric":
        z = float(stats.norm.ppf(alpha))
        return -(mean + std * z) + 0.0, -(mean - std * float(stats.norm.pdf(z)) / alpha) + 0.0
    if math.isnan(skew):
        return math.nan, math.nan
    quantile, tail_mean = _cf_standard_var_cvar(alpha, skew, kurt)
    return -(mean + std * quantile) + 0.0, -(mean + std * tail_mean) + 0.0


# --------------------------------------------------------------------------------------------------- VaR / CVaR


def value_at_risk(returns: ReturnsLike, confidence: float = 0.95, method: VaRMethod = "historical") -> float:
    """One-period Value at Risk of a return series, as a positive loss fraction.

    Parameters
    ----------
    returns : pandas.Series, sequence or 1-D array of float
        Simple periodic returns as fractions (any periodicity; the VaR is for one such period).
    confidence : float, default 0.95
        Confidence level ``c`` in (0, 1); the loss is exceeded with probability ``1 - c``.
    method : {"historical", "parametric", "cornish_fisher"}
        * ``historical``: minus the empirical ``1 - c`` quantile, linear interpolation
          (``numpy.quantile(method="linear")``, the same as ``numpy.percentile`` and pandas).
        * ``parametric``: Gaussian with the sample mean and standard deviation (ddof=1): ``-(mu + sigma z)``
          with ``z = Phi^-1(1 - c)``.
        * ``cornish_fisher``: ``-(mu + sigma z_cf)`` with the Cornish-Fisher modified quantile
          ``z_cf = z + (z^2-1)S/6 + (z^3-3z)K/24 - (2z^3-5z)S^2/36``, where ``S`` and ``K`` are the
          bias-corrected sample skewness and excess kurtosis (``scipy.stats.skew/kurtosis(bias=False)``, the
          same as pandas ``skew``/``kurt``). Where the expansion is not increasing on ``|z| <= 4.4`` (strong
          skewness or kurtosis, outside its domain of validity) the modified quantile function is
          rearranged (sorted), which keeps VaR non-decreasing in ``confidence``.

    Returns
    -------
    float
        VaR as a positive loss fraction (0.021 is a 2.1% loss); negative when even the tail is a gain.

    Notes
    -----
    NaNs are dropped. Fewer than 2 observations give ``nan`` (fewer than 4 for ``cornish_fisher``, which needs
    the kurtosis). A constant series gives minus that constant for every method (0.0 for a constant zero
    series): the distribution is degenerate, so sigma, skewness and kurtosis are not used.
    """
    return _var_cvar(_clean_series(returns), _tail_probability(confidence), method)[0]


def conditional_value_at_risk(
    returns: ReturnsLike, confidence: float = 0.95, method: VaRMethod = "historical"
) -> float:
    """One-period Conditional Value at Risk (expected shortfall), as a positive loss fraction.

    Parameters
    ----------
    returns : pandas.Series, sequence or 1-D array of float
        Simple periodic returns as fractions (any periodicity; the CVaR is for one such period).
    confidence : float, default 0.95
        Confidence level ``c`` in (0, 1).
    method : {"historical", "parametric", "cornish_fisher"}
        * ``historical``: minus the mean of the returns at or below the empirical ``1 - c`` quantile (the
          linear-interpolation quantile of :func:`value_at_risk`).
        * ``parametric``: Gaussian closed form ``-(mu - sigma phi(z) / (1 - c))``, sample mean and ddof=1 std.
        * ``cornish_fisher``: minus the average of the Cornish-Fisher modified quantiles over the tail,
          ``mu + sigma / (1 - c) * integral_0^(1-c) z_cf(Phi^-1(p)) dp``, computed in closed form from the
          truncated moments of the standard normal (or as the mean of the rearranged quantiles in the tail
          when the expansion is not monotone, see :func:`value_at_risk`).

    Returns
    -------
    float
        CVaR as a positive loss fraction; at least the VaR of the same method.

    Notes
    -----
    NaN and edge policy as :func:`value_at_risk`: NaNs dropped, fewer than 2 observations (4 for
    ``cornish_fisher``) give ``nan``, a constant series gives minus that constant.
    """
    return _var_cvar(_clean_series(returns), _tail_probability(confidence), method)[1]


def _historical_2d(values: FloatArray, counts: npt.NDArray[np.int_], alpha: float) -> tuple[FloatArray, FloatArray]:
    """Column-wise :func:`_historical_var` and :func:`_historical_cvar` (NaN marks missing values).

    ``np.sort`` puts NaNs last, so each column's first ``count`` sorted values are its clean values; the
    quantile is numpy's ``linear`` method (the same interpolation expression, so equal to the last bit).
    """
    if values.shape[0] == 0:
        missing = np.full(values.shape[1], np.nan)
        return missing, missing.copy()
    ordered = np.sort(values, axis=0)
    columns = np.arange(values.shape[1])
    position = alpha * np.maximum(counts - 1, 0)
    below = np.floor(position).astype(np.int_)
    above = np.minimum(below + 1, np.maximum(counts - 1, 0))
    low, high = ordered[below, columns], ordered[above, columns]
    fraction = position - below
    diff = high - low
    quantile = np.where(fraction >= 0.5, high - diff * (1.0 - fraction), low + diff * fraction)
    in_tail = values <= quantile
    with np.errstate(divide="ignore", invalid="ignore"):
        tail_mean = np.sum(np.where(in_tail, values, 0.0), axis=0) / np.sum(in_tail, axis=0)
    return -quantile + 0.0, -tail_mean + 0.0


def _moments_2d(values: FloatArray, counts: npt.NDArray[np.int_]) -> tuple[FloatArray, ...]:
    """Column-wise :func:`_sample_moments` (mean, std ddof=1, bias-corrected skewness and excess kurtosis)."""
    n = counts.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.nansum(values, axis=0) / n
        dev = values - mean
        scale = np.fmax.reduce(np.abs(dev), axis=0, initial=0.0)
        unit = np.nan_to_num(dev / np.where(scale > 0.0, scale, 1.0), nan=0.0)
        squared = unit * unit
        m2 = np.sum(squared, axis=0) / n
        std = scale * np.sqrt(m2 * n / (n - 1.0))
        g1 = np.sum(squared * unit, axis=0) / n / m2**1.5
        g2 = np.sum(squared * squared, axis=0) / n / m2**2 - 3.0
        skew = np.sqrt(n * (n - 1.0)) / (n - 2.0) * g1
        kurt = (n - 1.0) / ((n - 2.0) * (n - 3.0)) * ((n + 1.0) * g2 + 6.0)
    few = counts < 4
    return mean, std, np.where(few, np.nan, skew), np.where(few, np.nan, kurt)


def _cf_monotone_2d(skew: FloatArray, kurt: FloatArray) -> npt.NDArray[np.bool_]:
    """Column-wise :func:`_cf_is_monotone`: the minimum of the derivative's quadratic on the grid's range."""
    _, z = _normal_grid()
    lo, hi = float(z[0]), float(z[-1])
    a2 = kurt / 8.0 - skew**2 / 6.0
    a1 = skew / 3.0
    a0 = 1.0 - kurt / 8.0 + 5.0 * skew**2 / 36.0
    lowest = np.minimum(a2 * lo * lo + a1 * lo + a0, a2 * hi * hi + a1 * hi + a0)
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(a2 != 0.0, -a1 / (2.0 * np.where(a2 != 0.0, a2, 1.0)), np.nan)
    inside = (a2 != 0.0) & (vertex > lo) & (vertex < hi)
    lowest = np.where(inside, np.minimum(lowest, a2 * vertex * vertex + a1 * vertex + a0), lowest)
    return np.asarray(lowest >= 0.0)


def risk_table(
    returns: pd.DataFrame,
    confidence: Sequence[float] = (0.95, 0.99),
    methods: Sequence[VaRMethod] = ("historical", "parametric", "cornish_fisher"),
) -> pd.DataFrame:
    """One-period VaR and CVaR of many return series at once: :func:`value_at_risk` and
    :func:`conditional_value_at_risk` for every column, vectorised.

    Parameters
    ----------
    returns : pandas.DataFrame
        Simple periodic returns as fractions, one column per asset (any periodicity; the figures are for one
        such period). Each column is cleaned on its own: its NaNs are dropped, as for a single series (not
        listwise, unlike the multi-asset functions below).
    confidence : sequence of float, default (0.95, 0.99)
        Confidence levels in (0, 1).
    methods : sequence of {"historical", "parametric", "cornish_fisher"}
        The estimators, as defined in :func:`value_at_risk` and :func:`conditional_value_at_risk`.

    Returns
    -------
    pandas.DataFrame
        One row per column of ``returns``; columns ``var_{level}`` and ``cvar_{level}`` for the historical
        method and ``var_{level}_{method}``, ``cvar_{level}_{method}`` for the others, where ``level`` is the
        confidence in percent (``var_95``, ``cvar_99_parametric``). Positive loss fractions; every value equals
        the single-series function on that column (the same formulas; the same NaN, constant-series and
        too-few-observations policy, so a short column gives ``nan``, never an exception).
    """
    for method in methods:
        if method not in ("historical", "parametric", "cornish_fisher"):
            raise ValueError(f"method must be 'historical', 'parametric' or 'cornish_fisher', got {method!r}")
    alphas = {float(c): _tail_probability(float(c)) for c in confidence}
    values = returns.to_numpy(dtype=np.float64, copy=True)
    counts = np.sum(~np.isnan(values), axis=0)
    enough = counts >= 2
    high = np.fmax.reduce(values, axis=0, initial=-np.inf)
    constant = enough & (high == np.fmin.reduce(values, axis=0, initial=np.inf))
    constant_loss = np.where(constant, -high + 0.0, np.nan)
    moments = _moments_2d(values, counts) if set(methods) - {"historical"} else None
    table: dict[str, FloatArray] = {}
    for level, alpha in alphas.items():
        label = f"{100 * level:g}".replace(".", "_")
        for method in methods:
            suffix = "" if method == "historical" else f"_{method}"
            if method == "historical":
                var, cvar = _historical_2d(values, counts, alpha)
            else:
                assert moments is not None
                var, cvar = _moment_var_cvar_2d(values, moments, alpha, method)
                var = np.where(constant, constant_loss, var)
                cvar = np.where(constant, constant_loss, cvar)
            table[f"var_{label}{suffix}"] = np.where(enough, var, np.nan)
            table[f"cvar_{label}{suffix}"] = np.where(enough, cvar, np.nan)
    return pd.DataFrame(table, index=returns.columns)


def _moment_var_cvar_2d(
    values: FloatArray, moments: tuple[FloatArray, ...], alpha: float, method: str
) -> tuple[FloatArray, FloatArray]:
    mean, std, skew, kurt = moments
    z = float(stats.norm.ppf(alpha))
    pdf = float(stats.norm.pdf(z))
    if method == "parametric":
        return -(mean + std * z) + 0.0, -(mean - std * pdf / alpha) + 0.0
    m0, m1, m2, m3 = alpha, -pdf, alpha - z * pdf, -(z * z + 2.0) * pdf
    tail_mean = (
        m1 + (m2 - m0) * skew / 6.0 + (m3 - 3.0 * m1) * kurt / 24.0 - (2.0 * m3 - 5.0 * m1) * skew**2 / 36.0
    ) / alpha
    quantile = z + (z * z - 1.0) * skew / 6.0 + (z**3 - 3.0 * z) * kurt / 24.0 - (2.0 * z**3 - 5.0 * z) * skew**2 / 36.0
    var, cvar = -(mean + std * quantile) + 0.0, -(mean + std * tail_mean) + 0.0
    # Outside the expansion's domain the quantiles are rearranged, one column at a time (rare in practice).
    for column in np.flatnonzero(np.isfinite(skew) & ~_cf_monotone_2d(skew, kurt)):
        rearranged_q, rearranged_mean = _cf_standard_var_cvar(alpha, float(skew[column]), float(kurt[column]))
        var[column] = -(mean[column] + std[column] * rearranged_q) + 0.0
        cvar[column] = -(mean[column] + std[column] * rearranged_mean) + 0.0
    return var, cvar


# --------------------------------------------------------------------------------------------------- Monte Carlo


def _weights_vector(weights: Sequence[float] | FloatArray | pd.Series, columns: pd.Index) -> FloatArray:
    if isinstance(weights, pd.Series):
        missing = set(columns) - set(weights.index)
        if missing:
            raise ValueError(f"weights are missing assets {sorted(map(str, missing))}")
        weights = weights.reindex(columns)
    vector = np.asarray(weights, dtype=np.float64).ravel()
    if vector.size != len(columns):
        raise ValueError(f"got {vector.size} weights for {len(columns)} assets")
    if not np.all(np.isfinite(vector)):
        raise ValueError("weights must be finite")
    return vector


def _cholesky(covariance: FloatArray) -> FloatArray:
    """Lower Cholesky factor; a positive semi-definite (singular) matrix falls back to an eigen-decomposition."""
    try:
        return np.asarray(np.linalg.cholesky(covariance), dtype=np.float64)
    except np.linalg.LinAlgError:
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        return np.asarray(eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None)), dtype=np.float64)


def _simulate_portfolio_returns(
    mean: FloatArray,
    factor: FloatArray,
    weights: FloatArray,
    *,
    horizon_days: int,
    paths: int,
    rng: np.random.Generator,
    chunk_paths: int,
) -> FloatArray:
    """Buy-and-hold portfolio return over the horizon for each simulated path (draws are taken path by path,
    so the result does not depend on ``chunk_paths``)."""
    n_assets = mean.size
    factor_t = np.ascontiguousarray(factor.T)
    rows = min(chunk_paths, paths) * horizon_days
    draws = np.empty((rows, n_assets), dtype=np.float64)  # buffers reused across chunks
    daily = np.empty((rows, n_assets), dtype=np.float64)
    out = np.empty(paths, dtype=np.float64)
    for start in range(0, paths, chunk_paths):
        size = min(chunk_paths, paths - start)
        z, r = draws[: size * horizon_days], daily[: size * horizon_days]
        rng.standard_normal(out=z)
        np.matmul(z, factor_t, out=r)
        r += mean + 1.0
        np.maximum(r, 0.0, out=r)  # a simple return cannot be below -100%
        growth = r.reshape(size, horizon_days, n_assets).prod(axis=1)
        out[start : start + size] = (growth - 1.0) @ weights
    return out


def monte_carlo_var(
    returns: pd.DataFrame,
    weights: Sequence[float] | FloatArray | pd.Series,
    *,
    horizon_days: int = 1,
    paths: int = 10_000,
    confidence: Sequence[float] = (0.95, 0.99),
    seed: int,
) -> dict[float, dict[str, float]]:
    """Monte Carlo VaR and CVaR of a buy-and-hold portfolio over a horizon, as positive loss fractions.

    Daily asset returns are drawn from a multivariate normal with the sample mean and sample covariance
    (ddof=1) of ``returns`` (independent across days, Cholesky factor of the covariance); each asset compounds
    over ``horizon_days`` (``prod(1 + r) - 1``, a daily return floored at -100%), and the portfolio return is
    ``sum_i w_i (growth_i - 1)``, that is the weights are fractions of the starting capital held without
    rebalancing (weights not summing to one leave the rest in cash at zero return; negative weights are shorts).
    VaR and CVaR are then the historical estimators of :func:`value_at_risk` on the simulated horizon returns.

    Parameters
    ----------
    returns : pandas.DataFrame
        Simple periodic (daily) returns, one column per asset. Rows with any NaN are dropped.
    weights : sequence, array or pandas.Series of float
        Portfolio weights as fractions of capital, in column order (a Series is aligned on the column labels).
    horizon_days : int, default 1
        Horizon in periods of ``returns`` (trading days for a daily series).
    paths : int, default 10_000
        Number of simulated paths.
    confidence : sequence of float, default (0.95, 0.99)
        Confidence levels in (0, 1).
    seed : int
        Seed of ``numpy.random.default_rng``; the result is deterministic for a seed.

    Returns
    -------
    dict
        ``{confidence: {"var": float, "cvar": float}}``, positive loss fractions over the whole horizon. With
        fewer than 2 clean rows every value is ``nan``.

    Notes
    -----
    Draws are generated in chunks of paths bounded to about 64 MB of float64 memory (two reused buffers);
    because paths are drawn one after the other the result does not depend on the chunking (up to rounding).
    """
    if horizon_days < 1 or paths < 1:
        raise ValueError("horizon_days and paths must be positive")
    alphas = {float(c): _tail_probability(float(c)) for c in confidence}
    clean = _clean_frame(returns)
    vector = _weights_vector(weights, clean.columns)
    if len(clean) < 2:
        return {c: {"var": math.nan, "cvar": math.nan} for c in alphas}
    values = clean.to_numpy(dtype=np.float64)
    mean = values.mean(axis=0)
    covariance = np.atleast_2d(np.cov(values, rowvar=False, ddof=1))
    n_assets = values.shape[1]
    chunk_paths = max(1, _MC_CHUNK_BYTES // (2 * 8 * horizon_days * n_assets))
    simulated = _simulate_portfolio_returns(
        mean,
        _cholesky(covariance),
        vector,
        horizon_days=horizon_days,
        paths=paths,
        rng=np.random.default_rng(seed),
        chunk_paths=chunk_paths,
    )
    return {
        c: {"var": _historical_var(simulated, alpha), "cvar": _historical_cvar(simulated, alpha)}
        for c, alpha in alphas.items()
    }


# --------------------------------------------------------------------------------------------------- covariance


def ledoit_wolf_covariance(returns: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Ledoit-Wolf (2004) covariance, shrunk toward a scaled identity, and the shrinkage intensity.

    Computes exactly what ``sklearn.covariance.LedoitWolf(assume_centered=False)`` computes: with ``X`` the
    de-meaned returns (``n`` rows, ``p`` assets), ``S = X'X / n`` (ddof=0), ``mu = trace(S) / p``,
    ``delta = ||S - mu I||_F^2 / p``, ``beta = (sum_k ||x_k x_k'||_F^2 / n - ||S||_F^2) / (p n)`` capped at
    ``delta``; the shrinkage is ``beta / delta`` (0 when ``beta`` is 0) and the estimate is
    ``(1 - shrinkage) S + shrinkage mu I``.

    Parameters
    ----------
    returns : pandas.DataFrame
        Simple periodic returns, one column per asset. Rows with any NaN are dropped.

    Returns
    -------
    (pandas.DataFrame, float)
        Covariance per period squared (daily returns give a daily covariance, not annualised), labelled by the
        columns, and the shrinkage in [0, 1]. With no clean rows the matrix is all ``nan`` and the shrinkage
        ``nan``; a single asset gets its ddof=0 variance and shrinkage 0 (as sklearn).
    """
    clean = _clean_frame(returns)
    columns = clean.columns
    if len(clean) == 0 or len(columns) == 0:
        nan_matrix = np.full((len(columns), len(columns)), np.nan)
        return pd.DataFrame(nan_matrix, index=columns, columns=columns), math.nan
    x = clean.to_numpy(dtype=np.float64)
    x = x - x.mean(axis=0)
    n, p = x.shape
    sample = x.T @ x / n
    if p == 1:
        return pd.DataFrame(sample, index=columns, columns=columns), 0.0
    x2 = x**2
    mu = float(np.trace(sample)) / p
    delta_ = float(np.sum(sample**2))
    beta = (float(np.sum(x2.T @ x2)) / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * float(np.trace(sample)) + p * mu**2) / p
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    shrunk = (1.0 - shrinkage) * sample
    shrunk.flat[:: p + 1] += shrinkage * mu
    return pd.DataFrame(shrunk, index=columns, columns=columns), float(shrinkage)


def correlation_matrix(returns: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation matrix of asset returns.

    Parameters
    ----------
    returns : pandas.DataFrame
        Simple periodic returns (any periodicity), one column per asset.

    Returns
    -------
    pandas.DataFrame
        Dimensionless correlations labelled by the columns. Rows with any NaN are dropped first (listwise, unlike
        ``DataFrame.corr``'s pairwise deletion). Fewer than 2 clean rows give all ``nan``; a constant column
        gets ``nan`` in its row and column, including the diagonal; no warnings are emitted.
    """
    clean = _clean_frame(returns)
    columns = clean.columns
    p = len(columns)
    if len(clean) < 2:
        return pd.DataFrame(np.full((p, p), np.nan), index=columns, columns=columns)
    x = clean.to_numpy(dtype=np.float64)
    x = x - x.mean(axis=0)
    std = np.sqrt(np.sum(x**2, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (x.T @ x) / np.outer(std, std)
    corr = np.clip(corr, -1.0, 1.0)
    valid = std > 0
    np.fill_diagonal(corr, np.where(valid, 1.0, np.nan))
    corr[~valid, :] = np.nan
    corr[:, ~valid] = np.nan
    return pd.DataFrame(corr, index=columns, columns=columns)


# --------------------------------------------------------------------------------------------------- liquidity


@overload
def liquidity_days(position_shares: float, average_daily_volume: float, participation: float = 0.1) -> float: ...


@overload
def liquidity_days(
    position_shares: pd.Series, average_daily_volume: pd.Series | float, participation: float = 0.1
) -> pd.Series: ...


def liquidity_days(
    position_shares: float | pd.Series,
    average_daily_volume: float | pd.Series,
    participation: float = 0.1,
) -> float | pd.Series:
    """Trading days needed to liquidate a position while trading at most a share of average daily volume.

    ``days = |position_shares| / (participation * average_daily_volume)``, fractional (round up yourself for a
    whole-day schedule).

    Parameters
    ----------
    position_shares : float or pandas.Series
        Position size in shares (units, not currency); a short position counts by its absolute size.
    average_daily_volume : float or pandas.Series
        Average daily traded volume in shares per trading day (a Series is aligned on the index).
    participation : float, default 0.1
        Maximum fraction of daily volume the liquidation may take, in (0, 1].

    Returns
    -------
    float or pandas.Series
        Days (trading days). Policy: a zero position takes 0.0 days whatever the volume; a non-zero position
        with zero volume takes ``inf``; a NaN position or volume, or a negative volume (invalid data), gives
        ``nan``. An invalid ``participation`` raises ``ValueError``.
    """
    if not 0.0 < participation <= 1.0:
        raise ValueError(f"participation must be in (0, 1], got {participation!r}")
    if isinstance(position_shares, pd.Series):
        if not isinstance(average_daily_volume, pd.Series):
            average_daily_volume = pd.Series(average_daily_volume, index=position_shares.index, dtype=np.float64)
        shares, volume = position_shares.align(average_daily_volume, join="left")
        days = _liquidity_days_array(
            shares.to_numpy(dtype=np.float64), volume.to_numpy(dtype=np.float64), participation
        )
        return pd.Series(days, index=shares.index, name="liquidity_days")
    if isinstance(average_daily_volume, pd.Series):
        raise TypeError("a Series of volumes needs a Series of positions")
    result = _liquidity_days_array(
        np.array([position_shares], dtype=np.float64), np.array([average_daily_volume], dtype=np.float64), participation
    )
    return float(result[0])


def _liquidity_days_array(shares: FloatArray, volume: FloatArray, participation: float) -> FloatArray:
    size = np.abs(shares)
    capacity = participation * volume
    with np.errstate(divide="ignore", invalid="ignore"):
        days = np.where(capacity > 0, size / capacity, np.inf)
    days = np.where(size == 0, 0.0, days)
    invalid = np.isnan(size) | np.isnan(volume) | (volume < 0)
    return np.asarray(np.where(invalid, np.nan, days), dtype=np.float64)
