"""Market-data vendor feeds: daily bars and latest quotes pulled over a vendor's HTTP API.

A feed answers one standard query (:class:`FeedQuery`: a symbol and a date window) with standard rows
(:class:`DailyBarRow`, :class:`QuoteRow`), whatever the vendor's own parameters and JSON look like. Rows a
feed could not read are kept in their place as :class:`UnreadableRow` with the reason, so an ingest reports
them against their row numbers while the others still go in.

A feed signals what went wrong for the whole request with a :class:`FeedError` subclass (its message never
holds a key or a URL with one): the service records it as that symbol's outcome and carries on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol


@dataclass(frozen=True)
class FeedQuery:
    """Daily bars of ``symbol`` dated within [``start``, ``end``]. ``incremental``: the window continues bars
    already stored, so a split inside it must be reported (a full-history fetch is adjusted as a whole)."""

    symbol: str
    start: date
    end: date
    incremental: bool = False


@dataclass(frozen=True)
class DailyBarRow:
    """One day of a vendor's bars. ``split_factor``: shares after / shares before a split on that day (1.0:
    none); ``dividend``: the cash dividend going ex on that day."""

    date: date
    close: float
    open: float | None = None
    high: float | None = None
    low: float | None = None
    adj_close: float | None = None
    volume: float | None = None
    split_factor: float = 1.0
    dividend: float = 0.0


@dataclass(frozen=True)
class UnreadableRow:
    """A row of the vendor's payload that could not be read as a bar or a quote, and why."""

    reason: str
    date: str | None = None
    symbol: str | None = None


@dataclass(frozen=True)
class Split:
    date: date
    factor: float
    """Shares after / shares before (4.0 for a 4-for-1 split, 0.1 for a 1-for-10 reverse split)."""


@dataclass(frozen=True)
class BarBatch:
    """What a feed returned for one :class:`FeedQuery`: rows in the vendor's order (unreadable ones in place),
    the splits it reports within the window, and how many HTTP requests it took."""

    symbol: str
    rows: Sequence[DailyBarRow | UnreadableRow]
    splits: Sequence[Split] = ()
    requests: int = 0

    @property
    def bars(self) -> list[DailyBarRow]:
        return [row for row in self.rows if isinstance(row, DailyBarRow)]


@dataclass(frozen=True)
class QuoteRow:
    symbol: str
    timestamp: datetime
    price: float
    size: float | None = None
    bid: float | None = None
    ask: float | None = None


@dataclass(frozen=True)
class QuoteBatch:
    rows: Sequence[QuoteRow | UnreadableRow] = field(default_factory=list)
    requests: int = 0


class FeedError(Exception):
    """A request for one symbol (or one quote batch) that produced no usable payload."""

    kind = "failed"


class FeedNotConfigured(FeedError):
    """The vendor's API key is not in the secret store."""

    kind = "not_configured"


class FeedRateLimited(FeedError):
    """The vendor kept answering "too many requests", or the local request budget would wait too long."""

    kind = "rate_limited"


class FeedUnavailable(FeedError):
    """Server errors or timeouts outlasted the retries."""

    kind = "unavailable"


class FeedRefused(FeedError):
    """The vendor refused the request (an unknown symbol, a key it does not accept, a plan without access)."""

    kind = "refused"


class FeedPayloadInvalid(FeedError):
    """The answer is not what the vendor documents (not JSON, or a different shape)."""

    kind = "invalid_payload"


class FeedUnsupported(FeedError):
    """The vendor offers no such data (latest quotes, say) through this feed."""

    kind = "unsupported"


class MarketFeed(Protocol):
    """One vendor's feed."""

    @property
    def name(self) -> str:
        """The vendor's name in settings and outcomes (``polygon``, ``tiingo``)."""
        ...

    @property
    def configured(self) -> bool:
        """Whether the vendor's API key is in the secret store."""
        ...

    @property
    def supports_quotes(self) -> bool: ...

    def daily_bars(self, query: FeedQuery) -> BarBatch:
        """The vendor's daily bars for the query; raises :class:`FeedError` when there is no usable answer."""
        ...

    def latest_quotes(self, symbols: Sequence[str]) -> QuoteBatch:
        """The latest quote of each symbol the vendor knows; :class:`FeedUnsupported` where it has none."""
        ...

    def close(self) -> None:
        """Release the feed's connections."""
        ...
