"""Backups of every store and their restore: a round trip equal to the moment of the backup, a restore after a
key rotation, incremental backups, verification that catches any changed byte, retention, and the refusals
that keep a restore from ever touching a live data directory."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from investai.adapters.local.backup.repository import BackupRepository
from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container, restore_backup
from investai.config import Settings
from investai.domain.access import Principal
from investai.domain.backups import BackupError
from investai.domain.documents import DocumentMetadata
from investai.domain.errors import IntegrityError
from investai.domain.ideas import InvestmentIdea
from investai.domain.market import SymbolInfo
from investai.domain.users import Role
from investai.ports.knowledge import Embedder
from investai.services.auth_common import CallContext
from tests.conftest import drain, sign_up
from tests.document_files import make_csv
from tests.factories import T0, idea_data

DAYS = [date(2023, 1, 2) + timedelta(days=offset) for offset in range(30)]


@dataclass
class Deployment:
    root: Path
    clock: FakeClock
    embedder: Embedder

    def settings(self, data_dir: Path) -> Settings:
        return Settings(data_dir=data_dir, backup_dir=self.root / "backups", _env_file=None)

    def open(self, data_dir: Path) -> Container:
        return build_container(self.settings(data_dir), clock=self.clock, embedder=self.embedder)


@pytest.fixture
def deployment(tmp_path: Path, embedder: Embedder) -> Deployment:
    return Deployment(tmp_path, FakeClock(T0), embedder)


@pytest.fixture
def live(deployment: Deployment) -> Iterator[Container]:
    container = deployment.open(deployment.root / "var")
    yield container
    container.close()


def _principal(container: Container) -> Principal:
    account = sign_up(container, role=Role.ANALYST, email="owner@example.com")
    return container.identity.verifier.verify(account.tokens.access_token)


def _upload(container: Container, principal: Principal, directory: Path, name: str, rows: int) -> str:
    path = directory / name
    path.write_bytes(make_csv(["ticker", "note"], [[f"T{row}", f"{name} row {row}"] for row in range(rows)]))
    document = container.knowledge.documents.upload(
        principal, CallContext(), content=path.read_bytes(), filename=name, metadata=DocumentMetadata()
    )
    return document.id


def _bars(symbol: str, days: list[date], base: float) -> pd.DataFrame:
    return pd.DataFrame({"symbol": symbol, "date": days, "close": [base + index for index in range(len(days))]})


def _populate(container: Container, directory: Path) -> Principal:
    principal = _principal(container)
    for index in range(3):
        _upload(container, principal, directory, f"note-{index}.csv", rows=10 + index)
    drain(container)
    container.market.upsert_symbols([SymbolInfo(symbol="BKP", name="Backup Corp")])
    container.market.ingest_bars(_bars("BKP", DAYS[:20], 10.0), source="test")
    container.ideas.add(
        InvestmentIdea(**idea_data(owner_id=principal.user_id, organisation_id=principal.organisation_id))
    )
    return principal


@dataclass(frozen=True)
class State:
    """Everything a restore must bring back, read through the services."""

    users: list[str]
    documents: dict[str, str]
    chunks: int
    bars: list[tuple[date, float]]
    ideas: list[str]
    audit_head: tuple[int, str]

    @classmethod
    def of(cls, container: Container, principal: Principal) -> State:
        documents = {
            document.id: hashlib.sha256(
                container.knowledge.documents.download(principal, document.id, CallContext()).data
            ).hexdigest()
            for document in container.knowledge.documents.list_documents(principal, CallContext())
        }
        return cls(
            users=sorted(user.email for user in container.users.list_users(organisation_id=principal.organisation_id)),
            documents=documents,
            chunks=container.knowledge.index.count(),
            bars=[(bar.date, bar.close) for bar in container.market.bars("BKP")],
            ideas=sorted(item.model_dump_json() for item in container.ideas.list_by_user(principal.user_id, limit=100)),
            audit_head=container.identity.audit.head(),
        )


def test_a_restore_brings_back_every_store_as_it_was_at_the_backup(
    deployment: Deployment, live: Container, tmp_path: Path
) -> None:
    principal = _populate(live, tmp_path)
    before = State.of(live, principal)
    summary = live.backups.create()
    assert summary.files > 10
    assert summary.stores["search_index"]["table_version"] >= 1

    # the deployment goes on changing after the backup
    _upload(live, principal, tmp_path, "later.csv", rows=5)
    drain(live)
    live.market.ingest_bars(_bars("BKP", DAYS[20:], 30.0), source="test")
    sign_up(live, role=Role.ANALYST, email="late@example.com")
    assert State.of(live, principal) != before

    target = tmp_path / "restored"
    report = restore_backup(deployment.settings(target), backup_id=summary.id, target=target, clock=deployment.clock)
    assert report.files == summary.files
    restored = deployment.open(target)
    try:
        audit = restored.identity.audit.verify()
        assert audit.ok
        after = State.of(restored, principal)
        assert after.audit_head[0] >= before.audit_head[0]  # reading the restored copy appends its own records
        seq, digest = before.audit_head
        assert [
            (event.seq, event.hash) for event in restored.identity.audit.list_events(before_seq=seq + 1, limit=1)
        ] == [(seq, digest)]
        assert after == State(**{**before.__dict__, "audit_head": after.audit_head})
        hits = restored.knowledge.search.search(principal, CallContext(), query="note-1.csv row 3", limit=3)
        assert hits
    finally:
        restored.close()
    assert restored.settings.data_dir == target


def test_a_backup_taken_before_a_key_rotation_restores_and_so_does_one_after(
    deployment: Deployment, live: Container, tmp_path: Path
) -> None:
    principal = _populate(live, tmp_path)
    first = live.backups.create()
    before = State.of(live, principal)
    assert live.keys.rotate() == "local:2"
    _upload(live, principal, tmp_path, "sealed-with-the-new-key.csv", rows=4)  # sealed under master key 2
    drain(live)
    second = live.backups.create()
    after = State.of(live, principal)
    assert second.stores["keyring"]["current_key"] == "local:2"

    for summary, expected in ((first, before), (second, after)):
        target = tmp_path / f"restored-{summary.id}"
        restore_backup(deployment.settings(target), backup_id=summary.id, target=target, clock=deployment.clock)
        restored = deployment.open(target)
        try:
            assert State.of(restored, principal).documents == expected.documents  # every object decrypts
        finally:
            restored.close()
        assert live.backups.verify(summary.id).ok


def test_backups_are_incremental_and_verification_catches_any_changed_byte(
    deployment: Deployment, live: Container, tmp_path: Path
) -> None:
    _populate(live, tmp_path)
    first = live.backups.create()
    deployment.clock.advance(timedelta(hours=1))
    second = live.backups.create()
    assert first.new_bytes > 0
    repository = BackupRepository(deployment.root / "backups")
    old, new = (repository.load(summary.id) for summary in (first, second))
    unchanged = {entry.path: entry.blob for entry in old.files if entry.path.startswith(("objects/", "knowledge/"))}
    assert unchanged
    assert unchanged.items() <= {entry.path: entry.blob for entry in new.files}.items()
    copies = sum(entry.size for entry in new.files if entry.path in {"investai.db", "market.duckdb"})
    assert second.new_bytes <= copies  # only the database copies were stored again
    assert [summary.id for summary in live.backups.list_backups()] == [second.id, first.id]
    assert live.backups.verify(second.id).ok

    largest = max(new.files, key=lambda entry: entry.size)  # a blob the second backup needs
    victim = repository.blob_path(largest.blob)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    damaged = live.backups.verify(second.id)
    assert not damaged.ok
    assert any("authentication" in problem and largest.path in problem for problem in damaged.problems)

    manifest = deployment.root / "backups" / "snapshots" / f"{first.id}.json"
    body = json.loads(manifest.read_bytes())
    body["files"][0]["size"] += 1
    manifest.write_text(json.dumps(body))
    assert live.backups.verify(first.id).problems == [
        f"the manifest of backup {first.id} failed its authentication check"
    ]
    with pytest.raises(IntegrityError):
        restore_backup(
            deployment.settings(tmp_path / "t"), backup_id=first.id, target=tmp_path / "t", clock=deployment.clock
        )
    assert not any((tmp_path / "t").iterdir()) or [p.name for p in (tmp_path / "t").iterdir()] == [".in-use"]


def test_retention_drops_old_backups_and_their_blobs_but_never_the_newest(
    deployment: Deployment, live: Container, tmp_path: Path
) -> None:
    principal = _populate(live, tmp_path)
    old = live.backups.create()
    deployment.clock.advance(timedelta(days=20))
    _upload(live, principal, tmp_path, "mid.csv", rows=6)
    drain(live)
    middle = live.backups.create()
    deployment.clock.advance(timedelta(days=20))
    assert live.backups.prune(deployment.clock.now()) == [old.id]  # 40 days old: past the 35-day retention
    assert [summary.id for summary in live.backups.list_backups()] == [middle.id]
    assert live.backups.verify(middle.id).ok
    deployment.clock.advance(timedelta(days=400))
    assert live.backups.prune(deployment.clock.now()) == []  # the newest always stays
    target = tmp_path / "restored"
    restore_backup(deployment.settings(target), backup_id=None, target=target, clock=deployment.clock)
    assert (target / "investai.db").is_file()


def test_a_restore_refuses_a_directory_that_holds_anything_or_is_in_use(
    deployment: Deployment, live: Container, tmp_path: Path
) -> None:
    _populate(live, tmp_path)
    summary = live.backups.create()
    live_dir = deployment.root / "var"
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(deployment.settings(live_dir), backup_id=summary.id, target=live_dir, clock=deployment.clock)
    with pytest.raises(BackupError, match="no backup"):
        restore_backup(
            deployment.settings(tmp_path / "x"),
            backup_id="20240101T000000Z-00000000",
            target=tmp_path / "x",
            clock=deployment.clock,
        )
    assert not (tmp_path / "x").exists()  # an unknown backup is refused before the target is touched

    # an empty directory that a running server uses (it has claimed it) is refused too
    busy = tmp_path / "busy"
    busy.mkdir()
    from investai.adapters.local.data_directory import DataDirectoryUse

    claim = DataDirectoryUse(busy)
    try:
        with pytest.raises(BackupError, match="in use"):
            restore_backup(deployment.settings(busy), backup_id=summary.id, target=busy, clock=deployment.clock)
    finally:
        claim.close()
    restore_backup(deployment.settings(busy), backup_id=summary.id, target=busy, clock=deployment.clock)


def test_the_backup_job_is_scheduled_with_the_other_jobs_and_prunes(live: Container, tmp_path: Path) -> None:
    from investai.jobs.handlers import BACKUP

    live.start_scheduler()
    try:
        names = set(live.scheduler.jobs())  # type: ignore[attr-defined]
    finally:
        live.scheduler.shutdown()
    assert "backup" in names
    _populate(live, tmp_path)
    job = live.jobs.enqueue(BACKUP, idempotency_key="backup:test")
    drain(live)
    finished = live.jobs.get(job.id)
    assert finished.status.value == "succeeded", finished
    assert finished.result["backup"] == live.backups.list_backups()[0].id
