"""Uploads and what comes back out of them.

* File names are labels and the default title: a name carrying a bidirectional override, an isolate, a
  zero-width or another invisible format character (which can make ``evil\\u202egpj.csv`` display as
  ``evilcsv.jpg``) is refused, whichever way the file arrives: the API (which the web page's upload calls)
  or the command line.
* A workbook with a DTD in any part is refused with the upload's 4xx, and nothing is kept.
* Table exports neutralise formulas, leading blanks or not.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from investai.bootstrap import Container
from investai.cli import app as cli
from investai.domain.documents import safe_filename
from investai.domain.errors import ValidationFailed
from investai.server import create_app
from tests.conftest import Account
from tests.document_files import make_csv
from tests.unit.ingest import builders

CSV = make_csv(["ticker", "note"], [["AAPL", "services"]])
HIDDEN = [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u202a",  # left-to-right embedding
    "\u202b",
    "\u202c",  # pop directional formatting
    "\u202d",  # left-to-right override
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u2067",
    "\u2068",
    "\u2069",  # pop directional isolate
    "\ufeff",  # byte-order mark
    "\u00ad",  # soft hyphen
    "\u2060",  # word joiner
    "\u0085",  # next line (a C1 control)
    "\u2028",  # line separator
    "\udcff",  # a byte that was not UTF-8, as the file system hands it to Python
]


@pytest.mark.parametrize("char", HIDDEN, ids=[f"U+{ord(c):04X}" for c in HIDDEN])
def test_names_with_invisible_or_reordering_characters_are_refused(char: str) -> None:
    with pytest.raises(ValidationFailed, match=f"U\\+{ord(char):04X}"):
        safe_filename(f"evil{char}gpj.csv")
    with pytest.raises(ValidationFailed, match="invisible formatting characters"):
        safe_filename("evil" + "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass")) + ".csv")


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


def test_an_upload_named_with_a_right_to_left_override_is_refused_and_not_kept(
    client: TestClient, analyst: Account
) -> None:
    response = client.post(
        "/api/v1/documents", headers=analyst.headers, files={"file": ("evil\u202egpj.csv", io.BytesIO(CSV))}
    )
    assert response.status_code == 422, response.text
    assert "U+202E" in response.json()["error"]["message"]
    assert client.get("/api/v1/documents", headers=analyst.headers).json() == []


def test_the_command_line_refuses_such_a_name_and_keeps_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    assert runner.invoke(cli, ["users", "create", "--email", "ana@example.com", "--role", "analyst"]).exit_code == 0
    spoofed = tmp_path / "evil\u202egpj.csv"
    spoofed.write_bytes(CSV)
    not_utf8 = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff.csv"))
    not_utf8.write_bytes(CSV)
    plain = tmp_path / "plain.csv"
    plain.write_bytes(CSV)

    uploaded = runner.invoke(
        cli, ["documents", "upload", "--as", "ana@example.com", str(spoofed), str(not_utf8), str(plain)]
    )

    assert uploaded.exit_code == 1, uploaded.output
    assert uploaded.exception is None or isinstance(uploaded.exception, SystemExit)
    assert uploaded.output.count("refused") == 2
    assert "U+202E" in uploaded.output
    assert "plain.csv: doc_" in uploaded.output
    listed = runner.invoke(cli, ["documents", "list", "--as", "ana@example.com"])
    assert "plain.csv" in listed.output
    assert "gpj" not in listed.output


def test_a_workbook_with_a_dtd_in_any_part_is_refused_and_not_kept(
    client: TestClient, analyst: Account, tmp_path: Path
) -> None:
    plain = builders.simple_workbook(tmp_path / "plain.xlsx")
    with zipfile.ZipFile(plain) as archive:
        workbook = archive.read("xl/workbook.xml")
    dtd = b'<!DOCTYPE workbook [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
    data = '<?xml version="1.0" encoding="UTF-32"?>'.encode("utf-32") + (dtd + workbook).decode().encode("utf-32-le")
    hostile = builders.rewrite_zip(plain, tmp_path / "hostile.xlsx", replace={"xl/workbook.xml": data})
    response = client.post(
        "/api/v1/documents", headers=analyst.headers, files={"file": ("book.xlsx", io.BytesIO(hostile.read_bytes()))}
    )
    assert response.status_code == 422, response.text
    assert "xl/workbook.xml" in response.json()["error"]["message"]
    assert client.get("/api/v1/documents", headers=analyst.headers).json() == []


def test_exported_tables_neutralise_formulas_behind_leading_blanks(client: TestClient, analyst: Account) -> None:
    table = make_csv(["ticker", "note"], [["AAPL", ' =HYPERLINK("http://example.invalid","x")'], ["MSFT", "\t+1"]])
    uploaded = client.post(
        "/api/v1/documents", headers=analyst.headers, files={"file": ("notes.csv", io.BytesIO(table))}
    )
    assert uploaded.status_code == 201, uploaded.text
    exported = client.get(
        f"/api/v1/documents/{uploaded.json()['id']}/tables",
        headers=analyst.headers,
        params={"format": "csv", "table": 0},
    )
    assert exported.status_code == 200, exported.text
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[1:] == [["AAPL", '\' =HYPERLINK("http://example.invalid","x")'], ["MSFT", "'\t+1"]]
