from __future__ import annotations

import codecs
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from investai.domain.market import UnreadableMarketFile
from investai.ingest.market_files import OUTPUT_COLUMNS, map_columns, normalise_header, read_bars_file

YAHOO = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,187.149994,188.440002,183.889999,185.639999,184.938217,82488700
2024-01-03,184.220001,185.880005,183.429993,184.250000,183.553467,58414500
2024-01-05,181.990005,182.759995,180.169998,181.179993,180.494247,62303300
"""

NASDAQ = """Date,Close/Last,Volume,Open,High,Low
01/05/2024,$181.18,62379660,$181.99,$182.76,$180.17
01/04/2024,$181.91,71983570,$182.15,$183.0872,$180.88
01/03/2024,$184.25,58414460,$184.22,$185.88,$183.43
01/02/2024,$185.64,82488670,$187.15,$188.44,$183.885
"""

STOOQ = """Date,Open,High,Low,Close,Volume
2024-01-02,187.15,188.44,183.885,185.64,8.2488674e+07
2024-01-03,184.22,185.88,183.43,184.25,5.8414461e+07
"""


def write(tmp_path: Path, content: str | bytes, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def read(tmp_path: Path, content: str | bytes, *, symbol: str | None = "AAPL", max_rows: int = 1000) -> pd.DataFrame:
    parsed = read_bars_file(write(tmp_path, content), symbol=symbol, max_rows=max_rows)
    assert parsed.problems == {}
    return parsed.frame


def dates(frame: pd.DataFrame) -> list[str]:
    return [value.strftime("%Y-%m-%d") if not pd.isna(value) else "NaT" for value in frame["date"]]


# --- real-world shapes -----------------------------------------------------------------------------------------


def test_a_yahoo_export_is_read_with_its_gap(tmp_path: Path) -> None:
    frame = read(tmp_path, YAHOO, symbol="aapl")

    assert list(frame.columns) == list(OUTPUT_COLUMNS)
    assert frame.dtypes.astype(str).to_dict() == {
        "row": "int64",
        "symbol": "object",
        "date": "datetime64[ns]",
        **dict.fromkeys(["open", "high", "low", "close", "adj_close", "volume"], "float64"),
    }
    assert frame["row"].tolist() == [1, 2, 3]
    assert frame["symbol"].tolist() == ["AAPL"] * 3
    assert dates(frame) == ["2024-01-02", "2024-01-03", "2024-01-05"]
    assert frame.iloc[0][["open", "high", "low", "close", "adj_close", "volume"]].tolist() == pytest.approx(
        [187.149994, 188.440002, 183.889999, 185.639999, 184.938217, 82488700]
    )


def test_a_nasdaq_export_keeps_its_newest_first_order_and_loses_the_dollar_signs(tmp_path: Path) -> None:
    frame = read(tmp_path, NASDAQ)

    assert dates(frame) == ["2024-01-05", "2024-01-04", "2024-01-03", "2024-01-02"]
    assert frame["row"].tolist() == [1, 2, 3, 4]
    last = frame.iloc[-1]
    assert [last.open, last.high, last.low, last.close, last.volume] == [187.15, 188.44, 183.885, 185.64, 82488670]
    assert frame["adj_close"].isna().all()


def test_a_stooq_export_with_scientific_volume(tmp_path: Path) -> None:
    frame = read(tmp_path, STOOQ)
    assert frame["volume"].tolist() == [82488674.0, 58414461.0]
    assert frame["close"].tolist() == [185.64, 184.25]
    assert frame["adj_close"].isna().all()


def test_semicolon_file_with_unquoted_thousands_separators(tmp_path: Path) -> None:
    frame = read(tmp_path, "Date;Close;Volume\n2024-01-02;1,234.50;12,345,678\n2024-01-03;1,240.00;9,000\n")
    assert frame["close"].tolist() == [1234.5, 1240.0]
    assert frame["volume"].tolist() == [12345678.0, 9000.0]


def test_tab_separated_file(tmp_path: Path) -> None:
    frame = read(tmp_path, "Date\tOpen\tHigh\tLow\tClose\tVolume\n2024-01-02\t1\t2\t0.5\t1.5\t1,000\n")
    assert frame.iloc[0][["open", "high", "low", "close", "volume"]].tolist() == [1, 2, 0.5, 1.5, 1000]


def test_pipe_separated_file(tmp_path: Path) -> None:
    frame = read(tmp_path, "date|close\n2024-01-02|1.5\n2024-01-03|1.6\n")
    assert frame["close"].tolist() == [1.5, 1.6]


def test_quoted_thousands_separators_in_a_comma_file(tmp_path: Path) -> None:
    frame = read(tmp_path, 'Date,Close,Volume\n2024-01-02,"1,234.50","12,345,678"\n')
    assert (frame.at[0, "close"], frame.at[0, "volume"]) == (1234.5, 12345678.0)


def test_a_symbol_column_holding_several_symbols_wins_over_the_argument(tmp_path: Path) -> None:
    content = "Ticker,Date,Close\n msft ,2024-01-02,370.87\nAAPL,2024-01-02,185.64\n,2024-01-02,472.65\n"
    frame = read(tmp_path, content, symbol="spy")
    assert frame["symbol"].tolist() == ["MSFT", "AAPL", "SPY"]


def test_a_symbol_column_without_an_argument_leaves_blank_cells_missing(tmp_path: Path) -> None:
    frame = read(tmp_path, "Symbol,Date,Close\nMSFT,2024-01-02,1\n,2024-01-03,2\n", symbol=None)
    assert frame["symbol"].tolist() == ["MSFT", None]


def test_a_close_only_file(tmp_path: Path) -> None:
    frame = read(tmp_path, "date,price\n2024-01-02,10.5\n2024-01-03,10.75\n")
    assert frame["close"].tolist() == [10.5, 10.75]
    assert frame[["open", "high", "low", "adj_close", "volume"]].isna().all().all()


def test_an_adjusted_close_serves_as_close_when_there_is_no_close(tmp_path: Path) -> None:
    frame = read(tmp_path, "Date,Adj Close\n2024-01-02,184.94\n")
    assert (frame.at[0, "close"], frame.at[0, "adj_close"]) == (184.94, 184.94)


def test_byte_order_mark_and_crlf_line_endings(tmp_path: Path) -> None:
    content = codecs.BOM_UTF8 + YAHOO.replace("\n", "\r\n").encode()
    frame = read(tmp_path, content)
    assert dates(frame) == ["2024-01-02", "2024-01-03", "2024-01-05"]
    assert frame["volume"].tolist() == [82488700, 58414500, 62303300]


def test_blank_lines_are_skipped_but_keep_their_row_numbers(tmp_path: Path) -> None:
    frame = read(tmp_path, "\nDate,Close\n2024-01-02,1\n\n   \n,\n2024-01-03,2\n")
    assert frame["row"].tolist() == [2, 6]  # line = row + 1
    assert frame["close"].tolist() == [1, 2]


def test_unknown_extra_columns_are_ignored(tmp_path: Path) -> None:
    frame = read(tmp_path, "Date,Close,Dividends,Stock Splits\n2024-01-02,1,0.24,0\n")
    assert frame["close"].tolist() == [1]


def test_missing_tokens_are_missing_without_problems(tmp_path: Path) -> None:
    content = "Date,Open,High,Low,Close,Volume\n2024-01-02,,null,NA,1,N/A\n2024-01-03, - ,NULL,n/a,2,\n"
    frame = read(tmp_path, content)
    assert frame[["open", "high", "low", "volume"]].isna().all().all()
    assert frame["close"].tolist() == [1, 2]


def test_a_short_line_is_padded_and_a_trailing_delimiter_ignored(tmp_path: Path) -> None:
    frame = read(tmp_path, "Date,Close,Volume\n2024-01-02,1\n2024-01-03,2,100,\n2024-01-04,3,200\n")
    assert frame["row"].tolist() == [1, 2, 3]
    assert frame["close"].tolist() == [1, 2, 3]
    assert frame["volume"].tolist()[1:] == [100, 200]
    assert math.isnan(frame["volume"].tolist()[0])


def test_classic_mac_line_endings(tmp_path: Path) -> None:
    frame = read(tmp_path, "Date,Close\r2024-01-02,1\r2024-01-03,2\r")
    assert frame["close"].tolist() == [1, 2]


def test_a_parquet_file_with_a_zoned_timestamp_column(tmp_path: Path) -> None:
    stamps = pd.to_datetime(["2024-01-02 16:00", "2024-01-03 21:00"]).tz_localize("America/New_York")
    table = pa.table(
        {
            "Timestamp": pa.array(stamps),
            "Ticker": pa.array(["aapl", "AAPL"]).dictionary_encode(),
            "Close": pa.array([185.64, 184.25]),
            "Volume": pa.array([82488700, None], pa.int64()),
            "Note": ["x", "y"],
        }
    )
    path = tmp_path / "bars.parquet"
    pq.write_table(table, path)

    parsed = read_bars_file(path, symbol=None, max_rows=10)

    frame = parsed.frame
    assert parsed.problems == {}
    assert list(frame.columns) == list(OUTPUT_COLUMNS)
    assert str(frame["date"].dtype) == "datetime64[ns]"
    assert dates(frame) == ["2024-01-02", "2024-01-04"]  # 21:00 in New York is the next day in UTC
    assert frame["symbol"].tolist() == ["AAPL", "AAPL"]
    assert frame["volume"].tolist()[0] == 82488700
    assert math.isnan(frame["volume"].tolist()[1])
    assert frame["row"].tolist() == [1, 2]


def test_a_parquet_file_with_date_and_text_columns(tmp_path: Path) -> None:
    table = pa.table(
        {
            "date": pa.array([datetime(2024, 1, 2).date(), None], pa.date32()),
            "close": pa.array(["$1,234.50", "abc"]),
        }
    )
    path = tmp_path / "bars.parquet"
    pq.write_table(table, path)

    parsed = read_bars_file(path, symbol="ABC", max_rows=10)

    assert dates(parsed.frame) == ["2024-01-02", "NaT"]
    assert parsed.frame["close"].tolist()[0] == 1234.5
    assert parsed.problems == {2: "close 'abc' is not a number"}


# --- column names and cell formats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Close/Last", "closelast"),
        ("Adj. Close", "adjclose"),
        ("PX_LAST", "pxlast"),
        ("Trade-Date", "tradedate"),
        (" Adj Close** ", "adjclose"),
    ],
)
def test_header_normalisation(header: str, expected: str) -> None:
    assert normalise_header(header) == expected


def test_column_mapping_prefers_the_first_alias() -> None:
    mapping = map_columns(["Time", "Date", "Price", "CLOSE", "vol", "SecID"])
    assert mapping == {"date": 1, "close": 3, "volume": 4, "symbol": 5}


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["2024-01-02", "2024-01-31"], ["2024-01-02", "2024-01-31"]),
        (["2024/01/02", "2024/01/31"], ["2024-01-02", "2024-01-31"]),
        (["01/02/2024", "1/31/2024"], ["2024-01-02", "2024-01-31"]),  # US by default
        (["01/02/2024", "31/01/2024"], ["2024-02-01", "2024-01-31"]),  # a first part over 12: day first
        (["02-Jan-2024", "31-jan-2024"], ["2024-01-02", "2024-01-31"]),
        (["20240102", "20240131"], ["2024-01-02", "2024-01-31"]),
        (["2024-01-02T15:30:00", "2024-01-31 23:59:59"], ["2024-01-02", "2024-01-31"]),  # naive: as written
        (["2024-01-02T21:00:00-05:00", "2024-01-31T01:00:00+02:00"], ["2024-01-03", "2024-01-30"]),  # UTC
        (["02.01.2024", "31.01.2024"], ["2024-01-02", "2024-01-31"]),
    ],
)
def test_date_formats(tmp_path: Path, cells: list[str], expected: list[str]) -> None:
    content = "Date,Close\n" + "".join(f"{cell},1\n" for cell in cells)
    assert dates(read(tmp_path, content)) == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("$182.52", 182.52), (" 182.52 ", 182.52), ("-$1.50", -1.5), ('"1,234,567.5"', 1234567.5), ("1e3", 1000.0)],
)
def test_number_formats(tmp_path: Path, cell: str, expected: float) -> None:
    assert read(tmp_path, f"Date,Close\n2024-01-02,{cell}\n")["close"].tolist() == [expected]


# --- malformed files -------------------------------------------------------------------------------------------


def test_a_cell_that_is_not_a_number_becomes_a_row_problem(tmp_path: Path) -> None:
    parsed = read_bars_file(
        write(tmp_path, "Date,Open,Close\n2024-01-02,1,1\n2024-01-03,xyz,abc\n"), symbol="A", max_rows=9
    )

    assert parsed.problems == {2: "open 'xyz' is not a number"}  # the first problem of the row
    assert parsed.frame["close"].isna().tolist() == [False, True]
    assert parsed.frame["row"].tolist() == [1, 2]


def test_a_european_decimal_comma_is_a_problem_not_a_silent_misreading(tmp_path: Path) -> None:
    parsed = read_bars_file(write(tmp_path, "Date;Close\n2024-01-02;182,52\n"), symbol="A", max_rows=9)
    assert parsed.problems == {1: "close '182,52' is not a number"}
    assert parsed.frame["close"].isna().all()


def test_a_long_unreadable_value_is_shortened_in_the_problem(tmp_path: Path) -> None:
    parsed = read_bars_file(write(tmp_path, f"Date,Close\n2024-01-02,{'x' * 100}\n"), symbol="A", max_rows=9)
    assert parsed.problems == {1: f"close '{'x' * 40}' is not a number"}


def test_an_unparseable_date_becomes_a_row_problem(tmp_path: Path) -> None:
    parsed = read_bars_file(
        write(tmp_path, "Date,Close\n2024-01-02,1\nyesterday,2\n2024-01-04,3\n"), symbol="A", max_rows=9
    )
    assert parsed.problems == {2: "date 'yesterday' is not a date in a recognised format"}
    assert dates(parsed.frame) == ["2024-01-02", "NaT", "2024-01-04"]


def test_a_date_in_another_format_than_the_column_is_a_problem(tmp_path: Path) -> None:
    parsed = read_bars_file(
        write(tmp_path, "Date,Close\n2024-01-02,1\n2024-01-03,2\n01/04/2024,3\n"), symbol="A", max_rows=9
    )
    assert parsed.problems == {3: "date '01/04/2024' is not a date in a recognised format"}


def test_a_line_with_surplus_cells_becomes_a_row_problem(tmp_path: Path) -> None:
    parsed = read_bars_file(
        write(tmp_path, "Date,Close,Volume\n2024-01-02,1,234.50,100\n2024-01-03,2,100\n"), symbol="A", max_rows=9
    )
    assert parsed.problems == {1: "the line has 4 cells but the header 3 (a value with an unquoted delimiter?)"}
    assert parsed.frame["row"].tolist() == [1, 2]
    assert parsed.frame.loc[0, ["close", "volume"]].isna().all()
    assert parsed.frame.at[1, "close"] == 2


def test_missing_values_are_not_problems(tmp_path: Path) -> None:
    parsed = read_bars_file(write(tmp_path, "Date,Close\n,\n2024-01-02,\n,1\n"), symbol="A", max_rows=9)
    assert parsed.problems == {}
    assert parsed.frame["row"].tolist() == [2, 3]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"  \n\n", "empty"),
        (bytes(range(256)) * 4, "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("Date,Close\n2024-01-02,1\n".encode("utf-16"), "binary"),
        ("Date,Name\n2024-01-02,Nestl\u00e9\n".encode("latin-1"), "not UTF-8"),
        (b"PAR1 this is not really parquet", "Parquet"),
        (b"PAR1 this is not really parquet PAR1", "Parquet"),
    ],
)
def test_content_that_is_not_a_bar_file_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(UnreadableMarketFile, match=message):
        read_bars_file(write(tmp_path, content), symbol="A", max_rows=9)


def test_a_header_without_rows_gives_an_empty_frame(tmp_path: Path) -> None:
    for content in ("Date,Open,High,Low,Close,Volume\n", "Date;Close", "Date,Close\n\n\n"):
        parsed = read_bars_file(write(tmp_path, content), symbol="A", max_rows=9)
        assert parsed.frame.empty
        assert list(parsed.frame.columns) == list(OUTPUT_COLUMNS)
        assert str(parsed.frame["date"].dtype) == "datetime64[ns]"
        assert parsed.problems == {}


def test_no_date_column_is_refused_naming_the_columns(tmp_path: Path) -> None:
    with pytest.raises(UnreadableMarketFile) as caught:
        read_bars_file(write(tmp_path, "When,Close\n2024-01-02,1\n"), symbol="A", max_rows=9)
    assert "no date column" in str(caught.value)
    assert all(word in str(caught.value) for word in ("'When'", "'Close'", "tradedate"))


def test_no_price_column_is_refused_naming_the_columns(tmp_path: Path) -> None:
    with pytest.raises(UnreadableMarketFile) as caught:
        read_bars_file(write(tmp_path, "Date,Open,Volume\n2024-01-02,1,2\n"), symbol="A", max_rows=9)
    assert "no price (close) column" in str(caught.value)
    assert all(word in str(caught.value) for word in ("'Open'", "closelast", "adjclose"))


def test_more_rows_than_allowed_is_refused(tmp_path: Path) -> None:
    content = "Date,Close\n" + "".join(f"2024-01-{day:02d},1\n" for day in range(1, 6))
    assert len(read_bars_file(write(tmp_path, content), symbol="A", max_rows=5).frame) == 5
    with pytest.raises(UnreadableMarketFile, match="more than 4 rows"):
        read_bars_file(write(tmp_path, content), symbol="A", max_rows=4)


def test_more_parquet_rows_than_allowed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    pq.write_table(pa.table({"date": ["2024-01-02"] * 3, "close": [1.0] * 3}), path)
    with pytest.raises(UnreadableMarketFile, match="more than 2 rows"):
        read_bars_file(path, symbol="A", max_rows=2)


def test_a_parquet_file_without_a_price_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    pq.write_table(pa.table({"date": ["2024-01-02"], "open": [1.0]}), path)
    with pytest.raises(UnreadableMarketFile, match="no price"):
        read_bars_file(path, symbol="A", max_rows=2)


@pytest.mark.parametrize("symbol", [None, "", "   "])
def test_a_file_without_a_symbol_needs_one(tmp_path: Path, symbol: str | None) -> None:
    with pytest.raises(UnreadableMarketFile, match="the file has no symbol column; give the symbol"):
        read_bars_file(write(tmp_path, YAHOO), symbol=symbol, max_rows=9)


def test_an_unclosed_quote_is_refused_rather_than_swallowing_lines(tmp_path: Path) -> None:
    content = 'Date,Close\n2024-01-02,"1\n2024-01-03,2\n2024-01-04,3\n'
    with pytest.raises(UnreadableMarketFile, match="spanning lines"):
        read_bars_file(write(tmp_path, content), symbol="A", max_rows=9)


def test_dates_outside_what_datetime64_holds_are_problems(tmp_path: Path) -> None:
    parsed = read_bars_file(write(tmp_path, "Date,Close\n2024-01-02,1\n9999-12-31,1\n"), symbol="A", max_rows=9)
    assert set(parsed.problems) == {2}
    assert dates(parsed.frame) == ["2024-01-02", "NaT"]


def test_a_large_file_reads_in_file_order(tmp_path: Path) -> None:
    days = pd.date_range("2000-01-03", periods=5000, freq="D")
    closes = np.round(np.linspace(10, 20, days.size), 4)
    content = "Date,Close\n" + "".join(f"{day:%m/%d/%Y},{close}\n" for day, close in zip(days, closes, strict=True))
    frame = read(tmp_path, content, max_rows=5000)
    assert frame["row"].tolist() == list(range(1, 5001))
    assert (frame["date"].to_numpy() == days.to_numpy()).all()
    assert frame["close"].tolist() == closes.tolist()


def test_timestamps_naive_in_parquet_are_taken_as_written(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    stamp = datetime(2024, 1, 2, 23, 30)
    pq.write_table(pa.table({"datetime": pa.array([stamp]), "last": [1.0]}), path)
    assert dates(read_bars_file(path, symbol="A", max_rows=2).frame) == ["2024-01-02"]
    pq.write_table(pa.table({"datetime": pa.array([stamp.replace(tzinfo=UTC)]), "last": [1.0]}), path)
    assert dates(read_bars_file(path, symbol="A", max_rows=2).frame) == ["2024-01-02"]
