"""Market data use cases: ingest bars and quotes through one validation, import files, load the sample, pull
from providers, and read bars, returns and quotes point in time.

Every ingest path ends in :meth:`MarketDataService._ingest_frame`: rows are validated as a whole (duplicates
and order are properties of the batch), the rejected ones reported with their row numbers and reasons; the
well-formed ones are screened for plausibility against the stored bars around them, the implausible ones held
in quarantine (:mod:`investai.services.market_quarantine`) and reported like the rejected ones, the rest
written; nothing is dropped silently. A batch in which no row is well-formed is refused with 422 and the
reasons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import BinaryIO, Literal

import numpy as np
import pandas as pd

from investai.analytics.returns import adjusted_closes
from investai.domain.access import Principal
from investai.domain.errors import NotFound, ValidationFailed
from investai.domain.market import (
    AssetClass,
    Bar,
    IngestReport,
    Interval,
    NothingAccepted,
    QuarantinedRow,
    Quote,
    RejectedRow,
    RetentionResult,
    SymbolInfo,
    WriteCounts,
)
from investai.ingest.market_files import read_bars
from investai.ingest.market_plausibility import PlausibilityRules
from investai.ingest.market_validation import bars_table, quotes_table, validate_bars, validate_quotes
from investai.observability.logging import get_logger
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.market import CompactableHistory, MarketDataProvider, ProviderFile, TimeSeriesStore
from investai.sample.market import SAMPLE_SOURCE, sample_bars, sample_symbols
from investai.services.auth_common import CallContext
from investai.services.market_quarantine import hold_rows, screen_ingest

log = get_logger(__name__)
SAMPLE_PROVIDER = "sample"
_SAMPLE_STARTED, _SAMPLE_COMPLETE = "sample-load-started", "sample-load-complete"

WRITE_BATCH_ROWS = 500_000
"""Accepted rows are written in batches of this many, so a long import reports progress as it goes (each batch
is a transaction; smaller ones cost a commit each)."""

Progress = Callable[[int, int], None]
"""Called with (rows written so far, rows to write)."""

ReturnKind = Literal["simple", "log"]


@dataclass(frozen=True)
class MarketLimits:
    auto_create_symbols: bool
    max_import_rows: int
    quote_max_age: timedelta
    quote_max_skew: timedelta
    plausibility: PlausibilityRules = field(default_factory=PlausibilityRules)


@dataclass(frozen=True)
class ReturnPoint:
    date: date
    value: float


@dataclass(frozen=True)
class BarCoverage:
    """The daily bars of a symbol visible at one moment: the first date, how many, and the latest bar."""

    first: date
    last: Bar
    count: int


class MarketDataService:
    def __init__(self, *, store: TimeSeriesStore, clock: Clock, audit: AuditLog, limits: MarketLimits) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._limits = limits

    # --- ingest ----------------------------------------------------------------------------------------------

    def ingest_bars(
        self,
        frame: pd.DataFrame,
        *,
        source: str,
        problems: dict[int, str] | None = None,
        history: bool = False,
        auto_create: bool | None = None,
        progress: Progress | None = None,
        plausibility: PlausibilityRules | None = None,
    ) -> IngestReport:
        """Validate and store bar rows (columns ``row, symbol, date, open, high, low, close, adj_close,
        volume``; ``problems`` maps a row to why its values could not be read). ``history``: the rows were
        public when their day ended (a backfill). ``plausibility``: this batch's bounds (a vendor's split)."""
        return self._ingest_frame(
            frame,
            problems=problems,
            source=source,
            history=history,
            auto_create=auto_create,
            progress=progress,
            plausibility=plausibility,
        )

    def import_bars(
        self,
        content: BinaryIO | bytes,
        *,
        symbol: str | None,
        source: str,
        history: bool = False,
        auto_create: bool | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        """CSV or Parquet content of bars (an uploaded stream, a provider's file), its columns recognised by name
        (see :mod:`investai.ingest.market_files`)."""
        data = content if isinstance(content, bytes) else content.read()
        parsed = read_bars(data, symbol=symbol, max_rows=self._limits.max_import_rows)
        return self._ingest_frame(
            parsed.frame,
            problems=parsed.problems,
            source=source,
            history=history,
            auto_create=auto_create,
            progress=progress,
        )

    def ingest_quotes(
        self, frame: pd.DataFrame, *, problems: dict[int, str] | None = None, auto_create: bool | None = None
    ) -> IngestReport:
        """Validate and store quotes (columns ``row, symbol, timestamp, price, size, bid, ask, source``)."""
        now = self._clock.now()
        create = self._limits.auto_create_symbols if auto_create is None else auto_create
        checked = validate_quotes(
            frame,
            problems=problems,
            known_symbols=self._store.known_symbols(_symbols_in(frame)),
            now=now,
            max_age=self._limits.quote_max_age,
            max_skew=self._limits.quote_max_skew,
            auto_create=create,
        )
        _refuse_if_nothing_accepted(len(frame), len(checked.accepted), checked.rejected)
        self._create_symbols(checked.new_symbols)
        counts = self._store.write_quotes(quotes_table(checked.accepted), ingested_at=now)
        return _report(len(frame), len(checked.accepted), counts, checked.rejected, checked.new_symbols)

    def _ingest_frame(
        self,
        frame: pd.DataFrame,
        *,
        problems: dict[int, str] | None,
        source: str,
        history: bool,
        auto_create: bool | None,
        progress: Progress | None,
        plausibility: PlausibilityRules | None = None,
    ) -> IngestReport:
        now = self._clock.now()
        create = self._limits.auto_create_symbols if auto_create is None else auto_create
        checked = validate_bars(
            frame,
            problems=problems,
            known_symbols=self._store.known_symbols(_symbols_in(frame)),
            today=now.date(),
            auto_create=create,
        )
        _refuse_if_nothing_accepted(len(frame), len(checked.accepted), checked.rejected)
        screened = screen_ingest(self._store, checked.accepted, plausibility or self._limits.plausibility)
        self._create_symbols(checked.new_symbols)
        held = hold_rows(self._store, screened.held, source=source, now=now)
        counts = self._write_in_batches(screened.plausible, source=source, history=history, now=now, progress=progress)
        report = _report(len(frame), len(screened.plausible), counts, checked.rejected, checked.new_symbols, held)
        log.info(
            "market.bars_ingested",
            source=source,
            received=report.received,
            accepted=report.accepted,
            inserted=report.inserted,
            updated=report.updated,
            rejected=len(report.rejected),
            quarantined=len(report.quarantined),
        )
        return report

    def _write_in_batches(
        self, accepted: pd.DataFrame, *, source: str, history: bool, now: datetime, progress: Progress | None
    ) -> WriteCounts:
        """Batches of :data:`WRITE_BATCH_ROWS` (the accepted rows are sorted by symbol and date)."""
        total = len(accepted)
        inserted = updated = unchanged = 0
        for start in range(0, total, WRITE_BATCH_ROWS):
            batch = accepted.iloc[start : start + WRITE_BATCH_ROWS]
            counts = self._store.write_bars(
                bars_table(batch, source=source, ingested_at=now, history=history), ingested_at=now
            )
            inserted, updated, unchanged = (
                inserted + counts.inserted,
                updated + counts.updated,
                unchanged + counts.unchanged,
            )
            if progress is not None:
                progress(min(total, start + WRITE_BATCH_ROWS), total)
        if progress is not None and total == 0:
            progress(0, 0)
        return WriteCounts(inserted=inserted, updated=updated, unchanged=unchanged)

    def _create_symbols(self, symbols: Sequence[str]) -> None:
        if symbols:
            self._store.upsert_symbols([SymbolInfo(symbol=s, name=s, asset_class=AssetClass.OTHER) for s in symbols])

    # --- sample and providers --------------------------------------------------------------------------------

    def load_sample(self, progress: Progress | None = None) -> IngestReport:
        """The bundled sample history (see :mod:`investai.sample.market`); loading it again changes nothing."""
        self._store.upsert_symbols(sample_symbols())
        return self.ingest_bars(sample_bars(), source=SAMPLE_SOURCE, history=True, auto_create=False, progress=progress)

    def ensure_sample_loaded(self) -> IngestReport | None:
        """Load the sample into a store that holds no bars at all, or finish a load that a crash interrupted
        (loading is idempotent); ``None`` when there was nothing to do. The store's provider bookkeeping records
        when a load starts and when it is complete, so a partial sample is never mistaken for a loaded one."""
        marks = self._store.ingested_files(SAMPLE_PROVIDER)
        if _SAMPLE_COMPLETE in marks:
            return None
        if _SAMPLE_STARTED not in marks:
            if self._store.bar_symbols():
                return None  # a store holding other data (or loaded before the marks existed) stays as it is
            self._mark_sample(_SAMPLE_STARTED, accepted=0)
        report = self.load_sample()
        self._mark_sample(_SAMPLE_COMPLETE, accepted=report.accepted)
        return report

    def _mark_sample(self, mark: str, *, accepted: int) -> None:
        file = ProviderFile(name=mark, fingerprint=mark)
        self._store.record_ingested_file(SAMPLE_PROVIDER, file, accepted=accepted, rejected=0, at=self._clock.now())

    def refresh(self, provider: MarketDataProvider) -> list[tuple[str, IngestReport | str]]:
        """Ingest every file the provider offers that was not ingested before. A file that cannot be read is
        reported and skipped (and retried on the next refresh once it changes); the others still go in."""
        outcomes: list[tuple[str, IngestReport | str]] = []
        for file in provider.pending(self._store.ingested_files(provider.name)):
            try:
                content = provider.read(file)
                report = self.import_bars(content, symbol=file.symbol, source=f"{provider.name}:{file.name}")
            except ValidationFailed as exc:
                log.warning("market.refresh_file_refused", provider=provider.name, file=file.name, reason=str(exc))
                outcomes.append((file.name, str(exc)))
                rejected = getattr(exc, "details", None)
                self._store.record_ingested_file(
                    provider.name, file, accepted=0, rejected=len(rejected or []), at=self._clock.now()
                )
                continue
            self._store.record_ingested_file(
                provider.name, file, accepted=report.accepted, rejected=len(report.rejected), at=self._clock.now()
            )
            outcomes.append((file.name, report))
        return outcomes

    @property
    def plausibility(self) -> PlausibilityRules:
        return self._limits.plausibility

    @property
    def compactable(self) -> bool:
        """Whether the store's history is merged by a scheduled compaction (see :meth:`compact_history`)."""
        return isinstance(self._store, CompactableHistory)

    def compact_history(self) -> int:
        """Merge the bar history's small files where the store keeps them (S3 Parquet); 0 elsewhere."""
        if not isinstance(self._store, CompactableHistory):
            return 0
        merged = self._store.compact_bars()
        log.info("market.compaction", symbols=merged)
        return merged

    def apply_retention(self) -> RetentionResult:
        result = self._store.apply_retention(self._clock.now())
        log.info("market.retention", moved=result.moved, expired=result.expired)
        return result

    def upsert_symbols(self, symbols: Sequence[SymbolInfo]) -> int:
        return self._store.upsert_symbols(symbols)

    # --- reads -----------------------------------------------------------------------------------------------

    def symbols(
        self,
        *,
        query: str | None = None,
        sector: str | None = None,
        asset_class: AssetClass | None = None,
        limit: int = 100,
    ) -> list[SymbolInfo]:
        return self._store.find_symbols(query=query, sector=sector, asset_class=asset_class, limit=limit)

    def symbol(self, symbol: str) -> SymbolInfo:
        found = self._store.get_symbol(symbol.strip().upper())
        if found is None:
            raise NotFound(f"unknown symbol {symbol.strip().upper()!r}")
        return found

    def bar_frame(
        self,
        symbol: str,
        *,
        start: date | None = None,
        end: date | None = None,
        interval: Interval = Interval.DAILY,
        as_of: datetime | None = None,
    ) -> pd.DataFrame:
        """Bars as a DataFrame (columns :data:`investai.ports.market.BAR_COLUMNS`), for analytics."""
        info = self.symbol(symbol)
        check_range(start, end)
        return self._store.read_bars(info.symbol, start=start, end=end, interval=interval, as_of=as_of)

    def bars(
        self,
        symbol: str,
        *,
        start: date | None = None,
        end: date | None = None,
        interval: Interval = Interval.DAILY,
        as_of: datetime | None = None,
    ) -> list[Bar]:
        frame = self.bar_frame(symbol, start=start, end=end, interval=interval, as_of=as_of)
        return [_bar(record) for record in frame.to_dict("records")]

    def returns(
        self,
        symbol: str,
        *,
        start: date | None = None,
        end: date | None = None,
        interval: Interval = Interval.DAILY,
        as_of: datetime | None = None,
        kind: ReturnKind = "simple",
    ) -> list[ReturnPoint]:
        """Period returns from the adjusted close (the close where no adjusted close exists), one per bar
        after the first in the range: simple ``p_t / p_{t-1} - 1`` or log ``ln(p_t / p_{t-1})``."""
        frame = self.bar_frame(symbol, start=start, end=end, interval=interval, as_of=as_of)
        prices = adjusted_closes(frame).to_numpy(dtype=float)
        if len(prices) < 2:
            return []
        ratio = prices[1:] / prices[:-1]
        values = np.log(ratio) if kind == "log" else ratio - 1.0
        dates = [_as_date(value) for value in frame["date"].iloc[1:]]
        return [ReturnPoint(date=day, value=float(value)) for day, value in zip(dates, values, strict=True)]

    def coverage(self, symbol: str, *, as_of: datetime | None = None) -> BarCoverage | None:
        """The span of the daily bars of ``symbol`` visible as of ``as_of`` (everything stored when ``None``);
        ``None`` when there is no bar."""
        frame = self.bar_frame(symbol, as_of=as_of)
        if frame.empty:
            return None
        latest = _bar(frame.iloc[-1].to_dict())
        return BarCoverage(first=_as_date(frame["date"].iloc[0]), last=latest, count=len(frame))

    def quote(self, symbol: str, *, as_of: datetime | None = None) -> Quote:
        info = self.symbol(symbol)
        found = self._store.latest_quote(info.symbol, as_of=as_of)
        if found is None:
            raise NotFound(f"no quote for {info.symbol}" + (f" as of {as_of.isoformat()}" if as_of else ""))
        return found

    def tier_counts(self) -> dict[str, int]:
        return self._store.tier_counts()

    def record_ingest(self, principal: Principal, ctx: CallContext, action: str, report: IngestReport) -> None:
        """Audit an ingest by a user (what arrived, what was kept)."""
        self._audit.append(
            action=action,
            actor_id=principal.user_id,
            organisation_id=principal.organisation_id,
            resource_type="market_data",
            ip=ctx.ip,
            request_id=ctx.request_id,
            details={
                "received": report.received,
                "accepted": report.accepted,
                "rejected": len(report.rejected),
                "quarantined": len(report.quarantined),
            },
        )


def _symbols_in(frame: pd.DataFrame) -> Iterable[str]:
    if "symbol" not in frame.columns:
        return []
    return {str(value).strip().upper() for value in frame["symbol"].dropna().unique()}


def _refuse_if_nothing_accepted(received: int, accepted: int, rejected: list[RejectedRow]) -> None:
    if received == 0:
        raise ValidationFailed("no rows were given")
    if accepted == 0:
        raise NothingAccepted(f"all {received} rows were rejected; see details for each row's reason", rejected)


def _report(
    received: int,
    accepted: int,
    counts: WriteCounts,
    rejected: list[RejectedRow],
    created: Sequence[str],
    quarantined: Sequence[QuarantinedRow] = (),
) -> IngestReport:
    return IngestReport(
        received=received,
        accepted=accepted,
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        rejected=rejected,
        quarantined=list(quarantined),
        symbols_created=list(created),
    )


def check_range(start: date | None, end: date | None) -> None:
    """Refuse a date range that ends before it starts."""
    if start is not None and end is not None and start > end:
        raise ValidationFailed("start must not be after end")


def _as_date(value: object) -> date:
    if isinstance(value, pd.Timestamp | datetime):
        day: date = value.date()
        return day
    if isinstance(value, date):
        return value
    parsed: date = pd.Timestamp(str(value)).date()
    return parsed


def finite_or_none(value: object) -> float | None:
    """A number for JSON: ``None`` for a missing, NaN or infinite value."""
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _bar(record: dict[str, object]) -> Bar:
    close = finite_or_none(record["close"])
    return Bar(
        date=_as_date(record["date"]),
        open=finite_or_none(record["open"]),
        high=finite_or_none(record["high"]),
        low=finite_or_none(record["low"]),
        close=close if close is not None else float("nan"),
        adj_close=finite_or_none(record["adj_close"]),
        volume=finite_or_none(record["volume"]),
    )


def parse_as_of(value: str | None) -> datetime | None:
    """An ``as_of`` query value: an ISO date, meaning the end of that day (the UTC midnight that closes it, when
    the day's bars have become available), or an ISO datetime (naive = UTC)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(f"as_of {text[:40]!r} is not an ISO date or datetime") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_BAR_FIELDS = ["symbol", "date", "open", "high", "low", "close", "adj_close", "volume"]
_QUOTE_FIELDS = ["symbol", "timestamp", "price", "size", "bid", "ask", "source"]


def bar_frame_from_rows(rows: Sequence[dict[str, object]]) -> tuple[pd.DataFrame, dict[int, str]]:
    """Bars given as records (the JSON API) as a frame for :meth:`MarketDataService.ingest_bars`, and the rows
    whose date could not be read. Numbers arrive typed; dates are ISO strings."""
    frame = pd.DataFrame(list(rows), columns=_BAR_FIELDS)
    frame.insert(0, "row", np.arange(1, len(frame) + 1, dtype=np.int64))
    raw = frame["date"]
    parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce", utc=True)
    frame["date"] = parsed.dt.tz_convert(None).dt.normalize()
    for column in _BAR_FIELDS[2:]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame, _unreadable(frame["row"], raw, parsed, "date", "an ISO date")


def quote_frame_from_rows(rows: Sequence[dict[str, object]]) -> tuple[pd.DataFrame, dict[int, str]]:
    """Quotes given as records as a frame for :meth:`MarketDataService.ingest_quotes` (timestamps UTC; a
    naive one is taken as UTC), and the rows whose timestamp could not be read."""
    frame = pd.DataFrame(list(rows), columns=_QUOTE_FIELDS)
    frame.insert(0, "row", np.arange(1, len(frame) + 1, dtype=np.int64))
    raw = frame["timestamp"]
    parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce", utc=True)
    frame["timestamp"] = parsed
    for column in ("price", "size", "bid", "ask"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame, _unreadable(frame["row"], raw, parsed, "timestamp", "an ISO datetime")


def _unreadable(rows: pd.Series, raw: pd.Series, parsed: pd.Series, name: str, expected: str) -> dict[int, str]:
    bad = raw.notna() & parsed.isna()
    return {
        int(row): f"{name} {str(value)[:40]!r} is not {expected}"
        for row, value in zip(rows[bad], raw[bad], strict=True)
    }
