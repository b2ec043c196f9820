"""Storage and queue benchmarks, each reported as a ratio against a baseline measured in the same run.

    make bench            # or: .venv/bin/python -m benchmarks.run

Baselines: the cost the adapter cannot avoid (a durable raw file write, a durable SQLite insert), so
the ratio is what encryption, versioning and bookkeeping add. Figures go to stdout and RESULTS.md.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import analytics, api_overhead, aws_shape, dr, http_throughput, ideas, knowledge, market
from investai.adapters.local.clock import SystemClock
from investai.bootstrap import build_container
from investai.config import Settings

ROUNDS = 5
QUERIES_NOTE = "one-year range reads of random symbols and years (300 queries)."
RESULTS = Path(__file__).with_name("RESULTS.md")


def per_op(action: Callable[[int], None], count: int) -> float:
    """Median over ROUNDS of the mean seconds per operation."""
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for index in range(count):
            action(index)
        samples.append((time.perf_counter() - started) / count)
    return statistics.median(samples)


def durable_write(directory: Path, payload: bytes) -> Callable[[int], None]:
    def write(index: int) -> None:
        path = directory / f"raw-{index}"
        with open(path, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())

    return write


def main() -> None:
    rows: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        container = build_container(Settings(data_dir=root / "var", _env_file=None), clock=SystemClock())
        raw_dir = root / "raw"
        raw_dir.mkdir()
        for size in (4 * 1024, 1024 * 1024):
            payload = os.urandom(size)
            baseline = per_op(durable_write(raw_dir, payload), 50)
            put = per_op(lambda i, p=payload, s=size: container.objects.put(f"bench/{s}/{i % 10}", p), 50)
            rows.append((f"object put {size // 1024} KiB", put, baseline, "raw write + fsync"))
            container.objects.put(f"bench/read/{size}", payload)
            raw_path = raw_dir / "raw-0"
            read_baseline = per_op(lambda _i, p=raw_path: p.read_bytes(), 200)
            get = per_op(lambda _i, k=f"bench/read/{size}": container.objects.get(k), 200)
            rows.append((f"object get {size // 1024} KiB", get, read_baseline, "raw read"))

        conn = sqlite3.connect(root / "baseline.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
        insert = per_op(lambda i: conn.execute("INSERT INTO t (body) VALUES (?)", ("x" * 400,)), 200)

        def job_cycle(_index: int) -> None:
            container.jobs.enqueue("maintenance.purge_expired", {"n": _index})
            job = container.jobs.lease(visibility_timeout=timedelta(seconds=60))
            assert job is not None
            container.jobs.ack(job)

        cycle = per_op(job_cycle, 100)
        rows.append(("job enqueue + lease + ack", cycle, insert, "one durable SQLite insert"))
        container.close()
        conn.close()
    rows.extend(http_throughput.run())
    rows.extend(api_overhead.run())
    figures = knowledge.run()
    rows.append(
        (
            f"ingestion, bytes to indexed chunk ({figures['ingest_chunks']} chunks)",
            1 / figures["ingest_chunks_per_s"],
            1 / figures["raw_chunks_per_s"],
            "raw embedder, same texts",
        )
    )
    prices = market.run()
    raw = 1000 / prices["raw_rows_per_s"]
    rows.append(
        (
            "market bulk ingest, store write of an Arrow batch (per 1,000 bars)",
            1000 / prices["ingest_rows_per_s"],
            raw,
            "raw DuckDB Arrow insert",
        )
    )
    rows.append(
        (
            "market ingest with validation and the plausibility screen, from a DataFrame (per 1,000 bars)",
            1000 / prices["validated_ingest_rows_per_s"],
            raw,
            "raw DuckDB Arrow insert",
        )
    )
    rows.append(
        (
            f"market resample daily -> monthly, {prices['resample_symbols']} sample stocks, 1990-2022",
            prices["resample_ms"] / 1000,
            prices["pandas_resample_ms"] / 1000,
            "daily read + pandas resample",
        )
    )
    quant = analytics.run()
    rows.append(
        (
            f"analytics full metric set, {quant['symbols']} symbols x {quant['days']:,} days",
            quant["metric_s"],
            quant["baseline_metric_s"],
            "pandas per-symbol loop",
        )
    )
    rows.append(
        (
            f"Monte Carlo VaR, {quant['mc_paths']:,} paths x {quant['mc_assets']} assets x {quant['mc_horizon']} days",
            quant["mc_s"],
            quant["mc_normals_s"],
            "numpy normals alone",
        )
    )
    generation = ideas.run()
    rows.append(
        (
            "idea request end to end, 20 sample stocks, 5 ideas (p50)",
            generation["sample_p50_s"],
            generation["analysis_only_p50_s"],
            "analysis computation alone",
        )
    )
    rows.append(
        (
            "agent team with a zero-latency model (p50)",
            generation["scripted_p50_s"],
            generation["offline_agents_p50_s"],
            "agent team, offline provider",
        )
    )
    aws = aws_shape.run()
    previous = RESULTS.read_text() if RESULTS.is_file() else None  # report() rewrites the file from the top
    report(rows, figures, prices, quant, generation)
    dr.write_section(dr.measure(3), RESULTS)
    knowledge.write_retrieval_section(knowledge.retrieval(), RESULTS)
    aws_shape.write_section(aws, RESULTS, previous)  # keeps the section's hand-measured command timings


def report(
    rows: list[tuple[str, float, float, str]],
    search: dict[str, Any],
    prices: dict[str, Any],
    quant: dict[str, Any],
    generation: dict[str, Any],
) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        "# Benchmark results",
        "",
        "Command: `make bench` (`.venv/bin/python -m benchmarks.run`). Each figure is the median over "
        f"{ROUNDS} rounds; the ratio compares with a baseline measured in the same run on the same disk.",
        "",
        f"Run {stamp} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "API rows: *served* rows are requests per second from one uvicorn process (h11, asyncio, as `investai "
        "serve` runs) serving the bare and the full app side by side, driven over loopback by 8 keep-alive "
        "connections (`benchmarks/http_throughput.py`); the other API rows call the two apps as raw ASGI in one "
        "event loop, no server, so they isolate what the middleware costs (`benchmarks/api_overhead.py`). "
        "*Sync handler* is a plain `def` endpoint run in the thread pool, as every route of this product is; "
        "*async handler* is an `async def` endpoint that does nothing, the cheapest baseline FastAPI has. "
        "The identity and edge target (full stack at least 0.5 of bare throughput) is read on the served, "
        "sync handler, cache off row: a product route against a bare route of the same kind, every request "
        "running the whole stack.",
        "",
        "| operation | per op | baseline | baseline per op | time ratio | throughput vs baseline |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name, value, baseline, label in rows:
        lines.append(
            f"| {name} | {value * 1e3:.3f} ms | {label} | {baseline * 1e3:.3f} ms | {value / baseline:.2f}x"
            f" | {baseline / value:.2f} |"
        )
    lines += [
        "",
        f"Knowledge base at {search['chunks']:,} chunks (`benchmarks/knowledge.py`; method in its docstring), "
        f"over the {search['queries']} labelled queries, three passes:",
        "",
        "| measure | value | target |",
        "|---|---:|---:|",
        f"| hybrid search p50 (BM25 + ANN + fusion, access predicate) | {search['p50_ms']:.1f} ms | ≤ 20 ms |",
        f"| hybrid search p99 | {search['p99_ms']:.1f} ms | |",
        f"| keyword (BM25) search p50, for comparison | {search['keyword_p50_ms']:.1f} ms | |",
        f"| semantic (ANN) search p50, for comparison | {search['semantic_p50_ms']:.1f} ms | |",
        f"| query embedding (MiniLM, per query) | {search['query_embedding_ms']:.1f} ms | |",
        f"| ANN recall@10 against exact search | {search['ann_recall_at_10']:.3f} | ≥ 0.95 |",
        f"| ingestion throughput vs raw embedder | {search['ingest_chunks_per_s'] / search['raw_chunks_per_s']:.2f}"
        " | ≥ 0.8 |",
    ]
    lines += [
        "",
        f"Market data (`benchmarks/market.py`; method in its docstring): {prices['query_rows']:,} daily bars of "
        f"{prices['query_symbols']:,} symbols, {QUERIES_NOTE}",
        "",
        "| measure | value | target |",
        "|---|---:|---:|",
        f"| bulk ingest, store write vs raw DuckDB Arrow insert ({prices['ingest_rows']:,} bars) | "
        f"{prices['ingest_rows_per_s'] / prices['raw_rows_per_s']:.2f} "
        f"({prices['ingest_rows_per_s'] / 1e6:.2f} M bars/s) | ≥ 0.5 |",
        f"| ingest with every validation rule and the plausibility screen, from a DataFrame | "
        f"{prices['validated_ingest_rows_per_s'] / prices['raw_rows_per_s']:.2f} "
        f"({prices['validated_ingest_rows_per_s'] / 1e6:.2f} M bars/s) | |",
        f"| one symbol, one year of daily bars, p50 / p99 | {prices['range_p50_ms']:.1f} / "
        f"{prices['range_p99_ms']:.1f} ms | p50 ≤ 5 ms |",
        f"| the same read as of a past moment, p50 | {prices['range_as_of_p50_ms']:.1f} ms | |",
        f"| resample 1990-2022 daily to monthly, {prices['resample_symbols']} stocks | {prices['resample_ms']:.0f} ms "
        f"(pandas on the daily read: {prices['pandas_resample_ms']:.0f} ms) | |",
    ]
    lines += [
        "",
        f"Analytics (`benchmarks/analytics.py`; method in its docstring): {quant['figures_per_symbol']} figures per "
        "symbol (performance, VaR/CVaR by three methods, factor z-scores), checked equal to the pandas loop first.",
        "",
        "| measure | value | target |",
        "|---|---:|---:|",
        f"| full metric set, {quant['symbols']} symbols x {quant['days']:,} daily returns | "
        f"{quant['metric_s'] * 1e3:.0f} ms (pandas per-symbol loop: {quant['baseline_metric_s'] * 1e3:.0f} ms) "
        "| ≤ 500 ms |",
        f"| Monte Carlo VaR, {quant['mc_paths']:,} paths x {quant['mc_assets']} assets x {quant['mc_horizon']} days | "
        f"{quant['mc_s'] * 1e3:.0f} ms (drawing the normals alone: {quant['mc_normals_s'] * 1e3:.0f} ms) | ≤ 1 s |",
    ]
    overhead = (generation["scripted_p50_s"] - generation["offline_agents_p50_s"]) / max(
        generation["model_calls_per_run"], 1
    )
    lines += [
        "",
        "Idea generation (`benchmarks/ideas.py`; method in its docstring), offline models:",
        "",
        "| measure | value | target |",
        "|---|---:|---:|",
        f"| request end to end, 20 sample stocks with the sample documents, 5 ideas, p50 / p90 | "
        f"{generation['sample_p50_s'] * 1e3:.0f} / {generation['sample_p90_s'] * 1e3:.0f} ms | p50 ≤ 2 s |",
        f"| the same, synthetic universe of {generation['universe_symbols']} symbols, p50 | "
        f"{generation['universe_p50_s']:.2f} s | ≤ 10 s |",
        f"| orchestration per model call (zero-latency model against the offline provider, "
        f"{generation['model_calls_per_run']:.0f} calls a request) | {overhead * 1e3:.2f} ms | |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
