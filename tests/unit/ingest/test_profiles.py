from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from investai.ingest import profile_columns
from investai.ingest.profiles import normalise_cell


def test_numeric_columns_get_statistics() -> None:
    (integers, floats) = profile_columns(["n", "x"], [[1, 1.5], [2, None], [3, 2.5], [None, ""]])

    assert (integers.dtype, integers.count, integers.nulls, integers.distinct) == ("integer", 3, 1, 3)
    assert (integers.min, integers.max, integers.mean, integers.std) == (1.0, 3.0, 2.0, 1.0)
    assert (floats.dtype, floats.count, floats.nulls) == ("float", 2, 2)
    assert floats.mean == pytest.approx(2.0)


def test_text_cells_are_typed_by_their_content() -> None:
    header = ["i", "f", "b", "d", "t", "s"]
    rows = [
        ["1", "1.5", "TRUE", "2024-01-02", "2024-01-02T10:00:00Z", "AAPL"],
        ["-2", "3", "false", "2024-02-29", "2024-01-03 11:30", "MSFT"],
    ]
    profiles = profile_columns(header, rows)
    assert [profile.dtype for profile in profiles] == ["integer", "float", "boolean", "date", "datetime", "string"]
    assert (profiles[3].min, profiles[3].max) == ("2024-01-02", "2024-02-29")
    assert (profiles[5].min, profiles[5].max, profiles[5].mean) == ("AAPL", "MSFT", None)


@pytest.mark.parametrize(
    "values",
    [["2024-13-45"], ["nan"], ["inf"], ["007"], ["12345678901234567890123"], ["1", "x"]],
)
def test_ambiguous_text_stays_string(values: list[str]) -> None:
    (profile,) = profile_columns(["c"], [[value] for value in values])
    assert profile.dtype == "string"


def test_a_single_value_has_no_spread_and_an_empty_column_no_statistics() -> None:
    (one, empty) = profile_columns(["one", "empty"], [[5, None]])
    assert (one.mean, one.std) == (5.0, None)
    assert (empty.dtype, empty.count, empty.nulls, empty.min) == ("string", 0, 1, None)


def test_booleans_are_not_numbers() -> None:
    (profile,) = profile_columns(["flag"], [[True], [False], [True]])
    assert (profile.dtype, profile.distinct, profile.mean) == ("boolean", 2, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
        (Decimal("1.25"), 1.25),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (dt.time(9, 30), "09:30:00"),
        (dt.timedelta(minutes=1), 60.0),
        ("a\x00b", "ab"),
        (True, True),
        (7, 7),
        ("x" * 50, "x" * 10),
    ],
)
def test_cells_are_normalised_to_json_safe_values(value: object, expected: object) -> None:
    assert normalise_cell(value, max_chars=10) == expected
