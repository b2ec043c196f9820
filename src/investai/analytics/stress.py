"""Stress tests: historical crisis replays and hypothetical factor shocks.

Conventions
-----------
* Prices are close (ideally total-return adjusted) levels indexed by a ``DatetimeIndex``, one column per asset.
  Returns are simple returns as fractions (0.01 is 1%); drawdowns are negative fractions (-0.25 is a 25% loss);
  VaR is a positive loss fraction as in :mod:`investai.analytics.risk`.
* Weights are fractions of capital indexed by asset.
* **NaN policy**: stated per function; assets without data in a window are reported as NaN and excluded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from investai.analytics.periods import Periodicity, periods_per_year

__all__ = ["HISTORICAL_WINDOWS", "StressWindow", "hypothetical_shock", "replay_historical"]

FloatArray = npt.NDArray[np.float64]

_ANCHOR_TOLERANCE = pd.Timedelta(days=7)
"""How far a window's first/last available close may lie from its nominal start/end (weekends, holidays)."""
_VAR_CONFIDENCE = 0.95


@dataclass(frozen=True)
class StressWindow:
    """A dated historical stress window (both ends inclusive, calendar dates)."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    description: str


HISTORICAL_WINDOWS: tuple[StressWindow, ...] = (
    StressWindow(
        "dot_com", pd.Timestamp("2000-03-24"), pd.Timestamp("2002-10-09"), "Dot-com bust: S&P 500 close peak to trough"
    ),
    StressWindow(
        "gfc", pd.Timestamp("2007-10-09"), pd.Timestamp("2009-03-09"), "Global financial crisis: S&P 500 peak to trough"
    ),
    StressWindow(
        "covid", pd.Timestamp("2020-02-19"), pd.Timestamp("2020-03-23"), "COVID-19 crash: S&P 500 peak to trough"
    ),
    StressWindow(
        "rate_shock_2022",
        pd.Timestamp("2022-01-03"),
        pd.Timestamp("2022-10-12"),
        "2022 rate shock: S&P 500 peak to trough",
    ),
)
"""The replayed crises. Each window runs from the S&P 500's closing high to its closing low of that bear market
(S&P Dow Jones Indices closing levels: 1527.46 on 2000-03-24 to 776.76 on 2002-10-09; 1565.15 on 2007-10-09 to
676.53 on 2009-03-09; 3386.15 on 2020-02-19 to 2237.40 on 2020-03-23; 4796.56 on 2022-01-03 to 3577.03 on
2022-10-12). Peak-to-trough dating of the broad US market is the usual convention for historical scenarios, so
each replay shows a book's behaviour over the full drawdown of the market."""


def _check_weights(weights: pd.Series, columns: pd.Index) -> None:
    missing = [str(asset) for asset in weights.index if asset not in columns]
    if missing:
        raise ValueError(f"no prices for weighted assets {missing}")
    values = weights.to_numpy(dtype=np.float64)
    if len(values) == 0 or not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
        raise ValueError("weights must be non-empty, finite, non-negative and sum to a positive number")


def _window_prices(prices: pd.DataFrame, window: StressWindow) -> pd.DataFrame:
    return prices.loc[(prices.index >= window.start - _ANCHOR_TOLERANCE) & (prices.index <= window.end)]


def _asset_path(series: pd.Series, window: StressWindow) -> pd.Series | None:
    """Growth of 1 from the last close on/before the start to the end; ``None`` if the window is not covered."""
    valid = series.dropna()
    before = valid.loc[valid.index <= window.start]
    if before.empty or valid.empty or valid.index[-1] < window.end - _ANCHOR_TOLERANCE:
        return None
    anchor_date = before.index[-1]
    path = series.loc[series.index >= anchor_date].ffill()
    return path / float(path.iloc[0])


def _replay_window(weights: pd.Series, prices: pd.DataFrame, window: StressWindow) -> dict[str, float]:
    frame = _window_prices(prices, window)
    paths = {asset: _asset_path(frame[asset], window) for asset in weights.index}
    covered = [asset for asset, path in paths.items() if path is not None]
    row: dict[str, float] = {
        asset: math.nan if path is None else float(path.iloc[-1]) - 1.0 for asset, path in paths.items()
    }
    total = float(weights.sum())
    coverage = float(weights[covered].sum()) / total if covered else 0.0
    portfolio_return, drawdown = math.nan, math.nan
    if covered and coverage > 0:
        growth = pd.concat([paths[asset] for asset in covered], axis=1).ffill().dropna()
        held = weights[covered].to_numpy(dtype=np.float64)
        value = growth.to_numpy(dtype=np.float64) @ (held / held.sum())
        portfolio_return = float(value[-1]) - 1.0
        drawdown = float(np.min(value / np.maximum.accumulate(value) - 1.0))
    return {"portfolio_return": portfolio_return, "max_drawdown": drawdown, "coverage": coverage, **row}


def replay_historical(weights: pd.Series, prices: pd.DataFrame) -> pd.DataFrame:
    """Replay each window of :data:`HISTORICAL_WINDOWS` on a buy-and-hold portfolio.

    For each window the portfolio is bought at the last close on or before the window start (within 7 calendar
    days) and held, without rebalancing, to the last close on or before the window end.

    Parameters
    ----------
    weights : pandas.Series
        Non-negative weights indexed by asset (every asset must be a column of ``prices``); normalised to 1.
    prices : pandas.DataFrame
        Close price levels with a ``DatetimeIndex`` (sorted here), one column per asset. Interior NaNs inside a
        window are forward-filled.

    Returns
    -------
    pandas.DataFrame
        One row per window (index: window name, as in HISTORICAL_WINDOWS) with ``portfolio_return``
        (simple return over the window, fraction), ``max_drawdown`` (most negative peak-to-trough of the
        buy-and-hold value inside the window, negative fraction), ``coverage`` (fraction of the weight with data)
        and one column per weighted asset with that asset's simple return over the window.

    Raises
    ------
    ValueError
        If ``prices`` has no ``DatetimeIndex``, weights reference unknown assets, or weights are empty, negative,
        NaN or sum to zero.

    Notes
    -----
    An asset without data for a window (no close within 7 days before the start, or its data end more than 7 days
    before the window end) gets NaN for its return and is excluded from that window's portfolio, whose remaining
    weights are renormalised to 1; ``coverage`` reports the weight that was kept. With no covered asset the
    portfolio return and drawdown are NaN and ``coverage`` is 0.
    """
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise ValueError("prices must be indexed by a DatetimeIndex")
    _check_weights(weights, prices.columns)
    ordered = prices.sort_index().astype(np.float64)
    rows = {window.name: _replay_window(weights, ordered, window) for window in HISTORICAL_WINDOWS}
    columns = ["portfolio_return", "max_drawdown", "coverage", *weights.index]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns).astype(np.float64)


def _asset_shocks(
    betas: pd.Series,
    market_move: float,
    sector_shocks: dict[str, float] | None,
    sectors: dict[str, str] | None,
) -> pd.Series:
    shocks = betas.astype(np.float64) * market_move
    if sector_shocks:
        if sectors is None:
            raise ValueError("sector_shocks need a sectors mapping (asset -> sector)")
        extra = pd.Series([sector_shocks.get(sectors.get(asset, ""), 0.0) for asset in betas.index], index=betas.index)
        shocks = shocks + extra
    return shocks.clip(lower=-1.0)


def _volatility_fields(weights: pd.Series, returns: pd.DataFrame | None, k: float) -> dict[str, float]:
    nan = math.nan
    if returns is None:
        return {"volatility": nan, "stressed_volatility": nan, "var_95": nan, "stressed_var_95": nan}
    missing = [str(asset) for asset in weights.index if asset not in returns.columns]
    if missing:
        raise ValueError(f"no returns for weighted assets {missing}")
    clean = returns[list(weights.index)].astype(np.float64).dropna(how="any")
    if len(clean) < 2:
        raise ValueError(f"returns need at least 2 rows without NaN, got {len(clean)}")
    portfolio = clean.to_numpy(dtype=np.float64) @ weights.to_numpy(dtype=np.float64)
    sigma = float(portfolio.std(ddof=1))
    z = float(stats.norm.ppf(_VAR_CONFIDENCE))
    ppy = periods_per_year(Periodicity.DAILY)
    return {
        "volatility": sigma * math.sqrt(ppy),
        "stressed_volatility": k * sigma * math.sqrt(ppy),
        "var_95": z * sigma,
        "stressed_var_95": z * k * sigma,
    }


def hypothetical_shock(
    weights: pd.Series,
    betas: pd.Series,
    *,
    market_move: float = -0.20,
    sector_shocks: dict[str, float] | None = None,
    sectors: dict[str, str] | None = None,
    vol_multiplier: float = 1.0,
    returns: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Instantaneous hypothetical shock: beta-scaled market move plus sector shocks, and a volatility x k scenario.

    Each asset's shock is ``beta_i * market_move + sector_shocks[sector_i]`` (additive; a sector absent from
    ``sector_shocks`` adds 0), floored at -1 (a long position cannot lose more than 100%). The portfolio P&L is
    ``sum_i w_i shock_i`` with the weights as given (fractions of capital, *not* renormalised, so cash is whatever
    the weights leave out).

    Parameters
    ----------
    weights : pandas.Series
        Weights (fractions of capital) indexed by asset; every asset needs a beta.
    betas : pandas.Series
        Market betas indexed by asset (dimensionless).
    market_move : float, default -0.20
        Market return in the scenario, as a fraction.
    sector_shocks : dict[str, float], optional
        Sector -> extra return (fraction) added to the assets of that sector. Needs ``sectors``.
    sectors : dict[str, str], optional
        Asset -> sector; an asset missing from it gets no sector shock.
    vol_multiplier : float, default 1.0
        Volatility scale ``k >= 0`` for the volatility scenario.
    returns : pandas.DataFrame, optional
        Daily simple returns of the assets (rows with NaN in a weighted asset dropped) used for the volatility
        scenario. Without it the volatility fields are NaN.

    Returns
    -------
    dict
        ``asset_shocks`` (pandas.Series of fractions), ``portfolio_return`` (fraction of capital),
        ``market_move``, ``vol_multiplier``, ``volatility`` and ``stressed_volatility`` (annualised, sqrt(252),
        fractions; stressed is ``k`` times), ``var_95`` and ``stressed_var_95`` (one-day zero-mean Gaussian VaR
        ``1.645 sigma`` as a positive loss fraction; stressed is ``k`` times).

    Raises
    ------
    ValueError
        On NaN weights or betas, weighted assets without a beta (or without returns), a negative
        ``vol_multiplier``, ``sector_shocks`` without ``sectors``, or fewer than 2 clean rows of ``returns``.

    Notes
    -----
    The parametric VaR here is zero-mean (the drift is ignored in a stress) so it scales exactly with ``k``; it
    differs from :func:`investai.analytics.risk.value_at_risk` ``method="parametric"`` by the mean term.
    """
    if not (math.isfinite(vol_multiplier) and vol_multiplier >= 0):
        raise ValueError(f"vol_multiplier must be non-negative and finite, got {vol_multiplier!r}")
    missing = [str(asset) for asset in weights.index if asset not in betas.index]
    if missing:
        raise ValueError(f"no beta for weighted assets {missing}")
    if not np.all(np.isfinite(weights.to_numpy(dtype=np.float64))):
        raise ValueError("weights must not contain NaN")
    aligned_betas = betas.reindex(weights.index)
    if not np.all(np.isfinite(aligned_betas.to_numpy(dtype=np.float64))):
        raise ValueError("betas of weighted assets must not be NaN")
    shocks = _asset_shocks(aligned_betas, market_move, sector_shocks, sectors)
    portfolio_return = float((weights.astype(np.float64) * shocks).sum())
    return {
        "asset_shocks": shocks,
        "portfolio_return": portfolio_return,
        "market_move": market_move,
        "vol_multiplier": vol_multiplier,
        **_volatility_fields(weights, returns, vol_multiplier),
    }
