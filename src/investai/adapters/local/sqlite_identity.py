"""Refresh-token families, single-use keys and encrypted MFA secrets in SQLite."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_envelopes import rewrap_quietly, rewrap_table
from investai.domain.access import MfaSecrets
from investai.domain.common import epoch_ms, from_epoch_ms
from investai.domain.errors import Conflict
from investai.ports.identity import RefreshOutcome, RefreshUse
from investai.security.envelope import EnvelopeCipher, RewrapCount


class SqliteTokenStore:
    def __init__(self, *, db: SqliteDatabase) -> None:
        self._db = db

    def create_family(
        self,
        *,
        family_id: str,
        user_id: str,
        created_at: datetime,
        expires_at: datetime,
        amr: tuple[str, ...] = ("pwd",),
    ) -> None:
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO token_families (id, user_id, created_at, expires_at, amr, auth_time)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        family_id,
                        user_id,
                        epoch_ms(created_at),
                        epoch_ms(expires_at),
                        json.dumps(list(amr)),
                        epoch_ms(created_at),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"token family {family_id} exists") from exc

    def add_refresh_token(self, *, token_hash: str, family_id: str, issued_at: datetime) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO refresh_tokens (token_hash, family_id, issued_at) VALUES (?, ?, ?)",
                (token_hash, family_id, epoch_ms(issued_at)),
            )

    def use_refresh_token(self, *, token_hash: str, at: datetime) -> RefreshUse:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT t.used_at, f.id, f.user_id, f.revoked_at, f.expires_at, f.amr, f.auth_time"
                " FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.token_hash = ?",
                (token_hash,),
            ).fetchone()
            if row is None:
                return RefreshUse(RefreshOutcome.UNKNOWN)
            family, user = row["id"], row["user_id"]
            if row["revoked_at"] is not None or row["expires_at"] <= epoch_ms(at):
                return RefreshUse(RefreshOutcome.REVOKED, family, user)
            if row["used_at"] is not None:
                return RefreshUse(RefreshOutcome.REUSED, family, user)
            conn.execute("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?", (epoch_ms(at), token_hash))
            auth_time = from_epoch_ms(row["auth_time"]) if row["auth_time"] is not None else None
            return RefreshUse(RefreshOutcome.VALID, family, user, tuple(json.loads(row["amr"])), auth_time)

    def revoke_family(self, *, family_id: str, at: datetime, reason: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE token_families SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
                (epoch_ms(at), reason, family_id),
            )

    def revoke_user(self, *, user_id: str, at: datetime, reason: str) -> int:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE token_families SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL",
                (epoch_ms(at), reason, user_id),
            )
        return int(cursor.rowcount)

    def is_family_active(self, *, family_id: str, at: datetime) -> bool:
        row = (
            self._db.connection()
            .execute("SELECT revoked_at, expires_at FROM token_families WHERE id = ?", (family_id,))
            .fetchone()
        )
        return row is not None and row["revoked_at"] is None and row["expires_at"] > epoch_ms(at)

    def consume_once(self, *, key: str, expires_at: datetime) -> bool:
        try:
            with self._db.transaction() as conn:
                conn.execute("INSERT INTO single_use_keys VALUES (?, ?)", (key, epoch_ms(expires_at)))
        except sqlite3.IntegrityError:
            return False
        return True

    def purge_expired(self, *, at: datetime) -> int:
        stamp = epoch_ms(at)
        with self._db.transaction() as conn:
            keys = conn.execute("DELETE FROM single_use_keys WHERE expires_at <= ?", (stamp,)).rowcount
            families = conn.execute("DELETE FROM token_families WHERE expires_at <= ?", (stamp,)).rowcount
        return int(keys) + int(families)

    def check(self) -> None:
        self._db.connection().execute("SELECT 1 FROM token_families LIMIT 1").fetchall()


class SqliteMfaSecretRepository:
    """TOTP secrets and recovery-code hashes, envelope-encrypted before they reach the database."""

    def __init__(self, *, db: SqliteDatabase, cipher: EnvelopeCipher) -> None:
        self._db = db
        self._cipher = cipher

    def get(self, user_id: str) -> MfaSecrets | None:
        row = self._db.connection().execute("SELECT body FROM user_secrets WHERE user_id = ?", (user_id,)).fetchone()
        if row is None:
            return None
        body = bytes(row["body"])
        secrets = MfaSecrets.model_validate_json(self._cipher.open(body, aad=_aad(user_id)))
        rewrap_quietly(self._db, self._cipher, tables=("user_secrets",), match={"user_id": user_id}, body=body)
        return secrets

    def rewrap_envelopes(self, *, limit: int | None = None) -> RewrapCount:
        """Re-wrap, under the current master key, every user's secrets an earlier one wrapped."""
        count = RewrapCount()
        rewrap_table(self._db, self._cipher, table="user_secrets", key_columns=("user_id",), limit=limit, count=count)
        return count

    def put(self, user_id: str, secrets: MfaSecrets) -> None:
        sealed = self._cipher.seal(secrets.model_dump_json().encode(), aad=_aad(user_id))
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO user_secrets VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET body = excluded.body",
                (user_id, sealed),
            )

    def delete(self, user_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM user_secrets WHERE user_id = ?", (user_id,))


def _aad(user_id: str) -> bytes:
    return f"mfa:{user_id}".encode()
