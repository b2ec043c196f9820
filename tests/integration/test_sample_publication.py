"""The sample loader dates each sample document by its publication inside the sample market history, and gives
those dates to samples an earlier start loaded undated (dated by their upload), once, when their content is
still the corpus's."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from investai.bootstrap import Container
from investai.domain.access import Principal
from investai.domain.documents import Confidentiality, Document, DocumentMetadata, Visibility
from investai.domain.users import Role
from investai.sample import SampleDocument, sample_documents
from investai.services.auth_common import CallContext
from investai.services.samples import LIBRARY_EMAIL
from tests.factories import T0


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def library_documents(container: Container) -> dict[str, Document]:
    library = container.users.get_by_email(LIBRARY_EMAIL)
    assert library is not None
    return {document.title: document for document in container.documents.list_by_owner(library.id, limit=100)}


def test_samples_are_uploaded_with_their_publication_dates(container: Container) -> None:
    corpus = sample_documents()
    assert container.knowledge.samples.ensure_loaded("org_1") == len(corpus)
    held = library_documents(container)
    for sample in corpus:
        version = held[sample.title].current
        assert version.published_at == start_of(sample.published), sample.filename
        assert version.uploaded_at == T0
    assert container.knowledge.samples.ensure_loaded("org_1") == 0


def test_samples_loaded_undated_get_their_dates_on_the_next_start(container: Container) -> None:
    corpus = sample_documents()
    note, table = corpus[0], next(sample for sample in corpus if sample.filename == "fundamentals.csv")
    older_table = SampleDocument(**{**table.__dict__, "content": table.content.replace(b"2022-09-30", b"2024-06-28")})
    created = container.identity.users.create_user(
        actor=None, email=LIBRARY_EMAIL, role=Role.ANALYST, organisation_id="org_1"
    )
    library = Principal.acting_as(created.user, actor="test", at=container.clock.now())
    container.settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    for sample in (note, older_table):  # as an earlier loader did: no publication date
        metadata = DocumentMetadata(
            title=sample.title,
            source=sample.source,
            confidentiality=Confidentiality.PRIVATE,
            visibility=Visibility.ORGANISATION,
            tags=list(sample.tags),
        )
        container.knowledge.documents.upload(
            library, CallContext(), content=sample.content, filename=sample.filename, metadata=metadata
        )

    assert container.knowledge.samples.ensure_loaded("org_1") == (len(corpus) - 2) + 1  # uploaded, and re-dated
    held = library_documents(container)
    assert held[note.title].current.published_at == start_of(note.published)
    assert held[note.title].visibility is Visibility.ORGANISATION
    assert held[table.title].current.published_at == T0  # an older edition of the table keeps its upload date
    redated = [e for e in container.identity.audit.list_events(action="document.update.done")]
    assert [event.resource_id for event in redated] == [held[note.title].id]
    assert container.knowledge.samples.ensure_loaded("org_1") == 0
