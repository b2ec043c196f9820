"""Idea revisions in SQLite, keyed ``(id, timestamp)`` like the InvestmentIdeas DynamoDB table. Bodies read
are parsed once while they stay among the most recently read (:mod:`investai.adapters.local.parsed_cache`; a
whole idea is about 24 KB of JSON)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from investai.adapters.local.parsed_cache import ParsedBodies
from investai.adapters.local.sqlite import SqliteDatabase
from investai.domain.errors import Conflict, NotFound
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus

_NO_BOUND = 2**62


class SqliteIdeaRepository:
    def __init__(self, *, db: SqliteDatabase, parsed_cache_entries: int = 512) -> None:
        self._db = db
        self._parsed = ParsedBodies(InvestmentIdea, max_entries=parsed_cache_entries)

    def add(self, idea: InvestmentIdea) -> None:
        with self._db.transaction() as conn:
            latest = conn.execute(
                "SELECT version, timestamp FROM idea_revisions WHERE id = ? AND is_latest = 1", (idea.id,)
            ).fetchone()
            expected = 1 if latest is None else latest["version"] + 1
            if idea.version != expected:
                raise Conflict(f"idea {idea.id} is at version {expected - 1}; cannot store version {idea.version}")
            if latest is not None and idea.timestamp <= latest["timestamp"]:
                raise Conflict(f"idea {idea.id}: revision timestamps must increase")
            conn.execute("UPDATE idea_revisions SET is_latest = 0 WHERE id = ? AND is_latest = 1", (idea.id,))
            try:
                conn.execute(
                    "INSERT INTO idea_revisions VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
                    (
                        idea.id,
                        idea.timestamp,
                        idea.version,
                        idea.owner_id,
                        idea.organisation_id,
                        idea.status.value,
                        idea.date,
                        idea.model_dump_json(),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"idea {idea.id} revision {idea.timestamp} already exists") from exc

    def get(self, idea_id: str, *, version: int | None = None) -> InvestmentIdea:
        conn = self._db.connection()
        if version is None:
            row = conn.execute("SELECT body FROM idea_revisions WHERE id = ? AND is_latest = 1", (idea_id,)).fetchone()
        else:
            row = conn.execute(
                "SELECT body FROM idea_revisions WHERE id = ? AND version = ?", (idea_id, version)
            ).fetchone()
        if row is None:
            raise NotFound(f"idea {idea_id} not found")
        return self._parsed.parse(row["body"])

    def history(self, idea_id: str) -> list[InvestmentIdea]:
        rows = (
            self._db.connection()
            .execute("SELECT body FROM idea_revisions WHERE id = ? ORDER BY timestamp", (idea_id,))
            .fetchall()
        )
        if not rows:
            raise NotFound(f"idea {idea_id} not found")
        return [self._parsed.parse(row["body"]) for row in rows]

    def list_by_user(self, user_id: str, *, limit: int = 50, before: int | None = None) -> list[InvestmentIdea]:
        return self._query("user_id = ?", (user_id,), limit, before)

    def list_by_status(
        self, organisation_id: str, status: IdeaStatus, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        return self._query("organisation_id = ? AND status = ?", (organisation_id, status.value), limit, before)

    def list_by_date(
        self, organisation_id: str, day: str, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        return self._query("organisation_id = ? AND date = ?", (organisation_id, day), limit, before)

    def list_by_organisation(
        self, organisation_id: str, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        return self._query("organisation_id = ?", (organisation_id,), limit, before)

    def list_expiring(self, now: datetime, *, limit: int = 500) -> list[InvestmentIdea]:
        rows = (
            self._db.connection()
            .execute(
                "SELECT body FROM idea_revisions WHERE is_latest = 1 AND status IN (?, ?) ORDER BY timestamp",
                (IdeaStatus.APPROVED.value, IdeaStatus.REJECTED.value),
            )
            .fetchall()
        )
        due = []
        for row in rows:  # expires_at lives in the body; approved and rejected ideas are few enough to scan
            idea = self._parsed.parse(row["body"])
            if idea.expires_at <= now:
                due.append(idea)
                if len(due) >= limit:
                    break
        return due

    def as_of(self, idea_id: str, at_ms: int) -> InvestmentIdea:
        row = (
            self._db.connection()
            .execute(
                "SELECT body FROM idea_revisions WHERE id = ? AND timestamp <= ? ORDER BY timestamp DESC LIMIT 1",
                (idea_id, at_ms),
            )
            .fetchone()
        )
        if row is None:
            raise NotFound(f"idea {idea_id} had no revision then")
        return self._parsed.parse(row["body"])

    def list_as_of(
        self, organisation_id: str, at_ms: int, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        # every revision of the organisation up to at_ms, ranked per idea; the newest of each is the one
        # current then (the paging bound applies after ranking, to those current revisions)
        sql = """
            SELECT body FROM (
                SELECT body, timestamp, ROW_NUMBER() OVER (PARTITION BY id ORDER BY timestamp DESC) AS rank
                FROM idea_revisions WHERE organisation_id = ? AND timestamp <= ?
            )
            WHERE rank = 1 AND timestamp < ? ORDER BY timestamp DESC LIMIT ?
        """
        bound = _NO_BOUND if before is None else before
        rows = self._db.connection().execute(sql, (organisation_id, at_ms, bound, max(1, min(limit, 500)))).fetchall()
        return [self._parsed.parse(row["body"]) for row in rows]

    def _query(self, where: str, args: tuple[str, ...], limit: int, before: int | None) -> list[InvestmentIdea]:
        sql = (
            f"SELECT body FROM idea_revisions WHERE {where} AND is_latest = 1 AND timestamp < ? "  # noqa: S608
            "ORDER BY timestamp DESC LIMIT ?"
        )
        bound = _NO_BOUND if before is None else before
        rows = self._db.connection().execute(sql, (*args, bound, max(1, min(limit, 500)))).fetchall()
        return [self._parsed.parse(row["body"]) for row in rows]
