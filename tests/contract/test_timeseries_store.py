"""Contract of the TimeSeriesStore port, run against every adapter in :data:`ADAPTERS`.

Time never comes from the wall clock: every ingest and every ``as_of`` is an explicit UTC datetime. To add an
adapter (Timestream, say), write a factory that opens a store on fresh storage under the given directory
(calling it again on the same directory must reopen the same data) and add it to ``ADAPTERS``. The tests at
the end are specific to DuckDB (its tables, its constructor's retention settings).
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from investai.adapters.local.clock import FakeClock
from investai.adapters.local.duckdb_market import _MIGRATIONS, DuckDbTimeSeriesStore
from investai.domain.market import (
    AssetClass,
    Interval,
    MarketStoreBusy,
    QuarantineResolved,
    QuarantineStatus,
    Quote,
    SymbolInfo,
    WriteCounts,
)
from investai.ports.market import (
    BAR_COLUMNS,
    BAR_SCHEMA,
    NEIGHBOUR_COLUMNS,
    QUARANTINE_SCHEMA,
    QUOTE_COLUMNS,
    QUOTE_SCHEMA,
    ProviderFile,
    TimeSeriesStore,
)
from tests.factories import T0

US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)


def _duckdb_store(directory: Path) -> TimeSeriesStore:
    return DuckDbTimeSeriesStore(path=directory / "market" / "market.duckdb")


_AWS_PREFIXES: dict[Path, str] = {}
_AWS_SHARED: dict[str, str] = {}


def _aws_store(directory: Path) -> TimeSeriesStore:
    """The AWS shape's composed store on the session's moto server: bar history as Parquet in S3 (through
    pyarrow's S3 filesystem), quotes and the catalog in DynamoDB. Reopening the same directory reopens the
    same bucket and tables."""
    from investai.adapters.aws.clients import AwsClients
    from investai.adapters.aws.dynamodb_lock import DynamoDbLease
    from investai.adapters.aws.dynamodb_market_catalog import DynamoDbMarketCatalog
    from investai.adapters.aws.dynamodb_quotes import DynamoDbQuoteTiers
    from investai.adapters.aws.market_store import ComposedTimeSeriesStore
    from investai.adapters.aws.provision import ensure_table
    from investai.adapters.aws.resources import LOCKS_TABLE, MARKET_TABLE, QUOTES_TABLE
    from investai.adapters.aws.s3_bars import S3BarHistory
    from tests.aws import REGION, fresh_prefix

    clients = AwsClients(region=REGION)
    dynamodb = clients.client("dynamodb")
    endpoint = str(clients.endpoint_url("s3"))
    if endpoint not in _AWS_SHARED:  # one bucket and lock table per server; each store has its own prefix
        shared = fresh_prefix()
        clients.client("s3").create_bucket(Bucket=f"{shared}-data")
        ensure_table(dynamodb, LOCKS_TABLE, f"{shared}-locks")
        _AWS_SHARED[endpoint] = shared
    shared = _AWS_SHARED[endpoint]
    prefix = _AWS_PREFIXES.get(directory)
    if prefix is None:
        prefix = _AWS_PREFIXES[directory] = fresh_prefix()
        for spec in (MARKET_TABLE, QUOTES_TABLE):
            ensure_table(dynamodb, spec, f"{prefix}-{spec.role}")
    bars = S3BarHistory(
        clients.s3_filesystem(),
        bucket=f"{shared}-data",
        prefix=f"{prefix}/market/",
        write_lock=DynamoDbLease(dynamodb, f"{shared}-locks", f"market-history-{prefix}"),
    )
    return ComposedTimeSeriesStore(
        bars=bars,
        quotes=DynamoDbQuoteTiers(dynamodb, f"{prefix}-quotes"),
        catalog=DynamoDbMarketCatalog(dynamodb, f"{prefix}-market"),
    )


ADAPTERS: dict[str, Callable[[Path], TimeSeriesStore]] = {"duckdb": _duckdb_store, "aws": _aws_store}
NEEDS_MOTO = {"aws"}


@pytest.fixture(params=sorted(ADAPTERS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], TimeSeriesStore]]:
    """Opens the adapter's store on this test's directory (again: the same data, as after a restart)."""
    if request.param in NEEDS_MOTO:
        request.getfixturevalue("aws_environment")
    opened: list[TimeSeriesStore] = []

    def build() -> TimeSeriesStore:
        store = ADAPTERS[request.param](tmp_path)
        opened.append(store)
        return store

    yield build
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], TimeSeriesStore]) -> TimeSeriesStore:
    return open_store()


# --- builders ----------------------------------------------------------------------------------------------------


def end_of(day: date) -> datetime:
    """The last microsecond of ``day`` in UTC: when a history load says the day's bar became public."""
    return datetime.combine(day, time.max, tzinfo=UTC)


def bar(
    symbol: str,
    day: date,
    close: float,
    *,
    open: float | None = None,
    high: float | None = None,
    low: float | None = None,
    adj_close: float | None = None,
    volume: float | None = None,
    source: str = "test",
    available_at: datetime = T0,
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "date": day,
        "open": open,
        "high": high,
        "low": low,
        "close": close,
        "adj_close": adj_close,
        "volume": volume,
        "source": source,
        "available_at": available_at,
    }


def bars(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """An Arrow batch of bars from python rows (``None`` for a missing value)."""
    return pa.Table.from_pylist(list(rows), schema=BAR_SCHEMA)


def quote(
    symbol: str, timestamp: datetime, price: float, *, size: float | None = 100.0, source: str = "api"
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "timestamp": timestamp,
        "price": price,
        "size": size,
        "bid": None,
        "ask": None,
        "source": source,
    }


def quotes(rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=QUOTE_SCHEMA)


def frame_of(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """What a daily read of ``rows`` must return: :data:`BAR_COLUMNS`, oldest first, NaN for missing."""
    ordered = sorted(rows, key=lambda row: row["date"])
    frame = pd.DataFrame({"date": pd.Series([row["date"] for row in ordered], dtype=object)})
    for column in BAR_COLUMNS[1:]:
        frame[column] = pd.Series([row[column] for row in ordered], dtype="float64")
    return frame


def closes(frame: pd.DataFrame) -> dict[date, float]:
    return dict(zip(frame["date"], frame["close"], strict=True))


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=n) for n in range(count)]


# --- symbol master -----------------------------------------------------------------------------------------------

CATALOGUE = [
    SymbolInfo(symbol="AAPL", name="Apple Inc.", sector="Technology", industry="Hardware", exchange="NASDAQ"),
    SymbolInfo(symbol="MSFT", name="Microsoft Corp", sector="technology"),
    SymbolInfo(symbol="SPY", name="SPDR S&P 500 ETF", asset_class=AssetClass.ETF, benchmark="^GSPC"),
    SymbolInfo(symbol="XOM", name="Exxon Mobil", sector="Energy"),
    SymbolInfo(symbol="PCT", name="100% Renewable Fund", asset_class=AssetClass.ETF, sector="Energy"),
    SymbolInfo(symbol="UND", name="Under_score Holdings", sector="Industrials"),
    SymbolInfo(symbol="UXX", name="UnderXscore Partners", sector="Industrials"),
]


def test_symbols_are_upserted_and_read_back(store: TimeSeriesStore) -> None:
    assert store.upsert_symbols(CATALOGUE) == len(CATALOGUE)
    for info in CATALOGUE:
        assert store.get_symbol(info.symbol) == info

    renamed = CATALOGUE[0].model_copy(update={"name": "Apple Incorporated", "sector": None})
    assert store.upsert_symbols([renamed]) == 1
    assert store.get_symbol("AAPL") == renamed
    assert store.get_symbol("NOPE") is None
    assert store.upsert_symbols([]) == 0


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"query": "apple"}, ["AAPL"]),
        ({"query": "aapl"}, ["AAPL"]),
        ({"query": "CORP"}, ["MSFT"]),
        ({"query": "xo"}, ["XOM"]),
        ({"query": "%"}, ["PCT"]),
        ({"query": "0%"}, ["PCT"]),
        ({"query": "r_s"}, ["UND"]),
        ({"query": "_"}, ["UND"]),
        ({"query": "no such thing"}, []),
        ({"sector": "TECHNOLOGY"}, ["AAPL", "MSFT"]),
        ({"asset_class": AssetClass.ETF}, ["PCT", "SPY"]),
        ({"sector": "energy", "asset_class": AssetClass.ETF}, ["PCT"]),
        ({"query": "o", "sector": "Energy"}, ["XOM"]),
        ({"query": "", "limit": 2}, ["AAPL", "MSFT"]),
        ({}, ["AAPL", "MSFT", "PCT", "SPY", "UND", "UXX", "XOM"]),
    ],
)
def test_find_symbols(store: TimeSeriesStore, criteria: dict[str, Any], expected: list[str]) -> None:
    store.upsert_symbols(CATALOGUE)

    assert [info.symbol for info in store.find_symbols(**criteria)] == expected


def test_known_symbols(store: TimeSeriesStore) -> None:
    store.upsert_symbols(CATALOGUE)

    assert store.known_symbols(["AAPL", "NOPE", "MSFT", "AAPL"]) == {"AAPL", "MSFT"}
    assert store.known_symbols(iter(["XOM"])) == {"XOM"}
    assert store.known_symbols([]) == set()


# --- daily bars: writes and reads ----------------------------------------------------------------------------------


def test_bars_read_back_exactly_as_written(store: TimeSeriesStore) -> None:
    rows = [
        bar("AAA", date(2024, 1, 3), 12.5, open=12.0, high=13.0, low=11.5, adj_close=12.25, volume=1_000.0),
        bar("AAA", date(2024, 1, 1), 10.0, adj_close=9.5),  # open, high, low and volume missing
        bar("AAA", date(2024, 1, 2), 11.0, open=10.5, high=11.5, low=10.0, volume=float("nan")),
        bar("BBB", date(2024, 1, 2), 99.0, volume=5.0),
    ]

    assert store.write_bars(bars(rows), ingested_at=T0) == WriteCounts(inserted=4, updated=0, unchanged=0)

    frame = store.read_bars("AAA")
    pd.testing.assert_frame_equal(frame, frame_of(rows[:3]))
    assert list(frame.columns) == BAR_COLUMNS
    pd.testing.assert_frame_equal(store.read_bars("AAA", start=date(2024, 1, 2)), frame_of(rows[2:3] + rows[:1]))
    pd.testing.assert_frame_equal(store.read_bars("AAA", end=date(2024, 1, 2)), frame_of(rows[1:3]))
    pd.testing.assert_frame_equal(
        store.read_bars("AAA", start=date(2024, 1, 2), end=date(2024, 1, 2)), frame_of(rows[2:3])
    )
    assert store.bar_range("AAA") == (date(2024, 1, 1), date(2024, 1, 3), 3)
    assert store.bar_range("ZZZ") is None
    assert store.bar_symbols() == ["AAA", "BBB"]


@pytest.mark.parametrize("interval", list(Interval))
def test_an_unknown_symbol_reads_as_an_empty_frame(store: TimeSeriesStore, interval: Interval) -> None:
    store.write_bars(bars([bar("AAA", date(2024, 1, 1), 1.0)]), ingested_at=T0)

    for as_of in (None, T0):
        frame = store.read_bars("ZZZ", interval=interval, as_of=as_of)
        assert frame.empty
        assert list(frame.columns) == BAR_COLUMNS


def test_ingesting_the_same_rows_twice_changes_nothing(store: TimeSeriesStore) -> None:
    first, second = T0, T0 + timedelta(days=1)
    rows = [
        bar("AAA", day, 10.0 + n, volume=100.0, available_at=first) for n, day in enumerate(days(date(2023, 12, 1), 5))
    ]

    assert store.write_bars(bars(rows), ingested_at=first) == WriteCounts(inserted=5, updated=0, unchanged=0)
    before = {as_of: store.read_bars("AAA", as_of=as_of) for as_of in (first - US, first, second - US, second)}
    assert store.write_bars(bars(rows), ingested_at=second) == WriteCounts(inserted=0, updated=0, unchanged=5)
    # same values, earlier availability: still the same row, and its availability is not moved
    earlier = [{**row, "available_at": first - timedelta(days=30)} for row in rows]
    assert store.write_bars(bars(earlier), ingested_at=second + HOUR) == WriteCounts(inserted=0, updated=0, unchanged=5)

    for as_of, frame in before.items():
        pd.testing.assert_frame_equal(store.read_bars("AAA", as_of=as_of), frame)
    assert store.read_bars("AAA", as_of=first - US).empty
    assert len(store.read_bars("AAA", as_of=second - US)) == 5  # not re-dated by the second ingest
    pd.testing.assert_frame_equal(store.read_bars("AAA"), frame_of(rows))


def test_a_changed_value_becomes_a_new_version(store: TimeSeriesStore) -> None:
    first, second = T0, T0 + timedelta(days=1)
    old = [bar("AAA", day, 10.0, available_at=first) for day in days(date(2023, 12, 1), 3)]
    new = [*old[:2], bar("AAA", date(2023, 12, 3), 12.0, available_at=first)]
    store.write_bars(bars(old), ingested_at=first)

    assert store.write_bars(bars(new), ingested_at=second) == WriteCounts(inserted=0, updated=1, unchanged=2)

    pd.testing.assert_frame_equal(store.read_bars("AAA"), frame_of(new))
    pd.testing.assert_frame_equal(store.read_bars("AAA", as_of=second), frame_of(new))
    pd.testing.assert_frame_equal(store.read_bars("AAA", as_of=second - US), frame_of(old))
    pd.testing.assert_frame_equal(store.read_bars("AAA", as_of=first + HOUR), frame_of(old))
    assert store.read_bars("AAA", as_of=first - US).empty
    assert store.bar_range("AAA") == (date(2023, 12, 1), date(2023, 12, 3), 3)


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "adj_close", "volume", "source"])
def test_a_change_in_any_column_is_an_update(store: TimeSeriesStore, column: str) -> None:
    row = bar("AAA", date(2024, 1, 1), 10.0, open=9.0, high=11.0, low=8.0, adj_close=9.5, volume=7.0)
    store.write_bars(bars([row]), ingested_at=T0)
    changed = {**row, column: "other" if column == "source" else None if column != "close" else 10.5}

    assert store.write_bars(bars([changed]), ingested_at=T0 + HOUR) == WriteCounts(inserted=0, updated=1, unchanged=0)
    pd.testing.assert_frame_equal(store.read_bars("AAA", as_of=T0 + HOUR - US), frame_of([row]))
    pd.testing.assert_frame_equal(store.read_bars("AAA", as_of=T0 + HOUR), frame_of([changed]))


def test_a_correction_of_history_is_not_backdated(store: TimeSeriesStore) -> None:
    day = date(2023, 6, 1)
    loaded, corrected = T0, T0 + timedelta(days=3)
    original = bar("AAA", day, 50.0, available_at=end_of(day))
    store.write_bars(bars([original]), ingested_at=loaded)

    fixed = {**original, "close": 51.0}  # the file says end of day again; the store must not believe it
    assert store.write_bars(bars([fixed]), ingested_at=corrected).updated == 1

    assert closes(store.read_bars("AAA", as_of=end_of(day))) == {day: 50.0}
    assert closes(store.read_bars("AAA", as_of=corrected - US)) == {day: 50.0}
    assert closes(store.read_bars("AAA", as_of=corrected)) == {day: 51.0}
    assert store.read_bars("AAA", as_of=end_of(day) - US).empty


def test_history_rows_are_visible_as_of_their_own_dates(store: TimeSeriesStore) -> None:
    history = days(date(2023, 3, 1), 5)
    loaded = T0
    store.write_bars(
        bars([bar("AAA", day, float(n), available_at=end_of(day)) for n, day in enumerate(history)]),
        ingested_at=loaded,
    )
    fresh_day = date(2024, 1, 2)
    store.write_bars(bars([bar("AAA", fresh_day, 9.0, available_at=loaded + HOUR)]), ingested_at=loaded + HOUR)

    assert list(store.read_bars("AAA", as_of=datetime(2023, 3, 3, 12, tzinfo=UTC))["date"]) == history[:2]
    assert list(store.read_bars("AAA", as_of=end_of(history[2]))["date"]) == history[:3]
    assert list(store.read_bars("AAA", as_of=loaded)["date"]) == history
    assert list(store.read_bars("AAA", as_of=loaded + HOUR)["date"]) == [*history, fresh_day]
    assert store.read_bars("AAA", as_of=end_of(history[0]) - US).empty


def test_as_of_never_returns_a_bar_dated_after_it(store: TimeSeriesStore) -> None:
    # rows that claim to have been available long before their own dates
    dated = days(date(2024, 1, 1), 10)
    early = datetime(2023, 1, 1, tzinfo=UTC)
    store.write_bars(
        bars([bar("AAA", day, 1.0, available_at=early) for day in dated]), ingested_at=T0 + timedelta(days=30)
    )

    assert list(store.read_bars("AAA", as_of=datetime(2024, 1, 3, 12, tzinfo=UTC))["date"]) == dated[:3]
    assert list(store.read_bars("AAA", as_of=datetime(2024, 1, 3, tzinfo=UTC))["date"]) == dated[:3]
    assert list(store.read_bars("AAA", as_of=datetime(2024, 1, 3, tzinfo=UTC) - US)["date"]) == dated[:2]
    # 20:00 in New York on the 3rd is 01:00 UTC on the 4th: the UTC date decides
    new_york_evening = datetime(2024, 1, 3, 20, tzinfo=timezone(timedelta(hours=-5)))
    assert list(store.read_bars("AAA", as_of=new_york_evening)["date"]) == dated[:4]
    for interval in (Interval.WEEKLY, Interval.MONTHLY):
        assert max(store.read_bars("AAA", interval=interval, as_of=new_york_evening)["date"]) == dated[3]


def test_availability_after_the_ingest_is_capped_at_the_ingest(store: TimeSeriesStore) -> None:
    day = date(2024, 1, 1)
    store.write_bars(bars([bar("AAA", day, 1.0, available_at=T0 + timedelta(days=10))]), ingested_at=T0)

    assert closes(store.read_bars("AAA", as_of=T0)) == {day: 1.0}
    assert store.read_bars("AAA", as_of=T0 - US).empty


def test_a_duplicate_key_in_a_batch_is_refused_and_nothing_is_written(store: TimeSeriesStore) -> None:
    stored = bar("AAA", date(2024, 1, 1), 1.0)
    store.write_bars(bars([stored]), ingested_at=T0)
    batch = [
        {**stored, "close": 2.0},
        bar("AAA", date(2024, 1, 2), 3.0),
        bar("BBB", date(2024, 1, 2), 3.0),
        bar("AAA", date(2024, 1, 2), 4.0),
    ]

    with pytest.raises(ValueError, match="AAA"):
        store.write_bars(bars(batch), ingested_at=T0 + HOUR)

    pd.testing.assert_frame_equal(store.read_bars("AAA"), frame_of([stored]))
    assert store.bar_range("BBB") is None
    assert store.read_bars("AAA", as_of=T0 + timedelta(days=1)).shape[0] == 1


def test_a_malformed_batch_is_refused(store: TimeSeriesStore) -> None:
    good = bars([bar("AAA", date(2024, 1, 1), 1.0)])

    with pytest.raises(ValueError, match="volume"):
        store.write_bars(good.drop_columns(["volume"]), ingested_at=T0)
    with pytest.raises(ValueError, match="timezone"):
        store.write_bars(good, ingested_at=T0.replace(tzinfo=None))
    naive = good.set_column(9, "available_at", pa.array([datetime(2024, 1, 1)], pa.timestamp("us")))
    with pytest.raises(ValueError, match="timezone"):
        store.write_bars(naive, ingested_at=T0)
    no_close = good.set_column(5, "close", pa.array([None], pa.float64()))
    with pytest.raises(ValueError, match="close"):
        store.write_bars(no_close, ingested_at=T0)
    assert store.bar_symbols() == []
    assert store.write_bars(good.slice(0, 0), ingested_at=T0) == WriteCounts(inserted=0, updated=0, unchanged=0)


# --- point in time, as a property ----------------------------------------------------------------------------------


@dataclass
class _Version:
    values: tuple[float, float | None, str]
    """close, volume, source: what tells two versions apart here."""
    available_at: datetime
    superseded_at: datetime | None = None


@dataclass
class ReferenceBars:
    """The point-in-time rules in plain Python, one list of versions per (symbol, date)."""

    versions: dict[tuple[str, date], list[_Version]] = field(default_factory=dict)

    def ingest(self, rows: Sequence[dict[str, Any]], at: datetime) -> None:
        for row in rows:
            history = self.versions.setdefault((row["symbol"], row["date"]), [])
            values = (row["close"], row["volume"], row["source"])
            if not history:
                history.append(_Version(values, min(row["available_at"], at)))
            elif history[-1].values != values:
                history[-1].superseded_at = at
                history.append(_Version(values, at))

    def as_of(self, symbol: str, moment: datetime | None) -> dict[date, _Version]:
        found = {}
        for (key_symbol, day), history in self.versions.items():
            if key_symbol != symbol:
                continue
            if moment is None:
                found[day] = history[-1]
                continue
            valid = [
                v for v in history if v.available_at <= moment and (v.superseded_at is None or v.superseded_at > moment)
            ]
            if valid and day <= moment.date():
                (found[day],) = valid
        return dict(sorted(found.items()))


_START = datetime(2024, 1, 1, tzinfo=UTC)
_AVAILABILITY: dict[str, Callable[[date, datetime], datetime]] = {
    "end_of_day": lambda day, at: datetime.combine(day, time(23), tzinfo=UTC),
    "at_ingest": lambda day, at: at,
    "after_ingest": lambda day, at: at + 5 * HOUR,
}
_rows = st.tuples(
    st.sampled_from(["AAA", "BBB"]),
    st.integers(0, 9),  # day
    st.sampled_from([10.0, 11.0, 12.0]),  # close
    st.sampled_from([None, 100.0]),  # volume
    st.sampled_from(["vendor", "upload"]),  # source
    st.sampled_from(sorted(_AVAILABILITY)),
)
_ingests = st.lists(
    st.tuples(st.integers(1, 72), st.lists(_rows, min_size=1, max_size=8, unique_by=lambda r: (r[0], r[1]))),
    min_size=1,
    max_size=5,
)


def _as_rows(drawn: Sequence[tuple[Any, ...]], at: datetime) -> list[dict[str, Any]]:
    rows = []
    for symbol, offset, close, volume, source, availability in drawn:
        day = date(2024, 1, 1) + timedelta(days=offset)
        available = _AVAILABILITY[availability](day, at)
        rows.append(bar(symbol, day, close, high=close + 1, volume=volume, source=source, available_at=available))
    return rows


@pytest.mark.parametrize("adapter", sorted(set(ADAPTERS) - NEEDS_MOTO))
@settings(max_examples=60, deadline=None)
@given(ingests=_ingests, moments=st.lists(st.integers(0, 24 * 20), min_size=1, max_size=6))
def test_reads_as_of_any_moment_match_the_reference(
    adapter: str, ingests: list[tuple[int, list[tuple[Any, ...]]]], moments: list[int]
) -> None:
    """Random ingests (repeats, corrections, history and future availability) read as of random moments: each
    row is dated on or before the moment, was available at it, appears once, and is the version a pure-Python
    model of the rules says was current then."""
    with tempfile.TemporaryDirectory() as directory:
        store = ADAPTERS[adapter](Path(directory))
        try:
            _match_reference(store, ingests, moments)
        finally:
            store.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ingests=_ingests, moments=st.lists(st.integers(0, 24 * 20), min_size=1, max_size=6))
def test_s3_history_reads_as_of_any_moment_match_the_reference(
    aws_environment: Any, ingests: list[tuple[int, list[tuple[Any, ...]]]], moments: list[int]
) -> None:
    """The same property for the AWS shape's bar history (Parquet in S3 on moto): one bucket, a fresh prefix
    per example (the part under test is the history; the composite adds nothing to bar reads)."""
    from investai.adapters.aws.clients import AwsClients
    from investai.adapters.aws.s3_bars import S3BarHistory
    from tests.aws import REGION, fresh_prefix

    clients = AwsClients(region=REGION)
    bucket = _property_bucket(clients)
    history = S3BarHistory(clients.s3_filesystem(), bucket=bucket, prefix=f"{fresh_prefix()}/")
    _match_reference(history, ingests, moments)  # type: ignore[arg-type]


_BUCKETS: dict[str, str] = {}


def _property_bucket(clients: Any) -> str:
    endpoint = clients.endpoint_url("s3")
    if endpoint not in _BUCKETS:
        from tests.aws import fresh_prefix

        name = f"{fresh_prefix()}-history"
        clients.client("s3").create_bucket(Bucket=name)
        _BUCKETS[endpoint] = name
    return _BUCKETS[endpoint]


def _match_reference(
    store: TimeSeriesStore, ingests: list[tuple[int, list[tuple[Any, ...]]]], moments: list[int]
) -> None:
    reference = ReferenceBars()
    at = _START
    for hours, drawn in ingests:
        at += hours * HOUR
        rows = _as_rows(drawn, at)
        store.write_bars(bars(rows), ingested_at=at)
        reference.ingest(rows, at)
    for moment in [None, *(_START + hours * HOUR for hours in moments)]:
        for symbol in ("AAA", "BBB"):
            _check_as_of(store, reference, symbol, moment)


def _check_as_of(store: TimeSeriesStore, reference: ReferenceBars, symbol: str, moment: datetime | None) -> None:
    frame = store.read_bars(symbol, as_of=moment)
    got = {
        day: (close, None if math.isnan(volume) else volume)
        for day, close, volume in zip(frame["date"], frame["close"], frame["volume"], strict=True)
    }
    assert len(got) == len(frame), "a date appears twice"
    assert list(got) == sorted(got)
    if moment is not None:
        assert all(day <= moment.date() for day in got)
        for day, (close, volume) in got.items():
            versions = reference.versions[(symbol, day)]
            assert any(v.values[:2] == (close, volume) and v.available_at <= moment for v in versions)
    expected = reference.as_of(symbol, moment)
    assert got == {day: version.values[:2] for day, version in expected.items()}


# --- resampling --------------------------------------------------------------------------------------------------

_LOADED = datetime(2024, 6, 1, tzinfo=UTC)


def synthetic_history(symbol: str = "RSM") -> list[dict[str, Any]]:
    """About three years of business days with gaps (single days, a whole week) and missing values (opens,
    volumes, adjusted closes, and a week with none of either), each public at the end of its day."""
    rng = np.random.default_rng(11)
    dropped_week = {date(2022, 7, 4) + timedelta(days=n) for n in range(5)}
    blank_week = {date(2022, 3, 7) + timedelta(days=n) for n in range(5)}
    calendar = [d.date() for d in pd.bdate_range("2021-01-01", "2023-12-29")]
    kept = [day for n, day in enumerate(calendar) if n % 13 != 5 and day not in dropped_week]
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(kept))))
    rows = []
    for n, day in enumerate(kept):
        c = float(close[n])
        rows.append(
            bar(
                symbol,
                day,
                c,
                open=None if n % 29 == 3 or day in blank_week else c * (1 + rng.normal(0, 0.003)),
                high=c * (1 + abs(rng.normal(0, 0.01))),
                low=c * (1 - abs(rng.normal(0, 0.01))),
                adj_close=None if n % 37 == 8 else c * 0.97,
                volume=None if n % 31 == 2 or day in blank_week else float(rng.integers(1_000, 1_000_000)),
                available_at=end_of(day),
            )
        )
    return rows


def pandas_resampled(rows: Sequence[dict[str, Any]], freq: str) -> pd.DataFrame:
    """The reference: pandas groups, first non-null open, last close, summed volume (NaN when none), dated by the
    last day of each group; empty groups dropped."""
    data = frame_of(rows).assign(ts=lambda f: pd.to_datetime(f["date"].astype(str)))
    grouped = data.groupby(pd.Grouper(key="ts", freq=freq))
    expected = pd.DataFrame(
        {
            "last": grouped["ts"].max(),
            "open": grouped["open"].first(),
            "high": grouped["high"].max(),
            "low": grouped["low"].min(),
            "close": grouped["close"].last(),
            "adj_close": grouped["adj_close"].last(),
            "volume": grouped["volume"].sum(min_count=1),
        }
    ).dropna(subset=["last"])
    expected.insert(0, "date", pd.Series([ts.date() for ts in expected["last"]], index=expected.index, dtype=object))
    return expected.drop(columns="last").reset_index(drop=True)


@pytest.mark.parametrize(("interval", "freq"), [(Interval.WEEKLY, "W-SUN"), (Interval.MONTHLY, "MS")])
def test_resampled_bars_equal_pandas(store: TimeSeriesStore, interval: Interval, freq: str) -> None:
    rows = synthetic_history()
    store.write_bars(bars(rows), ingested_at=_LOADED)

    actual = store.read_bars("RSM", interval=interval)

    expected = pandas_resampled(rows, freq)
    assert len(expected) > (30 if interval is Interval.MONTHLY else 150)
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize(("interval", "freq"), [(Interval.WEEKLY, "W-SUN"), (Interval.MONTHLY, "MS")])
def test_resampling_honours_the_range_and_as_of(store: TimeSeriesStore, interval: Interval, freq: str) -> None:
    rows = synthetic_history()
    store.write_bars(bars(rows), ingested_at=_LOADED)
    start, end = date(2022, 2, 16), date(2022, 5, 18)  # Wednesdays, mid-month
    as_of = datetime(2022, 3, 16, 12, tzinfo=UTC)  # Wednesday noon: that day's bar is not public yet

    ranged = store.read_bars("RSM", interval=interval, start=start, end=end)
    pd.testing.assert_frame_equal(
        ranged, pandas_resampled([r for r in rows if start <= r["date"] <= end], freq), check_exact=False, rtol=1e-12
    )
    known = store.read_bars("RSM", interval=interval, as_of=as_of)
    visible = [r for r in rows if r["date"] < as_of.date()]
    pd.testing.assert_frame_equal(known, pandas_resampled(visible, freq), check_exact=False, rtol=1e-12)
    assert known["date"].iloc[-1] < as_of.date()


def test_resampling_uses_the_versions_current_as_of(store: TimeSeriesStore) -> None:
    week = days(date(2023, 12, 4), 5)  # Monday to Friday
    store.write_bars(bars([bar("AAA", d, 10.0, volume=1.0, available_at=end_of(d)) for d in week]), ingested_at=T0)
    fixed = T0 + timedelta(days=2)
    store.write_bars(bars([bar("AAA", week[-1], 20.0, volume=1.0)]), ingested_at=fixed)

    assert store.read_bars("AAA", interval=Interval.WEEKLY, as_of=fixed - US)["close"].tolist() == [10.0]
    assert store.read_bars("AAA", interval=Interval.WEEKLY, as_of=fixed)["close"].tolist() == [20.0]
    assert store.read_bars("AAA", interval=Interval.WEEKLY)["volume"].tolist() == [5.0]


# --- real-time quotes --------------------------------------------------------------------------------------------


def test_quotes_go_to_the_tier_of_their_age(store: TimeSeriesStore) -> None:
    ages = [timedelta(0), timedelta(hours=23, minutes=59), timedelta(hours=24), timedelta(hours=24) + US, 3 * 24 * HOUR]
    written = [quote("AAA", T0 - age, 10.0 + n) for n, age in enumerate(ages)]

    assert store.write_quotes(quotes(written), ingested_at=T0) == WriteCounts(inserted=5, updated=0, unchanged=0)

    assert store.tier_counts() == {"memory": 3, "magnetic": 2}
    frame = store.read_quotes("AAA")
    assert list(frame.columns) == QUOTE_COLUMNS
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert [ts.to_pydatetime() for ts in frame["timestamp"]] == sorted(T0 - age for age in ages)
    assert frame["price"].tolist() == [14.0, 13.0, 12.0, 11.0, 10.0]
    assert frame["bid"].isna().all()
    window = store.read_quotes("AAA", start=T0 - 24 * HOUR, end=T0 - HOUR)
    assert window["price"].tolist() == [12.0, 11.0]
    assert store.read_quotes("ZZZ").empty
    assert list(store.read_quotes("ZZZ").columns) == QUOTE_COLUMNS


def test_rewriting_quotes_updates_only_what_changed(store: TimeSeriesStore) -> None:
    young, old = quote("AAA", T0 - HOUR, 10.0), quote("AAA", T0 - 2 * HOUR, 9.0)
    store.write_quotes(quotes([young, old]), ingested_at=T0)

    assert store.write_quotes(quotes([young, old]), ingested_at=T0) == WriteCounts(inserted=0, updated=0, unchanged=2)
    later = T0 + 23 * HOUR  # young is still within a day, old is not any more
    changed = [{**young, "price": 10.5}, {**old, "size": None}, quote("AAA", T0, 11.0)]
    assert store.write_quotes(quotes(changed), ingested_at=later) == WriteCounts(inserted=1, updated=2, unchanged=0)

    assert store.tier_counts() == {"memory": 2, "magnetic": 1}
    frame = store.read_quotes("AAA")
    assert frame["price"].tolist() == [9.0, 10.5, 11.0]
    assert math.isnan(frame["size"].iloc[0])
    with pytest.raises(ValueError, match="AAA"):
        store.write_quotes(quotes([young, {**young, "price": 1.0}]), ingested_at=later)
    assert store.read_quotes("AAA")["price"].tolist() == [9.0, 10.5, 11.0]


def test_latest_quote_as_of_respects_stamp_and_ingest(store: TimeSeriesStore, clock: FakeClock) -> None:
    clock.set(T0 + timedelta(minutes=1))
    store.write_quotes(quotes([quote("AAA", T0, 10.0)]), ingested_at=clock.now())
    clock.set(T0 + HOUR + timedelta(minutes=1))
    store.write_quotes(quotes([quote("AAA", T0 + HOUR, 11.0)]), ingested_at=clock.now())
    clock.set(T0 + 2 * HOUR)
    store.write_quotes(quotes([quote("AAA", T0 + timedelta(minutes=30), 10.5)]), ingested_at=clock.now())  # late

    def price(as_of: datetime | None) -> float | None:
        found = store.latest_quote("AAA", as_of=as_of)
        return None if found is None else found.price

    assert price(None) == 11.0
    assert price(T0 - US) is None
    assert price(T0 + timedelta(minutes=1) - US) is None  # stamped, not yet ingested
    assert price(T0 + timedelta(minutes=1)) == 10.0
    assert price(T0 + timedelta(minutes=59)) == 10.0  # the 10:00 print arrives only at 11:30
    assert price(T0 + HOUR + timedelta(seconds=30)) == 10.0
    assert price(T0 + HOUR + timedelta(minutes=1)) == 11.0
    assert price(T0 + 3 * HOUR) == 11.0  # the newest stamp wins, not the newest ingest
    latest = store.latest_quote("AAA")
    assert latest == Quote(symbol="AAA", timestamp=T0 + HOUR, price=11.0, size=100.0, source="api")
    assert latest is not None
    assert latest.timestamp.utcoffset() == timedelta(0)
    assert store.latest_quote("ZZZ") is None
    early = store.read_quotes("AAA", as_of=T0 + HOUR + timedelta(minutes=1))
    assert early["price"].tolist() == [10.0, 11.0]


def test_retention_moves_after_a_day_and_expires_after_a_week(store: TimeSeriesStore) -> None:
    ages_in_hours = [1, 23, 25, 100, 167]
    store.write_quotes(quotes([quote("AAA", T0 - h * HOUR, float(h)) for h in ages_in_hours]), ingested_at=T0)
    assert store.tier_counts() == {"memory": 2, "magnetic": 3}

    assert store.apply_retention(T0).model_dump() == {"moved": 0, "expired": 0}
    # exactly 24 hours and exactly 7 days old: both stay
    assert store.apply_retention(T0 + HOUR).model_dump() == {"moved": 0, "expired": 0}
    assert store.apply_retention(T0 + HOUR + US).model_dump() == {"moved": 1, "expired": 1}
    assert store.tier_counts() == {"memory": 1, "magnetic": 3}
    assert sorted(store.read_quotes("AAA")["price"]) == [1.0, 23.0, 25.0, 100.0]

    # eight days on, the youngest is past both retentions: it expires without passing through magnetic
    assert store.apply_retention(T0 + timedelta(days=8)).model_dump() == {"moved": 0, "expired": 4}
    assert store.tier_counts() == {"memory": 0, "magnetic": 0}
    assert store.latest_quote("AAA") is None


# --- quarantine and explicit corrections ---------------------------------------------------------------------


def held(
    symbol: str,
    day: date,
    close: float,
    *,
    reason: str = "close is implausible",
    identifier: str | None = None,
    **values: Any,
) -> dict[str, Any]:
    """A row for :meth:`TimeSeriesStore.quarantine_bars` (:data:`QUARANTINE_SCHEMA`)."""
    row = bar(symbol, day, close, **values)
    del row["available_at"]
    return {"id": identifier or f"qb_{symbol}_{day.isoformat()}_{close:g}", **row, "reason": reason}


def held_rows(rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=QUARANTINE_SCHEMA)


def test_bar_neighbours_are_the_bars_within_each_span_and_one_either_side(store: TimeSeriesStore) -> None:
    stored = [bar(symbol, day, 1.0 + n) for symbol in ("AAA", "BBB") for n, day in enumerate(days(date(2024, 1, 1), 9))]
    store.write_bars(bars(stored), ingested_at=T0)
    store.write_bars(bars([bar("AAA", date(2024, 1, 5), 50.0)]), ingested_at=T0 + HOUR)  # the current version counts

    found = store.bar_neighbours(
        [("AAA", date(2024, 1, 4), date(2024, 1, 5)), ("BBB", date(2023, 6, 1), date(2023, 6, 2))]
    )

    assert list(found.columns) == NEIGHBOUR_COLUMNS
    assert list(zip(found["symbol"], found["date"], found["close"], strict=True)) == [
        ("AAA", date(2024, 1, 3), 3.0),
        ("AAA", date(2024, 1, 4), 4.0),
        ("AAA", date(2024, 1, 5), 50.0),
        ("AAA", date(2024, 1, 6), 6.0),
        ("BBB", date(2024, 1, 1), 1.0),  # nothing before or within: only the next bar
    ]
    assert store.bar_neighbours([]).empty
    assert store.bar_neighbours([("ZZZ", date(2024, 1, 1), date(2024, 1, 9))]).empty


def test_quarantined_rows_are_listed_and_never_read_as_bars(store: TimeSeriesStore) -> None:
    day = date(2024, 1, 2)
    store.write_bars(bars([bar("AAA", day, 10.0)]), ingested_at=T0)
    rows = [
        held("AAA", day, 1e308, reason="close 1e+308 is above the price ceiling", volume=1e26),
        held("AAA", day + timedelta(days=1), 17.0, reason="close 17 is +70.0% against the previous close"),
        held("BBB", day, 5.0),
    ]

    ids = store.quarantine_bars(held_rows(rows), at=T0 + HOUR)

    assert ids == [row["id"] for row in rows]
    assert closes(store.read_bars("AAA")) == {day: 10.0}
    assert store.read_bars("BBB").empty
    assert store.bar_symbols() == ["AAA"]
    listed = store.quarantined_bars(symbol="AAA")
    assert [(entry.id, entry.date) for entry in listed] == [
        (rows[0]["id"], day),
        (rows[1]["id"], day + timedelta(days=1)),
    ]
    first = listed[0]
    assert (first.close, first.volume, first.open, first.source) == (1e308, 1e26, None, "test")
    assert first.reason == "close 1e+308 is above the price ceiling"
    assert (first.status, first.quarantined_at, first.resolved_at, first.resolved_by) == (
        QuarantineStatus.PENDING,
        T0 + HOUR,
        None,
        None,
    )
    assert {entry.symbol for entry in store.quarantined_bars()} == {"AAA", "BBB"}
    assert store.quarantined_bars(limit=1) == listed[:1]
    assert store.quarantined_bars(status=QuarantineStatus.RELEASED) == []
    assert [entry.id for entry in store.get_quarantined_bars([rows[2]["id"], "qb_unknown"])] == [rows[2]["id"]]
    # the same row again is held once, under its first id
    again = held("AAA", day, 1e308, reason="close 1e+308 is above the price ceiling", volume=1e26, identifier="qb_x")
    assert store.quarantine_bars(held_rows([again]), at=T0 + 2 * HOUR) == [rows[0]["id"]]
    assert len(store.quarantined_bars(symbol="AAA")) == 2
    assert store.quarantine_bars(held_rows([]), at=T0) == []


def test_a_correction_is_available_from_its_moment_and_resolves_quarantined_rows(store: TimeSeriesStore) -> None:
    day, later = date(2023, 12, 28), date(2023, 12, 29)
    store.write_bars(bars([bar("AAA", day, 10.0, available_at=end_of(day))]), ingested_at=T0)
    (identifier,) = store.quarantine_bars(held_rows([held("AAA", later, 17.0)]), at=T0 + HOUR)
    moment = T0 + 2 * HOUR
    correction = [bar("AAA", day, 15.0, available_at=end_of(day)), bar("AAA", later, 17.0, available_at=end_of(later))]

    counts = store.correct_bars(
        bars(correction),
        at=moment,
        by="usr_admin",
        note="restated by the exchange",
        resolves=[identifier],
        resolution=QuarantineStatus.RELEASED,
    )

    assert counts == WriteCounts(inserted=1, updated=1, unchanged=0)
    assert closes(store.read_bars("AAA")) == {day: 15.0, later: 17.0}
    assert closes(store.read_bars("AAA", as_of=moment - US)) == {day: 10.0}  # never backdated, history kept
    assert closes(store.read_bars("AAA", as_of=moment)) == {day: 15.0, later: 17.0}
    (resolved,) = store.get_quarantined_bars([identifier])
    assert (resolved.status, resolved.resolved_at, resolved.resolved_by, resolved.note) == (
        QuarantineStatus.RELEASED,
        moment,
        "usr_admin",
        "restated by the exchange",
    )
    assert store.quarantined_bars() == []
    assert store.quarantined_bars(status=None) == [resolved]


def test_resolving_a_row_that_is_not_pending_changes_nothing(store: TimeSeriesStore) -> None:
    day = date(2024, 1, 2)
    store.write_bars(bars([bar("AAA", day, 10.0)]), ingested_at=T0)
    first, second = store.quarantine_bars(
        held_rows([held("AAA", day, 20.0), held("AAA", day + timedelta(days=1), 30.0)]), at=T0
    )
    store.discard_quarantined_bars([first], at=T0 + HOUR, by="usr_admin", note="garbage")
    (discarded,) = store.get_quarantined_bars([first])
    assert (discarded.status, discarded.resolved_by, discarded.note) == (
        QuarantineStatus.DISCARDED,
        "usr_admin",
        "garbage",
    )

    with pytest.raises(QuarantineResolved):
        store.correct_bars(
            bars([bar("AAA", day, 20.0)]), at=T0 + 2 * HOUR, by="usr_admin", note="n", resolves=[second, first]
        )
    with pytest.raises(QuarantineResolved):
        store.discard_quarantined_bars([second, first], at=T0 + 2 * HOUR, by="usr_admin", note="n")

    assert closes(store.read_bars("AAA")) == {day: 10.0}
    assert [entry.id for entry in store.quarantined_bars()] == [second]


def test_quarantined_rows_survive_a_reopen(open_store: Callable[[], TimeSeriesStore]) -> None:
    store = open_store()
    (identifier,) = store.quarantine_bars(held_rows([held("AAA", date(2024, 1, 2), 1e308)]), at=T0)
    store.close()

    (entry,) = open_store().quarantined_bars()

    assert (entry.id, entry.close, entry.status) == (identifier, 1e308, QuarantineStatus.PENDING)


# --- concurrency, persistence, bookkeeping -----------------------------------------------------------------------


def test_reads_stay_consistent_while_bars_are_rewritten(store: TimeSeriesStore) -> None:
    history = [d.date() for d in pd.bdate_range("2022-01-03", periods=300)]

    def version(close: float) -> pa.Table:
        return bars([bar("AAA", day, close, volume=1.0, available_at=end_of(day)) for day in history])

    store.write_bars(version(1.0), ingested_at=T0)
    stop = threading.Event()

    def write() -> list[WriteCounts]:
        try:
            return [
                store.write_bars(version(2.0 if n % 2 == 0 else 1.0), ingested_at=T0 + (n + 1) * HOUR)
                for n in range(20)
            ]
        finally:
            stop.set()

    def read(as_of: datetime | None) -> set[float]:
        seen: set[float] = set()
        reads = 0
        while not stop.is_set() or reads < 3:
            frame = store.read_bars("AAA", as_of=as_of)
            assert len(frame) == len(history)
            assert frame["close"].nunique() == 1  # one version of the whole series, never a mixture
            seen |= set(frame["close"])
            reads += 1
        return seen

    with ThreadPoolExecutor(max_workers=4) as pool:
        readers = [pool.submit(read, as_of) for as_of in (None, None, T0 + 30 * timedelta(minutes=1))]
        counts = pool.submit(write).result()
        seen = [reader.result() for reader in readers]
    assert all(c == WriteCounts(inserted=0, updated=len(history), unchanged=0) for c in counts)
    assert seen[0] | seen[1] <= {1.0, 2.0}
    assert seen[2] == {1.0}  # as of before the first rewrite: always the original
    assert closes(store.read_bars("AAA")) == dict.fromkeys(history, 1.0)


def test_a_reopened_store_still_holds_everything(open_store: Callable[[], TimeSeriesStore]) -> None:
    store = open_store()
    store.upsert_symbols(CATALOGUE[:2])
    day = date(2024, 1, 1)
    store.write_bars(bars([bar("AAPL", day, 10.0, available_at=end_of(day))]), ingested_at=T0)
    store.write_bars(bars([bar("AAPL", day, 11.0)]), ingested_at=T0 + HOUR)
    store.write_quotes(quotes([quote("AAPL", T0 - HOUR, 1.0), quote("AAPL", T0 - 48 * HOUR, 2.0)]), ingested_at=T0)
    file = ProviderFile(name="aapl.csv", fingerprint="sha256:aa")
    store.record_ingested_file("directory", file, accepted=1, rejected=0, at=T0)
    store.close()

    reopened = open_store()
    assert reopened.get_symbol("AAPL") == CATALOGUE[0]
    assert closes(reopened.read_bars("AAPL")) == {day: 11.0}
    assert closes(reopened.read_bars("AAPL", as_of=T0)) == {day: 10.0}
    assert reopened.tier_counts() == {"memory": 1, "magnetic": 1}
    assert reopened.ingested_files("directory") == {"sha256:aa"}


def test_provider_bookkeeping_is_idempotent(store: TimeSeriesStore) -> None:
    first = ProviderFile(name="a.csv", fingerprint="sha256:1")
    second = ProviderFile(name="b.csv", fingerprint="sha256:2", symbol="BBB")
    assert store.ingested_files("directory") == set()

    store.record_ingested_file("directory", first, accepted=10, rejected=1, at=T0)
    store.record_ingested_file("directory", first, accepted=10, rejected=1, at=T0 + HOUR)
    store.record_ingested_file("directory", second, accepted=0, rejected=3, at=T0 + HOUR)
    store.record_ingested_file("vendor", first, accepted=10, rejected=1, at=T0)

    assert store.ingested_files("directory") == {"sha256:1", "sha256:2"}
    assert store.ingested_files("vendor") == {"sha256:1"}
    assert store.ingested_files("other") == set()


# --- hostile input -----------------------------------------------------------------------------------------------

INJECTIONS = ["x' OR '1'='1", "%", "_", "'; DROP TABLE bars_daily; --", "AAA' --", '" OR ""="', "\\", "') OR (1=1) --"]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_shaped_inputs_match_nothing_and_break_nothing(store: TimeSeriesStore, text: str) -> None:
    store.upsert_symbols([SymbolInfo(symbol="AAA", name="Alpha Holdings", sector="Energy")])
    store.write_bars(bars([bar("AAA", date(2024, 1, 1), 1.0), bar("AAA", date(2024, 1, 2), 2.0)]), ingested_at=T0)
    store.write_quotes(quotes([quote("AAA", T0, 1.0)]), ingested_at=T0)
    file = ProviderFile(name="a", fingerprint="f")
    store.record_ingested_file("dir", file, accepted=1, rejected=0, at=T0)

    for interval in Interval:
        assert store.read_bars(text, interval=interval).empty
        assert store.read_bars(text, interval=interval, as_of=T0).empty
    assert store.bar_range(text) is None
    assert store.get_symbol(text) is None
    assert store.find_symbols(query=text) == []
    assert store.find_symbols(sector=text) == []
    assert store.find_symbols(query=text, sector=text) == []
    assert store.known_symbols([text]) == set()
    assert store.latest_quote(text) is None
    assert store.read_quotes(text).empty
    assert store.ingested_files(text) == set()
    hostile = SymbolInfo(symbol="BAD", name=f"Bad {text} Co", sector=text)
    store.upsert_symbols([hostile])
    assert store.get_symbol("BAD") == hostile
    assert [info.symbol for info in store.find_symbols(query=text)] == ["BAD"]
    assert [info.symbol for info in store.find_symbols(sector=text)] == ["BAD"]

    assert store.bar_symbols() == ["AAA"]
    assert len(store.read_bars("AAA")) == 2
    assert store.tier_counts() == {"memory": 1, "magnetic": 0}
    assert store.ingested_files("dir") == {"f"}


# --- DuckDB specifics --------------------------------------------------------------------------------------------


def _tables(store: DuckDbTimeSeriesStore) -> dict[str, pa.Table]:
    """Every bar table's full contents, read directly (``ingested_at`` and ``available_at`` included)."""
    with store._cursor() as cursor:
        return {
            name: cursor.sql(f"SELECT * FROM {name} ORDER BY ALL").to_arrow_table()
            for name in ("bars_daily", "bars_history")
        }


def test_duckdb_reingesting_leaves_the_tables_identical(tmp_path: Path) -> None:
    store = DuckDbTimeSeriesStore(path=tmp_path / "market.duckdb")
    rows = [bar("AAA", day, 1.0 + n, available_at=end_of(day)) for n, day in enumerate(days(date(2024, 1, 1), 4))]
    store.write_bars(bars(rows), ingested_at=T0)
    store.write_bars(bars([{**rows[0], "close": 9.0}]), ingested_at=T0 + HOUR)
    before = _tables(store)

    store.write_bars(bars([{**rows[0], "close": 9.0}, *rows[1:]]), ingested_at=T0 + 2 * HOUR)

    after = _tables(store)
    assert after == before
    assert after["bars_daily"].num_rows == 4
    assert after["bars_history"].num_rows == 1
    assert set(after["bars_daily"].column("ingested_at").to_pylist()) == {T0, T0 + HOUR}
    store.close()


def test_duckdb_retention_durations_are_configurable(tmp_path: Path) -> None:
    store = DuckDbTimeSeriesStore(
        path=tmp_path / "market.duckdb", memory_retention=HOUR, magnetic_retention=timedelta(hours=2)
    )
    minute = timedelta(minutes=1)
    store.write_quotes(
        quotes([quote("AAA", T0 - 30 * minute, 1.0), quote("AAA", T0 - 90 * minute, 2.0)]), ingested_at=T0
    )
    assert store.tier_counts() == {"memory": 1, "magnetic": 1}

    assert store.apply_retention(T0 + HOUR).model_dump() == {"moved": 1, "expired": 1}
    assert store.tier_counts() == {"memory": 0, "magnetic": 1}
    store.close()
    with pytest.raises(ValueError, match="retention"):
        DuckDbTimeSeriesStore(path=None, memory_retention=timedelta(days=2), magnetic_retention=timedelta(days=1))


def test_duckdb_in_memory_store_works(tmp_path: Path) -> None:
    store = DuckDbTimeSeriesStore(path=None)
    store.write_bars(bars([bar("AAA", date(2024, 1, 1), 1.0)]), ingested_at=T0)
    assert store.bar_range("AAA") == (date(2024, 1, 1), date(2024, 1, 1), 1)
    store.close()
    assert list(tmp_path.iterdir()) == []


def test_duckdb_refuses_a_database_from_a_newer_release(tmp_path: Path) -> None:
    path = tmp_path / "market.duckdb"
    created = DuckDbTimeSeriesStore(path=path)
    created.bar_symbols()  # opened (and the schema created) on first use
    created.close()
    connection = duckdb.connect(str(path))
    connection.execute("INSERT INTO schema_version VALUES (99, 'from the future')")
    connection.close()

    with pytest.raises(RuntimeError, match="schema 99"):
        DuckDbTimeSeriesStore(path=path).bar_symbols()


def test_duckdb_upgrades_a_database_of_the_previous_schema(tmp_path: Path) -> None:
    path = tmp_path / "market.duckdb"
    connection = duckdb.connect(str(path))
    connection.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR NOT NULL)")
    for version in (1, 2):
        description, statements = _MIGRATIONS[version]
        for statement in statements:
            connection.execute(statement)
        connection.execute("INSERT INTO schema_version VALUES (?, ?)", [version, description])
    connection.execute(
        "INSERT INTO bars_daily VALUES ('AAA', DATE '2024-01-02', NULL, NULL, NULL, 10.0, NULL, NULL, 'old', ?, ?)",
        [T0, T0],
    )
    connection.close()

    store = DuckDbTimeSeriesStore(path=path)
    store.quarantine_bars(held_rows([held("AAA", date(2024, 1, 2), 1e308)]), at=T0)

    assert closes(store.read_bars("AAA")) == {date(2024, 1, 2): 10.0}
    assert [entry.close for entry in store.quarantined_bars()] == [1e308]
    with store._cursor() as cursor:
        assert cursor.execute("SELECT version FROM schema_version ORDER BY version").fetchall() == [(1,), (2,), (3,)]
    store.close()


_SHARING_CHILD = """
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from investai.adapters.local.duckdb_market import DuckDbTimeSeriesStore
from investai.domain.market import SymbolInfo
from investai.ports.market import BAR_SCHEMA

store = DuckDbTimeSeriesStore(path=Path(sys.argv[1]))
symbol, days = sys.argv[2], int(sys.argv[3])
store.upsert_symbols([SymbolInfo(symbol=symbol, name=symbol)])
moment = datetime(2024, 1, 1, tzinfo=UTC)
for day in range(days):
    when = date(2020, 1, 1) + timedelta(days=day)
    bars = pa.table(
        {
            "symbol": [symbol], "date": [when], "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0],
            "adj_close": [1.0], "volume": [1.0], "source": ["child"], "available_at": [moment],
        },
        schema=BAR_SCHEMA,
    )
    store.write_bars(bars, ingested_at=moment)
    assert len(store.read_bars(symbol)) == day + 1
store.close()
print("done", flush=True)
"""


def test_duckdb_store_opens_on_first_use_and_is_shared_by_processes(tmp_path: Path) -> None:
    """DuckDB gives a file to one read-write process at a time; the store hands it over between calls, so
    processes writing and reading at once all succeed and see each other's commits."""
    path = tmp_path / "market.duckdb"
    idle = DuckDbTimeSeriesStore(path=path)
    assert not path.exists()  # nothing opened yet
    idle.close()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _SHARING_CHILD, str(path), symbol, "40"], stdout=subprocess.PIPE, text=True
        )
        for symbol in ("ONE", "TWO")
    ]
    store = DuckDbTimeSeriesStore(path=path)
    try:
        store.upsert_symbols([SymbolInfo(symbol="HERE", name="Here")])
        for day in range(40):
            store.write_bars(bars([bar("HERE", date(2020, 1, 1) + timedelta(days=day), 1.0)]), ingested_at=T0)
            assert len(store.read_bars("HERE")) == day + 1
        for child in children:
            out, _ = child.communicate(timeout=120)
            assert child.returncode == 0
            assert out.strip() == "done"
        assert {symbol: len(store.read_bars(symbol)) for symbol in ("HERE", "ONE", "TWO")} == {
            "HERE": 40,
            "ONE": 40,
            "TWO": 40,
        }
    finally:
        for child in children:
            child.kill()
            child.wait()
        store.close()


def test_duckdb_store_held_past_the_lease_timeout_is_a_clear_error(tmp_path: Path) -> None:
    """A process in the middle of one long call keeps the store; another that cannot wait that long gets
    :class:`MarketStoreBusy` (503 at the API), and the store is free again once the call ends."""
    path = tmp_path / "market.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from investai.adapters.local.duckdb_market import DuckDbTimeSeriesStore;"
            "store = DuckDbTimeSeriesStore(path=Path(sys.argv[1]));"
            "cursor = store._cursor(); cursor.__enter__(); print('ready', flush=True); time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        store = DuckDbTimeSeriesStore(path=path, lease_timeout_s=0.5)
        with pytest.raises(MarketStoreBusy, match="busy in another process"):
            store.bar_symbols()
        store.close()
    finally:
        holder.kill()
        holder.wait()
    reopened = DuckDbTimeSeriesStore(path=path)
    assert reopened.bar_symbols() == []  # free again once the holder is gone
    reopened.close()


def test_duckdb_quotes_realtime_view_shows_both_tiers(tmp_path: Path) -> None:
    store = DuckDbTimeSeriesStore(path=tmp_path / "market.duckdb")
    now = T0
    quotes = pa.table(
        {
            "symbol": ["ACME", "ACME"],
            "timestamp": pa.array([now - timedelta(hours=30), now - timedelta(minutes=1)], pa.timestamp("us", "UTC")),
            "price": [1.0, 2.0],
            "size": [None, None],
            "bid": [None, None],
            "ask": [None, None],
            "source": ["t", "t"],
        },
        schema=QUOTE_SCHEMA,
    )
    store.write_quotes(quotes, ingested_at=now)
    with store._cursor() as cursor:
        rows = cursor.execute("SELECT price, tier FROM quotes_realtime ORDER BY timestamp").fetchall()
    assert rows == [(1.0, "magnetic"), (2.0, "memory")]
    store.close()
