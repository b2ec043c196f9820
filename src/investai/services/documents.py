"""Proprietary documents: upload (a new document or a new version), list, read, download, versions, restore
and delete. Every read applies the sharing rule of :meth:`Document.readable_by`; a document the caller may
not see answers NotFound, exactly as one that does not exist. Only the owner changes a document.

The content's type comes from its bytes (:func:`investai.ingest.detect.detect_type`), never from its name.
Each change enqueues one ``documents.process`` job, which brings the document's extracted tables and its
chunks in the knowledge base in line with its current state (see :mod:`investai.services.document_processing`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import structlog

from investai.domain.access import Principal
from investai.domain.audit import AuditOutcome
from investai.domain.common import new_id
from investai.domain.documents import (
    Document,
    DocumentMetadata,
    DocumentStatus,
    DocumentType,
    DocumentVersion,
    check_publication,
    safe_filename,
)
from investai.domain.errors import NotFound, ValidationFailed
from investai.domain.knowledge import ExtractedTable, ParsedDocument
from investai.ingest import IngestLimits, parse_document
from investai.ingest.detect import detect_type
from investai.ingest.scratch import scratch_copy
from investai.observability.tracing import trace_payload
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.jobs import JobRecords
from investai.ports.object_store import ObjectStore
from investai.ports.repositories import DocumentRepository
from investai.services.auth_common import CallContext

PROCESS_DOCUMENT = "documents.process"
LIST_SCAN_LIMIT = 10_000
"""A document list reads at most this many of the organisation's most recently changed documents."""

CONTENT_TYPES = {
    DocumentType.PDF: "application/pdf",
    DocumentType.CSV: "text/csv",
    DocumentType.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    DocumentType.JSON: "application/json",
}

log = structlog.get_logger(__name__)


def object_key(document: Document) -> str:
    return f"documents/{document.organisation_id}/{document.id}"


def parsed_key(document: Document, version: int) -> str:
    """Where the parse of a version is kept: its tables are served from it and the processing job reuses it."""
    return f"derived/{document.organisation_id}/{document.id}/v{version}/parsed.json"


def store_parsed(objects: ObjectStore, document: Document, version: DocumentVersion, parsed: ParsedDocument) -> None:
    body = json.dumps({"sha256": version.sha256, "parsed": parsed.model_dump(mode="json")}).encode()
    objects.put(parsed_key(document, version.version), body, content_type="application/json")


def load_parsed(objects: ObjectStore, document: Document, version: DocumentVersion) -> ParsedDocument | None:
    """The stored parse of ``version`` if there is one and it is of the same bytes."""
    try:
        stored = json.loads(objects.get(parsed_key(document, version.version)).data)
    except NotFound:
        return None
    if stored.get("sha256") != version.sha256:
        return None
    return ParsedDocument.model_validate(stored["parsed"])


@dataclass(frozen=True)
class ParsedVersion:
    """A version of a document and its parse as kept at upload: the page text the knowledge base's chunk
    offsets point into, and the extracted tables. ``parsed`` is ``None`` when no parse is kept for it."""

    document: Document
    version: DocumentVersion
    parsed: ParsedDocument | None


@dataclass(frozen=True)
class Download:
    filename: str
    content_type: str
    data: bytes
    version: int


class DocumentService:
    def __init__(
        self,
        *,
        documents: DocumentRepository,
        objects: ObjectStore,
        jobs: JobRecords,
        audit: AuditLog,
        clock: Clock,
        limits: IngestLimits,
        scratch_dir: Path,
    ) -> None:
        self._limits = limits
        self._scratch_dir = scratch_dir
        self._documents = documents
        self._objects = objects
        self._jobs = jobs
        self._audit = audit
        self._clock = clock

    # --- writes ----------------------------------------------------------------------------------------------

    def upload(
        self,
        principal: Principal,
        ctx: CallContext,
        *,
        content: BinaryIO | bytes,
        filename: str,
        metadata: DocumentMetadata,
        document_id: str | None = None,
    ) -> Document:
        """Store ``content`` (a stream or bytes) as a new document, or as the next version of ``document_id``.
        The content is parsed first, under every safety limit, so refused content answers at once (413, 415,
        422) and is never stored; the parse is kept for the processing job and the tables endpoint. The version
        is published at ``metadata.published_at``, or when it is uploaded if that is not given."""
        if metadata.published_at is not None:
            check_publication(metadata.published_at, now=self._clock.now())
        with scratch_copy(content, self._scratch_dir, suffix=".upload") as path:
            return self._upload(principal, ctx, path, filename, metadata, document_id)

    def _upload(
        self,
        principal: Principal,
        ctx: CallContext,
        path: Path,
        filename: str,
        metadata: DocumentMetadata,
        document_id: str | None,
    ) -> Document:
        name = safe_filename(filename)
        doc_type = detect_type(path)
        parsed = parse_document(path, doc_type, self._limits)
        if document_id is None:
            document = self._new_document(principal, name, doc_type, metadata)
        else:
            document = self._owned(principal, document_id, ctx, action="document.version")
            if doc_type is not document.doc_type:
                raise ValidationFailed(f"a new version must be a {document.doc_type.value} file like the first")
        data = path.read_bytes()
        stored = self._objects.put(
            object_key(document), data, content_type=CONTENT_TYPES[doc_type], metadata={"filename": name}
        )
        version = DocumentVersion(
            version=(document.versions[-1].version + 1) if document_id else 1,
            object_key=stored.key,
            object_version=stored.version_id,
            size=stored.size,
            sha256=stored.sha256,
            filename=name,
            uploaded_at=stored.created_at,
            uploaded_by=principal.user_id,
            published_at=metadata.published_at or stored.created_at,
        )
        if document_id is None:
            document = document.model_copy(update={"versions": [version], "current_version": 1})
        store_parsed(self._objects, document, version, parsed)
        return self._commit_upload(principal, ctx, document, version, new=document_id is None)

    def _commit_upload(
        self, principal: Principal, ctx: CallContext, document: Document, version: DocumentVersion, *, new: bool
    ) -> Document:
        """Write the record, then its processing job and audit record. If either of those fails (a full disk),
        the record is withdrawn — a new document removed, a new version undone — so the refused upload leaves no
        visible record that no job will process; the job, if it was queued, finds nothing to do."""
        previous = document
        if new:
            self._documents.add(document)
        else:
            document = self._save(document, versions=[*document.versions, version], current_version=version.version)
        try:
            self._enqueue(document)
            details = {"version": version.version, "published_at": version.published_at.isoformat()}
            self._audit_write(principal, ctx, "document.upload", document.id, details)
        except Exception:
            self._withdraw(previous, document, new=new)
            raise
        return document

    def _withdraw(self, previous: Document, written: Document, *, new: bool) -> None:
        try:
            if new:
                self._documents.delete(written.id)
            else:
                self._documents.update(previous, expected_updated_at=written.updated_at)
        except Exception as exc:  # the original failure is what the caller must see
            log.error("document.withdraw_failed", document_id=written.id, error=str(exc))

    def update_metadata(
        self, principal: Principal, ctx: CallContext, document_id: str, metadata: DocumentMetadata
    ) -> Document:
        """Replace the metadata and sharing. ``metadata.published_at``, when given, re-dates the current version
        (its passages in the knowledge base follow in the processing job); absent, the date stays."""
        if metadata.published_at is not None:
            check_publication(metadata.published_at, now=self._clock.now())
        document = self._owned(principal, document_id, ctx, action="document.update")
        changes = _metadata_fields(metadata, default_title=document.title)
        details: dict[str, Any] = {}
        current = document.current
        if metadata.published_at is not None and metadata.published_at != current.published_at:
            redated = current.model_copy(update={"published_at": metadata.published_at})
            changes["versions"] = [redated if v.version == current.version else v for v in document.versions]
            details = {
                "version": current.version,
                "published_at": metadata.published_at.isoformat(),
                "previous_published_at": current.published_at.isoformat(),
            }
        document = self._save(document, **changes)
        self._audit_write(principal, ctx, "document.update", document.id, details)
        return self._enqueue(document)  # chunks carry the access fields and the date: the index must follow

    def restore(self, principal: Principal, ctx: CallContext, document_id: str, version: int) -> Document:
        """Make ``version`` current again as a new version (S3's restore: copy it to the top), also bringing
        back a deleted document."""
        document = self._owned(principal, document_id, ctx, action="document.restore", include_deleted=True)
        source = _version(document, version)
        stored = self._objects.restore(source.object_key, source.object_version)
        restored = source.model_copy(
            update={
                "version": document.versions[-1].version + 1,
                "object_version": stored.version_id,
                "uploaded_at": stored.created_at,
                "uploaded_by": principal.user_id,
            }
        )
        kept = load_parsed(self._objects, document, source)
        if kept is not None:
            store_parsed(self._objects, document, restored, kept)  # same bytes: the job need not parse again
        document = self._save(
            document, versions=[*document.versions, restored], current_version=restored.version, deleted_at=None
        )
        self._audit_write(principal, ctx, "document.restore", document.id)
        return self._enqueue(document)

    def delete(self, principal: Principal, ctx: CallContext, document_id: str) -> Document:
        """Hide the document behind a delete marker; its versions stay restorable by the owner. Its chunks
        leave the knowledge base in the processing job."""
        document = self._owned(principal, document_id, ctx, action="document.delete")
        self._objects.delete(object_key(document))
        document = self._save(document, deleted_at=self._clock.now())
        self._audit_write(principal, ctx, "document.delete", document.id)
        return self._enqueue(document)

    # --- reads -----------------------------------------------------------------------------------------------

    def get(self, principal: Principal, document_id: str, ctx: CallContext) -> Document:
        return self._readable(principal, document_id, ctx, action="document.read")

    def list_documents(self, principal: Principal, ctx: CallContext, *, limit: int = 100) -> list[Document]:
        """Documents the caller may read, most recently changed first."""
        self._record(principal, ctx, "document.list", None, allowed=True)
        fetched = min(LIST_SCAN_LIMIT, max(2 * limit, 50))
        while True:  # the newest first, widening the window until it holds enough the caller may read
            candidates = self._documents.list_by_organisation(principal.organisation_id, limit=fetched)
            visible = [
                document for document in candidates if document.deleted_at is None and _readable(principal, document)
            ]
            if len(visible) >= limit or len(candidates) < fetched or fetched >= LIST_SCAN_LIMIT:
                return visible[:limit]
            fetched = min(LIST_SCAN_LIMIT, 4 * fetched)

    def download(
        self, principal: Principal, document_id: str, ctx: CallContext, *, version: int | None = None
    ) -> Download:
        document = self._readable(principal, document_id, ctx, action="document.download")
        chosen = _version(document, version or document.current_version)
        stored = self._objects.get(chosen.object_key, chosen.object_version)
        return Download(chosen.filename, CONTENT_TYPES[document.doc_type], stored.data, chosen.version)

    def tables(
        self, principal: Principal, document_id: str, ctx: CallContext, *, version: int | None = None
    ) -> list[ExtractedTable]:
        """The tables extracted from a version (the current one by default)."""
        document = self._readable(principal, document_id, ctx, action="document.tables")
        chosen = _version(document, version or document.current_version)
        parsed = load_parsed(self._objects, document, chosen)
        return parsed.tables if parsed is not None else []

    def parsed_version(
        self, principal: Principal, document_id: str, ctx: CallContext, *, version: int | None = None
    ) -> ParsedVersion:
        """A version (the current one by default) with its kept parse, for reading its text where a citation
        points. The kept parse is the one the processing job chunked, so chunk offsets match its pages; it is
        not parsed again here (a parser change could move the text the offsets refer to)."""
        document = self._readable(principal, document_id, ctx, action="document.text")
        chosen = _version(document, version or document.current_version)
        return ParsedVersion(document, chosen, load_parsed(self._objects, document, chosen))

    # --- helpers ---------------------------------------------------------------------------------------------

    def _new_document(
        self, principal: Principal, name: str, doc_type: DocumentType, metadata: DocumentMetadata
    ) -> Document:
        now = self._clock.now()
        placeholder = DocumentVersion(
            version=1,
            object_key="pending",
            object_version="pending",
            size=0,
            sha256="0" * 64,
            filename=name,
            uploaded_at=now,
            uploaded_by=principal.user_id,
            published_at=now,
        )
        return Document(
            id=new_id("doc_"),
            owner_id=principal.user_id,
            organisation_id=principal.organisation_id,
            doc_type=doc_type,
            versions=[placeholder],
            current_version=1,
            created_at=now,
            updated_at=now,
            **_metadata_fields(metadata, default_title=name),
        )

    def _readable(self, principal: Principal, document_id: str, ctx: CallContext, *, action: str) -> Document:
        document = self._find(document_id)
        allowed = document is not None and document.deleted_at is None and _readable(principal, document)
        self._record(principal, ctx, action, document_id, allowed=allowed)
        if document is None or not allowed:
            raise NotFound(f"document {document_id} not found")
        return document

    def _owned(
        self, principal: Principal, document_id: str, ctx: CallContext, *, action: str, include_deleted: bool = False
    ) -> Document:
        """The document if the caller owns it. A document the caller can read but not change answers 404 too:
        only its owner changes it, and saying more would tell others it exists."""
        document = self._find(document_id)
        allowed = (
            document is not None
            and document.owner_id == principal.user_id
            and document.organisation_id == principal.organisation_id
            and (include_deleted or document.deleted_at is None)
        )
        self._record(principal, ctx, action, document_id, allowed=allowed)
        if document is None or not allowed:
            raise NotFound(f"document {document_id} not found")
        return document

    def _find(self, document_id: str) -> Document | None:
        try:
            return self._documents.get(document_id)
        except NotFound:
            return None

    def _save(self, document: Document, **changes: object) -> Document:
        """Write a change; one that leaves the document live sends it back to ``uploaded`` for processing."""
        if changes.get("deleted_at", document.deleted_at) is None:
            changes = {"status": DocumentStatus.UPLOADED, "status_reason": None, **changes}
        updated = document.model_copy(update={**changes, "updated_at": self._clock.now()})
        updated = Document.model_validate(updated.model_dump())  # re-check the invariants after the update
        self._documents.update(updated, expected_updated_at=document.updated_at)
        return updated

    def _enqueue(self, document: Document) -> Document:
        """One processing job per change; the job syncs tables and chunks with the document's state, and continues
        the trace of the change that enqueued it (an upload, a new version, a restore, a delete)."""
        self._jobs.enqueue(
            PROCESS_DOCUMENT,
            {"document_id": document.id, **trace_payload()},
            owner_id=document.owner_id,
            organisation_id=document.organisation_id,
        )
        return document

    def _record(
        self,
        principal: Principal,
        ctx: CallContext,
        action: str,
        resource: str | None,
        *,
        allowed: bool,
        details: dict[str, Any] | None = None,
    ) -> None:
        self._audit.append(
            action=action,
            outcome=AuditOutcome.SUCCESS if allowed else AuditOutcome.DENIED,
            actor_id=principal.user_id,
            organisation_id=principal.organisation_id,
            resource_type="document",
            resource_id=resource,
            ip=ctx.ip,
            request_id=ctx.request_id,
            details=details or None,
        )

    def _audit_write(
        self,
        principal: Principal,
        ctx: CallContext,
        action: str,
        document_id: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        self._record(principal, ctx, f"{action}.done", document_id, allowed=True, details=details)


def record_status(
    documents: DocumentRepository, document: Document, status: DocumentStatus, reason: str | None
) -> Document:
    """Record a processing status. It leaves ``updated_at`` alone, so a concurrent change of the document (a
    new version, a delete) still conflicts with a writer holding the older copy."""
    updated = document.model_copy(update={"status": status, "status_reason": reason})
    documents.update(updated, expected_updated_at=document.updated_at)
    return updated


def _readable(principal: Principal, document: Document) -> bool:
    return document.readable_by(
        user_id=principal.user_id, organisation_id=principal.organisation_id, role=principal.role.value
    )


def _version(document: Document, number: int) -> DocumentVersion:
    for version in document.versions:
        if version.version == number:
            return version
    raise NotFound(f"document {document.id} has no version {number}")


def _metadata_fields(metadata: DocumentMetadata, *, default_title: str) -> dict[str, object]:
    return {
        "title": metadata.title or default_title,
        "source": metadata.source,
        "confidentiality": metadata.confidentiality,
        "visibility": metadata.visibility,
        "allowed_roles": [role.value for role in metadata.allowed_roles],
        "allowed_users": list(metadata.allowed_users),
        "tags": list(metadata.tags),
    }
