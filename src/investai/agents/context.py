"""What every agent of one request shares: the request, who asked, the as-of moment, the model router and
the channels for messages and progress."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd

from investai.agents.policy import STALE_DAYS
from investai.agents.router import ModelRouter, RoutedAnswer
from investai.domain.agents import AgentMessage, AgentName, AgentState, MessagePriority, MessageType
from investai.domain.citations import DocumentSource
from investai.domain.errors import DomainError
from investai.domain.idea_parts import ModelUse
from investai.domain.idea_request import IdeaRequest
from investai.domain.knowledge import AccessScope
from investai.ports.clock import Clock
from investai.ports.research import MarketReader

FAILURE_CHARS = 300
"""How much of each failed model's error a failure message keeps."""
EVERY_MODEL_FAILED = "every model failed; the offline answer was used"
PROBED_SYMBOLS = 3
"""Benchmarks (and requested tickers) whose latest bar says how far the market data reaches."""


class Cancelled(DomainError):
    """The requester cancelled the job; the agents stop at their next check."""

    code = "cancelled"


def as_of_moment(day: date) -> datetime:
    """The end of ``day`` (midnight that ends it, UTC): an as-of date includes everything stamped that day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def market_data_end(market: MarketReader, request: IdeaRequest, *, now: datetime) -> date | None:
    """The date of the latest bar visible at ``now`` among the benchmarks of the symbol master and the
    request's first tickers (the first symbols of the master when there are neither); ``None`` without bars."""
    known = market.symbols(limit=500)
    benchmarks = sorted({info.benchmark for info in known if info.benchmark})[:PROBED_SYMBOLS]
    probed = [*benchmarks, *request.tickers[:PROBED_SYMBOLS]] or [info.symbol for info in known[:PROBED_SYMBOLS]]
    latest: date | None = None
    for symbol in dict.fromkeys(probed):
        try:
            frame = market.bar_frame(symbol, as_of=now)
        except DomainError:  # an unknown ticker: the others tell
            continue
        if not frame.empty:
            last = pd.Timestamp(frame["date"].iloc[-1]).date()
            latest = last if latest is None or last > latest else latest
    return latest


def request_as_of(
    request: IdeaRequest, *, now: datetime, market: MarketReader, stale_days: int = STALE_DAYS
) -> tuple[datetime, str | None]:
    """The moment a request is generated as of, and a plain statement for its ideas when that is not what
    the requester would assume. The request's own date wins (its end, never later than ``now``). Without one
    it is ``now``, unless the market data ends more than ``stale_days`` before today: then it is the end of
    the last data date, and the statement says so (the ideas are measured on the data there is, not failed
    as stale)."""
    if request.as_of is not None:
        return min(as_of_moment(request.as_of), now), None
    last = market_data_end(market, request, now=now)
    if last is None or (now.date() - last).days <= stale_days:
        return now, None
    return as_of_moment(last), f"Market data ends {last.isoformat()}; this idea is as of that date, not today."


@dataclass
class RunContext:
    request: IdeaRequest
    request_id: str
    reader: AccessScope
    as_of: datetime
    router: ModelRouter
    clock: Clock
    code_version: str
    as_of_note: str | None = None
    """Set when ``as_of`` is the end of the market data rather than the request's date or now: the plain
    statement each idea carries (:attr:`~investai.domain.ideas.InvestmentIdea.as_of_note`)."""
    on_message: Callable[[AgentMessage], None] = lambda message: None
    on_progress: Callable[[AgentName, AgentState, float, str | None], None] = lambda *args: None
    is_cancelled: Callable[[], bool] = lambda: False
    model_uses: list[ModelUse] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def message(
        self,
        sender: AgentName,
        kind: MessageType,
        content: dict[str, Any],
        *,
        recipient: AgentName | None = None,
        parent: AgentMessage | None = None,
        priority: MessagePriority = MessagePriority.NORMAL,
        sources: Sequence[DocumentSource] = (),
    ) -> AgentMessage:
        """Record a message of the request's conversation (the audit trail) and return it. ``sources`` are the
        document versions whose text shaped ``content``: a reader who may not read one of them is shown the
        message without its content."""
        message = AgentMessage(
            sender=sender,
            recipient=recipient,
            type=kind,
            priority=priority,
            content=content,
            conversation_id=self.request_id,
            request_id=self.request_id,
            parent_id=parent.id if parent else None,
            created_at=self.clock.now(),
            document_sources=list(sources),
        )
        self.on_message(message)
        return message

    def progress(self, agent: AgentName, state: AgentState, percent: float, detail: str | None = None) -> None:
        self.on_progress(agent, state, max(0.0, min(100.0, percent)), detail)

    def check_cancelled(self) -> None:
        if self.is_cancelled():
            raise Cancelled(f"request {self.request_id} was cancelled")

    def record_use(self, use: ModelUse) -> None:
        with self._lock:
            self.model_uses.append(use)

    def record_answer(
        self,
        sender: AgentName,
        answer: RoutedAnswer,
        *,
        symbol: str | None = None,
        offline_note: Mapping[str, Any] | None = None,
    ) -> AgentMessage | None:
        """Record a routed model call: its provenance (``answer.use``) and, when a model of its chain failed, an
        update to the supervisor naming each failed model and its error (``provider:model: error``, clipped),
        which model answered in the end (``offline`` when every model failed, then with ``offline_note``) and
        the step. The message holds no prompt or answer text, so it cites no document and every reader of the
        request's messages sees it. Returns the message, or ``None`` when no model failed."""
        self.record_use(answer.use)
        if not answer.failures:
            return None
        use = answer.use
        content: dict[str, Any] = {} if symbol is None else {"symbol": symbol}
        content |= {
            "step": use.step,
            "answered_by": "offline" if answer.response.offline else f"{use.provider}:{use.model_id}",
            "failures": [failure[:FAILURE_CHARS] for failure in answer.failures],
        }
        if answer.response.offline:
            content |= {"fallback": EVERY_MODEL_FAILED, **(offline_note or {})}
        return self.message(sender, MessageType.UPDATE, content, recipient=AgentName.SUPERVISOR)
