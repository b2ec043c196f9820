"""JSON documents: a list of records becomes a table, anything else searchable text.

``json.loads`` alone is not safe on untrusted input: deep nesting raises RecursionError (or worse, exhausts
the C stack), a 100,000-digit integer takes quadratic time to convert, ``NaN``/``Infinity`` are
accepted although they are not JSON, and a ``\\ud800`` escape makes a string no encoder accepts. Nesting is
measured with a linear scan before parsing, the decoder's hooks check numbers and constants as they are
read, and strings are checked for lone surrogates when the text has such an escape.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, NoReturn

from investai.domain.documents import DocumentType
from investai.domain.errors import DocumentTooLarge, MalformedDocument
from investai.domain.knowledge import ExtractedTable, ParsedDocument, ParsedPage
from investai.ingest.limits import IngestLimits
from investai.ingest.tables import RowCollector, assemble_table

DEFAULT_TABLE_NAME = "records"

_STRUCTURE = re.compile(r'[\[\]{}]|"[^"\\]*(?:\\.[^"\\]*)*"')
"""Brackets, and whole strings so that brackets inside them are skipped (the unrolled-loop form: linear)."""
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
"""An escaped UTF-16 surrogate: valid JSON when it is half of a pair, text no encoder accepts when alone."""


def parse_json(path: Path, limits: IngestLimits) -> ParsedDocument:
    """The JSON document: a top-level list of objects (or an object whose only key holds one) becomes a
    table of flattened records; any other value becomes one page of pretty-printed text."""
    size = path.stat().st_size
    if size > limits.max_json_bytes:
        raise DocumentTooLarge(f"the JSON document is {size:,} bytes, more than the limit of {limits.max_json_bytes:,}")
    text = _decode(path.read_bytes())
    check_depth(text, limits.max_json_depth)
    value = _load(text, limits)
    if _SURROGATE_ESCAPE.search(text):
        check_text(value)
    records, name = _records_of(value)
    if records is not None:
        table, warnings = _records_table(records, name, limits)
        return ParsedDocument(doc_type=DocumentType.JSON, tables=[table], warnings=warnings)
    return _text_document(value, limits)


def check_depth(text: str, max_depth: int) -> None:
    """MalformedDocument if arrays and objects nest deeper than ``max_depth`` (brackets inside strings do
    not count). Linear in the text and free of recursion, so it is safe to run before ``json.loads``."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                raise MalformedDocument(f"the JSON document nests deeper than {max_depth} levels")
        elif token in ("]", "}"):
            depth -= 1


def check_text(value: Any) -> None:
    """MalformedDocument naming the place (``$.a[0]``) of the first string, key or value, holding a lone
    surrogate. Iterative: nesting was bounded before parsing, but this never recurses regardless."""
    stack: list[tuple[str, Any]] = [("$", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                raise MalformedDocument(f"the JSON document has text that is not valid Unicode at {where}")
        elif isinstance(item, dict):
            for key in item:
                if not _encodable(key):
                    raise MalformedDocument(f"the JSON document has a key that is not valid Unicode in {where}")
            stack.extend((f"{where}.{key}", child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", child) for index, child in reversed(list(enumerate(item))))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedDocument(f"the JSON document is not valid UTF-8 (at byte {exc.start:,})") from exc


def _load(text: str, limits: IngestLimits) -> Any:
    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > limits.max_int_digits:
            raise MalformedDocument(f"the JSON document has an integer longer than {limits.max_int_digits} digits")
        return int(digits)

    def parse_float(literal: str) -> float:
        number = float(literal)
        if not math.isfinite(number):
            raise MalformedDocument("the JSON document has a number too large to represent")
        return number

    def parse_constant(name: str) -> NoReturn:
        raise MalformedDocument(f"the JSON document uses {name}, which is not valid JSON")

    try:
        return json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant)
    except json.JSONDecodeError as exc:
        raise MalformedDocument(
            f"the JSON document is invalid: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    except (RecursionError, ValueError) as exc:
        raise MalformedDocument("the JSON document could not be parsed") from exc


def _records_of(value: Any) -> tuple[list[dict[str, Any]] | None, str]:
    """The list of records and the table's name, or ``None`` when the value is not tabular."""
    if _is_record_list(value):
        return value, DEFAULT_TABLE_NAME
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if _is_record_list(inner):
            return inner, key.strip() or DEFAULT_TABLE_NAME
    return None, DEFAULT_TABLE_NAME


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _records_table(records: list[dict[str, Any]], name: str, limits: IngestLimits) -> tuple[ExtractedTable, list[str]]:
    """The records flattened, with the union of their keys (in first-seen order) as the header."""
    flattened = [flatten_record(record) for record in records]
    keys: dict[str, None] = {}
    for record in flattened:
        keys.update(dict.fromkeys(record))
    header = list(keys)[: limits.max_table_columns]
    collector = RowCollector(limits, header=header, columns_dropped=len(keys) > len(header))
    for record in flattened:
        collector.add([record.get(key) for key in header])
    table = assemble_table(index=0, name=name, header_row=header, rows=collector.rows, row_count=collector.row_count)
    return table, collector.warnings(table.name)


def flatten_record(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``); lists are kept as their
    JSON text, since a cell holds one value. Depth is bounded by the depth check that ran before."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_record(value, f"{name}."))
        elif isinstance(value, dict):
            flat[name] = None
        elif isinstance(value, list):
            flat[name] = json.dumps(value, ensure_ascii=False)
        else:
            flat[name] = value
    return flat


def _text_document(value: Any, limits: IngestLimits) -> ParsedDocument:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    warnings = []
    if len(text) > limits.max_text_chars:
        text = text[: limits.max_text_chars]
        warnings.append(f"kept the first {limits.max_text_chars:,} characters of the document's text")
    return ParsedDocument(doc_type=DocumentType.JSON, pages=[ParsedPage(number=1, text=text)], warnings=warnings)
