"""The ``documents.process`` job: bring a document's extracted tables and knowledge-base chunks in line with
its current state. A deleted document loses its chunks; otherwise its current version is parsed, chunked,
embedded and made the document's only chunks in one ``replace_document`` call, so replacing, restoring or
deleting a version is reflected in search by the same job, and running the job again changes nothing.

Content that is refused (unsafe, malformed, too large, of no accepted type) fails the document with a reason
its owner can read, and the job ends: retrying would refuse it again. Anything else is retried by the worker.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from investai.domain.documents import Document, DocumentStatus
from investai.domain.errors import NotFound, ValidationFailed
from investai.domain.knowledge import ParsedDocument
from investai.ingest import IngestLimits, parse_document
from investai.ingest.chunking import ChunkingOptions, chunk_document
from investai.observability.logging import get_logger
from investai.ports.knowledge import Embedder, SearchIndex
from investai.ports.object_store import ObjectStore
from investai.ports.repositories import DocumentRepository
from investai.services.documents import load_parsed, record_status, store_parsed

log = get_logger(__name__)


class DocumentProcessor:
    def __init__(
        self,
        *,
        documents: DocumentRepository,
        objects: ObjectStore,
        index: SearchIndex,
        embedder: Embedder,
        limits: IngestLimits,
        chunking: ChunkingOptions,
        scratch_dir: Path,
    ) -> None:
        self._documents = documents
        self._objects = objects
        self._index = index
        self._embedder = embedder
        self._limits = limits
        self._chunking = chunking
        self._scratch_dir = scratch_dir

    def process(self, document_id: str) -> dict[str, Any]:
        try:
            document = self._documents.get(document_id)
        except NotFound:
            removed = self._index.delete_document(document_id)
            return {"document_id": document_id, "outcome": "gone", "chunks_removed": removed}
        if document.deleted_at is not None:
            removed = self._index.delete_document(document.id)
            return {"document_id": document.id, "outcome": "deleted", "chunks_removed": removed}
        document = record_status(self._documents, document, DocumentStatus.PROCESSING, None)
        try:
            parsed = self._parse(document)
        except ValidationFailed as exc:
            self._index.delete_document(document.id)  # the current version is unusable: nothing stale stays
            record_status(self._documents, document, DocumentStatus.FAILED, str(exc))
            log.info("document.failed", document_id=document.id, reason=str(exc))
            return {"document_id": document.id, "outcome": "failed", "reason": str(exc)}
        chunks = chunk_document(parsed, document=document, options=self._chunking)
        vectors = self._embedder.embed([chunk.text for chunk in chunks])
        self._index.replace_document(document.id, chunks, vectors)
        reason = "; ".join([*(f"flagged: {flag.value}" for flag in parsed.flags), *parsed.warnings]) or None
        record_status(self._documents, document, DocumentStatus.INDEXED, reason)
        return {
            "document_id": document.id,
            "version": document.current_version,
            "outcome": "indexed",
            "chunks": len(chunks),
            "tables": len(parsed.tables),
            "flags": [flag.value for flag in parsed.flags],
        }

    def _parse(self, document: Document) -> ParsedDocument:
        """The parse kept at upload, or a fresh one (a restored version, a parse lost or of other bytes)."""
        current = document.current
        kept = load_parsed(self._objects, document, current)
        if kept is not None:
            return kept
        stored = self._objects.get(current.object_key, current.object_version)
        self._scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self._scratch_dir, suffix=".upload") as handle:
            handle.write(stored.data)
            handle.flush()
            parsed = parse_document(Path(handle.name), document.doc_type, self._limits)
        store_parsed(self._objects, document, current, parsed)
        return parsed
