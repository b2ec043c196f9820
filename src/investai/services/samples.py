"""The demo corpus: on a first start, the sample research notes, fundamentals and estimates are uploaded
(and so processed into the knowledge base like any upload) by a library account of the organisation, shared
with the whole organisation. Loaded once: a sample document the library account holds in any state counts as
loaded, so documents its users later delete stay deleted, and a load that a crash interrupted is completed on the
next start."""

from __future__ import annotations

from collections.abc import Callable

from investai.domain.access import Principal
from investai.domain.documents import Confidentiality, DocumentMetadata, Visibility
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
        the number of documents uploaded. A sample document the library holds in any state (deleted included)
        is not uploaded again."""
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
        held = {document.title for document in self._records.list_by_owner(existing.id, limit=1000)}
        missing = [sample for sample in self._corpus() if sample.title not in held]
        for sample in missing:
            self._upload(library, sample)
        return len(missing)

    def _upload(self, library: Principal, sample: SampleDocument) -> None:
        metadata = DocumentMetadata(
            title=sample.title,
            source=sample.source,
            confidentiality=Confidentiality.PRIVATE,
            visibility=Visibility(sample.visibility),
            tags=list(sample.tags),
        )
        self._documents.upload(
            library, CallContext(), content=sample.content, filename=sample.filename, metadata=metadata
        )
