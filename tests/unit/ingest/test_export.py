from __future__ import annotations

import csv
import io

import pytest

from investai.ingest import neutralise_cell, table_to_csv


@pytest.mark.parametrize(
    "value",
    ["=cmd|' /C calc'!A0", "+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1", '=HYPERLINK("http://evil","x")'],
)
def test_formula_text_is_neutralised(value: str) -> None:
    assert neutralise_cell(value) == "'" + value


@pytest.mark.parametrize("value", [-5, -1.5, 0, None, True, "AAPL", "1-2", "a=b", "", "   ", " a = b"])
def test_other_values_are_untouched(value: object) -> None:
    assert neutralise_cell(value) == value


@pytest.mark.parametrize(
    "value",
    [" =1+1", "   =cmd|' /C calc'!A0", " +1", "  -1+1", " @SUM(A1)", "\n=1+1", "\u00a0=1+1", "\u200b=1+1", "\ufeff=1"],
)
def test_formulas_behind_leading_blanks_are_neutralised(value: str) -> None:
    assert neutralise_cell(value) == "'" + value


def test_exported_csv_cannot_run_formulas() -> None:
    text = table_to_csv(["=name", "value"], [["=cmd|' /C calc'!A0", -5], ["@SUM(A1)", None], ['say "hi", ok', 1.5]])

    rows = list(csv.reader(io.StringIO(text)))

    assert rows == [
        ["'=name", "value"],
        ["'=cmd|' /C calc'!A0", "-5"],
        ["'@SUM(A1)", ""],
        ['say "hi", ok', "1.5"],
    ]
    assert text.endswith("\r\n")
