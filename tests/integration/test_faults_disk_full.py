"""A full disk during an upload: the object store's file write and an SQLite write fail as a full disk makes
them fail (``ENOSPC`` partway through a file, SQLITE_FULL from the connection), injected at the adapter
boundary. The API answers 507 ``storage_full`` (never a 500), nothing half-written becomes visible, what was
acknowledged before stays intact, and once space returns the same upload succeeds."""

from __future__ import annotations

import errno
import io
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from investai.adapters.local import fsutil
from investai.adapters.local.sqlite import SqliteDatabase
from investai.bootstrap import Container
from investai.server import create_app
from tests.conftest import Account, sign_up
from tests.document_files import make_csv


class Disk:
    """What a full disk refuses: file writes (``files``), and SQLite statements matching ``sql``."""

    def __init__(self) -> None:
        self.files = False
        self.sql: re.Pattern[str] | None = None
        self.refused: list[str] = []


class _HalfWriter:
    """A file that takes half of a write, then reports ENOSPC (the disk filled up under it)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def __enter__(self) -> _HalfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def write(self, data: bytes) -> int:
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    """File writes (everything written atomically: the object store's blobs and sidecars) fail after half their
    bytes while ``disk.files``; SQLite statements matching ``disk.sql`` fail before they change anything."""
    state = Disk()
    real_fdopen = os.fdopen

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = real_fdopen(fd, *args, **kwargs)
        if state.files:
            state.refused.append("file")
            return _HalfWriter(handle)
        return handle

    monkeypatch.setattr(fsutil, "os", SimpleNamespace(**{**vars(os), "fdopen": fdopen}))

    real_connection = SqliteDatabase.connection

    class FullConnection:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self._conn = conn

        def execute(self, sql: str, *args: Any) -> Any:
            if state.sql is not None and state.sql.search(sql):
                state.refused.append(sql.split("(")[0].strip())
                raise sqlite3.OperationalError("database or disk is full")
            return self._conn.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._conn, name)

    def connection(self: SqliteDatabase) -> Any:
        return FullConnection(real_connection(self))

    monkeypatch.setattr(SqliteDatabase, "connection", connection)
    return state


@contextmanager
def full(disk: Disk, *, files: bool = False, sql: str | None = None) -> Iterator[None]:
    disk.files, disk.sql, disk.refused = files, None if sql is None else re.compile(sql, re.IGNORECASE), []
    try:
        yield
    finally:
        disk.files, disk.sql = False, None


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


def _upload(client: TestClient, account: Account, name: str, body: bytes) -> Any:
    return client.post("/api/v1/documents", headers=account.headers, files={"file": (name, io.BytesIO(body))})


def _note(text: str) -> bytes:
    return make_csv(["ticker", "note"], [["AAA", text], ["BBB", f"{text} again"]])


def _visible(client: TestClient, account: Account) -> set[str]:
    answer = client.get("/api/v1/documents", headers=account.headers)
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()}


def _temporary_files(root: Path) -> list[Path]:
    return [path for path in root.rglob(f"{fsutil.TEMP_PREFIX}*") if path.is_file()]


def _assert_refused(answer: Any) -> None:
    assert answer.status_code == 507, answer.text
    error = answer.json()["error"]
    assert error["code"] == "storage_full"
    assert "storage is full" in error["message"]
    assert answer.headers["Retry-After"] == "60"


def _check_intact(client: TestClient, account: Account, acknowledged: dict[str, bytes]) -> None:
    for document_id, body in acknowledged.items():
        content = client.get(f"/api/v1/documents/{document_id}/content", headers=account.headers)
        assert content.status_code == 200, content.text
        assert content.content == body


def test_enospc_partway_through_the_blob_answers_507_and_leaves_nothing(
    container: Container, client: TestClient, disk: Disk
) -> None:
    account = sign_up(container)
    first = _upload(client, account, "before.csv", _note("acknowledged"))
    assert first.status_code == 201, first.text
    acknowledged = {first.json()["id"]: _note("acknowledged")}
    objects_before = {item.key for item in container.objects.list_objects()}

    with full(disk, files=True):  # the object store's file writes fail; SQLite still has room
        refused = _upload(client, account, "during.csv", _note("while full"))
    _assert_refused(refused)
    assert disk.refused == ["file"]
    assert _temporary_files(container.settings.objects_dir) == []  # the half-written blob was removed
    assert {item.key for item in container.objects.list_objects()} == objects_before
    assert _visible(client, account) == set(acknowledged)  # no record without its blob
    _check_intact(client, account, acknowledged)

    again = _upload(client, account, "during.csv", _note("while full"))  # space is back
    assert again.status_code == 201, again.text
    acknowledged[again.json()["id"]] = _note("while full")
    _check_intact(client, account, acknowledged)


@pytest.mark.parametrize(
    ("when", "sql"),
    [
        ("every write", r"^\s*(INSERT|UPDATE|DELETE|REPLACE|BEGIN)\b"),
        ("the document record", r"INSERT INTO documents"),
        ("the audit record", r"INSERT INTO audit_events"),
        ("the processing job", r"INSERT INTO jobs"),
    ],
)
def test_sqlite_full_answers_507_and_no_record_is_left_without_its_blob(
    container: Container, client: TestClient, disk: Disk, when: str, sql: str
) -> None:
    account = sign_up(container)
    first = _upload(client, account, "before.csv", _note("acknowledged"))
    assert first.status_code == 201, first.text
    acknowledged = {first.json()["id"]: _note("acknowledged")}

    with full(disk, sql=sql):
        refused = _upload(client, account, "during.csv", _note("while full"))
    _assert_refused(refused)
    assert disk.refused, when
    assert "file" not in disk.refused
    visible = _visible(client, account)
    assert visible == set(acknowledged)
    for document_id in visible:  # every visible record's blob is there and opens
        container.objects.get(container.documents.get(document_id).versions[-1].object_key)
    _check_intact(client, account, acknowledged)
    assert container.identity.audit.verify().ok

    again = _upload(client, account, "during.csv", _note("while full"))
    assert again.status_code == 201, again.text
    acknowledged[again.json()["id"]] = _note("while full")
    _check_intact(client, account, acknowledged)


def test_other_os_errors_still_answer_a_plain_500(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    from investai.services.documents import DocumentService

    def broken(*_args: object, **_kwargs: object) -> Callable[..., object]:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(DocumentService, "list_documents", broken)
    account = sign_up(container)
    with TestClient(create_app(container), base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        answer = client.get("/api/v1/documents", headers=account.headers)
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "Input/output" not in answer.text
