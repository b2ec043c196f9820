"""Document pages: the list with the upload form, one document (versions, tables, sharing, delete) and the
viewer that citations open (the cited page with the cited passage marked, or the cited table row).

Uploads go from the page's script straight to the API (``/api/v1/documents``) for progress events; every
other change posts a form here, which calls the same document service as the API."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from investai.bootstrap import Container
from investai.domain.access import Permission, Principal
from investai.domain.documents import Document, DocumentMetadata, Visibility
from investai.domain.errors import NotFound, ValidationFailed
from investai.domain.knowledge import Chunk, ChunkKind, ExtractedTable, ParsedPage
from investai.domain.users import Role
from investai.http.deps import ContainerDep, Context
from investai.services.auth_common import CallContext
from investai.services.documents import CONTENT_TYPES, ParsedVersion
from investai.services.queries import UserNames
from investai.web.deps import DocumentReaderPage, DocumentWriterPage
from investai.web.rendering import render

router = APIRouter()
DocumentId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ROLES = [role.value for role in Role]
VISIBILITIES = [visibility.value for visibility in Visibility]
PREVIEW_ROWS = 10
VIEW_ROWS = 100
ROWS_BEFORE_CITED = 20
PASSAGE_GONE = (
    "The cited passage is no longer in the knowledge base (a later change of the document replaced it), "
    "so it cannot be marked; the cited place is shown."
)
OTHER_VERSION = "The cited passage belongs to another version of this document, so it is not marked here."


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _may_change(principal: Principal, document: Document) -> bool:
    return document.owner_id == principal.user_id and principal.can(Permission.DOCUMENTS_WRITE)


def _choices() -> dict[str, Any]:
    return {"roles": ROLES, "visibilities": VISIBILITIES}


def _people(container: Container, principal: Principal, documents: list[Document]) -> dict[str, str]:
    """Names of the owners and uploaders of documents the principal may read (the reader sees who shares a
    document with them); an account that no longer exists shows as its id, marked as a deleted user."""
    ids = [document.owner_id for document in documents]
    ids += [version.uploaded_by for document in documents for version in document.versions]
    return UserNames(container.identity.users, principal).names(ids)


# --- the list --------------------------------------------------------------------------------------------------


@router.get("/documents")
def documents_page(request: Request, principal: DocumentReaderPage, container: ContainerDep, ctx: Context) -> Response:
    documents = container.knowledge.documents.list_documents(principal, ctx, limit=500)
    context = {
        "documents": documents,
        "people": _people(container, principal, documents),
        "can_upload": principal.can(Permission.DOCUMENTS_WRITE),
        **_choices(),
    }
    return render(request, "documents/list.html", context)


# --- one document ----------------------------------------------------------------------------------------------


def _detail(
    request: Request,
    container: Container,
    principal: Principal,
    ctx: CallContext,
    document_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    service = container.knowledge.documents
    document = service.get(principal, document_id, ctx)
    context = {
        "document": document,
        "people": _people(container, principal, [document]),
        "versions": list(reversed(document.versions)),
        "content_type": CONTENT_TYPES[document.doc_type],
        "tables": service.tables(principal, document_id, ctx),
        "preview_rows": PREVIEW_ROWS,
        "may_change": _may_change(principal, document),
        "error": error,
        **_choices(),
    }
    return render(request, "documents/detail.html", context, status_code=status_code)


@router.get("/documents/{document_id}")
def document_page(
    request: Request, document_id: DocumentId, principal: DocumentReaderPage, container: ContainerDep, ctx: Context
) -> Response:
    return _detail(request, container, principal, ctx, document_id)


@router.post("/documents/{document_id}/restore")
def restore_version(
    document_id: DocumentId,
    principal: DocumentWriterPage,
    container: ContainerDep,
    ctx: Context,
    version: Annotated[int, Form(ge=1, le=2**31)],
) -> Response:
    container.knowledge.documents.restore(principal, ctx, document_id, version)
    return _see_other(f"/documents/{document_id}?notice=document_restored")


@router.post("/documents/{document_id}/delete")
def delete_document(
    document_id: DocumentId, principal: DocumentWriterPage, container: ContainerDep, ctx: Context
) -> Response:
    container.knowledge.documents.delete(principal, ctx, document_id)
    return _see_other("/documents?notice=document_deleted")


def _sharing(document: Document, visibility: str, roles: list[str], users: list[str]) -> DocumentMetadata:
    """The document's metadata with new sharing; the allow-lists only count for the visibility they belong to."""
    chosen = Visibility(visibility)
    return DocumentMetadata(
        title=document.title,
        source=document.source,
        confidentiality=document.confidentiality,
        visibility=chosen,
        allowed_roles=[Role(role) for role in roles] if chosen is Visibility.ROLES else [],
        allowed_users=users if chosen is Visibility.USERS else [],
        tags=document.tags,
    )


def _refusal(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
    return f"Not a valid choice: {exc}"


@router.post("/documents/{document_id}/sharing")
def change_sharing(
    request: Request,
    document_id: DocumentId,
    principal: DocumentWriterPage,
    container: ContainerDep,
    ctx: Context,
    visibility: Annotated[str, Form(max_length=32)],
    allowed_roles: Annotated[list[str] | None, Form()] = None,
    allowed_users: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    service = container.knowledge.documents
    document = service.get(principal, document_id, ctx)
    users = [user.strip() for user in allowed_users.replace("\n", ",").split(",") if user.strip()]
    try:
        metadata = _sharing(document, visibility, allowed_roles or [], users)
    except ValueError as exc:
        error = "The sharing was not changed: " + _refusal(exc)
        return _detail(request, container, principal, ctx, document_id, error=error, status_code=422)
    service.update_metadata(principal, ctx, document_id, metadata)
    return _see_other(f"/documents/{document_id}?notice=document_updated")


def _redated(document: Document, published_at: str) -> DocumentMetadata:
    """The document's metadata with the current version published at ``published_at``."""
    return DocumentMetadata(
        title=document.title,
        source=document.source,
        confidentiality=document.confidentiality,
        visibility=document.visibility,
        allowed_roles=[Role(role) for role in document.allowed_roles],
        allowed_users=document.allowed_users,
        tags=document.tags,
        published_at=published_at,
    )


@router.post("/documents/{document_id}/published")
def change_publication_date(
    request: Request,
    document_id: DocumentId,
    principal: DocumentWriterPage,
    container: ContainerDep,
    ctx: Context,
    published_at: Annotated[str, Form(max_length=40)],
) -> Response:
    """Re-date the current version; its passages in the knowledge base follow in the processing job."""
    service = container.knowledge.documents
    document = service.get(principal, document_id, ctx)
    try:
        service.update_metadata(principal, ctx, document_id, _redated(document, published_at))
    except (ValueError, ValidationFailed) as exc:
        reason = str(exc) if isinstance(exc, ValidationFailed) else _refusal(exc)
        error = "The publication date was not changed: " + reason
        return _detail(request, container, principal, ctx, document_id, error=error, status_code=422)
    return _see_other(f"/documents/{document_id}?notice=document_redated")


# --- the viewer (citation target) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Citing:
    """What the viewer was asked to show: the requested place, and the cited chunk if it still resolves."""

    page: int | None
    table: str | None
    row: int | None
    chunk: Chunk | None
    warning: str | None


def _resolve(
    container: Container, principal: Principal, ctx: CallContext, loaded: ParsedVersion, chunk_id: str | None
) -> tuple[Chunk | None, str | None]:
    """The cited chunk through the knowledge service (the caller's access applies), if it is of this version."""
    if not chunk_id:
        return None, None
    try:
        chunk = container.knowledge.search.chunk(principal, ctx, chunk_id)
    except NotFound:
        return None, PASSAGE_GONE
    if chunk.document_id != loaded.document.id or chunk.version != loaded.version.version:
        return None, OTHER_VERSION
    return chunk, None


def _text_view(pages: list[ParsedPage], citing: Citing) -> dict[str, Any]:
    """The page to show, cut around the cited chunk's offsets when the chunk is on that page."""
    number = citing.page or (citing.chunk.page if citing.chunk and citing.chunk.page else 1)
    page = next((candidate for candidate in pages if candidate.number == number), None)
    if page is None:
        raise NotFound(f"this version has no page {number}")
    text, chunk = page.text, citing.chunk
    segments: tuple[str, str | None, str] = (text, None, "")
    if chunk is not None and chunk.kind is ChunkKind.TEXT and chunk.page == number:
        start, end = chunk.start_offset, chunk.end_offset
        if 0 <= start < end <= len(text):
            segments = (text[:start], text[start:end], text[end:])
    numbers = [candidate.number for candidate in pages]
    index = numbers.index(number)
    return {
        "page": page,
        "segments": segments,
        "page_numbers": numbers,
        "previous_page": numbers[index - 1] if index > 0 else None,
        "next_page": numbers[index + 1] if index + 1 < len(numbers) else None,
    }


def _table_view(tables: list[ExtractedTable], citing: Citing) -> dict[str, Any]:
    """The cited table: a window of its rows around the cited row, the cited chunk's rows marked."""
    candidates = [table for table in tables if table.name == citing.table]
    if citing.page is not None:
        candidates = [table for table in candidates if table.page in (None, citing.page)] or candidates
    if not candidates:
        raise NotFound(f"this version has no table named {citing.table}")
    table, chunk = candidates[0], citing.chunk
    cited_row = citing.row if citing.row is not None else (chunk.row_start if chunk else None)
    first = max(1, (cited_row or 1) - ROWS_BEFORE_CITED)
    last = min(len(table.rows), first + VIEW_ROWS - 1)
    passage = (chunk.row_start or 0, chunk.row_end or 0) if chunk and chunk.table == table.name else (0, -1)
    return {
        "table": table,
        "rows": [(number, table.rows[number - 1]) for number in range(first, last + 1)],
        "cited_row": cited_row,
        "passage_rows": passage,
        "first_row": first,
        "last_row": last,
    }


def _viewer_context(loaded: ParsedVersion, citing: Citing) -> dict[str, Any]:
    parsed = loaded.parsed
    context: dict[str, Any] = {
        "document": loaded.document,
        "shown": loaded.version,
        "parsed": parsed,
        "tables": parsed.tables if parsed else [],
        "warning": citing.warning,
        "mode": "missing",
    }
    if parsed is None:
        return context
    table = citing.table or (citing.chunk.table if citing.chunk and citing.chunk.kind is ChunkKind.TABLE else None)
    if table is None and not parsed.pages and parsed.tables:
        table = parsed.tables[0].name
    if table is not None:
        return {**context, "mode": "table", **_table_view(parsed.tables, replace(citing, table=table))}
    if parsed.pages:
        return {**context, "mode": "text", **_text_view(parsed.pages, citing)}
    return {**context, "mode": "empty"}


@router.get("/documents/{document_id}/view")
def document_viewer(
    request: Request,
    document_id: DocumentId,
    principal: DocumentReaderPage,
    container: ContainerDep,
    ctx: Context,
    version: Annotated[int | None, Query(ge=1, le=2**31)] = None,
    page: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    chunk: Annotated[str | None, Query(max_length=128)] = None,
    table: Annotated[str | None, Query(max_length=255)] = None,
    row: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
) -> Response:
    loaded = container.knowledge.documents.parsed_version(principal, document_id, ctx, version=version)
    cited, warning = _resolve(container, principal, ctx, loaded, chunk)
    citing = Citing(page=page, table=table or None, row=row, chunk=cited, warning=warning)
    return render(request, "documents/view.html", _viewer_context(loaded, citing))
