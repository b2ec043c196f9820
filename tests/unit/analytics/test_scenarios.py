"""Checks of :mod:`investai.analytics.scenarios`: the circular block bootstrap replayed by hand from the same
generator, Monte Carlo moments, the bear/base/bull split on small examples, fan-chart percentiles against
``numpy.percentile``, edge cases and properties (determinism per seed, ordered fan percentiles)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from investai.analytics.scenarios import (
    block_bootstrap_paths,
    fan_chart,
    horizon_returns,
    monte_carlo_paths,
    scenario_outcomes,
)


def _history(n: int = 300, seed: int = 3) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.normal(0.0005, 0.01, n), index=pd.bdate_range("2022-01-03", periods=n))


def _steps(paths: np.ndarray) -> np.ndarray:
    wealth = np.hstack([np.ones((paths.shape[0], 1)), 1.0 + paths])
    return wealth[:, 1:] / wealth[:, :-1] - 1.0


# ------------------------------------------------------------------------------------------------ bootstrap


def test_block_bootstrap_replayed_by_hand() -> None:
    data = np.array([0.01, 0.02, 0.03, -0.04, 0.05])
    paths = block_bootstrap_paths(pd.Series(data), horizon=5, paths=3, block=2, seed=7)
    starts = np.random.default_rng(7).integers(0, 5, size=(3, 3))
    for i in range(3):
        idx = [(s + k) % 5 for s in starts[i] for k in range(2)][:5]
        expected = np.cumprod(1.0 + data[idx]) - 1.0
        np.testing.assert_allclose(paths[i], expected, rtol=1e-12)


def test_block_bootstrap_keeps_blocks_contiguous_and_circular() -> None:
    data = np.arange(1, 11) / 1000.0  # distinct returns, position = value * 1000 - 1
    steps = _steps(block_bootstrap_paths(data, horizon=12, paths=50, block=4, seed=1))
    positions = np.rint(steps * 1000).astype(int) - 1
    for block_start in (0, 4, 8):
        block = positions[:, block_start : block_start + 4]
        assert np.all(np.diff(block, axis=1) % 10 == 1)


def test_block_bootstrap_is_deterministic_per_seed_and_shaped() -> None:
    hist = _history()
    a = block_bootstrap_paths(hist, 20, 100, 5, seed=42)
    b = block_bootstrap_paths(hist, 20, 100, 5, seed=42)
    c = block_bootstrap_paths(hist, 20, 100, 5, seed=43)
    assert a.shape == (100, 20)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_block_bootstrap_drops_nans_and_empty_gives_nan() -> None:
    with_nan = block_bootstrap_paths([0.01, np.nan, 0.01], 3, 2, 1, seed=0)
    np.testing.assert_allclose(with_nan, np.tile(1.01 ** np.arange(1, 4) - 1, (2, 1)))
    assert np.isnan(block_bootstrap_paths([], 3, 2, 1, seed=0)).all()
    assert block_bootstrap_paths([np.nan], 3, 2, 1, seed=0).shape == (2, 3)


def test_block_longer_than_history_wraps() -> None:
    paths = block_bootstrap_paths([0.01, 0.02], horizon=6, paths=4, block=10, seed=5)
    assert np.isfinite(paths).all()


@pytest.mark.parametrize("kwargs", [{"horizon": 0}, {"paths": -1}, {"block": 0}, {"block": 1.5}])
def test_block_bootstrap_bad_sizes_raise(kwargs: dict[str, float]) -> None:
    args = {"horizon": 5, "paths": 5, "block": 2} | kwargs
    with pytest.raises(ValueError, match="positive integer"):
        block_bootstrap_paths([0.01, 0.02], seed=0, **args)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), block=st.integers(1, 30), horizon=st.integers(1, 40))
def test_bootstrap_deterministic_for_any_seed(seed: int, block: int, horizon: int) -> None:
    hist = _history(60)
    np.testing.assert_array_equal(
        block_bootstrap_paths(hist, horizon, 8, block, seed), block_bootstrap_paths(hist, horizon, 8, block, seed)
    )


# ----------------------------------------------------------------------------------------------- monte carlo


def test_monte_carlo_moments_match_sample() -> None:
    hist = _history(500)
    steps = _steps(monte_carlo_paths(hist, 10, 20_000, seed=11))
    assert steps.mean() == pytest.approx(hist.mean(), abs=2e-4)
    assert steps.std() == pytest.approx(hist.std(ddof=1), rel=0.02)


def test_monte_carlo_deterministic_per_seed() -> None:
    hist = _history()
    np.testing.assert_array_equal(monte_carlo_paths(hist, 5, 10, 1), monte_carlo_paths(hist, 5, 10, 1))
    assert not np.array_equal(monte_carlo_paths(hist, 5, 10, 1), monte_carlo_paths(hist, 5, 10, 2))


def test_monte_carlo_constant_history_is_deterministic() -> None:
    paths = monte_carlo_paths([0.01] * 5, 3, 4, seed=0)
    np.testing.assert_allclose(paths, np.tile(1.01 ** np.arange(1, 4) - 1, (4, 1)), rtol=1e-12)


@pytest.mark.parametrize("history", [[], [0.01], [np.nan, 0.02]])
def test_monte_carlo_needs_two_observations(history: list[float]) -> None:
    assert np.isnan(monte_carlo_paths(history, 3, 2, seed=0)).all()


def test_monte_carlo_floors_step_returns_at_total_loss() -> None:
    paths = monte_carlo_paths([-0.9, 0.9, -0.95, 0.8], 50, 200, seed=3)
    assert (paths >= -1.0).all()


# ------------------------------------------------------------------------------------------------- outcomes


def test_scenarios_by_rank_on_eight_paths() -> None:
    values = np.array([0.05, -0.02, 0.08, 0.01, -0.10, 0.03, 0.12, 0.00])
    out = scenario_outcomes(values)
    assert out["bear"] == {"probability": 0.25, "count": 2, "min": -0.10, "median": pytest.approx(-0.06), "max": -0.02}
    assert out["base"]["count"] == 4
    assert out["base"]["probability"] == 0.5
    assert (out["base"]["min"], out["base"]["max"]) == (0.0, 0.05)
    assert out["base"]["median"] == pytest.approx(0.02)
    assert out["bull"] == {"probability": 0.25, "count": 2, "min": 0.08, "median": pytest.approx(0.10), "max": 0.12}


def test_scenarios_by_thresholds() -> None:
    values = np.array([-0.3, -0.2, -0.05, 0.0, 0.1, 0.4, np.nan])
    out = scenario_outcomes(values, thresholds=(-0.1, 0.2))
    assert out["bear"]["probability"] == pytest.approx(2 / 6)
    assert out["base"]["probability"] == pytest.approx(3 / 6)
    assert out["bull"]["probability"] == pytest.approx(1 / 6)
    assert out["bull"]["min"] == out["bull"]["max"] == 0.4


def test_scenarios_accept_horizon_returns_of_paths() -> None:
    paths = block_bootstrap_paths(_history(), 21, 400, 5, seed=9)
    out = scenario_outcomes(horizon_returns(paths))
    assert sum(o["count"] for o in out.values()) == 400
    assert out["bear"]["max"] <= out["base"]["min"]
    assert out["base"]["max"] <= out["bull"]["min"]


def test_scenarios_empty_input_is_nan() -> None:
    out = scenario_outcomes(np.array([np.nan]))
    assert all(math.isnan(o["probability"]) and o["count"] == 0 for o in out.values())


def test_scenarios_fewer_than_four_paths_are_all_base() -> None:
    out = scenario_outcomes([0.1, 0.2, 0.3])
    assert (out["bear"]["count"], out["base"]["count"], out["bull"]["count"]) == (0, 3, 0)
    assert out["bear"]["probability"] == 0.0
    assert math.isnan(out["bear"]["median"])


def test_scenarios_bad_thresholds_raise() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        scenario_outcomes([0.1], thresholds=(0.2, -0.2))


# ----------------------------------------------------------------------------------------------- fan chart


def test_fan_chart_matches_numpy_percentiles() -> None:
    paths = monte_carlo_paths(_history(), 15, 500, seed=4)
    fan = fan_chart(paths)
    assert list(fan.columns) == [5, 25, 50, 75, 95]
    assert list(fan.index) == list(range(1, 16))
    np.testing.assert_allclose(fan.to_numpy(), np.percentile(paths, [5, 25, 50, 75, 95], axis=0).T, rtol=1e-12)


def test_fan_chart_nan_handling_and_1d() -> None:
    paths = np.array([[0.1, np.nan], [0.3, np.nan], [np.nan, np.nan]])
    fan = fan_chart(paths, percentiles=(50,))
    assert fan.loc[1, 50] == pytest.approx(0.2)
    assert math.isnan(fan.loc[2, 50])
    assert fan_chart(np.array([0.0, 1.0]), percentiles=(0, 100)).to_numpy().tolist() == [[0.0, 1.0]]


def test_fan_chart_bad_percentile_raises() -> None:
    with pytest.raises(ValueError, match="percentiles"):
        fan_chart(np.zeros((2, 2)), percentiles=(5, 101))


@settings(max_examples=50, deadline=None)
@given(
    paths=arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 8)), elements=st.floats(-1, 5)),
    qs=st.lists(st.floats(0, 100), min_size=1, max_size=6),
)
def test_fan_percentiles_are_ordered(paths: np.ndarray, qs: list[float]) -> None:
    ordered = sorted(qs)
    fan = fan_chart(paths, percentiles=ordered).to_numpy()
    assert np.all(np.diff(fan, axis=1) >= -1e-12)
