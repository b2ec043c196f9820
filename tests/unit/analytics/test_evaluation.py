"""Track-record statistics: Spearman IC against scipy, t-statistic, bootstrap intervals, the summary frame."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from investai.analytics.evaluation import bootstrap_interval, spearman_ic, summarise, t_statistic


def test_spearman_ic_matches_scipy_on_the_shared_symbols() -> None:
    rng = np.random.default_rng(1)
    scores = pd.Series(rng.normal(size=30), index=[f"S{i}" for i in range(30)])
    forward = pd.Series(0.5 * scores.to_numpy() + rng.normal(size=30), index=scores.index)
    forward = forward.drop(["S0", "S1"])  # no realised return: dropped
    forward["EXTRA"] = 0.3  # no score: dropped
    expected = stats.spearmanr(scores.drop(["S0", "S1"]), forward.drop("EXTRA")).statistic
    assert spearman_ic(scores, forward) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("scores", "forward"),
    [
        (pd.Series([1.0, 2.0], index=["a", "b"]), pd.Series([0.1, 0.2], index=["a", "b"])),  # too few
        (pd.Series([1.0, 1.0, 1.0], index=["a", "b", "c"]), pd.Series([0.1, 0.2, 0.3], index=["a", "b", "c"])),
        (pd.Series(dtype=float), pd.Series(dtype=float)),
    ],
)
def test_spearman_ic_is_nan_when_undefined(scores: pd.Series, forward: pd.Series) -> None:
    assert math.isnan(spearman_ic(scores, forward))


def test_t_statistic() -> None:
    values = [0.1, 0.2, 0.3, np.nan]
    assert t_statistic(values) == pytest.approx(0.2 / (0.1 / math.sqrt(3)))
    assert math.isnan(t_statistic([0.1]))
    assert math.isnan(t_statistic([0.1, 0.1]))


def test_bootstrap_interval_is_seeded_and_covers_the_mean() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0.01, 0.05, 200)
    low, high = bootstrap_interval(values, seed=7)
    assert (low, high) == bootstrap_interval(values, seed=7)
    assert low < values.mean() < high
    half_width = 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert high - low == pytest.approx(2 * half_width, rel=0.15)  # close to the normal-theory interval
    median_low, median_high = bootstrap_interval(values, np.median, seed=7)
    assert median_low < float(np.median(values)) < median_high
    assert all(math.isnan(x) for x in bootstrap_interval([0.1]))


def test_summarise_reports_every_measure_and_excess_against_each_baseline() -> None:
    periods = pd.DataFrame(
        {
            "ideas": [0.02, 0.03, -0.01, 0.04],
            "hit_rate": [0.6, 0.8, 0.4, 1.0],
            "ic": [0.1, 0.2, -0.1, np.nan],
            "baseline_equal_weight": [0.01, 0.01, 0.0, 0.02],
            "baseline_momentum": [0.03, 0.02, -0.02, 0.05],
        }
    )
    summary = summarise(periods)
    assert summary["hit_rate"]["value"] == pytest.approx(0.7)
    assert summary["ic"]["value"] == pytest.approx(0.2 / 3)
    assert summary["ic"]["periods"] == 3
    assert summary["excess_vs_equal_weight"]["value"] == pytest.approx(0.01)
    assert summary["excess_vs_momentum"]["value"] == pytest.approx(0.0)
    assert summary["ideas_return"]["low"] <= summary["ideas_return"]["value"] <= summary["ideas_return"]["high"]
