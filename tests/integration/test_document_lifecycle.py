"""Storage tiers of document versions move with an injected clock: standard, infrequent access after 30 days,
archive after 90, each version counted from its own creation; running the job again moves nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from investai.adapters.local.clock import FakeClock
from investai.bootstrap import Container
from investai.domain.access import Principal
from investai.domain.documents import DocumentMetadata
from investai.ports.object_store import StorageClass
from investai.services.auth_common import CallContext
from tests.conftest import Account
from tests.document_files import make_csv


def _upload(
    container: Container, principal: Principal, tmp_path: Path, name: str, document_id: str | None = None
) -> str:
    path = tmp_path / name
    path.write_bytes(make_csv(["ticker", "eps"], [["AAPL", name]]))
    document = container.knowledge.documents.upload(
        principal,
        CallContext(),
        content=path.read_bytes(),
        filename=name,
        metadata=DocumentMetadata(),
        document_id=document_id,
    )
    return document.id


def _classes(container: Container, document_id: str) -> list[StorageClass]:
    document = container.documents.get(document_id)
    versions = container.objects.versions(document.current.object_key)
    return [version.storage_class for version in sorted(versions, key=lambda v: v.created_at)]


def test_versions_move_to_colder_tiers_as_they_age(
    container: Container, clock: FakeClock, analyst: Account, tmp_path: Path
) -> None:
    lifecycle = container.knowledge.lifecycle
    principal = container.identity.verifier.verify(analyst.tokens.access_token)
    first = _upload(container, principal, tmp_path, "a.csv")
    clock.advance(timedelta(days=29))
    assert lifecycle.apply() == {"STANDARD_IA": 0, "GLACIER": 0}
    clock.advance(timedelta(days=2))
    _upload(container, principal, tmp_path, "b.csv", document_id=first)  # a new version, day 31
    assert lifecycle.apply() == {"STANDARD_IA": 1, "GLACIER": 0}
    assert _classes(container, first) == [StorageClass.STANDARD_IA, StorageClass.STANDARD]
    assert lifecycle.apply() == {"STANDARD_IA": 0, "GLACIER": 0}  # nothing moves twice
    clock.advance(timedelta(days=60))  # day 91: the first version is archived, the second is 60 days old
    assert lifecycle.apply() == {"STANDARD_IA": 1, "GLACIER": 1}
    assert _classes(container, first) == [StorageClass.GLACIER, StorageClass.STANDARD_IA]


def test_the_lifecycle_job_is_scheduled_and_handled(container: Container) -> None:
    assert "documents.lifecycle" in container.handlers
    assert "documents.process" in container.handlers
