"""Workbooks, and the archive and XML attacks on them."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import pytest

from investai.domain.documents import DocumentType
from investai.domain.errors import MalformedDocument, UnsafeDocument
from investai.ingest import IngestLimits, parse_xlsx
from investai.ingest import tabular as tabular_module
from tests.unit.ingest import builders

MACRO_CONTENT_TYPE = b'<Default Extension="bin" ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/>'


def test_each_non_empty_sheet_is_a_table(tmp_path: Path) -> None:
    path = builders.workbook(
        tmp_path / "book.xlsx",
        {
            "Prices": [
                [None, None],
                ["ticker", "close", "as of"],
                ["AAPL", 190.5, dt.date(2024, 1, 2)],
                [],
                ["MSFT", 370, None],
            ],
            "Empty": [],
            "Flags": [["ok"], [True], [False]],
        },
    )

    parsed = parse_xlsx(path, IngestLimits())

    assert parsed.doc_type is DocumentType.XLSX
    prices, flags = parsed.tables
    assert (prices.index, prices.name, prices.sheet) == (0, "Prices", "Prices")
    assert prices.header == ["ticker", "close", "as of"]
    assert prices.rows == [["AAPL", 190.5, "2024-01-02T00:00:00"], ["MSFT", 370, None]]
    assert prices.row_count == 2
    assert [column.dtype for column in prices.columns] == ["string", "float", "datetime"]
    assert (prices.columns[2].count, prices.columns[2].nulls) == (1, 1)
    assert (flags.index, flags.rows, flags.columns[0].dtype) == (1, [[True], [False]], "boolean")


def test_non_finite_numbers_and_long_text_are_made_safe(tmp_path: Path) -> None:
    path = builders.workbook(tmp_path / "book.xlsx", {"S": [["a", "b"], ["x" * 100, 1.5]]})
    (table,) = parse_xlsx(path, IngestLimits(max_cell_chars=10)).tables
    assert table.rows == [["x" * 10, 1.5]]


def test_rows_beyond_the_limit_are_counted_not_kept(tmp_path: Path) -> None:
    path = builders.workbook(tmp_path / "book.xlsx", {"S": [["n"], *([i] for i in range(30))]})
    parsed = parse_xlsx(path, IngestLimits(max_table_rows=5))
    assert (len(parsed.tables[0].rows), parsed.tables[0].row_count) == (5, 30)
    assert parsed.warnings == ["S: kept the first 5 of 30 rows"]


def test_a_forged_sheet_dimension_does_not_widen_rows(tmp_path: Path) -> None:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    with zipfile.ZipFile(plain) as archive:
        sheet = archive.read(builders.FIRST_SHEET).replace(b'<dimension ref="A1:B3"', b'<dimension ref="A1:XFD1048576"')
    path = builders.rewrite_zip(plain, tmp_path / "wide.xlsx", replace={builders.FIRST_SHEET: sheet})
    (table,) = parse_xlsx(path, IngestLimits()).tables
    assert table.header == ["ticker", "close"]
    assert all(len(row) == 2 for row in table.rows)


def test_an_empty_workbook_has_no_tables_and_says_so(tmp_path: Path) -> None:
    parsed = parse_xlsx(builders.workbook(tmp_path / "empty.xlsx", {"Blank": []}), IngestLimits())
    assert parsed.tables == []
    assert parsed.warnings == ["the workbook has no non-empty worksheets"]


# --- attacks ------------------------------------------------------------------------------------------------


def test_a_highly_compressed_entry_is_a_zip_bomb(tmp_path: Path) -> None:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    path = builders.rewrite_zip(plain, tmp_path / "bomb.xlsx", add={"xl/media/zeros.bin": bytes(8 << 20)})
    with pytest.raises(
        UnsafeDocument, match=r"compression ratio of [\d,]+:1, more than the limit of 100:1 \(zip bomb\?\)"
    ):
        parse_xlsx(path, IngestLimits())


def test_too_many_inflated_bytes_is_a_zip_bomb(tmp_path: Path) -> None:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    path = builders.rewrite_zip(plain, tmp_path / "big.xlsx", add={"xl/media/zeros.bin": bytes(2 << 20)})
    with pytest.raises(UnsafeDocument, match="inflates to more than 1,048,576 bytes"):
        parse_xlsx(path, IngestLimits(max_uncompressed_bytes=1 << 20, max_compression_ratio=1e6))


def test_too_many_entries_is_a_zip_bomb(tmp_path: Path) -> None:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    extra = {f"xl/extra/part{i}.xml": b"<a/>" for i in range(50)}
    path = builders.rewrite_zip(plain, tmp_path / "many.xlsx", add=extra)
    with pytest.raises(UnsafeDocument, match=r"has \d+ ZIP entries, more than the limit of 20 \(zip bomb\?\)"):
        parse_xlsx(path, IngestLimits(max_zip_entries=20))


def test_an_understated_entry_count_is_still_caught(tmp_path: Path) -> None:
    """The end-of-directory record's count is only a cheap first look; the directory itself is counted too."""
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    path = builders.rewrite_zip(plain, tmp_path / "many.xlsx", add={f"xl/extra/p{i}.xml": b"<a/>" for i in range(50)})
    content = bytearray(path.read_bytes())
    record = content.rfind(b"PK\x05\x06")
    content[record + 8 : record + 12] = (1).to_bytes(2, "little") * 2
    path.write_bytes(bytes(content))
    with pytest.raises(UnsafeDocument, match=r"has \d{2} ZIP entries, more than the limit of 20"):
        parse_xlsx(path, IngestLimits(max_zip_entries=20))


def test_entity_expansion_is_refused_before_openpyxl_reads_it(tmp_path: Path) -> None:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    path = builders.rewrite_zip(
        plain, tmp_path / "laughs.xlsx", replace={builders.FIRST_SHEET: builders.BILLION_LAUGHS_SHEET}
    )
    with pytest.raises(UnsafeDocument, match="XML entity declarations are not allowed"):
        parse_xlsx(path, IngestLimits())


def test_entity_expansion_is_refused_by_defusedxml_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: with the archive scan switched off, openpyxl's defusedxml parser refuses it."""
    monkeypatch.setattr(tabular_module, "scan_parts", lambda archive, limits: None)
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    path = builders.rewrite_zip(
        plain, tmp_path / "laughs.xlsx", replace={builders.FIRST_SHEET: builders.BILLION_LAUGHS_SHEET}
    )
    with pytest.raises(UnsafeDocument, match="XML entity declarations are not allowed"):
        parse_xlsx(path, IngestLimits())


def test_a_doctype_in_utf16_is_seen(tmp_path: Path) -> None:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    sheet = builders.BILLION_LAUGHS_SHEET.decode().replace("UTF-8", "UTF-16").encode("utf-16-le")
    path = builders.rewrite_zip(plain, tmp_path / "laughs16.xlsx", replace={builders.FIRST_SHEET: sheet})
    with pytest.raises(UnsafeDocument, match="XML entity declarations"):
        parse_xlsx(path, IngestLimits())


@pytest.mark.parametrize(
    "surgery",
    [
        {"add": {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"}},
        {"add": {"xl/macrosheets/sheet1.xml": b"<xm:macrosheet/>"}},
        {"content_types": MACRO_CONTENT_TYPE},
    ],
)
def test_macro_enabled_workbooks_are_refused(tmp_path: Path, surgery: dict) -> None:  # type: ignore[type-arg]
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    replace = {}
    if "content_types" in surgery:
        with zipfile.ZipFile(plain) as archive:
            types = archive.read("[Content_Types].xml")
        replace["[Content_Types].xml"] = types.replace(b"</Types>", surgery["content_types"] + b"</Types>")
    path = builders.rewrite_zip(plain, tmp_path / "macro.xlsx", replace=replace, add=surgery.get("add"))
    with pytest.raises(UnsafeDocument, match="macro-enabled workbooks are not accepted"):
        parse_xlsx(path, IngestLimits())


@pytest.mark.parametrize("content", [b"PK\x03\x04 truncated", b"not a zip at all"])
def test_a_broken_archive_is_malformed(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(content)
    with pytest.raises(MalformedDocument, match="not a readable ZIP archive"):
        parse_xlsx(path, IngestLimits())


def test_a_workbook_with_broken_xml_is_malformed(tmp_path: Path) -> None:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    path = builders.rewrite_zip(
        plain, tmp_path / "bad.xlsx", replace={builders.FIRST_SHEET: b"<worksheet><sheetData><row>"}
    )
    with pytest.raises(MalformedDocument, match="could not be read"):
        parse_xlsx(path, IngestLimits())


def test_the_process_is_healthy_after_refusals(tmp_path: Path) -> None:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    bomb = builders.rewrite_zip(plain, tmp_path / "bomb.xlsx", add={"xl/media/zeros.bin": bytes(8 << 20)})
    with pytest.raises(UnsafeDocument):
        parse_xlsx(bomb, IngestLimits())
    assert parse_xlsx(plain, IngestLimits()).tables[0].rows == [["AAPL", 190.5], ["MSFT", 370.25]]


def test_a_workbook_stored_without_a_suffix_is_read(tmp_path: Path) -> None:
    """Uploads are stored under a key, not their file name; openpyxl must not see a path it would refuse."""
    path = builders.simple_workbook(tmp_path / "book.xlsx").rename(tmp_path / "documents-org_1-doc_1")
    assert parse_xlsx(path, IngestLimits()).tables[0].header == ["ticker", "close"]


def test_a_corrupt_compressed_part_is_malformed(tmp_path: Path) -> None:
    path = builders.simple_workbook(tmp_path / "book.xlsx")
    content = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        entry = archive.getinfo(builders.FIRST_SHEET)
    data_start = entry.header_offset + 30 + len(entry.filename) + len(entry.extra)
    for position in range(data_start + 5, data_start + 40):
        content[position] ^= 0x55
    path.write_bytes(bytes(content))
    with pytest.raises(MalformedDocument, match="could not be decompressed"):
        parse_xlsx(path, IngestLimits())


SST = '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>{text}</t></si></sst>'
EXTERNAL_ENTITY = '<!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
EXTERNAL_SUBSET = '<!DOCTYPE sst SYSTEM "http://example.invalid/strings.dtd">'


def with_shared_strings(tmp_path: Path, part: str, content: bytes) -> Path:
    """The plain workbook plus a shared-strings part at ``part``, declared in the content types and used by
    the first sheet's first data cell, as Excel writes it."""
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    with zipfile.ZipFile(plain) as archive:
        types = archive.read("[Content_Types].xml")
        sheet = archive.read(builders.FIRST_SHEET)
    override = (
        f'<Override PartName="/{part}" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    )
    cell = b'<c r="A2" t="inlineStr"><is><t>AAPL</t></is></c>'
    assert cell in sheet
    return builders.rewrite_zip(
        plain,
        tmp_path / "strings.xlsx",
        replace={
            "[Content_Types].xml": types.replace(b"</Types>", override.encode()),
            builders.FIRST_SHEET: sheet.replace(cell, b'<c r="A2" t="s"><v>0</v></c>'),
        },
        add={part: content},
    )


def test_a_dtd_in_shared_strings_named_like_a_directory_is_refused(tmp_path: Path) -> None:
    """openpyxl reads the part the content types name, ``xl/sharedStrings.xml/`` too; a DOCTYPE naming an
    external DTD (an external entity) declares no entity of its own, so only the scan can refuse it."""
    path = with_shared_strings(tmp_path, "xl/sharedStrings.xml/", (EXTERNAL_SUBSET + SST.format(text="x")).encode())
    with pytest.raises(UnsafeDocument, match=r"XML entity declarations are not allowed.*xl/sharedStrings\.xml/"):
        parse_xlsx(path, IngestLimits())


def _declared(encoding: str, body: str) -> bytes:
    return f'<?xml version="1.0" encoding="{encoding}"?>{body}'.encode(encoding)


WORKBOOK_DTD = '<!DOCTYPE workbook [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'


@pytest.mark.parametrize(
    ("part", "content"),
    [
        ("xl/workbook.xml", "utf-32"),
        ("xl/workbook.xml", "utf-32-be"),
        ("xl/workbook.xml", "cp037"),
        ("xl/workbook.xml", "utf-7"),
        ("xl/sharedStrings.xml", "utf-32"),  # not even declared in the content types: still refused
    ],
)
def test_xml_parts_in_encodings_the_scan_cannot_read_are_refused(tmp_path: Path, part: str, content: str) -> None:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    with zipfile.ZipFile(plain) as archive:
        workbook = archive.read("xl/workbook.xml").decode()
    if content == "utf-7":  # '<!' spelled in base64, so no byte of it reads '<!DOCTYPE'
        data = b'<?xml version="1.0" encoding="UTF-7"?>+ADwAIQ-DOCTYPE workbook' + workbook.encode()
    elif part == "xl/workbook.xml":
        data = _declared(content, WORKBOOK_DTD + workbook)
    else:
        data = _declared(content, EXTERNAL_ENTITY + SST.format(text="&xxe;"))
    replace = {part: data} if part == "xl/workbook.xml" else None
    add = None if replace else {part: data}
    path = builders.rewrite_zip(plain, tmp_path / "encoded.xlsx", replace=replace, add=add)
    control = with_shared_strings(tmp_path, "xl/sharedStrings.xml", _declared("UTF-16", SST.format(text="ZZZ")))
    assert parse_xlsx(control, IngestLimits()).tables[0].rows[0][0] == "ZZZ"  # UTF-16 is read
    with pytest.raises(
        UnsafeDocument, match=re.escape(part) + r".*(encoding other than UTF-8 or UTF-16|only UTF-8 and UTF-16)"
    ):
        parse_xlsx(path, IngestLimits())
