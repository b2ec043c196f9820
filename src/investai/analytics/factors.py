"""Cross-sectional factor scores of a universe of stocks, as of the last row of a daily price frame.

Inputs
------
``prices`` is a wide DataFrame of daily closes (trading days), one row per date oldest first and one column per
symbol. Every factor is computed **as of the last row** from rows up to and including it; nothing else is read,
so ``factor_scores(prices.loc[:t])`` is the score a model would have seen on day ``t`` (no look-ahead).
Non-positive and non-finite prices are treated as NaN; prices are never forward-filled.

``fundamentals`` (optional) is indexed by symbol with any of the columns ``pe_ratio``, ``eps_ttm``, ``roe``,
``debt_to_equity`` and ``revenue_growth_yoy`` (ratios as fractions: ``roe=0.15`` is 15%).

Raw factors (higher is better for every one of them)
----------------------------------------------------
============================  ===============================================================================
``momentum``                  12-1 momentum: ``close[t-21] / close[t-252] - 1`` (needs 253 rows).
``low_volatility``            ``-`` annualised volatility (ddof=1, x sqrt(252)) of the last 63 daily returns.
``trend``                     ``close[t] / SMA200[t] - 1`` (needs 200 valid closes); continuous, so it ranks.
``short_term_reversal``       ``-(close[t] / close[t-21] - 1)``: last month's losers score high.
``value``                     Earnings yield ``1 / pe_ratio`` (fallback ``eps_ttm / close[t]``).
``quality``                   Mean of the winsorised z-scores of ``roe`` and ``-debt_to_equity``.
``growth``                    ``revenue_growth_yoy``.
============================  ===============================================================================

Scores are winsorised z-scores of the raw factors (:func:`winsorised_zscores`), optionally within sectors, and
:func:`composite_score` blends them with the weight table :data:`HORIZON_WEIGHTS` x :data:`RISK_MULTIPLIERS`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

import numpy as np
import pandas as pd

from investai.analytics.performance import volatility

__all__ = [
    "FACTORS",
    "FUNDAMENTAL_FACTORS",
    "HORIZONS",
    "HORIZON_WEIGHTS",
    "PRICE_FACTORS",
    "RISK_MULTIPLIERS",
    "RISK_TOLERANCES",
    "composite_score",
    "factor_scores",
    "factor_weights",
    "growth",
    "low_volatility",
    "momentum",
    "quality",
    "raw_factors",
    "short_term_reversal",
    "trend",
    "value",
    "winsorised_zscores",
]

PRICE_FACTORS: tuple[str, ...] = ("momentum", "low_volatility", "trend", "short_term_reversal")
FUNDAMENTAL_FACTORS: tuple[str, ...] = ("value", "quality", "growth")
FACTORS: tuple[str, ...] = PRICE_FACTORS + FUNDAMENTAL_FACTORS

MOMENTUM_ROWS = 253
"""Rows needed for 12-1 momentum (``t - 252`` .. ``t``)."""
MOMENTUM_SKIP = 21
"""Most recent trading days skipped by 12-1 momentum."""
VOL_WINDOW = 63
"""Daily returns in the low-volatility window (about three months)."""
VOL_MIN_OBS = 42
"""Valid returns (two thirds of the window) needed for a low-volatility score."""
TREND_WINDOW = 200
REVERSAL_WINDOW = 21
UNKNOWN_SECTOR = "<unknown>"

HORIZONS: tuple[str, ...] = ("intraday", "short", "medium", "long", "very_long")
RISK_TOLERANCES: tuple[str, ...] = ("very_conservative", "conservative", "moderate", "aggressive", "very_aggressive")

HORIZON_WEIGHTS: dict[str, dict[str, float]] = {
    #                 momentum  low_vol  trend  reversal  value  quality  growth
    "intraday": dict(zip(FACTORS, (0.10, 0.15, 0.30, 0.40, 0.00, 0.00, 0.05), strict=True)),
    "short": dict(zip(FACTORS, (0.20, 0.15, 0.25, 0.25, 0.05, 0.05, 0.05), strict=True)),
    "medium": dict(zip(FACTORS, (0.25, 0.15, 0.15, 0.05, 0.15, 0.15, 0.10), strict=True)),
    "long": dict(zip(FACTORS, (0.15, 0.15, 0.05, 0.00, 0.25, 0.25, 0.15), strict=True)),
    "very_long": dict(zip(FACTORS, (0.05, 0.15, 0.00, 0.00, 0.30, 0.30, 0.20), strict=True)),
}
"""Base factor weights per horizon (each row sums to 1): short horizons lean on reversal and trend, long ones on
value and quality."""

RISK_MULTIPLIERS: dict[str, dict[str, float]] = {
    #                          momentum  low_vol  trend  reversal  value  quality  growth
    "very_conservative": dict(zip(FACTORS, (0.50, 2.00, 1.00, 0.50, 1.00, 1.50, 0.50), strict=True)),
    "conservative": dict(zip(FACTORS, (0.75, 1.50, 1.00, 0.75, 1.00, 1.25, 0.75), strict=True)),
    "moderate": dict(zip(FACTORS, (1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00), strict=True)),
    "aggressive": dict(zip(FACTORS, (1.25, 0.50, 1.00, 1.25, 1.00, 0.75, 1.25), strict=True)),
    "very_aggressive": dict(zip(FACTORS, (1.50, 0.25, 1.00, 1.50, 1.00, 0.50, 1.50), strict=True)),
}
"""Multipliers applied to :data:`HORIZON_WEIGHTS` before renormalising: conservative profiles favour low
volatility and quality, aggressive ones momentum, reversal and growth."""


# --------------------------------------------------------------------------------------------- price factors


def _clean_prices(prices: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(prices, pd.DataFrame):
        raise TypeError(f"prices must be a pandas DataFrame (dates x symbols), got {type(prices).__name__}")
    if not prices.index.is_monotonic_increasing:
        raise ValueError("prices must be sorted oldest first")
    values = prices.astype(np.float64)
    return values.where(np.isfinite(values) & (values > 0))


def _nan_factor(prices: pd.DataFrame, name: str) -> pd.Series:
    return pd.Series(np.nan, index=prices.columns, dtype=np.float64, name=name)


def momentum(prices: pd.DataFrame) -> pd.Series:
    """12-1 momentum of each symbol as of the last row.

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, dates x symbols, oldest first.

    Returns
    -------
    pandas.Series
        ``close[t-21] / close[t-252] - 1`` (a fraction, about eleven months of return skipping the last month),
        equal to ``technical.momentum_12_1(close).iloc[-1]``. NaN with fewer than 253 rows or when either of the
        two prices is NaN / non-positive.
    """
    clean = _clean_prices(prices)
    if len(clean) < MOMENTUM_ROWS:
        return _nan_factor(clean, "momentum")
    # The last value of technical.momentum_12_1 for every column at once (the same arithmetic).
    return (clean.iloc[-1 - MOMENTUM_SKIP] / clean.iloc[-MOMENTUM_ROWS] - 1.0).rename("momentum")


def low_volatility(prices: pd.DataFrame) -> pd.Series:
    """Negative annualised volatility of the last 63 daily returns (higher = calmer).

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, dates x symbols, oldest first.

    Returns
    -------
    pandas.Series
        ``-std(r, ddof=1) * sqrt(252)`` over the simple returns of the last 64 rows, as a fraction (``-0.2`` is
        20% a year). NaN returns are dropped (a NaN price voids the returns on both sides); NaN when fewer than
        42 valid returns remain. A constant price gives ``-0.0``.
    """
    clean = _clean_prices(prices)
    window = clean.iloc[-(VOL_WINDOW + 1) :]
    returns = (window / window.shift(1) - 1.0).iloc[1:]
    if returns.shape[1] == 0:
        return _nan_factor(clean, "low_volatility")
    vol = pd.Series(volatility(returns), index=clean.columns, dtype=np.float64)
    enough = returns.notna().sum() >= VOL_MIN_OBS
    return (-vol).where(enough).rename("low_volatility")


def trend(prices: pd.DataFrame) -> pd.Series:
    """Distance of the last close from its 200-day simple moving average.

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, dates x symbols, oldest first.

    Returns
    -------
    pandas.Series
        ``close[t] / SMA200[t] - 1`` as a fraction; positive in an up-trend. The continuous form is used rather
        than the +-1 50/200 cross (``technical.trend_signal``) so that it ranks. NaN with fewer than 200 rows or
        when any of the last 200 closes is NaN.
    """
    clean = _clean_prices(prices)
    if len(clean) < TREND_WINDOW:
        return _nan_factor(clean, "trend")
    tail = clean.iloc[-TREND_WINDOW:]
    average = tail.mean(skipna=False)  # the last value of technical.sma(close, 200), every column at once
    return (tail.iloc[-1] / average - 1.0).rename("trend")


def short_term_reversal(prices: pd.DataFrame) -> pd.Series:
    """Negative of the last 21-day return (last month's losers score high).

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, dates x symbols, oldest first.

    Returns
    -------
    pandas.Series
        ``-(close[t] / close[t-21] - 1)`` as a fraction. NaN with fewer than 22 rows or when either price is NaN.
    """
    clean = _clean_prices(prices)
    if len(clean) < REVERSAL_WINDOW + 1:
        return _nan_factor(clean, "short_term_reversal")
    return (-(clean.iloc[-1] / clean.iloc[-(REVERSAL_WINDOW + 1)] - 1.0)).rename("short_term_reversal")


# --------------------------------------------------------------------------------------- fundamental factors


def _column(fundamentals: pd.DataFrame, name: str) -> pd.Series:
    if name not in fundamentals.columns:
        return pd.Series(np.nan, index=fundamentals.index, dtype=np.float64)
    values = pd.to_numeric(fundamentals[name], errors="coerce").astype(np.float64)
    return values.where(np.isfinite(values))


def value(fundamentals: pd.DataFrame, last_close: pd.Series | None = None) -> pd.Series:
    """Earnings yield ``E / P``.

    Parameters
    ----------
    fundamentals : pandas.DataFrame
        Indexed by symbol; uses ``pe_ratio`` and, as a fallback, ``eps_ttm``.
    last_close : pandas.Series, optional
        Last close per symbol, used for ``eps_ttm / close`` where ``pe_ratio`` is missing or zero.

    Returns
    -------
    pandas.Series
        ``1 / pe_ratio`` as a fraction (PE 20 -> 0.05). A negative PE gives a negative yield (loss-makers rank
        last, and a smaller loss ranks above a larger one, unlike ranking the PE itself). NaN when neither input
        is usable (PE NaN or 0 and no ``eps_ttm`` or positive close).
    """
    pe = _column(fundamentals, "pe_ratio")
    result = (1.0 / pe.where(pe != 0)).astype(np.float64)
    if last_close is not None:
        close = last_close.reindex(fundamentals.index).astype(np.float64)
        fallback = _column(fundamentals, "eps_ttm") / close.where(close > 0)
        result = result.fillna(fallback)
    return result.rename("value")


def quality(fundamentals: pd.DataFrame) -> pd.Series:
    """Profitability and balance-sheet strength: ``mean(z(roe), z(-debt_to_equity))``.

    Parameters
    ----------
    fundamentals : pandas.DataFrame
        Indexed by symbol; uses ``roe`` (fraction) and ``debt_to_equity`` (ratio).

    Returns
    -------
    pandas.Series
        Mean of the available winsorised z-scores (:func:`winsorised_zscores`, whole universe) of ``roe`` and
        of ``-debt_to_equity``; unitless. A negative debt/equity (negative equity) is treated as NaN. NaN when
        both components are NaN.
    """
    roe = winsorised_zscores(_column(fundamentals, "roe"))
    leverage = _column(fundamentals, "debt_to_equity")
    low_debt = winsorised_zscores(-leverage.where(leverage >= 0))
    return pd.concat([roe, low_debt], axis=1).mean(axis=1, skipna=True).rename("quality")


def growth(fundamentals: pd.DataFrame) -> pd.Series:
    """Revenue growth, year over year.

    Parameters
    ----------
    fundamentals : pandas.DataFrame
        Indexed by symbol; uses ``revenue_growth_yoy`` (fraction, 0.1 is 10%).

    Returns
    -------
    pandas.Series
        ``revenue_growth_yoy`` as given; NaN where missing or non-finite.
    """
    return _column(fundamentals, "revenue_growth_yoy").rename("growth")


_FUNDAMENTAL_INPUTS: dict[str, tuple[str, ...]] = {
    "value": ("pe_ratio", "eps_ttm"),
    "quality": ("roe", "debt_to_equity"),
    "growth": ("revenue_growth_yoy",),
}


def raw_factors(prices: pd.DataFrame, fundamentals: pd.DataFrame | None = None) -> pd.DataFrame:
    """All raw factors of every symbol of ``prices`` as of its last row.

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, dates x symbols, oldest first.
    fundamentals : pandas.DataFrame, optional
        Indexed by symbol; symbols not in ``prices`` are ignored, missing ones get NaN.

    Returns
    -------
    pandas.DataFrame
        Symbols (the columns of ``prices``) x factors, in the units of each factor function. The four price
        factors are always present; a fundamental factor is present only when ``fundamentals`` is given and has
        at least one of its input columns.
    """
    clean = _clean_prices(prices)
    columns: dict[str, pd.Series] = {
        "momentum": momentum(clean),
        "low_volatility": low_volatility(clean),
        "trend": trend(clean),
        "short_term_reversal": short_term_reversal(clean),
    }
    if fundamentals is not None:
        fund = fundamentals.reindex(clean.columns)
        last_close = clean.iloc[-1] if len(clean) else None
        builders = {
            "value": lambda: value(fund, last_close),
            "quality": lambda: quality(fund),
            "growth": lambda: growth(fund),
        }
        for name, inputs in _FUNDAMENTAL_INPUTS.items():
            if any(col in fundamentals.columns for col in inputs):
                columns[name] = builders[name]()
    frame = pd.DataFrame(columns, index=clean.columns, dtype=np.float64)
    frame.index.name = "symbol"
    return frame


# ------------------------------------------------------------------------------------------------ z-scores


def _check_limits(limits: tuple[float, float]) -> tuple[float, float]:
    low, high = float(limits[0]), float(limits[1])
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"limits must satisfy 0 <= low < high <= 1, got {limits!r}")
    return low, high


def _zscore_block(values: pd.Series, low: float, high: float) -> pd.Series:
    result = pd.Series(np.nan, index=values.index, dtype=np.float64)
    valid = values.dropna()
    if valid.empty:
        return result
    data = valid.to_numpy(dtype=np.float64)
    lower, upper = np.quantile(data, [low, high])
    clipped = np.clip(data, lower, upper)
    scale = float(np.abs(clipped).max())
    scaled = clipped / scale if scale > 0.0 else clipped  # z-scores are scale-free; this avoids overflow
    std = float(scaled.std(ddof=0)) if np.ptp(scaled) > 0.0 else 0.0
    if not std > 0.0:  # constant, or a spread so small (subnormal) that the std underflows to zero
        result[valid.index] = 0.0
        return result
    result[valid.index] = (scaled - scaled.mean()) / std
    return result


def _sector_keys(index: pd.Index, sectors: pd.Series) -> pd.Series:
    keys = sectors.reindex(index).astype(object)
    return keys.where(keys.notna(), UNKNOWN_SECTOR)


def winsorised_zscores(
    values: pd.Series,
    limits: tuple[float, float] = (0.05, 0.95),
    *,
    sectors: pd.Series | None = None,
    sector_neutral: bool = False,
) -> pd.Series:
    """Cross-sectional z-scores after clipping at quantiles.

    The valid values are clipped to their ``limits`` quantiles (numpy's linear interpolation), then
    standardised ``(x - mean) / std`` with ``ddof=0``.

    Parameters
    ----------
    values : pandas.Series
        One raw factor value per symbol (any unit), unique index.
    limits : tuple of float, default (0.05, 0.95)
        Lower and upper quantiles, ``0 <= low < high <= 1``; ``(0, 1)`` disables the clipping.
    sectors : pandas.Series, optional
        Sector label per symbol; needed when ``sector_neutral``.
    sector_neutral : bool, default False
        Clip and standardise within each sector instead of across the whole universe. Symbols with no sector
        (missing from ``sectors`` or NaN) form one ``"<unknown>"`` group.

    Returns
    -------
    pandas.Series
        Unitless z-scores indexed like ``values`` (float64). NaN and +-inf inputs stay NaN and are excluded from
        the quantiles, mean and std. A constant group (including a single member, e.g. a one-member sector) is
        all ``0.0``; an empty or all-NaN input is all NaN. Non-constant groups have mean 0 and std 1 (ddof=0).

    Raises
    ------
    ValueError
        Bad ``limits``, a duplicated index, or ``sector_neutral`` without ``sectors``.
    """
    low, high = _check_limits(limits)
    if not values.index.is_unique:
        raise ValueError("values must have a unique index (one value per symbol)")
    clean = pd.to_numeric(values, errors="coerce").astype(np.float64)
    clean = clean.where(np.isfinite(clean))
    if not sector_neutral:
        return _zscore_block(clean, low, high).rename(values.name)
    if sectors is None:
        raise ValueError("sector_neutral=True needs sectors")
    keys = _sector_keys(clean.index, sectors)
    result = pd.Series(np.nan, index=clean.index, dtype=np.float64, name=values.name)
    for members in clean.groupby(keys, sort=False).groups.values():
        result[members] = _zscore_block(clean[members], low, high)
    return result


def factor_scores(
    prices: pd.DataFrame,
    *,
    fundamentals: pd.DataFrame | None = None,
    sectors: pd.Series | None = None,
    sector_neutral: bool = False,
    limits: tuple[float, float] = (0.05, 0.95),
) -> pd.DataFrame:
    """Winsorised z-scores of every raw factor as of the last row of ``prices``.

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, dates x symbols, oldest first. Only rows up to the last one are read (no look-ahead).
    fundamentals : pandas.DataFrame, optional
        Indexed by symbol (see :func:`raw_factors`); without it only the four price factors are scored.
    sectors : pandas.Series, optional
        Sector per symbol, for ``sector_neutral``.
    sector_neutral : bool, default False
        Standardise each factor within sectors (:func:`winsorised_zscores`).
    limits : tuple of float, default (0.05, 0.95)
        Winsorisation quantiles.

    Returns
    -------
    pandas.DataFrame
        Symbols x factors (columns in the order of :data:`FACTORS`, present ones only), unitless z-scores.
        NaN where the raw factor is NaN (too little history, missing fundamentals); an empty ``prices`` gives
        all-NaN price factors.
    """
    raw = raw_factors(prices, fundamentals)
    scored = {
        name: winsorised_zscores(raw[name], limits, sectors=sectors, sector_neutral=sector_neutral)
        for name in raw.columns
    }
    return pd.DataFrame(scored, index=raw.index, dtype=np.float64)


# ---------------------------------------------------------------------------------------------- composite


def _check_choice(name: str, choice: str, allowed: Iterable[str]) -> str:
    key = str(choice).lower()
    if key not in allowed:
        raise ValueError(f"unknown {name} {choice!r}; expected one of {tuple(allowed)}")
    return key


def factor_weights(horizon: str, risk_tolerance: str, available: Iterable[Hashable] | None = None) -> dict[str, float]:
    """Composite weights for a horizon and risk tolerance, renormalised over the available factors.

    ``weight[f] = HORIZON_WEIGHTS[horizon][f] * RISK_MULTIPLIERS[risk_tolerance][f]``, restricted to
    ``available`` and divided by its sum.

    Parameters
    ----------
    horizon : str
        ``intraday``, ``short``, ``medium``, ``long`` or ``very_long`` (case-insensitive).
    risk_tolerance : str
        ``very_conservative``, ``conservative``, ``moderate``, ``aggressive`` or ``very_aggressive``.
    available : iterable of str, optional
        Factor names to keep (unknown names are ignored); default all of :data:`FACTORS`.

    Returns
    -------
    dict of str to float
        Non-negative weights of the available known factors (zero-weight ones included), summing to 1.

    Raises
    ------
    ValueError
        Unknown horizon or risk tolerance, or no available factor with a positive weight.
    """
    h = _check_choice("horizon", horizon, HORIZONS)
    r = _check_choice("risk tolerance", risk_tolerance, RISK_TOLERANCES)
    keep = set(FACTORS) if available is None else {str(f) for f in available}
    raw = {f: HORIZON_WEIGHTS[h][f] * RISK_MULTIPLIERS[r][f] for f in FACTORS if f in keep}
    total = sum(raw.values())
    if total <= 0.0:
        raise ValueError(f"no factor with a positive weight for horizon={h!r} among {sorted(keep)}")
    return {f: w / total for f, w in raw.items()}


def _weights_vector(columns: pd.Index, horizon: str, risk_tolerance: str) -> pd.Series:
    h = _check_choice("horizon", horizon, HORIZONS)
    r = _check_choice("risk tolerance", risk_tolerance, RISK_TOLERANCES)
    table: Mapping[str, float] = {f: HORIZON_WEIGHTS[h][f] * RISK_MULTIPLIERS[r][f] for f in FACTORS}
    return pd.Series([table.get(str(c), 0.0) for c in columns], index=columns, dtype=np.float64)


def composite_score(scores: pd.DataFrame, horizon: str, risk_tolerance: str) -> pd.Series:
    """Weighted blend of factor z-scores, best first.

    Parameters
    ----------
    scores : pandas.DataFrame
        Symbols x factors, e.g. from :func:`factor_scores`; columns not in :data:`FACTORS` are ignored.
    horizon : str
        See :func:`factor_weights`.
    risk_tolerance : str
        See :func:`factor_weights`.

    Returns
    -------
    pandas.Series
        ``sum(w_f * z_f) / sum(w_f)`` per symbol, the sums over that symbol's non-NaN factors (so missing
        fundamentals drop out and the remaining weights are renormalised, as in :func:`factor_weights`);
        unitless. NaN when no positively weighted factor is available for the symbol. Sorted descending, NaN
        last, ties kept in input order. Named ``"composite"``.

    Raises
    ------
    ValueError
        Unknown horizon or risk tolerance.
    """
    weights = _weights_vector(scores.columns, horizon, risk_tolerance)
    values = scores.astype(np.float64)
    present = values.notna()
    numerator = values.fillna(0.0).mul(weights, axis=1).sum(axis=1)
    denominator = present.mul(weights, axis=1).sum(axis=1)
    composite = (numerator / denominator.where(denominator > 0)).astype(np.float64)
    return composite.sort_values(ascending=False, kind="mergesort", na_position="last").rename("composite")
