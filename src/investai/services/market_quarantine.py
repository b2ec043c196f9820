"""Implausible market data: the screen every bar ingest passes through, and the explicit review of what it
held back.

Screening (:func:`screen_ingest`, :func:`hold_rows`): validated rows are measured against the plausibility
rules (:mod:`investai.ingest.market_plausibility`) and the stored bars around them; the rows that break one are
held in the store's quarantine with their reason, never written as bars, and reported per row.

Review (:class:`MarketReview`): quarantined rows are listed by anyone who may write market data; releasing
them as they are, discarding them or writing an explicit correction of any bar needs the ``market:admin``
permission (administrators). A review overrides the relative rules (jumps, oversized changes) but never the
limits (price floor and ceiling, volume ceiling), which only a changed setting moves. Each review is one store
transaction, becomes visible from its own moment (reads as of earlier moments still see the versions it
replaced) and is audited with the values before and after and the reviewer's note.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime

import pandas as pd
import pyarrow as pa

from investai.domain.access import Principal
from investai.domain.common import new_id
from investai.domain.errors import NotFound, ValidationFailed
from investai.domain.market import (
    Bar,
    BarChange,
    CorrectionReport,
    NothingAccepted,
    QuarantinedBar,
    QuarantinedRow,
    QuarantineResolved,
    QuarantineStatus,
)
from investai.ingest.market_plausibility import (
    PlausibilityRules,
    Screening,
    held_bars_table,
    held_table,
    limit_reasons,
    neighbour_spans,
    screen_bars,
)
from investai.ingest.market_validation import bars_table, validate_bars
from investai.observability.logging import get_logger
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.market import BAR_COLUMNS, NEIGHBOUR_COLUMNS, TimeSeriesStore
from investai.services.auth_common import CallContext

log = get_logger(__name__)

MAX_REVIEW_ROWS = 500
"""Rows one review may release, discard or correct (each is listed in its audit record)."""
CORRECTION_SOURCE = "correction"
LIMIT_SETTINGS = "INVESTAI_MARKET_MAX_PRICE, INVESTAI_MARKET_MIN_PRICE or INVESTAI_MARKET_MAX_VOLUME"


# --- screening -----------------------------------------------------------------------------------------------


def screen_ingest(store: TimeSeriesStore, accepted: pd.DataFrame, rules: PlausibilityRules) -> Screening:
    """Validated rows split into plausible and held ones, measured against the stored bars around them."""
    spans = neighbour_spans(accepted)
    stored = store.bar_neighbours(spans) if spans else pd.DataFrame(columns=NEIGHBOUR_COLUMNS)
    return screen_bars(accepted, stored, rules)


def hold_rows(store: TimeSeriesStore, held: pd.DataFrame, *, source: str, now: datetime) -> list[QuarantinedRow]:
    """Put the held rows of a screening in quarantine; what the ingest report lists for them."""
    if held.empty:
        return []
    proposed = [new_id("qb_") for _ in range(len(held))]
    ids = store.quarantine_bars(held_table(held, source=source, ids=proposed), at=now)
    days = held["date"].dt.strftime("%Y-%m-%d").tolist()
    return [
        QuarantinedRow(row=int(row), reason=str(reason), symbol=str(symbol), date=day, id=identifier)
        for row, reason, symbol, day, identifier in zip(
            held["row"].tolist(), held["reason"].tolist(), held["symbol"].tolist(), days, ids, strict=True
        )
    ]


# --- review ----------------------------------------------------------------------------------------------------


class MarketReview:
    """Listing, release, discard and explicit correction of bars (see the module notes)."""

    def __init__(self, *, store: TimeSeriesStore, clock: Clock, audit: AuditLog, rules: PlausibilityRules) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._rules = rules

    def quarantined(
        self, *, symbol: str | None = None, status: QuarantineStatus | None = QuarantineStatus.PENDING, limit: int = 100
    ) -> list[QuarantinedBar]:
        """Held rows, newest first, optionally of one symbol and one status (``None``: every status)."""
        wanted = symbol.strip().upper() if symbol else None
        return self._store.quarantined_bars(symbol=wanted, status=status, limit=limit)

    def release(self, principal: Principal, ctx: CallContext, ids: Sequence[str], *, note: str) -> CorrectionReport:
        """Store pending held rows as they were submitted: an explicit correction, available from now."""
        text = _note(note)
        entries = self._pending(ids)
        keys = [(entry.symbol, entry.date) for entry in entries]
        if len(set(keys)) < len(keys):
            raise ValidationFailed("two of the rows are for the same symbol and date: release one, discard the other")
        frame = pd.DataFrame([entry.model_dump() for entry in entries]).assign(row=range(1, len(entries) + 1))
        self._refuse_beyond_limits(frame, {n: f"quarantined row {e.id}" for n, e in enumerate(entries, start=1)})
        now = self._clock.now()
        table = held_bars_table(entries, available_at=now)
        return self._apply(
            principal,
            ctx,
            table,
            now=now,
            note=text,
            resolves=[e.id for e in entries],
            status=QuarantineStatus.RELEASED,
        )

    def correct(
        self,
        principal: Principal,
        ctx: CallContext,
        frame: pd.DataFrame,
        *,
        problems: dict[int, str] | None,
        note: str,
        resolves: Sequence[str] = (),
    ) -> CorrectionReport:
        """Write bar rows (columns as :meth:`MarketDataService.ingest_bars` takes them) as an explicit
        correction: every row must be well-formed and within the limits, or nothing is written; the pending
        held rows ``resolves`` (of the same symbols and dates) are marked corrected."""
        text = _note(note)
        if not 0 < len(frame) <= MAX_REVIEW_ROWS:
            raise ValidationFailed(f"a correction holds 1 to {MAX_REVIEW_ROWS} bars")
        now = self._clock.now()
        symbols = {str(value).strip().upper() for value in frame["symbol"].dropna()}
        checked = validate_bars(
            frame,
            problems=problems,
            known_symbols=self._store.known_symbols(symbols),
            today=now.date(),
            auto_create=False,
        )
        if checked.rejected:
            raise NothingAccepted("the correction holds malformed rows; nothing was written", checked.rejected)
        self._refuse_beyond_limits(checked.accepted, {row: f"row {row}" for row in checked.accepted["row"].tolist()})
        entries = self._pending(resolves) if resolves else []
        corrected = set(zip(checked.accepted["symbol"], checked.accepted["date"].dt.date, strict=True))
        strays = [entry.id for entry in entries if (entry.symbol, entry.date) not in corrected]
        if strays:
            raise ValidationFailed(f"quarantined rows {', '.join(strays)} are not for a symbol and date corrected here")
        table = bars_table(checked.accepted, source=CORRECTION_SOURCE, ingested_at=now, history=False)
        return self._apply(
            principal,
            ctx,
            table,
            now=now,
            note=text,
            resolves=[entry.id for entry in entries],
            status=QuarantineStatus.CORRECTED,
        )

    def discard(self, principal: Principal, ctx: CallContext, ids: Sequence[str], *, note: str) -> list[str]:
        """Mark pending held rows discarded: nothing is written."""
        text = _note(note)
        entries = self._pending(ids)
        resolved = [entry.id for entry in entries]
        self._store.discard_quarantined_bars(resolved, at=self._clock.now(), by=principal.user_id, note=text)
        rows = [{"id": e.id, "symbol": e.symbol, "date": e.date.isoformat(), "reason": e.reason} for e in entries]
        self._record(principal, ctx, "market.quarantine_discarded", {"note": text, "resolved": resolved, "rows": rows})
        return resolved

    # --- steps -------------------------------------------------------------------------------------------------

    def _pending(self, ids: Sequence[str]) -> list[QuarantinedBar]:
        wanted = list(dict.fromkeys(ids))
        if not 0 < len(wanted) <= MAX_REVIEW_ROWS:
            raise ValidationFailed(f"name 1 to {MAX_REVIEW_ROWS} quarantined rows")
        found = self._store.get_quarantined_bars(wanted)
        missing = sorted(set(wanted) - {entry.id for entry in found})
        if missing:
            raise NotFound(f"no quarantined row {', '.join(missing[:10])}")
        resolved = [entry.id for entry in found if entry.status is not QuarantineStatus.PENDING]
        if resolved:
            raise QuarantineResolved(f"quarantined rows {', '.join(resolved[:10])} were already resolved")
        return found

    def _refuse_beyond_limits(self, frame: pd.DataFrame, names: Mapping[int, str]) -> None:
        """The limits hold for reviews too: a value beyond them is refused (422), never stored. ``names``: what
        to call each row (by its ``row`` number) in the message."""
        reasons = limit_reasons(frame, self._rules)
        if reasons:
            first = min(reasons)
            raise ValidationFailed(
                f"{names[first]}: {reasons[first]}; no review stores a value beyond the limits (discard it, or"
                f" raise {LIMIT_SETTINGS})"
            )

    def _apply(
        self,
        principal: Principal,
        ctx: CallContext,
        table: pa.Table,
        *,
        now: datetime,
        note: str,
        resolves: list[str],
        status: QuarantineStatus,
    ) -> CorrectionReport:
        keys = _keys(table)
        before = self._current(keys)
        counts = self._store.correct_bars(
            table, at=now, by=principal.user_id, note=note, resolves=resolves, resolution=status
        )
        changes = [
            BarChange(symbol=symbol, date=day, before=before.get((symbol, day)), after=after)
            for (symbol, day), after in zip(keys, _bars(table), strict=True)
        ]
        report = CorrectionReport(
            corrected_at=now,
            inserted=counts.inserted,
            updated=counts.updated,
            unchanged=counts.unchanged,
            resolved=resolves,
            changes=changes,
        )
        action = "market.quarantine_released" if status is QuarantineStatus.RELEASED else "market.bars_corrected"
        details: dict[str, object] = {
            "note": note,
            "resolved": resolves,
            "changes": [change.model_dump(mode="json") for change in changes],
        }
        self._record(principal, ctx, action, details)
        log.info(action, rows=len(changes), resolved=len(resolves), updated=counts.updated, inserted=counts.inserted)
        return report

    def _current(self, keys: list[tuple[str, date]]) -> dict[tuple[str, date], Bar]:
        """The stored bars of these keys, as read now."""
        spans: dict[str, tuple[date, date]] = {}
        for symbol, day in keys:
            first, last = spans.get(symbol, (day, day))
            spans[symbol] = (min(first, day), max(last, day))
        stored = self._store.bar_neighbours([(symbol, first, last) for symbol, (first, last) in sorted(spans.items())])
        wanted = set(keys)
        found: dict[tuple[str, date], Bar] = {}
        for record in stored.to_dict("records"):
            key = (str(record.pop("symbol")), record["date"])
            if key in wanted:
                found[key] = _bar(record)
        return found

    def _record(self, principal: Principal, ctx: CallContext, action: str, details: dict[str, object]) -> None:
        self._audit.append(
            action=action,
            actor_id=principal.user_id,
            organisation_id=principal.organisation_id,
            resource_type="market_data",
            ip=ctx.ip,
            request_id=ctx.request_id,
            details=details,
        )


def _note(note: str) -> str:
    text = note.strip()
    if not text or len(text) > 500:
        raise ValidationFailed("a review needs a note of 1 to 500 characters saying why")
    return text


def _keys(table: pa.Table) -> list[tuple[str, date]]:
    return list(zip(table.column("symbol").to_pylist(), table.column("date").to_pylist(), strict=True))


def _bars(table: pa.Table) -> list[Bar]:
    return [_bar(record) for record in table.select(BAR_COLUMNS).to_pylist()]


def _bar(record: Mapping[str, object]) -> Bar:
    """A bar from a row read back (a NaN, as pandas gives a missing value, read as missing)."""
    values = {name: record[name] for name in BAR_COLUMNS}
    return Bar.model_validate({k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()})
