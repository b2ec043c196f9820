"""investai.analytics.performance / returns against empyrical and quantstats, plus the edge-case policy.

Fixed data: 1,000 seeded (``default_rng(42)``) daily returns on a business-day index and a benchmark correlated
with them. Tolerance: ``rtol=1e-8`` (relative) everywhere we compare with a reference, because every compared
metric uses the same formula as the reference; only summation order differs.

quantstats comparisons (source read for quantstats 0.0.86, all with rf=0):

* ``stats.sharpe``, ``volatility``, ``sortino`` (``sqrt(sum(neg**2)/n)`` downside, ``mean/downside*sqrt(n)``:
  algebraically empyrical's), ``calmar``, ``omega``, ``max_drawdown`` and ``cagr``: same formulas -> compared.
* ``stats.information_ratio`` is NOT annualised (``mean(active)/std(active)``): compared after multiplying it by
  ``sqrt(252)``.
* ``stats.win_rate`` divides by the number of NON-ZERO returns while :func:`hit_rate` divides by all non-NaN
  returns; they coincide only when no return is exactly zero (true of the fixed data), so it is compared on the
  fixed data and the difference is pinned in ``test_hit_rate_counts_zero_returns_unlike_quantstats_win_rate``.
* empyrical has no ``tracking_error``: compared with ``annual_volatility`` of the active return.
"""

from __future__ import annotations

import empyrical as ep
import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from investai.analytics.performance import (
    DrawdownDetails,
    alpha_beta,
    calmar_ratio,
    downside_deviation,
    drawdown_details,
    drawdown_series,
    hit_rate,
    information_ratio,
    max_drawdown,
    omega_ratio,
    performance_summary,
    sharpe_ratio,
    sortino_ratio,
    tracking_error,
    volatility,
)
from investai.analytics.returns import (
    annual_return,
    cumulative_returns,
    excess_returns,
    log_returns,
    per_period_rate,
    simple_returns,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # no division/NaN warnings from numpy

RTOL = 1e-8
N_DAYS = 1_000


@pytest.fixture(scope="module")
def returns() -> pd.Series:
    rng = np.random.default_rng(42)
    index = pd.bdate_range("2020-01-01", periods=N_DAYS)
    return pd.Series(rng.normal(0.0005, 0.01, N_DAYS), index=index, name="strategy")


@pytest.fixture(scope="module")
def benchmark(returns: pd.Series) -> pd.Series:
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0002, 0.006, N_DAYS)
    return pd.Series(0.7 * returns.to_numpy() + noise, index=returns.index, name="benchmark")


def close(actual: object, expected: object, atol: float = 0.0) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=RTOL, atol=atol)


# --- against empyrical -------------------------------------------------------------------------------------------


def test_volatility_matches_empyrical_and_quantstats(returns: pd.Series) -> None:
    close(volatility(returns), ep.annual_volatility(returns))
    close(volatility(returns), qs.stats.volatility(returns))


def test_volatility_weekly_uses_52_periods(returns: pd.Series) -> None:
    close(volatility(returns, periodicity="weekly"), ep.annual_volatility(returns, period="weekly"))


def test_downside_deviation_matches_empyrical(returns: pd.Series) -> None:
    close(downside_deviation(returns), ep.downside_risk(returns))
    close(downside_deviation(returns, required_return=0.001), ep.downside_risk(returns, required_return=0.001))


def test_sharpe_ratio_matches_empyrical_and_quantstats(returns: pd.Series) -> None:
    close(sharpe_ratio(returns), ep.sharpe_ratio(returns))
    close(sharpe_ratio(returns), qs.stats.sharpe(returns))


def test_sharpe_ratio_annual_risk_free_is_converted_per_period(returns: pd.Series) -> None:
    daily = (1.03) ** (1 / 252) - 1
    close(sharpe_ratio(returns, risk_free=0.03), ep.sharpe_ratio(returns, risk_free=daily))


def test_sortino_ratio_matches_empyrical(returns: pd.Series) -> None:
    close(sortino_ratio(returns), ep.sortino_ratio(returns))
    close(sortino_ratio(returns, required_return=0.0002), ep.sortino_ratio(returns, required_return=0.0002))
    close(sortino_ratio(returns), qs.stats.sortino(returns))


def test_calmar_ratio_matches_empyrical(returns: pd.Series) -> None:
    close(calmar_ratio(returns), ep.calmar_ratio(returns))
    close(calmar_ratio(returns), qs.stats.calmar(returns))


def test_omega_ratio_matches_empyrical(returns: pd.Series) -> None:
    close(omega_ratio(returns), ep.omega_ratio(returns))
    close(omega_ratio(returns, required_return=0.05), ep.omega_ratio(returns, required_return=0.05))
    close(omega_ratio(returns), qs.stats.omega(returns))


def test_alpha_beta_matches_empyrical(returns: pd.Series, benchmark: pd.Series) -> None:
    close(alpha_beta(returns, benchmark), ep.alpha_beta(returns, benchmark))


def test_alpha_beta_with_annual_risk_free_matches_empyrical_per_period(
    returns: pd.Series, benchmark: pd.Series
) -> None:
    daily = per_period_rate(0.02)
    close(alpha_beta(returns, benchmark, risk_free=0.02), ep.alpha_beta(returns, benchmark, risk_free=daily))


def test_max_drawdown_matches_empyrical_and_quantstats(returns: pd.Series) -> None:
    close(max_drawdown(returns), ep.max_drawdown(returns))
    close(max_drawdown(returns), qs.stats.max_drawdown(returns))


def test_drawdown_series_matches_empyrical(returns: pd.Series) -> None:
    close(drawdown_series(returns), ep.stats.drawdown_series(returns))


def test_annual_return_matches_empyrical_and_quantstats_cagr(returns: pd.Series) -> None:
    close(annual_return(returns), ep.annual_return(returns))
    close(annual_return(returns), qs.stats.cagr(returns))
    close(annual_return(returns, "monthly"), ep.annual_return(returns, period="monthly"))


def test_cumulative_returns_match_empyrical(returns: pd.Series) -> None:
    cumulative = cumulative_returns(returns)
    close(cumulative, ep.cum_returns(returns))
    close(cumulative.iloc[-1], ep.cum_returns_final(returns))


def test_information_ratio_is_annualised_excess_sharpe(returns: pd.Series, benchmark: pd.Series) -> None:
    close(information_ratio(returns, benchmark), ep.excess_sharpe(returns, benchmark) * np.sqrt(252))
    close(information_ratio(returns, benchmark), qs.stats.information_ratio(returns, benchmark) * np.sqrt(252))  # type: ignore[no-untyped-call]


def test_tracking_error_is_annual_volatility_of_active_return(returns: pd.Series, benchmark: pd.Series) -> None:
    close(tracking_error(returns, benchmark), ep.annual_volatility(returns - benchmark))


def test_hit_rate_matches_quantstats_win_rate_without_zero_returns(returns: pd.Series) -> None:
    assert not (returns == 0).any()
    close(hit_rate(returns), qs.stats.win_rate(returns))


def test_hit_rate_counts_zero_returns_unlike_quantstats_win_rate() -> None:
    assert hit_rate(pd.Series([0.01, 0.0, -0.01, 0.0])) == 0.25  # quantstats win_rate would say 0.5


def test_drawdown_details_of_fixed_data(returns: pd.Series) -> None:
    details = drawdown_details(returns)
    drawdown = ep.stats.drawdown_series(returns)
    close(details.depth, drawdown.min())
    assert details.trough == drawdown.idxmin()
    peak_position = returns.index.get_loc(details.peak)
    assert drawdown.iloc[peak_position] == 0.0
    assert (drawdown.iloc[peak_position + 1 : returns.index.get_loc(details.trough) + 1] < 0).all()
    assert details.recovery is None or drawdown[details.recovery] == 0.0
    end = returns.index.get_loc(details.recovery) if details.recovery is not None else len(returns) - 1
    assert details.duration == end - peak_position


def test_drawdown_details_with_recovery() -> None:
    index = pd.bdate_range("2024-01-01", periods=6)
    details = drawdown_details(pd.Series([0.1, -0.1, -0.1, 0.1, 0.2, 0.01], index=index))
    assert details == DrawdownDetails(
        depth=pytest.approx(0.9 * 0.9 - 1), peak=index[0], trough=index[2], recovery=index[4], duration=4
    )


def test_drawdown_details_loss_from_the_first_period_has_no_peak_label() -> None:
    details = drawdown_details(np.array([-0.1, 0.05]))
    assert (details.peak, details.trough, details.recovery, details.duration) == (None, 0, None, 2)


def test_summary_keys_and_values(returns: pd.Series, benchmark: pd.Series) -> None:
    summary = performance_summary(returns, benchmark, risk_free=0.01)
    assert isinstance(summary, dict)
    assert set(summary) == {
        "volatility", "sharpe", "sortino", "calmar", "omega", "max_drawdown", "downside_deviation",
        "hit_rate", "annual_return", "beta", "alpha", "tracking_error", "information_ratio",
    }  # fmt: skip
    close(summary["sharpe"], sharpe_ratio(returns, risk_free=0.01))
    close(summary["alpha"], alpha_beta(returns, benchmark, risk_free=0.01)[0])
    assert "beta" not in performance_summary(returns)


# --- returns helpers ---------------------------------------------------------------------------------------------


def test_simple_and_log_returns_nan_price_gives_nan_on_both_sides() -> None:
    prices = pd.Series([100.0, 110.0, np.nan, 121.0, 133.1], index=pd.bdate_range("2024-01-01", periods=5))
    simple = simple_returns(prices)
    assert list(simple.index) == list(prices.index[1:])
    close(simple.to_numpy(), [0.1, np.nan, np.nan, 0.1])
    close(log_returns(prices).to_numpy(), [np.log(1.1), np.nan, np.nan, np.log(1.1)])
    close(simple_returns(prices.dropna()).to_numpy(), ep.simple_returns(prices.dropna()).to_numpy())


def test_excess_returns_float_is_annual_and_series_is_per_period(returns: pd.Series) -> None:
    close(excess_returns(returns, 0.05), returns - (1.05 ** (1 / 252) - 1))
    close(excess_returns(returns, 0.05, "monthly"), returns - (1.05 ** (1 / 12) - 1))
    per_period = pd.Series(0.0001, index=returns.index[:-1])
    excess = excess_returns(returns, per_period)
    close(excess.iloc[:-1], returns.iloc[:-1] - 0.0001)
    assert np.isnan(excess.iloc[-1])  # a missing rate is not forward-filled
    with pytest.raises(TypeError):
        excess_returns(returns.to_numpy(), per_period)


# --- DataFrame input ---------------------------------------------------------------------------------------------


def test_dataframe_input_equals_per_column_series(returns: pd.Series, benchmark: pd.Series) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": returns, "b": returns * 0.5 + rng.normal(0, 0.01, N_DAYS), "c": np.full(N_DAYS, 0.001)})
    frame.iloc[::17, 1] = np.nan
    metrics = [
        volatility, downside_deviation, sharpe_ratio, sortino_ratio, calmar_ratio, omega_ratio, hit_rate,
        max_drawdown, annual_return,
    ]  # fmt: skip
    for metric in metrics:
        result = metric(frame)
        assert isinstance(result, pd.Series)
        assert list(result.index) == ["a", "b", "c"]
        for column in frame:
            close(result[column], metric(frame[column].dropna()))
    for paired in (tracking_error, information_ratio):
        result = paired(frame, benchmark)
        for column in frame:
            close(result[column], paired(frame[column], benchmark))
    alpha, beta = alpha_beta(frame, benchmark)
    for column in frame:
        # atol: the constant column's beta is 0 up to ~1e-18 of rounding, whose sign depends on summation order
        close((alpha[column], beta[column]), alpha_beta(frame[column], benchmark), atol=1e-15)
    close(drawdown_series(frame)["b"].dropna(), drawdown_series(frame["b"].dropna()))
    summary = performance_summary(frame, benchmark)
    assert isinstance(summary, pd.DataFrame)
    for column in frame:
        expected = performance_summary(frame[column], benchmark)
        assert isinstance(expected, dict)
        expected_values = [np.nan if v is None else v for v in expected.values()]
        close(summary.loc[column, list(expected)].to_numpy(), expected_values, atol=1e-15)


# --- edge cases --------------------------------------------------------------------------------------------------

RATIOS = [volatility, downside_deviation, sharpe_ratio, sortino_ratio, calmar_ratio, omega_ratio]


def test_empty_input_gives_nan_everywhere() -> None:
    empty = pd.Series([], dtype=float)
    for metric in [*RATIOS, max_drawdown, hit_rate, annual_return]:
        assert np.isnan(metric(empty))
    assert np.isnan(tracking_error(empty, empty))
    assert all(np.isnan(alpha_beta(empty, empty)))
    details = drawdown_details(empty)
    assert np.isnan(details.depth)
    assert (details.peak, details.trough, details.recovery, details.duration) == (None, None, None, 0)
    assert all(value is None for value in performance_summary(empty, empty).values())


def test_single_observation_gives_nan_ratios_but_defined_drawdown_and_hit_rate() -> None:
    one = pd.Series([-0.02])
    for metric in RATIOS:
        assert np.isnan(metric(one))
    assert all(np.isnan(alpha_beta(one, one)))
    assert np.isnan(information_ratio(one, one))
    assert max_drawdown(one) == pytest.approx(-0.02)
    assert hit_rate(one) == 0.0


def test_constant_series_has_zero_volatility_and_nan_sharpe_and_sortino() -> None:
    constant = pd.Series(np.full(50, 0.001))
    assert volatility(constant) == 0.0
    assert np.isnan(sharpe_ratio(constant))
    assert np.isnan(sortino_ratio(constant))
    assert np.isnan(sortino_ratio(pd.Series(np.full(50, -0.001))))
    assert tracking_error(constant, constant * 2) == 0.0
    assert np.isnan(information_ratio(constant, constant * 2))
    assert all(np.isnan(alpha_beta(constant, constant)))  # zero benchmark variance


def test_nans_inside_are_dropped(returns: pd.Series, benchmark: pd.Series) -> None:
    holey = returns.copy()
    holey.iloc[[3, 50, 51, 400]] = np.nan
    clean = holey.dropna()
    for metric in [*RATIOS, max_drawdown, hit_rate, annual_return]:
        close(metric(holey), metric(clean))
        assert np.isfinite(metric(holey))
    close(sharpe_ratio(holey), ep.sharpe_ratio(holey))  # empyrical's reductions are nan-aware too
    close(max_drawdown(holey), ep.max_drawdown(holey))
    close(drawdown_series(holey).dropna(), drawdown_series(clean))
    close(cumulative_returns(holey).dropna(), cumulative_returns(clean))
    assert np.isnan(cumulative_returns(holey).iloc[3])
    bench_holey = benchmark.copy()
    bench_holey.iloc[[10, 50]] = np.nan
    keep = holey.notna() & bench_holey.notna()
    close(alpha_beta(holey, bench_holey), alpha_beta(holey[keep], bench_holey[keep]))
    close(tracking_error(holey, bench_holey), tracking_error(holey[keep], bench_holey[keep]))


def test_series_are_aligned_by_index_inner(returns: pd.Series, benchmark: pd.Series) -> None:
    shifted = benchmark.iloc[100:]
    close(information_ratio(returns, shifted), information_ratio(returns.iloc[100:], shifted))
    with pytest.raises(ValueError, match="cannot be aligned"):
        tracking_error(returns.to_numpy(), benchmark.to_numpy()[1:])


def test_only_rising_series_has_no_drawdown() -> None:
    rising = pd.Series([0.01, 0.02, 0.0, 0.03], index=pd.bdate_range("2024-01-01", periods=4))
    assert max_drawdown(rising) == 0.0
    assert (drawdown_series(rising) == 0.0).all()
    assert np.isnan(calmar_ratio(rising))
    assert drawdown_details(rising) == DrawdownDetails(
        depth=0.0, peak=rising.index[-1], trough=None, recovery=None, duration=0
    )
