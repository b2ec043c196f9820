"""Real-time quotes in Amazon Timestream for LiveAnalytics: the optional
:class:`~investai.adapters.aws.market_parts.QuoteTiers` (``INVESTAI_QUOTES_BACKEND=timestream``).

Why it is not the default: Timestream for LiveAnalytics has been in maintenance mode since 2025-06-20 (closed to
new customers; accounts that used it before keep it), and its retention only ever holds recent quotes (here 24
hours in the memory store and 7 days in the magnetic store). DynamoDB with TTL tiers
(:mod:`investai.adapters.aws.dynamodb_quotes`) gives the same semantics in every account, so it is the default
(``INVESTAI_QUOTES_BACKEND=dynamodb``).

Records. One multi-measure record per quote (measure name ``quote``): the dimension ``symbol``; the measures
``price``, ``size``, ``bid``, ``ask`` (DOUBLE; a missing value is left out and reads back as NULL), ``source``
(VARCHAR) and ``ingested_at`` (BIGINT, epoch microseconds); ``Time`` in microseconds. ``source`` is a measure,
not a dimension: a record's identity is its dimensions, measure name and time, and a quote's key is (symbol,
timestamp) whatever its source, so a rewrite from another source must replace the record, not add a second
one. ``Version`` is ``ingested_at`` in microseconds, so a changed quote written later replaces the old one
(Timestream's upsert); a rewrite in the same microsecond as the stored version is resent once with the version
Timestream reports plus one.

Writes. A batch is classified (inserted, updated, unchanged) against what one query finds stored for its
symbols and time range, and only new and changed quotes are written, 100 records per ``WriteRecords``. Records
Timestream rejects (older than the magnetic retention, in the future, a newer version stored) are collected
with their reasons and raised together as :class:`QuotesRejected` after the rest of the batch was written.
Timestream's reads are eventually consistent: a quote written a moment ago may not yet be seen by the
classification or a read.

Tiers. Timestream moves records from the memory store to the magnetic store and deletes them after the
magnetic retention by itself, by the record's time against the service's clock:
:meth:`TimestreamQuoteTiers.apply_retention` has nothing to do, and :meth:`TimestreamQuoteTiers.tier_counts`
counts the records younger and older than the memory retention.

Queries. SQL text is assembled only from this module's constant fragments and literals it formats itself: the
database and table names (checked against Timestream's naming rule, double-quoted), symbols (checked against
the ticker pattern of :mod:`investai.domain.market`, single-quoted), timestamps (``TIMESTAMP '...'`` from
integers) and integers. A symbol that is not a ticker matches nothing and is never sent.
"""

# ruff: noqa: S608  (see "Queries" above: no text from outside reaches the SQL unchecked)

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from investai.adapters.aws.dynamodb_quotes import (
    QuoteRow,
    as_quote,
    check_retentions,
    classify,
    micros,
    moment_of,
    quote_frame,
    quote_rows,
)
from investai.domain.market import TICKER_PATTERN, Quote, RetentionResult, WriteCounts

MEASURE_NAME = "quote"
WRITE_BATCH = 100  # WriteRecords' limit on records per request
_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,256}$")  # Timestream's database and table names
_TICKER = re.compile(TICKER_PATTERN)
_VALUES = ("price", "size", "bid", "ask")
_COLUMNS = "symbol, time, price, size, bid, ask, source, ingested_at"
_UNITS = ((86_400_000_000, "d"), (3_600_000_000, "h"), (60_000_000, "m"), (1_000_000, "s"), (1, "us"))


@dataclass(frozen=True)
class RejectedQuote:
    """A quote Timestream refused, and why (its words); ``existing_version`` when a newer version is stored."""

    symbol: str
    timestamp: datetime
    reason: str
    existing_version: int | None = None


class QuotesRejected(ValueError):
    """Timestream refused some quotes of a batch; the others were written. ``rejected`` lists each refused
    quote with Timestream's reason."""

    def __init__(self, rejected: Sequence[RejectedQuote], written: int) -> None:
        shown = "; ".join(f"({r.symbol}, {r.timestamp.isoformat()}): {r.reason}" for r in rejected[:5])
        more = f" and {len(rejected) - 5} more" if len(rejected) > 5 else ""
        super().__init__(f"Timestream rejected {len(rejected)} quotes ({written} written): {shown}{more}")
        self.rejected = list(rejected)
        self.written = written


class TimestreamQuoteTiers:
    """Quotes in one Timestream table (see the module). ``memory_retention`` and ``magnetic_retention`` must be
    the table's (:func:`ensure_timestream` sets them); they decide which records :meth:`tier_counts` counts in
    which tier."""

    def __init__(
        self,
        write_client: Any,
        query_client: Any,
        *,
        database: str,
        table: str,
        memory_retention: timedelta = timedelta(hours=24),
        magnetic_retention: timedelta = timedelta(days=7),
    ) -> None:
        check_retentions(memory_retention, magnetic_retention)
        for name in (database, table):
            if not _NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a Timestream database or table name")
        self._write = write_client
        self._query = query_client
        self._database = database
        self._table = table
        self._source = f'"{database}"."{table}"'
        self._memory_retention = memory_retention
        self._magnetic_retention = magnetic_retention

    # --- writes ----------------------------------------------------------------------------------------------

    def write_quotes(self, quotes: pa.Table, *, ingested_at: datetime) -> WriteCounts:
        """Upsert on (symbol, timestamp); Timestream places each record in the memory or magnetic store by its
        age. A batch with a (symbol, timestamp) twice or a symbol that is not a ticker raises ``ValueError``
        and writes nothing; records Timestream refuses raise :class:`QuotesRejected` once the rest is written."""
        moment = micros(ingested_at)
        rows = quote_rows(quotes)
        if not rows:
            return WriteCounts(inserted=0, updated=0, unchanged=0)
        for row in rows:
            if not _TICKER.fullmatch(row.symbol):
                raise ValueError(f"{row.symbol[:40]!r} is not a ticker")
            if not row.source:
                raise ValueError(f"({row.symbol}, {moment_of(row.ts).isoformat()}) has an empty source")
        counts, changed = classify(rows, self._stored(rows))
        self._put([rows[index] for index in changed], moment)
        return counts

    def _stored(self, rows: Sequence[QuoteRow]) -> dict[tuple[str, int], QuoteRow]:
        """What is stored for the batch's symbols within its time range (one query), by key."""
        symbols = ", ".join(_text(symbol) for symbol in sorted({row.symbol for row in rows}))
        low, high = min(row.ts for row in rows), max(row.ts for row in rows)
        sql = (
            f"SELECT {_COLUMNS} FROM {self._source} WHERE measure_name = {_text(MEASURE_NAME)}"
            f" AND symbol IN ({symbols}) AND time BETWEEN {_timestamp(low)} AND {_timestamp(high)}"
        )
        rows_found = (_row(record) for record in self._select(sql))
        return {row.key: row for row in rows_found}

    def _put(self, rows: Sequence[QuoteRow], moment: int) -> None:
        """Write ``rows`` 100 records a request; collect what Timestream rejects and raise it at the end. A
        record refused because the stored version equals ours (a rewrite ingested in the same microsecond) is
        resent once with the next version; one refused for a higher stored version (a later ingest) is not."""
        rejected: list[RejectedQuote] = []
        written = 0
        for first in range(0, len(rows), WRITE_BATCH):
            chunk = rows[first : first + WRITE_BATCH]
            versions = [moment] * len(chunk)
            refused = self._write_records(chunk, versions, moment)
            retry = [(index, existing) for index, (_, existing) in refused.items() if existing == versions[index]]
            if retry:
                again = [chunk[index] for index, _ in retry]
                second = self._write_records(again, [existing + 1 for _, existing in retry], moment)
                for position, (index, _) in enumerate(retry):
                    if position in second:
                        refused[index] = second[position]
                    else:
                        del refused[index]
            written += len(chunk) - len(refused)
            for index, (reason, existing) in sorted(refused.items()):
                row = chunk[index]
                rejected.append(RejectedQuote(row.symbol, moment_of(row.ts), reason, existing))
        if rejected:
            raise QuotesRejected(rejected, written)

    def _write_records(
        self, rows: Sequence[QuoteRow], versions: Sequence[int], moment: int
    ) -> dict[int, tuple[str, int | None]]:
        """One ``WriteRecords``; the records it refused, by index: (reason, existing version)."""
        try:
            self._write.write_records(
                DatabaseName=self._database,
                TableName=self._table,
                CommonAttributes={"MeasureName": MEASURE_NAME, "MeasureValueType": "MULTI", "TimeUnit": "MICROSECONDS"},
                Records=[_record(row, version, moment) for row, version in zip(rows, versions, strict=True)],
            )
        except self._write.exceptions.RejectedRecordsException as exc:
            refused: dict[int, tuple[str, int | None]] = {}
            for record in exc.response.get("RejectedRecords") or []:
                existing = record.get("ExistingVersion")
                index = int(record.get("RecordIndex", -1))
                if 0 <= index < len(rows):
                    refused[index] = (str(record.get("Reason", "no reason given")), _optional_int(existing))
            if not refused:  # a rejection that names no record: every record is in doubt
                reason = str(exc.response.get("Error", {}).get("Message") or exc)
                refused = dict.fromkeys(range(len(rows)), (reason, None))
            return refused
        return {}

    # --- reads -----------------------------------------------------------------------------------------------

    def latest_quote(self, symbol: str, *, as_of: datetime | None = None) -> Quote | None:
        """The newest quote stamped and ingested on or before ``as_of`` (the newest stored without one)."""
        where = self._where(symbol, None, None, as_of)
        if where is None:
            return None
        for record in self._select(f"SELECT {_COLUMNS} FROM {self._source} WHERE {where} ORDER BY time DESC LIMIT 1"):
            return as_quote(_row(record))
        return None

    def read_quotes(
        self, symbol: str, *, start: datetime | None = None, end: datetime | None = None, as_of: datetime | None = None
    ) -> pd.DataFrame:
        """Quotes within [start, end] from both stores, oldest first, columns :data:`QUOTE_COLUMNS`; with
        ``as_of``, only those stamped and ingested by then."""
        where = self._where(symbol, start, end, as_of)
        if where is None:
            return quote_frame([])
        sql = f"SELECT {_COLUMNS} FROM {self._source} WHERE {where} ORDER BY time ASC"
        return quote_frame([_row(record) for record in self._select(sql)])

    def _where(self, symbol: str, start: datetime | None, end: datetime | None, as_of: datetime | None) -> str | None:
        """The WHERE clause of one symbol's quotes in a window as known at ``as_of``; None when nothing can match
        (not a ticker, an empty window)."""
        if not _TICKER.fullmatch(symbol):
            return None
        low = None if start is None else micros(start)
        high = None if end is None else micros(end)
        if as_of is not None:
            high = micros(as_of) if high is None else min(high, micros(as_of))
        if low is not None and high is not None and low > high:
            return None
        parts = [f"measure_name = {_text(MEASURE_NAME)}", f"symbol = {_text(symbol)}"]
        if low is not None:
            parts.append(f"time >= {_timestamp(low)}")
        if high is not None:
            parts.append(f"time <= {_timestamp(high)}")
        if as_of is not None:
            parts.append(f"ingested_at <= {micros(as_of)}")
        return " AND ".join(parts)

    def _select(self, sql: str) -> Iterator[dict[str, Any]]:
        """The rows of a query as column name -> value, following ``NextToken`` until the result is complete
        (a page may be empty while the query still runs)."""
        arguments: dict[str, Any] = {"QueryString": sql}
        while True:
            page = self._query.query(**arguments)
            columns = page.get("ColumnInfo", [])
            for row in page.get("Rows", []):
                yield {
                    column["Name"]: _scalar(datum, column)
                    for column, datum in zip(columns, row.get("Data", []), strict=True)
                }
            token = page.get("NextToken")
            if not token:
                return
            arguments["NextToken"] = token

    # --- tiers -----------------------------------------------------------------------------------------------

    def apply_retention(self, now: datetime) -> RetentionResult:
        """Nothing to do, and nothing changed: Timestream itself moves records from the memory store to the
        magnetic store after the memory retention and deletes them after the magnetic retention. Returns zeros
        (the service does not say what it moved or expired)."""
        micros(now)  # still refuse a naive datetime, as every store does
        return RetentionResult(moved=0, expired=0)

    def tier_counts(self) -> dict[str, int]:
        """Records younger than the memory retention (``memory``) and older (``magnetic``), by the service's
        clock, in one query. (Timestream has deleted those older than the magnetic retention already.)"""
        boundary = f"ago({_interval(self._memory_retention)})"
        sql = (
            f"SELECT count(CASE WHEN time >= {boundary} THEN 1 END) AS memory,"
            f" count(CASE WHEN time < {boundary} THEN 1 END) AS magnetic"
            f" FROM {self._source} WHERE measure_name = {_text(MEASURE_NAME)}"
        )
        for record in self._select(sql):
            return {"memory": int(record["memory"] or 0), "magnetic": int(record["magnetic"] or 0)}
        return {"memory": 0, "magnetic": 0}

    def check(self) -> None:
        self._write.describe_table(DatabaseName=self._database, TableName=self._table)


def ensure_timestream(
    write_client: Any,
    *,
    database: str,
    table: str,
    memory_hours: int = 24,
    magnetic_days: int = 7,
    kms_key_id: str | None = None,
) -> bool:
    """Create the database (encrypted with ``kms_key_id`` when given, else Timestream's own key) and the quotes
    table unless they exist, and bring the table's retention (memory store ``memory_hours``, magnetic store
    ``magnetic_days``) and magnetic-store writes (on, so late quotes older than the memory retention are still
    accepted) to these settings. Idempotent; returns whether the table was created.

    Existence is asked first (``Describe*``) rather than inferred from a ``ConflictException``: an emulator may
    answer a repeated ``Create*`` by replacing what exists."""
    retention = {"MemoryStoreRetentionPeriodInHours": memory_hours, "MagneticStoreRetentionPeriodInDays": magnetic_days}
    magnetic_writes = {"EnableMagneticStoreWrites": True}
    errors = write_client.exceptions
    try:
        found = write_client.describe_database(DatabaseName=database)["Database"]
        if kms_key_id and found.get("KmsKeyId") != kms_key_id:
            write_client.update_database(DatabaseName=database, KmsKeyId=kms_key_id)
    except errors.ResourceNotFoundException:
        with contextlib.suppress(errors.ConflictException):  # created meanwhile by another provisioner
            write_client.create_database(DatabaseName=database, **({"KmsKeyId": kms_key_id} if kms_key_id else {}))
    try:
        described = write_client.describe_table(DatabaseName=database, TableName=table)["Table"]
    except errors.ResourceNotFoundException:
        try:
            write_client.create_table(
                DatabaseName=database,
                TableName=table,
                RetentionProperties=retention,
                MagneticStoreWriteProperties=magnetic_writes,
            )
            return True
        except errors.ConflictException:
            described = write_client.describe_table(DatabaseName=database, TableName=table)["Table"]
    has_magnetic_writes = bool(described.get("MagneticStoreWriteProperties", {}).get("EnableMagneticStoreWrites"))
    if described.get("RetentionProperties") != retention or not has_magnetic_writes:
        write_client.update_table(
            DatabaseName=database,
            TableName=table,
            RetentionProperties=retention,
            MagneticStoreWriteProperties=magnetic_writes,
        )
    return False


# --- records, literals and values ---------------------------------------------------------------------------


def _record(row: QuoteRow, version: int, moment: int) -> dict[str, Any]:
    measures = [
        {"Name": name, "Value": repr(value), "Type": "DOUBLE"}
        for name, value in zip(_VALUES, row.values, strict=True)
        if value is not None
    ]
    measures.append({"Name": "source", "Value": row.source, "Type": "VARCHAR"})
    measures.append({"Name": "ingested_at", "Value": str(moment), "Type": "BIGINT"})
    return {
        "Dimensions": [{"Name": "symbol", "Value": row.symbol, "DimensionValueType": "VARCHAR"}],
        "MeasureValues": measures,
        "Time": str(row.ts),
        "Version": version,
    }


def _text(value: str) -> str:
    """A SQL string literal (every value passed here is a checked ticker or a constant; quotes are doubled
    regardless)."""
    return "'" + value.replace("'", "''") + "'"


def _timestamp(us: int) -> str:
    """A TIMESTAMP literal of epoch microseconds, to the nanosecond as Timestream writes them."""
    moment = moment_of(us)
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond:06d}000'"


def _interval(span: timedelta) -> str:
    """A Timestream interval literal (``24h``, ``90m``, ``1500us``) of a positive duration."""
    us = span // timedelta(microseconds=1)
    for size, unit in _UNITS:
        if us % size == 0:
            return f"{us // size}{unit}"
    raise AssertionError("unreachable: every duration is whole microseconds")  # pragma: no cover


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _scalar(datum: Mapping[str, Any], column: Mapping[str, Any]) -> Any:
    """One value of a result row by its column's scalar type: DOUBLE as float, BIGINT and INTEGER as int,
    TIMESTAMP as epoch microseconds, VARCHAR as str, NULL as None."""
    if datum.get("NullValue"):
        return None
    if "ScalarValue" not in datum:
        raise ValueError(f"column {column.get('Name')!r} holds a {sorted(datum)} value, not a scalar")
    value = str(datum["ScalarValue"])
    kind = column.get("Type", {}).get("ScalarType")
    if kind == "DOUBLE":
        return float(value)
    if kind in ("BIGINT", "INTEGER"):
        return int(value)
    if kind == "TIMESTAMP":
        return _parse_timestamp(value)
    return value


def _parse_timestamp(text: str) -> int:
    """Epoch microseconds of Timestream's ``2024-01-02 09:30:00.123456000`` (nanoseconds beyond the
    microsecond are dropped: this module writes microseconds)."""
    whole, _, fraction = text.partition(".")
    seconds = datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    nanoseconds = int(fraction[:9].ljust(9, "0")) if fraction else 0
    return micros(seconds) + nanoseconds // 1000


def _row(record: Mapping[str, Any]) -> QuoteRow:
    return QuoteRow(
        symbol=str(record["symbol"]),
        ts=int(record["time"]),
        price=float(record["price"]),
        size=record.get("size"),
        bid=record.get("bid"),
        ask=record.get("ask"),
        source=str(record["source"]),
    )
