"""The price series of a bar frame: adjusted close, falling back to the close bar by bar."""

from __future__ import annotations

import math

import pandas as pd

from investai.analytics.returns import adjusted_closes


def test_adjusted_close_with_the_close_where_it_is_missing() -> None:
    bars = pd.DataFrame(
        {
            "date": ["2024-01-02", "2024-01-03", "2024-01-04"],
            "close": [10.0, 11.0, None],
            "adj_close": [9.5, None, None],
        }
    )
    prices = adjusted_closes(bars)
    assert list(prices.index) == list(pd.to_datetime(bars["date"]))
    assert prices.iloc[:2].tolist() == [9.5, 11.0]
    assert math.isnan(prices.iloc[2])
    assert prices.dtype == "float64"
    assert adjusted_closes(bars.iloc[:0]).empty
