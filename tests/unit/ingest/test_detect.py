"""Detection judges content, never the file name."""

from __future__ import annotations

import codecs
import json
import zipfile
from pathlib import Path

import pytest

from investai.domain.documents import DocumentType
from investai.domain.errors import UnsafeDocument, UnsupportedDocumentType
from investai.ingest import detect_type
from tests.unit.ingest import builders

PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
ELF_HEAD = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
OLE2_HEAD = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_a_pdf_is_recognised_whatever_its_name(tmp_path: Path) -> None:
    path = builders.text_pdf(tmp_path / "quarterly.csv", ["Hello"])
    assert detect_type(path) is DocumentType.PDF


def test_a_workbook_is_recognised_whatever_its_name(tmp_path: Path) -> None:
    path = builders.simple_workbook(tmp_path / "book.json")
    assert detect_type(path) is DocumentType.XLSX


@pytest.mark.parametrize(
    "content",
    [
        b'{"ticker": "AAPL", "eps": 6.1}',
        b'  \n[{"a": 1}, {"a": 2}]\n',
        codecs.BOM_UTF8 + b'{"a": [1, 2, {"b": null}]}',
        b'{"a": NaN}',
    ],
)
def test_json_is_recognised(tmp_path: Path, content: bytes) -> None:
    assert detect_type(write(tmp_path, "data.csv", content)) is DocumentType.JSON


def test_large_json_is_judged_by_a_bounded_prefix(tmp_path: Path) -> None:
    records = [{"ticker": f"T{i}", "note": "x" * 50} for i in range(5000)]
    path = write(tmp_path, "big.txt", json.dumps(records).encode())
    assert path.stat().st_size > 200_000
    assert detect_type(path) is DocumentType.JSON


def test_deeply_nested_json_is_detected_without_recursion(tmp_path: Path) -> None:
    path = write(tmp_path, "deep.json", b"[" * 100_000 + b"]" * 100_000)
    assert detect_type(path) is DocumentType.JSON


@pytest.mark.parametrize(
    "content",
    [
        b"ticker,eps,pe\nAAPL,6.1,29.5\nMSFT,11.2,35.1\n",
        codecs.BOM_UTF8 + b"ticker;eps\nAAPL;6,1\nMSFT;11,2\n",
        b"ticker\teps\nAAPL\t6.1\n",
        b'name,comment\n"Smith, J","said ""hi"""\nDoe,ok\n',
        "stock,note\nNestl\u00e9,caf\u00e9\n".encode("latin-1"),
    ],
)
def test_delimited_text_is_csv(tmp_path: Path, content: bytes) -> None:
    assert detect_type(write(tmp_path, "prices.pdf", content)) is DocumentType.CSV


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("image.pdf", PNG_HEAD, "binary"),
        ("tool.csv", ELF_HEAD, "binary"),
        ("setup.xlsx", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "binary"),
        ("empty.csv", b"", "empty"),
        ("blank.json", b"  \n\t\n", "empty"),
        ("old.xlsx", OLE2_HEAD, "legacy Office"),
        ("page.csv", b"<!DOCTYPE html>\n<html><body><p>a, b</p>\n<p>c, d</p></body></html>\n", "markup"),
        (
            "notes.csv",
            b"It was a dark and stormy night.\nThe rain fell in torrents, except at occasional intervals.\n",
            "neither",
        ),
        ("broken.json", b'{"a": 1, "b": }', "neither"),
        ("lines.json", b'{"a": 1}\n{"a": 2}\n', "neither"),
    ],
)
def test_content_that_lies_about_its_type_is_refused(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    with pytest.raises(UnsupportedDocumentType, match=message):
        detect_type(write(tmp_path, name, content))


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(UnsupportedDocumentType, match="not an Excel workbook"):
        detect_type(path)


def test_a_macro_enabled_workbook_is_unsafe(tmp_path: Path) -> None:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    path = builders.rewrite_zip(plain, tmp_path / "macro.xlsx", add={"xl/vbaProject.bin": OLE2_HEAD})
    with pytest.raises(UnsafeDocument, match="macro"):
        detect_type(path)
