"""Checks of :mod:`investai.analytics.factors`: winsorised z-scores of five numbers and a sector-neutral case
worked by hand, raw factors cross-checked against pandas / :mod:`investai.analytics.technical`, the weight
table, composite blending, edge cases, hypothesis properties and a no-look-ahead check."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from investai.analytics.factors import (
    FACTORS,
    HORIZON_WEIGHTS,
    HORIZONS,
    PRICE_FACTORS,
    RISK_TOLERANCES,
    composite_score,
    factor_scores,
    factor_weights,
    low_volatility,
    momentum,
    quality,
    raw_factors,
    short_term_reversal,
    trend,
    value,
    winsorised_zscores,
)
from investai.analytics.technical import momentum_12_1

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]


def _prices(n: int = 320, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    drift = np.linspace(-0.001, 0.001, len(SYMBOLS))
    vol = np.linspace(0.005, 0.03, len(SYMBOLS))
    steps = rng.normal(drift, vol, size=(n, len(SYMBOLS)))
    return pd.DataFrame(
        100 * np.exp(np.cumsum(steps, axis=0)), index=pd.bdate_range("2020-01-01", periods=n), columns=SYMBOLS
    )


def _fundamentals() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pe_ratio": [10.0, 20.0, -5.0, np.nan, 40.0, 15.0],
            "eps_ttm": [1.0, 2.0, -1.0, 3.0, 0.5, np.nan],
            "roe": [0.25, 0.10, -0.05, 0.15, 0.30, 0.12],
            "debt_to_equity": [0.5, 1.5, 3.0, 0.2, -1.0, 0.8],
            "revenue_growth_yoy": [0.05, 0.20, -0.10, 0.08, 0.40, np.nan],
        },
        index=SYMBOLS,
    )


# ------------------------------------------------------------------------------------------------ z-scores


def test_zscores_of_five_numbers_by_hand() -> None:
    # quantiles 5%/95% of 1..5 (linear): 1.2 and 4.8 -> clipped 1.2, 2, 3, 4, 4.8; mean 3;
    # population variance (1.8^2 + 1 + 0 + 1 + 1.8^2) / 5 = 1.696
    z = winsorised_zscores(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=list("abcde")))
    expected = np.array([-1.8, -1.0, 0.0, 1.0, 1.8]) / math.sqrt(1.696)
    np.testing.assert_allclose(z.to_numpy(), expected, rtol=1e-12)
    assert list(z.index) == list("abcde")


def test_zscores_without_clipping_match_pandas() -> None:
    values = pd.Series([3.0, -1.0, 7.5, 2.0, 0.5, 11.0])
    z = winsorised_zscores(values, limits=(0.0, 1.0))
    pd.testing.assert_series_equal(z, (values - values.mean()) / values.std(ddof=0))


def test_zscores_clip_outlier() -> None:
    values = pd.Series([1.0, 2.0, 3.0, 4.0, 1000.0])
    z = winsorised_zscores(values, limits=(0.0, 0.75))  # 75% quantile = 4 -> 1, 2, 3, 4, 4
    clipped = pd.Series([1.0, 2.0, 3.0, 4.0, 4.0])
    np.testing.assert_allclose(z, (clipped - clipped.mean()) / clipped.std(ddof=0), rtol=1e-12)


def test_zscores_nan_stays_nan_and_is_excluded() -> None:
    values = pd.Series([1.0, np.nan, 3.0, np.inf], index=list("abcd"))
    z = winsorised_zscores(values, limits=(0.0, 1.0))
    assert z["a"] == pytest.approx(-1.0)
    assert z["c"] == pytest.approx(1.0)
    assert math.isnan(z["b"])
    assert math.isnan(z["d"])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series([0.1, 0.1, 0.1]), [0.0, 0.0, 0.0]),
        (pd.Series([42.0]), [0.0]),
        (pd.Series([np.nan, np.nan]), [np.nan, np.nan]),
        (pd.Series([], dtype=float), []),
    ],
)
def test_zscores_degenerate_inputs(values: pd.Series, expected: list[float]) -> None:
    np.testing.assert_array_equal(winsorised_zscores(values).to_numpy(), np.array(expected, dtype=float))


def test_sector_neutral_by_hand() -> None:
    values = pd.Series({"a": 1.0, "b": 3.0, "c": 10.0, "d": 20.0, "e": 30.0, "f": 5.0, "g": 7.0})
    sectors = pd.Series({"a": "X", "b": "X", "c": "Y", "d": "Y", "e": "Y", "f": "Z", "g": np.nan})
    z = winsorised_zscores(values, (0.0, 1.0), sectors=sectors, sector_neutral=True)
    sd_y = math.sqrt(200 / 3)  # population std of 10, 20, 30
    expected = pd.Series({"a": -1.0, "b": 1.0, "c": -10 / sd_y, "d": 0.0, "e": 10 / sd_y, "f": 0.0, "g": 0.0})
    pd.testing.assert_series_equal(z, expected, rtol=1e-12)


def test_sector_neutral_symbols_missing_from_sectors_form_one_group() -> None:
    values = pd.Series({"a": 1.0, "b": 2.0, "c": 4.0})
    z = winsorised_zscores(values, (0.0, 1.0), sectors=pd.Series({"a": "X"}), sector_neutral=True)
    assert z["a"] == 0.0
    assert (z["b"], z["c"]) == (pytest.approx(-1.0), pytest.approx(1.0))


@pytest.mark.parametrize("kwargs", [{"limits": (0.5, 0.5)}, {"limits": (-0.1, 0.9)}, {"sector_neutral": True}])
def test_zscores_bad_arguments_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"limits|sector_neutral"):
        winsorised_zscores(pd.Series([1.0, 2.0]), **kwargs)


def test_zscores_duplicate_index_raises() -> None:
    with pytest.raises(ValueError, match="unique"):
        winsorised_zscores(pd.Series([1.0, 2.0], index=["a", "a"]))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=60))
def test_zscores_have_zero_mean_unit_std_when_not_constant(data: list[float]) -> None:
    z = winsorised_zscores(pd.Series(data))
    lo, hi = np.quantile(data, [0.05, 0.95])
    clipped = np.clip(data, lo, hi)
    assume(np.ptp(clipped) > 1e-6 * max(1.0, float(np.abs(clipped).max())))
    assert z.mean() == pytest.approx(0.0, abs=1e-9)
    assert z.std(ddof=0) == pytest.approx(1.0, rel=1e-9)


# ------------------------------------------------------------------------------------------- raw factors


def test_price_factors_match_pandas_and_technical() -> None:
    prices = _prices()
    last = prices.iloc[-1]
    for sym in SYMBOLS:
        assert momentum(prices)[sym] == pytest.approx(momentum_12_1(prices[sym]).iloc[-1], rel=1e-12)
    expected_vol = -prices.pct_change(fill_method=None).iloc[-63:].std(ddof=1) * math.sqrt(252)
    pd.testing.assert_series_equal(low_volatility(prices), expected_vol.rename("low_volatility"), rtol=1e-10)
    expected_trend = last / prices.rolling(200).mean().iloc[-1] - 1
    pd.testing.assert_series_equal(trend(prices), expected_trend.rename("trend"), rtol=1e-10)
    expected_rev = -(last / prices.iloc[-22] - 1)
    pd.testing.assert_series_equal(short_term_reversal(prices), expected_rev.rename("short_term_reversal"))


def test_low_volatility_ranks_calm_stocks_first() -> None:
    rng = np.random.default_rng(0)
    steps = rng.normal(0.0, [0.002, 0.005, 0.01, 0.02, 0.04, 0.08], size=(100, len(SYMBOLS)))
    lv = low_volatility(pd.DataFrame(100 * np.exp(np.cumsum(steps, axis=0)), columns=SYMBOLS))
    assert list(lv.sort_values(ascending=False).index) == SYMBOLS  # vol increases with the column


def test_short_history_gives_nan_price_factors() -> None:
    raw = raw_factors(_prices(30))
    assert raw[["momentum", "trend", "low_volatility"]].isna().all().all()
    assert raw["short_term_reversal"].notna().all()


@pytest.mark.parametrize("n", [0, 1])
def test_empty_or_one_row_prices_give_nan_scores(n: int) -> None:
    scores = factor_scores(_prices(300).iloc[:n])
    assert list(scores.columns) == list(PRICE_FACTORS)
    assert list(scores.index) == SYMBOLS
    assert scores.isna().all().all()


def test_no_symbols_gives_empty_frame() -> None:
    scores = factor_scores(pd.DataFrame(index=pd.bdate_range("2020-01-01", periods=5)))
    assert scores.shape == (0, len(PRICE_FACTORS))


def test_constant_prices_score_zero() -> None:
    prices = pd.DataFrame(50.0, index=pd.bdate_range("2020-01-01", periods=260), columns=SYMBOLS)
    scores = factor_scores(prices)
    assert (scores == 0.0).all().all()


def test_nan_inside_prices() -> None:
    prices = _prices()
    prices.iloc[-22, 0] = np.nan  # the reversal base price of AAA
    prices.iloc[-10, 1] = np.nan  # inside BBB's volatility window: two returns dropped, still scored
    prices.iloc[-5, 2] = -1.0  # a bad print is treated as NaN
    raw = raw_factors(prices)
    assert math.isnan(raw.loc["AAA", "short_term_reversal"])
    assert math.isnan(raw.loc["AAA", "momentum"])  # close[t-21] is the same price
    assert not math.isnan(raw.loc["BBB", "low_volatility"])
    assert math.isnan(raw.loc["BBB", "trend"])  # the SMA window holds a NaN
    assert math.isnan(raw.loc["CCC", "trend"])
    returns = prices["BBB"].pct_change(fill_method=None).iloc[-63:]
    assert raw.loc["BBB", "low_volatility"] == pytest.approx(-returns.std() * math.sqrt(252))


def test_unsorted_prices_raise() -> None:
    with pytest.raises(ValueError, match="oldest first"):
        factor_scores(_prices().iloc[::-1])


def test_fundamental_factors() -> None:
    fund = _fundamentals()
    close = pd.Series(30.0, index=SYMBOLS)
    v = value(fund, close)
    assert v["AAA"] == pytest.approx(0.1)
    assert v["CCC"] == pytest.approx(-0.2)  # loss-maker: negative earnings yield
    assert v["DDD"] == pytest.approx(3.0 / 30.0)  # PE missing -> eps / close
    q = quality(fund)
    assert math.isnan(winsorised_zscores(-fund["debt_to_equity"].where(fund["debt_to_equity"] >= 0))["EEE"])
    assert q["EEE"] == pytest.approx(winsorised_zscores(fund["roe"])["EEE"])  # negative D/E drops out
    raw = raw_factors(_prices(), fund)
    assert list(raw.columns) == list(FACTORS)
    assert raw.loc["BBB", "growth"] == 0.2


def test_fundamentals_with_only_some_columns_and_unknown_symbols() -> None:
    fund = pd.DataFrame({"revenue_growth_yoy": [0.1, 0.3]}, index=["AAA", "ZZZ"])
    scores = factor_scores(_prices(), fundamentals=fund)
    assert list(scores.columns) == [*PRICE_FACTORS, "growth"]
    assert scores.loc["AAA", "growth"] == 0.0  # the only symbol with a growth figure
    assert scores["growth"].drop("AAA").isna().all()
    assert "ZZZ" not in scores.index


def test_factor_scores_sector_neutral_uses_sectors() -> None:
    sectors = pd.Series(["Tech", "Tech", "Tech", "Energy", "Energy", "Utilities"], index=SYMBOLS)
    scores = factor_scores(_prices(), fundamentals=_fundamentals(), sectors=sectors, sector_neutral=True)
    assert (scores.loc["FFF"].dropna() == 0.0).all()  # one-member sector
    raw = raw_factors(_prices(), _fundamentals())
    for name in FACTORS:
        expected = winsorised_zscores(raw[name], sectors=sectors, sector_neutral=True)
        pd.testing.assert_series_equal(scores[name], expected, check_names=False)


def test_factor_scores_are_zscores_of_raw_factors() -> None:
    scores = factor_scores(_prices(), fundamentals=_fundamentals())
    raw = raw_factors(_prices(), _fundamentals())
    for name in FACTORS:
        pd.testing.assert_series_equal(scores[name], winsorised_zscores(raw[name]), check_names=False)


def test_no_lookahead() -> None:
    prices = _prices(400)
    cut = prices.index[310]
    altered = prices.copy()
    rng = np.random.default_rng(99)
    altered.iloc[311:] = altered.iloc[311:] * rng.uniform(0.2, 5.0, size=altered.iloc[311:].shape)
    altered.iloc[350:, 2] = np.nan
    fund = _fundamentals()
    expected = factor_scores(prices.loc[:cut], fundamentals=fund)
    pd.testing.assert_frame_equal(factor_scores(altered.loc[:cut], fundamentals=fund), expected)
    # and the raw momentum at the cut equals the causal technical indicator read on the full, altered frame
    for sym in SYMBOLS:
        assert momentum(prices.loc[:cut])[sym] == pytest.approx(momentum_12_1(altered[sym]).loc[cut], rel=1e-12)


# ----------------------------------------------------------------------------------------------- composite


def test_horizon_rows_sum_to_one() -> None:
    for row in HORIZON_WEIGHTS.values():
        assert sum(row.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("horizon", HORIZONS)
@pytest.mark.parametrize("risk", RISK_TOLERANCES)
def test_weights_sum_to_one_for_every_profile(horizon: str, risk: str) -> None:
    weights = factor_weights(horizon, risk)
    assert set(weights) == set(FACTORS)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert min(weights.values()) >= 0.0


@settings(max_examples=60, deadline=None)
@given(
    horizon=st.sampled_from(HORIZONS),
    risk=st.sampled_from(RISK_TOLERANCES),
    subset=st.sets(st.sampled_from(FACTORS), min_size=1),
)
def test_renormalised_weights_sum_to_one(horizon: str, risk: str, subset: set[str]) -> None:
    try:
        weights = factor_weights(horizon, risk, subset)
    except ValueError:
        assert all(HORIZON_WEIGHTS[horizon][f] == 0 for f in subset)
        return
    assert set(weights) == subset
    assert sum(weights.values()) == pytest.approx(1.0)


def test_weight_table_tilts() -> None:
    short, long = factor_weights("short", "moderate"), factor_weights("long", "moderate")
    assert short["short_term_reversal"] > long["short_term_reversal"]
    assert long["value"] > short["value"]
    cons, aggr = factor_weights("medium", "very_conservative"), factor_weights("medium", "very_aggressive")
    assert cons["low_volatility"] > aggr["low_volatility"]
    assert cons["quality"] > aggr["quality"]
    assert aggr["momentum"] > cons["momentum"]


def test_composite_by_hand() -> None:
    scores = pd.DataFrame(
        {"momentum": [1.0, -1.0, 0.5, np.nan], "value": [0.0, 2.0, np.nan, np.nan], "other": [9.0, 9.0, 9.0, 9.0]},
        index=["a", "b", "c", "d"],
    )
    # medium/moderate: momentum 0.25, value 0.15 -> 0.625 / 0.375; "other" is ignored
    comp = composite_score(scores, "medium", "moderate")
    assert list(comp.index) == ["a", "c", "b", "d"]
    assert comp["a"] == pytest.approx(0.625)
    assert comp["b"] == pytest.approx(-0.625 + 0.75)
    assert comp["c"] == pytest.approx(0.5)  # value missing -> momentum alone
    assert math.isnan(comp["d"])
    assert comp.name == "composite"


def test_composite_without_fundamentals_uses_price_weights() -> None:
    scores = factor_scores(_prices())
    comp = composite_score(scores, "long", "conservative")
    weights = pd.Series(factor_weights("long", "conservative", PRICE_FACTORS))
    expected = (scores[list(weights.index)] * weights).sum(axis=1)
    pd.testing.assert_series_equal(comp, expected.loc[comp.index], check_names=False, rtol=1e-12)
    assert comp.is_monotonic_decreasing


def test_composite_zero_weight_only_is_nan() -> None:
    comp = composite_score(pd.DataFrame({"value": [1.0, 2.0]}, index=["a", "b"]), "intraday", "moderate")
    assert comp.isna().all()


def test_composite_unknown_profile_raises() -> None:
    scores = pd.DataFrame({"momentum": [1.0]})
    with pytest.raises(ValueError, match="horizon"):
        composite_score(scores, "decade", "moderate")
    with pytest.raises(ValueError, match="risk tolerance"):
        composite_score(scores, "short", "reckless")


def test_composite_accepts_domain_enums() -> None:
    from investai.domain.idea_parts import TimeHorizon
    from investai.domain.users import RiskTolerance

    comp = composite_score(pd.DataFrame({"momentum": [1.0]}), TimeHorizon.SHORT, RiskTolerance.AGGRESSIVE)
    assert comp.iloc[0] == 1.0


@pytest.mark.filterwarnings("error")
def test_zscores_extreme_magnitudes_do_not_overflow() -> None:
    z = winsorised_zscores(pd.Series([1e308, -1.7e308, 3.0]), limits=(0.0, 1.0))
    assert np.isfinite(z).all()
    assert z.mean() == pytest.approx(0.0, abs=1e-12)
    assert z.std(ddof=0) == pytest.approx(1.0)
