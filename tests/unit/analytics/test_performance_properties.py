"""Property tests (hypothesis) of investai.analytics.performance and returns: invariants that hold for any data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from investai.analytics.performance import drawdown_series, hit_rate, max_drawdown, sharpe_ratio
from investai.analytics.returns import cumulative_returns

RETURN = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, allow_infinity=False)
RETURN_OR_NAN = st.one_of(RETURN, st.just(float("nan")))
SERIES_WITH_NAN = arrays(np.float64, st.integers(min_value=0, max_value=60), elements=RETURN_OR_NAN)
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

BASIS_POINTS = st.integers(min_value=-5_000, max_value=5_000).map(lambda bp: bp / 10_000)
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(
    values=st.lists(BASIS_POINTS, min_size=0, max_size=60).map(lambda xs: np.asarray(xs, dtype=np.float64)),
    scale=st.floats(min_value=0.01, max_value=100.0),
)
def test_sharpe_is_unchanged_by_positive_scaling(values: np.ndarray, scale: float) -> None:
    original = sharpe_ratio(values, risk_free=0.0)
    scaled = sharpe_ratio(values * scale, risk_free=0.0)
    if np.isnan(original):  # fewer than two values or constant: still so after scaling
        assert np.isnan(scaled)
    else:
        assert np.isclose(scaled, original, rtol=1e-6, atol=0.0)


@FAST
@given(values=SERIES_WITH_NAN)
def test_drawdown_is_never_positive_and_max_drawdown_is_its_minimum(values: np.ndarray) -> None:
    drawdown = drawdown_series(values)
    present = drawdown[~np.isnan(values)]
    assert (present <= 0.0).all()
    assert np.isnan(drawdown[np.isnan(values)]).all()
    worst = max_drawdown(values)
    if len(present) == 0:
        assert np.isnan(worst)
    else:
        assert worst == present.min()
        assert worst <= 0.0


@FAST
@given(values=SERIES_WITH_NAN)
def test_hit_rate_is_a_fraction(values: np.ndarray) -> None:
    rate = hit_rate(values)
    if np.isnan(values).all():
        assert np.isnan(rate)
    else:
        assert 0.0 <= rate <= 1.0


@FAST
@given(
    values=arrays(np.float64, st.integers(min_value=1, max_value=60), elements=RETURN_OR_NAN),
    cut=st.integers(min_value=0, max_value=59),
    replacement=st.lists(RETURN_OR_NAN, min_size=60, max_size=60),
)
def test_no_lookahead_in_drawdown_and_cumulative_returns(
    values: np.ndarray, cut: int, replacement: list[float]
) -> None:
    cut = min(cut, len(values) - 1)
    index = pd.bdate_range("2024-01-01", periods=len(values))
    original = pd.Series(values, index=index)
    changed = original.copy()
    changed.iloc[cut + 1 :] = replacement[: len(values) - cut - 1]
    for transform in (drawdown_series, cumulative_returns):
        pd.testing.assert_series_equal(transform(original).iloc[: cut + 1], transform(changed).iloc[: cut + 1])
