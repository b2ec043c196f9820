"""Idea-generation requests and their agent messages in SQLite (a DynamoDB table with a messages sort key
on AWS)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_ideas import SqliteIdeaRepository
from investai.domain.agents import AgentMessage
from investai.domain.common import epoch_ms
from investai.domain.errors import Conflict, NotFound
from investai.domain.idea_jobs import IdeaRequestRecord, RequestStatus
from investai.domain.ideas import InvestmentIdea

_FAR = 2**62


class SqliteIdeaRequestRepository:
    def __init__(self, *, db: SqliteDatabase, ideas: SqliteIdeaRepository) -> None:
        self._db = db
        self._ideas = ideas  # on the same database, so a request and its ideas commit in one transaction

    def complete(self, record: IdeaRequestRecord, ideas: Sequence[InvestmentIdea]) -> None:
        with self._db.transaction():
            for idea in ideas:
                self._ideas.add(idea)  # joins this transaction
            self.update(record)

    def add(self, record: IdeaRequestRecord) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO idea_requests (id, owner_id, organisation_id, status, created_at, updated_at,"
                    " cancel_requested, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        record.owner_id,
                        record.organisation_id,
                        record.status.value,
                        epoch_ms(record.created_at),
                        epoch_ms(record.updated_at),
                        int(record.cancel_requested),
                        record.model_dump_json(),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"idea request {record.id} already exists") from exc

    @staticmethod
    def _record(row: sqlite3.Row) -> IdeaRequestRecord:
        record = IdeaRequestRecord.model_validate_json(row["body"])
        if row["cancel_requested"] and not record.cancel_requested:
            record = record.model_copy(update={"cancel_requested": True})
        return record

    def get(self, request_id: str) -> IdeaRequestRecord:
        row = (
            self._db.connection()
            .execute("SELECT body, cancel_requested FROM idea_requests WHERE id = ?", (request_id,))
            .fetchone()
        )
        if row is None:
            raise NotFound(f"idea request {request_id} not found")
        return self._record(row)

    def update(self, record: IdeaRequestRecord) -> None:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE idea_requests SET status = ?, updated_at = ?, body = ?,"
                " cancel_requested = MAX(cancel_requested, ?) WHERE id = ?",
                (
                    record.status.value,
                    epoch_ms(record.updated_at),
                    record.model_dump_json(),
                    int(record.cancel_requested),
                    record.id,
                ),
            )
        if cursor.rowcount == 0:
            raise NotFound(f"idea request {record.id} not found")

    def request_cancel(self, request_id: str) -> None:
        with self._db.transaction() as conn:
            cursor = conn.execute("UPDATE idea_requests SET cancel_requested = 1 WHERE id = ?", (request_id,))
        if cursor.rowcount == 0:
            raise NotFound(f"idea request {request_id} not found")

    def cancel_requested(self, request_id: str) -> bool:
        row = (
            self._db.connection()
            .execute("SELECT cancel_requested FROM idea_requests WHERE id = ?", (request_id,))
            .fetchone()
        )
        if row is None:
            raise NotFound(f"idea request {request_id} not found")
        return bool(row["cancel_requested"])

    def list_requests(
        self,
        *,
        organisation_id: str,
        owner_id: str | None = None,
        status: RequestStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[IdeaRequestRecord]:
        where = ["organisation_id = ?", "created_at >= ?", "created_at <= ?"]
        args: list[object] = [
            organisation_id,
            epoch_ms(since) if since else 0,
            epoch_ms(until) if until else _FAR,
        ]
        if owner_id is not None:
            where.append("owner_id = ?")
            args.append(owner_id)
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        sql = (
            f"SELECT body, cancel_requested FROM idea_requests WHERE {' AND '.join(where)}"  # noqa: S608
            " ORDER BY created_at DESC, id DESC LIMIT ?"
        )
        rows = self._db.connection().execute(sql, (*args, max(1, min(limit, 500)))).fetchall()
        return [self._record(row) for row in rows]

    def append_message(self, message: AgentMessage) -> int:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM agent_messages WHERE request_id = ?",
                (message.request_id,),
            ).fetchone()
            seq = int(row["next"])
            try:
                conn.execute(
                    "INSERT INTO agent_messages VALUES (?, ?, ?, ?)",
                    (message.request_id, seq, epoch_ms(message.created_at), message.model_dump_json()),
                )
            except sqlite3.IntegrityError as exc:
                raise NotFound(f"idea request {message.request_id} not found") from exc
        return seq

    def messages(self, request_id: str, *, after: int = 0, limit: int = 1000) -> list[tuple[int, AgentMessage]]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT seq, body FROM agent_messages WHERE request_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (request_id, after, max(1, min(limit, 10_000))),
            )
            .fetchall()
        )
        return [(int(row["seq"]), AgentMessage.model_validate_json(row["body"])) for row in rows]
