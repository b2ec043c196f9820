from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from investai.domain.market import TICKER_PATTERN
from investai.ingest.market_validation import (
    BAR_ACCEPTED_COLUMNS,
    QUOTE_ACCEPTED_COLUMNS,
    BarValidation,
    QuoteValidation,
    bars_table,
    quotes_table,
    validate_bars,
    validate_quotes,
)
from investai.ports.market import BAR_SCHEMA, QUOTE_SCHEMA

TODAY = date(2024, 6, 28)
KNOWN = {"ABC", "XYZ", "^GSPC", "BRK.B"}
NAN = float("nan")
NOW = datetime(2024, 6, 28, 15, 30, tzinfo=UTC)


def bar(symbol: object = "ABC", day: object = "2024-01-02", **prices: float) -> dict[str, Any]:
    values = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "adj_close": 10.4, "volume": 1000.0}
    values.update(prices)
    return {"symbol": symbol, "date": day, **values}


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    data = pd.DataFrame(list(rows), columns=["symbol", "date", "open", "high", "low", "close", "adj_close", "volume"])
    data.insert(0, "row", np.arange(1, len(rows) + 1, dtype=np.int64))
    data["symbol"] = data["symbol"].astype(object)
    data["date"] = pd.to_datetime(data["date"]).astype("datetime64[ns]")
    return data.astype({column: float for column in ["open", "high", "low", "close", "adj_close", "volume"]})


def check(data: pd.DataFrame, *, auto_create: bool = False, problems: dict[int, str] | None = None) -> BarValidation:
    return validate_bars(data, problems=problems, known_symbols=KNOWN, today=TODAY, auto_create=auto_create)


def reasons(result: BarValidation | QuoteValidation) -> dict[int, str]:
    return {rejected.row: rejected.reason for rejected in result.rejected}


def only_reason(data: pd.DataFrame, **kwargs: Any) -> str:
    result = check(data, **kwargs)
    assert result.accepted.empty
    (rejected,) = result.rejected
    return str(rejected.reason)


# --- accepted rows -------------------------------------------------------------------------------------------


def test_valid_rows_are_accepted_sorted_by_symbol_then_date() -> None:
    result = check(
        frame(
            bar("xyz", "2024-01-03"),
            bar("XYZ", "2024-01-05"),  # a gap is fine
            bar(" abc ", "2024-01-02"),
            bar("BRK.B", "2024-01-02", open=NAN, high=NAN, low=NAN, adj_close=NAN, volume=NAN),
            bar("^GSPC", "2024-06-28", volume=0.0),  # today is not the future
        )
    )

    accepted = result.accepted
    assert result.rejected == []
    assert list(accepted.columns) == list(BAR_ACCEPTED_COLUMNS)
    assert accepted["symbol"].tolist() == ["ABC", "BRK.B", "XYZ", "XYZ", "^GSPC"]
    assert accepted["row"].tolist() == [3, 4, 1, 2, 5]
    assert str(accepted["date"].dtype) == "datetime64[ns]"
    assert accepted["date"].dt.strftime("%Y-%m-%d").tolist()[:3] == ["2024-01-02", "2024-01-02", "2024-01-03"]
    assert math.isnan(accepted.loc[1, "open"])
    assert result.new_symbols == []


def test_an_empty_frame_gives_empty_results() -> None:
    result = check(frame())
    assert result.accepted.empty
    assert list(result.accepted.columns) == list(BAR_ACCEPTED_COLUMNS)
    assert (result.rejected, result.new_symbols) == ([], [])


# --- one test per rule ---------------------------------------------------------------------------------------


def test_rule_1_a_reading_problem_rejects_the_row() -> None:
    result = check(frame(bar(), bar(day="2024-01-03")), problems={2: "close 'abc' is not a number"})
    assert reasons(result) == {2: "close 'abc' is not a number"}
    assert result.accepted["row"].tolist() == [1]


@pytest.mark.parametrize(
    ("symbol", "reason"),
    [
        (None, "symbol is missing"),
        ("  ", "symbol is missing"),
        ("AB C", "symbol 'AB C' is not a valid ticker"),
        ("-ABC", "symbol '-ABC' is not a valid ticker"),
        ("A" * 21, f"symbol '{'A' * 21}' is not a valid ticker"),
    ],
)
def test_rule_2_the_symbol_must_be_a_ticker(symbol: object, reason: str) -> None:
    result = check(frame(bar(symbol)))
    assert reasons(result) == {1: reason}
    assert result.rejected[0].date == "2024-01-02"


def test_rule_3_the_date_must_be_present_and_not_in_the_future() -> None:
    result = check(frame(bar(day=None), bar(day="2031-01-02"), bar(day="2024-06-29")))
    assert reasons(result) == {
        1: "date is missing",
        2: "date 2031-01-02 is in the future",
        3: "date 2024-06-29 is in the future",
    }
    assert result.rejected[0].date is None


def test_rule_3_dates_before_datetime64_ns_are_rejected() -> None:
    data = frame(bar())
    data["date"] = pd.Series([np.datetime64("1600-01-01", "us")])
    assert only_reason(data) == "date 1600-01-01 is before 1678-01-01"


@pytest.mark.parametrize(
    ("prices", "reason"),
    [
        ({"close": NAN}, "close is missing"),
        ({"close": 0.0, "low": NAN}, "close 0.0 is not positive"),
        ({"close": -1.0, "low": NAN}, "close -1.0 is not positive"),
        ({"close": math.inf, "high": NAN}, "close inf is not finite"),
        ({"open": 0.0, "low": NAN}, "open 0.0 is not positive"),
        ({"high": -5.0, "low": NAN}, "high -5.0 is not positive"),
        ({"low": 0.0}, "low 0.0 is not positive"),
        ({"adj_close": -0.5}, "adj_close -0.5 is not positive"),
        ({"adj_close": -math.inf}, "adj_close -inf is not finite"),
        ({"volume": -1.0}, "volume -1.0 is negative"),
        ({"volume": math.inf}, "volume inf is not finite"),
    ],
)
def test_rule_4_prices_are_positive_and_finite(prices: dict[str, float], reason: str) -> None:
    assert only_reason(frame(bar(**prices))) == reason


@pytest.mark.parametrize(
    ("prices", "reason"),
    [
        ({"high": 9.5, "low": 10.0, "open": 9.7, "close": 9.8}, "high 9.5 is below low 10.0"),
        ({"close": 11.5}, "close 11.5 is above high 11.0"),
        ({"close": 8.5}, "close 8.5 is below low 9.0"),
        ({"open": 12.0}, "open 12.0 is above high 11.0"),
        ({"open": 8.0}, "open 8.0 is below low 9.0"),
        ({"close": 11.5, "low": NAN}, "close 11.5 is above high 11.0"),  # each bound on its own
    ],
)
def test_rule_5_prices_lie_within_the_range(prices: dict[str, float], reason: str) -> None:
    assert only_reason(frame(bar(**prices))) == reason


def test_rule_5_missing_bounds_are_not_checked() -> None:
    result = check(frame(bar(high=NAN, low=NAN, open=50.0, close=60.0)))
    assert result.rejected == []


def test_rule_6_an_unknown_symbol_is_rejected_unless_created() -> None:
    data = frame(bar("new"), bar("NEW", "2024-01-03"), bar("ABC"), bar("ZZZ", close=-1.0))

    refused = check(data)
    assert reasons(refused) == {
        1: "unknown symbol NEW: add it to the symbol master or import with auto-create",
        2: "unknown symbol NEW: add it to the symbol master or import with auto-create",
        4: "close -1.0 is not positive",  # an earlier rule wins
    }
    assert refused.rejected[0].symbol == "NEW"

    created = check(data, auto_create=True)
    assert created.accepted["row"].tolist() == [3, 1, 2]
    assert created.new_symbols == ["NEW"]  # ZZZ has no accepted row


def test_rule_7_duplicates_reject_every_row_of_the_key() -> None:
    result = check(
        frame(
            bar(day="2024-01-02"),
            bar(day="2024-01-03"),
            bar(day="2024-01-04", close=10.6),
            bar("XYZ", day="2024-01-04"),
            bar(day="2024-01-05"),
            bar(day="2024-01-06"),
            bar(day="2024-01-04", close=10.7),
            bar(day="2024-01-06", close=-1),  # already rejected: not a duplicate
        )
    )
    assert reasons(result) == {
        3: "duplicate of rows 3, 7 for ABC on 2024-01-04",
        7: "duplicate of rows 3, 7 for ABC on 2024-01-04",
        8: "close -1.0 is not positive",
    }
    assert result.accepted["row"].tolist() == [1, 2, 5, 6, 4]


def test_rule_7_symbols_are_compared_after_normalisation() -> None:
    result = check(frame(bar("abc"), bar(" ABC ")))
    assert set(reasons(result).values()) == {"duplicate of rows 1, 2 for ABC on 2024-01-02"}


def test_rule_8_a_descending_file_is_accepted_entirely() -> None:
    days = ["2024-01-08", "2024-01-05", "2024-01-04", "2024-01-03", "2024-01-02"]
    result = check(frame(*[bar(day=day) for day in days]))
    assert result.rejected == []
    assert result.accepted["row"].tolist() == [5, 4, 3, 2, 1]  # sorted by date


def test_rule_8_one_row_out_of_order_is_rejected_and_the_rest_accepted() -> None:
    days = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-08", "2024-01-05", "2024-01-09"]
    result = check(frame(*[bar(day=day) for day in days]))
    assert reasons(result) == {5: "date 2024-01-05 is out of order after 2024-01-08 (row 4)"}
    assert result.accepted["row"].tolist() == [1, 2, 3, 4, 6]


def test_rule_8_a_mistyped_far_date_costs_only_its_own_row() -> None:
    days = ["2024-01-02", "2024-01-03", "2024-03-04", "2024-01-05", "2024-01-08", "2024-01-09"]
    result = check(frame(*[bar(day=day) for day in days]))
    assert reasons(result) == {3: "date 2024-03-04 is out of order before 2024-01-05 (row 4)"}


def test_rule_8_direction_is_per_symbol_and_by_majority() -> None:
    result = check(
        frame(
            bar("ABC", "2024-01-05"),
            bar("XYZ", "2024-01-02"),
            bar("ABC", "2024-01-04"),
            bar("XYZ", "2024-01-03"),
            bar("ABC", "2024-01-06"),  # against the descending majority of ABC
            bar("ABC", "2024-01-03"),
            bar("ABC", "2024-01-02"),
        )
    )
    assert reasons(result) == {5: "date 2024-01-06 is out of order after 2024-01-04 (row 3)"}


def test_rule_8_order_follows_row_numbers_not_frame_positions() -> None:
    data = frame(bar(day="2024-01-02"), bar(day="2024-01-03"), bar(day="2024-01-04")).iloc[::-1]
    assert check(data).rejected == []


def test_the_first_failing_rule_is_the_reason() -> None:
    data = frame(bar("bad sym", None, close=-1.0))
    assert only_reason(data, problems={1: "open 'x' is not a number"}) == "open 'x' is not a number"
    assert only_reason(data) == "symbol 'bad sym' is not a valid ticker"
    assert only_reason(frame(bar("NOPE", None, close=-1.0))) == "date is missing"
    assert only_reason(frame(bar("NOPE", close=-1.0))) == "close -1.0 is not positive"
    assert only_reason(frame(bar("NOPE", high=8.0))) == "high 8.0 is below low 9.0"


def test_rejections_are_sorted_by_row() -> None:
    data = frame(bar(close=-1), bar(day=None), bar(day="2024-01-03"), bar("?"))
    data["row"] = [9, 3, 5, 1]
    assert [rejected.row for rejected in check(data).rejected] == [1, 3, 9]


def test_frames_without_optional_columns_and_with_plain_dates() -> None:
    data = pd.DataFrame({"row": [1, 2], "symbol": ["ABC", "ABC"], "date": [date(2024, 1, 2), date(2024, 1, 3)]})
    data["close"] = [1.0, 2.0]
    result = check(data)
    assert result.rejected == []
    assert result.accepted[["open", "high", "low", "adj_close", "volume"]].isna().all().all()


# --- property: nothing is dropped, everything accepted is valid ----------------------------------------------

SYMBOLS = st.sampled_from(["ABC", "XYZ", "NEW", "abc ", "", None, "BAD SYM", "^GSPC"])
DAYS = st.one_of(st.none(), st.integers(min_value=0, max_value=12).map(lambda n: date(2024, 6, 20) + timedelta(n)))
PRICES = st.one_of(
    st.just(NAN),
    st.sampled_from([0.0, -1.0, math.inf]),
    st.floats(min_value=0.5, max_value=20, allow_nan=False).map(lambda x: round(x, 1)),
)
ROWS = st.lists(st.tuples(SYMBOLS, DAYS, PRICES, PRICES, PRICES, PRICES, PRICES, PRICES), max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS, auto_create=st.booleans(), flagged=st.sets(st.integers(min_value=1, max_value=40), max_size=3))
def test_every_row_is_accepted_or_rejected_and_accepted_rows_obey_the_rules(
    rows: list[tuple[Any, ...]], auto_create: bool, flagged: set[int]
) -> None:
    data = frame(
        *[bar(s, d, open=o, high=h, low=lo, close=c, adj_close=a, volume=v) for s, d, o, h, lo, c, a, v in rows]
    )
    problems = {row: "a problem" for row in flagged}

    result = check(data, auto_create=auto_create, problems=problems)

    accepted_rows = result.accepted["row"].tolist()
    rejected_rows = [rejected.row for rejected in result.rejected]
    assert sorted(accepted_rows + rejected_rows) == list(range(1, len(rows) + 1))
    assert rejected_rows == sorted(rejected_rows)
    assert all(rejected.reason for rejected in result.rejected)
    assert_bars_obey_the_rules(result.accepted, problems, auto_create)
    assert set(result.new_symbols) == set(result.accepted["symbol"]) - KNOWN


def assert_bars_obey_the_rules(accepted: pd.DataFrame, problems: dict[int, str], auto_create: bool) -> None:
    for record in accepted.to_dict("records"):
        assert record["row"] not in problems
        assert re.fullmatch(TICKER_PATTERN, record["symbol"])
        assert auto_create or record["symbol"] in KNOWN
        assert record["date"].date() <= TODAY
        assert 0 < record["close"] < math.inf
        for column in ("open", "high", "low", "adj_close"):
            assert math.isnan(record[column]) or 0 < record[column] < math.inf
        assert math.isnan(record["volume"]) or 0 <= record["volume"] < math.inf
        assert not record["high"] < record["low"]
        for column in ("open", "close"):
            assert not record[column] > record["high"]
            assert not record[column] < record["low"]
    assert not accepted.duplicated(["symbol", "date"]).any()
    assert accepted.equals(accepted.sort_values(["symbol", "date"]))
    for _, group in accepted.sort_values("row").groupby("symbol"):
        steps = np.diff(group["date"].to_numpy().astype(np.int64))
        assert (steps > 0).all() or (steps < 0).all()


# --- quotes --------------------------------------------------------------------------------------------------


def quote(symbol: object = "ABC", stamp: object = NOW - timedelta(minutes=1), **values: object) -> dict[str, Any]:
    row: dict[str, Any] = {"symbol": symbol, "timestamp": stamp, "price": 10.0, "size": 100.0, "bid": 9.9, "ask": 10.1}
    row["source"] = "feed"
    row.update(values)
    return row


def quotes(*rows: dict[str, Any]) -> pd.DataFrame:
    columns = ["symbol", "timestamp", "price", "size", "bid", "ask", "source"]
    data = pd.DataFrame(list(rows), columns=columns)
    data.insert(0, "row", np.arange(1, len(rows) + 1, dtype=np.int64))
    data["timestamp"] = pd.to_datetime(data["timestamp"], utc=True)
    return data.astype({column: float for column in ["price", "size", "bid", "ask"]})


def check_quotes(data: pd.DataFrame, *, auto_create: bool = False) -> QuoteValidation:
    return validate_quotes(
        data,
        known_symbols=KNOWN,
        now=NOW,
        max_age=timedelta(days=7),
        max_skew=timedelta(seconds=5),
        auto_create=auto_create,
    )


def test_valid_quotes_are_accepted() -> None:
    result = check_quotes(
        quotes(
            quote("xyz"),
            quote("ABC", NOW - timedelta(days=6), size=NAN, bid=NAN, ask=NAN, source=None),
            quote("ABC", NOW + timedelta(seconds=5)),
        )
    )
    assert result.rejected == []
    accepted = result.accepted
    assert list(accepted.columns) == list(QUOTE_ACCEPTED_COLUMNS)
    assert accepted["symbol"].tolist() == ["ABC", "ABC", "XYZ"]
    assert accepted["row"].tolist() == [2, 3, 1]
    assert accepted["source"].tolist() == ["api", "feed", "feed"]
    assert str(accepted["timestamp"].dt.tz) == "UTC"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (quote(None), "symbol is missing"),
        (quote("A B"), "symbol 'A B' is not a valid ticker"),
        (quote(stamp=None), "timestamp is missing"),
        (quote(stamp=NOW + timedelta(seconds=6)), "later than now plus the 5-second allowed for clock skew"),
        (quote(stamp=NOW - timedelta(days=7, seconds=1)), "older than the 7-day retention"),
        (quote(price=NAN), "price is missing"),
        (quote(price=0.0), "price 0.0 is not positive"),
        (quote(price=math.inf, ask=NAN), "price inf is not finite"),
        (quote(size=-1.0), "size -1.0 is negative"),
        (quote(bid=0.0), "bid 0.0 is not positive"),
        (quote(ask=-1.0, bid=NAN), "ask -1.0 is not positive"),
        (quote(bid=10.2, ask=10.1), "bid 10.2 is above ask 10.1"),
        (quote(source="s" * 65), "longer than 64 characters"),
        (quote("NEW"), "unknown symbol NEW: add it to the symbol master or import with auto-create"),
    ],
)
def test_quote_rules(row: dict[str, Any], reason: str) -> None:
    result = check_quotes(quotes(row))
    assert result.accepted.empty
    (rejected,) = result.rejected
    assert reason in rejected.reason


def test_quote_duplicates_reject_every_row_and_new_symbols_are_created() -> None:
    stamp = NOW - timedelta(seconds=30)
    result = check_quotes(quotes(quote(stamp=stamp), quote("NEW"), quote(stamp=stamp, price=10.05)), auto_create=True)
    assert set(reasons(result)) == {1, 3}
    assert reasons(result)[1].startswith("duplicate of rows 1, 3 for ABC on 2024-06-28T15:29:30")
    assert result.new_symbols == ["NEW"]


def test_quote_timestamps_naive_are_utc_and_kept_to_the_microsecond() -> None:
    data = quotes(quote(stamp=NOW - timedelta(minutes=1)))
    data["timestamp"] = pd.Series([pd.Timestamp("2024-06-28 15:29:00.1234567")])
    result = check_quotes(data)
    assert result.accepted["timestamp"].tolist() == [pd.Timestamp("2024-06-28 15:29:00.123456", tz="UTC")]


def test_quote_validation_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="time zone"):
        validate_quotes(
            quotes(quote()),
            known_symbols=KNOWN,
            now=NOW.replace(tzinfo=None),
            max_age=timedelta(days=7),
            max_skew=timedelta(seconds=5),
            auto_create=False,
        )


# --- Arrow batches -------------------------------------------------------------------------------------------


def test_bars_table_follows_the_schema_and_stamps_ingest_time() -> None:
    accepted = check(frame(bar(day="2024-01-02", open=NAN), bar("XYZ", "2024-06-28"))).accepted
    ingested = datetime(2024, 6, 28, 12, tzinfo=UTC)

    table = bars_table(accepted, source="upload:x.csv", ingested_at=ingested, history=False)

    assert table.schema == BAR_SCHEMA
    assert table.column("symbol").to_pylist() == ["ABC", "XYZ"]
    assert table.column("date").to_pylist() == [date(2024, 1, 2), date(2024, 6, 28)]
    assert table.column("open").to_pylist() == [None, 10.0]
    assert table.column("source").to_pylist() == ["upload:x.csv"] * 2
    assert table.column("available_at").to_pylist() == [ingested, ingested]


def test_bars_table_for_history_makes_each_row_available_when_its_day_ended() -> None:
    accepted = check(frame(bar(day="2024-01-02"), bar(day="2024-06-27"), bar(day="2024-06-28"))).accepted
    ingested = datetime(2024, 6, 28, 12, tzinfo=UTC)

    table = bars_table(accepted, source="sample", ingested_at=ingested, history=True)

    assert table.schema == BAR_SCHEMA
    assert table.column("available_at").to_pylist() == [
        datetime(2024, 1, 3, tzinfo=UTC),
        datetime(2024, 6, 28, tzinfo=UTC),
        ingested,  # the end of today is later than the ingest: the ingest time
    ]


def test_bars_table_refuses_rows_that_did_not_pass_validation() -> None:
    unvalidated = frame(bar(close=NAN))
    with pytest.raises(ValueError, match="close"):
        bars_table(unvalidated, source="x", ingested_at=NOW, history=False)
    with pytest.raises(ValueError, match="time zone"):
        bars_table(frame(bar()), source="x", ingested_at=NOW.replace(tzinfo=None), history=False)


def test_an_empty_bars_table() -> None:
    table = bars_table(check(frame()).accepted, source="x", ingested_at=NOW, history=True)
    assert table.schema == BAR_SCHEMA
    assert table.num_rows == 0


def test_quotes_table_follows_the_schema() -> None:
    result = check_quotes(quotes(quote(size=NAN), quote("XYZ", source=None)))

    table = quotes_table(result.accepted)

    assert table.schema == QUOTE_SCHEMA
    assert table.column("timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.column("timestamp").to_pylist() == [NOW - timedelta(minutes=1)] * 2
    assert table.column("size").to_pylist() == [None, 100.0]
    assert table.column("source").to_pylist() == ["feed", "api"]
