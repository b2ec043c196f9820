"""The moment a request is generated as of: its own date, else now, else, when the market data ends more than
the freshness limit before today, the end of the last data date, said plainly on every idea."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd

from investai.agents.context import market_data_end, request_as_of
from investai.agents.policy import STALE_DAYS
from investai.domain.errors import NotFound
from investai.domain.idea_request import IdeaRequest
from investai.domain.market import AssetClass, Interval, SymbolInfo

NOW = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
NOTE = "Market data ends 2022-12-28; this idea is as of that date, not today."


class Market:
    """A market reader with the last bar date of each symbol; ``BENCH`` is every symbol's benchmark."""

    def __init__(self, last: dict[str, date], *, benchmark: str | None = "BENCH") -> None:
        self.last = last
        self.benchmark = benchmark
        self.read: list[str] = []

    def symbols(
        self,
        *,
        query: str | None = None,
        sector: str | None = None,
        asset_class: AssetClass | None = None,
        limit: int = 100,
    ) -> list[SymbolInfo]:
        return [SymbolInfo(symbol=s, name=s, benchmark=self.benchmark) for s in sorted(self.last) if s != "BENCH"]

    def symbol(self, symbol: str) -> SymbolInfo:
        return SymbolInfo(symbol=symbol, name=symbol)

    def bar_frame(
        self,
        symbol: str,
        *,
        start: date | None = None,
        end: date | None = None,
        interval: Interval = Interval.DAILY,
        as_of: datetime | None = None,
    ) -> pd.DataFrame:
        self.read.append(symbol)
        if symbol not in self.last:
            raise NotFound(f"unknown symbol {symbol}")
        days = [self.last[symbol] - timedelta(days=2), self.last[symbol]]
        return pd.DataFrame({"date": days, "close": [1.0, 1.0], "adj_close": [1.0, 1.0]})


def test_stale_market_data_moves_the_default_to_the_end_of_its_last_date() -> None:
    market = Market({"BENCH": date(2022, 12, 28), "KO": date(2022, 12, 28)})
    as_of, note = request_as_of(IdeaRequest(), now=NOW, market=market)
    assert as_of == datetime(2022, 12, 29, tzinfo=UTC)  # the whole of 2022-12-28 counts
    assert note == NOTE
    assert market.read == ["BENCH"]


def test_fresh_market_data_leaves_the_default_at_now() -> None:
    fresh = NOW.date() - timedelta(days=STALE_DAYS)
    assert request_as_of(IdeaRequest(), now=NOW, market=Market({"BENCH": fresh, "KO": fresh})) == (NOW, None)


def test_the_request_date_wins_and_says_nothing() -> None:
    market = Market({"BENCH": date(2022, 12, 28)})
    as_of, note = request_as_of(IdeaRequest(as_of=date(2021, 6, 30)), now=NOW, market=market)
    assert (as_of, note) == (datetime(2021, 7, 1, tzinfo=UTC), None)
    assert market.read == []
    later = request_as_of(IdeaRequest(as_of=date(2030, 1, 1)), now=NOW, market=market)
    assert later == (NOW, None)  # never after now


def test_without_any_bar_the_default_stays_now() -> None:
    assert request_as_of(IdeaRequest(), now=NOW, market=Market({})) == (NOW, None)


def test_the_latest_of_the_benchmarks_and_requested_tickers_counts() -> None:
    market = Market({"BENCH": date(2022, 12, 28), "KO": date(2023, 12, 29)})
    assert market_data_end(market, IdeaRequest(tickers=["KO", "ZZZ"]), now=NOW) == date(2023, 12, 29)
    assert request_as_of(IdeaRequest(tickers=["KO"]), now=NOW, market=market) == (NOW, None)


def test_without_a_benchmark_the_first_symbols_are_read() -> None:
    market = Market({"AAA": date(2022, 12, 28), "BBB": date(2022, 12, 27)}, benchmark=None)
    assert market_data_end(market, IdeaRequest(), now=NOW) == date(2022, 12, 28)
    assert market.read == ["AAA", "BBB"]
