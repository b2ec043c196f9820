from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from investai.domain.documents import DocumentType
from investai.domain.errors import MalformedDocument
from investai.ingest import IngestLimits, parse_csv


def write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    return path


def test_a_csv_becomes_one_typed_table(tmp_path: Path) -> None:
    path = write(
        tmp_path, b"ticker,eps,shares,listed,active\nAAPL,6.1,15500,1980-12-12,true\nMSFT,11.2,7430,1986-03-13,false\n"
    )

    parsed = parse_csv(path, IngestLimits())

    assert parsed.doc_type is DocumentType.CSV
    (table,) = parsed.tables
    assert (table.name, table.header, table.row_count) == ("data", ["ticker", "eps", "shares", "listed", "active"], 2)
    assert table.rows == [["AAPL", 6.1, 15500, "1980-12-12", True], ["MSFT", 11.2, 7430, "1986-03-13", False]]
    assert [column.dtype for column in table.columns] == ["string", "float", "integer", "date", "boolean"]
    assert parsed.pages == []
    assert parsed.warnings == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"a;b\n1;x\n2;y\n", [[1, "x"], [2, "y"]]),
        (b"a\tb\n1\tx\n2\ty\n", [[1, "x"], [2, "y"]]),
        (b"a|b\n1|x\n2|y\n", [[1, "x"], [2, "y"]]),
        (codecs.BOM_UTF8 + b"a,b\r\n1,x\r\n2,y\r\n", [[1, "x"], [2, "y"]]),
    ],
)
def test_the_delimiter_and_a_byte_order_mark_are_handled(tmp_path: Path, content: bytes, expected: list) -> None:  # type: ignore[type-arg]
    (table,) = parse_csv(write(tmp_path, content), IngestLimits()).tables
    assert table.header == ["a", "b"]
    assert table.rows == expected


def test_latin1_is_read_with_a_warning(tmp_path: Path) -> None:
    parsed = parse_csv(write(tmp_path, "name,city\nNestl\u00e9,Z\u00fcrich\n".encode("latin-1")), IngestLimits())
    assert parsed.tables[0].rows == [["Nestl\u00e9", "Z\u00fcrich"]]
    assert any("latin-1" in warning for warning in parsed.warnings)


def test_ragged_rows_blank_lines_and_blank_headers_are_tidied(tmp_path: Path) -> None:
    (table,) = parse_csv(write(tmp_path, b"\n\nname,,name\n\nA,1\nB,2,3,4\n"), IngestLimits()).tables
    assert table.header == ["name", "column_2", "name_2", "column_4"]
    assert table.rows == [["A", 1, None, None], ["B", 2, 3, 4]]
    assert table.row_count == 2


def test_identifiers_with_leading_zeros_stay_text(tmp_path: Path) -> None:
    (table,) = parse_csv(write(tmp_path, b"code,value\n007,1\n042,2\n"), IngestLimits()).tables
    assert table.rows == [["007", 1], ["042", 2]]
    assert table.columns[0].dtype == "string"


def test_rows_beyond_the_limit_are_counted_not_kept(tmp_path: Path) -> None:
    body = "".join(f"T{i},{i}\n" for i in range(50))
    parsed = parse_csv(write(tmp_path, ("ticker,n\n" + body).encode()), IngestLimits(max_table_rows=10))
    (table,) = parsed.tables
    assert (len(table.rows), table.row_count) == (10, 50)
    assert parsed.warnings == ["data: kept the first 10 of 50 rows"]


def test_long_cells_are_truncated(tmp_path: Path) -> None:
    (table,) = parse_csv(write(tmp_path, b"a,b\n" + b"x" * 500 + b",1\n"), IngestLimits(max_cell_chars=20)).tables
    assert table.rows == [["x" * 20, 1]]


def test_nul_characters_are_dropped(tmp_path: Path) -> None:
    (table,) = parse_csv(write(tmp_path, b"a,b\nx\x00y,1\n"), IngestLimits()).tables
    assert table.rows == [["xy", 1]]


def test_formula_text_is_kept_as_data(tmp_path: Path) -> None:
    (table,) = parse_csv(write(tmp_path, b"a,b\n=1+1,@SUM(A1)\n"), IngestLimits()).tables
    assert table.rows == [["=1+1", "@SUM(A1)"]]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "no rows"), (b"\n\n  \n", "no rows"), (b'a,b\n1,2\n"' + b"x" * 200_000 + b'",3\n', "line 3: field larger")],
)
def test_unreadable_csv_is_malformed(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(MalformedDocument, match=message):
        parse_csv(write(tmp_path, content), IngestLimits())
