"""Daily bar history as Parquet in S3, read through pyarrow's S3 filesystem and queried with DuckDB in process.

Layout: ``<bucket>/<prefix>bars/<symbol>/<written at µs, 17 digits>-<random>.parquet`` (``-merged-`` in the
name of a compaction's file). Each file is one write's
new and changed rows of one symbol, immutable once written: every row is a *version* of a (symbol, date) bar
with the moment its values became available (``available_at``) and the moment it was written (``ingested_at``).
Nothing is ever rewritten in place, so a reader that lists a symbol's files and reads them sees a consistent
history: the files written before its listing, each whole (an S3 PUT is atomic).

A version is superseded by the next version of its key (in ``ingested_at`` order) at that version's
``ingested_at``. From the versions, :func:`versions_as_tables` derives the two tables the embedded DuckDB
store keeps — ``bars_daily`` (current versions) and ``bars_history`` (replaced ones, with ``superseded_at``) —
as views, so reads run the embedded shape's own SQL (:meth:`DuckDbTimeSeriesStore._daily_query`, the
resampling and the neighbour query) and point-in-time reads answer exactly as they do there.

Writes are classified against the stored versions with the embedded store's rules (a row equal to the current
one changes nothing; a changed one is available from the write; a first one keeps its own availability, capped
at the write) and are serialised by a lock (a DynamoDB lease on AWS, :mod:`~investai.adapters.aws.dynamodb_lock`),
so two writers never classify against the same stale state. A batch is written symbol by symbol: it is atomic
per symbol, and a batch interrupted part-way is completed by retrying it (the symbols already written then count
as unchanged).

Compaction (:meth:`S3BarHistory.compact`, run by a scheduled job) merges a symbol's files into one once it has
more than ``compact_after`` of them: the new file holds exactly the old files' versions and is written before
they are deleted, so a reader sees each version at least once throughout; readers de-duplicate versions. A file
deleted between a reader's listing and its read is skipped when the listing holds a merged file named after it
(files are named by the moment they are written, and a merged file holds every file named before it); otherwise
the reader lists again.
"""

# SQL text in this module is assembled only from its own constant fragments; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, date, datetime
from urllib.parse import quote, unquote

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from investai.adapters.local import duckdb_quarantine
from investai.adapters.local.duckdb_market import (
    _NEW,
    _UNCHANGED,
    DuckDbTimeSeriesStore,
    _conform,
    _distinct,
    _frame,
    _refuse_duplicates,
    _resampled,
    _strictly_increasing,
    _utc,
)
from investai.domain.errors import StoreUnavailable
from investai.domain.market import Interval, WriteCounts
from investai.observability.logging import get_logger
from investai.ports.market import BAR_COLUMNS, BAR_SCHEMA, NEIGHBOUR_COLUMNS

log = get_logger(__name__)

_VALUES = ["symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "source"]
_COMPARED = ["open", "high", "low", "close", "adj_close", "volume", "source"]
VERSION_SCHEMA = pa.schema(
    [
        *[BAR_SCHEMA.field(name) for name in _VALUES],
        pa.field("available_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
"""One stored version of a bar: its values, when they became available and when they were written."""
_PERIODS = {Interval.WEEKLY: "week", Interval.MONTHLY: "month"}
_READ_ATTEMPTS = 5
_RETRY_PAUSE_S = 0.05
_MERGED = "-merged-"
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


class _Relist(Exception):
    """A listed file was deleted before it could be read, and no merged file in the listing holds it."""


def _stamp(path: str) -> int:
    """The moment a version file was written (µs), from its name."""
    return int(path.rsplit("/", 1)[-1][:17])


def versions_as_tables(connection: duckdb.DuckDBPyConnection, versions: pa.Table) -> None:
    """Register ``versions`` (:data:`VERSION_SCHEMA`) on ``connection`` and derive the embedded store's
    ``bars_daily`` and ``bars_history`` from it as temporary views."""
    connection.register("bar_versions", versions)
    connection.execute(
        """CREATE OR REPLACE TEMP VIEW ranked_versions AS
        SELECT *, lead(ingested_at) OVER (PARTITION BY symbol, date ORDER BY ingested_at) AS superseded_at
        FROM (SELECT DISTINCT * FROM bar_versions)"""
    )
    connection.execute(
        "CREATE OR REPLACE TEMP VIEW bars_daily AS "
        "SELECT * EXCLUDE (superseded_at) FROM ranked_versions WHERE superseded_at IS NULL"
    )
    connection.execute(
        "CREATE OR REPLACE TEMP VIEW bars_history AS SELECT * FROM ranked_versions WHERE superseded_at IS NOT NULL"
    )


class _FileCache:
    """Parsed version files by key, least recently used first out once ``max_bytes`` is exceeded. Files are
    never changed once written (a key names one write), so a cached table is never stale."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._tables: OrderedDict[str, pa.Table] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> pa.Table | None:
        with self._lock:
            table = self._tables.get(key)
            if table is not None:
                self._tables.move_to_end(key)
            return table

    def put(self, key: str, table: pa.Table) -> None:
        if table.nbytes > self._max_bytes:
            return
        with self._lock:
            if key in self._tables:
                return
            self._tables[key] = table
            self._bytes += table.nbytes
            while self._bytes > self._max_bytes and self._tables:
                _, dropped = self._tables.popitem(last=False)
                self._bytes -= dropped.nbytes

    def drop(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                table = self._tables.pop(key, None)
                if table is not None:
                    self._bytes -= table.nbytes


def _thread_lock() -> Callable[[], AbstractContextManager[None]]:
    lock = threading.RLock()

    @contextmanager
    def held() -> Iterator[None]:
        with lock:
            yield

    return held


class S3BarHistory:
    """The bar half of the AWS shape's :class:`~investai.ports.market.TimeSeriesStore` (see the module).

    ``filesystem`` is a pyarrow filesystem (``S3FileSystem`` on AWS; any pyarrow filesystem works, which is
    how tests and benchmarks can also run it on a local directory). ``write_lock`` serialises writers across
    processes; the default serialises only this process's threads.
    """

    def __init__(
        self,
        filesystem: pafs.FileSystem,
        *,
        bucket: str,
        prefix: str = "market/",
        write_lock: Callable[[], AbstractContextManager[None]] | None = None,
        compact_after: int = 16,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not prefix.endswith("/"):
            raise ValueError("the prefix must end with '/'")
        self._fs = filesystem
        self._root = f"{bucket}/{prefix}bars"
        self._write_lock = write_lock or _thread_lock()
        self._compact_after = compact_after
        self._cache = _FileCache(cache_bytes)
        self._now = clock or (lambda: datetime.now(UTC))
        self._db = duckdb.connect()
        self._last_stamp = 0

    # --- layout ------------------------------------------------------------------------------------------

    def _directory(self, symbol: str) -> str:
        return f"{self._root}/{quote(symbol, safe='')}"

    def _files(self, symbol: str) -> list[str]:
        """The symbol's version files, oldest write first."""
        try:
            infos = self._fs.get_file_info(pafs.FileSelector(self._directory(symbol), allow_not_found=True))
        except OSError as error:
            raise StoreUnavailable(f"market history unreachable: {error}") from error
        return sorted(info.path for info in infos if info.is_file and info.path.endswith(".parquet"))

    def _read_file(self, path: str) -> pa.Table:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        table = pq.read_table(path, filesystem=self._fs, schema=VERSION_SCHEMA)
        self._cache.put(path, table)
        return table

    def _versions(self, symbols: Sequence[str]) -> pa.Table:
        """Every stored version of ``symbols`` (see :meth:`_symbol_versions`)."""
        tables = [table for symbol in dict.fromkeys(symbols) for table in self._symbol_versions(symbol)]
        if not tables:
            return VERSION_SCHEMA.empty_table()
        return pa.concat_tables(tables)

    def _symbol_versions(self, symbol: str) -> list[pa.Table]:
        """The symbol's version files, read. A compaction may delete a listed file before it is read: its rows
        are in the merged file when the listing holds one named later (a merged file holds every file named
        before it), so it is skipped; otherwise the listing is taken again."""
        for attempt in range(_READ_ATTEMPTS):
            paths = self._files(symbol)
            merged_at = max((_stamp(path) for path in paths if _MERGED in path), default=-1)
            tables: list[pa.Table] = []
            try:
                for path in paths:
                    try:
                        tables.append(self._read_file(path))
                    except OSError as error:
                        if not self._gone(path):
                            raise StoreUnavailable(f"market history unreachable: {error}") from error
                        if _MERGED in path or _stamp(path) >= merged_at:
                            raise _Relist from error
                return tables
            except _Relist:
                time.sleep(_RETRY_PAUSE_S * (attempt + 1))
        raise StoreUnavailable("market history is being compacted; try again")

    def _gone(self, path: str) -> bool:
        """Whether ``path`` no longer exists (a read that failed on it failed for that reason)."""
        try:
            return bool(self._fs.get_file_info(path).type == pafs.FileType.NotFound)
        except OSError:
            return False

    @contextmanager
    def _connection(self, symbols: Sequence[str]) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of this history's in-memory DuckDB with ``bars_daily`` and ``bars_history`` over the
        symbols' versions. Each cursor is a connection of its own (its registrations and temporary views are
        its own), so concurrent reads never see each other's tables; opening a cursor costs microseconds where
        opening a database costs milliseconds."""
        connection = self._db.cursor()
        try:
            versions_as_tables(connection, self._versions(symbols))
            yield connection
        finally:
            connection.close()

    # --- writes ------------------------------------------------------------------------------------------

    def write_bars(self, bars: pa.Table, *, ingested_at: datetime) -> WriteCounts:
        """Upsert on (symbol, date) with the embedded store's rules (see the port and the module)."""
        moment = _utc(ingested_at)
        batch = _conform(bars, BAR_SCHEMA)
        if batch.num_rows == 0:
            return WriteCounts(inserted=0, updated=0, unchanged=0)
        if not _strictly_increasing(batch, "symbol", "date"):
            check = self._db.cursor()
            try:
                check.register("incoming_bars", batch)
                _refuse_duplicates(check, "incoming_bars", "symbol", "date")
            finally:
                check.close()
        symbols = sorted(set(batch.column("symbol").to_pylist()))
        inserted = updated = unchanged = 0
        with self._write_lock():
            for symbol in symbols:
                rows = batch.filter(pc.equal(batch.column("symbol"), symbol))
                counts, fresh = self._classify(symbol, rows, moment)
                if fresh.num_rows:
                    self._put(symbol, fresh)
                inserted, updated, unchanged = (
                    inserted + counts.inserted,
                    updated + counts.updated,
                    unchanged + counts.unchanged,
                )
        return WriteCounts(inserted=inserted, updated=updated, unchanged=unchanged)

    def _classify(self, symbol: str, rows: pa.Table, moment: datetime) -> tuple[WriteCounts, pa.Table]:
        """The counts, and the versions to append: new rows available from min(their availability, the
        write), changed rows from the write."""
        with self._connection([symbol]) as connection:
            connection.register("incoming_bars", rows)
            fields = ", ".join(f"i.{name}" for name in _VALUES)
            classified = connection.sql(
                f"""SELECT {fields},
                    CASE WHEN s.symbol IS NULL THEN LEAST(i.available_at, $moment) ELSE $moment END AS available_at,
                    $moment AS ingested_at,
                    CASE WHEN s.symbol IS NULL THEN {_NEW}
                         WHEN {_distinct(_COMPARED, "i", "s")} THEN 1 ELSE {_UNCHANGED} END AS status
                FROM incoming_bars AS i LEFT JOIN bars_daily AS s ON s.symbol = i.symbol AND s.date = i.date
                ORDER BY i.date""",
                params={"moment": moment},
            ).to_arrow_table()
        status = classified.column("status")
        counts = WriteCounts(
            inserted=pc.sum(pc.equal(status, _NEW)).as_py() or 0,
            updated=pc.sum(pc.equal(status, 1)).as_py() or 0,
            unchanged=pc.sum(pc.equal(status, _UNCHANGED)).as_py() or 0,
        )
        fresh = classified.filter(pc.not_equal(status, _UNCHANGED)).select(VERSION_SCHEMA.names)
        return counts, fresh.cast(VERSION_SCHEMA)

    def _put(self, symbol: str, versions: pa.Table, *, merged: bool = False) -> str:
        """Write one file of versions, named by the moment of writing (never earlier than the last name this
        process gave), so a merged file is named after every file it merged and before any written later."""
        stamp = max(int(self._now().timestamp() * 1_000_000), self._last_stamp + 1)
        self._last_stamp = stamp
        kind = _MERGED if merged else "-"
        path = f"{self._directory(symbol)}/{stamp:017d}{kind}{uuid.uuid4().hex[:12]}.parquet"
        try:
            if self._fs.type_name == "s3":  # a PUT is atomic: the object appears whole or not at all
                pq.write_table(versions, path, filesystem=self._fs, compression="zstd")
            else:  # a local tree (tests, benchmarks): write aside, then rename into place
                self._fs.create_dir(self._directory(symbol), recursive=True)
                pq.write_table(versions, f"{path}.partial", filesystem=self._fs, compression="zstd")
                self._fs.move(f"{path}.partial", path)
        except OSError as error:
            raise StoreUnavailable(f"market history unreachable: {error}") from error
        self._cache.put(path, versions)
        return path

    def compact(self, symbols: Sequence[str] | None = None) -> int:
        """Merge the files of each symbol that has more than ``compact_after`` into one; the number of symbols
        compacted. Runs under the write lock, so no write interleaves with it."""
        compacted = 0
        with self._write_lock():
            for symbol in symbols if symbols is not None else self.bar_symbols():
                paths = self._files(symbol)
                if len(paths) <= self._compact_after:
                    continue
                tables = [self._read_file(path) for path in paths]
                merged = self._db.cursor()
                try:
                    merged.register("versions", pa.concat_tables(tables))
                    rows = merged.sql("SELECT DISTINCT * FROM versions ORDER BY date, ingested_at").to_arrow_table()
                finally:
                    merged.close()
                self._put(symbol, rows.cast(VERSION_SCHEMA), merged=True)
                for path in paths:
                    with suppress(FileNotFoundError):
                        self._fs.delete_file(path)
                self._cache.drop(paths)
                compacted += 1
                log.info("market.compacted", symbol=symbol, files=len(paths), versions=rows.num_rows)
        return compacted

    # --- reads -------------------------------------------------------------------------------------------

    def read_bars(
        self,
        symbol: str,
        *,
        start: date | None = None,
        end: date | None = None,
        interval: Interval = Interval.DAILY,
        as_of: datetime | None = None,
    ) -> pd.DataFrame:
        """As the embedded store reads (the same SQL, over this symbol's versions)."""
        daily, params = DuckDbTimeSeriesStore._daily_query(symbol, start, end, as_of)
        period = Interval(interval)
        sql = (
            f"SELECT * FROM ({daily}) ORDER BY date"
            if period is Interval.DAILY
            else _resampled(daily, _PERIODS[period])
        )
        with self._connection([symbol]) as connection:
            rows = connection.sql(sql, params=params).to_arrow_table()
        return _frame(rows, BAR_COLUMNS)

    def bar_range(self, symbol: str) -> tuple[date, date, int] | None:
        with self._connection([symbol]) as connection:
            row = connection.execute("SELECT min(date), max(date), count(*) FROM bars_daily").fetchone()
        if row is None or not row[2]:
            return None
        return row[0], row[1], int(row[2])

    def bar_symbols(self) -> list[str]:
        try:
            infos = self._fs.get_file_info(pafs.FileSelector(self._root, allow_not_found=True))
        except OSError as error:
            raise StoreUnavailable(f"market history unreachable: {error}") from error
        found = [unquote(info.base_name) for info in infos if info.type == pafs.FileType.Directory]
        return sorted(symbol for symbol in found if self._files(symbol))

    def bar_neighbours(self, spans: Sequence[tuple[str, date, date]]) -> pd.DataFrame:
        if not spans:
            return _frame(pa.table({name: [] for name in NEIGHBOUR_COLUMNS}), NEIGHBOUR_COLUMNS)
        with self._connection([span[0] for span in spans]) as connection:
            rows = duckdb_quarantine.neighbours(connection, spans)
        return _frame(rows, NEIGHBOUR_COLUMNS)

    def stats(self, symbol: str) -> dict[str, int]:
        """Files and versions stored for ``symbol`` (operators, tests and benchmarks)."""
        paths = self._files(symbol)
        return {"files": len(paths), "versions": sum(self._read_file(path).num_rows for path in paths)}

    def check(self) -> None:
        """Raise unless the history's bucket can be listed."""
        try:
            self._fs.get_file_info(pafs.FileSelector(self._root, allow_not_found=True))
        except OSError as error:
            raise StoreUnavailable(f"market history unreachable: {error}") from error
