"""Market data: the symbol master, daily bars, real-time quotes and what an ingest reports back.

Point in time. Every bar carries two moments besides its date: ``ingested_at``, when this system stored it,
and ``available_at``, when its values became knowable. A read ``as_of`` T returns only bars dated on or
before T whose values were available at T, in the version that was current at T, so a computation as of T
can never see a later price or a later correction. For ordinary ingests ``available_at`` is the ingest time:
nothing ingested after T is returned. A *history* load (the bundled sample, a vendor backfill) declares that
its rows were public when their day ended, so each first-time row becomes available at the end of its own
date (or at ingest, if that is earlier); without that, history loaded today could never be replayed as of
a past date, and walk-forward evaluation would be impossible. Corrections are never backdated: a changed
value is available from the moment it is ingested, and the value it replaces stays readable as of earlier
moments.

Quarantine. A row that is well-formed but implausible (a price or volume beyond its limit, a jump against the
neighbouring closes, an oversized change of a stored bar) is neither stored nor rejected: it is held with its
reason for review. An administrator releases it as submitted, corrects the bar, or discards it; a release or
correction is a correction like any other (available from its own moment, never backdated).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field

from investai.domain.common import DomainModel, UtcDatetime
from investai.domain.errors import Conflict, StoreUnavailable, ValidationFailed


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


Ticker = Annotated[
    str,
    BeforeValidator(_upper),
    Field(min_length=1, max_length=20, pattern=r"^[A-Z0-9^][A-Z0-9.^=\-]{0,19}$"),
]
"""A symbol as exchanges and vendors write it (``AAPL``, ``BRK.B``, ``^GSPC``), upper-cased."""
TICKER_PATTERN = r"^[A-Z0-9^][A-Z0-9.^=\-]{0,19}$"


class AssetClass(StrEnum):
    EQUITY = "equity"
    ETF = "etf"
    INDEX = "index"
    FX = "fx"
    CRYPTO = "crypto"
    BOND = "bond"
    COMMODITY = "commodity"
    OTHER = "other"


class Interval(StrEnum):
    """Bar periodicity. Weekly bars run Monday to Sunday and monthly bars by calendar month; each is dated by
    the last trading day it contains, so no bar carries a date later than its data."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class SymbolInfo(DomainModel):
    """One entry of the symbol master."""

    symbol: Ticker
    name: str = Field(min_length=1, max_length=200)
    asset_class: AssetClass = AssetClass.EQUITY
    sector: str | None = Field(default=None, max_length=100)
    industry: str | None = Field(default=None, max_length=100)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    exchange: str | None = Field(default=None, max_length=50)
    benchmark: Ticker | None = None


class Bar(DomainModel):
    """One bar as read back. Prices in the symbol's currency; volume in shares (``None`` where the source
    gave none). ``adj_close`` is adjusted for splits and dividends where the source provides it."""

    date: date
    open: float | None
    high: float | None
    low: float | None
    close: float
    adj_close: float | None
    volume: float | None


class Quote(DomainModel):
    """One real-time trade or quote print."""

    symbol: Ticker
    timestamp: UtcDatetime
    price: float = Field(gt=0)
    size: float | None = Field(default=None, ge=0)
    bid: float | None = Field(default=None, gt=0)
    ask: float | None = Field(default=None, gt=0)
    source: str = Field(default="api", min_length=1, max_length=64)


class RejectedRow(DomainModel):
    """A row that was not stored, and why. ``row`` counts the submitted rows from 1 (for a file, the data
    rows after the header: line ``row + 1`` of a CSV)."""

    row: int = Field(ge=1)
    reason: str
    symbol: str | None = None
    date: str | None = None


class QuarantinedRow(RejectedRow):
    """A well-formed row that broke a plausibility rule: not stored as a bar, but held in quarantine under
    ``id`` for an administrator to release, correct or discard."""

    id: str = Field(min_length=1, max_length=64)


class IngestReport(DomainModel):
    """What one ingest did with every submitted row: each is accepted (inserted, updated or unchanged),
    rejected (malformed: it cannot be a bar) or quarantined (a well-formed bar that is implausible: a price
    or volume beyond its limit, a jump against the neighbouring closes, an oversized change of a stored bar),
    each of the last two with its reason. Nothing is dropped silently."""

    received: int = Field(ge=0)
    accepted: int = Field(ge=0)
    inserted: int = Field(ge=0)
    updated: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    rejected: list[RejectedRow] = Field(default_factory=list)
    quarantined: list[QuarantinedRow] = Field(default_factory=list)
    symbols_created: list[str] = Field(default_factory=list)


class QuarantineStatus(StrEnum):
    """Where a quarantined row stands: waiting for review, stored as it was, stored with an administrator's
    values instead, or thrown away."""

    PENDING = "pending"
    RELEASED = "released"
    CORRECTED = "corrected"
    DISCARDED = "discarded"


class QuarantinedBar(DomainModel):
    """A row held in quarantine: its values as submitted, why it was held, and its review. Quarantined rows are
    never read as bars, so no read, analysis or idea sees them."""

    id: str
    symbol: str
    date: date
    open: float | None
    high: float | None
    low: float | None
    close: float
    adj_close: float | None
    volume: float | None
    source: str
    reason: str
    quarantined_at: UtcDatetime
    status: QuarantineStatus = QuarantineStatus.PENDING
    resolved_at: UtcDatetime | None = None
    resolved_by: str | None = None
    note: str | None = None


class BarChange(DomainModel):
    """One bar an explicit correction wrote: the version it replaced (``None`` for a new date) and the new one."""

    symbol: str
    date: date
    before: Bar | None
    after: Bar


class CorrectionReport(DomainModel):
    """What an explicit correction (or the release of quarantined rows) wrote, from which moment it is
    visible (earlier moments still read the versions it replaced), and which quarantined rows it resolved."""

    corrected_at: UtcDatetime
    inserted: int = Field(ge=0)
    updated: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    resolved: list[str] = Field(default_factory=list)
    changes: list[BarChange] = Field(default_factory=list)


class WriteCounts(DomainModel):
    """What a store write did with the (already valid) rows it was given."""

    inserted: int = Field(ge=0)
    updated: int = Field(ge=0)
    unchanged: int = Field(ge=0)


class RetentionResult(DomainModel):
    """Quotes moved from the memory tier to the magnetic tier, and quotes expired from the magnetic tier."""

    moved: int = Field(ge=0)
    expired: int = Field(ge=0)


class NothingAccepted(ValidationFailed):
    """Every submitted row was rejected; ``details`` lists each with its reason."""

    code = "rows_rejected"

    def __init__(self, message: str, rejected: list[RejectedRow]) -> None:
        super().__init__(message)
        self.details = [row.model_dump(mode="json") for row in rejected[:1000]]


class QuarantineResolved(Conflict):
    """A quarantined row that was already released, corrected or discarded (by someone else, meanwhile)."""

    code = "quarantine_resolved"


class UnreadableMarketFile(ValidationFailed):
    """A market data file that cannot be read as bars at all (wrong format, no date or price column)."""

    code = "unreadable_market_file"


class MarketStoreBusy(StoreUnavailable):
    """The market store is held by another process (the embedded store allows one writer at a time)."""

    code = "market_store_busy"
