"""The market data store of the embedded deployment, on DuckDB: the symbol master, daily bars with their
point-in-time versions, two tiers of real-time quotes and the providers' file bookkeeping, in one database file.

Bars. ``bars_daily`` holds the current version of every (symbol, date); ``bars_history`` the versions that
were replaced, each with the moment it stopped being current (``superseded_at``). A version is visible as of
T when ``available_at <= T`` and, for a replaced one, ``superseded_at > T``. A correction becomes available
when it is ingested and supersedes the old version at that same moment, so the validity intervals of one
key's versions never overlap as long as ``ingested_at`` (the application's clock) does not go backwards.
``bars_quarantine`` holds well-formed but implausible rows apart from both, pending review
(:mod:`investai.adapters.local.duckdb_quarantine`); a release or correction writes bars like any other write.

Neither table has a primary key: DuckDB's ART index makes a bulk load more than twice as slow (2.2 against
5.4 million rows a second for a million bars) and range scans do not need it. The writer keeps (symbol, date)
unique instead: writes are serialised by a lock and each classifies its rows against the stored ones inside
one transaction. Rows are inserted sorted by (symbol, date), so each row group covers few symbols and a
narrow date range, and DuckDB's zone maps (per-segment min/max) skip all but the row groups a one-symbol
range query needs (one of a hundred for a year of one symbol among a thousand).
"""

# SQL text in this module is assembled only from its own constant fragments (table and column names, fixed
# units and status codes); every value, user-supplied or not, is a bound parameter (``?``).
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from investai.adapters.local import duckdb_quarantine as quarantine
from investai.adapters.local.fsutil import ensure_private_dir
from investai.adapters.local.process_lease import LeaseTimeout, ProcessLease
from investai.domain.errors import StoreUnavailable
from investai.domain.market import (
    AssetClass,
    Interval,
    MarketStoreBusy,
    QuarantinedBar,
    QuarantineStatus,
    Quote,
    RetentionResult,
    SymbolInfo,
    WriteCounts,
)
from investai.observability.logging import get_logger
from investai.ports.market import (
    BAR_COLUMNS,
    BAR_SCHEMA,
    NEIGHBOUR_COLUMNS,
    QUARANTINE_SCHEMA,
    QUOTE_COLUMNS,
    QUOTE_SCHEMA,
    ProviderFile,
)

log = get_logger(__name__)

SCHEMA_VERSION = 3
"""The layout this module creates and reads; :data:`_MIGRATIONS` lists how each version is reached."""

_MIGRATIONS: dict[int, tuple[str, list[str]]] = {
    1: (
        "symbols, daily bars with history, tiered quotes, provider files",
        [
            """CREATE TABLE IF NOT EXISTS symbols (
                symbol VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, asset_class VARCHAR NOT NULL,
                sector VARCHAR, industry VARCHAR, currency VARCHAR NOT NULL, exchange VARCHAR, benchmark VARCHAR)""",
            """CREATE TABLE IF NOT EXISTS bars_daily (
                symbol VARCHAR NOT NULL, date DATE NOT NULL, open DOUBLE, high DOUBLE, low DOUBLE,
                close DOUBLE NOT NULL, adj_close DOUBLE, volume DOUBLE, source VARCHAR NOT NULL,
                ingested_at TIMESTAMPTZ NOT NULL, available_at TIMESTAMPTZ NOT NULL)""",
            """CREATE TABLE IF NOT EXISTS bars_history (
                symbol VARCHAR NOT NULL, date DATE NOT NULL, open DOUBLE, high DOUBLE, low DOUBLE,
                close DOUBLE NOT NULL, adj_close DOUBLE, volume DOUBLE, source VARCHAR NOT NULL,
                ingested_at TIMESTAMPTZ NOT NULL, available_at TIMESTAMPTZ NOT NULL,
                superseded_at TIMESTAMPTZ NOT NULL)""",
            *(
                f"""CREATE TABLE IF NOT EXISTS {tier} (
                    symbol VARCHAR NOT NULL, timestamp TIMESTAMPTZ NOT NULL, price DOUBLE NOT NULL, size DOUBLE,
                    bid DOUBLE, ask DOUBLE, source VARCHAR NOT NULL, ingested_at TIMESTAMPTZ NOT NULL)"""
                for tier in ("quotes_memory", "quotes_magnetic")
            ),
            """CREATE TABLE IF NOT EXISTS provider_files (
                provider VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL, name VARCHAR NOT NULL,
                accepted BIGINT NOT NULL, rejected BIGINT NOT NULL, ingested_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (provider, fingerprint))""",
        ],
    ),
    2: (
        "quotes_realtime: both quote tiers as one view, each row with its tier",
        [
            """CREATE OR REPLACE VIEW quotes_realtime AS
                SELECT *, 'memory' AS tier FROM quotes_memory
                UNION ALL SELECT *, 'magnetic' AS tier FROM quotes_magnetic""",
        ],
    ),
    3: (
        "bars_quarantine: well-formed but implausible bars held for review, never read as bars",
        [quarantine.TABLE_DDL],
    ),
}

_BAR_FIELDS = ["symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "source"]
_BAR_STORED = [*_BAR_FIELDS, "ingested_at", "available_at"]
_BAR_COMPARED = ["open", "high", "low", "close", "adj_close", "volume", "source"]
_QUOTE_FIELDS = ["symbol", "timestamp", "price", "size", "bid", "ask", "source"]
_QUOTE_COMPARED = ["price", "size", "bid", "ask", "source"]
_QUOTE_TIERS = ("quotes_memory", "quotes_magnetic")
_SYMBOL_COLUMNS = ["symbol", "name", "asset_class", "sector", "industry", "currency", "exchange", "benchmark"]
_PERIODS = {Interval.WEEKLY: "week", Interval.MONTHLY: "month"}
"""``date_trunc`` units: ISO weeks (Monday to Sunday) and calendar months. Fixed strings, never user input."""

_NEW, _CHANGED, _UNCHANGED = 0, 1, 2
"""How an incoming row compares with the stored one of its key."""


# --- values at the boundary ----------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive datetimes are refused rather than guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no timezone; the store takes aware datetimes")
    return moment.astimezone(UTC)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table``'s columns of ``schema``, cast to it, with NaN stored as null (a missing value, whichever way
    the caller spelt it). Raises ``ValueError`` for a missing column, a naive timestamp column, an uncastable
    column or a missing value where the schema requires one."""
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise ValueError(f"the batch lacks columns {missing}")
    selected = table.select(schema.names)
    for field in schema:
        given = selected.schema.field(field.name).type
        if pa.types.is_timestamp(field.type) and pa.types.is_timestamp(given) and given.tz is None:
            raise ValueError(f"column {field.name!r} has no timezone; give UTC-aware timestamps")
    try:
        cast = selected.cast(schema)  # nullability checked here too
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError) as error:
        raise ValueError(f"the batch does not fit the schema: {error}") from error
    for index, field in enumerate(schema):
        if pa.types.is_floating(field.type):
            cast = cast.set_column(index, field, _nan_as_null(cast.column(index), field))
    return cast


def available_from(batch: pa.Table, moment: datetime) -> pa.Table:
    """A conformed bar batch with every row's ``available_at`` set to ``moment`` (a correction: never
    backdated)."""
    index = BAR_SCHEMA.get_field_index("available_at")
    field = BAR_SCHEMA.field(index)
    return batch.set_column(index, field, pa.repeat(pa.scalar(moment, field.type), batch.num_rows))


def _nan_as_null(column: pa.ChunkedArray, field: pa.Field) -> pa.ChunkedArray:
    if not pc.any(pc.is_nan(column)).as_py():
        return column
    if not field.nullable:
        raise ValueError(f"column {field.name!r} has NaN values")
    return pc.if_else(pc.is_nan(column), pa.scalar(None, field.type), column)


def _strictly_increasing(table: pa.Table, first: str, second: str) -> bool:
    """Whether ``table`` is sorted by (``first``, ``second``) with no key twice: one vectorised comparison of
    neighbours. Most batches are (files come sorted), and then neither a duplicate check nor a sort is needed."""
    if table.num_rows < 2:
        return True
    a, b = table.column(first).combine_chunks(), table.column(second).combine_chunks()
    after = pc.or_(pc.greater(a[1:], a[:-1]), pc.and_(pc.equal(a[1:], a[:-1]), pc.greater(b[1:], b[:-1])))
    return bool(pc.all(after).as_py())


def _refuse_duplicates(cursor: duckdb.DuckDBPyConnection, table: str, first: str, second: str) -> None:
    """``ValueError`` naming a (``first``, ``second``) key that occurs more than once in ``table``. (DuckDB
    groups an unsorted million rows several times faster than Arrow sorts them.)"""
    row = _first(
        cursor, f"SELECT {first}, {second} FROM {table} GROUP BY {first}, {second} HAVING count(*) > 1 LIMIT 1"
    )
    if row is not None:
        raise ValueError(f"the batch holds ({row[0]}, {row[1]}) more than once")


def _bounds(table: pa.Table, first: str, second: str) -> list[Any]:
    """(min first, max first, min second, max second) of a non-empty batch: the box a write can touch."""
    low_a, high_a = pc.min_max(table.column(first)).values()
    low_b, high_b = pc.min_max(table.column(second)).values()
    return [low_a.as_py(), high_a.as_py(), low_b.as_py(), high_b.as_py()]


def _distinct(columns: Sequence[str], left: str, right: str) -> str:
    """SQL: any of ``columns`` differs between the two aliases (NULL equals NULL)."""
    return " OR ".join(f"{left}.{name} IS DISTINCT FROM {right}.{name}" for name in columns)


def _frame(rows: pa.Table, columns: list[str]) -> pd.DataFrame:
    """A result as pandas: dates as ``datetime.date`` objects, floats with NaN, timestamps tz-aware UTC."""
    return rows.select(columns).to_pandas(date_as_object=True)


def _symbol_info(row: tuple[Any, ...]) -> SymbolInfo:
    return SymbolInfo.model_validate(dict(zip(_SYMBOL_COLUMNS, row, strict=True)))


def _quote(row: tuple[Any, ...]) -> Quote:
    record = dict(zip(_QUOTE_FIELDS, row, strict=True))
    record["timestamp"] = _utc(record["timestamp"])
    return Quote.model_validate(record)


class _Where:
    """A conjunction of SQL conditions with their bound parameters. Only fixed SQL text goes in ``sql``;
    every value goes in ``params``."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> _Where:
        self.parts.append(condition)
        self.params.extend(params)
        return self

    def when(self, value: Any, condition: str) -> _Where:
        """Add ``condition`` (one ``?``) bound to ``value``, unless ``value`` is ``None``."""
        return self if value is None else self.add(condition, value)

    @property
    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "TRUE"


def _migrate(connection: duckdb.DuckDBPyConnection) -> None:
    """Create the tables (``IF NOT EXISTS``) and record the schema version, in one transaction; refuse a newer
    database."""
    cursor = connection.cursor()
    try:
        cursor.execute("BEGIN TRANSACTION")
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description VARCHAR NOT NULL)"
        )
        found = _first(cursor, "SELECT coalesce(max(version), 0) FROM schema_version")
        current = int(found[0]) if found else 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(f"market database has schema {current}; this release reads {SCHEMA_VERSION}")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            description, statements = _MIGRATIONS[version]
            for statement in statements:
                cursor.execute(statement)
            cursor.execute("INSERT INTO schema_version VALUES (?, ?)", [version, description])
        cursor.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            cursor.execute("ROLLBACK")
        connection.close()
        raise
    finally:
        with contextlib.suppress(duckdb.Error):
            cursor.close()


# --- the store -------------------------------------------------------------------------------------------------

DUCKDB_MAGIC = b"DUCK"
DUCKDB_MAGIC_OFFSET = 8
"""Where every DuckDB database file says what it is (after the header block's checksum)."""
UNREADABLE_RETRY_AFTER_S = 60.0


class MarketStoreUnreadable(StoreUnavailable):
    """The market database file cannot be opened (not a DuckDB file, or damaged): market calls answer 503 until
    an operator restores it; the file is left exactly as it is."""

    code = "market_store_unavailable"


def _check_header(path: Path) -> None:
    """Raise :class:`MarketStoreUnreadable` unless ``path`` (when it exists) starts as a DuckDB database does."""
    try:
        with path.open("rb") as file:
            head = file.read(DUCKDB_MAGIC_OFFSET + len(DUCKDB_MAGIC))
    except FileNotFoundError:
        return  # not created yet: the first call creates it
    if head[DUCKDB_MAGIC_OFFSET:] != DUCKDB_MAGIC:
        raise MarketStoreUnreadable(
            f"{path.name} is not a DuckDB database file", retry_after_s=UNREADABLE_RETRY_AFTER_S
        )


class DuckDbTimeSeriesStore:
    """The :class:`~investai.ports.market.TimeSeriesStore` of the embedded deployment (see the module notes).

    Quotes live in two tiers, both tables of this database on disk: ``quotes_memory``, the small hot table of
    the last ``memory_retention``, and ``quotes_magnetic``, which keeps them until ``magnetic_retention``. The
    "memory" tier is a table rather than a Python structure so that it survives a restart like everything
    else, and so that moving quotes between tiers (and expiring them) is one transaction: a reader sees a
    quote in exactly one tier, never in both or neither. Its speed comes from its size, not from RAM.

    Thread safety: the store owns one DuckDB connection, which must not be shared between threads; every
    call works through its own cursor (a separate connection to the same database, which may run in any
    thread), so reads run concurrently and each sees one committed snapshot. Writes are additionally
    serialised by a lock and run in one transaction each, so a write is applied whole or not at all and
    readers see it all or nothing. All datetimes in and out are UTC-aware (the session time zone is UTC;
    naive datetimes are refused). ``path=None`` gives an in-memory database, for tests.

    Processes: DuckDB gives a database file to one read-write process at a time, and the server, a separate
    worker and CLI commands all use this one. The store opens the file only while its process holds a
    :class:`~investai.adapters.local.process_lease.ProcessLease` on it, and hands it over between calls when
    another process waits (after holding it at least ``hand_over_after_s``, so two busy processes do not
    reopen the file for every call) or when it has been idle for ``idle_release_s``. Closing checkpoints the
    WAL into the file, so the next process finds everything committed. A call that cannot get the store
    within ``lease_timeout_s`` raises :class:`MarketStoreBusy`, which the API answers with 503 and a retry. A
    file DuckDB cannot open (not a database, or damaged) makes every call raise :class:`MarketStoreUnreadable`
    (503 as well) and is never written; the next call tries it again, so a restored file is used at once.
    """

    def __init__(
        self,
        *,
        path: Path | None,
        memory_retention: timedelta = timedelta(hours=24),
        magnetic_retention: timedelta = timedelta(days=7),
        lease_timeout_s: float = 60.0,
        hand_over_after_s: float = 0.1,
        idle_release_s: float = 5.0,
    ) -> None:
        if memory_retention <= timedelta(0) or magnetic_retention < memory_retention:
            raise ValueError("retentions must be positive, the magnetic one at least as long as the memory one")
        self._memory_retention = memory_retention
        self._magnetic_retention = magnetic_retention
        if path is not None:
            ensure_private_dir(path.parent)
        self._target = ":memory:" if path is None else str(path)
        self._lease = None if path is None else ProcessLease(path, timeout_s=lease_timeout_s)
        self._hand_over_after_s = hand_over_after_s
        self._idle_release_s = idle_release_s
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._write_lock = threading.Lock()
        self._state = threading.Lock()  # the connection's opening and closing, and cursor registration
        self._active = 0  # cursors in use: the connection is closed only when none is
        self._opened_at = 0.0
        self._last_used = 0.0
        self._migrated = False
        self._closed = False
        if path is None:
            with self._state:
                self._open_locked()  # an in-memory database exists only while connected

    # --- connection plumbing -------------------------------------------------------------------------------

    def _open_locked(self) -> duckdb.DuckDBPyConnection:
        """The connection, opened under the lease (and the schema brought up to date) when not open. Called
        with ``_state`` held; blocks while another process holds the store."""
        if self._closed:
            raise RuntimeError("the market store is closed")
        if self._connection is not None:
            return self._connection
        if self._lease is not None:
            try:
                self._lease.acquire()
            except LeaseTimeout as error:
                raise MarketStoreBusy(
                    "the market data store stayed busy in another process; retry in a moment"
                ) from error
        try:
            connection = self._open_database()
        except BaseException:
            if self._lease is not None:
                self._lease.release()
            raise
        self._connection = connection
        self._opened_at = self._last_used = time.monotonic()
        if self._lease is not None:
            threading.Thread(target=self._watch, name="market-store-lease", daemon=True).start()
        return connection

    def _open_database(self) -> duckdb.DuckDBPyConnection:
        try:
            connection = duckdb.connect(self._target)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise self._unreadable("opened", error) from error
            raise MarketStoreBusy(
                "the market data store is open in a process that does not share it; stop that process"
            ) from error
        connection.execute("SET GLOBAL TimeZone = 'UTC'")  # cursors opened later inherit it
        if not self._migrated:
            try:
                _migrate(connection)  # closes the connection if it fails
            except duckdb.Error as error:  # a DuckDB file whose tables cannot be read
                raise self._unreadable("read", error) from error
            self._migrated = True
        return connection

    def _unreadable(self, what: str, error: duckdb.Error) -> MarketStoreUnreadable:
        """The error a call answers when the file cannot be opened or read; DuckDB's reason (with the file's
        path) goes to the log, not to the caller."""
        name = Path(self._target).name
        log.error("market_store.unreadable", file=name, error=str(error)[:500])
        return MarketStoreUnreadable(
            f"the market data store cannot be {what} ({name} is not a DuckDB database, or is damaged); "
            "restore it from a backup",
            retry_after_s=UNREADABLE_RETRY_AFTER_S,
        )

    def _release_if_due_locked(self) -> None:
        """Close the database and give up the lease when no call is using it and another process waits (or it
        has been idle long enough). Called with ``_state`` held."""
        if self._connection is None or self._lease is None or self._active:
            return
        now = time.monotonic()
        idle = now - self._last_used >= self._idle_release_s
        if idle or (now - self._opened_at >= self._hand_over_after_s and self._lease.wanted()):
            self._close_locked()

    def _close_locked(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()  # checkpoints the WAL into the database file
        if self._lease is not None:
            self._lease.release()

    def _watch(self) -> None:
        """While the database is open, hand it over when it falls idle with another process waiting."""
        while True:
            time.sleep(0.02)
            with self._state:
                self._release_if_due_locked()
                if self._connection is None:
                    return

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of this call's own, closed afterwards."""
        with self._state:
            cursor = self._open_locked().cursor()
            self._active += 1
        try:
            yield cursor
        finally:
            with self._state:
                cursor.close()
                self._active -= 1
                self._last_used = time.monotonic()
                self._release_if_due_locked()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside one transaction, holding the write lock: committed on success, rolled back on any
        error (which is raised again)."""
        with self._write_lock, self._cursor() as cursor:
            cursor.execute("BEGIN TRANSACTION")
            try:
                yield cursor
                cursor.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    cursor.execute("ROLLBACK")
                raise

    health_name = "market_store"

    def check(self) -> None:
        """Readiness: one read of the schema version. A probe neither waits for the lease nor asks its holder
        for it: while another process holds the store, the file is not opened here, only its first bytes read
        (nothing of this process has it open then, so no engine's locks are disturbed) and checked to be a
        DuckDB database's."""
        with self._state:
            if self._closed:
                raise RuntimeError("the market store is closed")
            if self._connection is None and self._lease is not None and not self._lease.try_acquire():
                _check_header(Path(self._target))
                return
        with self._cursor() as cursor:
            cursor.execute("SELECT max(version) FROM schema_version").fetchone()

    def close(self) -> None:
        """Close the database (a checkpoint writes the WAL into the file) and release it to other processes.
        Later calls fail; closing twice is harmless."""
        with self._write_lock, self._state:
            if not self._closed:
                self._closed = True
                self._close_locked()

    def snapshot_to(self, destination: Path) -> dict[str, int]:
        """Copy every table and view into a new database file ``destination`` in one transaction (a
        consistent snapshot; writes wait for it, reads go on). Returns the row counts of the bar tables."""
        if destination.exists():
            raise FileExistsError(destination)
        with self._write_lock, self._cursor() as cursor:
            found = _first(cursor, "SELECT current_database()")
            name = str(found[0]) if found else "memory"
            target = str(destination).replace("'", "''")  # a path the caller chose, as a SQL string literal
            cursor.execute(f"ATTACH '{target}' AS snapshot")
            try:
                cursor.execute(f'COPY FROM DATABASE "{name}" TO snapshot')
                counts = {
                    table: _count(cursor, f"SELECT count(*) FROM snapshot.{table}")
                    for table in ("bars_daily", "bars_history", "symbols")
                }
            finally:
                cursor.execute("DETACH snapshot")
        destination.chmod(0o600)
        return counts

    # --- symbol master -------------------------------------------------------------------------------------

    def upsert_symbols(self, symbols: Sequence[SymbolInfo]) -> int:
        """Insert or replace by symbol; of several entries for one symbol the last wins."""
        latest = {info.symbol: info for info in symbols}
        if not latest:
            return 0
        records = [info.model_dump(mode="json") for info in latest.values()]
        rows = pa.table({name: pa.array([r[name] for r in records], pa.string()) for name in _SYMBOL_COLUMNS})
        with self._transaction() as cursor:
            cursor.register("incoming_symbols", rows)
            try:
                columns = ", ".join(_SYMBOL_COLUMNS)
                cursor.execute(f"INSERT OR REPLACE INTO symbols ({columns}) SELECT {columns} FROM incoming_symbols")
            finally:
                cursor.unregister("incoming_symbols")
        return len(latest)

    def get_symbol(self, symbol: str) -> SymbolInfo | None:
        with self._cursor() as cursor:
            row = _first(cursor, f"SELECT {', '.join(_SYMBOL_COLUMNS)} FROM symbols WHERE symbol = ?", [symbol])
        return None if row is None else _symbol_info(row)

    def find_symbols(
        self,
        *,
        query: str | None = None,
        sector: str | None = None,
        asset_class: AssetClass | None = None,
        limit: int = 100,
    ) -> list[SymbolInfo]:
        """Symbol or name containing ``query`` literally (``%`` and ``_`` are not wildcards), case-insensitive."""
        if limit < 1:
            return []
        where = _Where()
        if query is not None:
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.add("(symbol ILIKE ? ESCAPE '\\' OR name ILIKE ? ESCAPE '\\')", pattern, pattern)
        where.when(sector, "lower(sector) = lower(?)")
        where.when(None if asset_class is None else AssetClass(asset_class).value, "asset_class = ?")
        sql = f"SELECT {', '.join(_SYMBOL_COLUMNS)} FROM symbols WHERE {where.sql} ORDER BY symbol LIMIT ?"
        with self._cursor() as cursor:
            rows = cursor.execute(sql, [*where.params, int(limit)]).fetchall()
        return [_symbol_info(row) for row in rows]

    def known_symbols(self, symbols: Iterable[str]) -> set[str]:
        wanted = sorted(set(symbols))
        if not wanted:
            return set()
        with self._cursor() as cursor:
            rows = cursor.execute(
                "SELECT symbol FROM symbols WHERE symbol IN (SELECT unnest(?::VARCHAR[]))", [wanted]
            ).fetchall()
        return {row[0] for row in rows}

    # --- daily bars: writes --------------------------------------------------------------------------------

    def write_bars(self, bars: pa.Table, *, ingested_at: datetime) -> WriteCounts:
        """Upsert on (symbol, date) in one transaction (see the port). A first-time row keeps its own
        ``available_at``, capped at ``ingested_at``; a changed row is available from ``ingested_at`` and the
        version it replaces moves to ``bars_history``; an identical row is left exactly as it was."""
        moment = _utc(ingested_at)
        batch = _conform(bars, BAR_SCHEMA)
        if batch.num_rows == 0:
            return WriteCounts(inserted=0, updated=0, unchanged=0)
        with self._transaction() as cursor:
            return self._upsert_bars(cursor, batch, moment)

    def _upsert_bars(self, cursor: duckdb.DuckDBPyConnection, batch: pa.Table, moment: datetime) -> WriteCounts:
        """:meth:`write_bars` of a conformed, non-empty batch inside the caller's transaction."""
        ordered = _strictly_increasing(batch, "symbol", "date")
        box = _bounds(batch, "symbol", "date")
        cursor.register("incoming_bars", batch)
        try:
            if not ordered:
                _refuse_duplicates(cursor, "incoming_bars", "symbol", "date")
            if not self._bars_stored_within(cursor, box):
                self._insert_bars(cursor, "incoming_bars", moment, classified=False, sort=not ordered)
                return WriteCounts(inserted=batch.num_rows, updated=0, unchanged=0)
            return self._merge_bars(cursor, box, moment)
        finally:
            cursor.unregister("incoming_bars")

    @staticmethod
    def _bars_stored_within(cursor: duckdb.DuckDBPyConnection, box: list[Any]) -> bool:
        """Whether any stored bar lies in the batch's (symbol, date) box; when none does (a first load, new
        dates appended) every row is new and the classification join is skipped."""
        row = _first(
            cursor,
            "SELECT EXISTS (SELECT 1 FROM bars_daily WHERE symbol BETWEEN ? AND ? AND date BETWEEN ? AND ?)",
            box,
        )
        return bool(row and row[0])

    def _merge_bars(self, cursor: duckdb.DuckDBPyConnection, box: list[Any], moment: datetime) -> WriteCounts:
        """Classify the batch against the stored bars in its box, retire the changed versions to history and
        insert the new and changed rows."""
        fields = ", ".join(f"i.{name}" for name in _BAR_FIELDS)
        cursor.execute(
            f"""CREATE OR REPLACE TEMP TABLE classified_bars AS
            SELECT {fields}, i.available_at,
                CASE WHEN s.symbol IS NULL THEN {_NEW}
                     WHEN {_distinct(_BAR_COMPARED, "i", "s")} THEN {_CHANGED}
                     ELSE {_UNCHANGED} END AS status
            FROM incoming_bars AS i
            LEFT JOIN (SELECT * FROM bars_daily WHERE symbol BETWEEN ? AND ? AND date BETWEEN ? AND ?) AS s
                ON s.symbol = i.symbol AND s.date = i.date""",
            box,
        )
        try:
            counts = self._status_counts(cursor, "classified_bars")
            if counts.updated:
                self._retire_bars(cursor, box, moment)
            if counts.inserted or counts.updated:
                self._insert_bars(cursor, "classified_bars", moment, classified=True, sort=True)
            return counts
        finally:
            cursor.execute("DROP TABLE IF EXISTS classified_bars")

    @staticmethod
    def _status_counts(cursor: duckdb.DuckDBPyConnection, table: str) -> WriteCounts:
        found = dict(cursor.execute(f"SELECT status, count(*) FROM {table} GROUP BY status").fetchall())
        return WriteCounts(
            inserted=found.get(_NEW, 0), updated=found.get(_CHANGED, 0), unchanged=found.get(_UNCHANGED, 0)
        )

    @staticmethod
    def _retire_bars(cursor: duckdb.DuckDBPyConnection, box: list[Any], moment: datetime) -> None:
        """Copy the current versions of the changed keys to history, superseded now, and delete them."""
        stored = ", ".join(f"s.{name}" for name in _BAR_STORED)
        in_box = "s.symbol BETWEEN ? AND ? AND s.date BETWEEN ? AND ?"
        changed = f"(SELECT symbol, date FROM classified_bars WHERE status = {_CHANGED})"
        cursor.execute(
            f"""INSERT INTO bars_history ({", ".join(_BAR_STORED)}, superseded_at)
            SELECT {stored}, ? FROM bars_daily AS s SEMI JOIN {changed} AS c ON s.symbol = c.symbol AND s.date = c.date
            WHERE {in_box}""",
            [moment, *box],
        )
        cursor.execute(
            f"""DELETE FROM bars_daily AS s USING {changed} AS c
            WHERE s.symbol = c.symbol AND s.date = c.date AND {in_box}""",
            box,
        )

    @staticmethod
    def _insert_bars(
        cursor: duckdb.DuckDBPyConnection, source: str, moment: datetime, *, classified: bool, sort: bool
    ) -> None:
        """Insert the new (and, from a classified batch, the changed) rows in (symbol, date) order: sorted
        here unless the batch already is (DuckDB keeps a scan's order on insert)."""
        if classified:
            available = f"CASE WHEN status = {_NEW} THEN LEAST(available_at, ?) ELSE ? END"
            params: list[Any] = [moment, moment, moment]
            where = f"WHERE status <> {_UNCHANGED}"
        else:
            available, params, where = "LEAST(available_at, ?)", [moment, moment], ""
        order = "ORDER BY symbol, date" if sort else ""
        cursor.execute(
            f"""INSERT INTO bars_daily ({", ".join(_BAR_STORED)})
            SELECT {", ".join(_BAR_FIELDS)}, ?, {available} FROM {source} {where} {order}""",
            params,
        )

    # --- daily bars: reads ---------------------------------------------------------------------------------

    def read_bars(
        self,
        symbol: str,
        *,
        start: date | None = None,
        end: date | None = None,
        interval: Interval = Interval.DAILY,
        as_of: datetime | None = None,
    ) -> pd.DataFrame:
        """Bars of ``symbol`` within [start, end], oldest first, columns :data:`BAR_COLUMNS`: ``date`` holds
        ``datetime.date`` objects (object dtype), the rest float64 with NaN for missing values; an unknown
        symbol gives an empty frame with those columns.

        ``as_of``: bars dated on or before its UTC date, each in the version valid at it (available then and
        not yet superseded). Weekly and monthly bars aggregate those daily bars in SQL: first non-null open,
        highest high, lowest low, last close, last non-null adjusted close, summed volume (NaN when no day has
        one), dated by the last day present."""
        daily, params = self._daily_query(symbol, start, end, as_of)
        period = Interval(interval)
        sql = (
            f"SELECT * FROM ({daily}) ORDER BY date"
            if period is Interval.DAILY
            else _resampled(daily, _PERIODS[period])
        )
        with self._cursor() as cursor:
            rows = _arrow(cursor, sql, params)
        return _frame(rows, BAR_COLUMNS)

    @staticmethod
    def _daily_query(
        symbol: str, start: date | None, end: date | None, as_of: datetime | None
    ) -> tuple[str, list[Any]]:
        """The SQL (without ORDER BY) and parameters of the daily bars a read covers."""
        columns = ", ".join(BAR_COLUMNS)
        where = _Where().add("symbol = ?", symbol).when(start, "date >= ?").when(end, "date <= ?")
        if as_of is None:
            return f"SELECT {columns} FROM bars_daily WHERE {where.sql}", where.params
        moment = _utc(as_of)
        where.add("date <= ?", moment.date()).add("available_at <= ?", moment)
        current = f"SELECT {columns} FROM bars_daily WHERE {where.sql}"
        replaced = f"SELECT {columns} FROM bars_history WHERE {where.sql} AND superseded_at > ?"
        return f"{current} UNION ALL {replaced}", [*where.params, *where.params, moment]

    def bar_range(self, symbol: str) -> tuple[date, date, int] | None:
        with self._cursor() as cursor:
            row = _first(cursor, "SELECT min(date), max(date), count(*) FROM bars_daily WHERE symbol = ?", [symbol])
        if row is None or not row[2]:
            return None
        return row[0], row[1], int(row[2])

    def bar_symbols(self) -> list[str]:
        with self._cursor() as cursor:
            rows = cursor.execute("SELECT DISTINCT symbol FROM bars_daily ORDER BY symbol").fetchall()
        return [row[0] for row in rows]

    def bar_neighbours(self, spans: Sequence[tuple[str, date, date]]) -> pd.DataFrame:
        """See the port; one query for every span (the edges of a span are found by one aggregate over the
        symbol's bars, which the zone maps confine to its row groups)."""
        with self._cursor() as cursor:
            rows = quarantine.neighbours(cursor, spans)
        return _frame(rows, NEIGHBOUR_COLUMNS)

    # --- quarantine and explicit corrections -----------------------------------------------------------------

    def quarantine_bars(self, rows: pa.Table, *, at: datetime) -> list[str]:
        moment = _utc(at)
        batch = _conform(rows, QUARANTINE_SCHEMA)
        if batch.num_rows == 0:
            return []
        with self._transaction() as cursor:
            return quarantine.hold(cursor, batch, moment)

    def quarantined_bars(
        self,
        *,
        symbol: str | None = None,
        status: QuarantineStatus | None = QuarantineStatus.PENDING,
        limit: int = 100,
    ) -> list[QuarantinedBar]:
        if limit < 1:
            return []
        with self._cursor() as cursor:
            return quarantine.listed(cursor, symbol=symbol, status=status, limit=limit)

    def get_quarantined_bars(self, ids: Sequence[str]) -> list[QuarantinedBar]:
        with self._cursor() as cursor:
            return quarantine.by_id(cursor, ids)

    def correct_bars(
        self,
        bars: pa.Table,
        *,
        at: datetime,
        by: str,
        note: str,
        resolves: Sequence[str] = (),
        resolution: QuarantineStatus = QuarantineStatus.CORRECTED,
    ) -> WriteCounts:
        """See the port: the rows are written as :meth:`write_bars` writes them, each available from ``at``
        (a new row too: a correction is never backdated), with the resolution in the same transaction."""
        moment = _utc(at)
        batch = available_from(_conform(bars, BAR_SCHEMA), moment)
        with self._transaction() as cursor:
            quarantine.resolve(cursor, resolves, status=resolution, at=moment, by=by, note=note)
            if batch.num_rows == 0:
                return WriteCounts(inserted=0, updated=0, unchanged=0)
            return self._upsert_bars(cursor, batch, moment)

    def discard_quarantined_bars(self, ids: Sequence[str], *, at: datetime, by: str, note: str) -> None:
        moment = _utc(at)
        with self._transaction() as cursor:
            quarantine.resolve(cursor, ids, status=QuarantineStatus.DISCARDED, at=moment, by=by, note=note)

    # --- real-time quotes ----------------------------------------------------------------------------------

    def write_quotes(self, quotes: pa.Table, *, ingested_at: datetime) -> WriteCounts:
        """Upsert on (symbol, timestamp): quotes stamped within ``memory_retention`` of ``ingested_at`` go to
        the memory tier, older ones to the magnetic tier; a changed quote is replaced (in whichever tier its
        age now puts it), an identical one is left as it was."""
        moment = _utc(ingested_at)
        batch = _conform(quotes, QUOTE_SCHEMA)
        if batch.num_rows == 0:
            return WriteCounts(inserted=0, updated=0, unchanged=0)
        ordered = _strictly_increasing(batch, "symbol", "timestamp")
        box = _bounds(batch, "symbol", "timestamp")
        with self._transaction() as cursor:
            cursor.register("incoming_quotes", batch)
            try:
                if not ordered:
                    _refuse_duplicates(cursor, "incoming_quotes", "symbol", "timestamp")
                return self._merge_quotes(cursor, box, moment)
            finally:
                cursor.unregister("incoming_quotes")

    def _merge_quotes(self, cursor: duckdb.DuckDBPyConnection, box: list[Any], moment: datetime) -> WriteCounts:
        in_box = "symbol BETWEEN ? AND ? AND timestamp BETWEEN ? AND ?"
        stored = " UNION ALL ".join(
            f"SELECT {', '.join(_QUOTE_FIELDS)} FROM {tier} WHERE {in_box}" for tier in _QUOTE_TIERS
        )
        cursor.execute(
            f"""CREATE OR REPLACE TEMP TABLE classified_quotes AS
            SELECT {", ".join(f"i.{name}" for name in _QUOTE_FIELDS)},
                CASE WHEN s.symbol IS NULL THEN {_NEW}
                     WHEN {_distinct(_QUOTE_COMPARED, "i", "s")} THEN {_CHANGED}
                     ELSE {_UNCHANGED} END AS status
            FROM incoming_quotes AS i LEFT JOIN ({stored}) AS s ON s.symbol = i.symbol AND s.timestamp = i.timestamp""",
            box * len(_QUOTE_TIERS),
        )
        try:
            counts = self._status_counts(cursor, "classified_quotes")
            changed = f"(SELECT symbol, timestamp FROM classified_quotes WHERE status = {_CHANGED})"
            boundary = moment - self._memory_retention
            for tier, side in zip(_QUOTE_TIERS, (">=", "<"), strict=True):
                if counts.updated:
                    cursor.execute(
                        f"""DELETE FROM {tier} AS q USING {changed} AS c
                        WHERE q.symbol = c.symbol AND q.timestamp = c.timestamp
                            AND q.symbol BETWEEN ? AND ? AND q.timestamp BETWEEN ? AND ?""",
                        box,
                    )
                cursor.execute(
                    f"""INSERT INTO {tier} ({", ".join(_QUOTE_FIELDS)}, ingested_at)
                    SELECT {", ".join(_QUOTE_FIELDS)}, ? FROM classified_quotes
                    WHERE status <> {_UNCHANGED} AND timestamp {side} ? ORDER BY symbol, timestamp""",
                    [moment, boundary],
                )
            return counts
        finally:
            cursor.execute("DROP TABLE IF EXISTS classified_quotes")

    @staticmethod
    def _quotes_query(
        symbol: str, start: datetime | None, end: datetime | None, as_of: datetime | None
    ) -> tuple[str, list[Any]]:
        """SQL over both tiers (without ORDER BY) for one symbol's quotes in a window, as known at ``as_of``."""
        where = _Where().add("symbol = ?", symbol)
        where.when(None if start is None else _utc(start), "timestamp >= ?")
        where.when(None if end is None else _utc(end), "timestamp <= ?")
        if as_of is not None:
            moment = _utc(as_of)
            where.add("timestamp <= ?", moment).add("ingested_at <= ?", moment)
        columns = ", ".join(_QUOTE_FIELDS)
        sql = " UNION ALL ".join(f"SELECT {columns} FROM {tier} WHERE {where.sql}" for tier in _QUOTE_TIERS)
        return sql, where.params * len(_QUOTE_TIERS)

    def latest_quote(self, symbol: str, *, as_of: datetime | None = None) -> Quote | None:
        """The newest quote stamped and ingested on or before ``as_of``, from either tier; with no ``as_of``,
        the newest stored."""
        sql, params = self._quotes_query(symbol, None, None, as_of)
        with self._cursor() as cursor:
            row = _first(cursor, f"SELECT * FROM ({sql}) ORDER BY timestamp DESC LIMIT 1", params)
        return None if row is None else _quote(row)

    def read_quotes(
        self, symbol: str, *, start: datetime | None = None, end: datetime | None = None, as_of: datetime | None = None
    ) -> pd.DataFrame:
        """Quotes within [start, end] from both tiers, oldest first, columns :data:`QUOTE_COLUMNS`
        (``timestamp`` as tz-aware UTC datetime64); with ``as_of``, only those stamped and ingested by then."""
        sql, params = self._quotes_query(symbol, start, end, as_of)
        with self._cursor() as cursor:
            rows = _arrow(cursor, f"SELECT * FROM ({sql}) ORDER BY timestamp", params)
        return _frame(rows, QUOTE_COLUMNS)

    def apply_retention(self, now: datetime) -> RetentionResult:
        """In one transaction: expire memory-tier quotes already past the magnetic retention, move those past
        the memory retention to the magnetic tier, and expire magnetic-tier quotes past the magnetic
        retention. A quote exactly at a boundary stays."""
        moment = _utc(now)
        memory_cut, magnetic_cut = moment - self._memory_retention, moment - self._magnetic_retention
        columns = ", ".join([*_QUOTE_FIELDS, "ingested_at"])
        with self._transaction() as cursor:
            expired = _count(cursor, "DELETE FROM quotes_memory WHERE timestamp < ?", magnetic_cut)
            moved = _count(
                cursor,
                f"INSERT INTO quotes_magnetic ({columns}) SELECT {columns} FROM quotes_memory WHERE timestamp < ?",
                memory_cut,
            )
            _count(cursor, "DELETE FROM quotes_memory WHERE timestamp < ?", memory_cut)
            expired += _count(cursor, "DELETE FROM quotes_magnetic WHERE timestamp < ?", magnetic_cut)
        return RetentionResult(moved=moved, expired=expired)

    def tier_counts(self) -> dict[str, int]:
        with self._cursor() as cursor:
            row = _first(cursor, "SELECT (SELECT count(*) FROM quotes_memory), (SELECT count(*) FROM quotes_magnetic)")
        memory, magnetic = row if row else (0, 0)
        return {"memory": int(memory), "magnetic": int(magnetic)}

    # --- provider bookkeeping ------------------------------------------------------------------------------

    def ingested_files(self, provider: str) -> set[str]:
        with self._cursor() as cursor:
            rows = cursor.execute("SELECT fingerprint FROM provider_files WHERE provider = ?", [provider]).fetchall()
        return {row[0] for row in rows}

    def record_ingested_file(
        self, provider: str, file: ProviderFile, *, accepted: int, rejected: int, at: datetime
    ) -> None:
        """Remember ``file``; recording the same fingerprint again keeps the first record."""
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT INTO provider_files VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [provider, file.fingerprint, file.name, int(accepted), int(rejected), _utc(at)],
            )


def _resampled(daily: str, unit: str) -> str:
    """Weekly or monthly bars over the ``daily`` subquery (``unit`` is a fixed ``date_trunc`` unit)."""
    return f"""SELECT max(date) AS date,
        arg_min(open, date) FILTER (WHERE open IS NOT NULL) AS open,
        max(high) AS high,
        min(low) AS low,
        arg_max(close, date) AS close,
        arg_max(adj_close, date) FILTER (WHERE adj_close IS NOT NULL) AS adj_close,
        sum(volume) AS volume
    FROM ({daily}) GROUP BY date_trunc('{unit}', date) ORDER BY date"""


def _count(cursor: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> int:
    """Run an INSERT or DELETE and return how many rows it touched."""
    row = _first(cursor, sql, params)
    return int(row[0]) if row else 0


def _first(cursor: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    """The first row of a statement's result, or ``None``. Every row is fetched: DuckDB refuses further work on
    a cursor whose last result has not been read to its end."""
    rows = cursor.execute(sql, list(params)).fetchall()
    return rows[0] if rows else None


def _arrow(cursor: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> pa.Table:
    """A read query's rows as Arrow (through a relation: a DB-API result would copy them once more)."""
    relation = cursor.sql(sql, params=params)
    if relation is None:
        raise RuntimeError("a read query returned no relation")
    return relation.to_arrow_table()
