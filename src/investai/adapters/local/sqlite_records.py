"""Users, encrypted profiles, document metadata and feedback in SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from investai.adapters.local.parsed_cache import ParsedBodies
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_envelopes import rewrap_quietly, rewrap_table
from investai.domain.common import epoch_ms
from investai.domain.documents import Document
from investai.domain.errors import Conflict, NotFound
from investai.domain.feedback import Feedback
from investai.domain.users import User, UserProfile
from investai.security.envelope import EnvelopeCipher, RewrapCount


class SqliteUserRepository:
    def __init__(self, *, db: SqliteDatabase) -> None:
        self._db = db

    def add(self, user: User) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO users VALUES (?, ?, ?, ?)",
                    (user.id, user.email, user.organisation_id, user.model_dump_json()),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict("a user with that id or e-mail address already exists") from exc

    def get(self, user_id: str) -> User:
        row = self._db.connection().execute("SELECT body FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise NotFound(f"user {user_id} not found")
        return User.model_validate_json(row["body"])

    def get_by_email(self, email: str) -> User | None:
        row = self._db.connection().execute("SELECT body FROM users WHERE email = ?", (email,)).fetchone()
        return None if row is None else User.model_validate_json(row["body"])

    def update(self, user: User) -> None:
        try:
            with self._db.transaction() as conn:
                cursor = conn.execute(
                    "UPDATE users SET email = ?, organisation_id = ?, body = ? WHERE id = ?",
                    (user.email, user.organisation_id, user.model_dump_json(), user.id),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict("another user has that e-mail address") from exc
        if cursor.rowcount == 0:
            raise NotFound(f"user {user.id} not found")

    def list_users(self, *, organisation_id: str | None = None, limit: int = 100) -> list[User]:
        conn = self._db.connection()
        if organisation_id is None:
            rows = conn.execute("SELECT body FROM users ORDER BY email LIMIT ?", (limit,)).fetchall()
        else:
            rows = conn.execute(
                "SELECT body FROM users WHERE organisation_id = ? ORDER BY email LIMIT ?", (organisation_id, limit)
            ).fetchall()
        return [User.model_validate_json(row["body"]) for row in rows]

    def delete(self, user_id: str) -> None:
        with self._db.transaction() as conn:
            if conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount == 0:
                raise NotFound(f"user {user_id} not found")


class SqliteProfileRepository:
    """Profiles are envelope-encrypted before they reach the database (they hold personal data). The latest
    lives in ``user_profiles``; every revision, the latest included, in ``profile_revisions``."""

    def __init__(self, *, db: SqliteDatabase, cipher: EnvelopeCipher) -> None:
        self._db = db
        self._cipher = cipher

    def get(self, user_id: str) -> UserProfile:
        row = self._db.connection().execute("SELECT body FROM user_profiles WHERE user_id = ?", (user_id,)).fetchone()
        if row is None:
            raise NotFound(f"no profile for user {user_id}")
        profile = self._open(user_id, row["body"])
        body = bytes(row["body"])  # the latest revision holds the same envelope
        rewrap_quietly(self._db, self._cipher, tables=_PROFILE_TABLES, match={"user_id": user_id}, body=body)
        return profile

    def put(self, profile: UserProfile) -> None:
        sealed = self._cipher.seal(profile.model_dump_json().encode(), aad=_profile_aad(profile.user_id))
        with self._db.transaction() as conn:
            newest = conn.execute(
                "SELECT MAX(timestamp) AS at FROM profile_revisions WHERE user_id = ?", (profile.user_id,)
            ).fetchone()["at"]
            stamp = epoch_ms(profile.updated_at) if newest is None else max(epoch_ms(profile.updated_at), newest + 1)
            conn.execute(
                "INSERT INTO user_profiles VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET body = excluded.body",
                (profile.user_id, sealed),
            )
            conn.execute("INSERT INTO profile_revisions VALUES (?, ?, ?)", (profile.user_id, stamp, sealed))

    def delete(self, user_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM user_profiles WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM profile_revisions WHERE user_id = ?", (user_id,))

    def as_of(self, user_id: str, at_ms: int) -> UserProfile:
        row = (
            self._db.connection()
            .execute(
                "SELECT body FROM profile_revisions WHERE user_id = ? AND timestamp <= ?"
                " ORDER BY timestamp DESC LIMIT 1",
                (user_id, at_ms),
            )
            .fetchone()
        )
        if row is None:
            raise NotFound(f"no profile for user {user_id} then")
        profile = self._open(user_id, row["body"])
        body = bytes(row["body"])
        rewrap_quietly(self._db, self._cipher, tables=_PROFILE_TABLES[1:], match={"user_id": user_id}, body=body)
        return profile

    def rewrap_envelopes(self, *, limit: int | None = None) -> RewrapCount:
        """Re-wrap, under the current master key, every profile and revision an earlier one wrapped."""
        count = RewrapCount()
        for table, key_columns in (("user_profiles", ("user_id",)), ("profile_revisions", ("user_id", "timestamp"))):
            rewrap_table(self._db, self._cipher, table=table, key_columns=key_columns, limit=limit, count=count)
        return count

    def prune_revisions(self, before_ms: int) -> int:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                """
                DELETE FROM profile_revisions
                WHERE timestamp < :cutoff AND EXISTS (
                    SELECT 1 FROM profile_revisions AS newer
                    WHERE newer.user_id = profile_revisions.user_id
                      AND newer.timestamp > profile_revisions.timestamp AND newer.timestamp <= :cutoff
                )
                """,
                {"cutoff": before_ms},
            )
        return cursor.rowcount

    def _open(self, user_id: str, body: bytes) -> UserProfile:
        plaintext = self._cipher.open(bytes(body), aad=_profile_aad(user_id))
        return UserProfile.model_validate_json(plaintext)


_PROFILE_TABLES = ("user_profiles", "profile_revisions")


def _profile_aad(user_id: str) -> bytes:
    return f"profile:{user_id}".encode()


class SqliteDocumentRepository:
    def __init__(self, *, db: SqliteDatabase, parsed_cache_entries: int = 1024) -> None:
        self._db = db
        self._parsed = ParsedBodies(Document, max_entries=parsed_cache_entries)

    def add(self, document: Document) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?)", _document_row(document))
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"document {document.id} already exists") from exc

    def get(self, document_id: str) -> Document:
        row = self._db.connection().execute("SELECT body FROM documents WHERE id = ?", (document_id,)).fetchone()
        if row is None:
            raise NotFound(f"document {document_id} not found")
        return self._parsed.parse(row["body"])

    def update(self, document: Document, *, expected_updated_at: datetime) -> None:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT updated_at FROM documents WHERE id = ?", (document.id,)).fetchone()
            if row is None:
                raise NotFound(f"document {document.id} not found")
            if row["updated_at"] != epoch_ms(expected_updated_at):
                raise Conflict(f"document {document.id} changed since it was read")
            doc_id, owner, org, updated, body = _document_row(document)
            conn.execute(
                "UPDATE documents SET owner_id = ?, organisation_id = ?, updated_at = ?, body = ? WHERE id = ?",
                (owner, org, updated, body, doc_id),
            )

    def delete(self, document_id: str) -> None:
        with self._db.transaction() as conn:
            if conn.execute("DELETE FROM documents WHERE id = ?", (document_id,)).rowcount == 0:
                raise NotFound(f"document {document_id} not found")

    def list_by_owner(self, owner_id: str, *, limit: int = 100) -> list[Document]:
        return self._list("owner_id", owner_id, limit)

    def list_by_organisation(self, organisation_id: str, *, limit: int = 100) -> list[Document]:
        return self._list("organisation_id", organisation_id, limit)

    def _list(self, column: str, value: str, limit: int) -> list[Document]:
        sql = f"SELECT body FROM documents WHERE {column} = ? ORDER BY updated_at DESC LIMIT ?"  # noqa: S608
        rows = self._db.connection().execute(sql, (value, limit)).fetchall()
        return [self._parsed.parse(row["body"]) for row in rows]


def _document_row(document: Document) -> tuple[str, str, str, int, str]:
    return (
        document.id,
        document.owner_id,
        document.organisation_id,
        epoch_ms(document.updated_at),
        document.model_dump_json(),
    )


class SqliteFeedbackRepository:
    def __init__(self, *, db: SqliteDatabase) -> None:
        self._db = db

    def add(self, feedback: Feedback) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO feedback VALUES (?, ?, ?, ?, ?)",
                    (
                        feedback.id,
                        feedback.idea_id,
                        feedback.user_id,
                        epoch_ms(feedback.created_at),
                        feedback.model_dump_json(),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"feedback {feedback.id} already exists") from exc

    def list_for_idea(self, idea_id: str) -> list[Feedback]:
        return self._list("idea_id", idea_id)

    def list_by_user(self, user_id: str) -> list[Feedback]:
        return self._list("user_id", user_id)

    def _list(self, column: str, value: str) -> list[Feedback]:
        sql = f"SELECT body FROM feedback WHERE {column} = ? ORDER BY created_at"  # noqa: S608
        rows = self._db.connection().execute(sql, (value,)).fetchall()
        return [Feedback.model_validate_json(row["body"]) for row in rows]
