"""Re-wrapping the envelopes SQLite rows hold (MFA secrets, profiles) after a master-key rotation.

A row's ``body`` is an envelope (:mod:`investai.security.envelope`); re-wrapping replaces only its wrapped data
key, never the ciphertext. Every update is a compare-and-swap on the old body, so a row rewritten meanwhile (a
new secret, a new profile) is left as its writer made it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

import structlog

from investai.adapters.local.sqlite import SqliteDatabase
from investai.domain.errors import IntegrityError
from investai.security.envelope import EnvelopeCipher, RewrapCount

_log = structlog.get_logger(__name__)


def rewrap_row(
    db: SqliteDatabase, cipher: EnvelopeCipher, *, table: str, match: Mapping[str, object], body: bytes
) -> str | None:
    """Re-wrap ``body`` where it is still stored in ``table`` under ``match``; the key id it was wrapped
    under, or None when it needed no re-wrap."""
    moved = cipher.rewrap(body)
    if moved is None:
        return None
    where = " AND ".join(f"{column} = ?" for column in match)
    sql = f"UPDATE {table} SET body = ? WHERE {where} AND body = ?"  # noqa: S608 - table and columns are constants
    with db.transaction() as conn:
        conn.execute(sql, (moved, *match.values(), body))
    return cipher.key_id(body) or "unknown"


def rewrap_quietly(
    db: SqliteDatabase, cipher: EnvelopeCipher, *, tables: Sequence[str], match: Mapping[str, object], body: bytes
) -> None:
    """Lazy re-wrap on read: the read has succeeded, so a failed update (disk full, busy) only keeps the old
    wrap until the next read or ``investai keys rewrap``."""
    if not cipher.rewraps:
        return
    try:
        for table in tables:
            if rewrap_row(db, cipher, table=table, match=match, body=body) is None:
                return
    except (sqlite3.Error, IntegrityError) as exc:
        _log.warning("envelope_rewrap_failed", table=tables[0], error=str(exc))


def rewrap_table(
    db: SqliteDatabase,
    cipher: EnvelopeCipher,
    *,
    table: str,
    key_columns: Sequence[str],
    limit: int | None,
    count: RewrapCount,
) -> None:
    """Re-wrap every row of ``table`` an earlier master key wrapped, until ``count`` holds ``limit`` re-wraps."""
    if not cipher.rewraps:
        return
    columns = ", ".join(key_columns)
    rows = db.connection().execute(f"SELECT {columns}, body FROM {table} ORDER BY {columns}").fetchall()  # noqa: S608
    for row in rows:
        if limit is not None and count.total_rewrapped >= limit:
            return
        body = bytes(row["body"])
        count.seen[cipher.key_id(body) or "unknown"] += 1
        wrapped_by = rewrap_row(db, cipher, table=table, match={c: row[c] for c in key_columns}, body=body)
        if wrapped_by is not None:
            count.rewrapped[wrapped_by] += 1
