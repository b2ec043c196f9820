"""Reference checks of :mod:`investai.analytics.technical`.

References and tolerances: SMA, EMA and Bollinger Bands against pandas (``rolling().mean()``,
``ewm(span, adjust=False)``, ``rolling().std(ddof=0)``) and, for SMA/Bollinger, a numpy loop; RSI, MACD, ATR,
12-1 momentum and distance from high against straightforward loops written here (Wilder's recursion
``a_t = a_{t-1} + (x_t - a_{t-1}) / n`` spelled out). All at ``rtol=1e-10`` (the loops and pandas accumulate
rounding differently). No-lookahead checks are exact (``assert_series_equal`` / ``assert_frame_equal``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from investai.analytics.technical import (
    atr,
    bollinger_bands,
    distance_from_high,
    ema,
    macd,
    momentum_12_1,
    rsi,
    sma,
    trend_signal,
)

RTOL = 1e-10


def _prices(n: int = 600, seed: int = 1) -> pd.Series:
    rng = np.random.default_rng(seed)
    values = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n)))
    return pd.Series(values, index=pd.bdate_range("2019-01-01", periods=n), name="close")


def _ohlc(n: int = 400, seed: int = 2) -> tuple[pd.Series, pd.Series, pd.Series]:
    close = _prices(n, seed)
    rng = np.random.default_rng(seed + 1)
    high = close * (1 + rng.uniform(0, 0.02, n))
    low = close * (1 - rng.uniform(0, 0.02, n))
    return high, low, close


def _ema_loop(values: list[float], alpha: float) -> list[float]:
    out, state = [], values[0]
    for x in values:
        state = state + alpha * (x - state)
        out.append(state)
    return out


def _assert_close(actual: pd.Series, expected: list[float] | np.ndarray) -> None:
    np.testing.assert_allclose(actual.to_numpy(), np.asarray(expected, dtype=float), rtol=RTOL, atol=1e-12)


# ------------------------------------------------------------------------------------------------ references


def test_sma_matches_pandas_and_a_loop() -> None:
    close = _prices()
    _assert_close(sma(close, 20), close.rolling(20).mean().to_numpy())
    loop = [np.nan] * 19 + [np.mean(close.to_numpy()[t - 19 : t + 1]) for t in range(19, len(close))]
    _assert_close(sma(close, 20), loop)


def test_ema_matches_pandas_with_warm_up() -> None:
    close = _prices()
    expected = close.ewm(span=10, adjust=False).mean()
    expected.iloc[:9] = np.nan
    _assert_close(ema(close, 10), expected.to_numpy())
    loop = _ema_loop(close.tolist(), 2 / 11)
    _assert_close(ema(close, 10).iloc[9:], loop[9:])


def test_bollinger_matches_pandas_population_std() -> None:
    close = _prices()
    bands = bollinger_bands(close, 20, 2.0)
    middle = close.rolling(20).mean()
    std = close.rolling(20).std(ddof=0)
    _assert_close(bands["middle"], middle.to_numpy())
    _assert_close(bands["upper"], (middle + 2 * std).to_numpy())
    _assert_close(bands["lower"], (middle - 2 * std).to_numpy())
    t = 100
    window = close.to_numpy()[t - 19 : t + 1]
    assert bands["upper"].iloc[t] == pytest.approx(window.mean() + 2 * window.std(ddof=0), rel=RTOL)
    assert list(bands.columns) == ["middle", "upper", "lower"]


def test_rsi_matches_wilder_loop() -> None:
    close = _prices()
    values = close.tolist()
    window = 14
    expected = [np.nan] * len(values)
    avg_gain = avg_loss = 0.0
    for t in range(1, len(values)):
        change = values[t] - values[t - 1]
        gain, loss = max(change, 0.0), max(-change, 0.0)
        if t == 1:
            avg_gain, avg_loss = gain, loss
        else:
            avg_gain += (gain - avg_gain) / window
            avg_loss += (loss - avg_loss) / window
        if t >= window:
            expected[t] = 100.0 if avg_loss == 0 else 100 - 100 / (1 + avg_gain / avg_loss)
    _assert_close(rsi(close, window), expected)


def test_macd_matches_loop() -> None:
    close = _prices()
    values = close.tolist()
    fast, slow = _ema_loop(values, 2 / 13), _ema_loop(values, 2 / 27)
    line = [f - s for f, s in zip(fast, slow, strict=True)]
    # macd is valid from index 25 (slow - 1); its EMA is seeded there and valid 8 (signal - 1) periods later.
    signal = [np.nan] * 33 + _ema_loop(line[25:], 2 / 10)[8:]
    result = macd(close)
    _assert_close(result["macd"], [np.nan] * 25 + line[25:])
    _assert_close(result["signal"], signal)
    _assert_close(result["histogram"], [np.nan] * 33 + [m - s for m, s in zip(line[33:], signal[33:], strict=True)])


def test_atr_matches_wilder_loop() -> None:
    high, low, close = _ohlc()
    window = 14
    h, lo, c = high.tolist(), low.tolist(), close.tolist()
    expected = [np.nan] * len(c)
    state = 0.0
    for t in range(len(c)):
        tr = h[t] - lo[t] if t == 0 else max(h[t] - lo[t], abs(h[t] - c[t - 1]), abs(lo[t] - c[t - 1]))
        state = tr if t == 0 else state + (tr - state) / window
        if t >= window - 1:
            expected[t] = state
    _assert_close(atr(high, low, close, window), expected)


def test_momentum_trend_and_distance_match_loops() -> None:
    close = _prices()
    v = close.to_numpy()
    momentum = [np.nan] * 252 + [v[t - 21] / v[t - 252] - 1 for t in range(252, len(v))]
    _assert_close(momentum_12_1(close), momentum)
    distance = [np.nan] * 251 + [v[t] / v[t - 251 : t + 1].max() - 1 for t in range(251, len(v))]
    _assert_close(distance_from_high(close), distance)
    assert (distance_from_high(close).dropna() <= 0).all()
    trend = [np.nan] * 199 + [
        float(np.sign(v[t - 49 : t + 1].mean() - v[t - 199 : t + 1].mean())) for t in range(199, len(v))
    ]
    _assert_close(trend_signal(close), trend)


# ------------------------------------------------------------------------------------------------ edge cases


INDICATORS: dict[str, Callable[[pd.Series], pd.Series | pd.DataFrame]] = {
    "sma": lambda c: sma(c, 20),
    "ema": lambda c: ema(c, 20),
    "rsi": lambda c: rsi(c),
    "macd": lambda c: macd(c),
    "bollinger": lambda c: bollinger_bands(c),
    "atr": lambda c: atr(c * 1.01, c * 0.99, c),
    "momentum_12_1": momentum_12_1,
    "trend_signal": lambda c: trend_signal(c),
    "distance_from_high": lambda c: distance_from_high(c),
}


@pytest.mark.parametrize("name", INDICATORS)
def test_empty_series_gives_empty_output(name: str) -> None:
    result = INDICATORS[name](pd.Series([], dtype=float))
    assert len(result) == 0


@pytest.mark.parametrize("name", INDICATORS)
def test_one_observation_is_warm_up(name: str) -> None:
    result = INDICATORS[name](pd.Series([100.0], index=pd.bdate_range("2024-01-01", periods=1)))
    assert len(result) == 1
    assert np.isnan(np.asarray(result, dtype=float)).all()


def test_constant_series() -> None:
    close = pd.Series(100.0, index=pd.bdate_range("2020-01-01", periods=300))
    assert (rsi(close).dropna() == 50.0).all()
    bands = bollinger_bands(close).dropna()
    assert (bands["upper"] == bands["lower"]).all()
    assert (distance_from_high(close).dropna() == 0.0).all()
    assert (atr(close, close, close).dropna() == 0.0).all()
    assert (trend_signal(close).dropna() == 0.0).all()
    assert (macd(close).dropna() == 0.0).all().all()


def test_nans_inside_follow_the_documented_policy() -> None:
    close = _prices(100)
    close.iloc[50] = np.nan
    rolled = sma(close, 5)
    assert rolled.iloc[50:55].isna().all()
    assert rolled.iloc[49] == pytest.approx(close.iloc[45:50].mean())
    assert rolled.iloc[55] == pytest.approx(close.iloc[51:56].mean())
    smoothed = ema(close, 5)
    assert smoothed.iloc[50] == smoothed.iloc[49]  # the EMA carries over a missing price
    assert not np.isnan(rsi(close).iloc[60])


def test_only_rising_prices() -> None:
    close = pd.Series(np.linspace(100, 200, 300), index=pd.bdate_range("2020-01-01", periods=300))
    assert (rsi(close).dropna() == 100.0).all()
    assert (distance_from_high(close).dropna() == 0.0).all()
    assert (trend_signal(close).dropna() == 1.0).all()
    assert (momentum_12_1(close).dropna() > 0).all()
    assert (macd(close)["macd"].dropna() > 0).all()


def test_invalid_windows_raise() -> None:
    close = _prices(50)
    with pytest.raises(ValueError, match="window"):
        sma(close, 0)
    with pytest.raises(ValueError, match="fast < slow"):
        macd(close, fast=26, slow=12)
    with pytest.raises(ValueError, match="index"):
        atr(close, close.iloc[1:], close)


# ------------------------------------------------------------------------------------------------ no lookahead


@pytest.mark.parametrize("name", INDICATORS)
@pytest.mark.parametrize("cut", [30, 260, 400])
def test_no_lookahead(name: str, cut: int) -> None:
    close = _prices(600, seed=4)
    changed = close.copy()
    changed.iloc[cut + 1 :] = np.random.default_rng(cut).uniform(1, 1000, len(close) - cut - 1)
    before, after = INDICATORS[name](close), INDICATORS[name](changed)
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(before.iloc[: cut + 1], after.iloc[: cut + 1], check_exact=True)
    else:
        pd.testing.assert_series_equal(before.iloc[: cut + 1], after.iloc[: cut + 1], check_exact=True)
    assert not before.iloc[cut + 1 :].equals(after.iloc[cut + 1 :])  # the change after T does reach the output
