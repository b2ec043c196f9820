"""The agents' point-in-time view of the market (:class:`~investai.ports.research.PointInTimeMarket`).

Built per run over the :class:`~investai.ports.research.MarketReader` the supervisor is given, with the run's
as-of moment fixed: every read of bars ends at that date and sees only what was recorded by then, so an agent
never passes (or forgets) an as-of of its own.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from investai.domain.market import AssetClass, SymbolInfo
from investai.ports.research import MarketReader


class MarketAsOf:
    def __init__(self, market: MarketReader, as_of: datetime) -> None:
        self._market = market
        self._as_of = as_of

    @property
    def as_of(self) -> datetime:
        return self._as_of

    def symbols(self, *, asset_class: AssetClass | None = None, limit: int = 100) -> list[SymbolInfo]:
        return self._market.symbols(asset_class=asset_class, limit=limit)

    def symbol(self, symbol: str) -> SymbolInfo:
        return self._market.symbol(symbol)

    def daily_bars(self, symbol: str, *, start: date | None = None) -> pd.DataFrame:
        return self._market.bar_frame(symbol, start=start, end=self._as_of.date(), as_of=self._as_of)
