"""Plausibility rules over well-formed bars: limits, oversized changes of stored bars and one-day jumps against
the neighbouring closes, checked on hand-made series, on real crash days and on the whole bundled sample."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from investai.ingest.market_plausibility import PlausibilityRules, Screening, screen_bars
from investai.ingest.market_validation import BAR_ACCEPTED_COLUMNS, validate_bars
from investai.ports.market import NEIGHBOUR_COLUMNS
from investai.sample.market import sample_bars

TODAY = date(2024, 6, 28)
RULES = PlausibilityRules()
MONDAY = date(2024, 1, 8)
NAN = float("nan")


def weekdays(first: date, count: int) -> list[date]:
    found: list[date] = []
    day = first
    while len(found) < count:
        if day.weekday() < 5:
            found.append(day)
        day += timedelta(days=1)
    return found


def row(day: date, close: float, symbol: str = "ABC", **values: float) -> dict[str, Any]:
    return {"symbol": symbol, "date": day, "close": close, **values}


def incoming(*rows: dict[str, Any]) -> pd.DataFrame:
    """Rows as :func:`validate_bars` accepts them (every row here is well-formed)."""
    columns = ["symbol", "date", "open", "high", "low", "close", "adj_close", "volume"]
    frame = pd.DataFrame(list(rows), columns=columns)
    frame.insert(0, "row", np.arange(1, len(rows) + 1, dtype=np.int64))
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    frame = frame.astype({column: float for column in columns[2:]})
    checked = validate_bars(frame, known_symbols={"ABC", "XYZ"}, today=TODAY, auto_create=False)
    assert checked.rejected == []
    return checked.accepted


def stored(*rows: dict[str, Any]) -> pd.DataFrame:
    """Stored bars as :meth:`TimeSeriesStore.bar_neighbours` returns them."""
    frame = pd.DataFrame(list(rows), columns=NEIGHBOUR_COLUMNS)
    frame["date"] = pd.Series([entry["date"] for entry in rows], dtype=object)
    return frame.astype({column: float for column in NEIGHBOUR_COLUMNS[2:]})


NOTHING_STORED = stored()


def screen(
    batch: pd.DataFrame, held_back: pd.DataFrame = NOTHING_STORED, rules: PlausibilityRules = RULES
) -> Screening:
    return screen_bars(batch, held_back, rules)


def held(result: Screening) -> dict[int, str]:
    return dict(zip(result.held["row"].tolist(), result.held["reason"].tolist(), strict=True))


# --- real history passes -----------------------------------------------------------------------------------------


def test_the_whole_sample_history_passes_the_default_rules() -> None:
    checked = validate_bars(sample_bars(), known_symbols=set(), today=TODAY, auto_create=True)

    result = screen(checked.accepted)

    assert result.held.empty
    assert len(result.plausible) == len(checked.accepted) > 150_000
    assert list(result.plausible.columns) == list(BAR_ACCEPTED_COLUMNS)


def test_the_1987_crash_passes_the_default_rules() -> None:
    """S&P 500 closes around Black Monday (1987-10-19, -20.5%) and the rebound after it."""
    closes = {
        date(1987, 10, 14): 305.23,
        date(1987, 10, 15): 298.08,
        date(1987, 10, 16): 282.70,
        date(1987, 10, 19): 224.84,
        date(1987, 10, 20): 236.83,
        date(1987, 10, 21): 258.38,
        date(1987, 10, 22): 248.25,
        date(1987, 10, 23): 248.22,
    }
    batch = incoming(*(row(day, close) for day, close in closes.items()))

    assert screen(batch).held.empty
    assert screen(batch.iloc[4:], stored(*(row(day, close) for day, close in list(closes.items())[:4]))).held.empty


# --- limits ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "start"),
    [
        ({"close": 1e308, "open": 1e308, "high": 1e308, "low": 1e308}, "close 1e+308 is above the price ceiling"),
        ({"close": 10.0, "high": 2e9}, "high 2e+09 is above the price ceiling"),
        ({"close": 10.0, "adj_close": 5e-7}, "adj_close 5e-07 is below the price floor"),
        ({"close": 10.0, "volume": 99999999999999999999999999}, "volume 1e+26 is above the volume ceiling"),
    ],
)
def test_values_beyond_the_limits_are_held(values: dict[str, float], start: str) -> None:
    result = screen(incoming({"symbol": "ABC", "date": MONDAY, **values}))

    assert result.plausible.empty
    assert held(result)[1].startswith(start)


def test_limits_are_configurable() -> None:
    rules = PlausibilityRules(max_price=100.0, min_price=1.0, max_volume=10.0)

    result = screen(
        incoming(row(MONDAY, 150.0), row(MONDAY, 0.5, "XYZ"), row(MONDAY + timedelta(1), 50.0)), rules=rules
    )

    assert sorted(held(result)) == [1, 2]
    assert held(screen(incoming(row(MONDAY, 50.0, volume=11.0)), rules=rules))[1].startswith("volume 11")


@pytest.mark.parametrize(
    "settings_",
    [
        {"max_daily_fall": 1.0},
        {"max_daily_fall": 0.0},
        {"max_daily_rise": 0.0},
        {"max_correction": -0.1},
        {"min_price": 10.0, "max_price": 5.0},
        {"max_volume": 0.0},
        {"max_price": math.inf},
    ],
)
def test_nonsense_rules_are_refused(settings_: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="plausibility"):
        PlausibilityRules(**settings_)


# --- jumps -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ratio", "is_held"), [(1.6, True), (1.5, False), (0.2, True), (0.3, False)])
def test_a_one_day_move_beyond_the_bounds_is_held(ratio: float, is_held: bool) -> None:
    previous = stored(row(MONDAY, 100.0))

    result = screen(incoming(row(MONDAY + timedelta(days=1), 100.0 * ratio)), previous)

    assert (1 in held(result)) is is_held


def test_the_reason_names_the_move_the_previous_close_and_the_bound() -> None:
    result = screen(incoming(row(MONDAY + timedelta(days=1), 160.0)), stored(row(MONDAY, 100.0)))

    assert held(result) == {
        1: "close 160 is +60.0% against the previous close 100 of 2024-01-08, beyond the +55% allowed in 1 trading day"
    }


def test_a_weekend_is_one_trading_day_and_longer_gaps_widen_the_bounds() -> None:
    friday = MONDAY - timedelta(days=3)
    previous = stored(row(friday, 100.0))

    assert 1 in held(screen(incoming(row(MONDAY, 160.0)), previous))
    assert held(screen(incoming(row(friday + timedelta(days=7), 160.0)), previous)) == {}  # 5 trading days
    assert 1 in held(screen(incoming(row(friday + timedelta(days=7), 300.0)), previous))


def test_open_high_and_low_are_measured_against_the_previous_close() -> None:
    previous = stored(row(MONDAY, 100.0))
    spike = row(MONDAY + timedelta(days=1), 101.0, open=100.0, high=170.0, low=99.0)

    assert held(screen(incoming(spike), previous))[1].startswith("high 170 is +70.0%")


def test_the_adjusted_close_is_measured_against_the_previous_adjusted_close() -> None:
    previous = stored(row(MONDAY, 100.0, adj_close=50.0))

    result = screen(incoming(row(MONDAY + timedelta(days=1), 100.0, adj_close=90.0)), previous)

    assert held(result)[1].startswith("adj_close 90 is +80.0% against the previous adjusted close 50")
    assert held(screen(incoming(row(MONDAY + timedelta(days=1), 100.0, adj_close=51.0)), previous)) == {}


def test_rows_of_one_batch_are_measured_against_each_other() -> None:
    days = weekdays(MONDAY, 4)

    result = screen(incoming(row(days[0], 100.0), row(days[1], 101.0), row(days[2], 170.0), row(days[3], 102.0)))

    assert sorted(held(result)) == [3]
    assert result.plausible["close"].tolist() == [100.0, 101.0, 102.0]


def test_after_a_held_row_the_next_is_measured_against_the_last_plausible_close() -> None:
    days = weekdays(MONDAY, 4)
    previous = stored(row(days[0], 100.0))

    result = screen(incoming(row(days[1], 170.0), row(days[2], 200.0), row(days[3], 103.0)), previous)

    assert held(result) == {
        1: "close 170 is +70.0% against the previous close 100 of 2024-01-08, beyond the +55% allowed in 1 trading day",
        2: "close 200 is +100.0% against the previous close 100 of 2024-01-08, beyond the +86% allowed"
        " in 2 trading days",
    }
    assert result.plausible["close"].tolist() == [103.0]


def test_rows_before_a_stored_bar_are_measured_against_its_close() -> None:
    """A backfill a hundred times too high in front of stored history: each row is measured against the stored
    close that follows once the rows after it are held."""
    days = weekdays(MONDAY, 4)
    following = stored(row(days[3], 3.0))

    result = screen(incoming(row(days[0], 290.0), row(days[1], 295.0), row(days[2], 300.0)), following)

    assert held(result) == {
        1: "close 290 is followed by the stored close 3 of 2024-01-11, a move of -99.0%, beyond the -91% allowed"
        " in 3 trading days",
        2: "close 295 is followed by the stored close 3 of 2024-01-11, a move of -99.0%, beyond the -86% allowed"
        " in 2 trading days",
        3: "close 300 is followed by the stored close 3 of 2024-01-11, a move of -99.0%, beyond the -75% allowed"
        " in 1 trading day",
    }
    assert held(screen(incoming(row(days[1], 2.9), row(days[2], 3.1)), following)) == {}


def test_symbols_are_screened_independently() -> None:
    days = weekdays(MONDAY, 2)
    batch = incoming(row(days[0], 100.0), row(days[1], 100.0), row(days[0], 10.0, "XYZ"), row(days[1], 12.0, "XYZ"))

    result = screen(batch, stored(row(days[0] - timedelta(days=3), 100.0, "XYZ")))

    assert sorted(held(result)) == [3, 4]  # XYZ: 100 then 10 (-90%), then 12 (-88% against the stored 100)
    assert result.plausible["symbol"].tolist() == ["ABC", "ABC"]


# --- changes of stored bars -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("close", "is_held"), [(130.0, True), (120.0, False), (79.0, True), (81.0, False)])
def test_a_change_of_a_stored_price_beyond_the_correction_bound_is_held(close: float, is_held: bool) -> None:
    days = weekdays(MONDAY, 2)
    current = stored(row(days[0], 100.0), row(days[1], 100.0))

    result = screen(incoming(row(days[1], close)), current)

    assert (1 in held(result)) is is_held
    if is_held:
        assert "the stored 100" in held(result)[1]


def test_a_row_identical_to_the_stored_bar_is_never_held() -> None:
    days = weekdays(MONDAY, 2)
    current = stored(row(days[0], 100.0), row(days[1], 300.0, volume=1e26))  # stored before the rules existed

    assert held(screen(incoming(row(days[1], 300.0, volume=1e26)), current)) == {}


def test_when_a_replacement_is_held_the_stored_version_stays_the_reference() -> None:
    days = weekdays(MONDAY, 3)
    current = stored(row(days[0], 70.0), row(days[1], 100.0))

    result = screen(incoming(row(days[1], 112.0), row(days[2], 150.0)), current)

    assert sorted(held(result)) == [1]  # +60% against 70; the next is +50% against the stored 100
    assert result.plausible["close"].tolist() == [150.0]


def test_when_a_replacement_passes_it_is_the_reference() -> None:
    days = weekdays(MONDAY, 3)
    current = stored(row(days[0], 100.0), row(days[1], 100.0))

    result = screen(incoming(row(days[1], 120.0), row(days[2], 185.0)), current)

    assert sorted(held(result)) == []  # 185 is +54% against 120, though +85% against the stored 100


# --- a property over random walks ----------------------------------------------------------------------------------


WIDE = PlausibilityRules(max_price=1e300, min_price=1e-300)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    moves=st.lists(st.floats(min_value=-0.69, max_value=0.69), min_size=3, max_size=60),
    spike_at=st.integers(min_value=0, max_value=1000),
    spike=st.sampled_from([10.0, 0.01]),
    stored_first=st.booleans(),
)
def test_a_walk_within_the_bounds_passes_and_a_spike_in_it_is_the_only_row_held(
    moves: list[float], spike_at: int, spike: float, stored_first: bool
) -> None:
    """Each move is at most 0.69 of its bound, so two moves together stay within the bound of two days."""
    rise, fall = math.log(1 + WIDE.max_daily_rise), math.log(1 - WIDE.max_daily_fall)
    logs = [move * (rise if move > 0 else -fall) for move in moves]
    days = weekdays(MONDAY, len(logs))
    walk = [row(day, float(close)) for day, close in zip(days, 100.0 * np.exp(np.cumsum(logs)), strict=True)]
    history = stored(walk[0]) if stored_first else NOTHING_STORED
    batch = walk[1:] if stored_first else walk

    assert screen(incoming(*batch), history, WIDE).held.empty

    position = 1 + spike_at % (len(batch) - 1)  # not the first row, which has nothing before it
    batch[position] = row(batch[position]["date"], batch[position]["close"] * spike)
    result = screen(incoming(*batch), history, WIDE)
    assert sorted(held(result)) == [position + 1]
