"""Reference checks of :mod:`investai.analytics.risk` against empyrical, quantstats, scikit-learn, pandas and scipy.

Sign mapping: empyrical and quantstats report VaR/CVaR as (negative) *returns*; ours are positive *losses*, so
``ours == -theirs``. empyrical's ``cutoff`` is the tail probability ``1 - confidence``.

Tolerances, one reference per metric:

* historical VaR vs ``empyrical.value_at_risk`` (``np.percentile`` at ``100 * cutoff``, linear): ``rtol=1e-8``.
* historical CVaR vs ``empyrical.conditional_value_at_risk`` (mean of the ``int((n-1) cutoff) + 1`` smallest
  returns) and ``quantstats.stats.conditional_value_at_risk(method="historical")`` (mean of the returns at or
  below ``Series.quantile``, our exact definition): ``rtol=1e-8``. empyrical's tail is the same set as ours when
  there are no ties at the quantile and ``(n-1) cutoff`` is not an integer, so the data here are continuous
  draws with ``n = 1000`` (``999 * cutoff`` is fractional for the tested levels).
* parametric VaR / CVaR vs ``quantstats.stats.value_at_risk`` / ``conditional_value_at_risk`` (Gaussian,
  ``Series.std`` ddof=1, ``sigma=1``): ``rtol=1e-8``.
* Cornish-Fisher VaR / CVaR: no installed library has this formula (quantstats and empyrical have none,
  skfolio's measures are historical), so the reference is a direct scipy computation written here: the modified
  quantile with ``scipy.stats.skew/kurtosis(bias=False)`` and, for CVaR, a numerical integral
  (``scipy.integrate.quad``) of the modified quantile over the tail: ``rtol=1e-8`` for VaR, ``1e-7`` for CVaR
  (quadrature error).
* Ledoit-Wolf vs ``sklearn.covariance.LedoitWolf(assume_centered=False)``: ``rtol=1e-8`` (matrix and shrinkage).
* correlation vs ``DataFrame.dropna().corr()``: ``rtol=1e-10``.
* Monte Carlo: against the closed-form Gaussian VaR of the portfolio for a one-day horizon, ``rtol=0.05``
  (sampling error with 200,000 paths); determinism is checked exactly.
"""

from __future__ import annotations

import math
import warnings

import empyrical
import numpy as np
import pandas as pd
import pytest
import quantstats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy import stats as sps
from sklearn.covariance import LedoitWolf

from investai.analytics import risk
from investai.analytics.risk import (
    conditional_value_at_risk,
    correlation_matrix,
    ledoit_wolf_covariance,
    liquidity_days,
    monte_carlo_var,
    value_at_risk,
)

CONFIDENCES = (0.90, 0.95, 0.99)
METHODS = ("historical", "parametric", "cornish_fisher")


@pytest.fixture(scope="module")
def daily_returns() -> pd.Series:
    rng = np.random.default_rng(20240501)
    values = 0.0004 + 0.01 * rng.standard_t(df=5, size=1000)
    return pd.Series(values, index=pd.bdate_range("2020-01-01", periods=1000), name="r")


@pytest.fixture(scope="module")
def asset_returns() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n_assets = 6
    loadings = rng.normal(0.0, 1.0, size=(n_assets, n_assets))
    covariance = 1e-4 * (loadings @ loadings.T / n_assets + np.eye(n_assets))
    values = rng.multivariate_normal(np.full(n_assets, 3e-4), covariance, size=300)
    return pd.DataFrame(values, columns=[f"A{i}" for i in range(n_assets)])


def _cf_polynomial(z: np.ndarray, skew: float, kurt: float) -> np.ndarray:
    return z + (z**2 - 1) * skew / 6 + (z**3 - 3 * z) * kurt / 24 - (2 * z**3 - 5 * z) * skew**2 / 36


def _cornish_fisher_z(alpha: float, skew: float, kurt: float, z: float | None = None) -> float:
    point = sps.norm.ppf(alpha) if z is None else z
    return float(_cf_polynomial(np.asarray(point), skew, kurt))


# ------------------------------------------------------------------------------------------------ references


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_historical_var_matches_empyrical(daily_returns: pd.Series, confidence: float) -> None:
    expected = -empyrical.value_at_risk(daily_returns.to_numpy(), cutoff=1 - confidence)
    assert value_at_risk(daily_returns, confidence, "historical") == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_historical_cvar_matches_empyrical_and_quantstats(daily_returns: pd.Series, confidence: float) -> None:
    ours = conditional_value_at_risk(daily_returns, confidence, "historical")
    by_empyrical = -empyrical.conditional_value_at_risk(daily_returns.to_numpy(), cutoff=1 - confidence)
    by_quantstats = -quantstats.stats.conditional_value_at_risk(
        daily_returns, confidence=confidence, prepare_returns=False, method="historical"
    )
    assert ours == pytest.approx(by_empyrical, rel=1e-8)
    assert ours == pytest.approx(by_quantstats, rel=1e-8)


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_parametric_var_and_cvar_match_quantstats(daily_returns: pd.Series, confidence: float) -> None:
    var = -quantstats.stats.value_at_risk(daily_returns, sigma=1, confidence=confidence, prepare_returns=False)
    cvar = -quantstats.stats.conditional_value_at_risk(
        daily_returns, sigma=1, confidence=confidence, prepare_returns=False, method="parametric"
    )
    assert value_at_risk(daily_returns, confidence, "parametric") == pytest.approx(var, rel=1e-8)
    assert conditional_value_at_risk(daily_returns, confidence, "parametric") == pytest.approx(cvar, rel=1e-8)


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_cornish_fisher_var_matches_direct_scipy_formula(daily_returns: pd.Series, confidence: float) -> None:
    values = daily_returns.to_numpy()
    skew, kurt = sps.skew(values, bias=False), sps.kurtosis(values, fisher=True, bias=False)
    assert skew == pytest.approx(daily_returns.skew(), rel=1e-10)  # pandas uses the same bias-corrected G1, G2
    assert kurt == pytest.approx(daily_returns.kurt(), rel=1e-10)
    expected = -(values.mean() + values.std(ddof=1) * _cornish_fisher_z(1 - confidence, skew, kurt))
    assert value_at_risk(daily_returns, confidence, "cornish_fisher") == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_cornish_fisher_cvar_is_the_tail_average_of_modified_quantiles(
    daily_returns: pd.Series, confidence: float
) -> None:
    values = daily_returns.to_numpy()
    alpha = 1 - confidence
    skew, kurt = sps.skew(values, bias=False), sps.kurtosis(values, bias=False)
    z_alpha = sps.norm.ppf(alpha)
    integral, _ = integrate.quad(
        lambda z: _cornish_fisher_z(alpha, skew, kurt, z) * sps.norm.pdf(z), -np.inf, z_alpha, epsabs=1e-14
    )
    expected = -(values.mean() + values.std(ddof=1) * integral / alpha)
    assert conditional_value_at_risk(daily_returns, confidence, "cornish_fisher") == pytest.approx(expected, rel=1e-7)


def test_cornish_fisher_outside_its_domain_is_rearranged_into_a_monotone_quantile() -> None:
    rng = np.random.default_rng(3)
    returns = np.concatenate([rng.normal(0.0, 0.001, 95), [0.2, 0.25, 0.3, -0.02, 0.22]])
    skew, kurt = sps.skew(returns, bias=False), sps.kurtosis(returns, bias=False)
    naive = [_cornish_fisher_z(1 - c, skew, kurt) for c in CONFIDENCES]
    assert not naive[0] >= naive[1] >= naive[2]  # the raw expansion is not monotone here
    vars_ = [value_at_risk(returns, c, "cornish_fisher") for c in CONFIDENCES]
    assert vars_[0] <= vars_[1] <= vars_[2]
    # The rearranged quantile is the quantile of z_cf(Z), Z standard normal: check by simulation.
    z_cf = _cf_polynomial(rng.standard_normal(2_000_000), skew, kurt)
    expected = -(returns.mean() + returns.std(ddof=1) * np.quantile(z_cf, 0.05))
    assert vars_[1] == pytest.approx(expected, rel=1e-2)
    assert conditional_value_at_risk(returns, 0.95, "cornish_fisher") >= vars_[1]


def test_ledoit_wolf_matches_sklearn(asset_returns: pd.DataFrame) -> None:
    covariance, shrinkage = ledoit_wolf_covariance(asset_returns)
    reference = LedoitWolf(assume_centered=False).fit(asset_returns.to_numpy())
    assert shrinkage == pytest.approx(reference.shrinkage_, rel=1e-8)
    np.testing.assert_allclose(covariance.to_numpy(), reference.covariance_, rtol=1e-8, atol=0)
    assert list(covariance.index) == list(covariance.columns) == list(asset_returns.columns)


def test_ledoit_wolf_with_few_observations_and_nans_matches_sklearn(asset_returns: pd.DataFrame) -> None:
    short = asset_returns.iloc[:8].copy()  # n close to p: strong shrinkage
    short.iloc[3, 2] = np.nan
    covariance, shrinkage = ledoit_wolf_covariance(short)
    reference = LedoitWolf().fit(short.dropna().to_numpy())
    assert shrinkage == pytest.approx(reference.shrinkage_, rel=1e-8)
    np.testing.assert_allclose(covariance.to_numpy(), reference.covariance_, rtol=1e-8, atol=0)


def test_ledoit_wolf_single_asset_and_empty() -> None:
    single = pd.DataFrame({"A": [0.01, -0.02, 0.03]})
    covariance, shrinkage = ledoit_wolf_covariance(single)
    assert shrinkage == 0.0
    assert covariance.iloc[0, 0] == pytest.approx(LedoitWolf().fit(single.to_numpy()).covariance_[0, 0], rel=1e-12)
    empty_cov, empty_shrinkage = ledoit_wolf_covariance(pd.DataFrame({"A": [np.nan], "B": [0.1]}))
    assert math.isnan(empty_shrinkage)
    assert empty_cov.isna().all().all()


def test_correlation_matches_pandas(asset_returns: pd.DataFrame) -> None:
    with_gaps = asset_returns.copy()
    with_gaps.iloc[[5, 40], [0, 3]] = np.nan
    np.testing.assert_allclose(
        correlation_matrix(with_gaps).to_numpy(), with_gaps.dropna().corr().to_numpy(), rtol=1e-10, atol=1e-14
    )


def test_correlation_of_a_constant_column_is_nan_without_warnings() -> None:
    frame = pd.DataFrame({"A": [0.01, 0.02, -0.01], "B": [0.0, 0.0, 0.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        corr = correlation_matrix(frame)
    assert corr.loc["A", "A"] == 1.0
    assert corr["B"].isna().all()
    assert corr.loc["B"].isna().all()
    assert correlation_matrix(frame.iloc[:1]).isna().all().all()


def test_monte_carlo_one_day_matches_gaussian_portfolio_var(asset_returns: pd.DataFrame) -> None:
    weights = np.array([0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
    result = monte_carlo_var(asset_returns, weights, horizon_days=1, paths=200_000, seed=11)
    mean = asset_returns.mean().to_numpy() @ weights
    sigma = math.sqrt(weights @ asset_returns.cov().to_numpy() @ weights)
    for confidence in (0.95, 0.99):
        z = sps.norm.ppf(1 - confidence)
        assert result[confidence]["var"] == pytest.approx(-(mean + sigma * z), rel=0.05)
        expected_cvar = -(mean - sigma * sps.norm.pdf(z) / (1 - confidence))
        assert result[confidence]["cvar"] == pytest.approx(expected_cvar, rel=0.05)


def test_monte_carlo_does_not_depend_on_chunking(asset_returns: pd.DataFrame) -> None:
    values = asset_returns.to_numpy()
    factor = np.linalg.cholesky(np.cov(values, rowvar=False))
    weights = np.full(values.shape[1], 1 / values.shape[1])

    def simulate(chunk: int) -> np.ndarray:
        return risk._simulate_portfolio_returns(
            values.mean(axis=0),
            factor,
            weights,
            horizon_days=5,
            paths=1000,
            rng=np.random.default_rng(5),
            chunk_paths=chunk,
        )

    np.testing.assert_allclose(simulate(1000), simulate(37), rtol=1e-12, atol=1e-15)


def test_monte_carlo_aligns_series_weights_and_validates(asset_returns: pd.DataFrame) -> None:
    weights = pd.Series(1 / 6, index=asset_returns.columns[::-1])
    as_series = monte_carlo_var(asset_returns, weights, paths=500, seed=1)
    as_array = monte_carlo_var(asset_returns, np.full(6, 1 / 6), paths=500, seed=1)
    assert as_series == as_array
    with pytest.raises(ValueError, match="weights"):
        monte_carlo_var(asset_returns, [0.5, 0.5], paths=10, seed=1)
    with pytest.raises(ValueError, match="confidence"):
        monte_carlo_var(asset_returns, np.full(6, 1 / 6), paths=10, seed=1, confidence=(1.5,))
    too_short = monte_carlo_var(asset_returns.iloc[:1], np.full(6, 1 / 6), paths=10, seed=1)
    assert all(math.isnan(v) for levels in too_short.values() for v in levels.values())


def test_liquidity_days_policy() -> None:
    assert liquidity_days(50_000, 100_000) == pytest.approx(5.0)
    assert liquidity_days(-50_000, 100_000, participation=0.25) == pytest.approx(2.0)
    assert liquidity_days(0, 0) == 0.0
    assert liquidity_days(10, 0) == math.inf
    assert math.isnan(liquidity_days(10, float("nan")))
    assert math.isnan(liquidity_days(float("nan"), 1000))
    assert math.isnan(liquidity_days(10, -5))
    with pytest.raises(ValueError, match="participation"):
        liquidity_days(10, 100, participation=0)
    shares = pd.Series({"AAA": 1000.0, "BBB": 0.0, "CCC": 10.0})
    volume = pd.Series({"AAA": 10_000.0, "BBB": 0.0})
    days = liquidity_days(shares, volume)
    assert days["AAA"] == pytest.approx(1.0)
    assert days["BBB"] == 0.0
    assert math.isnan(days["CCC"])
    assert liquidity_days(shares, 100.0).tolist() == pytest.approx([100.0, 0.0, 1.0])


# ------------------------------------------------------------------------------------------------ edge cases


@pytest.mark.parametrize("method", METHODS)
def test_empty_series_gives_nan(method: str) -> None:
    assert math.isnan(value_at_risk(pd.Series([], dtype=float), method=method))  # type: ignore[arg-type]
    assert math.isnan(conditional_value_at_risk([], method=method))  # type: ignore[arg-type]


@pytest.mark.parametrize("method", METHODS)
def test_one_observation_gives_nan(method: str) -> None:
    assert math.isnan(value_at_risk([0.01], method=method))  # type: ignore[arg-type]
    assert math.isnan(conditional_value_at_risk([0.01, np.nan], method=method))  # type: ignore[arg-type]


def test_cornish_fisher_needs_four_observations() -> None:
    assert math.isnan(value_at_risk([0.01, -0.02, 0.03], method="cornish_fisher"))
    assert not math.isnan(value_at_risk([0.01, -0.02, 0.03, 0.0], method="cornish_fisher"))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("level", [0.0, 0.01])
def test_constant_series_without_warnings(method: str, level: float) -> None:
    returns = pd.Series([level] * 50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        var = value_at_risk(returns, method=method)  # type: ignore[arg-type]
        cvar = conditional_value_at_risk(returns, method=method)  # type: ignore[arg-type]
    assert var == -level
    assert cvar == -level
    if level == 0.0:
        assert var == 0.0
        assert math.copysign(1.0, var) == 1.0  # no negative zero


@pytest.mark.parametrize("method", METHODS)
def test_nans_inside_are_dropped(daily_returns: pd.Series, method: str) -> None:
    with_gaps = daily_returns.copy()
    with_gaps.iloc[[3, 100, 500]] = np.nan
    clean = with_gaps.dropna()
    assert value_at_risk(with_gaps, 0.95, method) == value_at_risk(clean, 0.95, method)  # type: ignore[arg-type]
    assert conditional_value_at_risk(with_gaps, 0.99, method) == conditional_value_at_risk(clean, 0.99, method)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", METHODS)
def test_only_rising_returns_give_a_negative_loss(method: str) -> None:
    returns = np.linspace(0.001, 0.02, 60)
    var = value_at_risk(returns, 0.95, method)  # type: ignore[arg-type]
    assert var < 0  # even the 5% worst period is a gain
    if method == "historical":
        assert var == pytest.approx(-np.quantile(returns, 0.05))
    assert conditional_value_at_risk(returns, 0.95, method) >= var  # type: ignore[arg-type]


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="confidence"):
        value_at_risk([0.01, 0.02], confidence=95)
    with pytest.raises(ValueError, match="method"):
        value_at_risk([0.01, 0.02], method="garch")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ properties

TOLERANCE = 1e-12  # floating-point slack (interpolation and mean rounding), far below any return of interest
return_lists = st.lists(
    st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, allow_subnormal=False), min_size=5, max_size=120
)


@settings(max_examples=60, deadline=None)
@given(values=return_lists)
def test_var_is_non_decreasing_in_confidence(values: list[float]) -> None:
    for method in METHODS:
        v90, v95, v99 = (value_at_risk(values, c, method) for c in CONFIDENCES)  # type: ignore[arg-type]
        assert v90 <= v95 + TOLERANCE, method
        assert v95 <= v99 + TOLERANCE, method


@settings(max_examples=60, deadline=None)
@given(values=return_lists, confidence=st.sampled_from(CONFIDENCES))
def test_cvar_is_at_least_var(values: list[float], confidence: float) -> None:
    for method in ("historical", "parametric", "cornish_fisher"):
        var = value_at_risk(values, confidence, method)  # type: ignore[arg-type]
        cvar = conditional_value_at_risk(values, confidence, method)  # type: ignore[arg-type]
        assert cvar >= var - TOLERANCE, method


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), horizon=st.integers(min_value=1, max_value=5))
def test_monte_carlo_is_deterministic_and_cvar_at_least_var(seed: int, horizon: int) -> None:
    rng = np.random.default_rng(99)
    returns = pd.DataFrame(rng.normal(0.0005, 0.01, size=(60, 3)), columns=["A", "B", "C"])
    weights = [0.5, 0.3, 0.2]
    first = monte_carlo_var(returns, weights, horizon_days=horizon, paths=300, seed=seed)
    second = monte_carlo_var(returns, weights, horizon_days=horizon, paths=300, seed=seed)
    assert first == second
    for levels in first.values():
        assert levels["cvar"] >= levels["var"] - TOLERANCE
    assert first[0.99]["var"] >= first[0.95]["var"] - TOLERANCE


# ------------------------------------------------------------------------------------------------ risk_table

TABLE_RTOL = 1e-10  # the same formulas evaluated column-wise; only summation order differs


def _awkward_frame(daily_returns: pd.Series) -> pd.DataFrame:
    """Columns that exercise every policy: gaps, a constant, too short, outside the Cornish-Fisher domain."""
    rng = np.random.default_rng(11)
    n = len(daily_returns)
    frame = pd.DataFrame(
        {
            "t5": daily_returns.to_numpy(),
            "normal": rng.normal(3e-4, 0.015, n),
            "skewed": np.concatenate([rng.normal(0.0, 0.001, n - 5), [0.2, 0.25, 0.3, -0.02, 0.22]]),
            "constant": np.full(n, 0.002),
            "zero": np.zeros(n),
            "empty": np.full(n, np.nan),
            "one": np.r_[0.01, np.full(n - 1, np.nan)],
            "three": np.r_[0.01, -0.02, 0.03, np.full(n - 3, np.nan)],
            "four": np.r_[np.full(n - 4, np.nan), 0.01, -0.02, 0.03, 0.0],
            "rising": np.linspace(0.001, 0.02, n),
        },
        index=daily_returns.index,
    )
    frame.iloc[::17, 0] = np.nan
    frame.iloc[5:400:9, 1] = np.nan
    return frame


def _expected(column: pd.Series, level: float, method: str) -> tuple[float, float]:
    return (
        value_at_risk(column, level, method),  # type: ignore[arg-type]
        conditional_value_at_risk(column, level, method),  # type: ignore[arg-type]
    )


def test_risk_table_equals_the_single_series_functions_on_every_column(daily_returns: pd.Series) -> None:
    frame = _awkward_frame(daily_returns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = risk.risk_table(frame, confidence=(0.9, 0.95, 0.99))
    assert list(table.index) == list(frame.columns)
    assert list(table.columns) == [
        f"{kind}_{label}{suffix}"
        for label in ("90", "95", "99")
        for suffix in ("", "_parametric", "_cornish_fisher")
        for kind in ("var", "cvar")
    ]
    for name in frame.columns:
        for level, label in ((0.9, "90"), (0.95, "95"), (0.99, "99")):
            for method, suffix in (
                ("historical", ""),
                ("parametric", "_parametric"),
                ("cornish_fisher", "_cornish_fisher"),
            ):
                var, cvar = _expected(frame[name], level, method)
                got_var, got_cvar = table.loc[name, f"var_{label}{suffix}"], table.loc[name, f"cvar_{label}{suffix}"]
                assert got_var == pytest.approx(var, rel=TABLE_RTOL, abs=1e-15, nan_ok=True), (name, level, method)
                assert got_cvar == pytest.approx(cvar, rel=TABLE_RTOL, abs=1e-15, nan_ok=True), (name, level, method)
    assert table.loc["constant", "var_95_parametric"] == -0.002
    assert math.copysign(1.0, table.loc["zero", "var_99_cornish_fisher"]) == 1.0  # no negative zero
    assert table.loc["empty"].isna().all()
    assert table.loc["one"].isna().all()
    assert table.loc["three", ["var_95", "var_95_parametric"]].notna().all()
    assert math.isnan(table.loc["three", "var_95_cornish_fisher"])


def test_risk_table_of_an_empty_frame_and_invalid_arguments() -> None:
    empty = risk.risk_table(pd.DataFrame({"a": [], "b": []}, dtype=float), methods=("historical",))
    assert list(empty.columns) == ["var_95", "cvar_95", "var_99", "cvar_99"]
    assert empty.isna().all().all()
    assert risk.risk_table(pd.DataFrame(index=range(3)), confidence=(0.95,)).shape == (0, 6)
    with pytest.raises(ValueError, match="method"):
        risk.risk_table(pd.DataFrame({"a": [0.01, 0.02]}), methods=("garch",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        risk.risk_table(pd.DataFrame({"a": [0.01, 0.02]}), confidence=(95,))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(return_lists, min_size=1, max_size=4),
    st.sampled_from(CONFIDENCES),
)
def test_risk_table_matches_per_series_on_random_columns(columns: list[list[float]], confidence: float) -> None:
    length = max(len(values) for values in columns)
    frame = pd.DataFrame({f"c{i}": values + [np.nan] * (length - len(values)) for i, values in enumerate(columns)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = risk.risk_table(frame, confidence=(confidence,))
    label = f"{100 * confidence:g}"
    for name in frame.columns:
        for method, suffix in (
            ("historical", ""),
            ("parametric", "_parametric"),
            ("cornish_fisher", "_cornish_fisher"),
        ):
            var, cvar = _expected(frame[name], confidence, method)
            assert table.loc[name, f"var_{label}{suffix}"] == pytest.approx(var, rel=1e-9, abs=1e-12, nan_ok=True)
            assert table.loc[name, f"cvar_{label}{suffix}"] == pytest.approx(cvar, rel=1e-9, abs=1e-12, nan_ok=True)
