"""The DuckDB statements behind the market store's quarantine (table ``bars_quarantine``, created by schema
version 3 in :mod:`investai.adapters.local.duckdb_market`) and behind the neighbouring bars the plausibility
rules measure an ingest against. Each function works on a cursor the store hands it, inside the store's own
transaction where it writes.

Held rows never enter ``bars_daily`` or ``bars_history``, so no bar read can return them. A row is resolved
once: released or corrected (the store writes the bars in the same transaction) or discarded.
"""

# SQL text in this module is assembled only from its own constant fragments (table and column names); every
# value is a bound parameter (``?``).
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from investai.domain.market import QuarantinedBar, QuarantineResolved, QuarantineStatus
from investai.ports.market import NEIGHBOUR_COLUMNS, QUARANTINE_SCHEMA

TABLE_DDL = """CREATE TABLE IF NOT EXISTS bars_quarantine (
    id VARCHAR NOT NULL, symbol VARCHAR NOT NULL, date DATE NOT NULL, open DOUBLE, high DOUBLE, low DOUBLE,
    close DOUBLE NOT NULL, adj_close DOUBLE, volume DOUBLE, source VARCHAR NOT NULL, reason VARCHAR NOT NULL,
    quarantined_at TIMESTAMPTZ NOT NULL, status VARCHAR NOT NULL, resolved_at TIMESTAMPTZ, resolved_by VARCHAR,
    note VARCHAR)"""
"""No primary key: ids are generated unique (random), and DuckDB's ART index would make the status updates
of resolved rows check the key again."""

_HELD = QUARANTINE_SCHEMA.names
_COLUMNS = [*_HELD, "quarantined_at", "status", "resolved_at", "resolved_by", "note"]
_SAME_VALUES = ["open", "high", "low", "close", "adj_close", "volume", "source"]
_PENDING = QuarantineStatus.PENDING.value
_SPANS = pa.schema([("symbol", pa.string()), ("first", pa.date32()), ("last", pa.date32())])


def hold(cursor: duckdb.DuckDBPyConnection, rows: pa.Table, at: datetime) -> list[str]:
    """Insert the rows not equal to a pending one (see the port) and return each row's id, in order."""
    numbered = rows.append_column("ordinal", pa.array(range(rows.num_rows), type=pa.int64()))
    same = " AND ".join(f"q.{name} IS NOT DISTINCT FROM i.{name}" for name in _SAME_VALUES)
    cursor.register("incoming_held", numbered)
    try:
        matches = cursor.execute(
            f"""SELECT i.ordinal, min(q.id) FROM incoming_held AS i
            LEFT JOIN bars_quarantine AS q ON q.status = ? AND q.symbol = i.symbol AND q.date = i.date AND {same}
            GROUP BY i.ordinal""",
            [_PENDING],
        ).fetchall()
        pending = {int(ordinal): found for ordinal, found in matches if found is not None}
        fresh = [ordinal for ordinal in range(rows.num_rows) if ordinal not in pending]
        if fresh:
            cursor.execute(
                f"""INSERT INTO bars_quarantine ({", ".join(_COLUMNS)})
                SELECT {", ".join(_HELD)}, ?, ?, NULL, NULL, NULL FROM incoming_held
                WHERE ordinal IN (SELECT unnest(?::BIGINT[])) ORDER BY ordinal""",
                [at, _PENDING, fresh],
            )
    finally:
        cursor.unregister("incoming_held")
    ids = rows.column("id").to_pylist()
    return [str(pending.get(ordinal, ids[ordinal])) for ordinal in range(rows.num_rows)]


def listed(
    cursor: duckdb.DuckDBPyConnection, *, symbol: str | None, status: QuarantineStatus | None, limit: int
) -> list[QuarantinedBar]:
    conditions, params = ["TRUE"], []
    if symbol is not None:
        conditions.append("symbol = ?")
        params.append(symbol)
    if status is not None:
        conditions.append("status = ?")
        params.append(QuarantineStatus(status).value)
    rows = cursor.execute(
        f"""SELECT {", ".join(_COLUMNS)} FROM bars_quarantine WHERE {" AND ".join(conditions)}
        ORDER BY quarantined_at DESC, symbol, date, id LIMIT ?""",
        [*params, int(limit)],
    ).fetchall()
    return [_held_bar(row) for row in rows]


def by_id(cursor: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> list[QuarantinedBar]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    rows = cursor.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM bars_quarantine WHERE id IN (SELECT unnest(?::VARCHAR[]))", [wanted]
    ).fetchall()
    found = {entry.id: entry for entry in map(_held_bar, rows)}
    return [found[identifier] for identifier in wanted if identifier in found]


def resolve(
    cursor: duckdb.DuckDBPyConnection,
    ids: Sequence[str],
    *,
    status: QuarantineStatus,
    at: datetime,
    by: str,
    note: str,
) -> None:
    """Mark the pending rows ``ids`` resolved; :class:`QuarantineResolved` when one of them is not pending
    (the caller's transaction then rolls everything back)."""
    if QuarantineStatus(status) is QuarantineStatus.PENDING:
        raise ValueError("a quarantined row is resolved as released, corrected or discarded")
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return
    updated = cursor.execute(
        """UPDATE bars_quarantine SET status = ?, resolved_at = ?, resolved_by = ?, note = ?
        WHERE status = ? AND id IN (SELECT unnest(?::VARCHAR[]))""",
        [QuarantineStatus(status).value, at, by, note, _PENDING, wanted],
    ).fetchall()
    if int(updated[0][0]) != len(wanted):
        raise QuarantineResolved("a quarantined row was already released, corrected or discarded, or does not exist")


def neighbours(cursor: duckdb.DuckDBPyConnection, spans: Sequence[tuple[str, date, date]]) -> pa.Table:
    """The bars :meth:`~investai.ports.market.TimeSeriesStore.bar_neighbours` describes, as Arrow."""
    table = pa.table(
        {
            "symbol": [span[0] for span in spans],
            "first": [span[1] for span in spans],
            "last": [span[2] for span in spans],
        },
        schema=_SPANS,
    )
    columns = ", ".join(f"b.{name}" for name in NEIGHBOUR_COLUMNS)
    cursor.register("neighbour_spans", table)
    try:
        relation = cursor.sql(
            f"""WITH edges AS (
                SELECT s.symbol, s.first, s.last,
                    max(b.date) FILTER (WHERE b.date < s.first) AS before,
                    min(b.date) FILTER (WHERE b.date > s.last) AS after
                FROM neighbour_spans AS s JOIN bars_daily AS b ON b.symbol = s.symbol
                GROUP BY s.symbol, s.first, s.last)
            SELECT DISTINCT {columns} FROM bars_daily AS b JOIN edges AS e ON b.symbol = e.symbol
            WHERE b.date BETWEEN e.first AND e.last OR b.date = e.before OR b.date = e.after
            ORDER BY b.symbol, b.date"""
        )
        if relation is None:
            raise RuntimeError("a read query returned no relation")
        return relation.to_arrow_table()
    finally:
        cursor.unregister("neighbour_spans")


def _held_bar(row: tuple[Any, ...]) -> QuarantinedBar:
    record = dict(zip(_COLUMNS, row, strict=True))
    for moment in ("quarantined_at", "resolved_at"):
        if record[moment] is not None:
            record[moment] = record[moment].astimezone(UTC)
    return QuarantinedBar.model_validate(record)
