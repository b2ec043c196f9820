"""Master-key rotation: the monthly schedule (one rotation per period however many schedulers fire), its
handler, the lazy re-wrap of stored data keys on read, ``investai keys rewrap``, and restores of backups taken
before and after rotations."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container, build_container, restore_backup
from investai.bootstrap.aws_jobs import aws_schedules
from investai.cli import app
from investai.config import Settings
from investai.domain.access import MfaSecrets, Principal
from investai.domain.documents import DocumentMetadata
from investai.domain.users import Role
from investai.jobs.kinds import ROTATE_KEYS
from investai.jobs.schedule import enqueue_scheduled
from investai.security.envelope import MAGIC
from investai.services.auth_common import CallContext
from investai.services.key_rotation import ROTATED
from tests.conftest import drain, sign_up
from tests.document_files import make_csv
from tests.factories import T0, make_profile, make_user

FIRST_OF_MONTH = datetime(2024, 2, 1, 3, 0, tzinfo=UTC)


def _settings(data_dir: Path, backups: Path | None = None) -> Settings:
    return Settings(data_dir=data_dir, backup_dir=backups, _env_file=None)


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[Container, Container]]:
    """Two processes' containers on one data directory, each with its own scheduler and worker."""
    clock = FakeClock(FIRST_OF_MONTH)
    first = build_container(_settings(tmp_path / "var"), clock=clock)
    second = build_container(_settings(tmp_path / "var"), clock=clock)
    yield first, second
    first.close()
    second.close()


def _rotations(container: Container) -> list[dict[str, object]]:
    return [event.details for event in container.identity.audit.list_events(action=ROTATED)]


def _wrapped_by(container: Container, blob: bytes) -> str | None:
    return container.cipher.key_id(bytes(blob))


def _ciphertext(blob: bytes) -> bytes:
    """The nonce and ciphertext of an envelope: what a re-wrap must leave as it was."""
    wrapped_len = int.from_bytes(blob[len(MAGIC) : len(MAGIC) + 2], "big")
    return bytes(blob[len(MAGIC) + 2 + wrapped_len :])


# -- the schedule and its handler --------------------------------------------------------------------------


def test_the_schedule_is_monthly_by_default_embedded_only_and_can_be_turned_off(container: Container) -> None:
    found = {schedule.name: schedule for schedule in container.schedules()}
    assert found["key-rotation"].cron == "0 3 1 * *"
    assert found["key-rotation"].job_kind == ROTATE_KEYS
    assert "key-rotation" not in {schedule.name for schedule in aws_schedules(Settings.model_construct())}
    off = build_container(Settings(data_dir=container.settings.data_dir, key_rotation_cron="", _env_file=None))
    try:
        assert "key-rotation" not in {schedule.name for schedule in off.schedules()}
    finally:
        off.close()
    container.start_scheduler()
    try:
        assert "key-rotation" in container.scheduler.jobs()  # type: ignore[attr-defined]
    finally:
        container.scheduler.shutdown()


def test_two_schedulers_rotate_once_per_period(shared: tuple[Container, Container]) -> None:
    first, second = shared
    schedule = next(item for item in first.schedules() if item.name == "key-rotation")
    clock = first.clock
    assert isinstance(clock, FakeClock)
    for container in (first, second):  # both processes' triggers fire for the same period
        enqueue_scheduled(container.jobs, schedule, clock.now())
    assert drain(first) + drain(second) == 1
    assert first.keys.current_key_id() == second.keys.current_key_id() == "local:2"

    clock.advance(timedelta(minutes=2))  # a late trigger in the same period (a restarted scheduler)
    enqueue_scheduled(second.jobs, schedule, clock.now())
    assert drain(second) == 0
    assert [details["period"] for details in _rotations(first)] == ["key-rotation:2024-02-01"]

    clock.set(datetime(2024, 3, 1, 3, 0, tzinfo=UTC))  # the next period rotates again
    enqueue_scheduled(first.jobs, schedule, clock.now())
    enqueue_scheduled(second.jobs, schedule, clock.now())
    assert drain(second) + drain(first) == 1
    assert first.keys.current_key_id() == "local:3"
    assert len(_rotations(second)) == 2


def test_the_handler_rotates_records_an_audit_event_and_does_not_rotate_twice_on_redelivery(
    container: Container,
) -> None:
    job = container.jobs.enqueue(ROTATE_KEYS, idempotency_key="key-rotation:2024-01-02")
    drain(container)
    done = container.jobs.get(job.id)
    assert done.status.value == "succeeded", done
    assert done.result == {
        "rotated": True,
        "key_id": "local:2",
        "previous": "local:1",
        "period": "key-rotation:2024-01-02",
    }
    [event] = container.identity.audit.list_events(action=ROTATED)
    assert event.resource_id == "local:2"
    assert event.details["source"] == "schedule"

    again = container.handlers[ROTATE_KEYS](done)  # the same job delivered again (its lease ran out)
    assert again == {"rotated": False, "key_id": "local:2", "period": "key-rotation:2024-01-02"}
    assert container.keys.current_key_id() == "local:2"
    assert container.identity.audit.verify().ok


# -- lazy re-wrap ------------------------------------------------------------------------------------------


def _blob_path(container: Container, key: str) -> Path:
    [path] = (container.settings.objects_dir / key / ".versions").glob("*.blob")
    return path


def test_reading_an_object_rewraps_its_data_key_and_leaves_the_payload(container: Container) -> None:
    payload = b"quarterly notes " * 100
    container.objects.put("notes/q1", payload, content_type="text/plain")
    path = _blob_path(container, "notes/q1")
    before = path.read_bytes()
    assert _wrapped_by(container, before) == "local:1"
    container.keys.rotate()
    container.keys.rotate()

    assert container.objects.get("notes/q1").data == payload
    after = path.read_bytes()
    assert _wrapped_by(container, after) == "local:3"
    assert _ciphertext(after) == _ciphertext(before)  # the payload was not re-encrypted
    assert container.objects.get("notes/q1").data == payload
    assert path.read_bytes() == after  # already current: not rewritten again


def test_reading_mfa_secrets_and_profiles_rewraps_their_rows(container: Container) -> None:
    user = make_user()
    container.users.add(user)
    secrets = MfaSecrets(totp_secret="JBSWY3DPEHPK3PXP", created_at=T0, recovery_code_hashes=["h1", "h2"])
    container.identity.mfa_secrets.put(user.id, secrets)
    profile = make_profile(user)
    container.profiles.put(profile)
    database = container.settings.database_path

    def rows() -> dict[str, bytes]:
        with sqlite3.connect(database) as conn:
            return {
                "secrets": conn.execute("SELECT body FROM user_secrets WHERE user_id = ?", (user.id,)).fetchone()[0],
                "profile": conn.execute("SELECT body FROM user_profiles WHERE user_id = ?", (user.id,)).fetchone()[0],
                "revision": conn.execute("SELECT body FROM profile_revisions WHERE user_id = ?", (user.id,)).fetchone()[
                    0
                ],
            }

    before = rows()
    assert {_wrapped_by(container, body) for body in before.values()} == {"local:1"}
    container.keys.rotate()
    assert container.identity.mfa_secrets.get(user.id) == secrets
    assert container.profiles.get(user.id) == profile
    after = rows()
    assert {name: _wrapped_by(container, body) for name, body in after.items()} == {
        "secrets": "local:2",
        "profile": "local:2",
        "revision": "local:2",
    }
    assert all(_ciphertext(after[name]) == _ciphertext(before[name]) for name in before)
    assert container.identity.mfa_secrets.get(user.id) == secrets
    assert container.profiles.as_of(user.id, 2**62) == profile


def test_a_failed_rewrite_does_not_fail_the_read(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from investai.adapters.local import object_store

    container.objects.put("notes/full", b"payload")
    container.keys.rotate()

    def disk_full(*_args: object, **_kwargs: object) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(object_store, "atomic_write", disk_full)
    assert container.objects.get("notes/full").data == b"payload"
    assert _wrapped_by(container, _blob_path(container, "notes/full").read_bytes()) == "local:1"


# -- investai keys rewrap ----------------------------------------------------------------------------------


def _objects_by_key(settings: Settings, container: Container) -> Counter[str]:
    """Every stored object version's wrapping key, read from the blob files themselves."""
    blobs = settings.objects_dir.glob("**/.versions/*.blob")
    return Counter(_wrapped_by(container, path.read_bytes()) or "?" for path in blobs)


def test_the_rewrap_command_walks_every_store_and_counts_by_key_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path / "var")
    container = build_container(settings)
    try:
        user = make_user()
        container.users.add(user)
        container.identity.mfa_secrets.put(user.id, MfaSecrets(totp_secret="JBSWY3DPEHPK3PXP", created_at=T0))
        container.profiles.put(make_profile(user))
        container.objects.put("a/one", b"1")
        container.objects.put("a/one", b"1 again")  # an earlier version is re-wrapped too
        container.keys.rotate()
        container.objects.put("a/two", b"2")  # under local:2
        container.objects.delete("a/two")  # a version behind a delete marker still counts
        container.keys.rotate()
        objects = _objects_by_key(settings, container)
    finally:
        container.close()
    assert objects["local:1"] >= 2
    assert objects["local:2"] >= 1
    old_objects = objects["local:1"] + objects["local:2"]
    monkeypatch.setenv("INVESTAI_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()

    limited = runner.invoke(app, ["keys", "rewrap", "--limit", "2"])
    assert limited.exit_code == 0, limited.output
    assert "re-wrapped 2 envelope(s) under master key local:3" in limited.stdout
    assert "stopped at the limit of 2" in limited.stdout

    rest = runner.invoke(app, ["keys", "rewrap"])
    assert rest.exit_code == 0, rest.output
    assert f"re-wrapped {old_objects - 2 + 3} envelope(s) under master key local:3" in rest.stdout
    assert "mfa_secrets: re-wrapped local:1=1; seen local:1=1" in rest.stdout
    assert "profiles: re-wrapped local:1=2; seen local:1=2" in rest.stdout  # the latest and its revision
    seen = +Counter({"local:1": objects["local:1"] - 2, "local:2": objects["local:2"], "local:3": 2})
    assert f"seen {', '.join(f'{key}={n}' for key, n in sorted(seen.items()))}" in rest.stdout

    done = runner.invoke(app, ["keys", "rewrap"])
    assert "re-wrapped 0 envelope(s)" in done.stdout
    assert f"objects: re-wrapped none; seen local:3={sum(objects.values())}" in done.stdout
    assert "mfa_secrets: re-wrapped none; seen local:3=1" in done.stdout
    assert "profiles: re-wrapped none; seen local:3=2" in done.stdout

    reopened = build_container(settings)
    try:
        assert set(_objects_by_key(settings, reopened)) == {"local:3"}
        assert reopened.objects.get("a/one").data == b"1 again"
        assert reopened.objects.get("a/one", reopened.objects.versions("a/one")[1].version_id).data == b"1"
        assert reopened.objects.get("a/two", reopened.objects.versions("a/two")[1].version_id).data == b"2"
        assert reopened.identity.mfa_secrets.get(user.id) is not None
        assert reopened.profiles.get(user.id).user_id == user.id
        assert reopened.identity.audit.list_events(action="keys.rewrapped")
    finally:
        reopened.close()


# -- restore after rotation --------------------------------------------------------------------------------


def _upload(container: Container, principal: Principal, name: str, text: str) -> str:
    content = make_csv(["ticker", "note"], [["AAA", text]])
    document = container.knowledge.documents.upload(
        principal, CallContext(), content=content, filename=name, metadata=DocumentMetadata()
    )
    return document.id


def _read_back(container: Container, principal: Principal, documents: dict[str, bytes]) -> dict[str, bytes]:
    return {
        document_id: container.knowledge.documents.download(principal, document_id, CallContext()).data
        for document_id in documents
    }


def test_backups_restore_after_rotations_and_open_data_sealed_under_every_key(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    backups = tmp_path / "backups"
    live = build_container(_settings(tmp_path / "var", backups), clock=clock)
    try:
        account = sign_up(live, role=Role.ANALYST, email="owner@example.com")
        principal = live.identity.verifier.verify(account.tokens.access_token)
        secrets = MfaSecrets(totp_secret="JBSWY3DPEHPK3PXP", created_at=T0)
        live.identity.mfa_secrets.put(principal.user_id, secrets)
        old_doc = _upload(live, principal, "old.csv", "sealed under key 1")
        documents = {old_doc: live.knowledge.documents.download(principal, old_doc, CallContext()).data}
        before = live.backups.create()  # type: ignore[union-attr]

        assert live.keys.rotate() == "local:2"
        assert live.keys.rotate() == "local:3"
        new_doc = _upload(live, principal, "new.csv", "sealed under key 3")
        live.identity.mfa_secrets.put(principal.user_id, secrets.model_copy(update={"confirmed": True}))
        clock.advance(timedelta(minutes=5))
        after = live.backups.create()  # type: ignore[union-attr]
        assert after.stores["keyring"]["current_key"] == "local:3"
        all_documents = {
            **documents,
            new_doc: live.knowledge.documents.download(principal, new_doc, CallContext()).data,
        }
    finally:
        live.close()

    for summary, expected_docs, confirmed in ((before, documents, False), (after, all_documents, True)):
        target = tmp_path / f"restored-{summary.id}"
        restore_backup(_settings(target, backups), backup_id=summary.id, target=target, clock=clock)
        restored = build_container(_settings(target, backups), clock=clock)
        try:
            assert _read_back(restored, principal, expected_docs) == expected_docs
            found = restored.identity.mfa_secrets.get(principal.user_id)
            assert found is not None
            assert found.totp_secret == secrets.totp_secret
            assert found.confirmed is confirmed
            assert restored.keys.current_key_id() == summary.stores["keyring"]["current_key"]
            assert restored.identity.audit.verify().ok
        finally:
            restored.close()


def test_a_backup_after_a_rewrap_restores_every_rewrapped_object(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    backups = tmp_path / "backups"
    live = build_container(_settings(tmp_path / "var", backups), clock=clock)
    try:
        live.objects.put("notes/kept", b"kept through rotation")
        live.backups.create()  # type: ignore[union-attr]
        live.keys.rotate()
        assert live.objects.get("notes/kept").data == b"kept through rotation"  # re-wrapped: a new blob file
        clock.advance(timedelta(minutes=1))
        second = live.backups.create()  # type: ignore[union-attr]
    finally:
        live.close()
    target = tmp_path / "restored"
    restore_backup(_settings(target, backups), backup_id=second.id, target=target, clock=clock)
    restored = build_container(_settings(target, backups), clock=clock)
    try:
        [blob] = (target / "objects" / "notes" / "kept" / ".versions").glob("*.blob")
        assert _wrapped_by(restored, blob.read_bytes()) == "local:2"  # the backup copied the rewritten blob
        assert restored.objects.get("notes/kept").data == b"kept through rotation"
    finally:
        restored.close()
