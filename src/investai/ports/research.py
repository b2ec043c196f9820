"""What the agents read: the knowledge base through the requester's access, fundamentals from the documents,
and market data, all point in time.

The services implement these structurally; agents see only these protocols.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

import pandas as pd

from investai.domain.knowledge import AccessScope, KnowledgeHit
from investai.domain.market import AssetClass, Interval, SymbolInfo


class EvidenceSearch(Protocol):
    def passages(
        self, *, reader: AccessScope, query: str, as_of: datetime, limit: int, request_id: str | None = None
    ) -> list[KnowledgeHit]:
        """Hybrid search as ``reader`` (only what that user may read), over document versions published at or
        before ``as_of``; each hit is a citation with its passage."""
        ...


FUNDAMENTAL_COLUMNS: tuple[str, ...] = (
    "pe_ratio",
    "eps_ttm",
    "roe",
    "debt_to_equity",
    "revenue_growth_yoy",
    "dividend_yield",
)
"""The figures a :class:`FundamentalsReader` returns (NaN where its source row has none); ratios are fractions
(``roe=0.15`` is 15%), EPS in the row's currency."""
FUNDAMENTAL_SOURCE_COLUMNS: tuple[str, ...] = ("as_of", "document_id", "version", "table", "row")
"""Where each row came from: the moment it is dated (its ``as_of`` cell, else its version's publication date;
UTC), the document version, the table's name and the data row number (from 1), for a citation."""


class FundamentalsReader(Protocol):
    def fundamentals(self, *, reader: AccessScope, symbols: list[str], as_of: datetime) -> pd.DataFrame:
        """The latest fundamentals row of each of ``symbols`` found in the tables of the documents ``reader``
        may read, dated at or before ``as_of``: only document versions published by then, and only rows whose
        own date (an ``as_of``/date column) has passed by then. Indexed by symbol (``symbol``; symbols without a
        row are absent), columns :data:`FUNDAMENTAL_COLUMNS` then :data:`FUNDAMENTAL_SOURCE_COLUMNS`."""
        ...


class MarketReader(Protocol):
    def symbols(
        self,
        *,
        query: str | None = None,
        sector: str | None = None,
        asset_class: AssetClass | None = None,
        limit: int = 100,
    ) -> list[SymbolInfo]: ...

    def symbol(self, symbol: str) -> SymbolInfo: ...

    def bar_frame(
        self,
        symbol: str,
        *,
        start: date | None = None,
        end: date | None = None,
        interval: Interval = Interval.DAILY,
        as_of: datetime | None = None,
    ) -> pd.DataFrame: ...


class PointInTimeMarket(Protocol):
    """Market data as it was known at one moment, the agents' only view of prices: bars dated after ``as_of``,
    or recorded after it (a later correction), are not visible through it, so no agent can look ahead."""

    @property
    def as_of(self) -> datetime: ...

    def symbols(self, *, asset_class: AssetClass | None = None, limit: int = 100) -> list[SymbolInfo]: ...

    def symbol(self, symbol: str) -> SymbolInfo: ...

    def daily_bars(self, symbol: str, *, start: date | None = None) -> pd.DataFrame:
        """Daily bars of ``symbol`` from ``start`` up to the as-of date, as recorded by the as-of moment."""
        ...
