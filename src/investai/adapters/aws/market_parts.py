"""The parts the AWS shape's market store is composed of (:mod:`investai.adapters.aws.market_store`).

The embedded shape keeps the whole :class:`~investai.ports.market.TimeSeriesStore` in one DuckDB file. On AWS
each part lives where it fits: bar history as Parquet in S3 (:mod:`~investai.adapters.aws.s3_bars`), quotes in
DynamoDB with TTL tiers or in Timestream for LiveAnalytics, and the small transactional catalog (symbol master,
quarantine, providers' files) in one DynamoDB table. Each part implements its slice of the port with the
port's own semantics; the composite runs the contract suite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

import pandas as pd
import pyarrow as pa

from investai.domain.market import (
    AssetClass,
    QuarantinedBar,
    QuarantineStatus,
    Quote,
    RetentionResult,
    SymbolInfo,
    WriteCounts,
)
from investai.ports.market import ProviderFile


class QuoteTiers(Protocol):
    """Real-time quotes in a memory tier (the last ``memory_retention``) and a magnetic tier (until
    ``magnetic_retention``), with :class:`~investai.ports.market.TimeSeriesStore`'s quote semantics."""

    def write_quotes(self, quotes: pa.Table, *, ingested_at: datetime) -> WriteCounts: ...

    def latest_quote(self, symbol: str, *, as_of: datetime | None = None) -> Quote | None: ...

    def read_quotes(
        self, symbol: str, *, start: datetime | None = None, end: datetime | None = None, as_of: datetime | None = None
    ) -> pd.DataFrame: ...

    def apply_retention(self, now: datetime) -> RetentionResult: ...

    def tier_counts(self) -> dict[str, int]: ...

    def check(self) -> None:
        """Raise if the backing service cannot be reached (a readiness probe)."""
        ...


class MarketCatalog(Protocol):
    """The symbol master, the quarantine and the providers' bookkeeping."""

    def upsert_symbols(self, symbols: Sequence[SymbolInfo]) -> int: ...

    def get_symbol(self, symbol: str) -> SymbolInfo | None: ...

    def find_symbols(
        self,
        *,
        query: str | None = None,
        sector: str | None = None,
        asset_class: AssetClass | None = None,
        limit: int = 100,
    ) -> list[SymbolInfo]: ...

    def known_symbols(self, symbols: Iterable[str]) -> set[str]: ...

    def quarantine_bars(self, rows: pa.Table, *, at: datetime) -> list[str]: ...

    def quarantined_bars(
        self,
        *,
        symbol: str | None = None,
        status: QuarantineStatus | None = QuarantineStatus.PENDING,
        limit: int = 100,
    ) -> list[QuarantinedBar]: ...

    def get_quarantined_bars(self, ids: Sequence[str]) -> list[QuarantinedBar]: ...

    def resolve_quarantined(
        self, ids: Sequence[str], *, status: QuarantineStatus, at: datetime, by: str, note: str
    ) -> None:
        """Mark the pending rows ``ids`` resolved as ``status``, all or none (one transaction); raise
        :class:`~investai.domain.market.QuarantineResolved`, changing nothing, when one is not pending."""
        ...

    def reopen_quarantined(self, ids: Sequence[str], *, status: QuarantineStatus, at: datetime) -> None:
        """Undo :meth:`resolve_quarantined` of exactly these rows (those still resolved as ``status`` at ``at``):
        the composite calls it when the bar write that was to go with a correction failed."""
        ...

    def ingested_files(self, provider: str) -> set[str]: ...

    def record_ingested_file(
        self, provider: str, file: ProviderFile, *, accepted: int, rejected: int, at: datetime
    ) -> None: ...

    def check(self) -> None: ...
