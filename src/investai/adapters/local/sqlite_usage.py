"""The usage ledger in SQLite (the main database, so backups take it with everything else).

A batch is one transaction (``BEGIN IMMEDIATE``): its key goes into ``usage_batches`` (primary key, so a
second recording of the same key changes nothing) and each counter row is upserted with ``+=``. SQLite's write
lock orders the transactions of every process on the file, so concurrent writers never lose an update.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from investai.adapters.local.sqlite import SqliteDatabase
from investai.domain.budgets import BudgetOverride, BudgetScope, UsageDimension, UsageEntry, UsageTotals
from investai.domain.common import epoch_ms
from investai.ports.usage import CounterKey, UsageLedger

_ADD = (
    "INSERT INTO usage_counters (month, organisation_id, dimension, name, calls, input_tokens, output_tokens,"
    " cost_nanos) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (month, organisation_id, dimension, name) DO UPDATE SET"
    " calls = calls + excluded.calls, input_tokens = input_tokens + excluded.input_tokens,"
    " output_tokens = output_tokens + excluded.output_tokens, cost_nanos = cost_nanos + excluded.cost_nanos"
)
_COLUMNS = "month, organisation_id, dimension, name, calls, input_tokens, output_tokens, cost_nanos"


class SqliteUsageLedger(UsageLedger):
    health_name = "sqlite_usage"

    def __init__(self, *, db: SqliteDatabase) -> None:
        self._db = db

    def check(self) -> None:
        self._db.connection().execute("SELECT 1 FROM usage_counters LIMIT 1").fetchall()

    def _apply(self, batch_key: str, entries: list[UsageEntry], counters: dict[CounterKey, UsageTotals]) -> bool:
        body = json.dumps([entry.model_dump(mode="json") for entry in entries])
        with self._db.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO usage_batches (batch_key, recorded_at, body) VALUES (?, ?, ?)",
                    (batch_key, max(epoch_ms(entry.at) for entry in entries), body),
                )
            except sqlite3.IntegrityError:
                return False  # recorded before: the transaction ends with nothing written
            conn.executemany(
                _ADD,
                [
                    (
                        key.month,
                        key.organisation_id,
                        key.dimension.value,
                        key.name,
                        totals.calls,
                        totals.input_tokens,
                        totals.output_tokens,
                        totals.cost_nanos,
                    )
                    for key, totals in counters.items()
                ],
            )
        return True

    def _counter(self, key: CounterKey) -> UsageTotals:
        row = (
            self._db.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM usage_counters"  # noqa: S608 - a constant column list
                " WHERE month = ? AND organisation_id = ? AND dimension = ? AND name = ?",
                (key.month, key.organisation_id, key.dimension.value, key.name),
            )
            .fetchone()
        )
        return UsageTotals() if row is None else _totals(row)

    def _counters(self, month: str, organisation_id: str | None) -> Iterable[tuple[CounterKey, UsageTotals]]:
        sql = f"SELECT {_COLUMNS} FROM usage_counters WHERE month = ?"  # noqa: S608 - a constant column list
        arguments: tuple[str, ...] = (month,)
        if organisation_id is not None:
            sql += " AND organisation_id = ?"
            arguments += (organisation_id,)
        rows = self._db.connection().execute(sql, arguments).fetchall()
        return [(_key(row), _totals(row)) for row in rows]

    # --- overrides -------------------------------------------------------------------------------------------

    def set_override(self, override: BudgetOverride) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO budget_overrides (organisation_id, scope, subject_id, body) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (organisation_id, scope, subject_id) DO UPDATE SET body = excluded.body",
                (override.organisation_id, override.scope.value, override.subject_id, override.model_dump_json()),
            )

    def clear_override(self, *, organisation_id: str, scope: BudgetScope, subject_id: str) -> bool:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM budget_overrides WHERE organisation_id = ? AND scope = ? AND subject_id = ?",
                (organisation_id, scope.value, subject_id),
            )
        return cursor.rowcount > 0

    def override(self, *, organisation_id: str, scope: BudgetScope, subject_id: str) -> BudgetOverride | None:
        row = (
            self._db.connection()
            .execute(
                "SELECT body FROM budget_overrides WHERE organisation_id = ? AND scope = ? AND subject_id = ?",
                (organisation_id, scope.value, subject_id),
            )
            .fetchone()
        )
        return None if row is None else BudgetOverride.model_validate_json(row["body"])

    def overrides(self, *, organisation_id: str) -> list[BudgetOverride]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT body FROM budget_overrides WHERE organisation_id = ? ORDER BY scope = 'user', subject_id",
                (organisation_id,),
            )
            .fetchall()
        )
        return [BudgetOverride.model_validate_json(row["body"]) for row in rows]


def _key(row: sqlite3.Row) -> CounterKey:
    return CounterKey(row["month"], row["organisation_id"], UsageDimension(row["dimension"]), row["name"])


def _totals(row: sqlite3.Row) -> UsageTotals:
    return UsageTotals(
        calls=row["calls"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cost_nanos=row["cost_nanos"],
    )
