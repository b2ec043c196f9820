"""Citations: where every fact and number in an idea came from."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from investai.domain.common import DomainModel, Identifier, UtcDatetime


class DocumentSource(DomainModel):
    """One version of a stored document that something (an idea, an agent message) was made from."""

    document_id: Identifier
    version: int = Field(ge=1)


class DocumentCitation(DomainModel):
    """A passage of a stored document: document id, version and page or chunk.

    A ``restricted`` citation stands for a passage the reader may not read: it says that a document version
    was cited and nothing of where in it or what it says (no page, chunk, table, row or snippet)."""

    kind: Literal["document"] = "document"
    document_id: Identifier
    version: int = Field(ge=1)
    page: int | None = Field(default=None, ge=1)
    chunk_id: str | None = Field(default=None, max_length=128)
    table: str | None = Field(default=None, max_length=128)
    row: int | None = Field(default=None, ge=0)
    snippet: str | None = Field(default=None, max_length=2000)
    restricted: bool = Field(
        default=False, description="a passage of a document you may not read: only the document version is named"
    )

    @model_validator(mode="after")
    def _locates_something(self) -> DocumentCitation:
        located = (self.page, self.chunk_id, self.table, self.row, self.snippet)
        if self.restricted and any(part is not None for part in located):
            raise ValueError("a restricted citation names the document version only")
        if not self.restricted and self.page is None and self.chunk_id is None and self.table is None:
            raise ValueError("a document citation needs a page, a chunk or a table")
        return self

    @property
    def source(self) -> DocumentSource:
        return DocumentSource(document_id=self.document_id, version=self.version)

    def withheld(self) -> DocumentCitation:
        """This citation as shown to a reader who may not read its document version."""
        return DocumentCitation(document_id=self.document_id, version=self.version, restricted=True)


class MarketCitation(DomainModel):
    """A market series over a date range, with the value computed from it."""

    kind: Literal["market"] = "market"
    symbol: str = Field(min_length=1, max_length=32)
    series: str = Field(min_length=1, max_length=64, description="e.g. adj_close, volatility_63d")
    start: date
    end: date
    value: float | None = None
    as_of: UtcDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> MarketCitation:
        if self.end < self.start:
            raise ValueError("citation end precedes its start")
        return self


Citation = Annotated[DocumentCitation | MarketCitation, Field(discriminator="kind")]


class EvidenceScope(StrEnum):
    """What a passage is evidence about: the idea's instrument itself, or the sector it belongs to."""

    INSTRUMENT = "instrument"
    SECTOR = "sector"


class Evidence(DomainModel):
    """One supporting fact and its citation.

    ``claim`` is a short statement of the fact written by code; for a document passage, ``quote`` holds the
    passage's own words (whole sentences naming the instrument or sector, or a table row as ``column: value``
    pairs) and ``scope`` says whether the passage is about the instrument or only about its sector (``subject``
    names which). Ideas stored before these fields existed have none of them."""

    claim: str = Field(min_length=1, max_length=2000)
    citation: Citation
    weight: float = Field(default=1.0, ge=0.0, le=1.0)
    quote: str | None = Field(default=None, max_length=2000, description="the cited passage's own words")
    scope: EvidenceScope | None = Field(
        default=None, description="instrument: the passage names the instrument; sector: only its sector"
    )
    subject: str | None = Field(default=None, max_length=128, description="the symbol or sector the passage names")
