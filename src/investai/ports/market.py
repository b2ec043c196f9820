"""Market data ports: the time-series store (DuckDB here, Timestream on AWS) and the providers that feed it.

Rows cross these ports as Arrow tables (bulk writes) and pandas DataFrames (reads, which analytics consume).
Writes take rows that have already passed validation (:mod:`investai.ingest.market_validation`); a store
still refuses a batch that breaks its own invariants (a duplicate key, a missing column) with ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import pandas as pd
import pyarrow as pa

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

_BAR_VALUES = [
    pa.field("symbol", pa.string(), nullable=False),
    pa.field("date", pa.date32(), nullable=False),
    pa.field("open", pa.float64()),
    pa.field("high", pa.float64()),
    pa.field("low", pa.float64()),
    pa.field("close", pa.float64(), nullable=False),
    pa.field("adj_close", pa.float64()),
    pa.field("volume", pa.float64()),
    pa.field("source", pa.string(), nullable=False),
]

BAR_SCHEMA = pa.schema([*_BAR_VALUES, pa.field("available_at", pa.timestamp("us", tz="UTC"), nullable=False)])
"""A batch of bars to write. ``available_at`` is when the row's values became knowable (see
:mod:`investai.domain.market`); for a row that replaces a different stored value, the store uses the write's
``ingested_at`` instead, so corrections are never backdated."""

BAR_COLUMNS = ["date", "open", "high", "low", "close", "adj_close", "volume"]
"""The columns of a bar read, in order (``date`` as ``datetime.date``, the rest float, missing as NaN)."""

NEIGHBOUR_COLUMNS = ["symbol", *BAR_COLUMNS]
"""The columns of :meth:`TimeSeriesStore.bar_neighbours` (as a bar read, with the symbol first)."""

QUARANTINE_SCHEMA = pa.schema(
    [pa.field("id", pa.string(), nullable=False), *_BAR_VALUES, pa.field("reason", pa.string(), nullable=False)]
)
"""A batch of rows to hold in quarantine: a bar's values, the id to hold it under and why it is held."""

QUOTE_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("size", pa.float64()),
        pa.field("bid", pa.float64()),
        pa.field("ask", pa.float64()),
        pa.field("source", pa.string(), nullable=False),
    ]
)

QUOTE_COLUMNS = ["timestamp", "price", "size", "bid", "ask", "source"]


class TimeSeriesStore(Protocol):
    """Daily bars with point-in-time versions, tiered real-time quotes and the symbol master."""

    # --- symbol master ---------------------------------------------------------------------------------------

    def upsert_symbols(self, symbols: Sequence[SymbolInfo]) -> int:
        """Insert or replace master entries by symbol; the number written."""
        ...

    def get_symbol(self, symbol: str) -> SymbolInfo | None: ...

    def find_symbols(
        self,
        *,
        query: str | None = None,
        sector: str | None = None,
        asset_class: AssetClass | None = None,
        limit: int = 100,
    ) -> list[SymbolInfo]:
        """Master entries whose symbol or name contains ``query`` (case-insensitive), optionally of one sector
        (case-insensitive) and asset class, ordered by symbol."""
        ...

    def known_symbols(self, symbols: Iterable[str]) -> set[str]:
        """Which of ``symbols`` are in the master."""
        ...

    # --- daily bars ------------------------------------------------------------------------------------------

    def write_bars(self, bars: pa.Table, *, ingested_at: datetime) -> WriteCounts:
        """Upsert on (symbol, date), atomically. A row equal to the stored one (same prices, volume and source)
        changes nothing; a different one becomes the current version, available from ``ingested_at``, and the
        version it replaces stays readable as of earlier moments. ``bars`` follows :data:`BAR_SCHEMA`."""
        ...

    def read_bars(
        self,
        symbol: str,
        *,
        start: date | None = None,
        end: date | None = None,
        interval: Interval = Interval.DAILY,
        as_of: datetime | None = None,
    ) -> pd.DataFrame:
        """Bars of one symbol dated within [start, end], oldest first, columns :data:`BAR_COLUMNS`.

        ``as_of``: only bars dated on or before it whose values were available at it, each in the version
        current at it. Weekly and monthly bars aggregate the daily bars that pass those filters: first open,
        highest high, lowest low, last close and adjusted close, summed volume, dated by their last day.
        """
        ...

    def bar_range(self, symbol: str) -> tuple[date, date, int] | None:
        """(first date, last date, number of bars) currently stored for ``symbol``, or ``None``."""
        ...

    def bar_symbols(self) -> list[str]:
        """Symbols that have at least one bar."""
        ...

    def bar_neighbours(self, spans: Sequence[tuple[str, date, date]]) -> pd.DataFrame:
        """For each (symbol, first, last): the current bars of the symbol dated within [first, last], the last
        one before ``first`` and the first one after ``last``; columns :data:`NEIGHBOUR_COLUMNS` (dates as
        ``datetime.date``), by symbol then date. What the plausibility rules measure an ingest against."""
        ...

    # --- quarantine and explicit corrections -----------------------------------------------------------------

    def quarantine_bars(self, rows: pa.Table, *, at: datetime) -> list[str]:
        """Hold ``rows`` (:data:`QUARANTINE_SCHEMA`) pending review, apart from the bars: no bar read returns
        them. A row equal to one already pending (same symbol, date, values and source) is not held twice.
        Returns the id each row is held under, in order (the pending row's for such a repeat)."""
        ...

    def quarantined_bars(
        self,
        *,
        symbol: str | None = None,
        status: QuarantineStatus | None = QuarantineStatus.PENDING,
        limit: int = 100,
    ) -> list[QuarantinedBar]:
        """Held rows, newest first (then by symbol and date), optionally of one symbol and one status
        (``None``: every status)."""
        ...

    def get_quarantined_bars(self, ids: Sequence[str]) -> list[QuarantinedBar]:
        """The held rows with these ids, in the order given; unknown ids are left out."""
        ...

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
        """An explicit correction, in one transaction: upsert ``bars`` (:data:`BAR_SCHEMA`; their
        ``available_at`` is ignored) as :meth:`write_bars` does, every new or changed row available from ``at``
        (never earlier), the versions they replace kept for reads as of earlier moments; and mark the pending
        held rows ``resolves`` as ``resolution`` at ``at`` by ``by`` with ``note``. Raises
        :class:`~investai.domain.market.QuarantineResolved`, changing nothing, when one of them is not pending."""
        ...

    def discard_quarantined_bars(self, ids: Sequence[str], *, at: datetime, by: str, note: str) -> None:
        """Mark the pending held rows ``ids`` discarded, in one transaction; raises
        :class:`~investai.domain.market.QuarantineResolved`, changing nothing, when one of them is not pending."""
        ...

    # --- real-time quotes ------------------------------------------------------------------------------------

    def write_quotes(self, quotes: pa.Table, *, ingested_at: datetime) -> WriteCounts:
        """Upsert on (symbol, timestamp) into the tier the quote's age belongs to. ``quotes`` follows
        :data:`QUOTE_SCHEMA`; quotes older than the magnetic tier's retention must not be given."""
        ...

    def latest_quote(self, symbol: str, *, as_of: datetime | None = None) -> Quote | None:
        """The newest quote stamped and ingested on or before ``as_of`` (now when ``None``), from either tier."""
        ...

    def read_quotes(
        self, symbol: str, *, start: datetime | None = None, end: datetime | None = None, as_of: datetime | None = None
    ) -> pd.DataFrame:
        """Quotes within [start, end] from both tiers, oldest first, columns :data:`QUOTE_COLUMNS`."""
        ...

    def apply_retention(self, now: datetime) -> RetentionResult:
        """Move quotes older than the memory tier's retention to the magnetic tier and delete quotes older
        than the magnetic tier's retention, in one transaction."""
        ...

    def tier_counts(self) -> dict[str, int]:
        """Quotes held per tier: ``{"memory": n, "magnetic": m}``."""
        ...

    # --- provider bookkeeping -------------------------------------------------------------------------------

    def ingested_files(self, provider: str) -> set[str]:
        """Fingerprints of the files this provider's refresh has already ingested."""
        ...

    def record_ingested_file(
        self, provider: str, file: ProviderFile, *, accepted: int, rejected: int, at: datetime
    ) -> None:
        """Remember that ``file`` was ingested (idempotent on its fingerprint)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class CompactableHistory(Protocol):
    """A store whose bar history is written as many small immutable files (S3 Parquet) and is merged by a
    scheduled job; a store that rewrites in place (DuckDB) has nothing to compact."""

    def compact_bars(self) -> int:
        """Merge the history files of every symbol that has too many; the number of symbols merged."""
        ...


@dataclass(frozen=True)
class ProviderFile:
    """One unit of new data a provider offers: a file of bars, identified by a fingerprint of its content."""

    name: str
    fingerprint: str
    symbol: str | None = None
    """The symbol for files without a symbol column (taken from the file name by the directory provider)."""


class MarketDataProvider(Protocol):
    """A source of bar files that the scheduled refresh pulls through the same validation as uploads."""

    @property
    def name(self) -> str: ...

    def pending(self, seen: set[str]) -> Iterator[ProviderFile]:
        """Files whose fingerprint is not in ``seen``, oldest first."""
        ...

    def read(self, file: ProviderFile) -> bytes:
        """The content of a file :meth:`pending` offered; ``ValidationFailed`` if it is gone or has changed
        since (it is offered again, with its new fingerprint, next time)."""
        ...
