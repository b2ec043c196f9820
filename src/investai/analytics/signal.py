"""The screen's ranking signal learned point in time: factor weights from the past information coefficients of
each factor, and a calibration of the composite's percentile to a measured probability.

Everything is computed from a wide daily price frame that ends at the as-of day ``t`` (its last row), so
``point_in_time_signal(prices.loc[:t], ...)`` is what a request made on day ``t`` sees, and nothing after
``t`` is read. The learning only uses **formation dates** ``s`` whose forward window has ended by ``t``:

* formation dates are every ``step`` trading days back from ``t - h`` (``h`` the holding horizon in trading
  days): ``s_k = t - h - step * k``, so the latest one's forward window ends exactly on ``t``;
* at each ``s`` the price factors of :mod:`investai.analytics.factors` (12-1 momentum, low volatility, trend,
  short-term reversal) are scored as :func:`~investai.analytics.factors.factor_scores` would have scored them
  on day ``s`` (winsorised z-scores of the rows up to ``s``; :func:`factor_panels`, :func:`zscore_rows`), and
  each factor's information coefficient is the Spearman correlation of its scores with the realised return
  ``close[s + h] / close[s] - 1`` of every symbol that has both.

Learned weights (:func:`learn_weights`) at a day ``d``: the mean IC of each price factor over the formation
dates ``s`` with ``s + h <= d`` and ``s >= d - h - lookback_days``, floored at zero, times the factor's base
weight (the profile is the prior, the past IC the evidence: a factor the profile or a template leaves out stays
out, and profiles stay apart) and normalised to the price factors' share of the base weights (no positive IC
at all: the base weights), then shrunk towards the base weights:
``w = (1 - lambda) * base + lambda * learned`` with ``lambda = n / (n + prior_windows)`` where
``n = formation dates * min(step, h) / h`` is the number of non-overlapping windows the mean rests on. Fundamental
factors keep their base weight: a fundamentals snapshot is as of ``t`` and says nothing about past days, so
their past ICs cannot be measured without look-ahead.

Calibration (:func:`calibrate`): at every formation date ``s`` within ``calibration_days`` of ``t - h`` the
composite is formed with the weights learned as of ``s`` (nested: exactly ``learn_weights`` of the rows up
to ``s``, from windows that ended by ``s``), each
symbol's composite percentile (1 the best, 0 the worst, as the analysis agent computes it) is put in one of
``buckets`` equal-width buckets, and the event counted is that the symbol's forward return **beat the
equal-weighted mean of the ranked universe** over ``s .. s + h`` (the screen ranks symbols against each other;
the direction of the market is not what it predicts). Each bucket's probability is the posterior mean under a
Beta prior centred on the pooled frequency of all buckets with ``prior_strength`` pseudo-observations, the
counts entering as *effective* counts (raw counts ``x min(step, h) / h``, since overlapping windows are not independent
observations).

The same symbol-dates also count a second event, the one an idea's confidence states: the symbol's forward
return over ``s .. s + h`` was **positive** (a long position made money). Each bucket's gain probability is the
posterior mean under the same Beta prior, centred on the pooled gain frequency of all buckets, with the same
effective counts (:meth:`Calibration.gain_probability`, :meth:`Calibration.gain_basis`). Unlike beating the
universe, it carries the direction of the market over the past windows.

Defaults (:data:`STEP`, :data:`LOOKBACK_DAYS`, :data:`PRIOR_WINDOWS`, :data:`CALIBRATION_DAYS`,
:data:`CALIBRATION_PRIOR`) are fixed constants; the docs of the walk-forward evaluation say which of them were
chosen after looking at the full-sample results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field

from investai.analytics.factors import (
    MOMENTUM_ROWS,
    MOMENTUM_SKIP,
    PRICE_FACTORS,
    REVERSAL_WINDOW,
    TREND_WINDOW,
    VOL_MIN_OBS,
    VOL_WINDOW,
)
from investai.domain.common import DomainModel

__all__ = [
    "CALIBRATION_DAYS",
    "CALIBRATION_PRIOR",
    "HISTORY_TRADING_DAYS",
    "LOOKBACK_DAYS",
    "PRIOR_WINDOWS",
    "STEP",
    "Calibration",
    "CalibrationBucket",
    "LearnedWeights",
    "PointInTimeSignal",
    "calibrate",
    "composite_percentiles",
    "factor_panels",
    "history_calendar_days",
    "learn_weights",
    "point_in_time_signal",
    "rank_ic_rows",
    "weighted_composite",
    "zscore_rows",
]

FloatArray = npt.NDArray[np.float64]

STEP = 5
"""Trading days between formation dates (weekly): more, overlapping windows average out the luck of the day
of the month without adding look-ahead."""
LOOKBACK_DAYS = 2520
"""Trading days of formation dates the weights are learned from (10 years). Picked after looking at full-sample
results: the 2005-2022 walk-forward of the sample was run with 2, 5 and 10 years (composite IC 0.025, 0.047 and
0.045; Newey-West t 0.80, 1.50 and 1.50, with an earlier form whose learned part ignored the base weights), and
the longest was kept (a factor IC of a few hundredths is noise in a short window of a small universe)."""
PRIOR_WINDOWS = 12.0
"""Strength of the base weights, in non-overlapping windows: with ``n`` windows of evidence the learned share
is ``n / (n + 12)``. Set before the walk-forward; a prototype compared 12 with 36 and found little difference."""
CALIBRATION_DAYS = 1260
"""Trading days of formation dates the calibration counts (5 years); not tuned."""
CALIBRATION_PRIOR = 20.0
"""Beta prior strength of each calibration bucket, in effective observations; not tuned."""
BUCKETS = 5
MIN_SYMBOLS = 3
"""Symbols with a score and a forward return needed for an IC or a calibration cross-section."""
WARM_UP_DAYS = MOMENTUM_ROWS - 1
"""Rows before the first day every price factor can be scored (12-1 momentum needs 253 rows)."""
HISTORY_TRADING_DAYS = CALIBRATION_DAYS + LOOKBACK_DAYS + 2 * 126 + WARM_UP_DAYS + STEP
"""Rows of history that give every calibration date a full learning window at horizons up to 126 days."""
LIMITS = (0.05, 0.95)


def history_calendar_days(trading_days: int = HISTORY_TRADING_DAYS) -> int:
    """Calendar days that hold ``trading_days`` trading days (252 a year, rounded up, plus a week)."""
    return math.ceil(trading_days * 365.25 / 252) + 7


# ------------------------------------------------------------------------------------------ models


class LearnedWeights(DomainModel):
    """Factor weights learned as of a day, and what they rest on."""

    weights: dict[str, float] = Field(description="factor -> weight used by the composite (sums to 1)")
    base: dict[str, float] = Field(description="factor -> the horizon and risk profile's base weight")
    factor_ic: dict[str, float | None] = Field(description="price factor -> mean past Spearman IC")
    formation_dates: int = Field(ge=0, description="past formation dates whose forward window had ended")
    windows: float = Field(ge=0.0, description="non-overlapping horizon windows those dates span")
    learned_share: float = Field(ge=0.0, le=1.0, description="lambda: share of the learned weights")
    first: date | None = None
    last: date | None = Field(default=None, description="latest formation date (its window ended by the as-of)")
    horizon_days: int = Field(ge=1)
    step_days: int = Field(ge=1)

    def basis(self) -> str:
        """One sentence on where the weights come from."""
        if not self.formation_dates:
            return "base weights: no past forward window had ended in the history available"
        ics = ", ".join(f"{name} {value:+.3f}" for name, value in self.factor_ic.items() if value is not None)
        return (
            f"{self.learned_share:.0%} learned from the mean {self.horizon_days}-day rank IC over "
            f"{self.formation_dates} formation dates every {self.step_days} trading days from {self.first} to "
            f"{self.last} ({self.windows:.1f} non-overlapping windows; {ics}), {1 - self.learned_share:.0%} base "
            "weights"
        )


class CalibrationBucket(DomainModel):
    low: float = Field(ge=0.0, le=1.0, description="lowest composite percentile of the bucket")
    high: float = Field(ge=0.0, le=1.0, description="highest composite percentile (exclusive but for 1.0)")
    observations: int = Field(ge=0, description="symbol-dates counted (overlapping windows)")
    hits: int = Field(ge=0, description="of which beat the equal-weighted universe")
    effective: float = Field(ge=0.0, description="observations x min(step, horizon) / horizon")
    frequency: float | None = Field(description="hits / observations, unshrunk")
    probability: float = Field(ge=0.0, le=1.0, description="posterior mean under the Beta prior")
    gains: int = Field(default=0, ge=0, description="of the observations, those with a positive forward return")
    gain_frequency: float | None = Field(default=None, description="gains / observations, unshrunk")
    gain_probability: float = Field(
        default=0.5, ge=0.0, le=1.0, description="posterior mean of a positive return under the Beta prior"
    )


class Calibration(DomainModel):
    """Measured probability that a symbol at a composite percentile beats the equal-weighted universe over the
    horizon (``probability``), and that its return over the horizon is positive (``gain_probability``), from
    past formation dates whose forward windows had ended by the as-of day."""

    event: str = "forward return above the equal-weighted mean of the ranked universe"
    gain_event: str = "forward return above zero"
    buckets: list[CalibrationBucket]
    prior_mean: float = Field(ge=0.0, le=1.0, description="pooled frequency of all buckets (0.5 with no data)")
    gain_prior_mean: float = Field(
        default=0.5, ge=0.0, le=1.0, description="pooled gain frequency of all buckets (0.5 with no data)"
    )
    prior_strength: float = Field(ge=0.0)
    formation_dates: int = Field(ge=0)
    first: date | None = None
    last: date | None = None
    horizon_days: int = Field(ge=1)

    def bucket(self, percentile: float) -> CalibrationBucket:
        """The bucket holding a composite percentile (clipped to [0, 1])."""
        value = min(max(float(percentile), 0.0), 1.0) if math.isfinite(percentile) else 0.0
        for item in self.buckets:
            if item.low <= value < item.high:
                return item
        return self.buckets[-1]

    def probability(self, percentile: float) -> float:
        """The calibrated probability of the event for a composite percentile."""
        return self.bucket(percentile).probability

    def basis(self, percentile: float) -> str:
        """One sentence on the probability of a percentile and what it rests on."""
        item = self.bucket(percentile)
        return self._sentence(item, item.probability, item.hits, "beat the equal-weighted universe", self.prior_mean)

    def gain_probability(self, percentile: float) -> float:
        """The calibrated probability of a positive return over the horizon for a composite percentile."""
        return self.bucket(percentile).gain_probability

    def gain_basis(self, percentile: float) -> str:
        """One sentence on the gain probability of a percentile and what it rests on."""
        item = self.bucket(percentile)
        return self._sentence(item, item.gain_probability, item.gains, "gained", self.gain_prior_mean)

    def _sentence(self, item: CalibrationBucket, probability: float, count: int, event: str, prior: float) -> str:
        if not self.formation_dates:
            return f"{probability:.0%}: no past forward window had ended; the uninformed prior"
        return (
            f"{probability:.0%} measured at composite percentiles {item.low:.0%} to {item.high:.0%}: "
            f"{count} of {item.observations} symbol-dates ({item.effective:.0f} effective) {event} over "
            f"{self.horizon_days} trading days, formation dates {self.first} to {self.last}, shrunk towards "
            f"{prior:.0%}"
        )


class PointInTimeSignal(DomainModel):
    weights: LearnedWeights
    calibration: Calibration


# -------------------------------------------------------------------------------- factor panels


def _clean(prices: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(prices, pd.DataFrame):
        raise TypeError(f"prices must be a pandas DataFrame (dates x symbols), got {type(prices).__name__}")
    if not prices.index.is_monotonic_increasing:
        raise ValueError("prices must be sorted oldest first")
    values = prices.astype(np.float64)
    return values.where(np.isfinite(values) & (values > 0))


def factor_panels(prices: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every raw price factor of every symbol as of every row: row ``i`` of each panel equals
    ``factors.raw_factors(prices.iloc[: i + 1])`` for that factor (the same definitions, rolled)."""
    clean = _clean(prices)
    returns = clean / clean.shift(1) - 1.0
    volatility = returns.rolling(VOL_WINDOW, min_periods=VOL_MIN_OBS).std(ddof=1) * math.sqrt(252.0)
    return {
        "momentum": clean.shift(MOMENTUM_SKIP) / clean.shift(MOMENTUM_ROWS - 1) - 1.0,
        "low_volatility": -volatility,
        "trend": clean / clean.rolling(TREND_WINDOW, min_periods=TREND_WINDOW).mean() - 1.0,
        "short_term_reversal": -(clean / clean.shift(REVERSAL_WINDOW) - 1.0),
    }


def _row_quantile(rows: FloatArray, q: float) -> FloatArray:
    """The ``q`` quantile of the finite values of each row (numpy's default linear interpolation), vectorised
    (``np.nanquantile`` along an axis loops over the rows in Python)."""
    ordered = np.sort(rows, axis=1)  # NaN last
    count = np.isfinite(rows).sum(axis=1)
    position = np.maximum(count - 1, 0) * q
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, np.maximum(count - 1, 0))
    fraction = position - below
    low = np.take_along_axis(ordered, below[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, above[:, None], axis=1)[:, 0]
    return np.asarray(low + fraction * (high - low), dtype=np.float64)


def zscore_rows(values: FloatArray, limits: tuple[float, float] = LIMITS) -> FloatArray:
    """Winsorised z-scores of each row (a cross-section), as :func:`factors.winsorised_zscores` computes them:
    the finite values clipped to their ``limits`` quantiles (linear interpolation), then ``(x - mean) / std``
    with ``ddof=0``; a constant row is all 0.0 and NaN stays NaN."""
    data = np.array(values, dtype=np.float64)
    data[~np.isfinite(data)] = np.nan
    out = np.full(data.shape, np.nan)
    has = np.isfinite(data).any(axis=1)
    if not has.any():
        return out
    rows = data[has]
    low, high = (_row_quantile(rows, q) for q in limits)
    clipped = np.clip(rows, low[:, None], high[:, None])
    mean = np.nanmean(clipped, axis=1, keepdims=True)
    std = np.nanstd(clipped, axis=1, keepdims=True)
    spread = np.nanmax(clipped, axis=1, keepdims=True) - np.nanmin(clipped, axis=1, keepdims=True)
    constant = (spread <= 0.0) | ~(std > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scored = np.where(constant, 0.0, (clipped - mean) / np.where(constant, 1.0, std))
    scored[np.isnan(rows)] = np.nan
    out[has] = scored
    return out


def rank_ic_rows(scores: FloatArray, forward: FloatArray) -> FloatArray:
    """Spearman correlation of each row of ``scores`` with the same row of ``forward`` over the columns where
    both are finite (average ranks for ties); NaN with fewer than three pairs or a constant side."""
    a = np.asarray(scores, dtype=np.float64)
    b = np.asarray(forward, dtype=np.float64)
    both = np.isfinite(a) & np.isfinite(b)
    ranks_a = pd.DataFrame(np.where(both, a, np.nan)).rank(axis=1).to_numpy(dtype=np.float64)
    ranks_b = pd.DataFrame(np.where(both, b, np.nan)).rank(axis=1).to_numpy(dtype=np.float64)
    count = both.sum(axis=1)
    centre = (count + 1) / 2.0  # the mean of average ranks 1..n is (n + 1) / 2
    da = np.where(both, ranks_a - centre[:, None], 0.0)
    db = np.where(both, ranks_b - centre[:, None], 0.0)
    num = (da * db).sum(axis=1)
    den = np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ic = num / den
    ic[(count < MIN_SYMBOLS) | ~(den > 0.0)] = np.nan
    return np.asarray(ic, dtype=np.float64)


# ---------------------------------------------------------------------------------- composite


def weighted_composite(scores: pd.DataFrame, weights: Mapping[str, float]) -> pd.Series:
    """``sum(w_f * z_f) / sum(w_f)`` per symbol over its non-NaN factors, as :func:`factors.composite_score`
    computes it but with explicit weights; NaN without a positively weighted factor. Sorted best first (NaN
    last, ties in input order), named ``"composite"``."""
    vector = pd.Series([float(weights.get(str(c), 0.0)) for c in scores.columns], index=scores.columns)
    values = scores.astype(np.float64)
    numerator = values.fillna(0.0).mul(vector, axis=1).sum(axis=1)
    denominator = values.notna().mul(vector, axis=1).sum(axis=1)
    composite = (numerator / denominator.where(denominator > 0)).astype(np.float64)
    return composite.sort_values(ascending=False, kind="mergesort", na_position="last").rename("composite")


def composite_percentiles(composite: pd.Series) -> pd.Series:
    """Percentile of each ranked symbol as the analysis agent computes it: ``1 - position / (n - 1)`` in the
    best-first order (1 the best, 0 the worst; a single symbol is 1)."""
    ranked = composite.dropna().sort_values(ascending=False, kind="mergesort")
    n = len(ranked)
    return pd.Series(1.0 - np.arange(n) / max(n - 1, 1), index=ranked.index, dtype=np.float64)


def _composite_row(z: FloatArray, weights: FloatArray) -> FloatArray:
    """Composite of one cross-section from its z-scores (symbols x factors) and the factor weights."""
    present = np.isfinite(z)
    numerator = (np.where(present, z, 0.0) * weights).sum(axis=1)
    denominator = (present * weights).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(denominator > 0, numerator / denominator, np.nan), dtype=np.float64)


# ------------------------------------------------------------------------------------- learning


def _price_base(base_weights: Mapping[str, float]) -> tuple[list[str], FloatArray, float]:
    names = [name for name in PRICE_FACTORS if name in base_weights]
    vector = np.array([max(float(base_weights[name]), 0.0) for name in names], dtype=np.float64)
    return names, vector, float(vector.sum())


def _learned_vector(
    ic_window: FloatArray, base: FloatArray, windows: float, prior_windows: float
) -> tuple[FloatArray, float]:
    """Price-factor weights (summing to ``base.sum()``) from the ICs of a window of formation dates (rows x
    factors), and the learned share ``lambda`` (0 when no factor had a positive mean IC)."""
    mass = float(base.sum())
    finite = np.isfinite(ic_window)
    if ic_window.size == 0 or mass <= 0.0 or not finite.any():
        return base.copy(), 0.0
    counts = finite.sum(axis=0)
    sums = np.where(finite, ic_window, 0.0).sum(axis=0)
    mean = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    positive = base * np.maximum(mean, 0.0)  # the profile's weight times the evidence: base 0 stays 0
    if positive.sum() <= 0.0:
        return base.copy(), 0.0
    learned = positive / positive.sum() * mass
    share = windows / (windows + prior_windows) if windows + prior_windows > 0 else 0.0
    return (1.0 - share) * base + share * learned, share


def _until(prices: pd.DataFrame, as_of: date | pd.Timestamp | None) -> pd.DataFrame:
    """The rows up to and including ``as_of`` (all of them without one)."""
    return prices if as_of is None else prices.loc[: pd.Timestamp(as_of)]


class _Panel:
    """Factor z-scores, forward returns and ICs of one price frame at the formation dates the weights (and, with
    ``calibration_days``, the calibration and the weights of each of its dates) need, computed once."""

    def __init__(
        self, prices: pd.DataFrame, horizon_days: int, step: int, lookback_days: int, calibration_days: int | None
    ) -> None:
        if horizon_days < 1 or step < 1 or lookback_days < 0 or (calibration_days or 0) < 0:
            raise ValueError("horizon_days and step must be positive, lookback and calibration days non-negative")
        clean = _clean(prices)
        self.index = clean.index
        self.horizon = horizon_days
        self.step = step
        self.spacing = min(step, horizon_days) / horizon_days
        """Non-overlapping windows per formation date: ``min(step, h) / h``."""
        self.last = len(clean) - 1
        newest = self.last - horizon_days
        # Grid of the as-of day (t - h - step k): its weights, and the calibration's formation dates.
        wanted = [np.arange(newest, newest - max(lookback_days, calibration_days or 0) - 1, -step)]
        if calibration_days is not None:  # the grid of every calibration date s: s - h - step k = t - 2h - ...
            oldest = newest - horizon_days
            wanted.append(np.arange(oldest, oldest - calibration_days - lookback_days - 1, -step))
        rows = np.unique(np.concatenate(wanted)).astype(int)
        self.rows = rows[rows >= 0]  # oldest first; every row + horizon <= last
        panels = factor_panels(clean)
        self.names = [name for name in PRICE_FACTORS if name in panels]
        self.z = {name: zscore_rows(panels[name].to_numpy()[self.rows]) for name in self.names}
        values = clean.to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.forward = values[self.rows + horizon_days] / values[self.rows] - 1.0
        self.ic = np.empty((len(self.rows), len(self.names)))
        for column, name in enumerate(self.names):
            self.ic[:, column] = rank_ic_rows(self.z[name], self.forward)

    def window(self, position: int, lookback_days: int) -> npt.NDArray[np.bool_]:
        """The formation dates of a request at row ``position``: ``position - h - step * k`` back to
        ``position - h - lookback_days`` (their forward windows ended by ``position``)."""
        distance = position - self.horizon - self.rows
        return np.asarray((distance >= 0) & (distance <= lookback_days) & (distance % self.step == 0), dtype=bool)

    def day(self, row: int) -> date:
        moment: date = pd.Timestamp(self.index[row]).date()
        return moment


def _weights_at(
    panel: _Panel, position: int, names: list[str], base: FloatArray, lookback_days: int, prior_windows: float
) -> tuple[FloatArray, float, npt.NDArray[np.bool_]]:
    """Learned price-factor weights as of row ``position``, the learned share and the formation dates used."""
    chosen = panel.window(position, lookback_days)
    columns = [panel.names.index(name) for name in names]
    ic_window = panel.ic[chosen][:, columns]
    windows = int(chosen.sum()) * panel.spacing
    vector, share = _learned_vector(ic_window, base, windows, prior_windows)
    return vector, share, chosen


def _normalised(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(max(float(w), 0.0) for w in weights.values())
    return {name: (max(float(w), 0.0) / total if total > 0 else 0.0) for name, w in weights.items()}


def _weights_model(
    panel: _Panel,
    position: int,
    base_weights: Mapping[str, float],
    lookback_days: int,
    prior_windows: float,
) -> LearnedWeights:
    names, base, _ = _price_base(base_weights)
    vector, share, chosen = _weights_at(panel, position, names, base, lookback_days, prior_windows)
    weights = {name: float(w) for name, w in base_weights.items()}
    weights.update({name: float(value) for name, value in zip(names, vector, strict=True)})
    count = int(chosen.sum())
    mean_ic: dict[str, float | None] = {}
    for name in names:
        values = panel.ic[chosen, panel.names.index(name)]
        finite = values[np.isfinite(values)]
        mean_ic[name] = float(finite.mean()) if finite.size else None
    dates = panel.rows[chosen]
    return LearnedWeights(
        weights=_normalised(weights),
        base=_normalised(base_weights),
        factor_ic=mean_ic,
        formation_dates=count,
        windows=count * panel.spacing,
        learned_share=min(max(share, 0.0), 1.0),
        first=panel.day(int(dates[0])) if count else None,
        last=panel.day(int(dates[-1])) if count else None,
        horizon_days=panel.horizon,
        step_days=panel.step,
    )


def learn_weights(
    prices: pd.DataFrame,
    base_weights: Mapping[str, float],
    horizon_days: int,
    *,
    as_of: date | pd.Timestamp | None = None,
    step: int = STEP,
    lookback_days: int = LOOKBACK_DAYS,
    prior_windows: float = PRIOR_WINDOWS,
) -> LearnedWeights:
    """Factor weights as of the last row of ``prices`` (see the module docstring).

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, dates x symbols, oldest first, ending at the as-of day (or cut at ``as_of``); nothing after
        it is read.
    base_weights : mapping of str to float
        The horizon and risk profile's weights (:func:`factors.factor_weights`); its keys are the factors the
        composite uses.
    horizon_days : int
        Holding horizon in trading days (63 for three months).
    as_of : date, optional
        The as-of day: rows after it are ignored. Default: the last row of ``prices``.

    Returns
    -------
    LearnedWeights
        Weights summing to 1 over the keys of ``base_weights``, with the mean IC per price factor, how many
        formation dates (and non-overlapping windows) they rest on, the learned share and the date range.
    """
    panel = _Panel(_until(prices, as_of), horizon_days, step, lookback_days, None)
    return _weights_model(panel, len(panel.index) - 1, base_weights, lookback_days, prior_windows)


def _calibration_model(
    panel: _Panel,
    base_weights: Mapping[str, float],
    lookback_days: int,
    prior_windows: float,
    calibration_days: int,
    buckets: int,
    prior_strength: float,
) -> Calibration:
    names, base, _ = _price_base(base_weights)
    last = len(panel.index) - 1
    edges = np.round(np.linspace(0.0, 1.0, buckets + 1), 12)
    observations = np.zeros(buckets, dtype=int)
    hits = np.zeros(buckets, dtype=int)
    gains = np.zeros(buckets, dtype=int)
    used: list[int] = []
    if names and base.sum() > 0:
        stacked = np.stack([panel.z[name] for name in names], axis=2)  # formation dates x symbols x factors
        for i in np.flatnonzero(panel.window(last, calibration_days)):  # the as-of day's grid
            row = int(panel.rows[i])
            vector, _, _ = _weights_at(panel, row, names, base, lookback_days, prior_windows)
            composite = _composite_row(stacked[i], vector)
            forward = panel.forward[i]
            ranked = np.flatnonzero(np.isfinite(composite))
            if ranked.size < MIN_SYMBOLS:
                continue
            order = ranked[np.argsort(-composite[ranked], kind="stable")]
            percentile = np.full(composite.shape, np.nan)
            percentile[order] = 1.0 - np.arange(order.size) / max(order.size - 1, 1)
            known = np.isfinite(percentile) & np.isfinite(forward)
            if known.sum() < MIN_SYMBOLS:
                continue
            beat = forward[known] > forward[known].mean()
            which = np.clip(np.searchsorted(edges, percentile[known], side="right") - 1, 0, buckets - 1)
            np.add.at(observations, which, 1)
            np.add.at(hits, which, beat.astype(int))
            np.add.at(gains, which, (forward[known] > 0.0).astype(int))
            used.append(row)
    scale = panel.spacing
    total_obs, total_hits, total_gains = int(observations.sum()), int(hits.sum()), int(gains.sum())
    prior_mean = total_hits / total_obs if total_obs else 0.5
    gain_prior_mean = total_gains / total_obs if total_obs else 0.5

    def posterior(count: int, effective: float, mean: float) -> float:
        """Beta posterior mean from an effective count of events out of ``effective`` observations."""
        weight = effective + prior_strength
        value = (count * scale + prior_strength * mean) / weight if weight > 0 else mean
        return float(min(max(value, 0.0), 1.0))

    items = []
    for b in range(buckets):
        effective = float(observations[b] * scale)
        items.append(
            CalibrationBucket(
                low=float(edges[b]),
                high=float(edges[b + 1]),
                observations=int(observations[b]),
                hits=int(hits[b]),
                effective=float(effective),
                frequency=float(hits[b] / observations[b]) if observations[b] else None,
                probability=posterior(int(hits[b]), effective, prior_mean),
                gains=int(gains[b]),
                gain_frequency=float(gains[b] / observations[b]) if observations[b] else None,
                gain_probability=posterior(int(gains[b]), effective, gain_prior_mean),
            )
        )
    return Calibration(
        buckets=items,
        prior_mean=float(prior_mean),
        gain_prior_mean=float(gain_prior_mean),
        prior_strength=float(prior_strength),
        formation_dates=len(used),
        first=panel.day(used[0]) if used else None,
        last=panel.day(used[-1]) if used else None,
        horizon_days=panel.horizon,
    )


def calibrate(
    prices: pd.DataFrame,
    base_weights: Mapping[str, float],
    horizon_days: int,
    *,
    as_of: date | pd.Timestamp | None = None,
    step: int = STEP,
    lookback_days: int = LOOKBACK_DAYS,
    prior_windows: float = PRIOR_WINDOWS,
    calibration_days: int = CALIBRATION_DAYS,
    buckets: int = BUCKETS,
    prior_strength: float = CALIBRATION_PRIOR,
) -> Calibration:
    """The calibration table as of the last row of ``prices`` (see the module docstring): per composite
    percentile bucket, how often a symbol beat the equal-weighted universe over the horizon and how often its
    return was positive, from formation dates whose windows ended by then, each ranked with the weights learned
    as of its own day."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    panel = _Panel(_until(prices, as_of), horizon_days, step, lookback_days, calibration_days)
    return _calibration_model(
        panel, base_weights, lookback_days, prior_windows, calibration_days, buckets, prior_strength
    )


def point_in_time_signal(
    prices: pd.DataFrame,
    base_weights: Mapping[str, float],
    horizon_days: int,
    *,
    as_of: date | pd.Timestamp | None = None,
    step: int = STEP,
    lookback_days: int = LOOKBACK_DAYS,
    prior_windows: float = PRIOR_WINDOWS,
    calibration_days: int = CALIBRATION_DAYS,
    buckets: int = BUCKETS,
    prior_strength: float = CALIBRATION_PRIOR,
) -> PointInTimeSignal:
    """:func:`learn_weights` and :func:`calibrate` as of the last row of ``prices``, from one set of panels."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    panel = _Panel(_until(prices, as_of), horizon_days, step, lookback_days, calibration_days)
    position = len(panel.index) - 1
    return PointInTimeSignal(
        weights=_weights_model(panel, position, base_weights, lookback_days, prior_windows),
        calibration=_calibration_model(
            panel, base_weights, lookback_days, prior_windows, calibration_days, buckets, prior_strength
        ),
    )


def price_factor_weights(base_weights: Mapping[str, float], available: Iterable[str]) -> dict[str, float]:
    """``base_weights`` restricted to the ``available`` factors and renormalised (all zero: unchanged)."""
    keep = {name: max(float(w), 0.0) for name, w in base_weights.items() if name in set(available)}
    total = sum(keep.values())
    return {name: w / total for name, w in keep.items()} if total > 0 else keep
