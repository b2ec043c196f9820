"""Fundamentals from the firm's tabular documents, point in time (:class:`~investai.ports.research.FundamentalsReader`).

A table is a fundamentals table when one column names the security (``ticker``, ``symbol``) and at least one
names a figure the factor scores use (P/E, EPS, ROE, debt/equity, revenue growth); columns are recognised by
name, case-insensitively and with common spellings (``P/E``, ``pe_ratio``, ``Return on equity``,
``Debt/Equity``, ``Revenue growth (YoY, %)``...). A ``%`` in a header or a cell makes the figure a fraction.

Point in time: a document version counts from its publication date, so for an as-of moment each document is
read at its newest version published by then (none if none was); a row with its own date (an ``as_of`` or date
column) counts from the end of that date, else from its version's publication. Of the rows that count, the
latest of each symbol wins. Only documents the reader may read are looked at; deleted documents and those
whose processing refused the content are not.

The tables come from the parse each upload keeps (:func:`investai.services.documents.load_parsed`). What a
version holds never changes, so the fundamentals rows found in it are cached by document version and content
hash (bounded): the requests of one generation, and those after it, read each version once.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pandas as pd

from investai.domain.documents import Document, DocumentStatus, DocumentType, DocumentVersion
from investai.domain.knowledge import AccessScope, ExtractedTable
from investai.ports.object_store import ObjectStore
from investai.ports.repositories import DocumentRepository
from investai.ports.research import FUNDAMENTAL_COLUMNS, FUNDAMENTAL_SOURCE_COLUMNS
from investai.services.documents import load_parsed

TABULAR = frozenset({DocumentType.CSV, DocumentType.XLSX, DocumentType.JSON})
MAX_DOCUMENTS = 10_000
"""Documents of an organisation looked at per call (the repository lists newest first)."""
CACHED_VERSIONS = 512

_SYNONYMS: dict[str, frozenset[str]] = {
    "symbol": frozenset({"ticker", "symbol", "ticker symbol", "stock ticker", "security ticker"}),
    "pe_ratio": frozenset(
        {"pe", "p e", "price earnings", "price to earnings", "pe ttm", "p e ttm", "trailing pe", "trailing p e"}
    ),
    "eps_ttm": frozenset(
        {"eps", "eps ttm", "ttm eps", "trailing eps", "earnings per share", "earnings per share ttm", "diluted eps"}
    ),
    "roe": frozenset({"roe", "return on equity"}),
    "debt_to_equity": frozenset({"debt equity", "debt to equity", "d e", "total debt to equity"}),
    "revenue_growth_yoy": frozenset(
        {
            "revenue growth",
            "revenue growth yoy",
            "yoy revenue growth",
            "revenue growth y y",
            "rev growth",
            "sales growth",
            "sales growth yoy",
        }
    ),
    "dividend_yield": frozenset({"dividend yield", "div yield", "dividend yield ttm"}),
    "as_of": frozenset({"as of", "asof", "as of date", "date", "report date", "period end", "period end date"}),
}
_FACTOR_INPUTS = frozenset({"pe_ratio", "eps_ttm", "roe", "debt_to_equity", "revenue_growth_yoy"})
"""A table needs one of these to count as fundamentals (a dividend yield alone does not make one)."""
_FRACTIONS = frozenset({"roe", "debt_to_equity", "revenue_growth_yoy", "dividend_yield"})
"""Figures a ``%`` turns into fractions."""
_DROPPED_WORDS = frozenset({"pct", "percent", "ratio", "x"})
_COLUMNS = [*FUNDAMENTAL_COLUMNS, *FUNDAMENTAL_SOURCE_COLUMNS]
_MISSING = frozenset({"", "-", "--", "n/a", "na", "nan", "none", "null", "nm", "n.m."})


@dataclass(frozen=True)
class _Column:
    index: int
    field: str
    percent: bool


@dataclass(frozen=True)
class _Row:
    """One row of a fundamentals table: its symbol, figures, own date (if it has one) and place."""

    symbol: str
    values: dict[str, float]
    dated: datetime | None
    table: str
    number: int


class DocumentFundamentals:
    """Implements :class:`~investai.ports.research.FundamentalsReader` over the document repository and the
    parses kept in the object store."""

    def __init__(
        self, *, documents: DocumentRepository, objects: ObjectStore, cached_versions: int = CACHED_VERSIONS
    ) -> None:
        self._documents = documents
        self._objects = objects
        self._capacity = cached_versions
        self._cache: OrderedDict[tuple[str, int, str], list[_Row]] = OrderedDict()
        self._lock = threading.Lock()

    def fundamentals(self, *, reader: AccessScope, symbols: list[str], as_of: datetime) -> pd.DataFrame:
        wanted = {symbol.strip().upper() for symbol in symbols if symbol.strip()}
        best: dict[str, tuple[tuple[Any, ...], _Row, Document, DocumentVersion]] = {}
        if wanted:
            for document in self._readable(reader):
                version = _version_as_of(document, as_of)
                if version is None:
                    continue
                for row in self._rows(document, version):
                    dated = row.dated or version.published_at
                    if row.symbol not in wanted or dated > as_of:
                        continue
                    rank = (dated, version.published_at, document.id, version.version, row.table, row.number)
                    if row.symbol not in best or rank > best[row.symbol][0]:
                        best[row.symbol] = (rank, row, document, version)
        return _frame({symbol: found[1:] for symbol, found in sorted(best.items())})

    def _readable(self, reader: AccessScope) -> list[Document]:
        candidates = self._documents.list_by_organisation(reader.organisation_id, limit=MAX_DOCUMENTS)
        return [
            document
            for document in candidates
            if document.doc_type in TABULAR
            and document.deleted_at is None
            and document.status is not DocumentStatus.FAILED
            and document.readable_by(user_id=reader.user_id, organisation_id=reader.organisation_id, role=reader.role)
        ]

    def _rows(self, document: Document, version: DocumentVersion) -> list[_Row]:
        key = (document.id, version.version, version.sha256)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        parsed = load_parsed(self._objects, document, version)
        rows = [row for table in (parsed.tables if parsed else []) for row in fundamentals_rows(table)]
        with self._lock:
            self._cache[key] = rows
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return rows


def _version_as_of(document: Document, as_of: datetime) -> DocumentVersion | None:
    """The newest version (by number) published at or before ``as_of``."""
    published = [version for version in document.versions if version.published_at <= as_of]
    return max(published, key=lambda version: version.version) if published else None


def _frame(found: dict[str, tuple[_Row, Document, DocumentVersion]]) -> pd.DataFrame:
    records = [
        {
            **{name: row.values.get(name, math.nan) for name in FUNDAMENTAL_COLUMNS},
            "as_of": row.dated or version.published_at,
            "document_id": document.id,
            "version": version.version,
            "table": row.table,
            "row": row.number,
        }
        for row, document, version in found.values()
    ]
    frame = pd.DataFrame(records, index=pd.Index(list(found), name="symbol", dtype=object), columns=_COLUMNS)
    types = {name: "float64" for name in FUNDAMENTAL_COLUMNS} | {"version": "int64", "row": "int64"}
    frame = frame.astype(types)
    frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True)
    return frame


# --- recognising a fundamentals table -----------------------------------------------------------------------


def column_field(header: str) -> tuple[str | None, bool]:
    """The fundamentals field a column header names (``None`` if none), and whether it says ``%``."""
    text = str(header).lower()
    percent = "%" in text or bool(re.search(r"\b(pct|percent)\b", text))
    words = [word for word in re.sub(r"[^a-z0-9]+", " ", text).split() if word not in _DROPPED_WORDS]
    name = " ".join(words) or re.sub(r"[^a-z0-9]+", " ", text).strip()
    field = next((field for field, names in _SYNONYMS.items() if name in names), None)
    return field, percent


def _columns(table: ExtractedTable) -> list[_Column] | None:
    """The table's fundamentals columns (the first of each field), or ``None`` if it is no fundamentals table."""
    columns: dict[str, _Column] = {}
    for index, header in enumerate(table.header):
        field, percent = column_field(header)
        if field is not None and field not in columns:
            columns[field] = _Column(index, field, percent)
    if "symbol" not in columns or not _FACTOR_INPUTS & set(columns):
        return None
    return list(columns.values())


def fundamentals_rows(table: ExtractedTable) -> list[_Row]:
    """The rows of ``table`` with a symbol, if it is a fundamentals table; none otherwise."""
    columns = _columns(table)
    if columns is None:
        return []
    fractions = {column.field for column in columns if column.percent and column.field in _FRACTIONS}
    rows = []
    for number, cells in enumerate(table.rows, start=1):
        found = {column.field: _cell(cells, column.index) for column in columns}
        symbol = found.pop("symbol")
        dated = found.pop("as_of", None)
        if not isinstance(symbol, str) or not symbol.strip():
            continue
        values = {field: _number(value, field in fractions) for field, value in found.items()}
        rows.append(_Row(str(symbol).strip().upper(), values, _moment(dated), table.name, number))
    return rows


def _cell(cells: list[Any], index: int) -> Any:
    return cells[index] if index < len(cells) else None


def _number(value: Any, percent_column: bool) -> float:
    """A cell as a float (NaN when it holds none): ``1,234.5``, ``25.8x``, ``(3.2)`` and ``40%`` are read."""
    if isinstance(value, bool) or value is None:
        return math.nan
    if isinstance(value, int | float):
        number = float(value)
        return number / 100.0 if percent_column else number
    text = str(value).strip().lower().replace(",", "").replace("\u2212", "-")
    if text in _MISSING:
        return math.nan
    percent = text.endswith("%")
    text = text.rstrip("%x").strip()
    if text.startswith("(") and text.endswith(")"):
        text = "-" + text[1:-1]
    try:
        number = float(text)
    except ValueError:
        return math.nan
    if not math.isfinite(number):
        return math.nan
    return number / 100.0 if percent or percent_column else number


def _moment(value: Any) -> datetime | None:
    """When a row's own date lets it count: the end of a date (a date, or a time at midnight without a zone,
    as spreadsheets store dates), else the moment itself (UTC when no zone is given). ``None`` if unreadable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        moment = pd.Timestamp(str(value).strip()).to_pydatetime()
    except (ValueError, TypeError, OverflowError):
        return None
    if not isinstance(moment, datetime) or pd.isna(moment):
        return None
    if moment.tzinfo is None:
        if moment.time() == time.min:
            return datetime.combine(moment.date() + timedelta(days=1), time.min, tzinfo=UTC)
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
