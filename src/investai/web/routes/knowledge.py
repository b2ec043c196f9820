"""Knowledge search: the same search the API answers (keyword, semantic or hybrid, with the caller's access
applied inside the index query), each hit with its marked snippet and a link to the cited passage."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from markupsafe import Markup
from pydantic import ValidationError
from starlette.responses import Response

from investai.domain.documents import DocumentType
from investai.domain.errors import ValidationFailed
from investai.domain.knowledge import KnowledgeHit, SearchFilters, SearchMode
from investai.http.deps import ContainerDep, Context
from investai.services.knowledge import parse_date
from investai.web.deps import KnowledgePage
from investai.web.rendering import render

router = APIRouter()
RESULTS = 20
"""At most this many hits on the page: a search returns those near its best one (the index's relevance floor),
usually fewer."""
MODES = [mode.value for mode in SearchMode]
TYPES = [doc_type.value for doc_type in DocumentType]
_MARK_TAG = re.compile(r"</?mark>")
Field = Annotated[str, Query(max_length=100)]


def safe_snippet(snippet: str) -> Markup:
    """The service sends HTML-escaped text with ``<mark>`` tags; it is marked safe only when that holds (nothing
    but ``<mark>``/``</mark>`` left that an escape would have changed), and escaped whole otherwise."""
    bare = _MARK_TAG.sub("", snippet)
    if any(character in bare for character in "<>\"'"):
        return Markup.escape(snippet)
    return Markup(snippet)  # noqa: S704 - checked above: escaped text and <mark> tags only


def _filters(doc_type: str, tag: str, date_from: str, date_to: str) -> SearchFilters:
    try:
        return SearchFilters(
            doc_types=[DocumentType(doc_type)] if doc_type else [],
            tags=[tag.strip()] if tag.strip() else [],
            date_from=parse_date(date_from or None, name="From"),
            date_to=parse_date(date_to or None, name="To"),
        )
    except ValidationError as exc:
        raise ValidationFailed("; ".join(error["msg"] for error in exc.errors())) from exc
    except ValueError as exc:  # an unknown document type
        raise ValidationFailed(f"unknown document type {doc_type!r}") from exc


def _mode(value: str) -> SearchMode:
    try:
        return SearchMode(value or SearchMode.HYBRID.value)
    except ValueError as exc:
        raise ValidationFailed(f"unknown search mode {value!r}; choose hybrid, keyword or semantic") from exc


@router.get("/knowledge")
def knowledge_page(
    request: Request,
    principal: KnowledgePage,
    container: ContainerDep,
    ctx: Context,
    q: Annotated[str, Query(max_length=4000)] = "",
    mode: Field = "hybrid",
    type: Field = "",
    tag: Field = "",
    date_from: Field = "",
    date_to: Field = "",
) -> Response:
    form = {"q": q, "mode": mode, "type": type, "tag": tag, "date_from": date_from, "date_to": date_to}
    context: dict[str, Any] = {"form": form, "modes": MODES, "types": TYPES, "searched": bool(q.strip())}
    if not q.strip():
        return render(request, "knowledge/search.html", {**context, "results": []})
    try:
        hits: list[KnowledgeHit] = container.knowledge.search.search(
            principal, ctx, query=q, mode=_mode(mode), filters=_filters(type, tag, date_from, date_to), limit=RESULTS
        )
    except ValidationFailed as exc:
        error = f"The search could not run: {exc}."
        return render(request, "knowledge/search.html", {**context, "results": [], "error": error}, status_code=422)
    results = [{"hit": hit, "snippet": safe_snippet(hit.snippet)} for hit in hits]
    return render(request, "knowledge/search.html", {**context, "results": results})
