"""Tests of :mod:`investai.analytics.portfolio`: sizing, skfolio-backed optimisation, risk contributions, fit.

References: each optimiser is compared with a direct fit of the same skfolio estimator on the same clean panel
(``rtol=1e-6``, ``atol=1e-9``: the wrapper must add nothing but NaN handling, checks and clipping of solver noise).
Caps are checked to 1e-8 (conic solver tolerance). Hypothesis property tests draw seeded panels and feasible caps.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from skfolio import RiskMeasure
from skfolio.optimization import HierarchicalRiskParity, MeanRisk, ObjectiveFunction, RiskBudgeting

from investai.analytics.portfolio import (
    RISK_PARITY_SOLVER_PARAMS,
    OptimisationResult,
    kelly_fraction,
    marginal_risk_contributions,
    optimise,
    portfolio_fit,
    risk_parity_weights,
    volatility_target_weight,
)

METHODS = ("mean_variance", "min_variance", "risk_parity", "hrp", "cvar")
CAP_TOL = 1e-8


def make_panel(seed: int, n_assets: int = 8, n_rows: int = 750) -> pd.DataFrame:
    """Seeded one-factor daily return panel with heterogeneous volatilities and drifts."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, 0.01, (n_rows, 1))
    betas = rng.uniform(0.5, 1.5, n_assets)
    idio = rng.normal(0.0, 1.0, (n_rows, n_assets)) * rng.uniform(0.005, 0.02, n_assets)
    drift = rng.uniform(-0.0002, 0.0006, n_assets)
    values = market * betas + idio + drift
    index = pd.bdate_range("2020-01-01", periods=n_rows)
    return pd.DataFrame(values, index=index, columns=[f"A{i}" for i in range(n_assets)])


def make_sectors(columns: pd.Index, n_sectors: int = 3) -> dict[str, str]:
    names = ["Tech", "Financials", "Energy", "Health"]
    return {asset: names[i % n_sectors] for i, asset in enumerate(columns)}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel(7)


def reference_estimator(method: str, max_weight: float = 1.0) -> object:
    if method == "mean_variance":
        return MeanRisk(
            objective_function=ObjectiveFunction.MAXIMIZE_UTILITY, risk_aversion=1.0, max_weights=max_weight
        )
    if method == "min_variance":
        return MeanRisk(objective_function=ObjectiveFunction.MINIMIZE_RISK, max_weights=max_weight)
    if method == "cvar":
        return MeanRisk(
            objective_function=ObjectiveFunction.MINIMIZE_RISK, risk_measure=RiskMeasure.CVAR, max_weights=max_weight
        )
    if method == "risk_parity":
        return RiskBudgeting(
            risk_measure=RiskMeasure.VARIANCE, max_weights=max_weight, solver_params=dict(RISK_PARITY_SOLVER_PARAMS)
        )
    return HierarchicalRiskParity(risk_measure=RiskMeasure.VARIANCE, max_weights=max_weight)


def assert_valid(weights: pd.Series, max_weight: float | None = None) -> None:
    assert math.isclose(float(weights.sum()), 1.0, abs_tol=1e-6)
    assert float(weights.min()) >= -1e-12
    if max_weight is not None:
        assert float(weights.max()) <= max_weight + CAP_TOL


def risk_contributions(weights: pd.Series, covariance: np.ndarray) -> np.ndarray:
    w = weights.to_numpy()
    return w * (covariance @ w)


# --------------------------------------------------------------------------------------------------- sizing


class TestSizing:
    def test_volatility_target(self) -> None:
        assert volatility_target_weight(0.30, 0.15) == pytest.approx(0.5)
        assert volatility_target_weight(0.10, 0.15) == 1.0
        assert volatility_target_weight(0.10, 0.15, max_weight=2.0) == pytest.approx(1.5)
        assert volatility_target_weight(0.2, 0.0) == 0.0

    @pytest.mark.parametrize("vol", [0.0, -0.1, math.nan, math.inf])
    def test_volatility_target_rejects_bad_vol(self, vol: float) -> None:
        with pytest.raises(ValueError, match="asset_vol_annual"):
            volatility_target_weight(vol, 0.1)

    def test_kelly_half_and_cap(self) -> None:
        assert kelly_fraction(0.04, 0.16, cap=1.0, fraction=0.5) == pytest.approx(0.125)
        assert kelly_fraction(0.04, 0.16, cap=1.0, fraction=1.0) == pytest.approx(0.25)
        assert kelly_fraction(0.5, 0.04) == 0.25

    @pytest.mark.parametrize("edge", [0.0, -0.05, math.nan])
    def test_kelly_zero_for_non_positive_edge(self, edge: float) -> None:
        assert kelly_fraction(edge, 0.04) == 0.0

    @given(
        mu=st.floats(-1.0, 1.0),
        var=st.floats(1e-4, 1.0),
        cap=st.floats(0.0, 1.0),
        fraction=st.floats(0.0, 1.0),
    )
    @settings(max_examples=50, deadline=None)
    def test_kelly_bounded(self, mu: float, var: float, cap: float, fraction: float) -> None:
        value = kelly_fraction(mu, var, cap=cap, fraction=fraction)
        assert 0.0 <= value <= cap

    def test_kelly_rejects_bad_args(self) -> None:
        with pytest.raises(ValueError, match="variance"):
            kelly_fraction(0.1, 0.0)
        with pytest.raises(ValueError, match="fraction"):
            kelly_fraction(0.1, 0.1, fraction=1.5)
        with pytest.raises(ValueError, match="cap"):
            kelly_fraction(0.1, 0.1, cap=-0.1)


class TestRiskParityWeights:
    def test_equal_contributions(self, panel: pd.DataFrame) -> None:
        covariance = panel.cov()
        weights = risk_parity_weights(covariance)
        contributions = risk_contributions(weights, covariance.to_numpy())
        np.testing.assert_allclose(contributions, contributions.mean(), rtol=1e-10)
        assert_valid(weights)
        assert list(weights.index) == list(panel.columns)

    def test_matches_skfolio_risk_budgeting(self, panel: pd.DataFrame) -> None:
        estimator = RiskBudgeting(risk_measure=RiskMeasure.VARIANCE, solver_params=dict(RISK_PARITY_SOLVER_PARAMS))
        np.testing.assert_allclose(
            risk_parity_weights(panel.cov()).to_numpy(), estimator.fit(panel).weights_, rtol=1e-5
        )

    def test_diagonal_is_inverse_volatility(self) -> None:
        vols = np.array([0.1, 0.2, 0.4])
        covariance = pd.DataFrame(np.diag(vols**2), index=list("abc"), columns=list("abc"))
        expected = (1 / vols) / (1 / vols).sum()
        np.testing.assert_allclose(risk_parity_weights(covariance).to_numpy(), expected, rtol=1e-12)

    @pytest.mark.parametrize(
        "matrix",
        [
            np.empty((0, 0)),
            np.array([[1.0, np.nan], [np.nan, 1.0]]),
            np.array([[1.0, 1.0], [1.0, 1.0]]),
            np.array([[1.0, 0.5], [0.1, 1.0]]),
        ],
    )
    def test_rejects_bad_covariance(self, matrix: np.ndarray) -> None:
        labels = [f"x{i}" for i in range(matrix.shape[0])]
        with pytest.raises(ValueError, match="covariance"):
            risk_parity_weights(pd.DataFrame(matrix, index=labels, columns=labels))


# --------------------------------------------------------------------------------------------------- optimise


class TestOptimise:
    @pytest.mark.parametrize("method", METHODS)
    def test_matches_skfolio(self, panel: pd.DataFrame, method: str) -> None:
        result = optimise(panel, method)  # type: ignore[arg-type]
        assert isinstance(result, OptimisationResult)
        assert result.method == method
        assert_valid(result.weights)
        reference = reference_estimator(method).fit(panel).weights_  # type: ignore[attr-defined]
        np.testing.assert_allclose(result.weights.to_numpy(), reference, rtol=1e-6, atol=1e-9)

    @pytest.mark.parametrize("method", METHODS)
    def test_matches_skfolio_with_max_weight(self, panel: pd.DataFrame, method: str) -> None:
        result = optimise(panel, method, max_weight=0.2)  # type: ignore[arg-type]
        assert_valid(result.weights, 0.2)
        reference = reference_estimator(method, 0.2).fit(panel).weights_  # type: ignore[attr-defined]
        np.testing.assert_allclose(result.weights.to_numpy(), reference, rtol=1e-6, atol=1e-9)

    def test_annualised_figures(self, panel: pd.DataFrame) -> None:
        result = optimise(panel, "min_variance")
        portfolio = panel @ result.weights
        assert result.expected_return == pytest.approx(portfolio.mean() * 252, rel=1e-12)
        assert result.volatility == pytest.approx(portfolio.std() * math.sqrt(252), rel=1e-12)
        monthly = optimise(panel, "min_variance", periodicity="monthly")
        assert monthly.volatility == pytest.approx(portfolio.std() * math.sqrt(12), rel=1e-9)

    def test_min_variance_beats_equal_weight(self, panel: pd.DataFrame) -> None:
        weights = optimise(panel, "min_variance").weights
        equal = np.full(panel.shape[1], 1 / panel.shape[1])
        covariance = panel.cov().to_numpy()
        assert weights.to_numpy() @ covariance @ weights.to_numpy() < equal @ covariance @ equal

    def test_risk_parity_equal_contributions(self, panel: pd.DataFrame) -> None:
        weights = optimise(panel, "risk_parity").weights
        contributions = risk_contributions(weights, panel.cov().to_numpy())
        np.testing.assert_allclose(contributions, contributions.mean(), rtol=1e-4)

    @pytest.mark.parametrize("method", METHODS)
    def test_sector_cap(self, panel: pd.DataFrame, method: str) -> None:
        sectors = make_sectors(panel.columns)
        result = optimise(panel, method, max_weight=0.25, sectors=sectors, sector_cap=0.4)  # type: ignore[arg-type]
        assert_valid(result.weights, 0.25)
        assert float(result.weights.groupby(sectors).sum().max()) <= 0.4 + CAP_TOL

    def test_hrp_sector_cap_binds_and_redistributes(self, panel: pd.DataFrame) -> None:
        sectors = make_sectors(panel.columns)
        free = optimise(panel, "hrp", sectors=sectors).weights
        top = float(free.groupby(sectors).sum().max())
        cap = top - 0.05
        capped = optimise(panel, "hrp", sectors=sectors, sector_cap=cap).weights
        totals = capped.groupby(sectors).sum()
        assert float(totals.max()) == pytest.approx(cap, abs=1e-12)
        assert_valid(capped)

    def test_nan_rows_dropped(self, panel: pd.DataFrame) -> None:
        dirty = panel.copy()
        dirty.iloc[::10, 2] = np.nan
        expected = optimise(panel.dropna().drop(index=panel.index[::10]), "min_variance").weights
        np.testing.assert_allclose(optimise(dirty, "min_variance").weights.to_numpy(), expected.to_numpy())

    def test_infeasible_max_weight(self, panel: pd.DataFrame) -> None:
        with pytest.raises(ValueError, match="infeasible max_weight"):
            optimise(panel, "min_variance", max_weight=0.1)

    def test_infeasible_sector_cap(self, panel: pd.DataFrame) -> None:
        sectors = make_sectors(panel.columns)
        with pytest.raises(ValueError, match="infeasible caps"):
            optimise(panel, "hrp", sectors=sectors, sector_cap=0.3)
        with pytest.raises(ValueError, match="infeasible caps"):
            optimise(panel, "min_variance", max_weight=0.15, sectors=sectors, sector_cap=0.34)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"max_weight": 0.0}, "max_weight"),
            ({"max_weight": 1.5}, "max_weight"),
            ({"sector_cap": 0.5}, "sectors mapping"),
            ({"sector_cap": 0.5, "sectors": {"A0": "Tech"}}, "no entry"),
            ({"sector_cap": 0.0, "sectors": {}}, "sector_cap"),
            ({"risk_aversion": 0.0}, "risk_aversion"),
        ],
    )
    def test_bad_arguments(self, panel: pd.DataFrame, kwargs: dict[str, object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            optimise(panel, "min_variance", **kwargs)  # type: ignore[arg-type]

    def test_unknown_method(self, panel: pd.DataFrame) -> None:
        with pytest.raises(ValueError, match="method"):
            optimise(panel, "max_sharpe")  # type: ignore[arg-type]

    def test_empty_and_one_asset(self, panel: pd.DataFrame) -> None:
        with pytest.raises(ValueError, match="at least 2 assets"):
            optimise(panel.iloc[:, :0], "min_variance")
        with pytest.raises(ValueError, match="at least 2 assets"):
            optimise(panel.iloc[:, :1], "min_variance")

    def test_too_few_rows(self, panel: pd.DataFrame) -> None:
        with pytest.raises(ValueError, match="rows without NaN"):
            optimise(panel.iloc[:10], "min_variance")
        all_nan = panel.copy()
        all_nan.iloc[:, 0] = np.nan
        with pytest.raises(ValueError, match="rows without NaN"):
            optimise(all_nan, "hrp")


@st.composite
def problems(draw: st.DrawFn) -> tuple[pd.DataFrame, float, dict[str, str], float]:
    seed = draw(st.integers(0, 10_000))
    n_assets = draw(st.integers(3, 7))
    n_sectors = draw(st.integers(2, 3))
    panel = make_panel(seed, n_assets=n_assets, n_rows=250)
    sectors = make_sectors(panel.columns, n_sectors)
    max_weight = draw(st.floats(1 / n_assets + 0.01, 1.0))
    sector_cap = draw(st.floats(1 / n_sectors + 0.01, 1.0))
    sizes = pd.Series(sectors).value_counts().to_numpy()
    assume(float(np.minimum(sector_cap, sizes * max_weight).sum()) >= 1.01)
    return panel, max_weight, sectors, sector_cap


@given(problem=problems())
@settings(max_examples=15, deadline=None)
def test_property_caps_respected_by_every_method(problem: tuple[pd.DataFrame, float, dict[str, str], float]) -> None:
    panel, max_weight, sectors, sector_cap = problem
    for method in METHODS:
        weights = optimise(panel, method, max_weight=max_weight, sectors=sectors, sector_cap=sector_cap).weights  # type: ignore[arg-type]
        assert_valid(weights, max_weight)
        assert float(weights.groupby(sectors).sum().max()) <= sector_cap + CAP_TOL, method


# --------------------------------------------------------------------------------------------------- fit


class TestRiskContributions:
    def test_sum_to_volatility(self, panel: pd.DataFrame) -> None:
        covariance = panel.cov() * 252
        weights = pd.Series(np.linspace(1, 2, panel.shape[1]), index=panel.columns)
        weights /= weights.sum()
        contributions = marginal_risk_contributions(weights, covariance)
        w = weights.to_numpy()
        assert float(contributions.sum()) == pytest.approx(math.sqrt(w @ covariance.to_numpy() @ w), rel=1e-12)

    def test_hand_example(self) -> None:
        covariance = pd.DataFrame([[0.04, 0.0], [0.0, 0.09]], index=["a", "b"], columns=["a", "b"])
        weights = pd.Series({"b": 0.5, "a": 0.5})
        contributions = marginal_risk_contributions(weights, covariance)
        vol = math.sqrt(0.25 * 0.04 + 0.25 * 0.09)
        assert contributions["a"] == pytest.approx(0.25 * 0.04 / vol)
        assert contributions["b"] == pytest.approx(0.25 * 0.09 / vol)

    def test_errors(self) -> None:
        covariance = pd.DataFrame([[0.04, 0.0], [0.0, 0.09]], index=["a", "b"], columns=["a", "b"])
        with pytest.raises(ValueError, match="same assets"):
            marginal_risk_contributions(pd.Series({"a": 1.0}), covariance)
        with pytest.raises(ValueError, match="zero"):
            marginal_risk_contributions(pd.Series({"a": 0.0, "b": 0.0}), covariance)
        with pytest.raises(ValueError, match="NaN"):
            marginal_risk_contributions(pd.Series({"a": math.nan, "b": 0.0}), covariance)


class TestPortfolioFit:
    def test_against_direct_computation(self, panel: pd.DataFrame) -> None:
        holdings = panel.iloc[:, :4]
        candidate = panel.iloc[:, 5].rename("NEW")
        weights = pd.Series([1.0, 2.0, 3.0, 4.0], index=holdings.columns)
        fit = portfolio_fit(candidate, holdings, weights, 0.1)
        book = holdings @ (weights / weights.sum())
        after = 0.9 * book + 0.1 * candidate
        assert fit["correlation"] == pytest.approx(book.corr(candidate), rel=1e-10)
        assert fit["volatility_before"] == pytest.approx(book.std() * math.sqrt(252), rel=1e-10)
        assert fit["volatility_after"] == pytest.approx(after.std() * math.sqrt(252), rel=1e-10)
        contribution = 0.1 * np.cov(candidate, after)[0, 1] * 252 / fit["volatility_after"]
        assert fit["risk_contribution"] == pytest.approx(contribution, rel=1e-10)
        assert fit["risk_contribution_share"] == pytest.approx(contribution / fit["volatility_after"], rel=1e-10)
        assert fit["observations"] == len(panel)

    def test_zero_weight_and_alignment(self, panel: pd.DataFrame) -> None:
        holdings = panel.iloc[:, :3]
        candidate = panel.iloc[100:, 4].copy()
        candidate.iloc[5] = np.nan
        fit = portfolio_fit(candidate, holdings, pd.Series(1.0, index=holdings.columns), 0.0)
        assert fit["volatility_after"] == pytest.approx(fit["volatility_before"])
        assert fit["risk_contribution"] == 0.0
        assert fit["observations"] == len(panel) - 101

    def test_errors(self, panel: pd.DataFrame) -> None:
        holdings = panel.iloc[:, :3]
        weights = pd.Series(1.0, index=holdings.columns)
        with pytest.raises(ValueError, match="candidate_weight"):
            portfolio_fit(panel.iloc[:, 4], holdings, weights, 1.0)
        with pytest.raises(ValueError, match="one weight per"):
            portfolio_fit(panel.iloc[:, 4], holdings, weights.iloc[:2], 0.1)
        with pytest.raises(ValueError, match="non-negative"):
            portfolio_fit(panel.iloc[:, 4], holdings, -weights, 0.1)
        with pytest.raises(ValueError, match="aligned rows"):
            portfolio_fit(panel.iloc[:2, 4], holdings, weights, 0.1)
        with pytest.raises(ValueError, match="constant"):
            portfolio_fit(pd.Series(0.0, index=panel.index), holdings, weights, 0.1)
