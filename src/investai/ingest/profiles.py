"""Table cells made JSON-safe, column types inferred, and the statistics of each column.

Every parser hands its tables through here so that CSV, XLSX, PDF and JSON tables look alike downstream:
cells are ``str``, ``int``, finite ``float``, ``bool`` or ``None`` (dates as ISO strings), headers are
unique non-empty names, and each column carries a :class:`ColumnProfile`.

pandas is imported inside the functions that use it: importing this package must stay cheap, and the PDF
worker process (whose address space is capped) imports the package but never profiles anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from investai.domain.knowledge import ColumnProfile

if TYPE_CHECKING:
    import pandas as pd

JsonCell = str | int | float | bool | None

_INTEGER = re.compile(r"[+-]?(?:0|[1-9]\d{0,17})")
"""Integers without leading zeros (``007`` is an identifier, not seven) that fit in 64 bits."""
_FLOAT = re.compile(r"[+-]?(?:(?:0|[1-9]\d{0,17})(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
"""Decimal numbers under the same rules; longer digit strings are identifiers, kept as text."""
_BOOLEAN = {"true": True, "false": False}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?")


def normalise_cell(value: Any, *, max_chars: int) -> JsonCell:
    """One cell as a JSON-safe value: NaN and infinities become ``None``, dates ISO strings, long text is
    cut to ``max_chars``; anything unexpected is rendered as text rather than trusted."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    text = value if isinstance(value, str) else str(value)
    text = text.replace("\x00", "")
    return text[:max_chars]


def header_names(raw: Sequence[Any], width: int, *, max_chars: int = 255) -> list[str]:
    """``width`` unique, non-empty column names from a header row: blanks become ``column_N`` and repeats
    get a ``_2``, ``_3`` suffix, so a column is always addressable by its name."""
    names: list[str] = []
    seen: set[str] = set()
    for position in range(width):
        cell = raw[position] if position < len(raw) else None
        text = " ".join(str(normalise_cell(cell, max_chars=max_chars) or "").split())
        base = text or f"column_{position + 1}"
        name, suffix = base, 2
        while name in seen:
            name, suffix = f"{base}_{suffix}", suffix + 1
        seen.add(name)
        names.append(name)
    return names


def is_blank_row(row: Sequence[Any]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in row)


def pad_rows(rows: list[list[Any]], width: int) -> list[list[Any]]:
    """Ragged rows cut or padded with ``None`` to ``width`` cells."""
    return [row[:width] + [None] * (width - len(row)) if len(row) != width else row for row in rows]


def type_text_columns(rows: list[list[Any]], width: int) -> list[list[Any]]:
    """Rows whose cells were read as text (CSV, PDF tables) with each column converted to its inferred
    type: ``"6.1"`` becomes ``6.1`` when the whole column is numeric. Empty strings become ``None``."""
    columns = [_column_values(rows, position) for position in range(width)]
    typed = [_infer(values)[1] for values in columns]
    return [list(cells) for cells in zip(*typed, strict=True)] if rows else []


def profile_columns(header: list[str], rows: list[list[Any]]) -> list[ColumnProfile]:
    """The inferred type (integer, float, boolean, date, datetime or string) and statistics of each column.

    Text cells are parsed (``"3"`` counts as an integer) so a profile does not depend on whether the source
    stored numbers or their text. Numeric columns get min, max, mean and sample standard deviation (``None``
    for fewer than two values); date and string columns get their lexicographic min and max (ISO dates sort
    correctly); booleans get no statistics. Empty strings and ``None`` count as nulls.
    """
    profiles = []
    for position, name in enumerate(header):
        values = _column_values(rows, position)
        dtype, typed = _infer(values)
        present = [value for value in typed if value is not None]
        profiles.append(
            ColumnProfile(
                name=name,
                dtype=dtype,
                count=len(present),
                nulls=len(typed) - len(present),
                distinct=len(set(present)),
                **_statistics(dtype, present),
            )
        )
    return profiles


def _column_values(rows: list[list[Any]], position: int) -> list[Any]:
    values = [row[position] if position < len(row) else None for row in rows]
    return [None if isinstance(value, str) and not value.strip() else value for value in values]


def _infer(values: list[Any]) -> tuple[str, list[Any]]:
    """The column's type and its cells converted to that type (``None`` stays ``None``)."""
    present = [value for value in values if value is not None]
    if not present:
        return "string", values
    if all(isinstance(value, bool) for value in present):
        return "boolean", values
    if all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        return "integer", values
    if all(isinstance(value, int | float) and not isinstance(value, bool) for value in present):
        return "float", [None if value is None else float(value) for value in values]
    if not all(isinstance(value, str) for value in present):
        return "string", [None if value is None else str(value) for value in values]
    return _infer_text(values, present)


def _infer_text(values: list[Any], present: list[str]) -> tuple[str, list[Any]]:
    import pandas as pd

    series = pd.Series([value.strip() for value in present], dtype="string")
    lowered = series.str.lower()
    if bool(lowered.isin(list(_BOOLEAN)).all()):
        return "boolean", _convert(values, lambda text: _BOOLEAN[text.strip().lower()])
    if bool(series.str.fullmatch(_INTEGER.pattern).all()):
        return "integer", _convert(values, lambda text: int(text.strip()))
    if bool(series.str.fullmatch(_FLOAT.pattern).all()):
        return "float", _convert(values, _finite_float)
    for dtype, pattern in (("date", _DATE), ("datetime", _DATETIME)):
        if bool(series.str.fullmatch(pattern.pattern).all()) and _all_parse_as_dates(series):
            return dtype, _convert(values, str.strip)
    return "string", values


def _all_parse_as_dates(series: pd.Series) -> bool:
    """The shape matched; this rules out impossible dates such as 2024-13-45."""
    import pandas as pd

    parsed = pd.to_datetime(series, format="ISO8601", errors="coerce", utc=True)
    return not bool(parsed.isna().any())


def _finite_float(text: str) -> float | None:
    number = float(text.strip())
    return number if math.isfinite(number) else None


def _convert(values: list[Any], convert: Callable[[str], Any]) -> list[Any]:
    return [None if value is None else convert(value) for value in values]


def _statistics(dtype: str, present: list[Any]) -> dict[str, Any]:
    if not present or dtype == "boolean":
        return {}
    if dtype in ("integer", "float"):
        import pandas as pd

        numbers = pd.Series([_as_float(value) for value in present], dtype="float64").dropna()
        if numbers.empty:
            return {}
        deviation = float(numbers.std(ddof=1)) if len(numbers) > 1 else math.nan
        return {
            "min": float(numbers.min()),
            "max": float(numbers.max()),
            "mean": _finite_or_none(float(numbers.mean())),
            "std": _finite_or_none(deviation),
        }
    texts = [str(value) for value in present]
    return {"min": min(texts), "max": max(texts)}


def _as_float(value: int | float) -> float:
    """Integers too large for a float (JSON allows them) are left out of the statistics, not an error."""
    try:
        return float(value)
    except OverflowError:
        return math.nan


def _finite_or_none(number: float) -> float | None:
    return number if math.isfinite(number) else None
