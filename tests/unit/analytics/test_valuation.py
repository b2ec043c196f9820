"""Checks of :mod:`investai.analytics.valuation`: a DCF worked by hand, the sensitivity grid against
:func:`dcf_value`, peer multiples against numpy percentiles, edge cases and monotonicity properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from investai.analytics.valuation import dcf_sensitivity, dcf_value, multiples_valuation


def test_three_year_dcf_worked_by_hand() -> None:
    # FCF0 = 100 grown 10%, 5%, 0%: 110, 115.5, 115.5. r = 10%, g_T = 2%.
    # PV explicit = 110/1.1 + 115.5/1.21 + 115.5/1.331 = 100 + 95.454545... + 86.776859...
    # TV = 115.5 * 1.02 / 0.08 = 1472.625, PV = 1472.625 / 1.331 = 1106.404958...
    # EV = 1388.636363..., equity = EV - 50, per share / 10 = 133.8636363...
    value = dcf_value(100.0, [0.10, 0.05, 0.0], 0.10, 0.02, net_debt=50.0, shares=10.0)
    assert value == pytest.approx(133.86363636363637, rel=1e-12)
    expected = (110 / 1.1 + 115.5 / 1.1**2 + 115.5 / 1.1**3 + 1472.625 / 1.1**3 - 50) / 10
    assert value == pytest.approx(expected, rel=1e-12)


def test_no_explicit_years_is_the_gordon_model() -> None:
    assert dcf_value(100.0, [], 0.08, 0.03) == pytest.approx(100 * 1.03 / 0.05, rel=1e-12)


def test_flat_growth_equals_gordon_with_same_growth() -> None:
    # growing at g_T in the explicit years too is the same as a pure Gordon model
    assert dcf_value(50.0, [0.03] * 5, 0.09, 0.03) == pytest.approx(dcf_value(50.0, [], 0.09, 0.03), rel=1e-12)


def test_defaults_give_total_equity_value_and_net_cash_adds() -> None:
    base = dcf_value(10.0, [0.05], 0.1, 0.02)
    assert dcf_value(10.0, [0.05], 0.1, 0.02, net_debt=-20.0) == pytest.approx(base + 20.0)


def test_negative_value_is_not_floored() -> None:
    assert dcf_value(1.0, [0.0], 0.1, 0.0, net_debt=1000.0) < 0


@pytest.mark.parametrize(("r", "g"), [(0.05, 0.05), (0.03, 0.05), (-1.0, -2.0)])
def test_discount_not_above_growth_raises(r: float, g: float) -> None:
    with pytest.raises(ValueError, match="discount_rate"):
        dcf_value(100.0, [0.1], r, g)


@pytest.mark.parametrize("kwargs", [{"shares": 0.0}, {"shares": -1.0}, {"net_debt": math.nan}])
def test_bad_shares_or_nan_inputs_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"shares|net_debt"):
        dcf_value(100.0, [0.1], 0.1, 0.02, **kwargs)


def test_nan_growth_rate_raises() -> None:
    with pytest.raises(ValueError, match="growth rate"):
        dcf_value(100.0, [0.1, math.nan], 0.1, 0.02)


def test_sensitivity_grid_matches_dcf_value_and_is_nan_where_undefined() -> None:
    rates, growths = [0.02, 0.08, 0.10], [0.01, 0.02, 0.03]
    grid = dcf_sensitivity(100.0, [0.1, 0.05], rates, growths, net_debt=10.0, shares=2.0)
    assert grid.shape == (3, 3)
    assert grid.index.name == "discount_rate"
    assert grid.columns.name == "terminal_growth"
    for r in rates:
        for g in growths:
            cell = grid.loc[r, g]
            if r <= g:
                assert math.isnan(cell)
            else:
                assert cell == pytest.approx(dcf_value(100.0, [0.1, 0.05], r, g, net_debt=10.0, shares=2.0))
    assert math.isnan(grid.loc[0.02, 0.02])
    assert not math.isnan(grid.loc[0.02, 0.01])


def test_sensitivity_empty_axes_give_empty_frame() -> None:
    assert dcf_sensitivity(100.0, [0.1], [], [0.02]).shape == (0, 1)


@settings(max_examples=60, deadline=None)
@given(
    fcf=st.floats(1.0, 1e6),
    growth=st.lists(st.floats(-0.5, 0.5), max_size=10),
    g=st.floats(-0.05, 0.05),
    r1=st.floats(0.06, 0.3),
    step=st.floats(0.001, 0.2),
)
def test_value_decreases_in_discount_rate(fcf: float, growth: list[float], g: float, r1: float, step: float) -> None:
    assert dcf_value(fcf, growth, r1 + step, g) < dcf_value(fcf, growth, r1, g)


@settings(max_examples=60, deadline=None)
@given(fcf=st.floats(1.0, 1e6), r=st.floats(0.06, 0.3), g1=st.floats(-0.05, 0.04), step=st.floats(0.001, 0.01))
def test_value_increases_in_terminal_growth(fcf: float, r: float, g1: float, step: float) -> None:
    assert dcf_value(fcf, [0.05, 0.05], r, g1 + step) > dcf_value(fcf, [0.05, 0.05], r, g1)


def test_multiples_median_and_quartiles_by_hand() -> None:
    peers = pd.Series([10.0, 12.0, 14.0, 16.0, 18.0, np.nan, -5.0, 0.0, np.inf])
    result = multiples_valuation(2.0, peers)
    assert result["peers"] == 5
    assert result["multiple"] == 14.0
    assert (result["multiple_low"], result["multiple_high"]) == (12.0, 16.0)
    assert (result["low"], result["value"], result["high"]) == (24.0, 28.0, 32.0)


def test_multiples_mean_statistic_and_numpy_crosscheck() -> None:
    peers = pd.Series([8.0, 9.5, 21.0, 13.0])
    result = multiples_valuation(3.0, peers, statistic="mean")
    assert result["multiple"] == pytest.approx(np.mean(peers))
    assert result["low"] == pytest.approx(3.0 * np.percentile(peers, 25))
    assert result["high"] == pytest.approx(3.0 * np.percentile(peers, 75))


@pytest.mark.parametrize("peers", [pd.Series([], dtype=float), pd.Series([np.nan, -1.0, 0.0])])
def test_multiples_without_usable_peers_are_nan(peers: pd.Series) -> None:
    result = multiples_valuation(2.0, peers)
    assert result["peers"] == 0
    assert math.isnan(result["value"])
    assert math.isnan(result["low"])
    assert math.isnan(result["high"])
    assert math.isnan(result["multiple"])


@pytest.mark.parametrize("metric", [-1.0, 0.0, math.nan])
def test_multiples_non_positive_metric_gives_nan_values_but_reports_multiples(metric: float) -> None:
    result = multiples_valuation(metric, pd.Series([10.0, 20.0]))
    assert math.isnan(result["value"])
    assert result["multiple"] == 15.0


def test_multiples_unknown_statistic_raises() -> None:
    with pytest.raises(ValueError, match="statistic"):
        multiples_valuation(1.0, pd.Series([10.0]), statistic="mode")
