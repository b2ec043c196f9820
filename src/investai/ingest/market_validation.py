"""Validation of bar and quote rows before they reach the time-series store, and their Arrow batches.

Every submitted row ends up either accepted or rejected with one reason, the first rule it breaks; nothing is
dropped silently. Rules that concern one row are checked column-wise over the whole batch with numpy; the
rules that concern the batch (duplicates, date order) are checked among the rows still valid after the row
rules. Symbols are checked once per distinct value, so a batch of a million rows of a few symbols is cheap.

Bar rules, in order (prices in the symbol's currency, volume in shares):

1. a problem the file reader had with the row (an unreadable number or date);
2. the symbol is missing or not a ticker (:data:`~investai.domain.market.TICKER_PATTERN`, after stripping and
   upper-casing);
3. the date is missing, after ``today``, or before 1678-01-01 (the earliest datetime64[ns] holds);
4. close missing; any price not finite or not positive; volume not finite or negative (open, high, low,
   adjusted close and volume may be missing);
5. high below low; close or open above high or below low (each bound checked when present);
6. an unknown symbol, unless symbols are created automatically;
7. several rows for one (symbol, date): all of them, since which is right cannot be known;
8. dates out of order: per symbol, in file order, dates must be strictly monotonic, ascending or descending
   (vendors such as Nasdaq export newest first), the direction taken from the majority of consecutive steps.
   The fewest rows that restore the order are rejected (a longest monotonic run of dates is kept, the earlier
   row on a tie), the rest accepted.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from investai.domain.market import TICKER_PATTERN, RejectedRow
from investai.ports.market import BAR_SCHEMA, QUOTE_SCHEMA

__all__ = [
    "BAR_INPUT_COLUMNS",
    "QUOTE_INPUT_COLUMNS",
    "BarValidation",
    "QuoteValidation",
    "bars_table",
    "quotes_table",
    "validate_bars",
    "validate_quotes",
]

BAR_INPUT_COLUMNS = ("row", "symbol", "date", "open", "high", "low", "close", "adj_close", "volume")
BAR_ACCEPTED_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "row")
QUOTE_INPUT_COLUMNS = ("row", "symbol", "timestamp", "price", "size", "bid", "ask", "source")
QUOTE_ACCEPTED_COLUMNS = ("symbol", "timestamp", "price", "size", "bid", "ask", "source", "row")

DEFAULT_QUOTE_SOURCE = "api"
MAX_SOURCE_CHARS = 64
_EARLIEST_DAY = np.datetime64("1678-01-01", "D")
_VALUE_CHARS = 40
_LISTED_DUPLICATES = 10
_NO_SYMBOL = -1
_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class BarValidation:
    """``accepted``: the valid rows, columns :data:`BAR_ACCEPTED_COLUMNS` (symbol normalised, date
    datetime64[ns] at midnight), sorted by symbol then date. ``rejected``: the others, by row.
    ``new_symbols``: accepted symbols not yet in the master (only with ``auto_create``), sorted."""

    accepted: pd.DataFrame
    rejected: list[RejectedRow]
    new_symbols: list[str]


@dataclass(frozen=True)
class QuoteValidation:
    """``accepted``: the valid quotes, columns :data:`QUOTE_ACCEPTED_COLUMNS` (timestamp UTC, kept to the
    microsecond), sorted by symbol then timestamp. ``rejected``: the others, by row. ``new_symbols``: as for
    bars."""

    accepted: pd.DataFrame
    rejected: list[RejectedRow]
    new_symbols: list[str]


class _Verdicts:
    """Each row's fate: valid until a rule rejects it, with the first rule's reason."""

    def __init__(self, size: int) -> None:
        self.valid = np.ones(size, dtype=bool)
        self.reasons = np.full(size, None, dtype=object)

    def reject(self, mask: np.ndarray, reason: str | Callable[[np.ndarray], list[str]]) -> None:
        """Reject the still-valid rows in ``mask``; ``reason`` is a text, or builds one per row position."""
        index = np.flatnonzero(mask & self.valid)
        if index.size == 0:
            return
        self.reasons[index] = reason if isinstance(reason, str) else reason(index)
        self.valid[index] = False


_Describe = Callable[[np.ndarray], list[str]]
"""Turns int64 moments (days or microseconds since the epoch) into text."""


@dataclass(frozen=True)
class _Symbols:
    """The symbol column factorised. ``raw_codes`` index ``raw_texts`` (as given, stripped; -1 where
    missing); ``codes`` index ``names`` (normalised tickers; -1 where missing or not a ticker)."""

    codes: np.ndarray
    names: np.ndarray
    raw_codes: np.ndarray
    raw_texts: np.ndarray


# --- bars --------------------------------------------------------------------------------------------------


def validate_bars(
    frame: pd.DataFrame,
    *,
    problems: Mapping[int, str] | None = None,
    known_symbols: set[str],
    today: date,
    auto_create: bool,
) -> BarValidation:
    """Split bar rows (columns :data:`BAR_INPUT_COLUMNS`; the optional price and volume columns may be
    absent) into accepted and rejected by the rules of this module. ``problems`` maps row numbers to reasons
    found while reading the rows; ``known_symbols`` holds the master's (upper-case) symbols."""
    rows = _row_numbers(frame)
    verdicts = _Verdicts(len(frame))
    _reject_problems(verdicts, rows, problems)
    symbols = _factorise_symbols(frame, verdicts)
    days = _day_values(frame["date"]) if "date" in frame.columns else np.full(len(frame), np.datetime64("NaT", "D"))
    _check_dates(verdicts, days, today)
    prices = {column: _floats(frame, column) for column in ("open", "high", "low", "close", "adj_close", "volume")}
    _check_prices(verdicts, prices)
    _check_ranges(verdicts, prices)
    _check_known(verdicts, symbols, known_symbols, auto_create)
    day_numbers = days.astype(np.int64)
    _check_duplicates(verdicts, symbols, day_numbers, rows, _day_strings)
    _check_order(verdicts, symbols, day_numbers, rows)
    accepted = _bar_frame(verdicts.valid, symbols, days, prices, rows)
    return BarValidation(
        accepted=accepted,
        rejected=_rejections(verdicts, rows, symbols, lambda index: _optional_days(days[index])),
        new_symbols=_new_symbols(accepted["symbol"], known_symbols),
    )


def _row_numbers(frame: pd.DataFrame) -> np.ndarray:
    if "row" not in frame.columns:
        return np.arange(1, len(frame) + 1, dtype=np.int64)
    rows: np.ndarray = frame["row"].to_numpy(dtype=np.int64)
    return rows


def _reject_problems(verdicts: _Verdicts, rows: np.ndarray, problems: Mapping[int, str] | None) -> None:
    if not problems:
        return
    flagged = np.isin(rows, np.fromiter(problems.keys(), dtype=np.int64, count=len(problems)))
    verdicts.reject(flagged, lambda index: [problems[row].strip() for row in rows[index].tolist()])


def _factorise_symbols(frame: pd.DataFrame, verdicts: _Verdicts) -> _Symbols:
    """Normalise and check each distinct symbol once; reject rows whose symbol is missing or not a ticker."""
    column = frame["symbol"] if "symbol" in frame.columns else pd.Series(np.full(len(frame), None), dtype=object)
    raw_codes, raw_uniques = pd.factorize(column.astype(object), use_na_sentinel=True)
    given = pd.Series(raw_uniques, dtype=object).map(str).str.strip()
    texts = given.str.upper()
    is_ticker = texts.str.fullmatch(TICKER_PATTERN).to_numpy(dtype=bool)
    name_codes, names = pd.factorize(texts.where(is_ticker, None).astype(object), use_na_sentinel=True)
    codes = np.append(np.asarray(name_codes, dtype=np.int64), _NO_SYMBOL)[raw_codes]
    raw_texts = given.str.slice(0, _VALUE_CHARS).str.strip().to_numpy(dtype=object)
    blank = np.append((given == "").to_numpy(dtype=bool), True)[raw_codes]
    verdicts.reject(blank, "symbol is missing")
    verdicts.reject(
        codes < 0, lambda index: [f"symbol {raw_texts[c]!r} is not a valid ticker" for c in raw_codes[index]]
    )
    return _Symbols(codes=codes, names=np.asarray(names, dtype=object), raw_codes=raw_codes, raw_texts=raw_texts)


def _day_values(column: pd.Series) -> np.ndarray:
    """Dates as datetime64[D] (NaT where missing); timestamps with a zone are taken in UTC."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        stamps = column
    else:
        stamps = pd.to_datetime(column.astype(object), utc=True)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    days: np.ndarray = stamps.to_numpy().astype("datetime64[D]")
    return days


def _check_dates(verdicts: _Verdicts, days: np.ndarray, today: date) -> None:
    verdicts.reject(np.isnat(days), "date is missing")
    future = days > np.datetime64(today, "D")
    verdicts.reject(future, lambda index: [f"date {text} is in the future" for text in _day_strings(days[index])])
    early = days < _EARLIEST_DAY
    verdicts.reject(early, lambda index: [f"date {text} is before 1678-01-01" for text in _day_strings(days[index])])


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    values: np.ndarray = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _check_prices(verdicts: _Verdicts, prices: Mapping[str, np.ndarray]) -> None:
    """Rule 4: close present; every present value finite; prices positive, volume not negative."""
    verdicts.reject(np.isnan(prices["close"]), "close is missing")
    for column in ("close", "open", "high", "low", "adj_close", "volume"):
        _check_positive(verdicts, column, prices[column], allow_zero=column == "volume")


def _check_positive(verdicts: _Verdicts, column: str, values: np.ndarray, *, allow_zero: bool) -> None:
    verdicts.reject(np.isinf(values), lambda index: [f"{column} {v} is not finite" for v in values[index].tolist()])
    if allow_zero:
        verdicts.reject(values < 0, lambda index: [f"{column} {v} is negative" for v in values[index].tolist()])
    else:
        verdicts.reject(values <= 0, lambda index: [f"{column} {v} is not positive" for v in values[index].tolist()])


def _check_ranges(verdicts: _Verdicts, prices: Mapping[str, np.ndarray]) -> None:
    """Rule 5 (comparisons with a missing value are false, so absent bounds are not checked)."""
    high, low = prices["high"], prices["low"]
    verdicts.reject(high < low, _pair_message("high {} is below low {}", high, low))
    for column in ("close", "open"):
        values = prices[column]
        verdicts.reject(values > high, _pair_message(column + " {} is above high {}", values, high))
        verdicts.reject(values < low, _pair_message(column + " {} is below low {}", values, low))


def _pair_message(template: str, first: np.ndarray, second: np.ndarray) -> Callable[[np.ndarray], list[str]]:
    def build(index: np.ndarray) -> list[str]:
        return [template.format(a, b) for a, b in zip(first[index].tolist(), second[index].tolist(), strict=True)]

    return build


def _check_known(verdicts: _Verdicts, symbols: _Symbols, known: set[str], auto_create: bool) -> None:
    if auto_create or symbols.names.size == 0:
        return
    unknown = np.append(np.array([name not in known for name in symbols.names.tolist()], dtype=bool), False)
    message = "unknown symbol {}: add it to the symbol master or import with auto-create"
    verdicts.reject(
        unknown[symbols.codes], lambda index: [message.format(symbols.names[c]) for c in symbols.codes[index]]
    )


def _check_duplicates(
    verdicts: _Verdicts, symbols: _Symbols, moments: np.ndarray, rows: np.ndarray, describe: _Describe
) -> None:
    """Rule 7: every still-valid row whose (symbol, moment) another still-valid row shares. ``moments`` are
    int64 (days or microseconds), ``describe`` turns some of them into text."""
    index = np.flatnonzero(verdicts.valid)
    if index.size < 2:
        return
    order = index[np.lexsort((rows[index], moments[index], symbols.codes[index]))]
    codes, times = symbols.codes[order], moments[order]
    same_as_next = (codes[1:] == codes[:-1]) & (times[1:] == times[:-1])
    duplicated = np.append(same_as_next, False) | np.append(False, same_as_next)
    if not duplicated.any():
        return
    members = order[duplicated]
    starts = ~np.append(False, same_as_next)[duplicated]
    reasons = _duplicate_reasons(members, starts, symbols, moments, rows, describe)
    mask = np.zeros(verdicts.valid.size, dtype=bool)
    mask[members] = True
    verdicts.reject(mask, lambda found: [reasons[i] for i in found.tolist()])


def _duplicate_reasons(
    members: np.ndarray,
    starts: np.ndarray,
    symbols: _Symbols,
    moments: np.ndarray,
    rows: np.ndarray,
    describe: _Describe,
) -> dict[int, str]:
    """One text per group of rows sharing a key (``members`` sorted by key then row, ``starts`` marking each
    group's first member), naming the group's rows."""
    bounds = [*np.flatnonzero(starts).tolist(), members.size]
    firsts = members[bounds[:-1]]
    whens = describe(moments[firsts])
    reasons: dict[int, str] = {}
    for start, end, when in zip(bounds[:-1], bounds[1:], whens, strict=True):
        group = members[start:end]
        listed = ", ".join(str(row) for row in rows[group[:_LISTED_DUPLICATES]].tolist())
        more = f" and {group.size - _LISTED_DUPLICATES} more" if group.size > _LISTED_DUPLICATES else ""
        symbol = symbols.names[symbols.codes[group[0]]]
        reasons.update(dict.fromkeys(group.tolist(), f"duplicate of rows {listed}{more} for {symbol} on {when}"))
    return reasons


def _check_order(verdicts: _Verdicts, symbols: _Symbols, days: np.ndarray, rows: np.ndarray) -> None:
    """Rule 8, on the still-valid rows grouped by symbol in row order (see the module docstring)."""
    index = np.flatnonzero(verdicts.valid)
    if index.size < 2:
        return
    order = index[np.lexsort((rows[index], symbols.codes[index]))]
    group = np.cumsum(np.append(True, symbols.codes[order][1:] != symbols.codes[order][:-1])) - 1
    values = _ascending_values(days[order], group)
    same = group[1:] == group[:-1]
    if not (same & (values[1:] <= values[:-1])).any():
        return
    kept = _kept_in_order(values, group)
    if kept.all():
        return
    messages = _order_messages(kept, values, group, days[order], rows[order])
    mask = np.zeros(verdicts.valid.size, dtype=bool)
    mask[order[~kept]] = True
    reasons = dict(zip(order[~kept].tolist(), messages, strict=True))
    verdicts.reject(mask, lambda found: [reasons[i] for i in found.tolist()])


def _ascending_values(days: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The days, negated in the groups whose consecutive steps are mostly descending (ties: ascending)."""
    same = group[1:] == group[:-1]
    steps = np.sign(days[1:] - days[:-1])[same]
    count = int(group[-1]) + 1
    up = np.bincount(group[1:][same], weights=steps > 0, minlength=count)
    down = np.bincount(group[1:][same], weights=steps < 0, minlength=count)
    return np.where((down > up)[group], -days, days)


def _kept_in_order(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Which elements a longest strictly increasing subsequence per group keeps. An element above every
    earlier one and below every later one of its group is in every such subsequence, so the search only runs
    over the others."""
    span = int(values.max() - values.min()) + 1
    shifted = (values - values.min()) + group * span
    before = np.append(np.iinfo(np.int64).min, np.maximum.accumulate(shifted)[:-1])
    after = np.append(np.minimum.accumulate(shifted[::-1])[::-1][1:], np.iinfo(np.int64).max)
    first = np.append(True, group[1:] != group[:-1])
    last = np.append(group[1:] != group[:-1], True)
    kept: np.ndarray = (first | (before < shifted)) & (last | (shifted < after))
    disputed = np.flatnonzero(~kept)
    bounds = np.flatnonzero(np.append(True, group[disputed][1:] != group[disputed][:-1]))
    for members in np.split(disputed, bounds[1:]):
        kept[members[_longest_increasing(values[members].tolist())]] = True
    return kept


def _longest_increasing(values: list[int]) -> list[int]:
    """Positions of a longest strictly increasing subsequence of ``values``, preferring earlier elements
    (patience sorting over the reversed, negated sequence)."""
    tails: list[int] = []
    tail_at: list[int] = []
    previous = [-1] * len(values)
    for position, value in enumerate(-v for v in reversed(values)):
        slot = bisect_left(tails, value)
        if slot == len(tails):
            tails.append(value)
            tail_at.append(position)
        else:
            tails[slot], tail_at[slot] = value, position
        previous[position] = tail_at[slot - 1] if slot else -1
    chain: list[int] = []
    position = tail_at[-1] if tail_at else -1
    while position >= 0:
        chain.append(len(values) - 1 - position)
        position = previous[position]
    return chain


def _order_messages(
    kept: np.ndarray, values: np.ndarray, group: np.ndarray, days: np.ndarray, rows: np.ndarray
) -> list[str]:
    """For each dropped element: the kept neighbour it conflicts with, the previous one of its group when
    that is not earlier in the symbol's order, else the next one (one of the two always conflicts)."""
    positions = np.arange(kept.size)
    previous = np.maximum.accumulate(np.where(kept, positions, -1))
    following = np.minimum.accumulate(np.where(kept, positions, kept.size)[::-1])[::-1]
    dropped = np.flatnonzero(~kept)
    prev, nxt = previous[dropped], following[dropped]
    use_prev = (prev >= 0) & (group[np.maximum(prev, 0)] == group[dropped])
    use_prev &= values[np.maximum(prev, 0)] >= values[dropped]
    other = np.where(use_prev, prev, nxt)
    texts, other_texts = _day_strings(days[dropped]), _day_strings(days[other])
    words = np.where(use_prev, "after", "before").tolist()
    return [
        f"date {text} is out of order {word} {other_text} (row {row})"
        for text, word, other_text, row in zip(texts, words, other_texts, rows[other].tolist(), strict=True)
    ]


def _day_strings(days: np.ndarray) -> list[str]:
    return np.datetime_as_string(np.asarray(days, dtype="datetime64[D]")).tolist()  # type: ignore[no-any-return]


def _bar_frame(
    valid: np.ndarray, symbols: _Symbols, days: np.ndarray, prices: Mapping[str, np.ndarray], rows: np.ndarray
) -> pd.DataFrame:
    index = _sorted_valid(valid, symbols, days.astype(np.int64))
    columns: dict[str, object] = {
        "symbol": pd.Series(symbols.names[symbols.codes[index]], dtype=object),
        "date": pd.Series(days[index].astype("datetime64[ns]")),
    }
    columns.update({column: prices[column][index] for column in ("open", "high", "low", "close", "adj_close")})
    columns.update({"volume": prices["volume"][index], "row": rows[index]})
    return pd.DataFrame(columns, columns=list(BAR_ACCEPTED_COLUMNS))


def _sorted_valid(valid: np.ndarray, symbols: _Symbols, moments: np.ndarray) -> np.ndarray:
    """Positions of the valid rows by symbol (alphabetically) then moment."""
    index = np.flatnonzero(valid)
    rank = np.empty(symbols.names.size + 1, dtype=np.int64)
    rank[:-1] = np.argsort(np.argsort(symbols.names.astype(str))) if symbols.names.size else rank[:-1]
    rank[-1] = -1
    return index[np.lexsort((moments[index], rank[symbols.codes[index]]))]


def _new_symbols(accepted: pd.Series, known: set[str]) -> list[str]:
    return sorted(set(accepted.unique().tolist()) - known)


def _rejections(
    verdicts: _Verdicts, rows: np.ndarray, symbols: _Symbols, when: Callable[[np.ndarray], list[str | None]]
) -> list[RejectedRow]:
    """The rejected rows by row number, each with its symbol (as given when not a ticker) and date."""
    index = np.flatnonzero(~verdicts.valid)
    index = index[np.argsort(rows[index], kind="stable")]
    codes = symbols.codes[index]
    raw = symbols.raw_codes[index]
    named = _with_none(symbols.names)[codes].tolist()
    given = _with_none(symbols.raw_texts)[raw].tolist()
    return [
        RejectedRow(row=row, reason=reason, symbol=name or text or None, date=moment)
        for row, reason, name, text, moment in zip(
            rows[index].tolist(), verdicts.reasons[index].tolist(), named, given, when(index), strict=True
        )
    ]


def _with_none(values: np.ndarray) -> np.ndarray:
    """``values`` (objects) with ``None`` appended, so that index -1 reads as missing."""
    extended = np.empty(values.size + 1, dtype=object)
    extended[:-1] = values
    return extended


def _optional_days(days: np.ndarray) -> list[str | None]:
    texts: list[str | None] = list(_day_strings(days))
    return [None if text == "NaT" else text for text in texts]


# --- quotes ------------------------------------------------------------------------------------------------


def validate_quotes(
    frame: pd.DataFrame,
    *,
    problems: Mapping[int, str] | None = None,
    known_symbols: set[str],
    now: datetime,
    max_age: timedelta,
    max_skew: timedelta,
    auto_create: bool,
) -> QuoteValidation:
    """Split quote rows (columns :data:`QUOTE_INPUT_COLUMNS`; ``size``, ``bid``, ``ask`` and ``source`` may be
    absent) into accepted and rejected. Rules, in order: a reading problem; the symbol as for bars; the
    timestamp missing, later than ``now + max_skew`` or earlier than ``now - max_age``; price missing, not
    finite or not positive; size not finite or negative; bid or ask not finite or not positive; bid above
    ask; source longer than 64 characters (a missing source is ``"api"``); an unknown symbol unless
    ``auto_create``; several rows for one (symbol, timestamp), all rejected. Timestamps are UTC (naive ones
    are taken as UTC) and kept to the microsecond, the store's resolution."""
    rows = _row_numbers(frame)
    verdicts = _Verdicts(len(frame))
    _reject_problems(verdicts, rows, problems)
    symbols = _factorise_symbols(frame, verdicts)
    micros = _microseconds(frame["timestamp"]) if "timestamp" in frame.columns else np.full(len(frame), _NAT_US)
    _check_timestamps(verdicts, micros, _utc_micros(now, "now"), max_age=max_age, max_skew=max_skew)
    values = {column: _floats(frame, column) for column in ("price", "size", "bid", "ask")}
    _check_quote_values(verdicts, values)
    sources = _sources(frame, verdicts)
    _check_known(verdicts, symbols, known_symbols, auto_create)
    moments = micros.astype(np.int64)
    _check_duplicates(verdicts, symbols, moments, rows, _stamp_strings)
    index = _sorted_valid(verdicts.valid, symbols, moments)
    accepted = pd.DataFrame(
        {
            "symbol": pd.Series(symbols.names[symbols.codes[index]], dtype=object),
            "timestamp": pd.Series(micros[index].astype("datetime64[ns]")).dt.tz_localize(UTC),
            **{column: values[column][index] for column in ("price", "size", "bid", "ask")},
            "source": pd.Series(sources[index], dtype=object),
            "row": rows[index],
        },
        columns=list(QUOTE_ACCEPTED_COLUMNS),
    )
    rejected = _rejections(verdicts, rows, symbols, lambda found: _optional_stamps(micros[found]))
    return QuoteValidation(accepted, rejected, _new_symbols(accepted["symbol"], known_symbols))


_NAT_US = np.datetime64("NaT", "us")


def _utc_micros(moment: datetime, name: str) -> np.datetime64:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must carry a time zone")
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "us")


def _microseconds(column: pd.Series) -> np.ndarray:
    """Timestamps as naive UTC datetime64[us] (NaT where missing); naive input is taken as UTC."""
    stamps = pd.to_datetime(column if pd.api.types.is_datetime64_any_dtype(column.dtype) else column.astype(object))
    stamps = stamps.dt.tz_localize(UTC) if stamps.dt.tz is None else stamps.dt.tz_convert(UTC)
    micros: np.ndarray = stamps.dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    return micros


def _check_timestamps(
    verdicts: _Verdicts, micros: np.ndarray, now: np.datetime64, *, max_age: timedelta, max_skew: timedelta
) -> None:
    verdicts.reject(np.isnat(micros), "timestamp is missing")
    latest, earliest = now + np.timedelta64(max_skew, "us"), now - np.timedelta64(max_age, "us")
    ahead = f"is later than now plus the {_span(max_skew)} allowed for clock skew"
    verdicts.reject(micros > latest, lambda index: [f"timestamp {t} {ahead}" for t in _stamp_strings(micros[index])])
    old = f"is older than the {_span(max_age)} retention"
    verdicts.reject(micros < earliest, lambda index: [f"timestamp {t} {old}" for t in _stamp_strings(micros[index])])


def _span(delta: timedelta) -> str:
    """``7-day``, ``36-hour``, ``5-minute``, ``1.5-second``."""
    seconds = delta.total_seconds()
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}-{unit}"
    return f"{seconds:g}-second"


def _check_quote_values(verdicts: _Verdicts, values: Mapping[str, np.ndarray]) -> None:
    verdicts.reject(np.isnan(values["price"]), "price is missing")
    for column in ("price", "size", "bid", "ask"):
        _check_positive(verdicts, column, values[column], allow_zero=column == "size")
    bid, ask = values["bid"], values["ask"]
    verdicts.reject(bid > ask, _pair_message("bid {} is above ask {}", bid, ask))


def _sources(frame: pd.DataFrame, verdicts: _Verdicts) -> np.ndarray:
    """Each row's source, stripped; missing or blank is :data:`DEFAULT_QUOTE_SOURCE`, too long is rejected."""
    if "source" not in frame.columns:
        return np.full(len(frame), DEFAULT_QUOTE_SOURCE, dtype=object)
    codes, uniques = pd.factorize(frame["source"].astype(object), use_na_sentinel=True)
    texts = pd.Series(uniques, dtype=object).map(str).str.strip()
    texts = texts.where(texts != "", DEFAULT_QUOTE_SOURCE).to_numpy(dtype=object)
    texts = np.append(texts, DEFAULT_QUOTE_SOURCE)
    too_long = np.array([len(text) > MAX_SOURCE_CHARS for text in texts.tolist()], dtype=bool)
    message = f"is longer than {MAX_SOURCE_CHARS} characters"
    verdicts.reject(
        too_long[codes], lambda index: [f"source {texts[c][:_VALUE_CHARS]!r}… {message}" for c in codes[index]]
    )
    return texts[codes]  # type: ignore[no-any-return]


def _stamp_strings(micros: np.ndarray) -> list[str]:
    return np.datetime_as_string(np.asarray(micros, dtype="datetime64[us]"), unit="auto", timezone="UTC").tolist()  # type: ignore[no-any-return]


def _optional_stamps(micros: np.ndarray) -> list[str | None]:
    texts: list[str | None] = list(_stamp_strings(micros))
    return [None if text == "NaT" else text for text in texts]


# --- Arrow batches -----------------------------------------------------------------------------------------


def bars_table(accepted: pd.DataFrame, *, source: str, ingested_at: datetime, history: bool) -> pa.Table:
    """Accepted bars as a :data:`~investai.ports.market.BAR_SCHEMA` batch, every row from ``source``.

    ``available_at`` is ``ingested_at``; for a ``history`` load it is the end of the bar's own date (the next
    midnight, UTC) when that is earlier, as :mod:`investai.domain.market` explains.
    """
    ingested = _utc_micros(ingested_at, "ingested_at")
    days = _day_values(accepted["date"])
    available = np.full(len(accepted), ingested, dtype="datetime64[us]")
    if history:
        available = np.minimum(available, (days + _DAY).astype("datetime64[us]"))
    arrays = [
        pa.array(accepted["symbol"].astype(object).to_numpy(), type=pa.string(), from_pandas=True),
        pa.array(days, type=pa.date32()),
        *[_float_array(accepted[column]) for column in ("open", "high", "low", "close", "adj_close", "volume")],
        pa.repeat(pa.scalar(source, type=pa.string()), len(accepted)),
        pa.array(available, type=pa.timestamp("us", tz="UTC")),
    ]
    return _checked_table(arrays, BAR_SCHEMA)


def quotes_table(accepted: pd.DataFrame) -> pa.Table:
    """Accepted quotes as a :data:`~investai.ports.market.QUOTE_SCHEMA` batch (timestamps to the microsecond)."""
    arrays = [
        pa.array(accepted["symbol"].astype(object).to_numpy(), type=pa.string(), from_pandas=True),
        pa.array(_microseconds(accepted["timestamp"]), type=pa.timestamp("us", tz="UTC")),
        *[_float_array(accepted[column]) for column in ("price", "size", "bid", "ask")],
        pa.array(accepted["source"].astype(object).to_numpy(), type=pa.string(), from_pandas=True),
    ]
    return _checked_table(arrays, QUOTE_SCHEMA)


def _float_array(column: pd.Series) -> pa.Array:
    return pa.array(column.to_numpy(dtype=np.float64, na_value=np.nan), type=pa.float64(), from_pandas=True)


def _checked_table(arrays: list[pa.Array], schema: pa.Schema) -> pa.Table:
    """The table, refused with ``ValueError`` when a column the schema declares non-nullable holds a null."""
    for field, array in zip(schema, arrays, strict=True):
        if not field.nullable and array.null_count:
            raise ValueError(f"{array.null_count} rows have no {field.name}; only validated rows can be written")
    return pa.Table.from_arrays(arrays, schema=schema)
