"""Return series: from prices to simple/log returns, excess returns, compounded growth and CAGR.

Units and conventions
---------------------
Returns are simple periodic returns as fractions (``0.01`` is 1%) unless a function says otherwise. The
periodicity (``"daily"``, ``"weekly"``, ...) is only used to annualise, through
:func:`investai.analytics.periods.periods_per_year` (252 trading days a year, as empyrical).

NaN policy
----------
* Prices: a missing (NaN) or non-positive price is an unknown price. The return *into* and the return *out of*
  that period are both NaN; prices are never forward-filled.
* Return series (:func:`cumulative_returns`): a NaN return is a missing observation. It is skipped when
  compounding (as if the row were dropped) and the output is NaN on that row, so the output has the input's
  shape and every non-NaN value equals the result computed on ``returns.dropna()``.
* Scalars (:func:`annual_return`): NaNs are dropped first; the number of years is the number of non-NaN
  periods divided by the periods per year.

Every function accepts a ``pd.Series``, a 1-D ``np.ndarray`` or a ``pd.DataFrame`` (one column per asset) and
is vectorised over columns.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from investai.analytics.periods import Periodicity, periods_per_year

__all__ = [
    "adjusted_closes",
    "annual_return",
    "cumulative_returns",
    "excess_returns",
    "log_returns",
    "per_period_rate",
    "simple_returns",
]

FloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
Prices: TypeAlias = "pd.Series | pd.DataFrame"
Returns: TypeAlias = "pd.Series | pd.DataFrame | FloatArray"


def _valid_prices(prices: Prices) -> Prices:
    """``prices`` as floats with non-positive prices replaced by NaN."""
    as_float = prices.astype("float64")
    return as_float.where(as_float > 0.0)


def adjusted_closes(bars: pd.DataFrame) -> pd.Series:
    """The price series of a bar frame: the adjusted close, or the close on bars that have no adjusted close.

    Parameters
    ----------
    bars : pd.DataFrame
        Bars with ``date``, ``close`` and ``adj_close`` columns (as the market store returns them), oldest first.

    Returns
    -------
    pd.Series
        Prices as floats indexed by a ``DatetimeIndex`` of the bar dates; NaN where a bar has neither value.
    """
    prices = bars["adj_close"].where(bars["adj_close"].notna(), bars["close"]).astype("float64")
    prices.index = pd.DatetimeIndex(pd.to_datetime(bars["date"]))
    return prices


def simple_returns(prices: Prices) -> Prices:
    """Simple returns ``p[t] / p[t-1] - 1`` of a price series.

    Parameters
    ----------
    prices : pd.Series or pd.DataFrame
        Prices (any currency unit), one row per period, oldest first; a DataFrame has one column per asset.

    Returns
    -------
    pd.Series or pd.DataFrame
        Periodic simple returns as fractions, same periodicity as ``prices``, indexed like ``prices`` without its
        first row (the first period has no return).

    Notes
    -----
    NaN policy: a NaN or non-positive price makes the returns on both sides of it NaN (the return into and the
    return out of that period); prices are never forward-filled.
    """
    valid = _valid_prices(prices)
    return (valid / valid.shift(1) - 1.0).iloc[1:]


def log_returns(prices: Prices) -> Prices:
    """Log returns ``ln(p[t] / p[t-1])`` of a price series.

    Parameters
    ----------
    prices : pd.Series or pd.DataFrame
        Prices (any currency unit), one row per period, oldest first; a DataFrame has one column per asset.

    Returns
    -------
    pd.Series or pd.DataFrame
        Periodic continuously compounded returns (fractions, not percent), same periodicity as ``prices``, indexed
        like ``prices`` without its first row.

    Notes
    -----
    NaN policy: as :func:`simple_returns`, a NaN or non-positive price gives NaN log returns on both sides of it.
    """
    valid = _valid_prices(prices)
    return np.log(valid / valid.shift(1)).iloc[1:]


def per_period_rate(annual_rate: float, periodicity: Periodicity | str = Periodicity.DAILY) -> float:
    """Convert an annual rate into the equivalent compounded per-period rate ``(1 + r) ** (1 / n) - 1``.

    Parameters
    ----------
    annual_rate : float
        Annual rate as a fraction (``0.03`` is 3% a year); must be greater than -1.
    periodicity : Periodicity or str
        Target periodicity, ``n`` is :func:`~investai.analytics.periods.periods_per_year` of it.

    Returns
    -------
    float
        The per-period rate as a fraction; NaN when ``annual_rate`` is NaN or not greater than -1.
    """
    if not annual_rate > -1.0:
        return float("nan")
    return float((1.0 + annual_rate) ** (1.0 / periods_per_year(periodicity)) - 1.0)


def excess_returns(
    returns: Returns,
    risk_free: float | pd.Series = 0.0,
    periodicity: Periodicity | str = Periodicity.DAILY,
) -> Returns:
    """Returns in excess of a risk-free rate.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    risk_free : float or pd.Series
        A float is an ANNUAL rate (``0.03`` is 3% a year), converted to a per-period rate as
        ``(1 + rf) ** (1 / n) - 1`` with ``n`` the periods per year of ``periodicity``. A Series is already a
        PER-PERIOD rate, aligned to ``returns`` by index (only for Series/DataFrame ``returns``).
    periodicity : Periodicity or str
        Periodicity of ``returns``, used only to convert a float ``risk_free``.

    Returns
    -------
    Same type as ``returns``
        Per-period excess returns as fractions, same shape and index as ``returns``.

    Notes
    -----
    NaN policy: a NaN return stays NaN; with a Series ``risk_free``, a period with no (or NaN) risk-free rate
    gives a NaN excess return (the rate is never forward-filled).

    Raises
    ------
    TypeError
        When ``risk_free`` is a Series and ``returns`` is a bare array (nothing to align on).
    """
    if isinstance(risk_free, pd.Series):
        if isinstance(returns, pd.DataFrame):
            return returns.sub(risk_free.reindex(returns.index), axis=0)
        if isinstance(returns, pd.Series):
            return returns - risk_free.reindex(returns.index)
        raise TypeError("a Series risk_free needs Series or DataFrame returns to align on")
    return returns - per_period_rate(float(risk_free), periodicity)


def _as_2d(returns: Returns) -> FloatArray:
    """The returns as a float 2-D array (a 1-D input becomes one column)."""
    values = np.asarray(returns, dtype=np.float64)
    return values.reshape(-1, 1) if values.ndim == 1 else values


def cumulative_returns(returns: Returns) -> Returns:
    """Compounded cumulative returns ``prod(1 + r[:t]) - 1``.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions, oldest first.

    Returns
    -------
    Same type as ``returns``
        Cumulative return (fraction) from the start of the series to the end of each period; same shape and index.

    Notes
    -----
    NaN policy: a NaN return is a missing observation, skipped when compounding; the output is NaN on that row.
    Causal: the value at ``t`` only depends on returns up to ``t``.
    """
    values = _as_2d(returns)
    missing = np.isnan(values)
    growth = np.cumprod(np.where(missing, 1.0, 1.0 + values), axis=0) - 1.0
    growth[missing] = np.nan
    return _like(returns, growth)


def _like(template: Returns, values: FloatArray) -> Returns:
    """``values`` (2-D) wrapped like ``template`` (same type, index and columns)."""
    if isinstance(template, pd.DataFrame):
        return pd.DataFrame(values, index=template.index, columns=template.columns)
    if isinstance(template, pd.Series):
        return pd.Series(values[:, 0], index=template.index, name=template.name)
    return values[:, 0]


def annual_return(returns: Returns, periodicity: Periodicity | str = Periodicity.DAILY) -> float | pd.Series:
    """Compound annual growth rate (CAGR), empyrical's ``annual_return``.

    ``prod(1 + r) ** (n / N) - 1`` with ``n`` the periods per year and ``N`` the number of observations.

    Parameters
    ----------
    returns : pd.Series, pd.DataFrame or 1-D np.ndarray
        Periodic simple returns as fractions.
    periodicity : Periodicity or str
        Periodicity of ``returns`` (``"daily"`` annualises with 252).

    Returns
    -------
    float or pd.Series
        Annual growth rate as a fraction (a pd.Series indexed by column for a DataFrame).

    Notes
    -----
    NaN policy: NaNs are dropped first, so ``N`` counts non-NaN periods (empyrical counts NaN rows in ``N``; the
    two agree whenever there is no NaN). Empty input gives NaN; a wealth that ends below zero (a return below
    -100%) gives NaN; one ending at exactly zero gives -1.0.
    """
    return _scalar_like(returns, _annual_return_2d(_as_2d(returns), periods_per_year(periodicity)))


def _annual_return_2d(values: FloatArray, ppy: int) -> FloatArray:
    """Column-wise CAGR of a 2-D array of returns (NaNs dropped); see :func:`annual_return`."""
    count = np.sum(~np.isnan(values), axis=0)
    wealth = np.nanprod(1.0 + values, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.power(np.where(wealth < 0.0, np.nan, wealth), ppy / np.where(count > 0, count, 1)) - 1.0
    return np.where(count > 0, growth, np.nan)


def _scalar_like(template: Returns, values: FloatArray) -> float | pd.Series:
    """One value per column: a float for 1-D input, a Series indexed by column for a DataFrame."""
    if isinstance(template, pd.DataFrame):
        return pd.Series(values, index=template.columns, dtype="float64")
    return float(values[0])
