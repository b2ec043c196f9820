"""Inference that respects overlapping holding periods: Newey-West against an independent computation (and
statsmodels when it is installed), the lag from the settings, the summary's intervals and non-overlapping
cross-check, the reliability table and the report that shows them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from investai.analytics.evaluation import mean_estimate, newey_west_se, overlap_lags, reliability_table, summarise
from investai.services.evaluation import EvaluationReport


def overlapping_series(n: int = 240, overlap: int = 3, seed: int = 4) -> np.ndarray:
    """A moving sum of ``overlap`` shocks: what period returns of overlapping holding periods look like."""
    shocks = np.random.default_rng(seed).normal(0.01, 0.05, n + overlap - 1)
    return np.convolve(shocks, np.ones(overlap), mode="valid")


def bartlett_matrix_se(values: np.ndarray, lags: int) -> float:
    """statsmodels' ``cov_hac_simple`` for a regression on a constant, written as a quadratic form: the score
    of the mean is ``u = x - mean``, ``S = u' W u`` with ``W[i, j] = max(0, 1 - |i - j| / (lags + 1))``, and
    ``var(mean) = (X'X)^-1 S (X'X)^-1 = S / n^2``."""
    u = values - values.mean()
    n = u.size
    distance = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    weights = np.clip(1.0 - distance / (lags + 1.0), 0.0, None)
    return math.sqrt(float(u @ weights @ u)) / n


@pytest.mark.parametrize("lags", [0, 1, 2, 5])
def test_newey_west_matches_the_bartlett_quadratic_form(lags: int) -> None:
    values = overlapping_series()
    assert newey_west_se(values, lags) == pytest.approx(bartlett_matrix_se(values, lags), rel=1e-12)


def test_newey_west_with_no_lag_is_the_iid_standard_error_and_grows_with_overlap() -> None:
    values = overlapping_series()
    assert newey_west_se(values, 0) == pytest.approx(values.std(ddof=0) / math.sqrt(values.size), rel=1e-12)
    assert newey_west_se(values, 2) > 1.4 * newey_west_se(values, 0)  # positively autocorrelated by construction
    with_nan = np.concatenate([values[:10], [np.nan], values[10:]])
    assert newey_west_se(with_nan, 2) == newey_west_se(values, 2)
    assert math.isnan(newey_west_se([0.1], 2))
    with pytest.raises(ValueError, match="lags"):
        newey_west_se(values, -1)


def test_newey_west_matches_statsmodels_when_installed() -> None:
    sm = pytest.importorskip("statsmodels.api")
    values = overlapping_series()
    for lags in (1, 2, 4):
        fit = sm.OLS(values, np.ones(values.size)).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
        assert newey_west_se(values, lags) == pytest.approx(float(fit.bse[0]), rel=1e-10)


@pytest.mark.parametrize(
    ("horizon", "interval", "lags"), [(63, 21, 2), (21, 21, 0), (126, 21, 5), (63, 5, 12), (21, 63, 0), (252, 63, 3)]
)
def test_overlap_lags_from_the_settings(horizon: int, interval: int, lags: int) -> None:
    assert overlap_lags(horizon, interval) == lags


def test_mean_estimate_interval_t_and_non_overlapping_cross_check() -> None:
    values = overlapping_series(120)
    estimate = mean_estimate(values, 2)
    se = newey_west_se(values, 2)
    assert estimate["value"] == pytest.approx(values.mean())
    assert estimate["se"] == pytest.approx(se)
    assert estimate["t"] == pytest.approx(values.mean() / se)
    assert estimate["low"] == pytest.approx(values.mean() - 1.959963984540054 * se)
    assert estimate["high"] == pytest.approx(values.mean() + 1.959963984540054 * se)
    sparse = values[::3]
    assert estimate["nonoverlap_periods"] == 40
    assert estimate["nonoverlap_value"] == pytest.approx(sparse.mean())
    sparse_se = sparse.std(ddof=1) / math.sqrt(40)
    assert estimate["nonoverlap_t"] == pytest.approx(sparse.mean() / sparse_se)
    assert estimate["nonoverlap_low"] == pytest.approx(sparse.mean() - 1.959963984540054 * sparse_se)


def periods_frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    ideas = overlapping_series(n, seed=1)
    return pd.DataFrame(
        {
            "ideas": ideas,
            "hit_rate": rng.uniform(0.2, 1.0, n),
            "ic": overlapping_series(n, seed=2) * 2,
            "baseline_equal_weight": ideas - 0.002 + rng.normal(0, 0.01, n),
            "baseline_momentum": ideas + 0.004 + rng.normal(0, 0.01, n),
            "baseline_random": ideas + rng.normal(0, 0.02, n),
        },
        index=pd.bdate_range("2010-01-29", periods=n, freq="BME"),
    )


def test_summarise_uses_newey_west_with_the_overlap_lag() -> None:
    periods = periods_frame()
    summary = summarise(periods, lags=2)
    ic = periods["ic"].to_numpy()
    assert summary["ic"]["t"] == pytest.approx(ic.mean() / newey_west_se(ic, 2))
    assert summary["ic_t_stat"]["value"] == summary["ic"]["t"]
    excess = (periods["ideas"] - periods["baseline_momentum"]).to_numpy()
    se = newey_west_se(excess, 2)
    assert summary["excess_vs_momentum"]["low"] == pytest.approx(excess.mean() - 1.959963984540054 * se)
    assert summary["excess_vs_momentum"]["high"] == pytest.approx(excess.mean() + 1.959963984540054 * se)
    assert set(summary) >= {"hit_rate", "ic", "ideas_return", "excess_vs_equal_weight", "excess_vs_random"}
    # An i.i.d. summary of the same overlapping data is narrower: the reason for the lag.
    iid = summarise(periods, lags=0)
    assert iid["ideas_return"]["high"] - iid["ideas_return"]["low"] < (
        summary["ideas_return"]["high"] - summary["ideas_return"]["low"]
    )


def test_reliability_table_and_brier_score() -> None:
    predicted = [0.35, 0.42, 0.44, 0.52, 0.58, 0.58, np.nan, 0.8]
    outcome = [0, 1, 0, 1, 1, 0, 1, 1]
    table, brier = reliability_table(predicted, outcome, edges=(0.0, 0.4, 0.5, 0.6, 1.0))
    assert table["count"].tolist() == [1, 2, 3, 1]
    assert table["predicted"].tolist() == pytest.approx([0.35, 0.43, (0.52 + 0.58 + 0.58) / 3, 0.8])
    assert table["realised"].tolist() == pytest.approx([0.0, 0.5, 2 / 3, 1.0])
    pairs = [(0.35, 0), (0.42, 1), (0.44, 0), (0.52, 1), (0.58, 1), (0.58, 0), (0.8, 1)]
    assert brier == pytest.approx(np.mean([(p - y) ** 2 for p, y in pairs]))
    empty, nothing = reliability_table([], [])
    assert empty.empty
    assert math.isnan(nothing)


def test_the_report_states_its_inference_and_shows_the_reliability_table() -> None:
    periods = periods_frame()
    periods["w_momentum"] = 0.5
    periods["w_trend"] = 0.5
    periods["learned_share"] = 0.7
    periods["signal_windows"] = 30.0
    rng = np.random.default_rng(3)
    predictions = pd.DataFrame(
        {
            "date": np.repeat(periods.index, 4),
            "symbol": ["A", "B", "C", "D"] * len(periods),
            "percentile": np.tile([1.0, 2 / 3, 1 / 3, 0.0], len(periods)),
            "predicted": np.tile([0.56, 0.5, 0.47, 0.44], len(periods)),
            "outcome": rng.integers(0, 2, 4 * len(periods)).astype(float),
        }
    )
    settings = {
        "command": "investai evaluate --horizon 3m",
        "first": "2010-01-29",
        "last": "2014-12-31",
        "freq": "monthly",
        "horizon": "3m",
        "horizon_days": 63,
        "interval_days": 21,
        "lags": 2,
        "max_ideas": 5,
        "risk": "moderate",
        "universe": 4,
        "models": "offline",
        "base_weights": {"momentum": 0.4, "trend": 0.6},
        "signal_horizon_days": 63,
        "signal_step": 5,
        "signal_lookback_days": 2520,
        "signal_prior": 12.0,
        "calibration_days": 1260,
        "calibration_buckets": 5,
        "calibration_prior": 20.0,
    }
    report = EvaluationReport(
        settings=settings, periods=periods, summary=summarise(periods, lags=2), predictions=predictions
    )
    text = report.markdown("evaluation.png")
    assert "Newey-West (HAC, Bartlett) standard error with 2 lags" in text
    assert "every 3rd date" in text
    assert "## Calibrated confidence: reliability" in text
    assert "| predicted probability | symbol-dates | mean predicted | realised frequency |" in text
    table, brier = report.reliability()
    assert f"Brier score {brier:.4f} over {len(predictions)} symbol-dates" in text
    assert int(table["count"].sum()) == len(predictions)
    assert "Target (IC > 0 with Newey-West t > 2" in text
    assert "| momentum | 0.40 | 0.50 |" in text
