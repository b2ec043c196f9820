"""The audit log on SQLite: an append-only table whose records are chained by SHA-256.

Each record stores its body (every :class:`AuditEvent` field except the two hashes) as canonical JSON,
the previous record's hash, and ``hash = chain_hash(prev_hash, body)``. ``actor_id``, ``organisation_id``,
``action`` and ``at`` are copied into columns for the list queries; :meth:`SqliteAuditLog.verify` checks
that they agree with the body. Triggers created by migration 2 refuse ``UPDATE`` and ``DELETE``.

What the chain can and cannot show
----------------------------------
Anyone who can only *edit* records — even after dropping the triggers — breaks the chain at the first
record they touch: an edited body or hash column no longer matches its recomputed hash, an edited
``prev_hash`` no longer links, a deleted or reordered record leaves a gap or a broken link. Two attacks
are invisible from the chain alone: truncating the newest records, and rewriting every record from some
point on with recomputed hashes. Both change the head, so an operator should copy :meth:`SqliteAuditLog.head`
somewhere the database's writers cannot reach (a ticket, a WORM bucket, a signed log line) and compare later.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from investai.adapters.local.sqlite import SqliteDatabase
from investai.domain.audit import (
    FILTER_FIELDS,
    GENESIS_HASH,
    AuditEvent,
    AuditOutcome,
    AuditVerification,
    StoredRecord,
    canonical_json,
    checked_details,
    event_body,
    sealed_event,
    verify_chain,
)
from investai.domain.common import epoch_ms
from investai.domain.errors import IntegrityError
from investai.ports.clock import Clock


@dataclass(eq=False)
class _Pending:
    """One record waiting for a group commit, and what became of it."""

    fields: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    event: AuditEvent | None = None
    error: BaseException | None = None


MAX_PAGE = 500
VERIFY_BATCH = 500
APPEND_ONLY_TRIGGERS = frozenset({"audit_events_no_update", "audit_events_no_delete"})


class SqliteAuditLog:
    health_name = "audit_log"

    def __init__(self, *, db: SqliteDatabase, clock: Clock, max_batch: int = 256) -> None:
        self._db = db
        self._clock = clock
        self._max_batch = max(1, max_batch)
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._leading = False

    def append(
        self,
        *,
        action: str,
        outcome: AuditOutcome = AuditOutcome.SUCCESS,
        actor_id: str | None = None,
        organisation_id: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        ip: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Add a record chained to the newest one, under the database write lock (threads and processes)."""
        fields: dict[str, Any] = {
            "action": action,
            "outcome": outcome,
            "actor_id": actor_id,
            "organisation_id": organisation_id,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "ip": ip,
            "request_id": request_id,
            "details": checked_details(details),
        }
        if self._db.connection().in_transaction:  # part of the caller's own write: commit with it
            return self._insert(self._db.connection(), [fields])[0]
        return self._group_commit(_Pending(fields))

    def verify(self) -> AuditVerification:
        """Walk the chain in ``seq`` order and report the first record that does not hold.

        A record is broken when its ``seq`` is not the next one (records before it were deleted; the
        first record must be 1), its ``prev_hash`` is not the previous record's hash, its hash does not
        match its body, its body is not canonical JSON of a valid event with that ``seq``, or a query
        column disagrees with the body. ``checked`` counts the intact records before the first broken
        one (all of them when the chain holds). Rows are streamed in batches, one read snapshot.

        Truncating the newest records, or rewriting every record from some point on with fresh hashes,
        is not detectable from the chain alone: compare :meth:`head` with a copy kept elsewhere.
        """
        return verify_chain(_stored(row) for row in self._rows_in_order())

    def head(self) -> tuple[int, str]:
        """The newest record's ``seq`` and hash (``(0, GENESIS_HASH)`` when empty), to anchor externally."""
        return _head(self._db.connection())

    def list_events(
        self,
        *,
        organisation_id: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[AuditEvent]:
        """Newest first; filters combine with AND; ``before_seq`` pages back; ``limit`` is clamped to 1..500."""
        values = (organisation_id, actor_id, action)
        clauses = [f"{column} = ?" for column, value in zip(FILTER_FIELDS, values, strict=True) if value is not None]
        params: list[object] = [value for value in values if value is not None]
        if before_seq is not None:
            clauses.append("seq < ?")
            params.append(before_seq)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT body, prev_hash, hash FROM audit_events {where} ORDER BY seq DESC LIMIT ?"  # noqa: S608
        params.append(max(1, min(limit, MAX_PAGE)))
        rows = self._db.connection().execute(sql, params).fetchall()
        return [_event_from_row(row) for row in rows]

    def check(self) -> None:
        """Ready when the table answers and both append-only triggers are in place."""
        conn = self._db.connection()
        conn.execute("SELECT 1 FROM audit_events LIMIT 1").fetchall()
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'")
        missing = APPEND_ONLY_TRIGGERS - {str(row["name"]) for row in rows}
        if missing:
            raise IntegrityError(f"the audit log is not append-only: trigger(s) {', '.join(sorted(missing))} missing")

    # -- internals ----------------------------------------------------------------------------------
    def _group_commit(self, pending: _Pending) -> AuditEvent:
        """Group commit: records appended by concurrent threads while a commit is in flight are written
        together in the next transaction, one fsync for all of them. Every caller still returns only once
        its own record is committed (or raises the error that stopped it), so nothing acknowledged is lost;
        under concurrent reads, each audited, this turns one fsync per request into one per batch."""
        with self._queue_lock:
            self._queue.append(pending)
            if not self._leading:
                self._leading = pending.leads = True
        while True:
            if pending.leads:  # this thread commits the next batch (its own record is the batch's first)
                pending.leads = False
                pending.done.clear()
                self._commit_next_batch()
            pending.done.wait()
            if not pending.leads:
                break
        if pending.error is not None:
            raise pending.error
        assert pending.event is not None
        return pending.event

    def _commit_next_batch(self) -> None:
        error: BaseException | None = None
        with self._queue_lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: len(batch)]
        try:
            with self._db.transaction() as conn:
                events = self._insert(conn, [item.fields for item in batch])
        except BaseException as exc:  # every record of the batch failed with it
            events, error = [], exc
        for index, item in enumerate(batch):
            item.event, item.error = (events[index], None) if error is None else (None, error)
        with self._queue_lock:
            if self._queue:  # hand the lead to the oldest waiter, which commits the next batch on waking
                self._queue[0].leads = True
                self._queue[0].done.set()
            else:
                self._leading = False
        for item in batch:
            item.done.set()

    def _insert(self, conn: sqlite3.Connection, batch: list[dict[str, Any]]) -> list[AuditEvent]:
        """Seal and insert ``batch`` in order after the newest record, inside ``conn``'s transaction."""
        last_seq, prev_hash = _head(conn)
        events = []
        for fields in batch:
            event = sealed_event(seq=last_seq + 1, at=self._clock.now(), prev_hash=prev_hash, fields=fields)
            conn.execute(
                "INSERT INTO audit_events (seq, at, actor_id, organisation_id, action, body, prev_hash, hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.seq,
                    epoch_ms(event.at),
                    event.actor_id,
                    event.organisation_id,
                    event.action,
                    canonical_json(event_body(event)),
                    event.prev_hash,
                    event.hash,
                ),
            )
            events.append(event)
            last_seq, prev_hash = event.seq, event.hash
        return events

    def _rows_in_order(self) -> Iterator[sqlite3.Row]:
        cursor = self._db.connection().execute(
            "SELECT seq, at, actor_id, organisation_id, action, body, prev_hash, hash FROM audit_events ORDER BY seq"
        )
        try:
            while batch := cursor.fetchmany(VERIFY_BATCH):
                yield from batch
        finally:
            cursor.close()


def _head(conn: sqlite3.Connection) -> tuple[int, str]:
    row = conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS_HASH) if row is None else (int(row["seq"]), str(row["hash"]))


def _stored(row: sqlite3.Row) -> StoredRecord:
    columns: dict[str, object] = {"seq": row["seq"], "at": row["at"]} | {name: row[name] for name in FILTER_FIELDS}
    return StoredRecord(
        seq=int(row["seq"]), prev_hash=row["prev_hash"], hash=row["hash"], body=row["body"], columns=columns
    )


def _event_from_row(row: sqlite3.Row) -> AuditEvent:
    return AuditEvent.model_validate({**json.loads(row["body"]), "prev_hash": row["prev_hash"], "hash": row["hash"]})
