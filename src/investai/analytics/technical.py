"""Technical indicators on price series.

Conventions
-----------
* Inputs are pandas Series of prices (any currency; the unit cancels except for :func:`atr`, which is in price
  units) indexed by date, one value per period (trading days for the defaults: 252 a year, 21 a month).
  Outputs have the same index.
* **Causal**: the value at ``t`` uses only data up to and including ``t``; changing any later value never changes
  it.
* **Warm-up and NaN policy**: values are NaN until the indicator has its full look-back (stated per function).
  Rolling-window indicators give NaN whenever the window contains a NaN; the exponential ones (pandas ``ewm``
  with ``adjust=False`` and the default ``ignore_na=False``) skip a NaN price and carry the previous average,
  counting only valid observations toward the warm-up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "atr",
    "bollinger_bands",
    "distance_from_high",
    "ema",
    "macd",
    "momentum_12_1",
    "rsi",
    "sma",
    "trend_signal",
]


def _check_window(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _wilder(values: pd.Series, window: int) -> pd.Series:
    """Wilder's smoothing ``a_t = a_{t-1} + (x_t - a_{t-1}) / window``, seeded with the first valid value."""
    return values.ewm(alpha=1.0 / window, adjust=False, min_periods=window).mean()


def sma(close: pd.Series, window: int) -> pd.Series:
    """Simple moving average of the last ``window`` prices.

    Parameters
    ----------
    close : pandas.Series
        Prices (any unit), one per period.
    window : int
        Look-back in periods.

    Returns
    -------
    pandas.Series
        Average in the unit of ``close``; NaN for the first ``window - 1`` periods and for any window holding a NaN.
    """
    _check_window("window", window)
    return close.astype(np.float64).rolling(window, min_periods=window).mean()


def ema(close: pd.Series, span: int) -> pd.Series:
    """Exponential moving average, ``alpha = 2 / (span + 1)``, recursive form (pandas ``ewm(adjust=False)``).

    Parameters
    ----------
    close : pandas.Series
        Prices (any unit), one per period.
    span : int
        Span in periods.

    Returns
    -------
    pandas.Series
        Average in the unit of ``close``, seeded with the first price; NaN until ``span`` valid prices have been
        seen (the recursion still starts at the first price). NaN prices are skipped (previous value carried).
    """
    _check_window("span", span)
    return close.astype(np.float64).ewm(span=span, adjust=False, min_periods=span).mean()


def rsi(close: pd.Series, window: int = 14) -> pd.Series:
    """Relative Strength Index with Wilder's smoothing.

    Average gain and average loss of the one-period price changes are smoothed with
    ``ewm(alpha=1/window, adjust=False)`` (seeded with the first change, not with Wilder's initial simple average);
    ``RSI = 100 - 100 / (1 + avg_gain / avg_loss)``.

    Parameters
    ----------
    close : pandas.Series
        Prices, one per period.
    window : int, default 14
        Wilder period.

    Returns
    -------
    pandas.Series
        RSI in [0, 100]; NaN for the first ``window`` periods (``window`` price changes are needed). 100 when the
        average loss is zero (no losses since the start, as Wilder's recursion never forgets a loss) and there was
        a gain; 50 when the price has not moved at all (no gains and no losses: the ratio is undefined).
    """
    _check_window("window", window)
    change = close.astype(np.float64).diff()
    gain = _wilder(change.clip(lower=0.0), window)
    loss = _wilder(-change.clip(upper=0.0), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain / loss)
    value = value.mask((loss == 0.0) & (gain > 0.0), 100.0)
    value = value.mask((loss == 0.0) & (gain == 0.0), 50.0)
    return value.rename(close.name)


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """Moving Average Convergence Divergence.

    Parameters
    ----------
    close : pandas.Series
        Prices, one per period.
    fast, slow : int, default 12 and 26
        Spans of the fast and slow EMAs (see :func:`ema`); ``fast < slow``.
    signal : int, default 9
        Span of the EMA of the MACD line.

    Returns
    -------
    pandas.DataFrame
        Columns ``macd`` (fast EMA - slow EMA, in price units), ``signal`` (EMA of ``macd``, seeded with its first
        valid value) and ``histogram`` (``macd - signal``). ``macd`` is NaN for the first ``slow - 1`` periods and
        ``signal``/``histogram`` for the first ``slow + signal - 2``.
    """
    _check_window("signal", signal)
    if not 0 < fast < slow:
        raise ValueError(f"need 0 < fast < slow, got fast={fast!r}, slow={slow!r}")
    line = ema(close, fast) - ema(close, slow)
    signal_line = line.ewm(span=signal, adjust=False, min_periods=signal).mean()
    return pd.DataFrame({"macd": line, "signal": signal_line, "histogram": line - signal_line}, index=close.index)


def bollinger_bands(close: pd.Series, window: int = 20, k: float = 2.0) -> pd.DataFrame:
    """Bollinger Bands: the simple moving average plus and minus ``k`` rolling standard deviations.

    Parameters
    ----------
    close : pandas.Series
        Prices, one per period.
    window : int, default 20
        Look-back in periods.
    k : float, default 2.0
        Width in standard deviations.

    Returns
    -------
    pandas.DataFrame
        Columns ``middle`` (:func:`sma`), ``upper`` and ``lower``, in price units. The standard deviation is the
        *population* one (ddof=0), as in Bollinger's definition (pandas' default ddof=1 would give wider bands).
        NaN for the first ``window - 1`` periods and for any window holding a NaN.
    """
    _check_window("window", window)
    prices = close.astype(np.float64)
    middle = prices.rolling(window, min_periods=window).mean()
    width = k * prices.rolling(window, min_periods=window).std(ddof=0)
    return pd.DataFrame({"middle": middle, "upper": middle + width, "lower": middle - width}, index=close.index)


def atr(high: pd.Series, low: pd.Series, close: pd.Series, window: int = 14) -> pd.Series:
    """Average True Range with Wilder's smoothing.

    True range ``TR_t = max(high_t - low_t, |high_t - close_{t-1}|, |low_t - close_{t-1}|)``, or
    ``high_t - low_t`` when there is no previous close (the first period or a NaN close); the ATR is
    ``ewm(alpha=1/window, adjust=False)`` of TR, seeded with the first true range.

    Parameters
    ----------
    high, low, close : pandas.Series
        Period high, low and close prices on the same index (``ValueError`` otherwise).
    window : int, default 14
        Wilder period.

    Returns
    -------
    pandas.Series
        ATR in price units; NaN for the first ``window - 1`` periods. A period with a NaN high or low has no true
        range and is skipped by the smoothing.
    """
    _check_window("window", window)
    if not (high.index.equals(low.index) and high.index.equals(close.index)):
        raise ValueError("high, low and close must share the same index")
    high_, low_ = high.astype(np.float64), low.astype(np.float64)
    previous = close.astype(np.float64).shift(1)
    span = high_ - low_
    true_range = pd.concat([span, (high_ - previous).abs(), (low_ - previous).abs()], axis=1).max(axis=1)
    true_range = true_range.where(span.notna())
    return _wilder(true_range, window).rename(close.name)


def momentum_12_1(close: pd.Series) -> pd.Series:
    """12-1 month momentum: the simple return from ``t - 252`` to ``t - 21`` trading days.

    Parameters
    ----------
    close : pandas.Series
        Daily prices (trading days).

    Returns
    -------
    pandas.Series
        ``close[t-21] / close[t-252] - 1`` as a fraction (the last month is skipped to avoid short-term
        reversal); NaN for the first 252 periods or when either price is NaN.
    """
    prices = close.astype(np.float64)
    return prices.shift(21) / prices.shift(252) - 1.0


def trend_signal(close: pd.Series, fast: int = 50, slow: int = 200) -> pd.Series:
    """Moving-average trend signal: +1 when SMA(fast) is above SMA(slow), -1 below, 0 equal.

    Parameters
    ----------
    close : pandas.Series
        Prices, one per period.
    fast, slow : int, default 50 and 200
        Look-backs of the two simple moving averages; ``fast < slow``.

    Returns
    -------
    pandas.Series
        Float +1.0 / -1.0 / 0.0; NaN for the first ``slow - 1`` periods or when either average is NaN.
    """
    if not 0 < fast < slow:
        raise ValueError(f"need 0 < fast < slow, got fast={fast!r}, slow={slow!r}")
    return np.sign(sma(close, fast) - sma(close, slow))


def distance_from_high(close: pd.Series, window: int = 252) -> pd.Series:
    """Distance of the price from its rolling high: ``close / max(close over window) - 1``.

    Parameters
    ----------
    close : pandas.Series
        Prices, one per period.
    window : int, default 252
        Look-back in periods, the current one included (252 trading days: the 52-week high).

    Returns
    -------
    pandas.Series
        Fraction <= 0 (0 at a new high, -0.2 when 20% below it); NaN for the first ``window - 1`` periods and for
        any window holding a NaN.
    """
    _check_window("window", window)
    prices = close.astype(np.float64)
    return prices / prices.rolling(window, min_periods=window).max() - 1.0
