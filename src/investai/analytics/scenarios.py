"""Forward-looking return scenarios: resampled and simulated paths, bear/base/bull outcomes and fan charts.

Units: returns are simple periodic returns as fractions (``0.01`` is 1%) at the periodicity of the input
(daily in, daily steps out). A path is CUMULATIVE: ``paths[i, k]`` is the compounded return of path ``i`` after
``k + 1`` steps, ``prod(1 + r_1..r_{k+1}) - 1``, so ``paths[:, -1]`` are the horizon returns that
:func:`scenario_outcomes` takes. Random draws use ``numpy.random.default_rng(seed)``: the same seed and inputs
give the same paths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeAlias, TypedDict

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "ScenarioOutcome",
    "block_bootstrap_paths",
    "fan_chart",
    "horizon_returns",
    "monte_carlo_paths",
    "scenario_outcomes",
]

FloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
ReturnsLike: TypeAlias = "pd.Series | npt.NDArray[Any] | Sequence[float]"

TAIL_SHARE = 0.25
"""Share of paths in each of the bear and bull tails when no thresholds are given."""


def _clean_returns(returns: ReturnsLike) -> FloatArray:
    values = np.asarray(returns, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def _check_sizes(**sizes: int) -> None:
    for name, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(f"{name} must be a positive integer, got {size!r}")


def _compound(step_returns: FloatArray) -> FloatArray:
    return np.cumprod(1.0 + step_returns, axis=1) - 1.0


def block_bootstrap_paths(returns: ReturnsLike, horizon: int, paths: int, block: int, seed: int) -> FloatArray:
    """Cumulative return paths from a circular block bootstrap of historical returns.

    Each path concatenates ``ceil(horizon / block)`` blocks of ``block`` consecutive returns starting at
    uniformly drawn positions, wrapping from the end of the history to its start (circular), truncated to
    ``horizon`` steps, then compounded. Blocks keep short-range autocorrelation and volatility clustering.

    Parameters
    ----------
    returns : pandas.Series, numpy array or sequence of float
        Historical simple returns, fractions, oldest first. NaN and +-inf are dropped first (the remaining
        returns are treated as contiguous).
    horizon : int
        Steps per path (periods of ``returns``), >= 1.
    paths : int
        Number of paths, >= 1.
    block : int
        Block length in periods, >= 1; ``1`` is the plain i.i.d. bootstrap. May exceed the history (it wraps).
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray
        ``(paths, horizon)`` cumulative returns as fractions. All NaN when no valid return remains; one
        observation gives identical deterministic paths.

    Raises
    ------
    ValueError
        ``horizon``, ``paths`` or ``block`` not a positive integer.
    """
    _check_sizes(horizon=horizon, paths=paths, block=block)
    data = _clean_returns(returns)
    if data.size == 0:
        return np.full((paths, horizon), np.nan, dtype=np.float64)
    rng = np.random.default_rng(seed)
    blocks = -(-horizon // block)
    starts = rng.integers(0, data.size, size=(paths, blocks))
    offsets = np.arange(block)
    positions = (starts[:, :, None] + offsets[None, None, :]).reshape(paths, blocks * block)[:, :horizon]
    return _compound(data[positions % data.size])


def monte_carlo_paths(returns: ReturnsLike, horizon: int, paths: int, seed: int) -> FloatArray:
    """Cumulative return paths of i.i.d. normal returns with the sample mean and standard deviation.

    Parameters
    ----------
    returns : pandas.Series, numpy array or sequence of float
        Historical simple returns, fractions; NaN and +-inf dropped.
    horizon : int
        Steps per path, >= 1.
    paths : int
        Number of paths, >= 1.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray
        ``(paths, horizon)`` cumulative returns as fractions. Step returns are ``N(mean, std)`` with
        ``std`` of ddof=1, floored at ``-1`` (a period cannot lose more than everything), then compounded.
        All NaN with fewer than two valid returns; a constant history gives the deterministic path
        ``(1 + r) ** k - 1``.

    Raises
    ------
    ValueError
        ``horizon`` or ``paths`` not a positive integer.
    """
    _check_sizes(horizon=horizon, paths=paths)
    data = _clean_returns(returns)
    if data.size < 2:
        return np.full((paths, horizon), np.nan, dtype=np.float64)
    mean = float(data.mean())
    std = float(data.std(ddof=1)) if np.ptp(data) > 0 else 0.0
    rng = np.random.default_rng(seed)
    steps = np.maximum(rng.normal(mean, std, size=(paths, horizon)), -1.0)
    return _compound(steps)


def horizon_returns(paths_cumulative: npt.ArrayLike) -> FloatArray:
    """The last column of cumulative paths: each path's total return over the horizon (fractions).

    A 1-D input is returned as a float array unchanged; an input with no step gives an empty array.
    """
    array = np.asarray(paths_cumulative, dtype=np.float64)
    if array.ndim <= 1:
        return array.ravel()
    if array.shape[1] == 0:
        return np.empty(0, dtype=np.float64)
    return array[:, -1]


class ScenarioOutcome(TypedDict):
    """One scenario of :func:`scenario_outcomes`."""

    probability: float
    """Share of the valid paths in the scenario, in [0, 1]."""
    count: int
    min: float
    median: float
    max: float
    """Range of the horizon returns of the scenario's paths, fractions (NaN when it has none)."""


def _outcome(members: FloatArray, total: int) -> ScenarioOutcome:
    if members.size == 0:
        return ScenarioOutcome(
            probability=0.0 if total else math.nan, count=0, min=math.nan, median=math.nan, max=math.nan
        )
    return ScenarioOutcome(
        probability=members.size / total,
        count=int(members.size),
        min=float(members.min()),
        median=float(np.median(members)),
        max=float(members.max()),
    )


def scenario_outcomes(
    horizon_returns: npt.ArrayLike, thresholds: tuple[float, float] | None = None
) -> dict[str, ScenarioOutcome]:
    """Bear / base / bull split of simulated horizon returns.

    Without ``thresholds`` the split is BY RANK: the paths are sorted by horizon return (stable sort, so ties
    are split deterministically) and the lowest ``floor(n / 4)`` are *bear*, the highest ``floor(n / 4)`` are
    *bull* and the rest (the middle ~50%) *base*. Probabilities are then ~0.25 / 0.5 / 0.25 by construction and
    the information is in the ranges. With ``thresholds=(low, high)`` the split is BY VALUE: bear
    ``r < low``, bull ``r > high``, base ``low <= r <= high``, and the probabilities are the model's estimate.

    Parameters
    ----------
    horizon_returns : array-like
        One compounded return per path (fractions), e.g. :func:`horizon_returns` of a path matrix. NaN and
        +-inf are dropped.
    thresholds : tuple of float, optional
        ``(low, high)`` return thresholds, fractions, ``low <= high``.

    Returns
    -------
    dict of str to ScenarioOutcome
        Keys ``"bear"``, ``"base"``, ``"bull"``; each with ``probability`` (share of valid paths), ``count``
        and the ``min`` / ``median`` / ``max`` horizon return of its paths. A scenario with no path has NaN
        range and probability 0; with no valid path at all every probability is NaN. Fewer than four paths by
        rank: all are *base*.

    Raises
    ------
    ValueError
        ``thresholds`` with ``low > high`` or NaN.
    """
    values = _clean_returns(np.asarray(horizon_returns, dtype=np.float64))
    total = int(values.size)
    if thresholds is None:
        ordered = np.sort(values, kind="stable")
        tail = math.floor(total * TAIL_SHARE)
        bear, base, bull = ordered[:tail], ordered[tail : total - tail], ordered[total - tail :]
    else:
        low, high = float(thresholds[0]), float(thresholds[1])
        if not low <= high:
            raise ValueError(f"thresholds must satisfy low <= high, got {thresholds!r}")
        bear, base, bull = values[values < low], values[(values >= low) & (values <= high)], values[values > high]
    return {"bear": _outcome(bear, total), "base": _outcome(base, total), "bull": _outcome(bull, total)}


def fan_chart(paths_cumulative: npt.ArrayLike, percentiles: Sequence[float] = (5, 25, 50, 75, 95)) -> pd.DataFrame:
    """Per-step percentiles of cumulative returns, for a fan chart.

    Parameters
    ----------
    paths_cumulative : array-like
        ``(paths, horizon)`` cumulative returns (fractions), e.g. from :func:`block_bootstrap_paths`; a 1-D
        array is one path per element at a single step.
    percentiles : sequence of float, default (5, 25, 50, 75, 95)
        Percentiles in [0, 100].

    Returns
    -------
    pandas.DataFrame
        Index ``step`` = 1..horizon, one column per percentile (labelled by the given number, in the given
        order), cumulative returns as fractions (numpy linear interpolation). NaN paths are ignored step by
        step; a step with no valid value is NaN (no warning). Columns for increasing percentiles are
        non-decreasing along every row.

    Raises
    ------
    ValueError
        A percentile outside [0, 100] or NaN, or an input with more than two dimensions.
    """
    qs = np.asarray([float(p) for p in percentiles], dtype=np.float64)
    if qs.size and not (np.all(np.isfinite(qs)) and qs.min() >= 0.0 and qs.max() <= 100.0):
        raise ValueError(f"percentiles must lie in [0, 100], got {tuple(percentiles)!r}")
    array = np.asarray(paths_cumulative, dtype=np.float64)
    if array.ndim > 2:
        raise ValueError(f"paths_cumulative must be 1-D or 2-D, got {array.ndim} dimensions")
    matrix = array.reshape(-1, 1) if array.ndim < 2 else array
    table = np.full((matrix.shape[1], qs.size), np.nan, dtype=np.float64)
    for step in range(matrix.shape[1]):
        column = matrix[:, step]
        valid = column[np.isfinite(column)]
        if valid.size and qs.size:
            table[step] = np.percentile(valid, qs)
    index = pd.RangeIndex(1, matrix.shape[1] + 1, name="step")
    return pd.DataFrame(table, index=index, columns=pd.Index(list(percentiles), name="percentile"))
