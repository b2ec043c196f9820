"""Checks on an XLSX file's ZIP container, made before any XML parser sees its content.

An XLSX workbook is a ZIP of XML parts. The attacks on it are archive bombs (a few kilobytes that inflate
to gigabytes, or millions of entries), XML entity tricks (billion laughs, external entities) and macros.
The central directory is inspected first because it is cheap; then every part is inflated once, in
bounded chunks, counting the bytes that actually come out (a directory can lie about sizes) and looking
for DTD declarations, which a spreadsheet never needs.

Every entry is scanned, whatever its name: entries named like directories included (openpyxl reads a part
wherever ``[Content_Types].xml`` points, ``xl/sharedStrings.xml/`` too). The scan looks for the markup in
UTF-8 and UTF-16, so an XML part must be in one of those: the Open Packaging Conventions allow nothing else
(ECMA-376 Part 2, M1.17), while lxml, which openpyxl uses for some parts, would also read UTF-32, EBCDIC or
UTF-7, where ``<!DOCTYPE`` is spelled with other bytes. A part that starts like XML in another encoding, or
declares one, is refused.
"""

from __future__ import annotations

import codecs
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from investai.domain.errors import MalformedDocument, UnsafeDocument
from investai.ingest.limits import IngestLimits

CONTENT_TYPES_PART = "[Content_Types].xml"
WORKBOOK_PART = "xl/workbook.xml"

_READ_CHUNK = 1 << 20
_EOCD_SIGNATURE = b"PK\x05\x06"
_EOCD_SIZE = 22
_EOCD_TOTAL_ENTRIES_OFFSET = 10
_EOCD_SEARCH_BYTES = _EOCD_SIZE + 0xFFFF
"""The record sits at the end, followed by a comment of at most 65,535 bytes."""
_RATIO_FLOOR_BYTES = 64 << 10
"""Entries smaller than this are too small to be a bomb whatever their ratio (tiny XML can compress 100x)."""
_CONTENT_TYPES_MAX_BYTES = 1 << 20
_MACRO_PART_PREFIXES = ("xl/macrosheets/", "xl/dialogsheets/")
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, RuntimeError, NotImplementedError)
"""What reading a damaged ZIP raises: bad headers or CRCs, corrupt deflate data, an encrypted entry
(RuntimeError), an unsupported compression method."""
_FORBIDDEN_MARKUP = tuple(
    marker.encode(encoding) for marker in ("<!DOCTYPE", "<!ENTITY") for encoding in ("utf-8", "utf-16-le", "utf-16-be")
)
_UNSCANNABLE_STARTS = (
    b"\x00\x00\xfe\xff",  # UTF-32 byte-order marks
    b"\xff\xfe\x00\x00",
    b"\x00\x00\x00<",  # '<' in the four UCS-4 byte orders
    b"<\x00\x00\x00",
    b"\x00\x00<\x00",
    b"\x00<\x00\x00",
    b"\x4c\x6f\xa7\x94",  # '<?xm' in EBCDIC
    b"+/v",  # UTF-7 byte-order mark
)
"""How an XML part in an encoding the markup scan cannot read begins (XML 1.0, appendix F)."""
_UTF16_STARTS = (
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
_DECLARED_ENCODING = re.compile(r"""^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([^"']*)["']""")
_ALLOWED_ENCODINGS = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "ascii", "iso8859-1"})
"""The Python names of the encodings an XML part may declare: UTF-8 and UTF-16, and the two others every XML
parser reads natively, whose markup bytes are UTF-8's (US-ASCII, ISO-8859-1)."""
_HEAD_BYTES = 512


def open_archive(path: Path, *, max_entries: int) -> zipfile.ZipFile:
    """The ZIP file, or MalformedDocument when the container itself is broken.

    The entry count declared in the end-of-central-directory record is checked first: ``zipfile`` builds an
    object per entry while opening, so a million-entry archive would cost memory before any other check.
    """
    declared = _declared_entry_count(path)
    if declared is not None and declared > max_entries:
        raise UnsafeDocument(_too_many_entries(declared, max_entries))
    try:
        return zipfile.ZipFile(path)
    except _READ_ERRORS as exc:
        raise MalformedDocument("the workbook is not a readable ZIP archive") from exc


def is_workbook(archive: zipfile.ZipFile) -> bool:
    names = set(archive.namelist())
    return CONTENT_TYPES_PART in names and WORKBOOK_PART in names


def has_macros(archive: zipfile.ZipFile) -> bool:
    """A VBA project, an Excel 4.0 macro sheet, or a macro-enabled content type anywhere in the package."""
    for name in archive.namelist():
        lowered = name.lower()
        if lowered.endswith("vbaproject.bin") or lowered.startswith(_MACRO_PART_PREFIXES):
            return True
    try:
        with archive.open(CONTENT_TYPES_PART) as handle:
            content_types = handle.read(_CONTENT_TYPES_MAX_BYTES)
    except KeyError:
        return False
    except _READ_ERRORS as exc:
        raise MalformedDocument("the workbook's content types could not be read") from exc
    return b"macroenabled" in content_types.lower()


def reject_macros(archive: zipfile.ZipFile) -> None:
    if has_macros(archive):
        raise UnsafeDocument("macro-enabled workbooks are not accepted; save the workbook as a plain .xlsx")


def check_directory(archive: zipfile.ZipFile, limits: IngestLimits) -> None:
    """Refuse an archive whose directory already shows a bomb: too many entries, too many bytes once
    inflated, or a compression ratio no spreadsheet reaches."""
    entries = archive.infolist()
    if len(entries) > limits.max_zip_entries:
        raise UnsafeDocument(_too_many_entries(len(entries), limits.max_zip_entries))
    total_inflated = sum(entry.file_size for entry in entries)
    total_compressed = sum(entry.compress_size for entry in entries)
    _check_inflated_total(total_inflated, limits)
    for entry in entries:
        _check_ratio(entry.file_size, entry.compress_size, limits)
    _check_ratio(total_inflated, total_compressed, limits)


def scan_parts(archive: zipfile.ZipFile, limits: IngestLimits) -> None:
    """Inflate every part once, in bounded chunks: the real sizes must match the directory's and stay
    within the limits, and no part may declare a DTD or entities."""
    total_inflated = 0
    for entry in archive.infolist():
        inflated = 0
        for window, fresh_bytes in _windows(archive, entry):
            if inflated == 0:
                check_encoding(entry.filename, window)
            inflated += fresh_bytes
            if any(marker in window for marker in _FORBIDDEN_MARKUP):
                raise UnsafeDocument(
                    f"XML entity declarations are not allowed in a workbook (a DTD in {_shown(entry.filename)})"
                )
        if inflated != entry.file_size:
            raise UnsafeDocument("the workbook's ZIP directory misstates the size of a part (zip bomb?)")
        total_inflated += inflated
        _check_inflated_total(total_inflated, limits)


def check_encoding(name: str, head: bytes) -> None:
    """UnsafeDocument if the part beginning with ``head`` is XML in an encoding other than UTF-8 or UTF-16
    (by its first bytes or its declaration). Parts that are not XML (images, printer settings) pass."""
    if head.startswith(_UNSCANNABLE_STARTS):
        raise UnsafeDocument(f"the workbook part {_shown(name)} is XML in an encoding other than UTF-8 or UTF-16")
    encoding = next((codec for start, codec in _UTF16_STARTS if head.startswith(start)), "utf-8")
    declaration = _DECLARED_ENCODING.match(head[:_HEAD_BYTES].decode(encoding, "ignore").lstrip("\ufeff"))
    if declaration is None:
        return
    try:
        declared = codecs.lookup(declaration.group(1)).name
    except LookupError:
        declared = declaration.group(1)
    if declared not in _ALLOWED_ENCODINGS:
        raise UnsafeDocument(
            f"the workbook part {_shown(name)} declares the encoding {_shown(declaration.group(1))};"
            " only UTF-8 and UTF-16 are allowed in a workbook"
        )


def _shown(text: str) -> str:
    """A part name or declared value from the upload, quoted and shortened for an error message."""
    return repr(text[:80])


def _windows(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> Iterator[tuple[bytes, int]]:
    """The entry's bytes in chunks, each prefixed with the previous chunk's tail so that a marker split
    across two chunks is still seen, with the count of new bytes in each. Reads at most one byte past the
    declared size, so a lying directory cannot make this inflate without bound."""
    keep = max(len(marker) for marker in _FORBIDDEN_MARKUP) - 1
    remaining = entry.file_size + 1
    tail = b""
    try:
        with archive.open(entry) as handle:
            while remaining > 0:
                chunk = handle.read(min(_READ_CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield tail + chunk, len(chunk)
                tail = chunk[-keep:]
    except _READ_ERRORS as exc:
        raise MalformedDocument("a part of the workbook could not be decompressed") from exc


def _declared_entry_count(path: Path) -> int | None:
    """The total entry count of the end-of-central-directory record (65,535 stands for "at least that
    many" in a ZIP64 archive), or ``None`` when there is no such record."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            handle.seek(max(0, size - _EOCD_SEARCH_BYTES))
            tail = handle.read()
    except OSError:
        return None
    found = tail.rfind(_EOCD_SIGNATURE)
    if found == -1 or found + _EOCD_SIZE > len(tail):
        return None
    (total_entries,) = struct.unpack_from("<H", tail, found + _EOCD_TOTAL_ENTRIES_OFFSET)
    return int(total_entries)


def _too_many_entries(count: int, limit: int) -> str:
    return f"the workbook has {count:,} ZIP entries, more than the limit of {limit:,} (zip bomb?)"


def _check_inflated_total(total: int, limits: IngestLimits) -> None:
    if total > limits.max_uncompressed_bytes:
        raise UnsafeDocument(f"the workbook inflates to more than {limits.max_uncompressed_bytes:,} bytes (zip bomb?)")


def _check_ratio(inflated: int, compressed: int, limits: IngestLimits) -> None:
    if inflated < _RATIO_FLOOR_BYTES:
        return
    ratio = inflated / max(compressed, 1)
    if ratio > limits.max_compression_ratio:
        raise UnsafeDocument(
            f"a part of the workbook has a compression ratio of {ratio:,.0f}:1, more than the limit of "
            f"{limits.max_compression_ratio:,.0f}:1 (zip bomb?)"
        )
