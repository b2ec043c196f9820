"""The AWS shape's :class:`~investai.ports.market.TimeSeriesStore`: bar history on S3, quotes in DynamoDB or
Timestream, and the catalog in DynamoDB (:mod:`investai.adapters.aws.market_parts`), composed into one store.

The one operation that spans two parts is a correction that resolves quarantined rows: the rows are marked
resolved first (all or none, refused if one is no longer pending), then the bars are written; if the bar write
fails, the resolution is undone, so a correction either happens whole or leaves the quarantine as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

import pandas as pd
import pyarrow as pa

from investai.adapters.aws.market_parts import MarketCatalog, QuoteTiers
from investai.adapters.aws.s3_bars import S3BarHistory
from investai.adapters.local.duckdb_market import _conform, _utc, available_from
from investai.domain.market import (
    AssetClass,
    Interval,
    QuarantinedBar,
    QuarantineStatus,
    Quote,
    RetentionResult,
    SymbolInfo,
    WriteCounts,
)
from investai.ports.market import BAR_SCHEMA, QUARANTINE_SCHEMA, ProviderFile


class ComposedTimeSeriesStore:
    """One :class:`~investai.ports.market.TimeSeriesStore` over its three parts."""

    def __init__(self, *, bars: S3BarHistory, quotes: QuoteTiers, catalog: MarketCatalog) -> None:
        self.bars = bars
        self.quotes = quotes
        self.catalog = catalog

    # --- symbol master -----------------------------------------------------------------------------------

    def upsert_symbols(self, symbols: Sequence[SymbolInfo]) -> int:
        return self.catalog.upsert_symbols(symbols)

    def get_symbol(self, symbol: str) -> SymbolInfo | None:
        return self.catalog.get_symbol(symbol)

    def find_symbols(
        self,
        *,
        query: str | None = None,
        sector: str | None = None,
        asset_class: AssetClass | None = None,
        limit: int = 100,
    ) -> list[SymbolInfo]:
        return self.catalog.find_symbols(query=query, sector=sector, asset_class=asset_class, limit=limit)

    def known_symbols(self, symbols: Iterable[str]) -> set[str]:
        return self.catalog.known_symbols(symbols)

    # --- bars --------------------------------------------------------------------------------------------

    def write_bars(self, bars: pa.Table, *, ingested_at: datetime) -> WriteCounts:
        return self.bars.write_bars(bars, ingested_at=ingested_at)

    def read_bars(
        self,
        symbol: str,
        *,
        start: date | None = None,
        end: date | None = None,
        interval: Interval = Interval.DAILY,
        as_of: datetime | None = None,
    ) -> pd.DataFrame:
        return self.bars.read_bars(symbol, start=start, end=end, interval=interval, as_of=as_of)

    def bar_range(self, symbol: str) -> tuple[date, date, int] | None:
        return self.bars.bar_range(symbol)

    def bar_symbols(self) -> list[str]:
        return self.bars.bar_symbols()

    def bar_neighbours(self, spans: Sequence[tuple[str, date, date]]) -> pd.DataFrame:
        return self.bars.bar_neighbours(spans)

    def compact_bars(self) -> int:
        """Merge each symbol's many small history files into one (the scheduled compaction job)."""
        return self.bars.compact()

    # --- quarantine and corrections ---------------------------------------------------------------------

    def quarantine_bars(self, rows: pa.Table, *, at: datetime) -> list[str]:
        batch = _conform(rows, QUARANTINE_SCHEMA)
        if batch.num_rows == 0:
            return []
        return self.catalog.quarantine_bars(batch, at=_utc(at))

    def quarantined_bars(
        self,
        *,
        symbol: str | None = None,
        status: QuarantineStatus | None = QuarantineStatus.PENDING,
        limit: int = 100,
    ) -> list[QuarantinedBar]:
        if limit < 1:
            return []
        return self.catalog.quarantined_bars(symbol=symbol, status=status, limit=limit)

    def get_quarantined_bars(self, ids: Sequence[str]) -> list[QuarantinedBar]:
        return self.catalog.get_quarantined_bars(ids)

    def correct_bars(
        self,
        bars: pa.Table,
        *,
        at: datetime,
        by: str,
        note: str,
        resolves: Sequence[str] = (),
        resolution: QuarantineStatus = QuarantineStatus.CORRECTED,
    ) -> WriteCounts:
        """See the port: every row available from ``at`` (a correction is never backdated); the quarantined
        rows ``resolves`` resolved with it, or nothing changes."""
        moment = _utc(at)
        batch = available_from(_conform(bars, BAR_SCHEMA), moment)
        ids = list(resolves)
        if ids:
            self.catalog.resolve_quarantined(ids, status=resolution, at=moment, by=by, note=note)
        try:
            return self.bars.write_bars(batch, ingested_at=moment)
        except BaseException:
            if ids:
                self.catalog.reopen_quarantined(ids, status=resolution, at=moment)
            raise

    def discard_quarantined_bars(self, ids: Sequence[str], *, at: datetime, by: str, note: str) -> None:
        self.catalog.resolve_quarantined(list(ids), status=QuarantineStatus.DISCARDED, at=_utc(at), by=by, note=note)

    # --- quotes ------------------------------------------------------------------------------------------

    def write_quotes(self, quotes: pa.Table, *, ingested_at: datetime) -> WriteCounts:
        return self.quotes.write_quotes(quotes, ingested_at=ingested_at)

    def latest_quote(self, symbol: str, *, as_of: datetime | None = None) -> Quote | None:
        return self.quotes.latest_quote(symbol, as_of=as_of)

    def read_quotes(
        self, symbol: str, *, start: datetime | None = None, end: datetime | None = None, as_of: datetime | None = None
    ) -> pd.DataFrame:
        return self.quotes.read_quotes(symbol, start=start, end=end, as_of=as_of)

    def apply_retention(self, now: datetime) -> RetentionResult:
        return self.quotes.apply_retention(now)

    def tier_counts(self) -> dict[str, int]:
        return self.quotes.tier_counts()

    # --- providers ---------------------------------------------------------------------------------------

    def ingested_files(self, provider: str) -> set[str]:
        return self.catalog.ingested_files(provider)

    def record_ingested_file(
        self, provider: str, file: ProviderFile, *, accepted: int, rejected: int, at: datetime
    ) -> None:
        self.catalog.record_ingested_file(provider, file, accepted=accepted, rejected=rejected, at=_utc(at))

    def close(self) -> None:
        """Nothing to release: the parts hold only shared clients."""
