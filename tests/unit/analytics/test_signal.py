"""The point-in-time ranking signal: its factor panels against the reference factor functions, the learned
weights and the calibration against brute-force recomputations from ``factor_scores`` as of each past day, and
that nothing after the as-of day (or after the windows that had ended by it) is read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from investai.analytics import signal
from investai.analytics.factors import (
    PRICE_FACTORS,
    composite_score,
    factor_scores,
    factor_weights,
    raw_factors,
    winsorised_zscores,
)

H, STEP, LOOKBACK, CALIBRATION = 21, 10, 200, 120
BASE = factor_weights("short", "moderate", PRICE_FACTORS)


def synthetic_prices(rows: int = 700, symbols: int = 8, seed: int = 5) -> pd.DataFrame:
    """Daily closes with a persistent cross-sectional drift (so momentum has an IC) and a few missing days."""
    rng = np.random.default_rng(seed)
    drift = rng.normal(0.0, 0.0015, symbols)
    returns = drift + rng.normal(0.0, 0.015, (rows, symbols))
    prices = 50.0 * np.exp(np.cumsum(returns, axis=0))
    frame = pd.DataFrame(
        prices, index=pd.bdate_range("2010-01-04", periods=rows), columns=[f"S{i}" for i in range(symbols)]
    )
    frame.iloc[100:103, 2] = np.nan  # a gap: prices are never filled
    frame.iloc[:300, 7] = np.nan  # a late listing: no factor until it has the history
    return frame


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return synthetic_prices()


def test_factor_panels_match_the_reference_factors_row_by_row(prices: pd.DataFrame) -> None:
    panels = signal.factor_panels(prices)
    for row in (21, 70, 199, 252, 320, 699):
        reference = raw_factors(prices.iloc[: row + 1])
        for name in PRICE_FACTORS:
            np.testing.assert_allclose(
                panels[name].iloc[row].to_numpy(), reference[name].to_numpy(), rtol=1e-9, atol=1e-12
            )


def test_zscore_rows_match_winsorised_zscores(prices: pd.DataFrame) -> None:
    panel = signal.factor_panels(prices)["momentum"]
    rows = panel.to_numpy()[[260, 400, 650]]
    rows[1, 3] = rows[1, 4]  # a tie
    scored = signal.zscore_rows(rows)
    for got, values in zip(scored, rows, strict=True):
        expected = winsorised_zscores(pd.Series(values)).to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert (signal.zscore_rows(np.array([[1.0, 1.0, np.nan]])) == np.array([[0.0, 0.0, np.nan]]))[0, :2].all()
    assert np.isnan(signal.zscore_rows(np.full((1, 3), np.nan))).all()


def test_rank_ic_rows_match_scipy() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=(6, 12))
    b = 0.3 * a + rng.normal(size=(6, 12))
    a[0, :3] = np.nan
    b[1, 5] = np.nan
    b[2] = np.round(b[2], 0)  # ties
    got = signal.rank_ic_rows(a, b)
    for row in range(6):
        keep = np.isfinite(a[row]) & np.isfinite(b[row])
        assert got[row] == pytest.approx(stats.spearmanr(a[row][keep], b[row][keep]).statistic, rel=1e-12)
    assert np.isnan(signal.rank_ic_rows(np.array([[1.0, 2.0, np.nan]]), np.array([[1.0, 2.0, 3.0]])))[0]
    assert np.isnan(signal.rank_ic_rows(np.array([[1.0, 1.0, 1.0]]), np.array([[1.0, 2.0, 3.0]])))[0]


def test_weighted_composite_with_the_base_weights_is_the_composite_score(prices: pd.DataFrame) -> None:
    scores = factor_scores(prices.iloc[:400])
    expected = composite_score(scores, "short", "moderate")
    got = signal.weighted_composite(scores, factor_weights("short", "moderate"))
    pd.testing.assert_series_equal(got, expected)
    percentiles = signal.composite_percentiles(got)
    assert list(percentiles.index) == list(got.dropna().index)
    assert percentiles.iloc[0] == 1.0
    assert percentiles.iloc[-1] == 0.0


def _forward(prices: pd.DataFrame, row: int) -> pd.Series:
    return prices.iloc[row + H] / prices.iloc[row] - 1.0


def test_learned_weights_are_the_mean_past_ic_of_windows_that_had_ended(prices: pd.DataFrame) -> None:
    t = 650
    learned = signal.learn_weights(prices.iloc[: t + 1], BASE, H, step=STEP, lookback_days=LOOKBACK)
    # Brute force: factor_scores as of every formation date s = t - h - step k (s + h <= t), scipy's Spearman.
    formation = list(range(t - H, t - H - LOOKBACK - 1, -STEP))
    assert all(s + H <= t for s in formation)
    ics = {name: [] for name in PRICE_FACTORS}
    for s in formation:
        scores = factor_scores(prices.iloc[: s + 1])
        forward = _forward(prices, s)
        for name in PRICE_FACTORS:
            both = pd.concat([scores[name], forward], axis=1).dropna()
            ics[name].append(stats.spearmanr(both.iloc[:, 0], both.iloc[:, 1]).statistic)
    means = {name: float(np.nanmean(values)) for name, values in ics.items()}
    assert learned.factor_ic == pytest.approx(means, rel=1e-9)
    assert learned.formation_dates == len(formation)
    assert learned.last == prices.index[t - H].date()
    assert learned.first == prices.index[formation[-1]].date()
    windows = len(formation) * STEP / H
    share = windows / (windows + signal.PRIOR_WINDOWS)
    positive = {name: BASE[name] * max(value, 0.0) for name, value in means.items()}
    total = sum(positive.values())
    expected = {name: (1 - share) * BASE[name] + share * positive[name] / total for name in PRICE_FACTORS}
    assert learned.learned_share == pytest.approx(share)
    assert learned.weights == pytest.approx(expected, rel=1e-9)
    assert sum(learned.weights.values()) == pytest.approx(1.0)
    assert "formation dates" in learned.basis()


def test_learned_weights_ignore_prices_after_the_as_of_day(prices: pd.DataFrame) -> None:
    t = prices.index[600]
    before = signal.learn_weights(prices, BASE, H, as_of=t, step=STEP, lookback_days=LOOKBACK)
    changed = prices.copy()
    changed.loc[changed.index > t] *= np.random.default_rng(9).uniform(0.5, 2.0, changed.loc[changed.index > t].shape)
    after = signal.learn_weights(changed, BASE, H, as_of=t, step=STEP, lookback_days=LOOKBACK)
    assert after == before
    # ... whereas a price inside the last window that had ended does move them: the test can see a change.
    inside = prices.copy()
    inside.iloc[600, 0] *= 3.0
    assert signal.learn_weights(inside, BASE, H, as_of=t, step=STEP, lookback_days=LOOKBACK) != before


def test_weights_fall_back_to_the_base_without_an_ended_window(prices: pd.DataFrame) -> None:
    learned = signal.learn_weights(prices.iloc[:15], BASE, H)
    assert learned.weights == pytest.approx(BASE)
    assert learned.formation_dates == 0
    assert learned.learned_share == 0.0
    assert learned.basis().startswith("base weights")


def test_calibration_counts_only_past_windows_each_ranked_with_its_own_weights(prices: pd.DataFrame) -> None:
    t = 690
    calibration = signal.calibrate(
        prices.iloc[: t + 1], BASE, H, step=STEP, lookback_days=LOOKBACK, calibration_days=CALIBRATION
    )
    edges = np.linspace(0.0, 1.0, signal.BUCKETS + 1)
    observations = np.zeros(signal.BUCKETS, dtype=int)
    hits = np.zeros(signal.BUCKETS, dtype=int)
    gains = np.zeros(signal.BUCKETS, dtype=int)
    dates = []
    for s in range(t - H, t - H - CALIBRATION - 1, -STEP):
        assert s + H <= t  # the window had ended by the as-of day
        weights = signal.learn_weights(prices.iloc[: s + 1], BASE, H, step=STEP, lookback_days=LOOKBACK).weights
        percentiles = signal.composite_percentiles(
            signal.weighted_composite(factor_scores(prices.iloc[: s + 1]), weights)
        )
        forward = _forward(prices, s).reindex(percentiles.index).dropna()
        beat = forward > forward.mean()
        which = np.clip(np.searchsorted(edges, percentiles[forward.index], side="right") - 1, 0, signal.BUCKETS - 1)
        np.add.at(observations, which, 1)
        np.add.at(hits, which, beat.to_numpy().astype(int))
        np.add.at(gains, which, (forward > 0).to_numpy().astype(int))
        dates.append(s)
    assert [b.observations for b in calibration.buckets] == observations.tolist()
    assert [b.hits for b in calibration.buckets] == hits.tolist()
    assert [b.gains for b in calibration.buckets] == gains.tolist()
    assert gains.tolist() != hits.tolist()  # two different events
    assert calibration.formation_dates == len(dates)
    assert calibration.last == prices.index[t - H].date()
    assert calibration.first == prices.index[dates[-1]].date()
    # The Beta posterior on effective counts, shrunk towards the pooled frequency.
    scale = STEP / H
    pooled = hits.sum() / observations.sum()
    assert calibration.prior_mean == pytest.approx(pooled)
    pooled_gain = gains.sum() / observations.sum()
    assert calibration.gain_prior_mean == pytest.approx(pooled_gain)
    for bucket, n, k, g in zip(calibration.buckets, observations, hits, gains, strict=True):
        expected = (k * scale + signal.CALIBRATION_PRIOR * pooled) / (n * scale + signal.CALIBRATION_PRIOR)
        assert bucket.probability == pytest.approx(expected)
        assert bucket.effective == pytest.approx(n * scale)
        gain = (g * scale + signal.CALIBRATION_PRIOR * pooled_gain) / (n * scale + signal.CALIBRATION_PRIOR)
        assert bucket.gain_probability == pytest.approx(gain)
        assert bucket.gain_frequency == pytest.approx(g / n)
    assert calibration.probability(0.99) == calibration.buckets[-1].probability
    assert calibration.probability(1.0) == calibration.buckets[-1].probability
    assert calibration.probability(0.0) == calibration.buckets[0].probability
    assert "beat the equal-weighted universe" in calibration.basis(0.5)


# A tiny panel counted by hand: four symbols growing at constant daily rates, ranked on short-term reversal alone
# (the symbol that rose least over 21 days ranks first), a 3-day horizon, formation dates every 2 days.
TINY_RATES = (0.03, 0.02, 0.005, -0.01)
TINY_H, TINY_STEP, TINY_LOOKBACK, TINY_CALIBRATION, TINY_T = 3, 2, 10, 8, 49
TINY_BASE = {"short_term_reversal": 1.0}


def tiny_prices(rows: int = 60) -> pd.DataFrame:
    growth = np.power(1.0 + np.array(TINY_RATES), np.arange(rows)[:, None])
    return pd.DataFrame(
        100.0 * growth, index=pd.bdate_range("2020-01-01", periods=rows), columns=["S0", "S1", "S2", "S3"]
    )


def tiny_calibration(prices: pd.DataFrame) -> signal.Calibration:
    return signal.calibrate(
        prices,
        TINY_BASE,
        TINY_H,
        as_of=prices.index[TINY_T],
        step=TINY_STEP,
        lookback_days=TINY_LOOKBACK,
        calibration_days=TINY_CALIBRATION,
    )


def test_gain_counts_on_a_tiny_panel_by_hand() -> None:
    calibration = tiny_calibration(tiny_prices())
    # Formation dates 46, 44, 42, 40, 38 (every 2 days back from t - h = 46, over 8 days): 5 of them.
    assert calibration.formation_dates == 5
    # Each date ranks S3 (fell) first: percentiles S3 1, S2 2/3, S1 1/3, S0 0 -> buckets 4, 3, 1, 0.
    # 3-day returns: S0 +9.3%, S1 +6.1%, S2 +1.5%, S3 -3.0% (mean +3.5%): S0 and S1 beat the universe; S0, S1
    # and S2 gained.
    assert [b.observations for b in calibration.buckets] == [5, 5, 0, 5, 5]
    assert [b.hits for b in calibration.buckets] == [5, 5, 0, 0, 0]
    assert [b.gains for b in calibration.buckets] == [5, 5, 0, 5, 0]
    assert [b.gain_frequency for b in calibration.buckets] == [1.0, 1.0, None, 1.0, 0.0]
    assert calibration.prior_mean == pytest.approx(0.5)
    assert calibration.gain_prior_mean == pytest.approx(0.75)
    effective = 5 * 2 / 3  # 5 symbol-dates x min(step, h) / h
    prior = signal.CALIBRATION_PRIOR
    expected = [
        (effective + prior * 0.75) / (effective + prior),
        (effective + prior * 0.75) / (effective + prior),
        0.75,  # no observation: the prior mean
        (effective + prior * 0.75) / (effective + prior),
        (prior * 0.75) / (effective + prior),
    ]
    assert [b.gain_probability for b in calibration.buckets] == pytest.approx(expected)
    assert calibration.gain_probability(0.9) == pytest.approx(expected[4])
    assert calibration.gain_probability(0.7) == pytest.approx(expected[3])
    assert calibration.gain_probability(0.0) == pytest.approx(expected[0])
    # The beat-the-universe probabilities are unchanged by the second event.
    assert calibration.probability(0.7) == pytest.approx((prior * 0.5) / (effective + prior))
    prices = tiny_prices()
    assert calibration.gain_basis(0.9) == (
        f"64% measured at composite percentiles 80% to 100%: 0 of 5 symbol-dates (3 effective) gained over 3 "
        f"trading days, formation dates {prices.index[38].date()} to {prices.index[46].date()}, shrunk towards 75%"
    )
    assert calibration.gain_event == "forward return above zero"


def test_gain_counts_ignore_prices_after_the_as_of_day() -> None:
    prices = tiny_prices()
    before = tiny_calibration(prices)
    changed = prices.copy()
    changed.iloc[TINY_T + 1 :] *= np.array([0.5, 0.5, 0.5, 3.0])  # a different future: the laggard soars
    after = tiny_calibration(changed)
    assert [b.gains for b in after.buckets] == [b.gains for b in before.buckets]
    assert after.gain_prior_mean == before.gain_prior_mean
    assert after == before
    # ... whereas the close on the as-of day ends the last window (formation date 46): S2 losing over it is one
    # gain fewer in its bucket, and the test can see it.
    inside = prices.copy()
    inside.iloc[TINY_T, 2] = prices.iloc[TINY_T - TINY_H, 2] * 0.99
    moved = tiny_calibration(inside)
    assert [b.gains for b in moved.buckets] == [5, 5, 0, 4, 0]
    assert [b.hits for b in moved.buckets] == [5, 5, 0, 0, 0]


def test_calibrations_without_the_gain_fields_still_validate() -> None:
    bucket = signal.CalibrationBucket(
        low=0.0, high=1.0, observations=10, hits=4, effective=1.0, frequency=0.4, probability=0.45
    )
    assert (bucket.gains, bucket.gain_frequency, bucket.gain_probability) == (0, None, 0.5)
    calibration = signal.Calibration(
        buckets=[bucket], prior_mean=0.4, prior_strength=20.0, formation_dates=0, horizon_days=63
    )
    assert calibration.gain_prior_mean == 0.5
    assert calibration.gain_probability(0.3) == 0.5
    assert calibration.gain_basis(0.3) == "50%: no past forward window had ended; the uninformed prior"
    assert calibration.probability(0.3) == 0.45


def test_calibration_ignores_prices_after_the_as_of_day(prices: pd.DataFrame) -> None:
    t = prices.index[650]
    kwargs = {"as_of": t, "step": STEP, "lookback_days": LOOKBACK, "calibration_days": CALIBRATION}
    before = signal.point_in_time_signal(prices, BASE, H, **kwargs)
    changed = prices.copy()
    changed.loc[changed.index > t] = changed.loc[changed.index > t][::-1].to_numpy()  # a different future
    assert signal.point_in_time_signal(changed, BASE, H, **kwargs) == before
    assert before.calibration == signal.calibrate(prices, BASE, H, **kwargs)
    assert before.weights == signal.learn_weights(prices, BASE, H, as_of=t, step=STEP, lookback_days=LOOKBACK)


def test_a_factor_the_profile_leaves_out_stays_out(prices: pd.DataFrame) -> None:
    base = dict(BASE, momentum=0.0)  # momentum has the strongest past IC on this data
    assert signal.learn_weights(prices, BASE, H, step=STEP, lookback_days=LOOKBACK).factor_ic["momentum"] > 0.1
    learned = signal.learn_weights(prices, base, H, step=STEP, lookback_days=LOOKBACK)
    assert learned.weights["momentum"] == 0.0
    assert learned.learned_share > 0.4  # the other factors were learned


def test_fundamental_factors_keep_their_base_weight(prices: pd.DataFrame) -> None:
    base = factor_weights("medium", "moderate")
    learned = signal.learn_weights(prices, base, H, step=STEP, lookback_days=LOOKBACK)
    fundamental = ("value", "quality", "growth")
    assert {name: learned.weights[name] for name in fundamental} == pytest.approx({n: base[n] for n in fundamental})
    assert sum(learned.weights.values()) == pytest.approx(1.0)


def test_history_calendar_days_cover_the_trading_days() -> None:
    assert signal.history_calendar_days(252) >= 365
    assert signal.history_calendar_days() > signal.HISTORY_TRADING_DAYS * 365 / 252
