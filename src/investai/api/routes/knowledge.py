"""Knowledge-base search: keyword (BM25), semantic (cosine) or hybrid (a weighted combination of the two
normalised scores), through the caller's access scope, every hit a citation. ``limit`` is a maximum: a search
returns the hits near its best one (the index's relevance floor), often fewer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from investai.api.deps import KnowledgeSearcher
from investai.domain.documents import DocumentType
from investai.domain.errors import ValidationFailed
from investai.domain.knowledge import Chunk, KnowledgeHit, SearchFilters, SearchMode
from investai.http.deps import ContainerDep, Context
from investai.services.knowledge import MAX_QUERY_CHARS, parse_date

router = APIRouter(prefix="/api/v1/knowledge", tags=["knowledge"])


@router.get("/search", response_model=list[KnowledgeHit], summary="Search the documents you may read")
def search_knowledge(
    principal: KnowledgeSearcher,
    container: ContainerDep,
    ctx: Context,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="the question or keywords")],
    mode: SearchMode = SearchMode.HYBRID,
    document_id: Annotated[list[str] | None, Query(max_length=100)] = None,
    type: Annotated[list[DocumentType] | None, Query()] = None,
    tag: Annotated[list[str] | None, Query(max_length=20)] = None,
    date_from: Annotated[str | None, Query(max_length=40, description="ISO date or datetime")] = None,
    date_to: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=50, description="at most this many hits")] = 10,
) -> Any:
    try:
        filters = SearchFilters(
            document_ids=document_id or [],
            doc_types=type or [],
            tags=tag or [],
            date_from=parse_date(date_from, name="date_from"),
            date_to=parse_date(date_to, name="date_to"),
        )
    except ValidationError as exc:
        raise ValidationFailed("; ".join(error["msg"] for error in exc.errors())) from exc
    hits = container.knowledge.search.search(principal, ctx, query=q, mode=mode, filters=filters, limit=limit)
    # never from the response cache: results change as documents are processed, replaced or re-shared
    return JSONResponse([hit.model_dump(mode="json") for hit in hits], headers={"Cache-Control": "no-store"})


@router.get(
    "/chunks/{chunk_id}",
    response_model=Chunk,
    responses={404: {"description": "No such passage, or not yours to read"}},
    summary="One passage by id: what a citation's chunk_id points at",
)
def get_chunk(
    chunk_id: Annotated[str, PathParam(min_length=3, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")],
    principal: KnowledgeSearcher,
    container: ContainerDep,
    ctx: Context,
) -> Any:
    chunk = container.knowledge.search.chunk(principal, ctx, chunk_id)
    return JSONResponse(chunk.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
