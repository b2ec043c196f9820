"""Market data files (CSV or Parquet bars) read into one frame of raw bar rows, ready for validation.

The format is recognised from the content, never the name: Parquet by its ``PAR1`` magic at both ends,
otherwise UTF-8 text (a byte-order mark is allowed) with the delimiter sniffed among ``, ; TAB |``. Columns are
recognised by name (:data:`COLUMN_ALIASES`), case-insensitively and ignoring spaces, underscores, dots,
slashes, hyphens and asterisks, so Yahoo, Nasdaq, Stooq and most spreadsheet exports read as they are.

Nothing here judges a bar (that is :mod:`investai.ingest.market_validation`); this module only turns text into
numbers and dates. A cell that cannot be read becomes missing (NaN or NaT) and its row gets a *problem*, which
validation reports as the row's reason for rejection. Only a file that cannot be read as bars at all (not
text, no date or price column, no symbol, too many rows) raises :class:`UnreadableMarketFile`.

Row numbers count the data rows from 1 as lines after the header (``row + 1`` is the CSV line number when the
header is the first line); blank lines are skipped but keep their numbers. Reading is columnar (Arrow's CSV
reader, Arrow compute and vectorised pandas date parsing); Python loops run only over the rows with problems.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from investai.domain.market import UnreadableMarketFile
from investai.ingest.delimited import CANDIDATE_DELIMITERS, SAMPLE_CHARS, complete_lines, sniff_delimiter

__all__ = [
    "COLUMN_ALIASES",
    "OUTPUT_COLUMNS",
    "ParsedBars",
    "map_columns",
    "normalise_header",
    "parse_dates",
    "parse_numbers",
    "read_bars",
    "read_bars_file",
]

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "timestamp", "datetime", "time", "day", "tradedate", "pricedate"),
    "open": ("open", "openprice"),
    "high": ("high", "highprice"),
    "low": ("low", "lowprice"),
    "close": ("close", "closeprice", "closelast", "last", "price", "pxlast", "closingprice"),
    "adj_close": ("adjclose", "adjustedclose", "adjclosing"),
    "volume": ("volume", "vol", "sharesvolume"),
    "symbol": ("symbol", "ticker", "code", "instrument", "secid"),
}
"""Normalised header names (see :func:`normalise_header`) per output column, in order of preference when a
file has several candidates for one column."""

NUMERIC_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")
OUTPUT_COLUMNS = ("row", "symbol", "date", *NUMERIC_COLUMNS)

MISSING_TOKENS = frozenset({"", "null", "na", "n/a", "#n/a", "-", "nan", "none"})
"""Cell texts (compared lower-case, after stripping) that mean "no value"."""
_MISSING_SET = pa.array(sorted(MISSING_TOKENS), pa.string())

_PARQUET_MAGIC = b"PAR1"
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_HEADER_NOISE = re.compile(r"[\s_./\\*-]+")
_LEADING_BLANK_LINES = re.compile(r"(?:[ \t]*\r?\n)*")
_CURRENCY_PREFIX = r"^([+-]?)\s*[$€£¥]\s*"
_GROUPED_NUMBER = r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$"
_PLAIN_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_SLASH_DATE_START = r"^\s*(\d{1,2})[/.]"
_PROBLEM_VALUE_CHARS = 40
_DATE_SAMPLE = 1000

_DATE_FORMATS = (
    "%Y-%m-%d",
    "ISO8601",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d-%b-%Y",
    "%Y%m%d",
    "%d.%m.%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
)
"""Candidate date formats, the earlier preferred on a tie. ISO 8601 covers timestamps with a time part and an
offset (converted to UTC; naive ones are taken as written)."""

_DAY_FIRST = {"%m/%d/%Y": "%d/%m/%Y", "%m/%d/%Y %H:%M": "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M:%S": "%d/%m/%Y %H:%M:%S"}
"""Slash dates are US month-first unless some value's first part exceeds 12."""


@dataclass(frozen=True)
class ParsedBars:
    """The file's rows in file order, columns :data:`OUTPUT_COLUMNS`: ``row`` (int64, 1-based), ``symbol``
    (object, upper-case, ``None`` when missing), ``date`` (datetime64[ns] at midnight, NaT when missing) and
    the prices and volume (float64, NaN when missing; prices in the file's currency, volume in shares).
    ``problems`` maps a row number to the first reason one of its cells could not be read."""

    frame: pd.DataFrame
    problems: dict[int, str]


@dataclass(frozen=True)
class _RawColumns:
    """Cells as read, before typing: one Arrow column per mapped output column, the rows' numbers, and the
    problems found while splitting lines into cells."""

    cells: dict[str, pa.ChunkedArray]
    rows: np.ndarray
    problems: dict[int, str] = field(default_factory=dict)


def read_bars_file(path: Path, *, symbol: str | None, max_rows: int) -> ParsedBars:
    """The bars in the CSV or Parquet file at ``path`` (see :func:`read_bars`)."""
    return read_bars(path.read_bytes(), symbol=symbol, max_rows=max_rows)


def read_bars(data: bytes, *, symbol: str | None, max_rows: int) -> ParsedBars:
    """The bars in CSV or Parquet content.

    ``symbol`` names the instrument for rows without one (a file without a symbol column, or a blank cell in
    it). Raises :class:`UnreadableMarketFile` for content that is neither Parquet nor UTF-8 text, a file
    without a date or price column, a file that needs ``symbol`` when none is given, or more than
    ``max_rows`` data rows. A file with a header and no rows gives an empty frame.
    """
    default = symbol.strip().upper() if symbol and symbol.strip() else None
    if _is_parquet(data):
        raw = _read_parquet(data, default_symbol=default, max_rows=max_rows)
    else:
        raw = _read_csv(_decode(data), default_symbol=default, max_rows=max_rows)
    return _assemble(raw, default)


# --- format detection --------------------------------------------------------------------------------------


def _is_parquet(data: bytes) -> bool:
    return len(data) >= 2 * len(_PARQUET_MAGIC) and data.startswith(_PARQUET_MAGIC) and data.endswith(_PARQUET_MAGIC)


def _decode(data: bytes) -> str:
    """The file as text: UTF-8, with or without a byte-order mark. Control bytes other than tab, line feed,
    carriage return and form feed mean binary content (UTF-16 text included)."""
    if not data.strip():
        raise UnreadableMarketFile("the file is empty")
    if data.startswith(_PARQUET_MAGIC):
        raise UnreadableMarketFile("the file starts like Parquet but is truncated or damaged")
    if _BINARY_BYTES.search(data[: SAMPLE_CHARS * 4]):
        raise UnreadableMarketFile("the file is binary, neither a CSV (UTF-8 text) nor a Parquet file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableMarketFile(
            f"the file is not UTF-8 text (invalid byte at offset {exc.start:,}); save the CSV as UTF-8"
        ) from exc


# --- column mapping ----------------------------------------------------------------------------------------


def normalise_header(name: str) -> str:
    """``"Close/Last"`` → ``"closelast"``, ``"Adj. Close"`` → ``"adjclose"``, ``"PX_LAST"`` → ``"pxlast"``."""
    return _HEADER_NOISE.sub("", name).lower()


def map_columns(names: Sequence[str]) -> dict[str, int]:
    """Output column → position of the file column it is read from. ``close`` falls back to an adjusted
    close; without a date or a price column the file is unreadable."""
    normalised = [normalise_header(str(name)) for name in names]
    mapping: dict[str, int] = {}
    for column, aliases in COLUMN_ALIASES.items():
        found = next((normalised.index(alias) for alias in aliases if alias in normalised), None)
        if found is not None:
            mapping[column] = found
    if "close" not in mapping and "adj_close" in mapping:
        mapping["close"] = mapping["adj_close"]
    for column, what in (("date", "date"), ("close", "price (close)")):
        if column not in mapping:
            accepted = COLUMN_ALIASES[column] + (COLUMN_ALIASES["adj_close"] if column == "close" else ())
            raise UnreadableMarketFile(
                f"the file has no {what} column; columns found: {_quote_names(names)}; "
                f"accepted names (case, spaces and punctuation ignored): {', '.join(accepted)}"
            )
    return mapping


def _quote_names(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(str(name)[:_PROBLEM_VALUE_CHARS]) for name in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return (shown + more) or "none"


def _require_symbol(mapping: Mapping[str, int], default_symbol: str | None) -> None:
    if "symbol" not in mapping and default_symbol is None:
        raise UnreadableMarketFile("the file has no symbol column; give the symbol")


def _check_row_count(count: int, max_rows: int) -> None:
    if count > max_rows:
        raise UnreadableMarketFile(f"the file holds more than {max_rows:,} rows")


# --- CSV ---------------------------------------------------------------------------------------------------


def _read_csv(text: str, *, default_symbol: str | None, max_rows: int) -> _RawColumns:
    """Every cell read as text by Arrow's CSV reader, one record per line (a line break inside a quoted cell
    refuses the file: it usually means an unclosed quote that swallowed the lines after it)."""
    skipped = _LEADING_BLANK_LINES.match(text)
    lead = skipped.group().count("\n") if skipped else 0
    text = text[skipped.end() :] if skipped else text
    if "\n" not in text and "\r" in text:
        text = text.replace("\r", "\n")  # classic Mac line endings
    first_line, _, body = text.partition("\n")
    sample = complete_lines(text[:SAMPLE_CHARS], truncated=len(text) > SAMPLE_CHARS)
    delimiter = sniff_delimiter(sample) or _header_delimiter(first_line)
    header = next(csv.reader([first_line.rstrip("\r")], delimiter=delimiter), [])
    mapping = map_columns(header)
    _require_symbol(mapping, default_symbol)
    table, lines, problems = _split_lines(body, delimiter, width=len(header))
    keep = ~_blank_rows(table) | np.isin(lines, np.fromiter(problems, dtype=np.int64, count=len(problems)))
    _check_row_count(int(keep.sum()), max_rows)
    if not keep.all():
        table = table.take(pa.array(np.flatnonzero(keep)))
    cells = {column: table.column(position) for column, position in mapping.items()}
    if '"' in body:
        _refuse_line_breaks(cells, lines[keep] + lead)
    return _RawColumns(
        cells=cells, rows=lines[keep] + lead, problems={row + lead: text for row, text in problems.items()}
    )


def _header_delimiter(header: str) -> str:
    """For a file too short to sniff: the candidate that occurs most in the header line, else a comma."""
    counts = [(header.count(candidate), -index) for index, candidate in enumerate(CANDIDATE_DELIMITERS)]
    best = max(range(len(counts)), key=lambda index: counts[index])
    return CANDIDATE_DELIMITERS[best] if counts[best][0] > 0 else ","


def _split_lines(body: str, delimiter: str, *, width: int) -> tuple[pa.Table, np.ndarray, dict[int, str]]:
    """The lines after the header as a table of ``width`` text columns (named by position), the line number
    of each record counted from the first line after the header, and problems by that number.

    Lines with a different number of cells are repaired: missing trailing cells are empty, surplus empty
    cells dropped; a line with surplus content becomes an empty record with a problem (an unquoted thousands
    separator shifts every later cell, so none of them can be trusted).
    """
    names = [str(position) for position in range(width)]
    odd: list[tuple[int, str]] = []
    table = _arrow_csv(body, delimiter, names, odd) if body.strip() else _empty_table(names)
    lines = np.arange(1, table.num_rows + len(odd) + 1, dtype=np.int64)
    odd_lines = np.array([number for number, _ in odd], dtype=np.int64)
    regular = lines[~np.isin(lines, odd_lines)]
    repaired, problems = _repair(odd, delimiter, width)
    if not repaired:
        return table, regular, problems
    extra = pa.table({name: pa.array([cells[i] for _, cells in repaired], pa.string()) for i, name in enumerate(names)})
    numbers = np.concatenate([regular, np.array([number for number, _ in repaired], dtype=np.int64)])
    order = np.argsort(numbers, kind="stable")
    return pa.concat_tables([table, extra]).take(pa.array(order)), numbers[order], problems


def _arrow_csv(body: str, delimiter: str, names: list[str], odd: list[tuple[int, str]]) -> pa.Table:
    def invalid(row: pa_csv.InvalidRow) -> str:
        odd.append((int(row.number or 0), row.text))
        return "skip"

    try:
        return pa_csv.read_csv(
            io.BytesIO(body.encode("utf-8")),
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, ignore_empty_lines=False, invalid_row_handler=invalid
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError) as exc:
        raise UnreadableMarketFile(f"the CSV file could not be read: {str(exc)[:200]}") from exc


def _empty_table(names: list[str]) -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in names})


def _repair(
    odd: list[tuple[int, str]], delimiter: str, width: int
) -> tuple[list[tuple[int, list[str]]], dict[int, str]]:
    """Records for the lines whose cell count differs from the header's (see :func:`_split_lines`); blank
    lines are left out."""
    repaired: list[tuple[int, list[str]]] = []
    problems: dict[int, str] = {}
    for number, line in odd:
        cells = next(csv.reader([line], delimiter=delimiter), [])
        if not any(cell.strip() for cell in cells):
            continue
        if any(cell.strip() for cell in cells[width:]):
            problems[number] = (
                f"the line has {len(cells)} cells but the header {width} (a value with an unquoted delimiter?)"
            )
            cells = []
        repaired.append((number, (cells + [""] * width)[:width]))
    return repaired, problems


def _blank_rows(table: pa.Table) -> np.ndarray:
    """Records whose every cell is empty or whitespace (blank lines, lines of bare delimiters); the later
    columns are only looked at where the earlier ones were blank."""
    blank = np.ones(table.num_rows, dtype=bool)
    for column in table.columns:
        candidates = np.flatnonzero(blank)
        if candidates.size == 0:
            break
        cells = column.take(pa.array(candidates)) if candidates.size < blank.size else column
        blank[candidates] = pc.equal(pc.utf8_trim_whitespace(cells), "").to_numpy(zero_copy_only=False)
    return blank


def _refuse_line_breaks(cells: Mapping[str, pa.ChunkedArray], rows: np.ndarray) -> None:
    for column in cells.values():
        broken = pc.or_(pc.match_substring(column, "\n"), pc.match_substring(column, "\r"))
        broken_rows = pc.fill_null(broken, False).to_numpy(zero_copy_only=False)
        if broken_rows.any():
            raise UnreadableMarketFile(
                f"row {int(rows[np.argmax(broken_rows)]):,} has a quoted cell spanning lines (an unclosed quote?)"
            )


# --- Parquet -----------------------------------------------------------------------------------------------


def _read_parquet(data: bytes, *, default_symbol: str | None, max_rows: int) -> _RawColumns:
    """Only the mapped columns are read; numbers, dates and timestamps stay typed."""
    try:
        file = pq.ParquetFile(pa.BufferReader(data))
        names = list(file.schema_arrow.names)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableMarketFile(f"the Parquet file could not be read: {str(exc)[:200]}") from exc
    mapping = map_columns(names)
    _require_symbol(mapping, default_symbol)
    _check_row_count(file.metadata.num_rows, max_rows)
    wanted = sorted(set(mapping.values()))
    try:
        table = file.read(columns=[names[position] for position in wanted])
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableMarketFile(f"the Parquet file could not be read: {str(exc)[:200]}") from exc
    by_position = {position: _decoded(table.column(index)) for index, position in enumerate(wanted)}
    cells = {column: by_position[position] for column, position in mapping.items()}
    return _RawColumns(cells=cells, rows=np.arange(1, table.num_rows + 1, dtype=np.int64))


def _decoded(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary-encoded column as plain values."""
    if not pa.types.is_dictionary(column.type):
        return column
    return pa.chunked_array([chunk.dictionary_decode() for chunk in column.chunks], type=column.type.value_type)


# --- typing the cells --------------------------------------------------------------------------------------


def _assemble(raw: _RawColumns, default_symbol: str | None) -> ParsedBars:
    """The output frame and each row's first problem: splitting the line, then the date, then the numbers in
    output order."""
    problems = dict(raw.problems)
    count = len(raw.rows)
    columns: dict[str, object] = {"row": raw.rows, "symbol": _symbols(raw.cells.get("symbol"), default_symbol, count)}
    dates, bad = parse_dates(raw.cells["date"])
    _note_bad(problems, raw, "date", bad, "is not a date in a recognised format")
    columns["date"] = dates
    for column in NUMERIC_COLUMNS:
        if column not in raw.cells:
            columns[column] = np.full(count, np.nan)
            continue
        values, bad = parse_numbers(raw.cells[column])
        _note_bad(problems, raw, column, bad, "is not a number")
        columns[column] = values
    return ParsedBars(
        frame=pd.DataFrame(columns, columns=list(OUTPUT_COLUMNS)), problems=dict(sorted(problems.items()))
    )


def _note_bad(problems: dict[int, str], raw: _RawColumns, column: str, bad: np.ndarray, what: str) -> None:
    if not bad.any():
        return
    values = raw.cells[column].take(pa.array(np.flatnonzero(bad))).to_pylist()
    for row, value in zip(raw.rows[bad].tolist(), values, strict=True):
        problems.setdefault(row, f"{column} {str(value).strip()[:_PROBLEM_VALUE_CHARS]!r} {what}")


def _symbols(cells: pa.ChunkedArray | None, default_symbol: str | None, count: int) -> pd.Series:
    """Stripped and upper-cased symbols; blank cells (and every row without a symbol column) take
    ``default_symbol``. Normalised per distinct value, so a file of few symbols costs little."""
    if cells is None:
        return pd.Series(np.full(count, default_symbol, dtype=object), dtype=object)
    codes, uniques = pd.factorize(pd.Series(cells.to_numpy(zero_copy_only=False), dtype=object), use_na_sentinel=True)
    texts = [str(value).strip().upper() for value in uniques.tolist()]
    normalised = np.array([text or default_symbol for text in texts] + [default_symbol], dtype=object)
    return pd.Series(normalised[codes], dtype=object)


def _texts(cells: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Cells as stripped text, and which of them are missing (null, empty or a :data:`MISSING_TOKENS` text)."""
    if not (pa.types.is_string(cells.type) or pa.types.is_large_string(cells.type)):
        try:
            cells = cells.cast(pa.string())
        except (pa.ArrowException, NotImplementedError) as exc:
            raise UnreadableMarketFile(f"a column of type {cells.type} cannot be read as bars") from exc
    text = pc.utf8_trim_whitespace(cells)
    missing = pc.fill_null(pc.is_in(pc.utf8_lower(text), value_set=_MISSING_SET), True)
    return text, missing


def parse_numbers(cells: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Cells as float64, and which were present but unreadable (NaN, to be reported).

    Accepted beyond plain numbers: surrounding spaces, a leading currency sign (``$182.52``, ``-$1.5``) and
    comma thousands separators in groups of three (``1,234.50``, ``12,345,678``; ``182,52`` is refused rather
    than read as 18,252). Missing cells (:data:`MISSING_TOKENS`) are NaN without a problem. Numeric Parquet
    columns are cast as they are.
    """
    kind = cells.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        values = cells.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64), np.zeros(len(cells), dtype=bool)
    text, missing = _texts(cells)
    present = pc.if_else(missing, pa.scalar(None, pa.string()), text)
    try:
        numbers = pc.cast(present, pa.float64())
    except pa.ArrowInvalid:
        numbers = _lenient_numbers(present)
    values = np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)
    return values, np.isnan(values) & ~missing.to_numpy(zero_copy_only=False)


def _lenient_numbers(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """Numbers with a currency sign or thousands separators cleaned; anything else unreadable is null."""
    cleaned = pc.replace_substring_regex(text, _CURRENCY_PREFIX, "\\1")
    grouped = pc.fill_null(pc.match_substring_regex(cleaned, _GROUPED_NUMBER), False)
    cleaned = pc.if_else(grouped, pc.replace_substring(cleaned, ",", ""), cleaned)
    plain = pc.fill_null(pc.match_substring_regex(cleaned, _PLAIN_NUMBER), False)
    return pc.cast(pc.if_else(plain, cleaned, pa.scalar(None, pa.string())), pa.float64())


def parse_dates(cells: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray]:
    """Cells as datetime64[ns] at midnight (NaT when missing), and which were present but unreadable.

    Timestamps with a zone are converted to UTC before the date is taken; naive ones are taken as written.
    Text is parsed with the one format (of :data:`_DATE_FORMATS`) that reads most of a sample of the column;
    slash dates are month-first unless a value's first part exceeds 12. Integers read as ``YYYYMMDD``. Dates
    outside 1678 to 2261 (what datetime64[ns] holds) are unreadable.
    """
    kind = cells.type
    if pa.types.is_date(kind):
        cells, kind = cells.cast(pa.timestamp("ms")), pa.timestamp("ms")
    if pa.types.is_timestamp(kind):
        stamps = pd.Series(cells.to_pandas())
        stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps
        return _midnights(stamps, np.zeros(len(cells), dtype=bool))
    arrow_text, arrow_missing = _texts(cells)
    text = pd.Series(arrow_text.to_numpy(zero_copy_only=False), dtype=object)
    missing = arrow_missing.to_numpy(zero_copy_only=False)
    chosen = _best_format(text[~missing])
    stamps = _to_datetime(text, missing, chosen)
    failed = stamps.isna().to_numpy() & ~missing
    if chosen in _DAY_FIRST and failed.any() and _any_day_first(text[failed]):
        stamps = _to_datetime(text, missing, _DAY_FIRST[chosen])
        failed = stamps.isna().to_numpy() & ~missing
    return _midnights(stamps, failed)


def _best_format(present: pd.Series) -> str:
    if present.empty:
        return _DATE_FORMATS[0]
    picks = np.unique(np.linspace(0, len(present) - 1, min(len(present), _DATE_SAMPLE)).astype(np.int64))
    sample = present.iloc[picks]
    counts = [_to_datetime(sample, None, candidate).notna().sum() for candidate in _DATE_FORMATS]
    return _DATE_FORMATS[int(np.argmax(counts))]


def _to_datetime(text: pd.Series, missing: np.ndarray | None, date_format: str) -> pd.Series:
    values = text if missing is None else text.where(~missing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return pd.to_datetime(values, format=date_format, errors="coerce", utc=True)


def _any_day_first(failed: pd.Series) -> bool:
    first = pd.to_numeric(failed.astype(str).str.extract(_SLASH_DATE_START, expand=False), errors="coerce")
    return bool((first > 12).any())


def _midnights(stamps: pd.Series, failed: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """UTC timestamps as naive datetime64[ns] midnights; those datetime64[ns] cannot hold become failures."""
    days = stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    low, high = np.datetime64(pd.Timestamp.min.ceil("D").date()), np.datetime64(pd.Timestamp.max.floor("D").date())
    out_of_range = ~np.isnat(days) & ((days < low) | (days > high))
    days[out_of_range] = np.datetime64("NaT")
    return pd.Series(days.astype("datetime64[ns]")), failed | out_of_range
