"""Grounding: numbers in model text must be computed values at the precision written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from investai.agents.grounding import check_numbers, written_numbers

COMPUTED = [0.2345, -0.1234, 187.2, 1.07, 1250.75, 95, 12, 1]


@pytest.mark.parametrize(
    "text",
    [
        "Momentum of 23.4% over 12-1 months",
        "a drawdown of 12.3% and a beta of 1.07",
        "entry at $187.20, about 1,250.75 shares",
        "95% VaR",
        "momentum 23%",
        "volatility of 0.2345 a year",
    ],
)
def test_numbers_that_are_computed_values_pass(text: str) -> None:
    report = check_numbers(text, COMPUTED)
    assert report.ok, report.unsupported


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("Momentum of 24.1% supports the idea", "24.1%"),
        ("a target 15% above today", "15%"),
        ("beta of 1.2", "1.2"),
        ("the stock trades at 31x earnings", "31x"),
        ("expect -7.5% in the bear case", "-7.5%"),
    ],
)
def test_a_number_the_computation_did_not_produce_is_caught(text: str, bad: str) -> None:
    report = check_numbers(text, COMPUTED)
    assert not report.ok
    assert report.unsupported == [bad]


def test_precision_is_respected() -> None:
    assert check_numbers("23.45%", [0.2345]).ok
    assert not check_numbers("23.46%", [0.2345]).ok
    assert check_numbers("23.5%", [0.2345]).ok  # rounded to one decimal as written


def test_words_and_identifiers_are_not_numbers() -> None:
    assert [number.text for number in written_numbers("S&P500 and AAPL2 and v1.2.3")] == []
    assert check_numbers("no figures here", []).ok


@given(st.floats(min_value=-5, max_value=5, allow_nan=False), st.integers(min_value=0, max_value=4))
def test_any_computed_value_written_at_any_precision_passes(value: float, decimals: int) -> None:
    assert check_numbers(f"{value * 100:.{decimals}f}%", [value]).ok
    assert check_numbers(f"{value:.{decimals}f}", [value]).ok
