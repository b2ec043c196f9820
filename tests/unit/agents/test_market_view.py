"""The agents read prices only through a point-in-time view: every bar read ends at the run's as-of date and
sees only what was recorded by the as-of moment."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from investai.agents.market_view import MarketAsOf
from investai.domain.market import SymbolInfo

AGENTS = Path(__file__).resolve().parents[3] / "src" / "investai" / "agents"
AS_OF = datetime(2022, 6, 30, 21, 0, tzinfo=UTC)


class Recording:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def symbols(self, **kwargs: Any) -> list[SymbolInfo]:
        return [SymbolInfo(symbol="KO", name="Coca-Cola")]

    def symbol(self, symbol: str) -> SymbolInfo:
        return SymbolInfo(symbol=symbol, name=symbol)

    def bar_frame(self, symbol: str, **kwargs: Any) -> pd.DataFrame:
        self.calls.append({"symbol": symbol, **kwargs})
        return pd.DataFrame()


def test_every_bar_read_is_pinned_to_the_as_of_moment() -> None:
    market = Recording()
    view = MarketAsOf(market, AS_OF)
    view.daily_bars("KO")
    view.daily_bars("KO", start=date(2020, 1, 1))
    assert [call["as_of"] for call in market.calls] == [AS_OF, AS_OF]
    assert [call["end"] for call in market.calls] == [AS_OF.date(), AS_OF.date()]
    assert market.calls[1]["start"] == date(2020, 1, 1)
    assert view.as_of == AS_OF


def test_no_agent_reads_bars_but_through_the_view() -> None:
    """Only the view itself, and the default as-of choice (which must look at the latest data to say how old
    it is), call ``bar_frame``."""
    allowed = {"market_view.py", "context.py"}
    offenders = []
    for path in sorted(AGENTS.glob("*.py")):
        if path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "bar_frame":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
