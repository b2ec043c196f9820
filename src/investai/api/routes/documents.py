"""Proprietary documents: upload (multipart, the type read from the content), versions, restore, delete,
download and extracted tables. Another user's private document answers 404 on every route."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from investai.api.deps import DocumentReader, DocumentWriter
from investai.api.schemas.people import DocumentPublic, DocumentVersionPublic
from investai.bootstrap import Container
from investai.domain.access import Principal
from investai.domain.documents import Confidentiality, Document, DocumentMetadata, Visibility
from investai.domain.errors import NotFound, ValidationFailed
from investai.domain.knowledge import ExtractedTable
from investai.domain.users import Role
from investai.http.deps import ContainerDep, Context
from investai.ingest.export import table_to_csv
from investai.services.auth_common import CallContext
from investai.services.queries import UserNames

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found (or not yours)"}}
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "Larger than the upload cap (refused before the body is read)"},
    415: {"description": "Content of no accepted type (PDF, CSV, XLSX, JSON), whatever its name says"},
}
NO_STORE = {"Cache-Control": "no-store"}


def _named(container: Container, principal: Principal, document: Document) -> DocumentPublic:
    """The document with its owner's and uploaders' names beside their ids (the caller may read it)."""
    return DocumentPublic.of(document, UserNames(container.identity.users, principal))


PUBLISHED_AT = (
    "When the content was published: YYYY-MM-DD, or an ISO 8601 date and time (UTC when no zone is given). "
    "Point-in-time research dates the document by it. Default: the upload time"
)


def _metadata(
    title: str | None,
    source: str | None,
    confidentiality: Confidentiality,
    visibility: Visibility,
    allowed_roles: list[Role] | None,
    allowed_users: list[str] | None,
    tags: list[str] | None,
    published_at: str | None = None,
) -> DocumentMetadata:
    try:
        return DocumentMetadata(
            title=title or None,
            source=source or None,
            confidentiality=confidentiality,
            visibility=visibility,
            allowed_roles=allowed_roles or [],
            allowed_users=allowed_users or [],
            tags=tags or [],
            published_at=published_at or None,
        )
    except ValidationError as exc:
        raise ValidationFailed("; ".join(error["msg"] for error in exc.errors())) from exc


def _store_upload(
    container: Container,
    principal: Principal,
    ctx: CallContext,
    file: UploadFile,
    metadata: DocumentMetadata,
    document_id: str | None = None,
) -> Document:
    """Hand the spooled upload to the service as a stream."""
    return container.knowledge.documents.upload(
        principal, ctx, content=file.file, filename=file.filename or "", metadata=metadata, document_id=document_id
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=DocumentPublic, responses=UPLOAD_ERRORS, summary="Upload"
)
def upload_document(
    principal: DocumentWriter,
    container: ContainerDep,
    ctx: Context,
    file: Annotated[UploadFile, File(description="PDF, CSV, XLSX or JSON")],
    title: Annotated[str | None, Form(max_length=255)] = None,
    source: Annotated[str | None, Form(max_length=255)] = None,
    confidentiality: Annotated[Confidentiality, Form()] = Confidentiality.PRIVATE,
    visibility: Annotated[Visibility, Form()] = Visibility.PRIVATE,
    allowed_roles: Annotated[list[Role] | None, Form()] = None,
    allowed_users: Annotated[list[str] | None, Form()] = None,
    tags: Annotated[list[str] | None, Form()] = None,
    published_at: Annotated[str | None, Form(max_length=40, description=PUBLISHED_AT)] = None,
) -> DocumentPublic:
    metadata = _metadata(title, source, confidentiality, visibility, allowed_roles, allowed_users, tags, published_at)
    return _named(container, principal, _store_upload(container, principal, ctx, file, metadata))


@router.get("", response_model=list[DocumentPublic], summary="Documents you may read")
def list_documents(
    principal: DocumentReader, container: ContainerDep, ctx: Context, limit: int = Query(default=100, ge=1, le=500)
) -> Any:
    documents = container.knowledge.documents.list_documents(principal, ctx, limit=limit)
    names = UserNames(container.identity.users, principal)
    named = [DocumentPublic.of(document, names).model_dump(mode="json") for document in documents]
    return JSONResponse(named, headers=NO_STORE)


@router.get("/{document_id}", response_model=DocumentPublic, responses=NOT_FOUND, summary="One document")
def get_document(document_id: str, principal: DocumentReader, container: ContainerDep, ctx: Context) -> Any:
    document = container.knowledge.documents.get(principal, document_id, ctx)
    return JSONResponse(_named(container, principal, document).model_dump(mode="json"), headers=NO_STORE)


@router.patch(
    "/{document_id}", response_model=DocumentPublic, responses=NOT_FOUND, summary="Change metadata or sharing"
)
def update_document(
    document_id: str, body: DocumentMetadata, principal: DocumentWriter, container: ContainerDep, ctx: Context
) -> DocumentPublic:
    return _named(
        container, principal, container.knowledge.documents.update_metadata(principal, ctx, document_id, body)
    )


@router.delete("/{document_id}", response_model=DocumentPublic, responses=NOT_FOUND, summary="Delete (restorable)")
def delete_document(
    document_id: str, principal: DocumentWriter, container: ContainerDep, ctx: Context
) -> DocumentPublic:
    return _named(container, principal, container.knowledge.documents.delete(principal, ctx, document_id))


@router.post(
    "/{document_id}/versions",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentPublic,
    responses={**NOT_FOUND, **UPLOAD_ERRORS},
    summary="Upload a new version",
)
def upload_version(
    document_id: str,
    principal: DocumentWriter,
    container: ContainerDep,
    ctx: Context,
    file: Annotated[UploadFile, File(description="same type as the document's first version")],
    published_at: Annotated[str | None, Form(max_length=40, description=PUBLISHED_AT)] = None,
) -> DocumentPublic:
    current = container.knowledge.documents.get(principal, document_id, ctx)
    metadata = _metadata(
        current.title,
        current.source,
        current.confidentiality,
        current.visibility,
        [Role(role) for role in current.allowed_roles],
        current.allowed_users,
        current.tags,
        published_at,
    )
    return _named(
        container, principal, _store_upload(container, principal, ctx, file, metadata, document_id=document_id)
    )


@router.get("/{document_id}/versions", response_model=list[DocumentVersionPublic], responses=NOT_FOUND)
def list_versions(document_id: str, principal: DocumentReader, container: ContainerDep, ctx: Context) -> Any:
    document = _named(container, principal, container.knowledge.documents.get(principal, document_id, ctx))
    return JSONResponse([v.model_dump(mode="json") for v in reversed(document.versions)], headers=NO_STORE)


@router.post("/{document_id}/versions/{version}/restore", response_model=DocumentPublic, responses=NOT_FOUND)
def restore_version(
    document_id: str, version: int, principal: DocumentWriter, container: ContainerDep, ctx: Context
) -> DocumentPublic:
    return _named(container, principal, container.knowledge.documents.restore(principal, ctx, document_id, version))


@router.get("/{document_id}/content", responses=NOT_FOUND, summary="Download (a version)")
def download_document(
    document_id: str,
    principal: DocumentReader,
    container: ContainerDep,
    ctx: Context,
    version: int | None = Query(default=None, ge=1, le=2**31),
) -> Response:
    download = container.knowledge.documents.download(principal, document_id, ctx, version=version)
    ascii_name = download.filename.encode("ascii", "replace").decode().replace('"', "_")
    headers = {
        "Content-Disposition": f'attachment; filename="{ascii_name}"',
        "Cache-Control": "no-store",
        "X-Document-Version": str(download.version),
    }
    return Response(download.data, media_type=download.content_type, headers=headers)


@router.get("/{document_id}/tables", response_model=list[ExtractedTable], responses=NOT_FOUND)
def document_tables(
    document_id: str,
    principal: DocumentReader,
    container: ContainerDep,
    ctx: Context,
    version: int | None = Query(default=None, ge=1, le=2**31),
    table: int | None = Query(default=None, ge=0, le=10_000, description="with format=csv: which table"),
    format: str = Query(default="json", pattern="^(json|csv)$"),
) -> Response:
    tables = container.knowledge.documents.tables(principal, document_id, ctx, version=version)
    if format == "json":
        return JSONResponse([t.model_dump(mode="json") for t in tables], headers=NO_STORE)
    chosen = next((t for t in tables if t.index == (table or 0)), None)
    if chosen is None:
        raise NotFound(f"document {document_id} has no table {table or 0}")
    body = table_to_csv(chosen.header, chosen.rows)
    headers = {"Content-Disposition": f'attachment; filename="table-{chosen.index}.csv"', **NO_STORE}
    return Response(body, media_type="text/csv", headers=headers)
