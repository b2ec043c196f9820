"""What the agents read: the knowledge base through the requester's access, and market data, point in time.

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
        """Hybrid search as ``reader`` (only what that user may read), over document versions uploaded at or
        before ``as_of``; each hit is a citation with its passage."""
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
