"""Real-time quotes in DynamoDB: the AWS shape's default :class:`~investai.adapters.aws.market_parts.QuoteTiers`.

One item per quote in the quotes table (:data:`~investai.adapters.aws.resources.QUOTES_TABLE`), keyed by
``symbol`` and ``ts`` (epoch microseconds), with ``price``, ``size``, ``bid`` and ``ask`` as numbers (a missing
value is an absent attribute), ``source``, ``ingestedAt`` (epoch microseconds), ``tier`` (``memory`` or
``magnetic``) and ``expiresAt`` (epoch seconds, the table's TTL attribute: the first second at which the quote is
older than the magnetic retention). A number is written as Python's shortest repr of the float, which DynamoDB
keeps exactly (it holds 38 significant digits), so every value reads back as the float that was written.

The semantics are the DuckDB adapter's (:mod:`investai.adapters.local.duckdb_market`): a write classifies each
row against the stored one (new, changed, unchanged) and writes only new and changed rows, into the tier their
age at ``ingested_at`` puts them in; reads filter on both ``ts`` and ``ingestedAt`` for ``as_of``; retention
moves quotes past the memory retention to the magnetic tier and deletes those past the magnetic retention, with
the DuckDB adapter's boundaries (a quote exactly at a boundary stays). Reads return what is stored, as DuckDB's
do: a quote past the magnetic retention is gone once :meth:`DynamoDbQuoteTiers.apply_retention` ran (the
retention job runs every 15 minutes) or DynamoDB's TTL deleted it, whichever comes first.

What DynamoDB cannot give:

- A write is not one transaction. It refuses a bad batch (a duplicate key, a missing column, a value DynamoDB
  cannot hold) before writing anything; a failure while writing (throttling past the retries, a lost connection)
  leaves the rows written so far. Writing the batch again is safe: written rows are then unchanged.
- Concurrent writes of the same quote race (the last one wins, and both may count it as inserted or updated).
- Retention is not one transaction either: moves are conditional updates, 100 to a transaction, that leave
  alone a quote someone else already moved or deleted; deletes are batched. The tier index is eventually
  consistent, so a quote written a moment ago may be caught by the next run instead. :meth:`tier_counts` reads
  that index too, and TTL may delete expired quotes before a retention run counts them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from investai.adapters.aws.dynamodb_common import (
    MAX_TRANSACTION_ACTIONS,
    TransactionFailed,
    batch_delete,
    describe,
    pause,
    query,
    transact,
    write,
)
from investai.adapters.local.duckdb_market import _conform, _utc
from investai.domain.market import Quote, RetentionResult, WriteCounts
from investai.ports.market import QUOTE_COLUMNS, QUOTE_SCHEMA

MEMORY, MAGNETIC = "memory", "magnetic"
TIER_INDEX = "byTier"
GET_BATCH = 100  # BatchGetItem's limit on keys per request
WRITE_BATCH = 25  # BatchWriteItem's limit on requests per call
BATCH_ATTEMPTS = 10  # rounds of resubmitting what DynamoDB left unprocessed
MAX_KEY_BYTES = 2048  # DynamoDB's limit on a partition key value

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_VALUES = ("price", "size", "bid", "ask")
_NAMES = {"#symbol": "symbol", "#tier": "tier"}  # aliased everywhere, whatever DynamoDB reserves next
_RANGES = {
    (False, False): "",
    (True, False): " AND ts >= :low",
    (False, True): " AND ts <= :high",
    (True, True): " AND ts BETWEEN :low AND :high",
}
"""The sort-key condition for a window with (a start, an end)."""
_SMALLEST, _BEYOND = 1e-130, 1e126  # DynamoDB's numbers: zero, or magnitudes in [1e-130, 1e126)


# --- the batch and the frame (shared with investai.adapters.aws.timestream_quotes) --------------------------


@dataclass(frozen=True)
class QuoteRow:
    """One quote of a batch or of a read, its moment in epoch microseconds."""

    symbol: str
    ts: int
    price: float
    size: float | None
    bid: float | None
    ask: float | None
    source: str

    @property
    def values(self) -> tuple[float | None, ...]:
        """The values a rewrite compares (NaN never occurs: the batch stores it as missing)."""
        return (self.price, self.size, self.bid, self.ask)

    def same_as(self, other: QuoteRow) -> bool:
        return self.values == other.values and self.source == other.source

    @property
    def key(self) -> tuple[str, int]:
        return self.symbol, self.ts


def micros(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime (exact: no float on the way)."""
    return (_utc(moment) - _EPOCH) // _US


def moment_of(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def classify(rows: Sequence[QuoteRow], stored: Mapping[tuple[str, int], QuoteRow]) -> tuple[WriteCounts, list[int]]:
    """How a batch compares with what is stored: the counts, and the positions of the new and changed rows
    (the ones to write); an identical row is left as it is."""
    inserted = updated = 0
    changed: list[int] = []
    for index, row in enumerate(rows):
        before = stored.get(row.key)
        if before is None:
            inserted += 1
        elif not row.same_as(before):
            updated += 1
        else:
            continue
        changed.append(index)
    return WriteCounts(inserted=inserted, updated=updated, unchanged=len(rows) - inserted - updated), changed


def quote_rows(quotes: pa.Table) -> list[QuoteRow]:
    """A batch (:data:`QUOTE_SCHEMA`) as rows: cast to the schema, NaN as missing, and refused with
    ``ValueError`` when it lacks a column, has a non-finite value or holds a (symbol, timestamp) twice."""
    batch = _conform(quotes, QUOTE_SCHEMA)
    columns = {name: batch.column(name).to_pylist() for name in ("symbol", "source", *_VALUES)}
    stamps = batch.column("timestamp").cast(pa.int64()).to_pylist()
    rows = [
        QuoteRow(*fields)
        for fields in zip(
            columns["symbol"], stamps, *(columns[name] for name in _VALUES), columns["source"], strict=True
        )
    ]
    seen: set[tuple[str, int]] = set()
    for row in rows:
        if row.key in seen:
            raise ValueError(f"the batch holds ({row.symbol}, {moment_of(row.ts).isoformat()}) more than once")
        seen.add(row.key)
        for name, value in zip(_VALUES, row.values, strict=True):
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} of ({row.symbol}, {moment_of(row.ts).isoformat()}) is {value}")
    return rows


def quote_frame(rows: Sequence[QuoteRow]) -> pd.DataFrame:
    """Rows as a read returns them: :data:`QUOTE_COLUMNS` with the DuckDB adapter's dtypes (``timestamp``
    tz-aware UTC, the values float64 with NaN for missing ones)."""
    schema = pa.schema([QUOTE_SCHEMA.field(name) for name in QUOTE_COLUMNS])
    arrays = [
        pa.array([row.ts for row in rows], pa.int64()).cast(schema.field("timestamp").type),
        *(pa.array([getattr(row, name) for row in rows], pa.float64()) for name in _VALUES),
        pa.array([row.source for row in rows], pa.string()),
    ]
    return pa.Table.from_arrays(arrays, schema=schema).to_pandas(date_as_object=True)


def as_quote(row: QuoteRow) -> Quote:
    return Quote(
        symbol=row.symbol,
        timestamp=moment_of(row.ts),
        price=row.price,
        size=row.size,
        bid=row.bid,
        ask=row.ask,
        source=row.source,
    )


def check_retentions(memory: timedelta, magnetic: timedelta) -> None:
    if memory <= timedelta(0) or magnetic < memory:
        raise ValueError("retentions must be positive, the magnetic one at least as long as the memory one")


# --- DynamoDB ------------------------------------------------------------------------------------------------


class DynamoDbQuoteTiers:
    """Quotes in one DynamoDB table, tiered by their ``tier`` attribute and expired by TTL (see the module).

    ``page_size`` caps the items a query page returns (DynamoDB's own cap is 1 MB); ``None`` leaves it to
    DynamoDB. Tests set it small to exercise pagination."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        memory_retention: timedelta = timedelta(hours=24),
        magnetic_retention: timedelta = timedelta(days=7),
        page_size: int | None = None,
    ) -> None:
        check_retentions(memory_retention, magnetic_retention)
        if page_size is not None and page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._db = client
        self._table = table
        self._memory_retention = memory_retention
        self._magnetic_retention = magnetic_retention
        self._page = {} if page_size is None else {"Limit": page_size}

    # --- writes ----------------------------------------------------------------------------------------------

    def write_quotes(self, quotes: pa.Table, *, ingested_at: datetime) -> WriteCounts:
        """Upsert on (symbol, timestamp): quotes stamped within ``memory_retention`` of ``ingested_at`` go to
        the memory tier, older ones to the magnetic tier; a changed quote is replaced (in whichever tier its
        age now puts it, with ``ingested_at`` as its ingest time), an identical one is left as it was. A batch
        with a (symbol, timestamp) twice, or a value DynamoDB cannot hold, raises ``ValueError`` and writes
        nothing."""
        moment = micros(ingested_at)
        rows = quote_rows(quotes)
        if not rows:
            return WriteCounts(inserted=0, updated=0, unchanged=0)
        boundary = moment - self._memory_retention // _US
        items = [self._item(row, moment, boundary) for row in rows]  # refuses what DynamoDB cannot hold
        counts, changed = classify(rows, self._stored([row.key for row in rows]))
        self._put([items[index] for index in changed])
        return counts

    def _item(self, row: QuoteRow, moment: int, boundary: int) -> dict[str, Any]:
        if not row.symbol or len(row.symbol.encode()) > MAX_KEY_BYTES:
            raise ValueError(f"symbol {row.symbol[:40]!r} cannot be a DynamoDB key (1 to {MAX_KEY_BYTES} bytes)")
        item: dict[str, Any] = {
            "symbol": {"S": row.symbol},
            "ts": {"N": str(row.ts)},
            "source": {"S": row.source},
            "ingestedAt": {"N": str(moment)},
            "tier": {"S": MEMORY if row.ts >= boundary else MAGNETIC},
            "expiresAt": {"N": str(self._expires_at(row.ts))},
        }
        for name, value in zip(_VALUES, row.values, strict=True):
            if value is not None:
                item[name] = {"N": _number(value, name, row)}
        return item

    def _expires_at(self, ts: int) -> int:
        """The epoch second TTL may delete the quote from: the first whole second past the magnetic retention
        (never earlier than :meth:`apply_retention` would)."""
        return -(-(ts + self._magnetic_retention // _US) // 1_000_000)

    def _stored(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], QuoteRow]:
        """The stored quotes of ``keys`` (strongly consistent), 100 keys a request, resubmitting what DynamoDB
        leaves unprocessed."""
        found: dict[tuple[str, int], QuoteRow] = {}
        names = {f"#{name}": name for name in ("symbol", *_VALUES, "source")}
        projection = ", ".join(["#symbol", "ts", *(f"#{name}" for name in (*_VALUES, "source"))])
        for first in range(0, len(keys), GET_BATCH):
            request: dict[str, Any] = {
                "Keys": [_key(symbol, ts) for symbol, ts in keys[first : first + GET_BATCH]],
                "ConsistentRead": True,
                "ProjectionExpression": projection,
                "ExpressionAttributeNames": names,
            }
            pending: dict[str, Any] = {self._table: request}
            for attempt in range(BATCH_ATTEMPTS):
                response = self._db.batch_get_item(RequestItems=pending)
                for item in response.get("Responses", {}).get(self._table, []):
                    row = _row(item)
                    found[row.key] = row
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                pause(attempt)
            if pending:
                left = len(pending[self._table]["Keys"])
                raise RuntimeError(f"DynamoDB left {left} quote reads unprocessed in {self._table}")
        return found

    def _put(self, items: Sequence[dict[str, Any]]) -> None:
        """Put ``items`` 25 a call, resubmitting what DynamoDB leaves unprocessed with jittered back-off."""
        for first in range(0, len(items), WRITE_BATCH):
            chunk = items[first : first + WRITE_BATCH]
            pending: dict[str, Any] = {self._table: [{"PutRequest": {"Item": item}} for item in chunk]}
            for attempt in range(BATCH_ATTEMPTS):
                result = write(functools.partial(self._db.batch_write_item, RequestItems=pending))
                pending = result.get("UnprocessedItems") or {}
                if not pending:
                    break
                pause(attempt)
            if pending:
                left = len(pending[self._table])
                raise RuntimeError(
                    f"DynamoDB left {left} quote writes unprocessed in {self._table} after {BATCH_ATTEMPTS} "
                    f"attempts; the batch is partly written (writing it again is safe)"
                )

    # --- reads -----------------------------------------------------------------------------------------------

    def latest_quote(self, symbol: str, *, as_of: datetime | None = None) -> Quote | None:
        """The newest quote stamped and ingested on or before ``as_of``, from either tier; with no ``as_of``,
        the newest stored."""
        for row in self._rows(symbol, None, None, as_of, newest_first=True, limit=1):
            return as_quote(row)
        return None

    def read_quotes(
        self, symbol: str, *, start: datetime | None = None, end: datetime | None = None, as_of: datetime | None = None
    ) -> pd.DataFrame:
        """Quotes within [start, end] from both tiers, oldest first, columns :data:`QUOTE_COLUMNS`
        (``timestamp`` as tz-aware UTC datetime64); with ``as_of``, only those stamped and ingested by then."""
        return quote_frame(list(self._rows(symbol, start, end, as_of, newest_first=False)))

    def _rows(
        self,
        symbol: str,
        start: datetime | None,
        end: datetime | None,
        as_of: datetime | None,
        *,
        newest_first: bool,
        limit: int | None = None,
    ) -> Iterator[QuoteRow]:
        """One symbol's quotes in a window as known at ``as_of``: a query on the table's key, following its
        pages, with ``ingestedAt`` as a filter."""
        if not symbol or len(symbol.encode()) > MAX_KEY_BYTES:
            return  # no such key can be stored
        low = None if start is None else micros(start)
        high = None if end is None else micros(end)
        values: dict[str, Any] = {":symbol": {"S": symbol}}
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
            "ExpressionAttributeNames": {"#symbol": "symbol"},
            **self._page,
        }
        if as_of is not None:
            cut = micros(as_of)
            high = cut if high is None else min(high, cut)
            arguments["FilterExpression"] = "ingestedAt <= :asOf"
            values[":asOf"] = {"N": str(cut)}
        if low is not None and high is not None and low > high:
            return
        condition = "#symbol = :symbol" + _RANGES[low is not None, high is not None]
        for name, bound in ((":low", low), (":high", high)):
            if bound is not None:
                values[name] = {"N": str(bound)}
        arguments["KeyConditionExpression"] = condition
        arguments["ExpressionAttributeValues"] = values
        items = query(self._db, arguments, limit=limit)
        for count, item in enumerate(items, start=1):
            yield _row(item)
            if limit is not None and count >= limit:
                return

    # --- tiers -----------------------------------------------------------------------------------------------

    def apply_retention(self, now: datetime) -> RetentionResult:
        """Move memory-tier quotes older than the memory retention to the magnetic tier, and delete quotes older
        than the magnetic retention from either tier (a memory-tier one without passing through magnetic). A
        quote exactly at a boundary stays. Not one transaction (see the module); running it again is safe."""
        moment = micros(now)
        memory_cut = moment - self._memory_retention // _US
        magnetic_cut = moment - self._magnetic_retention // _US
        to_move: list[dict[str, Any]] = []
        expired: list[dict[str, Any]] = []
        for item in self._tier_keys(MEMORY, memory_cut):
            (expired if int(item["ts"]["N"]) < magnetic_cut else to_move).append(_key_of(item))
        expired.extend(_key_of(item) for item in self._tier_keys(MAGNETIC, magnetic_cut))
        moved = self._move_to_magnetic(to_move)
        batch_delete(self._db, self._table, expired)
        return RetentionResult(moved=moved, expired=len(expired))

    def _tier_keys(self, tier: str, before: int) -> Iterator[dict[str, Any]]:
        """Keys of the quotes of ``tier`` stamped before ``before`` (epoch microseconds), from the tier index."""
        return query(
            self._db,
            {
                "TableName": self._table,
                "IndexName": TIER_INDEX,
                "KeyConditionExpression": "#tier = :tier AND ts < :before",
                "ProjectionExpression": "#symbol, ts",
                "ExpressionAttributeNames": _NAMES,
                "ExpressionAttributeValues": {":tier": {"S": tier}, ":before": {"N": str(before)}},
                **self._page,
            },
        )

    def _move_to_magnetic(self, keys: list[dict[str, Any]]) -> int:
        """Set ``tier`` to magnetic on ``keys``, 100 to a transaction, each conditioned on still being in the
        memory tier (so a quote deleted meanwhile is not brought back). A quote whose condition failed was
        moved or deleted by someone else: it is left out and the rest tried again. Returns how many moved."""
        moved = 0
        for first in range(0, len(keys), MAX_TRANSACTION_ACTIONS):
            pending = keys[first : first + MAX_TRANSACTION_ACTIONS]
            while pending:
                try:
                    transact(self._db, functools.partial(self._move_actions, pending))
                except TransactionFailed as failure:
                    if not failure.condition_failed:
                        raise
                    pending = [key for index, key in enumerate(pending) if not failure.failed(index)]
                    continue
                moved += len(pending)
                break
        return moved

    def _move_actions(self, keys: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": key,
                    "UpdateExpression": "SET #tier = :magnetic",
                    "ConditionExpression": "#tier = :memory",
                    "ExpressionAttributeNames": {"#tier": "tier"},
                    "ExpressionAttributeValues": {":magnetic": {"S": MAGNETIC}, ":memory": {"S": MEMORY}},
                }
            }
            for key in keys
        ]

    def tier_counts(self) -> dict[str, int]:
        """Quotes held per tier, counted on the tier index (``Select=COUNT``, every page)."""
        return {tier: self._count(tier) for tier in (MEMORY, MAGNETIC)}

    def _count(self, tier: str) -> int:
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": TIER_INDEX,
            "KeyConditionExpression": "#tier = :tier",
            "ExpressionAttributeNames": {"#tier": "tier"},
            "ExpressionAttributeValues": {":tier": {"S": tier}},
            "Select": "COUNT",
            **self._page,
        }
        total = 0
        while True:
            page = self._db.query(**arguments)
            total += int(page.get("Count", 0))
            start = page.get("LastEvaluatedKey")
            if start is None:
                return total
            arguments["ExclusiveStartKey"] = start

    def check(self) -> None:
        describe(self._db, self._table)


def _key(symbol: str, ts: int) -> dict[str, Any]:
    return {"symbol": {"S": symbol}, "ts": {"N": str(ts)}}


def _key_of(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"symbol": item["symbol"], "ts": item["ts"]}


def _number(value: float, name: str, row: QuoteRow) -> str:
    """``value`` as a DynamoDB number: its shortest repr, which DynamoDB keeps exactly; ``ValueError`` outside
    DynamoDB's range."""
    if value != 0 and not _SMALLEST <= abs(value) < _BEYOND:
        raise ValueError(
            f"{name} of ({row.symbol}, {moment_of(row.ts).isoformat()}) is {value!r}, beyond what DynamoDB holds"
        )
    return repr(value)


def _optional(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name)
    return None if value is None else float(value["N"])


def _row(item: Mapping[str, Any]) -> QuoteRow:
    return QuoteRow(
        symbol=str(item["symbol"]["S"]),
        ts=int(item["ts"]["N"]),
        price=float(item["price"]["N"]),
        size=_optional(item, "size"),
        bid=_optional(item, "bid"),
        ask=_optional(item, "ask"),
        source=str(item["source"]["S"]),
    )
