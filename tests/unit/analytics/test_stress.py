"""Tests of :mod:`investai.analytics.stress` on skfolio's bundled S&P 500 prices (offline) and hand examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from skfolio.datasets import load_sp500_dataset

from investai.analytics.stress import HISTORICAL_WINDOWS, hypothetical_shock, replay_historical


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    frame: pd.DataFrame = load_sp500_dataset()
    return frame


def test_windows_are_the_documented_dates() -> None:
    dates = {w.name: (w.start.date().isoformat(), w.end.date().isoformat()) for w in HISTORICAL_WINDOWS}
    assert dates == {
        "dot_com": ("2000-03-24", "2002-10-09"),
        "gfc": ("2007-10-09", "2009-03-09"),
        "covid": ("2020-02-19", "2020-03-23"),
        "rate_shock_2022": ("2022-01-03", "2022-10-12"),
    }


def test_equal_weight_crisis_signs(prices: pd.DataFrame) -> None:
    weights = pd.Series(1.0, index=prices.columns)
    table = replay_historical(weights, prices)
    assert list(table.index) == [w.name for w in HISTORICAL_WINDOWS]
    assert table.loc["gfc", "portfolio_return"] < -0.2
    assert table.loc["covid", "portfolio_return"] < -0.2
    assert (table["coverage"] == 1.0).all()
    assert (table["max_drawdown"] <= np.minimum(table["portfolio_return"], 0.0) + 1e-12).all()


def test_single_asset_matches_price_ratio(prices: pd.DataFrame) -> None:
    table = replay_historical(pd.Series({"JPM": 1.0}), prices)
    expected = prices.loc["2009-03-09", "JPM"] / prices.loc["2007-10-09", "JPM"] - 1
    assert table.loc["gfc", "JPM"] == pytest.approx(expected, rel=1e-12)
    assert table.loc["gfc", "portfolio_return"] == pytest.approx(expected, rel=1e-12)


def test_buy_and_hold_hand_example() -> None:
    index = pd.to_datetime(["2020-02-19", "2020-03-02", "2020-03-23"])
    prices = pd.DataFrame({"a": [100.0, 50.0, 80.0], "b": [10.0, 12.0, 11.0]}, index=index)
    row = replay_historical(pd.Series({"a": 0.5, "b": 0.5}), prices).loc["covid"]
    assert row["a"] == pytest.approx(-0.2)
    assert row["b"] == pytest.approx(0.1)
    assert row["portfolio_return"] == pytest.approx(-0.05)
    assert row["max_drawdown"] == pytest.approx((0.5 * 0.5 + 0.5 * 1.2) - 1)
    assert math.isnan(replay_historical(pd.Series({"a": 1.0}), prices).loc["gfc", "portfolio_return"])


def test_missing_asset_excluded_and_renormalised(prices: pd.DataFrame) -> None:
    late = prices[["JPM", "KO"]].copy()
    late.loc[late.index < "2008-06-01", "KO"] = np.nan
    table = replay_historical(pd.Series({"JPM": 0.25, "KO": 0.75}), late)
    assert math.isnan(table.loc["gfc", "KO"])
    assert table.loc["gfc", "coverage"] == pytest.approx(0.25)
    assert table.loc["gfc", "portfolio_return"] == pytest.approx(table.loc["gfc", "JPM"])
    assert table.loc["covid", "coverage"] == pytest.approx(1.0)


def test_no_data_in_window_gives_nan(prices: pd.DataFrame) -> None:
    recent = prices.loc["2019-01-01":, ["AAPL", "KO"]]
    table = replay_historical(pd.Series({"AAPL": 0.5, "KO": 0.5}), recent)
    assert table.loc["gfc", "coverage"] == 0.0
    assert math.isnan(table.loc["gfc", "portfolio_return"])
    assert math.isnan(table.loc["gfc", "max_drawdown"])
    assert table.loc[["gfc", "dot_com"], ["AAPL", "KO"]].isna().all().all()


def test_replay_errors(prices: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no prices"):
        replay_historical(pd.Series({"XXX": 1.0}), prices)
    with pytest.raises(ValueError, match="non-negative"):
        replay_historical(pd.Series({"KO": -1.0}), prices)
    with pytest.raises(ValueError, match="non-empty"):
        replay_historical(pd.Series(dtype=float), prices)
    with pytest.raises(ValueError, match="DatetimeIndex"):
        replay_historical(pd.Series({"KO": 1.0}), prices.reset_index(drop=True))


def test_shock_arithmetic() -> None:
    weights = pd.Series({"a": 0.5, "b": 0.3, "c": 0.2})
    betas = pd.Series({"a": 1.2, "b": 0.8, "c": 0.0, "d": 3.0})
    result = hypothetical_shock(
        weights,
        betas,
        market_move=-0.10,
        sector_shocks={"Tech": -0.05},
        sectors={"a": "Tech", "b": "Energy"},
    )
    shocks = result["asset_shocks"]
    assert isinstance(shocks, pd.Series)
    np.testing.assert_allclose(shocks.to_numpy(), [-0.17, -0.08, 0.0])
    assert result["portfolio_return"] == pytest.approx(0.5 * -0.17 + 0.3 * -0.08)
    assert math.isnan(float(result["volatility"]))  # type: ignore[arg-type]


def test_shock_floored_at_total_loss() -> None:
    result = hypothetical_shock(pd.Series({"a": 1.0}), pd.Series({"a": 3.0}), market_move=-0.5)
    assert result["portfolio_return"] == pytest.approx(-1.0)


def test_volatility_scenario() -> None:
    rng = np.random.default_rng(1)
    returns = pd.DataFrame(rng.normal(0, 0.01, (500, 2)), columns=["a", "b"])
    returns.iloc[3, 0] = np.nan
    weights = pd.Series({"a": 0.6, "b": 0.4})
    result = hypothetical_shock(weights, pd.Series({"a": 1.0, "b": 1.0}), vol_multiplier=2.0, returns=returns)
    sigma = float((returns.dropna() @ weights).std())
    assert result["volatility"] == pytest.approx(sigma * math.sqrt(252))
    assert result["stressed_volatility"] == pytest.approx(2 * sigma * math.sqrt(252))
    assert result["var_95"] == pytest.approx(1.6448536269514722 * sigma)
    assert result["stressed_var_95"] == pytest.approx(2 * 1.6448536269514722 * sigma)


def test_shock_errors() -> None:
    weights = pd.Series({"a": 1.0})
    with pytest.raises(ValueError, match="no beta"):
        hypothetical_shock(weights, pd.Series({"b": 1.0}))
    with pytest.raises(ValueError, match="NaN"):
        hypothetical_shock(weights, pd.Series({"a": math.nan}))
    with pytest.raises(ValueError, match="sectors mapping"):
        hypothetical_shock(weights, pd.Series({"a": 1.0}), sector_shocks={"Tech": -0.1})
    with pytest.raises(ValueError, match="vol_multiplier"):
        hypothetical_shock(weights, pd.Series({"a": 1.0}), vol_multiplier=-1.0)
    with pytest.raises(ValueError, match="no returns"):
        hypothetical_shock(weights, pd.Series({"a": 1.0}), returns=pd.DataFrame({"b": [0.0, 0.1]}))
    with pytest.raises(ValueError, match="at least 2 rows"):
        hypothetical_shock(weights, pd.Series({"a": 1.0}), returns=pd.DataFrame({"a": [0.01]}))
