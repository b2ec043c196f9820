"""Where a citation opens in the web UI: a document passage in the document viewer (at its page, chunk, or
table row), a market series on the market page over the cited dates."""

from __future__ import annotations

from urllib.parse import urlencode

from investai.domain.citations import DocumentCitation, MarketCitation


def document_citation_href(citation: DocumentCitation) -> str:
    query: dict[str, str | int] = {"version": citation.version}
    if citation.page is not None:
        query["page"] = citation.page
    if citation.chunk_id is not None:
        query["chunk"] = citation.chunk_id
    if citation.table is not None:
        query["table"] = citation.table
    if citation.row is not None:
        query["row"] = citation.row
    return f"/documents/{citation.document_id}/view?{urlencode(query)}#cited"


def market_citation_href(citation: MarketCitation) -> str:
    query = {"symbol": citation.symbol, "start": citation.start.isoformat(), "end": citation.end.isoformat()}
    return f"/market?{urlencode(query)}"


def citation_href(citation: DocumentCitation | MarketCitation) -> str:
    if isinstance(citation, DocumentCitation):
        return document_citation_href(citation)
    return market_citation_href(citation)
