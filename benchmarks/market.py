"""Market-data benchmarks.

* **Bulk ingest**: 1,000,000 bars (200 symbols x 5,000 business days, OHLCV) as one Arrow batch through the
  store's bulk write (``write_bars``: the batch's duplicate and order check, the upsert classification, the
  insert in (symbol, date) order, the commit) against a raw DuckDB ``INSERT INTO ... SELECT * FROM`` of the
  same Arrow rows into an equivalent empty table, in the same run and on the same disk. Target: at least 0.5
  of the raw rate. Beside it, the whole ingest path from a DataFrame (:meth:`MarketDataService.ingest_bars`:
  every validation rule, conversion to Arrow, the write), which is what an import costs.
* **Range query at 10 million rows**: p50 and p99 of ``read_bars`` for one symbol and one calendar year (about
  252 bars, returned as a DataFrame) over a store of 10,000,000 bars (1,000 symbols x 10,000 business days,
  written symbol by symbol); with ``as_of`` beside it. Target: p50 at most 5 ms.
* **Resample**: 30+ years of daily bars to monthly for the 20 sample stocks, in the store (SQL) against
  reading the daily bars and resampling them with pandas, in the same run.

    .venv/bin/python -m benchmarks.market
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from investai.adapters.local.clock import FakeClock
from investai.adapters.local.duckdb_market import DuckDbTimeSeriesStore
from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_audit import SqliteAuditLog
from investai.domain.market import AssetClass, Interval, SymbolInfo
from investai.ingest.market_validation import bars_table
from investai.sample.market import sample_bars, sample_symbols
from investai.services.market import MarketDataService, MarketLimits

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
INGEST_SYMBOLS, INGEST_DAYS = 200, 5_000
QUERY_SYMBOLS, QUERY_DAYS = 1_000, 10_000
QUERIES = 300


def synthetic_bars(symbols: int, days: int, seed: int) -> pd.DataFrame:
    """Random-walk OHLCV bars that pass validation, grouped by symbol, oldest first."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(end=NOW.date() - timedelta(days=1), periods=days)
    count = symbols * days
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(symbols, days)), axis=1)).ravel()
    spread = np.abs(rng.normal(0, 0.005, size=count)) * close
    return pd.DataFrame(
        {
            "row": np.arange(1, count + 1),
            "symbol": np.repeat([f"S{index:04d}" for index in range(symbols)], days).astype(object),
            "date": np.tile(dates.values, symbols),
            "open": close * (1 + rng.normal(0, 0.001, size=count)).clip(0.999, 1.001),
            "high": close + spread + close * 0.0011,
            "low": close - spread - close * 0.0011,
            "close": close,
            "adj_close": close,
            "volume": rng.integers(1_000, 1_000_000, size=count).astype(float),
        }
    )


def _service(store: DuckDbTimeSeriesStore, directory: Path) -> MarketDataService:
    database = SqliteDatabase(path=directory / "audit.db", migrations=MIGRATIONS)
    database.migrate()
    clock = FakeClock(NOW)
    limits = MarketLimits(
        auto_create_symbols=False,
        max_import_rows=20_000_000,
        quote_max_age=timedelta(days=7),
        quote_max_skew=timedelta(seconds=5),
    )
    return MarketDataService(store=store, clock=clock, audit=SqliteAuditLog(db=database, clock=clock), limits=limits)


def _symbols(frame: pd.DataFrame) -> list[SymbolInfo]:
    return [SymbolInfo(symbol=s, name=s, asset_class=AssetClass.EQUITY) for s in frame["symbol"].unique()]


def bulk_ingest(directory: Path) -> dict[str, float]:
    frame = synthetic_bars(INGEST_SYMBOLS, INGEST_DAYS, seed=1)
    arrow = bars_table(frame, source="bench", ingested_at=NOW, history=False)
    ours, full, raw = [], [], []
    for round_ in range(3):
        store = DuckDbTimeSeriesStore(path=directory / f"store-{round_}.duckdb")
        started = time.perf_counter()
        counts = store.write_bars(arrow, ingested_at=NOW)
        ours.append(time.perf_counter() - started)
        assert counts.inserted == len(frame), counts
        store.close()
        store = DuckDbTimeSeriesStore(path=directory / f"service-{round_}.duckdb")
        store.upsert_symbols(_symbols(frame))
        service = _service(store, directory / f"svc-{round_}")
        started = time.perf_counter()
        report = service.ingest_bars(frame, source="bench")
        full.append(time.perf_counter() - started)
        assert report.inserted == len(frame), report
        store.close()
        connection = duckdb.connect(str(directory / f"raw-{round_}.duckdb"))
        connection.execute(
            "CREATE TABLE bars (symbol VARCHAR, date DATE, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE,"
            " adj_close DOUBLE, volume DOUBLE, source VARCHAR, available_at TIMESTAMPTZ)"
        )
        started = time.perf_counter()
        connection.register("incoming", arrow)
        connection.execute("INSERT INTO bars SELECT * FROM incoming")
        raw.append(time.perf_counter() - started)
        connection.close()
    rows = len(frame)
    return {
        "ingest_rows": rows,
        "ingest_rows_per_s": rows / statistics.median(ours),
        "validated_ingest_rows_per_s": rows / statistics.median(full),
        "raw_rows_per_s": rows / statistics.median(raw),
    }


def range_queries(directory: Path) -> dict[str, float]:
    store = DuckDbTimeSeriesStore(path=directory / "big.duckdb")
    dates = pd.bdate_range(end=NOW.date() - timedelta(days=1), periods=QUERY_DAYS)
    started = time.perf_counter()
    for block in range(0, QUERY_SYMBOLS, 50):
        frame = synthetic_bars(50, QUERY_DAYS, seed=block)
        frame["symbol"] = np.repeat([f"Q{index:04d}" for index in range(block, block + 50)], QUERY_DAYS)
        store.upsert_symbols(_symbols(frame))
        store.write_bars(bars_table(frame, source="bench", ingested_at=NOW, history=True), ingested_at=NOW)
    build_s = time.perf_counter() - started
    rng = np.random.default_rng(5)
    first, last = dates[0].year + 1, dates[-1].year - 1
    latest, as_of = [], []
    for _ in range(QUERIES):
        symbol = f"Q{rng.integers(0, QUERY_SYMBOLS):04d}"
        year = int(rng.integers(first, last + 1))
        start, end = date(year, 1, 1), date(year, 12, 31)
        began = time.perf_counter()
        bars = store.read_bars(symbol, start=start, end=end)
        latest.append((time.perf_counter() - began) * 1000)
        assert 245 <= len(bars) <= 265, len(bars)
        began = time.perf_counter()
        store.read_bars(symbol, start=start, end=end, as_of=datetime(year, 12, 31, 23, tzinfo=UTC))
        as_of.append((time.perf_counter() - began) * 1000)
    counted = store.bar_symbols()
    store.close()
    return {
        "query_rows": QUERY_SYMBOLS * QUERY_DAYS,
        "query_symbols": len(counted),
        "build_s": build_s,
        "range_p50_ms": statistics.median(latest),
        "range_p99_ms": float(np.percentile(latest, 99)),
        "range_as_of_p50_ms": statistics.median(as_of),
    }


def resample(directory: Path) -> dict[str, float]:
    store = DuckDbTimeSeriesStore(path=directory / "sample.duckdb")
    store.upsert_symbols(sample_symbols())
    service = _service(store, directory / "svc-sample")
    service.ingest_bars(sample_bars(), source="skfolio", history=True)
    stocks = [info.symbol for info in sample_symbols() if info.asset_class is AssetClass.EQUITY]
    ours, baseline = [], []
    for _ in range(5):
        started = time.perf_counter()
        for symbol in stocks:
            store.read_bars(symbol, interval=Interval.MONTHLY)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        for symbol in stocks:
            daily = store.read_bars(symbol).set_index("date")
            daily.index = pd.to_datetime(daily.index)
            daily.resample("ME").agg(
                {"open": "first", "high": "max", "low": "min", "close": "last", "adj_close": "last", "volume": "sum"}
            )
        baseline.append(time.perf_counter() - started)
    store.close()
    return {
        "resample_symbols": len(stocks),
        "resample_ms": statistics.median(ours) * 1000,
        "pandas_resample_ms": statistics.median(baseline) * 1000,
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        figures: dict[str, Any] = {}
        figures.update(bulk_ingest(root))
        figures.update(range_queries(root))
        figures.update(resample(root))
    return figures


if __name__ == "__main__":
    result = run()
    print(json.dumps(result, indent=2))
    print(f"ingest ratio {result['ingest_rows_per_s'] / result['raw_rows_per_s']:.2f}")
