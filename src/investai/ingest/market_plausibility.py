"""Plausibility of well-formed bars: the rules that hold a row in quarantine for review instead of storing it.

:mod:`investai.ingest.market_validation` rejects rows that cannot be bars at all (malformed). A well-formed row
can still be absurd: a price of 1e308 or a volume of 1e26 is a finite, positive number, and once stored it
replaces a real bar and wrecks every return, risk figure and idea computed from it. Such rows are *held*
(quarantined): kept with their reason for an administrator to release, correct or discard, never read as bars.

Rules, in order; a row is held for the first one it breaks (prices in the symbol's currency, moves as log
returns, so a rise and the fall that undoes it weigh the same):

1. a price (close, open, high, low, adjusted close) above ``max_price`` or below ``min_price``;
2. a volume above ``max_volume``;
3. an oversized change: a price of the bar already stored for the row's (symbol, date) changed by more than a
   factor of ``1 + max_correction`` either way (a larger change is an administrator's explicit correction);
4. a jump: the close, open, high or low against the previous close, or the adjusted close against the previous
   adjusted close, outside [ln(1 - max_daily_fall), ln(1 + max_daily_rise)] times the square root of the
   business days (Monday to Friday) between the two dates, at least one: a weekend is one trading day, and a
   week's gap allows a week's moves (volatility grows with the square root of time).

   The previous close is that of the last plausible bar before the row, stored or earlier in the batch: after
   a held row the next is measured against the last plausible close, and when a row replacing a stored bar is
   held, the stored version stays the reference. A stored bar that the batch leaves in place, following rows
   of the batch, is measured against them in turn: the last of them is held when the stored bar breaks the
   bounds against it, then the one before, and so on, so a backfill at the wrong scale in front of stored
   history is held rather than stored.

A row equal in every value to the stored bar of its date changes nothing and is never held (history stored
before these rules existed does not turn into held rows when its file is imported again). A symbol's first bar,
with nothing stored before it, is measured only by the limits and by the bars that follow it.

Rules 1 to 3 run column-wise over the batch. Rule 4 first measures every row against its predecessor as if
every row passed, which is exact when none breaks the bounds (the whole sample history in a fraction of a
second); only the symbols where some row breaks them are then walked row by row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from investai.domain.market import QuarantinedBar
from investai.ports.market import BAR_SCHEMA, QUARANTINE_SCHEMA

__all__ = [
    "PRICE_COLUMNS",
    "PlausibilityRules",
    "Screening",
    "held_bars_table",
    "held_table",
    "limit_reasons",
    "neighbour_spans",
    "screen_bars",
]

PRICE_COLUMNS = ("close", "open", "high", "low", "adj_close")
"""The price columns, in the order the rules report them."""
_MEASURED = ("close", "open", "high", "low")
"""Measured against the previous close (the adjusted close against the previous adjusted close)."""
_LABELS = {"adj_close": "adjusted close"}


@dataclass(frozen=True)
class PlausibilityRules:
    """Bounds of a plausible bar (see the module notes). The defaults pass every day of the bundled 1990-2022
    history (its largest one-day rise is +53.5%, its largest fall -66.8%) and the crash of October 1987 (-20.5%
    for the S&P 500), while holding a +60% day, a price of 1e308 and a volume of 1e26:

    ``max_daily_rise`` 0.55 and ``max_daily_fall`` 0.75: a large cap rarely moves this far in a day, and a day
    that does (a takeover, a collapse) waits for an administrator's release rather than being lost;
    ``max_correction`` 0.25: vendor restatements (adjusted closes after a dividend, a fixed print) are small;
    ``max_price`` 1e9 and ``min_price`` 1e-6: three orders of magnitude above the dearest share (BRK.A) and
    room for high-nominal currencies and low-priced tokens; ``max_volume`` 1e12 shares, ten times the shares
    outstanding of the largest companies.
    """

    max_daily_rise: float = 0.55
    max_daily_fall: float = 0.75
    max_correction: float = 0.25
    max_price: float = 1e9
    min_price: float = 1e-6
    max_volume: float = 1e12

    def __post_init__(self) -> None:
        problems = {
            "every bound must be finite": all(math.isfinite(value) for value in astuple(self)),
            "max_daily_rise must be positive": self.max_daily_rise > 0,
            "max_daily_fall must lie between 0 and 1": 0 < self.max_daily_fall < 1,
            "max_correction must be positive": self.max_correction > 0,
            "min_price must be positive and below max_price": 0 < self.min_price < self.max_price,
            "max_volume must be positive": self.max_volume > 0,
        }
        broken = [text for text, holds in problems.items() if not holds]
        if broken:
            raise ValueError(f"plausibility rules: {'; '.join(broken)}")

    @property
    def rise(self) -> float:
        """The largest one-day log move up."""
        return math.log1p(self.max_daily_rise)

    @property
    def fall(self) -> float:
        """The largest one-day log move down (negative)."""
        return math.log1p(-self.max_daily_fall)


@dataclass(frozen=True)
class Screening:
    """``plausible``: the rows to store (the columns of
    :data:`~investai.ingest.market_validation.BAR_ACCEPTED_COLUMNS`, in the order given). ``held``: the others
    with a ``reason`` column, by row number."""

    plausible: pd.DataFrame
    held: pd.DataFrame


class _Holds:
    """Each row's fate: plausible until a rule holds it, with the first rule's reason."""

    def __init__(self, size: int) -> None:
        self.open = np.ones(size, dtype=bool)
        self.reasons = np.full(size, None, dtype=object)

    def hold(self, mask: np.ndarray, reason: Callable[[np.ndarray], list[str]]) -> None:
        index = np.flatnonzero(mask & self.open)
        if index.size:
            self.reasons[index] = reason(index)
            self.open[index] = False

    def hold_one(self, position: int, reason: str) -> None:
        if self.open[position]:
            self.reasons[position] = reason
            self.open[position] = False


# --- the screen ------------------------------------------------------------------------------------------------


def screen_bars(accepted: pd.DataFrame, stored: pd.DataFrame, rules: PlausibilityRules) -> Screening:
    """Split validated bars (:func:`~investai.ingest.market_validation.validate_bars`'s accepted rows) into plausible
    and held ones. ``stored``: the current stored bars around them (columns
    :data:`~investai.ports.market.NEIGHBOUR_COLUMNS`, as :meth:`TimeSeriesStore.bar_neighbours` gives them)."""
    holds = _Holds(len(accepted))
    values = {column: _floats(accepted, column) for column in (*PRICE_COLUMNS, "volume")}
    days = _days(accepted["date"])
    found, current = _current_versions(accepted, days, stored)
    unchanged = found & np.logical_and.reduce(
        [(values[c] == current[c]) | (np.isnan(values[c]) & np.isnan(current[c])) for c in values]
    )
    holds.open &= ~unchanged  # an unchanged row is plausible by definition: set aside, restored below
    _check_limits(holds, values, rules)
    _check_changes(holds, values, current, found, rules)
    _check_jumps(holds, accepted, days, values, stored, rules)
    holds.open |= unchanged
    held = accepted.loc[~holds.open].assign(reason=holds.reasons[~holds.open])
    return Screening(
        plausible=accepted.loc[holds.open].reset_index(drop=True),
        held=held.sort_values("row", kind="stable").reset_index(drop=True),
    )


def neighbour_spans(accepted: pd.DataFrame) -> list[tuple[str, date, date]]:
    """(symbol, first date, last date) of each symbol of a validated batch: what to ask the store for."""
    if accepted.empty:
        return []
    spans = accepted.groupby("symbol", sort=True)["date"].agg(["min", "max"])
    return [(str(symbol), first.date(), last.date()) for symbol, first, last in spans.itertuples()]


def limit_reasons(frame: pd.DataFrame, rules: PlausibilityRules) -> dict[int, str]:
    """Rules 1 and 2 alone (the limits no review may override), by row number (column ``row``)."""
    holds = _Holds(len(frame))
    _check_limits(holds, {column: _floats(frame, column) for column in (*PRICE_COLUMNS, "volume")}, rules)
    rows = frame["row"].to_numpy(dtype=np.int64)
    return {int(rows[i]): str(holds.reasons[i]) for i in np.flatnonzero(~holds.open)}


def held_table(held: pd.DataFrame, *, source: str, ids: Sequence[str]) -> pa.Table:
    """Held rows (a :class:`Screening`'s ``held``) as a :data:`~investai.ports.market.QUARANTINE_SCHEMA` batch."""
    columns: list[pa.Array] = [
        pa.array(list(ids), type=pa.string()),
        pa.array(held["symbol"].astype(object).to_numpy(), type=pa.string()),
        pa.array(held["date"].to_numpy().astype("datetime64[D]"), type=pa.date32()),
        *[
            pa.array(_floats(held, column), type=pa.float64(), from_pandas=True)
            for column in ("open", "high", "low", "close", "adj_close", "volume")
        ],
        pa.repeat(pa.scalar(source, type=pa.string()), len(held)),
        pa.array(held["reason"].astype(object).to_numpy(), type=pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=QUARANTINE_SCHEMA)


def held_bars_table(entries: Sequence[QuarantinedBar], *, available_at: datetime) -> pa.Table:
    """Quarantined rows as a :data:`~investai.ports.market.BAR_SCHEMA` batch (each with its own source), to be
    stored after all."""
    fields = set(BAR_SCHEMA.names) - {"available_at"}
    rows = [{**entry.model_dump(include=fields), "available_at": available_at} for entry in entries]
    return pa.Table.from_pylist(rows, schema=BAR_SCHEMA)


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    values: np.ndarray = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _current_versions(
    accepted: pd.DataFrame, days: np.ndarray, stored: pd.DataFrame
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Whether each row has a stored bar of its (symbol, date), and that bar's values (NaN where none)."""
    if stored.empty:  # a first load: nothing to compare with
        return np.zeros(len(accepted), dtype=bool), {
            c: np.full(len(accepted), np.nan) for c in (*PRICE_COLUMNS, "volume")
        }
    keys = pd.DataFrame({"symbol": accepted["symbol"].to_numpy(dtype=object), "date": days})
    right = stored.assign(date=_days(stored["date"]), _found=True)
    merged = keys.merge(right, on=["symbol", "date"], how="left", sort=False)
    found = merged["_found"].eq(True).to_numpy(dtype=bool)
    return found, {column: _floats(merged, column) for column in (*PRICE_COLUMNS, "volume")}


def _days(column: pd.Series) -> np.ndarray:
    """Dates (``datetime.date`` objects or datetime64) as datetime64[D]."""
    stamps = column if pd.api.types.is_datetime64_any_dtype(column.dtype) else pd.to_datetime(column.astype(object))
    days: np.ndarray = stamps.to_numpy().astype("datetime64[D]")
    return days


# --- rules 1 to 3 ------------------------------------------------------------------------------------------------


def _check_limits(holds: _Holds, values: Mapping[str, np.ndarray], rules: PlausibilityRules) -> None:
    """Rules 1 and 2 (comparisons with a missing value are false: absent values are not checked)."""
    for column in PRICE_COLUMNS:
        prices = values[column]
        _hold_where(holds, column, prices, prices > rules.max_price, f"above the price ceiling {rules.max_price:g}")
        _hold_where(holds, column, prices, prices < rules.min_price, f"below the price floor {rules.min_price:g}")
    volume = values["volume"]
    _hold_where(holds, "volume", volume, volume > rules.max_volume, f"above the volume ceiling {rules.max_volume:g}")


def _hold_where(holds: _Holds, column: str, values: np.ndarray, mask: np.ndarray, text: str) -> None:
    holds.hold(mask, lambda index: [f"{column} {value:g} is {text}" for value in values[index].tolist()])


def _check_changes(
    holds: _Holds,
    values: Mapping[str, np.ndarray],
    current: Mapping[str, np.ndarray],
    found: np.ndarray,
    rules: PlausibilityRules,
) -> None:
    """Rule 3: a stored price changed by more than a factor of ``1 + max_correction`` either way."""
    bound = math.log1p(rules.max_correction)
    factor = f"{1 + rules.max_correction:g}"
    for column in PRICE_COLUMNS:
        new, old = values[column], current[column]
        with np.errstate(divide="ignore", invalid="ignore"):
            moved = np.abs(np.log(new / old)) > bound

        def reason(index: np.ndarray, new: np.ndarray = new, old: np.ndarray = old, column: str = column) -> list[str]:
            return [
                f"{column} {a:g} would replace the stored {b:g} ({a / b - 1:+.1%}), a change beyond the factor of"
                f" {factor} either way that an ingest may make; an administrator can apply it as a correction"
                for a, b in zip(new[index].tolist(), old[index].tolist(), strict=True)
            ]

        holds.hold(found & moved, reason)


# --- rule 4: jumps ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Point:
    """One bar of a symbol's series: stored (``candidate`` -1) or a row of the batch (its position)."""

    day: np.datetime64
    prices: dict[str, float]
    candidate: int
    shadowed: bool
    """A stored bar that a row of the batch, still in play, would replace."""


@dataclass(frozen=True)
class _Breach:
    column: str
    value: float
    reference: str
    against: float
    move: float
    bound: float
    days: int


def _check_jumps(
    holds: _Holds,
    accepted: pd.DataFrame,
    days: np.ndarray,
    values: Mapping[str, np.ndarray],
    stored: pd.DataFrame,
    rules: PlausibilityRules,
) -> None:
    live = np.flatnonzero(holds.open)
    if live.size == 0:
        return
    series = _series(accepted["symbol"].to_numpy(dtype=object)[live], days[live], values, live, stored)
    for code in _suspect_symbols(series, rules):
        members = series["code"] == code
        for position, reason in _walk(
            _points({name: column[members] for name, column in series.items()}), rules
        ).items():
            holds.hold_one(position, reason)


Columns = dict[str, np.ndarray]
"""A table as numpy columns of one length: the jump check's series, cheaper to build and slice than a frame."""


def _series(
    symbols: np.ndarray, days: np.ndarray, values: Mapping[str, np.ndarray], live: np.ndarray, stored: pd.DataFrame
) -> Columns:
    """Stored bars and the rows in play (``live``, with their ``symbols`` and ``days``), sorted by symbol, date
    and (stored first) kind. Symbols are compared as integer codes and the columns stay numpy arrays: frames of a
    million symbol strings cost more than the whole screen otherwise."""
    stored_days = _days(stored["date"]) if len(stored) else np.array([], dtype="datetime64[D]")
    codes = pd.factorize(np.concatenate([stored["symbol"].to_numpy(dtype=object), symbols]))[0].astype(np.int64)
    day_numbers = np.concatenate([stored_days, days]).astype("datetime64[D]").astype(np.int64)
    keys = (codes << 32) + day_numbers  # one integer per (symbol, day)
    is_row = np.arange(codes.size) >= len(stored)
    shadowed = np.zeros(codes.size, dtype=bool)
    if len(stored):  # keys are unique on both sides: a batch holds a (symbol, date) once, and so does the store
        shadowed[: len(stored)] = np.isin(keys[: len(stored)], keys[len(stored) :], assume_unique=True)
    series: Columns = {
        "code": codes,
        "day": day_numbers.astype("datetime64[D]"),
        **{column: np.concatenate([_floats(stored, column), values[column][live]]) for column in PRICE_COLUMNS},
        "candidate": np.concatenate([np.full(len(stored), -1, dtype=np.int64), live.astype(np.int64)]),
        "shadowed": shadowed,
    }
    if np.all(keys[1:] > keys[:-1]):  # already in order (a sorted batch, nothing stored around it): no copy
        return series
    order = np.lexsort((is_row, day_numbers, codes))
    return {name: column[order] for name, column in series.items()}


def _suspect_symbols(series: Columns, rules: PlausibilityRules) -> list[int]:
    """Codes of the symbols where some bar breaks the bounds against its predecessor, every row of the batch
    assumed plausible (replaced stored bars left out): only these need the walk."""
    visible = {name: column[~series["shadowed"]] for name, column in series.items()}
    codes = visible["code"]
    candidate = visible["candidate"] >= 0
    # a row of the batch, or a stored bar right after one, measured against the bar before it
    measured = (codes[1:] == codes[:-1]) & (candidate[1:] | candidate[:-1])
    if not measured.any():
        return []
    current, previous = np.flatnonzero(measured) + 1, np.flatnonzero(measured)
    days = visible["day"]
    scale = np.sqrt(np.maximum(1, np.busday_count(days[previous], days[current])))
    broken = np.zeros(current.size, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for column in PRICE_COLUMNS:
            reference = "adj_close" if column == "adj_close" else "close"
            move = np.log(visible[column][current] / visible[reference][previous])
            broken |= (move > rules.rise * scale) | (move < rules.fall * scale)
    return sorted(set(codes[current[broken]].tolist()))


def _points(members: Columns) -> list[_Point]:
    columns = [members[column].tolist() for column in PRICE_COLUMNS]
    prices = [dict(zip(PRICE_COLUMNS, row, strict=True)) for row in zip(*columns, strict=True)]
    return [
        _Point(day=day, prices=price, candidate=int(c), shadowed=bool(s))
        for day, price, c, s in zip(members["day"], prices, members["candidate"], members["shadowed"], strict=True)
    ]


def _walk(points: list[_Point], rules: PlausibilityRules) -> dict[int, str]:
    """Rule 4 over one symbol's series, row by row: which rows of the batch are held, and why."""
    held: dict[int, str] = {}
    reference: _Point | None = None
    since_stored: list[_Point] = []  # plausible rows of the batch after the last stored bar that stays
    replaced: _Point | None = None
    for point in points:
        if point.candidate < 0 and point.shadowed:
            replaced = point  # its replacement comes next: it stays only if that is held
            continue
        if point.candidate < 0:
            _measure_stored(since_stored, point, held, rules)
            reference = point
            continue
        breach = None if reference is None else _breach(reference, point, rules)
        if reference is not None and breach is not None:
            held[point.candidate] = _jump_reason(reference, breach)
            if replaced is not None and replaced.day == point.day:
                _measure_stored(since_stored, replaced, held, rules)
                reference = replaced
        else:
            reference = point
            since_stored.append(point)
        replaced = None
    return held


def _measure_stored(since_stored: list[_Point], stored: _Point, held: dict[int, str], rules: PlausibilityRules) -> None:
    """A stored bar that stays, measured against the plausible rows of the batch before it, latest first."""
    while since_stored:
        breach = _breach(since_stored[-1], stored, rules)
        if breach is None:
            break
        row = since_stored.pop()
        held[row.candidate] = _followed_reason(row, stored, breach)
    since_stored.clear()


def _breach(reference: _Point, point: _Point, rules: PlausibilityRules) -> _Breach | None:
    """The first price of ``point`` whose move against ``reference`` breaks the bounds, if any."""
    days = max(1, int(np.busday_count(reference.day, point.day)))
    scale = math.sqrt(days)
    for column in (*_MEASURED, "adj_close"):
        base = "adj_close" if column == "adj_close" else "close"
        value, against = point.prices[column], reference.prices[base]
        if math.isnan(value) or math.isnan(against):
            continue
        move = math.log(value / against)
        if move > rules.rise * scale:
            return _Breach(column, value, base, against, move, rules.rise * scale, days)
        if move < rules.fall * scale:
            return _Breach(column, value, base, against, move, rules.fall * scale, days)
    return None


def _bounds_text(breach: _Breach) -> str:
    limit = f"{math.expm1(breach.bound):+.0%}"
    return f"beyond the {limit} allowed in {breach.days} trading day{'' if breach.days == 1 else 's'}"


def _jump_reason(reference: _Point, breach: _Breach) -> str:
    label = _LABELS.get(breach.reference, breach.reference)
    return (
        f"{breach.column} {breach.value:g} is {math.expm1(breach.move):+.1%} against the previous {label}"
        f" {breach.against:g} of {reference.day}, {_bounds_text(breach)}"
    )


def _followed_reason(row: _Point, stored: _Point, breach: _Breach) -> str:
    label = _LABELS.get(breach.column, breach.column)
    return (
        f"{breach.reference} {breach.against:g} is followed by the stored {label} {breach.value:g} of {stored.day},"
        f" a move of {math.expm1(breach.move):+.1%}, {_bounds_text(breach)}"
    )
