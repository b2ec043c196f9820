"""Contract of the AuditLog port: an append-only log chained by hash, so that tampering is found.

Every adapter must pass every test here. To add one, write a factory that yields an :class:`AuditHarness` on
fresh storage: the log, plus a :class:`Tamper` that plays an attacker with direct write access to that backend's
storage (bypassing the adapter and whatever guards the storage offers), and add it to :data:`ADAPTERS`. The tests
at the end are specific to SQLite, then to DynamoDB.

DynamoDB runs on the session's moto server (started only when a DynamoDB case runs), one fresh table per test.
Its requests reach moto one at a time (:class:`SerialisedClient`): DynamoDB makes each request atomic, moto's
threaded server does not (a cancelled transaction puts back a copy of the whole table taken when it began,
undoing writes that landed meanwhile). Races *between* requests — the ones the conditional head settles — remain.
DynamoDB refuses no write by itself; the guard against edits is IAM, which moto does not enforce, so its
tamper declares no refusal and the contract checks that the edit is found instead.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from investai.adapters.aws.dynamodb_audit import DynamoDbAuditLog
from investai.adapters.aws.provision import ensure_table
from investai.adapters.aws.resources import AUDIT_TABLE, ResourceNames
from investai.adapters.local.clock import FakeClock
from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_audit import MAX_PAGE, SqliteAuditLog
from investai.domain.audit import GENESIS_HASH, MAX_DETAILS_BYTES, AuditEvent, AuditOutcome, chain_hash
from investai.domain.errors import IntegrityError, ValidationFailed
from investai.ports.audit import AuditLog
from tests.aws import MotoServer, SerialisedClient, fresh_prefix
from tests.factories import T0

FORGED_HASH = hashlib.sha256(b"forged").hexdigest()


class Tamper(Protocol):
    """An attacker with write access to the backend's storage, going around the adapter."""

    stored_fields: tuple[str, ...]
    """Fields stored beside the hashed body (hashes, query columns) that such an attacker can edit."""

    refusal: tuple[type[BaseException], ...]
    """What the storage raises when a record is changed or removed without first disabling its guards."""

    def edit_body(self, seq: int, changes: dict[str, Any]) -> None: ...

    def alter_field(self, seq: int, field: str) -> None: ...

    def delete(self, seq: int) -> None: ...

    def swap_bodies(self, first: int, second: int) -> None: ...

    def swap_records(self, first: int, second: int) -> None: ...

    def update_in_place(self, seq: int) -> None:
        """Change a record with ordinary write access, guards left on; must raise :attr:`refusal`."""
        ...

    def delete_in_place(self, seq: int) -> None:
        """Remove a record with ordinary write access, guards left on; must raise :attr:`refusal`."""
        ...


@dataclass(frozen=True)
class AuditHarness:
    log: AuditLog
    tamper: Tamper


AuditFactory = Callable[..., AbstractContextManager[AuditHarness]]


class SqliteTamper:
    """Raw SQL on the database file, dropping the append-only triggers before each edit."""

    stored_fields: tuple[str, ...] = ("hash", "prev_hash", "at", "actor_id", "organisation_id", "action")
    refusal: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, path: Path) -> None:
        self._path = path

    def edit_body(self, seq: int, changes: dict[str, Any]) -> None:
        with self._unguarded() as conn:
            body = json.loads(conn.execute("SELECT body FROM audit_events WHERE seq = ?", (seq,)).fetchone()[0])
            text = json.dumps(body | changes, sort_keys=True, separators=(",", ":"))
            conn.execute("UPDATE audit_events SET body = ? WHERE seq = ?", (text, seq))

    def alter_field(self, seq: int, field: str) -> None:
        forged: dict[str, str] = {
            "hash": "?",
            "prev_hash": "?",
            "at": "at + 1",
            "actor_id": "'mallory'",
            "organisation_id": "'other-org'",
            "action": "'audit.noop'",
        }
        value = (FORGED_HASH,) if forged[field] == "?" else ()
        with self._unguarded() as conn:
            conn.execute(f"UPDATE audit_events SET {field} = {forged[field]} WHERE seq = {seq}", value)

    def delete(self, seq: int) -> None:
        with self._unguarded() as conn:
            conn.execute("DELETE FROM audit_events WHERE seq = ?", (seq,))

    def swap_bodies(self, first: int, second: int) -> None:
        with self._unguarded() as conn:
            conn.execute(
                "UPDATE audit_events SET body = CASE seq WHEN ?1 THEN (SELECT body FROM audit_events WHERE seq = ?2)"
                " ELSE (SELECT body FROM audit_events WHERE seq = ?1) END WHERE seq IN (?1, ?2)",
                (first, second),
            )

    def swap_records(self, first: int, second: int) -> None:
        with self._unguarded() as conn:
            conn.execute("UPDATE audit_events SET seq = -1 WHERE seq = ?", (first,))
            conn.execute("UPDATE audit_events SET seq = ? WHERE seq = ?", (first, second))
            conn.execute("UPDATE audit_events SET seq = ? WHERE seq = -1", (second,))

    def update_in_place(self, seq: int) -> None:
        with self._connection() as conn:
            conn.execute("UPDATE audit_events SET action = 'audit.noop' WHERE seq = ?", (seq,))

    def delete_in_place(self, seq: int) -> None:
        with self._connection() as conn:
            conn.execute("DELETE FROM audit_events WHERE seq = ?", (seq,))

    def execute(self, sql: str) -> None:
        with self._unguarded() as conn:
            conn.execute(sql)

    def drop_triggers(self) -> None:
        with self._connection() as conn:
            conn.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
            conn.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")

    @contextmanager
    def _unguarded(self) -> Iterator[sqlite3.Connection]:
        self.drop_triggers()
        with self._connection() as conn:
            yield conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=10)
        try:
            yield conn
        finally:
            conn.close()


def _open_sqlite(path: Path, clock: FakeClock) -> tuple[SqliteDatabase, SqliteAuditLog]:
    db = SqliteDatabase(path=path, migrations=MIGRATIONS)
    db.migrate()
    return db, SqliteAuditLog(db=db, clock=clock)


@contextmanager
def sqlite_audit(tmp_path: Path, clock: FakeClock) -> Iterator[AuditHarness]:
    path = tmp_path / "audit.db"
    db, log = _open_sqlite(path, clock)
    try:
        yield AuditHarness(log=log, tamper=SqliteTamper(path))
    finally:
        db.close()


class DynamoDbTamper:
    """Raw DynamoDB writes on the audit table, going around the adapter's conditions."""

    stored_fields: tuple[str, ...] = ("hash", "prev_hash", "at", "actor_id", "organisation_id", "action")
    refusal: tuple[type[BaseException], ...] = ()  # nothing in DynamoDB refuses a write; IAM is the guard
    _ATTRIBUTES = {
        "hash": "hash",
        "prev_hash": "prevHash",
        "at": "at",
        "actor_id": "actorId",
        "organisation_id": "organisationId",
        "action": "action",
    }

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def edit_body(self, seq: int, changes: dict[str, Any]) -> None:
        item = self._item(seq)
        body = json.loads(item["body"]["S"]) | changes
        self._put({**item, "body": {"S": json.dumps(body, sort_keys=True, separators=(",", ":"))}})

    def alter_field(self, seq: int, field: str) -> None:
        item = self._item(seq)
        forged: dict[str, dict[str, str]] = {
            "hash": {"S": FORGED_HASH},
            "prev_hash": {"S": FORGED_HASH},
            "at": {"N": str(int(item["at"]["N"]) + 1)},
            "actor_id": {"S": "mallory"},
            "organisation_id": {"S": "other-org"},
            "action": {"S": "audit.noop"},
        }
        self._put({**item, self._ATTRIBUTES[field]: forged[field]})

    def delete(self, seq: int) -> None:
        self._client.delete_item(TableName=self._table, Key=self._key(seq))

    def swap_bodies(self, first: int, second: int) -> None:
        one, two = self._item(first), self._item(second)
        self._put({**one, "body": two["body"]})
        self._put({**two, "body": one["body"]})

    def swap_records(self, first: int, second: int) -> None:
        one, two = self._item(first), self._item(second)
        self._put({**two, **self._key(first)})
        self._put({**one, **self._key(second)})

    def update_in_place(self, seq: int) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(seq),
            UpdateExpression="SET #action = :noop",
            ExpressionAttributeNames={"#action": "action"},
            ExpressionAttributeValues={":noop": {"S": "audit.noop"}},
        )

    def delete_in_place(self, seq: int) -> None:
        self.delete(seq)

    def _key(self, seq: int) -> dict[str, Any]:
        return {"chain": {"S": "audit"}, "seq": {"N": str(seq)}}

    def _item(self, seq: int) -> dict[str, Any]:
        return dict(self._client.get_item(TableName=self._table, Key=self._key(seq), ConsistentRead=True)["Item"])

    def _put(self, item: dict[str, Any]) -> None:
        self._client.put_item(TableName=self._table, Item=item)


@dataclass(frozen=True)
class DynamoDbSetup:
    moto: MotoServer
    table: str
    lock: threading.Lock

    def client(self) -> SerialisedClient:
        """A client of its own (another process's, say), taking turns with the others at moto."""
        return SerialisedClient(self.moto.client("dynamodb"), self.lock)

    def log(self, clock: FakeClock, client: SerialisedClient | None = None) -> DynamoDbAuditLog:
        return DynamoDbAuditLog(dynamodb=(client or self.client()).client, table=self.table, clock=clock)


@contextmanager
def dynamodb_setup(moto: MotoServer) -> Iterator[DynamoDbSetup]:
    raw = moto.client("dynamodb")
    table = ResourceNames(prefix=fresh_prefix()).table(AUDIT_TABLE.role)
    ensure_table(raw, AUDIT_TABLE, table)
    try:
        yield DynamoDbSetup(moto=moto, table=table, lock=threading.Lock())
    finally:
        raw.delete_table(TableName=table)


@contextmanager
def dynamodb_audit(tmp_path: Path, clock: FakeClock, *, moto: MotoServer) -> Iterator[AuditHarness]:
    with dynamodb_setup(moto) as setup:
        client = setup.client()
        yield AuditHarness(log=setup.log(clock, client), tamper=DynamoDbTamper(setup.client().client, setup.table))
        assert "Scan" not in {name for name, _ in client.calls}


ADAPTERS: dict[str, AuditFactory] = {
    "sqlite": sqlite_audit,
    "dynamodb": dynamodb_audit,
}
MOTO_ADAPTERS = frozenset({"dynamodb"})


@pytest.fixture(params=sorted(ADAPTERS))
def harness(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[AuditHarness]:
    extra = {"moto": request.getfixturevalue("moto")} if request.param in MOTO_ADAPTERS else {}
    with ADAPTERS[request.param](tmp_path, clock, **extra) as built:
        yield built


@pytest.fixture
def log(harness: AuditHarness) -> AuditLog:
    return harness.log


@pytest.fixture
def tamper(harness: AuditHarness) -> Tamper:
    return harness.tamper


def fill(log: AuditLog, count: int, **fields: Any) -> list[AuditEvent]:
    fields.setdefault("action", "document.read")
    return [log.append(details={"n": n}, **fields) for n in range(count)]


def body_of(event: AuditEvent) -> dict[str, Any]:
    return event.model_dump(mode="json", exclude={"prev_hash", "hash"})


def assert_broken_at(log: AuditLog, seq: int, *, intact: int | None = None) -> None:
    """``verify`` names ``seq`` as the first broken record, after ``intact`` (default ``seq - 1``) good ones."""
    result = log.verify()
    assert not result.ok
    assert result.first_broken_seq == seq, result.reason
    assert result.checked == (seq - 1 if intact is None else intact)
    assert result.reason


# -- appending --------------------------------------------------------------------------------------


def test_append_assigns_increasing_seq_and_chains_hashes(log: AuditLog) -> None:
    events = fill(log, 4)

    assert [event.seq for event in events] == [1, 2, 3, 4]
    assert events[0].prev_hash == GENESIS_HASH
    for previous, event in itertools.pairwise(events):
        assert event.prev_hash == previous.hash
    for event in events:
        assert event.hash == chain_hash(event.prev_hash, body_of(event))
    assert len({event.hash for event in events}) == 4


def test_append_stamps_the_clock_time(log: AuditLog, clock: FakeClock) -> None:
    first = log.append(action="auth.login")
    clock.advance(timedelta(seconds=90))
    second = log.append(action="auth.logout")

    assert first.at == T0
    assert second.at == T0 + timedelta(seconds=90)
    assert body_of(second)["at"].startswith(T0.date().isoformat())


def test_every_field_round_trips(log: AuditLog) -> None:
    appended = log.append(
        action="document.read",
        outcome=AuditOutcome.DENIED,
        actor_id="user-1",
        organisation_id="org-1",
        resource_type="document",
        resource_id="doc-1",
        ip="203.0.113.7",
        request_id="req-0123",
        details={"reason": "not the owner", "scopes": ["read"], "nested": {"n": 1, "ok": False, "x": None}},
    )

    (listed,) = log.list_events()
    assert listed == appended
    assert listed.outcome is AuditOutcome.DENIED
    assert listed.request_id == "req-0123"
    assert listed.details["nested"] == {"n": 1, "ok": False, "x": None}


def test_defaults_are_success_and_empty_details(log: AuditLog) -> None:
    event = log.append(action="auth.login")

    assert event.outcome is AuditOutcome.SUCCESS
    assert event.details == {}
    assert log.list_events() == [event]


def test_details_are_returned_as_stored(log: AuditLog) -> None:
    event = log.append(action="job.enqueue", details={"ids": ("a", "b"), "ratio": 0.25})

    assert event.details == {"ids": ["a", "b"], "ratio": 0.25}
    assert log.list_events() == [event]


@pytest.mark.parametrize(
    "details",
    [
        {"when": datetime(2024, 1, 1, tzinfo=UTC)},
        {"tags": {"a", "b"}},
        {"blob": b"bytes"},
        {"obj": object()},
        {"nan": math.nan},
        {"inf": math.inf},
        {1: "int key", "a": "str key"},
    ],
    ids=["datetime", "set", "bytes", "object", "nan", "inf", "mixed-keys"],
)
def test_details_that_are_not_json_are_rejected(log: AuditLog, details: dict[Any, Any]) -> None:
    with pytest.raises(ValidationFailed):
        log.append(action="document.read", details=details)

    assert log.list_events() == []
    assert log.verify().checked == 0


def test_oversized_details_are_rejected(log: AuditLog) -> None:
    with pytest.raises(ValidationFailed, match="exceed"):
        log.append(action="document.read", details={"blob": "x" * MAX_DETAILS_BYTES})

    assert log.list_events() == []
    log.append(action="document.read", details={"blob": "x" * (MAX_DETAILS_BYTES // 2)})
    assert log.verify().ok


@pytest.mark.parametrize(
    "fields",
    [{"action": ""}, {"action": "a" * 101}, {"action": "x", "actor_id": "u" * 65}, {"action": "x", "ip": "i" * 65}],
    ids=["empty-action", "long-action", "long-actor", "long-ip"],
)
def test_invalid_fields_are_rejected_without_a_gap(log: AuditLog, fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        log.append(**fields)

    assert log.append(action="auth.login").seq == 1
    assert log.verify().ok


def test_concurrent_appends_keep_one_chain(log: AuditLog) -> None:
    def append_many(worker: int) -> list[int]:
        return [log.append(action="load.test", actor_id=f"w{worker}", details={"i": i}).seq for i in range(50)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        seqs = [seq for batch in pool.map(append_many, range(4)) for seq in batch]

    assert sorted(seqs) == list(range(1, 201))
    result = log.verify()
    assert result.ok, result.reason
    assert result.checked == 200


# -- verifying --------------------------------------------------------------------------------------


def test_verify_an_empty_log(log: AuditLog) -> None:
    result = log.verify()

    assert result.ok
    assert result.checked == 0
    assert result.first_broken_seq is None
    assert result.reason is None


def test_verify_an_intact_log(log: AuditLog) -> None:
    fill(log, 7)

    result = log.verify()

    assert result.ok
    assert result.checked == 7
    assert result.first_broken_seq is None


def test_edited_body_breaks_at_that_record(log: AuditLog, tamper: Tamper) -> None:
    fill(log, 5)
    tamper.edit_body(3, {"details": {"n": 999}})

    assert_broken_at(log, 3)


@pytest.mark.parametrize(
    "changes",
    [{"actor_id": "mallory"}, {"outcome": "success"}, {"at": "2020-01-01T00:00:00Z"}, {"seq": 4}, {"extra": 1}],
    ids=["actor", "outcome", "at", "seq", "added-key"],
)
def test_any_body_edit_breaks_at_that_record(log: AuditLog, tamper: Tamper, changes: dict[str, Any]) -> None:
    fill(log, 5, outcome=AuditOutcome.DENIED)
    tamper.edit_body(3, changes)

    assert_broken_at(log, 3)


def test_edited_hash_alone_breaks_at_that_record(log: AuditLog, tamper: Tamper) -> None:
    fill(log, 5)
    tamper.alter_field(3, "hash")

    assert_broken_at(log, 3)


def test_edited_prev_hash_breaks_at_that_record(log: AuditLog, tamper: Tamper) -> None:
    fill(log, 5)
    tamper.alter_field(3, "prev_hash")

    assert_broken_at(log, 3)


def test_every_stored_field_is_covered(log: AuditLog, tamper: Tamper) -> None:
    """Edit each field on an ever earlier record; each time the newest edit is the first break."""
    fields = tamper.stored_fields
    fill(log, len(fields) + 2)
    for offset, field in enumerate(fields):
        seq = len(fields) + 1 - offset
        tamper.alter_field(seq, field)
        assert_broken_at(log, seq)


def test_edited_newest_record_is_found(log: AuditLog, tamper: Tamper) -> None:
    fill(log, 5)
    tamper.edit_body(5, {"action": "auth.logout"})

    assert_broken_at(log, 5)


def test_deleted_middle_record_breaks_at_its_successor(log: AuditLog, tamper: Tamper) -> None:
    fill(log, 5)
    tamper.delete(3)

    assert_broken_at(log, 4, intact=2)


@pytest.mark.parametrize("deleted", [[1], [1, 2]], ids=["first", "first-two"])
def test_deleted_first_records_are_found(log: AuditLog, tamper: Tamper, deleted: list[int]) -> None:
    fill(log, 5)
    for seq in deleted:
        tamper.delete(seq)

    assert_broken_at(log, deleted[-1] + 1, intact=0)


def test_swapped_bodies_break_at_the_earlier_record(log: AuditLog, tamper: Tamper) -> None:
    fill(log, 5)
    tamper.swap_bodies(2, 4)

    assert_broken_at(log, 2)


def test_reordered_records_break_at_the_earlier_position(log: AuditLog, tamper: Tamper) -> None:
    fill(log, 5)
    tamper.swap_records(2, 4)

    assert_broken_at(log, 2)


def test_ordinary_updates_and_deletes_are_refused_or_found(log: AuditLog, tamper: Tamper) -> None:
    events = fill(log, 3)
    if not tamper.refusal:  # the storage refuses nothing (DynamoDB: IAM is the guard): verify must find it
        tamper.update_in_place(2)
        assert_broken_at(log, 2)
        return

    with pytest.raises(tamper.refusal):
        tamper.update_in_place(2)
    with pytest.raises(tamper.refusal):
        tamper.delete_in_place(2)

    assert log.list_events() == events[::-1]
    assert log.verify().ok


# -- listing ----------------------------------------------------------------------------------------


@pytest.fixture
def mixed(log: AuditLog) -> list[AuditEvent]:
    """Twelve events: actors a/b alternating, organisations x (first 8) and y, actions by thirds."""
    actions = ["auth.login", "document.read", "idea.create"]
    return [
        log.append(
            action=actions[n // 4], actor_id="ab"[n % 2], organisation_id="x" if n < 8 else "y", details={"n": n}
        )
        for n in range(12)
    ]


def seqs(events: list[AuditEvent]) -> list[int]:
    return [event.seq for event in events]


def test_list_is_newest_first(log: AuditLog, mixed: list[AuditEvent]) -> None:
    assert log.list_events() == mixed[::-1]


def test_list_filters(log: AuditLog, mixed: list[AuditEvent]) -> None:
    assert seqs(log.list_events(organisation_id="y")) == [12, 11, 10, 9]
    assert seqs(log.list_events(actor_id="a")) == [11, 9, 7, 5, 3, 1]
    assert seqs(log.list_events(action="document.read")) == [8, 7, 6, 5]
    assert seqs(log.list_events(organisation_id="x", actor_id="b", action="document.read")) == [8, 6]
    assert log.list_events(organisation_id="nobody") == []


def test_list_pages_with_before_seq(log: AuditLog, mixed: list[AuditEvent]) -> None:
    first = log.list_events(limit=5)
    second = log.list_events(limit=5, before_seq=first[-1].seq)
    third = log.list_events(limit=5, before_seq=second[-1].seq)

    assert seqs(first) == [12, 11, 10, 9, 8]
    assert seqs(second) == [7, 6, 5, 4, 3]
    assert seqs(third) == [2, 1]
    assert log.list_events(before_seq=1) == []
    assert seqs(log.list_events(actor_id="a", before_seq=7, limit=2)) == [5, 3]


def test_list_limit_is_clamped(log: AuditLog, mixed: list[AuditEvent]) -> None:
    assert seqs(log.list_events(limit=0)) == [12]
    assert seqs(log.list_events(limit=-5)) == [12]
    assert len(log.list_events(limit=10**9)) == 12


def test_list_limit_has_a_ceiling(log: AuditLog) -> None:
    fill(log, MAX_PAGE + 1)

    page = log.list_events(limit=MAX_PAGE + 100)

    assert len(page) == MAX_PAGE
    assert page[0].seq == MAX_PAGE + 1


# -- SQLite specifics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqliteSetup:
    log: SqliteAuditLog
    tamper: SqliteTamper
    path: Path


@pytest.fixture
def sqlite_setup(tmp_path: Path, clock: FakeClock) -> Iterator[SqliteSetup]:
    path = tmp_path / "audit.db"
    db, log = _open_sqlite(path, clock)
    try:
        yield SqliteSetup(log=log, tamper=SqliteTamper(path), path=path)
    finally:
        db.close()


def test_sqlite_head_anchors_the_chain_against_truncation(sqlite_setup: SqliteSetup) -> None:
    log = sqlite_setup.log
    assert log.head() == (0, GENESIS_HASH)
    events = fill(log, 5)
    anchor = log.head()
    assert anchor == (5, events[-1].hash)

    sqlite_setup.tamper.delete(5)

    assert log.verify().ok  # truncating the newest records leaves a valid chain ...
    assert log.head() != anchor  # ... which only an external copy of the head reveals


def test_sqlite_readiness_requires_the_append_only_triggers(sqlite_setup: SqliteSetup) -> None:
    log = sqlite_setup.log
    assert log.health_name == "audit_log"
    log.check()

    sqlite_setup.tamper.drop_triggers()

    with pytest.raises(IntegrityError, match="append-only"):
        log.check()


def test_sqlite_triggers_refuse_changes(sqlite_setup: SqliteSetup) -> None:
    fill(sqlite_setup.log, 1)

    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        sqlite_setup.tamper.update_in_place(1)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        sqlite_setup.tamper.delete_in_place(1)


@pytest.mark.parametrize(
    ("assignment", "broken", "reason"),
    [
        ("body = '{not json'", 2, "body is not valid JSON"),
        ("body = 'NaN'", 2, "body is not valid JSON"),
        ("body = '[]'", 2, "hash does not match the record's contents"),
        ("seq = 0", 0, "seq 0 is out of range"),
    ],
    ids=["garbage", "nan", "not-an-object", "seq-zero"],
)
def test_sqlite_malformed_records_are_reported(
    sqlite_setup: SqliteSetup, assignment: str, broken: int, reason: str
) -> None:
    fill(sqlite_setup.log, 3)
    sqlite_setup.tamper.execute(f"UPDATE audit_events SET {assignment} WHERE seq = 2")

    result = sqlite_setup.log.verify()

    assert (result.ok, result.first_broken_seq, result.reason) == (False, broken, reason)


def _append_from_process(path: str, worker: int, count: int) -> None:
    db, log = _open_sqlite(Path(path), FakeClock(T0))
    try:
        for i in range(count):
            log.append(action="load.test", actor_id=f"p{worker}", details={"i": i})
    finally:
        db.close()


def test_sqlite_concurrent_appends_from_processes(sqlite_setup: SqliteSetup) -> None:
    log = sqlite_setup.log
    log.append(action="setup")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_from_process, args=(str(sqlite_setup.path), n, 25)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]

    result = log.verify()
    assert result.ok, result.reason
    assert result.checked == 76
    assert log.head()[0] == 76


def test_sqlite_concurrent_appends_share_commits_and_each_returns_its_own_record(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Group commit: appends arriving while a commit is in flight are written together, so 8 threads make
    far fewer transactions than appends, and every caller gets back the record it appended."""
    db, log = _open_sqlite(tmp_path / "audit.db", clock)
    commits = 0
    transaction = db.transaction

    @contextmanager
    def counted() -> Iterator[sqlite3.Connection]:
        nonlocal commits
        with transaction() as conn:
            yield conn
            time.sleep(0.002)  # a commit that takes as long as an fsync of a real disk, wherever the test runs
        commits += 1

    db.transaction = counted  # type: ignore[method-assign]
    try:

        def append_many(worker: int) -> list[AuditEvent]:
            return [log.append(action="load.test", actor_id=f"w{worker}", details={"i": i}) for i in range(40)]

        with ThreadPoolExecutor(max_workers=8) as pool:
            events = [event for batch in pool.map(append_many, range(8)) for event in batch]

        assert sorted(event.seq for event in events) == list(range(1, 321))
        assert all(event.details == {"i": event.details["i"]} and event.actor_id for event in events)
        stored = {event.seq: event for event in log.list_events(limit=500)}
        assert all(stored[event.seq] == event for event in events)
        assert log.verify().ok
        assert commits < 320
    finally:
        db.close()


def test_sqlite_a_failed_group_commit_fails_every_append_in_it_and_the_next_succeeds(
    tmp_path: Path, clock: FakeClock
) -> None:
    db, log = _open_sqlite(tmp_path / "audit.db", clock)
    transaction = db.transaction
    failing = True

    @contextmanager
    def disk_full() -> Iterator[sqlite3.Connection]:
        with transaction() as conn:
            yield conn
            if failing:
                raise sqlite3.OperationalError("database or disk is full")

    db.transaction = disk_full  # type: ignore[method-assign]
    try:
        with pytest.raises(sqlite3.OperationalError, match="disk is full"):
            log.append(action="lost")
        assert log.head() == (0, GENESIS_HASH)  # rolled back: nothing acknowledged, nothing stored
        failing = False
        assert log.append(action="kept").seq == 1
        assert log.verify().ok
    finally:
        db.close()


def test_sqlite_an_append_inside_a_callers_transaction_commits_or_rolls_back_with_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    db, log = _open_sqlite(tmp_path / "audit.db", clock)
    try:

        def failed_write() -> None:
            with db.transaction():
                log.append(action="with.the.write")
                raise RuntimeError("the write failed")

        with pytest.raises(RuntimeError):
            failed_write()
        assert log.head() == (0, GENESIS_HASH)
        with db.transaction():
            event = log.append(action="with.the.write")
        assert log.head() == (1, event.hash)
    finally:
        db.close()


# -- DynamoDB specifics ------------------------------------------------------------------------------


@pytest.fixture
def dynamodb(moto: MotoServer) -> Iterator[DynamoDbSetup]:
    with dynamodb_setup(moto) as setup:
        yield setup


def test_dynamodb_eight_writers_make_one_unbroken_chain(dynamodb: DynamoDbSetup, clock: FakeClock) -> None:
    """8 threads, each with its own log and client (as 8 processes would have), 50 appends each: every append
    lands exactly once, in one chain, only the conditional head deciding who goes next."""
    logs = [dynamodb.log(clock) for _ in range(8)]

    def append_many(writer: int) -> list[int]:
        log = logs[writer]
        return [log.append(action="load.test", actor_id=f"w{writer}", details={"i": i}).seq for i in range(50)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        seqs = [seq for batch in pool.map(append_many, range(8)) for seq in batch]

    assert sorted(seqs) == list(range(1, 401))
    result = logs[0].verify()
    assert result.ok, result.reason
    assert result.checked == 400
    events = logs[0].list_events(limit=500)
    assert [event.seq for event in events] == list(range(400, 0, -1))
    assert logs[0].head() == (400, events[0].hash)
    for writer in range(8):
        assert len(logs[0].list_events(actor_id=f"w{writer}", limit=500)) == 50
    print(f"conflicts retried: {sum(log.conflicts for log in logs)}")  # shown with -s


def test_dynamodb_a_writer_that_lost_the_race_rereads_the_head_and_retries(
    dynamodb: DynamoDbSetup, clock: FakeClock
) -> None:
    first, second = dynamodb.log(clock), dynamodb.log(clock)
    client = dynamodb.client()
    make_api_call = client.client._make_api_call
    interrupted: list[AuditEvent] = []

    def other_writer_between_read_and_write(operation: str, parameters: dict[str, Any]) -> Any:
        answer = make_api_call(operation, parameters)
        if operation == "GetItem" and not interrupted:
            interrupted.append(second.append(action="other.writer"))
        return answer

    client.client._make_api_call = other_writer_between_read_and_write
    late = DynamoDbAuditLog(dynamodb=client.client, table=dynamodb.table, clock=clock)

    event = late.append(action="late.writer")

    assert [e.seq for e in interrupted] == [1]
    assert event.seq == 2
    assert event.prev_hash == interrupted[0].hash
    assert late.conflicts == 1
    assert first.verify().ok
    assert first.head() == (2, event.hash)


def test_dynamodb_an_append_is_one_read_and_one_transaction(dynamodb: DynamoDbSetup, clock: FakeClock) -> None:
    client = dynamodb.client()
    log = dynamodb.log(clock, client)

    log.append(action="auth.login")
    log.append(action="auth.logout")

    assert [name for name, _ in client.calls] == ["GetItem", "TransactWriteItems"] * 2


def test_dynamodb_lists_by_index_without_scanning(dynamodb: DynamoDbSetup, clock: FakeClock) -> None:
    client = dynamodb.client()
    log = dynamodb.log(clock, client)
    for n in range(6):
        log.append(action="document.read", actor_id="ab"[n % 2], organisation_id="xy"[n // 3])
    client.calls.clear()

    assert [e.seq for e in log.list_events(organisation_id="y", actor_id="a")] == [5]
    assert [e.seq for e in log.list_events(actor_id="b", limit=2)] == [6, 4]
    assert [e.seq for e in log.list_events(action="document.read", before_seq=3)] == [2, 1]

    assert client.calls == [("Query", "byOrganisation"), ("Query", "byActor"), ("Query", None)]


def test_dynamodb_the_head_reveals_truncated_newest_records(dynamodb: DynamoDbSetup, clock: FakeClock) -> None:
    log = dynamodb.log(clock)
    fill(log, 5)
    tamper = DynamoDbTamper(dynamodb.client().client, dynamodb.table)

    tamper.delete(5)
    tamper.delete(4)

    result = log.verify()
    assert (result.ok, result.checked, result.first_broken_seq) == (False, 3, 4)
    assert result.reason == "record(s) 4..5 missing: the head names seq 5"


def test_dynamodb_a_record_planted_beyond_the_head_stops_appends(dynamodb: DynamoDbSetup, clock: FakeClock) -> None:
    log = dynamodb.log(clock)
    events = fill(log, 2)
    raw = dynamodb.client().client
    raw.put_item(
        TableName=dynamodb.table,
        Item={"chain": {"S": "audit"}, "seq": {"N": "3"}, "body": {"S": "{}"}, "hash": {"S": FORGED_HASH}},
    )

    with pytest.raises(IntegrityError, match="beyond the chain's head"):
        log.append(action="auth.login")

    assert log.head() == (2, events[-1].hash)
