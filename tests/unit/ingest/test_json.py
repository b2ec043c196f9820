from __future__ import annotations

import json
from pathlib import Path

import pytest

from investai.domain.documents import DocumentType
from investai.domain.errors import DocumentTooLarge, MalformedDocument
from investai.ingest import IngestLimits, parse_json
from investai.ingest.json_doc import check_depth, flatten_record


def write(tmp_path: Path, content: bytes | str) -> Path:
    path = tmp_path / "upload.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_a_list_of_records_becomes_a_table_with_flattened_keys(tmp_path: Path) -> None:
    records = [
        {"ticker": "AAPL", "metrics": {"eps": 6.1, "pe": 29.5}, "tags": ["tech", "large"]},
        {"ticker": "MSFT", "metrics": {"eps": 11.2}, "listed": True},
    ]

    parsed = parse_json(write(tmp_path, json.dumps(records)), IngestLimits())

    assert parsed.doc_type is DocumentType.JSON
    assert parsed.pages == []
    (table,) = parsed.tables
    assert (table.name, table.row_count) == ("records", 2)
    assert table.header == ["ticker", "metrics.eps", "metrics.pe", "tags", "listed"]
    assert table.rows == [["AAPL", 6.1, 29.5, '["tech", "large"]', None], ["MSFT", 11.2, None, None, True]]
    assert [column.dtype for column in table.columns] == ["string", "float", "float", "string", "boolean"]


def test_an_object_wrapping_one_list_of_records_names_the_table(tmp_path: Path) -> None:
    parsed = parse_json(write(tmp_path, '{"holdings": [{"ticker": "AAPL", "weight": 0.4}]}'), IngestLimits())
    (table,) = parsed.tables
    assert (table.name, table.header, table.rows) == ("holdings", ["ticker", "weight"], [["AAPL", 0.4]])


def test_other_json_becomes_one_searchable_page(tmp_path: Path) -> None:
    document = {"title": "Outlook", "body": "Rates stay higher for longer.", "scores": [1, 2]}
    parsed = parse_json(write(tmp_path, json.dumps(document)), IngestLimits())
    assert parsed.tables == []
    (page,) = parsed.pages
    assert page.number == 1
    assert json.loads(page.text) == document
    assert "\n  " in page.text, "pretty-printed"


def test_long_text_is_bounded(tmp_path: Path) -> None:
    parsed = parse_json(write(tmp_path, json.dumps({"body": "x" * 1000})), IngestLimits(max_text_chars=100))
    assert len(parsed.pages[0].text) == 100
    assert parsed.warnings == ["kept the first 100 characters of the document's text"]


def test_a_file_over_the_size_limit_is_too_large(tmp_path: Path) -> None:
    with pytest.raises(DocumentTooLarge, match="more than the limit of 10"):
        parse_json(write(tmp_path, '{"a": "0123456789"}'), IngestLimits(max_json_bytes=10))


def test_deep_nesting_is_refused_without_recursion(tmp_path: Path) -> None:
    path = write(tmp_path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(MalformedDocument, match="nests deeper than 64 levels"):
        parse_json(path, IngestLimits())


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    check_depth(json.dumps({"text": "[" * 1000 + '\\" {{{'}), max_depth=3)
    with pytest.raises(MalformedDocument):
        check_depth('{"a": [[[1]]]}', max_depth=3)


def test_a_huge_integer_is_refused_before_conversion(tmp_path: Path) -> None:
    with pytest.raises(MalformedDocument, match="integer longer than 100 digits"):
        parse_json(write(tmp_path, '{"n": ' + "9" * 5000 + "}"), IngestLimits())
    assert parse_json(write(tmp_path, '{"n": -' + "9" * 100 + "}"), IngestLimits()).pages


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_are_refused(tmp_path: Path, constant: str) -> None:
    with pytest.raises(MalformedDocument, match=f"uses {constant}, which is not valid JSON"):
        parse_json(write(tmp_path, f'[{{"x": {constant}}}]'), IngestLimits())


def test_a_float_that_overflows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MalformedDocument, match="too large"):
        parse_json(write(tmp_path, '{"x": 1e999}'), IngestLimits())


def test_invalid_utf8_is_malformed(tmp_path: Path) -> None:
    with pytest.raises(MalformedDocument, match="not valid UTF-8"):
        parse_json(write(tmp_path, b'{"name": "caf\xe9"}'), IngestLimits())


def test_invalid_json_is_malformed_with_a_position_not_an_echo(tmp_path: Path) -> None:
    with pytest.raises(MalformedDocument, match="line 1, column") as refused:
        parse_json(write(tmp_path, '{"secret": ' + "x" * 10_000 + "}"), IngestLimits())
    assert len(str(refused.value)) < 200


def test_flattening_keeps_empty_objects_as_null() -> None:
    assert flatten_record({"a": {"b": {"c": 1}, "d": {}}, "e": [1, {"f": 2}]}) == {
        "a.b.c": 1,
        "a.d": None,
        "e": '[1, {"f": 2}]',
    }
