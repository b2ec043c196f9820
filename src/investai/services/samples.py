"""The demo corpus: on a first start, the sample research notes, fundamentals and estimates are uploaded
(and so processed into the knowledge base like any upload) by a library account of the organisation, shared
with the whole organisation. Loaded once: a sample document the library account holds in any state counts as
loaded, so documents its users later delete stay deleted, and a load that a crash interrupted is completed on the
next start.

Each sample carries its publication date, inside the sample market history, so research as of a date in that
history reads it. Samples loaded before documents had publication dates (dated by their upload) get it on the
next start, if their content is still the corpus's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime, time

from investai.domain.access import Principal
from investai.domain.documents import Confidentiality, Document, DocumentMetadata, Visibility
from investai.domain.users import Role
from investai.ports.clock import Clock
from investai.ports.identity import UserDirectory
from investai.ports.repositories import DocumentRepository, UserRepository
from investai.sample.documents import SampleDocument, sample_documents
from investai.services.auth_common import CallContext
from investai.services.documents import DocumentService

LIBRARY_EMAIL = "research-library@localhost"


class SampleLibrary:
    def __init__(
        self,
        *,
        users: UserRepository,
        user_admin: UserDirectory,
        documents: DocumentService,
        records: DocumentRepository,
        clock: Clock,
        corpus: Callable[[], list[SampleDocument]] = sample_documents,
    ) -> None:
        self._users = users
        self._user_admin = user_admin
        self._documents = documents
        self._records = records
        self._clock = clock
        self._corpus = corpus

    def ensure_loaded(self, organisation_id: str) -> int:
        """Upload the corpus, or the part of it a crash kept from being uploaded, unless it was loaded before;
        the number of documents uploaded or re-dated (each queued for processing). A sample document the
        library holds in any state (deleted included) is not uploaded again."""
        existing = self._users.get_by_email(LIBRARY_EMAIL)
        if existing is None:
            created = self._user_admin.create_user(
                actor=None,
                email=LIBRARY_EMAIL,
                role=Role.ANALYST,
                organisation_id=organisation_id,
                display_name="Research library (sample documents)",
            )  # its temporary password is never shown: the account holds documents and never signs in
            existing = created.user
        library = Principal.acting_as(existing, actor="sample-loader", at=self._clock.now())
        documents = self._records.list_by_owner(existing.id, limit=1000)
        held = {document.title for document in documents}
        missing = [sample for sample in self._corpus() if sample.title not in held]
        for sample in missing:
            self._upload(library, sample)
        return len(missing) + self._date_undated(library, documents)

    def _date_undated(self, library: Principal, documents: list[Document]) -> int:
        """Give the corpus's publication dates to live samples still dated by their upload (loaded before
        versions had publication dates) whose content is the corpus's; the number re-dated."""
        corpus = {sample.title: sample for sample in self._corpus()}
        redated = 0
        for document in documents:
            sample, current = corpus.get(document.title), document.current
            if sample is None or document.deleted_at is not None or current.published_at != current.uploaded_at:
                continue
            if current.sha256 != hashlib.sha256(sample.content).hexdigest():
                continue  # an older edition of the sample: its date stays its upload
            metadata = DocumentMetadata(
                title=document.title,
                source=document.source,
                confidentiality=document.confidentiality,
                visibility=document.visibility,
                allowed_roles=[Role(role) for role in document.allowed_roles],
                allowed_users=document.allowed_users,
                tags=document.tags,
                published_at=_start_of(sample.published),
            )
            self._documents.update_metadata(library, CallContext(), document.id, metadata)
            redated += 1
        return redated

    def _upload(self, library: Principal, sample: SampleDocument) -> None:
        metadata = DocumentMetadata(
            title=sample.title,
            source=sample.source,
            confidentiality=Confidentiality.PRIVATE,
            visibility=Visibility(sample.visibility),
            tags=list(sample.tags),
            published_at=_start_of(sample.published),
        )
        self._documents.upload(
            library, CallContext(), content=sample.content, filename=sample.filename, metadata=metadata
        )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
