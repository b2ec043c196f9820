"""The AWS shape's market read and hybrid search beside the embedded adapters, on a local moto server.

One run starts ``moto_server`` on 127.0.0.1 (:func:`tests.aws.moto_server`), points boto3, pyarrow and LanceDB
at it through boto3's standard variables, and measures the same operations on both shapes, interleaved query
by query so that load on the machine falls on both alike:

* **Market**: 250,000 daily bars (50 symbols x 5,000 business days, the random walk of
  :func:`benchmarks.market.synthetic_bars`) loaded as one history batch into the embedded
  :class:`~investai.adapters.local.duckdb_market.DuckDbTimeSeriesStore` (a file in a temporary directory) and
  into :class:`~investai.adapters.aws.s3_bars.S3BarHistory` (Parquet in S3, one file per symbol, writers
  serialised by a DynamoDB lease). Then 200 one-year range reads of random symbols and years (seeded) on each:
  the embedded store; the S3 history *cold*, a reader with its file cache off, so every read LISTs the
  symbol's prefix and GETs its file, which is what a symbol's first read in a process costs; and *warm*, a
  reader whose cache already holds every file, so a read LISTs and queries the cached versions. The same
  S3 history code also runs warm on a local directory (a pyarrow local filesystem with the same layout, no
  requests at all), which separates its in-process work from the request path. The same reads as of the end
  of the year (point in time) are timed on the embedded store and the warm reader. Every read is checked to
  return the same bars on every store.
* **Search**: 2,000 chunks (100 documents of 20 chunks, about 80 words each drawn from a Zipf-distributed
  vocabulary of 1,000 words; vectors from the test suite's hashing embedder, 384 dimensions) written document
  by document with ``replace_document`` into a local :class:`~investai.adapters.local.lancedb_index.LanceDbSearchIndex`
  and into one on ``s3://`` (writes serialised by a DynamoDB lease), each write timed (on S3: the lease, the
  merge commit, the index upkeep, the release). Both tables are then optimised (untimed), and the same 100
  hybrid queries (BM25 + exact vector search at this size + fusion) run on both with one reader's access
  scope (own, organisation-shared and other organisations' documents mixed); one warm-up query each is
  not counted. The top-10 lists are compared.

moto is an HTTP emulator in a separate local process, not AWS: the ratios show what the request path costs
(HTTP on loopback, signing, the emulator's handling) against local files, not what AWS would take.

    .venv/bin/python -m benchmarks.aws_shape            # prints the figures
    .venv/bin/python -m benchmarks.aws_shape --write    # and updates its subsection of RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.fs as pafs
from tests.aws import REGION, MotoServer, moto_server
from tests.contract.knowledge_fixtures import DIMENSION, HashingEmbedder, make_chunk

from benchmarks.market import NOW, synthetic_bars
from investai.adapters.aws.clients import AwsClients
from investai.adapters.aws.dynamodb_lock import DynamoDbLease
from investai.adapters.aws.provision import ensure_table
from investai.adapters.aws.resources import LOCKS_TABLE
from investai.adapters.aws.s3_bars import S3BarHistory
from investai.adapters.local.duckdb_market import DuckDbTimeSeriesStore
from investai.adapters.local.lancedb_index import LanceDbSearchIndex
from investai.domain.documents import Visibility
from investai.domain.knowledge import AccessScope, Chunk, SearchFilters, SearchMode
from investai.ingest.market_validation import bars_table

SYMBOLS, DAYS = 50, 5_000
READS = 200
DOCUMENTS, CHUNKS_PER_DOCUMENT, WORDS_PER_CHUNK = 100, 20, 80
VOCABULARY = 1_000
SEARCHES = 100
ORG, OTHER_ORG = "org_bench", "org_other"
READER = AccessScope(user_id="usr_reader", organisation_id=ORG, role="analyst")
BUCKET = "investai-bench-data"
LOCKS = "investai-bench-locks"
RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "AWS shape against moto"
SUBSECTION = "Market read and hybrid search beside the embedded adapters"


def _ms(samples: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds of samples in seconds."""
    return statistics.median(samples) * 1000, float(np.percentile(samples, 99)) * 1000


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


@contextmanager
def _pointed_at(server: MotoServer) -> Iterator[None]:
    """boto3's standard variables (and so pyarrow's and LanceDB's, through :class:`AwsClients`) set to the
    emulator for the block, the process's own values put back afterwards."""
    names = {*server.environment, *(name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_"))}
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.pop(name, None)
    os.environ.update(server.environment)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- market ------------------------------------------------------------------------------------------------


def market(directory: Path, clients: AwsClients) -> dict[str, Any]:
    frame = synthetic_bars(SYMBOLS, DAYS, seed=11)
    batch = bars_table(frame, source="bench", ingested_at=NOW, history=True)
    embedded = DuckDbTimeSeriesStore(path=directory / "market.duckdb")
    lease = DynamoDbLease(clients.client("dynamodb"), LOCKS, "market-history")
    writer = S3BarHistory(clients.s3_filesystem(), bucket=BUCKET, write_lock=lease)
    embedded_load, counts = _timed(lambda: embedded.write_bars(batch, ingested_at=NOW))
    assert counts.inserted == len(frame), counts
    s3_load, counts = _timed(lambda: writer.write_bars(batch, ingested_at=NOW))
    assert counts.inserted == len(frame), counts
    symbols = sorted(frame["symbol"].unique())
    assert writer.bar_symbols() == symbols
    assert writer.stats(symbols[0]) == {"files": 1, "versions": DAYS}
    (directory / "layout" / BUCKET).mkdir(parents=True)
    on_disk = pafs.SubTreeFileSystem(str(directory / "layout"), pafs.LocalFileSystem())
    S3BarHistory(on_disk, bucket=BUCKET).write_bars(batch, ingested_at=NOW)

    cold = S3BarHistory(clients.s3_filesystem(), bucket=BUCKET, cache_bytes=0)
    warm = S3BarHistory(clients.s3_filesystem(), bucket=BUCKET)
    local = S3BarHistory(on_disk, bucket=BUCKET)
    for symbol in symbols:  # every file in the warm readers' caches before timing
        for reader in (warm, local):
            reader.read_bars(symbol, start=date(2000, 1, 1), end=date(2000, 1, 1))

    dates = pd.bdate_range(end=NOW.date() - timedelta(days=1), periods=DAYS)
    rng = np.random.default_rng(5)
    queries = [
        (symbols[int(rng.integers(0, SYMBOLS))], int(rng.integers(dates[0].year + 1, dates[-1].year)))
        for _ in range(READS)
    ]
    names = ("duckdb", "cold", "warm", "local", "duckdb_as_of", "warm_as_of")
    timings: dict[str, list[float]] = {name: [] for name in names}
    for symbol, year in queries:
        start, end = date(year, 1, 1), date(year, 12, 31)
        moment = datetime(year, 12, 31, 23, tzinfo=UTC)
        elapsed, expected = _timed(lambda s=symbol, a=start, b=end: embedded.read_bars(s, start=a, end=b))
        timings["duckdb"].append(elapsed)
        assert 245 <= len(expected) <= 265, len(expected)
        for name, reader in (("cold", cold), ("warm", warm), ("local", local)):
            elapsed, bars = _timed(lambda r=reader, s=symbol, a=start, b=end: r.read_bars(s, start=a, end=b))
            timings[name].append(elapsed)
            pd.testing.assert_frame_equal(bars, expected, check_dtype=False)
        elapsed, expected = _timed(
            lambda s=symbol, a=start, b=end, m=moment: embedded.read_bars(s, start=a, end=b, as_of=m)
        )
        timings["duckdb_as_of"].append(elapsed)
        elapsed, bars = _timed(lambda s=symbol, a=start, b=end, m=moment: warm.read_bars(s, start=a, end=b, as_of=m))
        timings["warm_as_of"].append(elapsed)
        pd.testing.assert_frame_equal(bars, expected, check_dtype=False)
    embedded.close()
    figures: dict[str, Any] = {
        "market_bars": len(frame),
        "market_symbols": SYMBOLS,
        "market_reads": READS,
        "market_load_duckdb_s": embedded_load,
        "market_load_s3_s": s3_load,
    }
    for name, samples in timings.items():
        figures[f"read_{name}_p50_ms"], figures[f"read_{name}_p99_ms"] = _ms(samples)
    return figures


# --- search ------------------------------------------------------------------------------------------------


def _corpus(rng: np.random.Generator) -> tuple[list[str], list[list[Chunk]]]:
    """(vocabulary, documents' chunks): word ``k`` of the vocabulary is drawn with weight ``1 / (k + 1)``."""
    words = [f"w{index:04d}" for index in range(VOCABULARY)]
    weights = 1 / np.arange(1, VOCABULARY + 1)
    weights /= weights.sum()
    owners = [
        AccessScope(user_id=READER.user_id, organisation_id=ORG, role="analyst"),
        AccessScope(user_id="usr_colleague", organisation_id=ORG, role="portfolio-manager"),
        AccessScope(user_id="usr_outsider", organisation_id=OTHER_ORG, role="analyst"),
    ]
    visibilities = [Visibility.PRIVATE, Visibility.ORGANISATION]
    documents = []
    for document in range(DOCUMENTS):
        owner = owners[document % len(owners)]
        visibility = visibilities[(document // len(owners)) % len(visibilities)]
        chunks = []
        for ordinal in range(CHUNKS_PER_DOCUMENT):
            text = " ".join(rng.choice(words, size=WORDS_PER_CHUNK, p=weights))
            chunks.append(
                make_chunk(
                    text,
                    document_id=f"doc_{document:03d}",
                    ordinal=ordinal,
                    owner=owner,
                    visibility=visibility,
                    title=f"Synthetic note {document}",
                    page=1 + ordinal // 4,
                )
            )
        documents.append(chunks)
    return words, documents


def search(directory: Path, clients: AwsClients) -> dict[str, Any]:
    rng = np.random.default_rng(17)
    embedder = HashingEmbedder(DIMENSION)
    words, documents = _corpus(rng)
    lease = DynamoDbLease(clients.client("dynamodb"), LOCKS, "search-index")
    local = LanceDbSearchIndex(path=directory / "knowledge", dimension=DIMENSION)
    remote = LanceDbSearchIndex(
        path=f"s3://{BUCKET}/knowledge",
        dimension=DIMENSION,
        storage_options=clients.lancedb_storage_options(),
        write_lock=lease,
    )
    indexes = {"local": local, "s3": remote}
    for index in indexes.values():
        index.count()  # the table and its indexes are created on first use: not a write being measured
    writes: dict[str, list[float]] = {name: [] for name in indexes}
    for chunks in documents:
        vectors = embedder.embed([chunk.text for chunk in chunks])
        for name, index in indexes.items():
            elapsed, _ = _timed(lambda i=index, c=chunks, v=vectors: i.replace_document(c[0].document_id, c, v))
            writes[name].append(elapsed)
    for index in indexes.values():
        index.optimize()
        assert index.count() == DOCUMENTS * CHUNKS_PER_DOCUMENT

    middle = words[20:400]  # neither the commonest words nor ones too rare to match anything
    queries = [" ".join(rng.choice(middle, size=int(rng.integers(2, 5)), replace=False)) for _ in range(SEARCHES)]
    vectors = embedder.embed(queries)

    def run(index: LanceDbSearchIndex, query: str, vector: Sequence[float]) -> list[str]:
        hits = index.search(
            query=query, vector=list(vector), mode=SearchMode.HYBRID, scope=READER, filters=SearchFilters(), limit=10
        )
        return [hit.chunk.id for hit in hits]

    for index in indexes.values():
        run(index, queries[0], vectors[0])  # opens the reader's connection and snapshot
    latencies: dict[str, list[float]] = {name: [] for name in indexes}
    same = 0
    for query, vector in zip(queries, vectors, strict=True):
        found = {}
        for name, index in indexes.items():
            elapsed, found[name] = _timed(lambda i=index, q=query, v=vector: run(i, q, v))
            latencies[name].append(elapsed)
        assert found["local"], query
        same += found["local"] == found["s3"]
    for index in indexes.values():
        index.close()
    figures: dict[str, Any] = {
        "search_chunks": DOCUMENTS * CHUNKS_PER_DOCUMENT,
        "search_documents": DOCUMENTS,
        "search_queries": SEARCHES,
        "search_same_top10": same,
    }
    for name in indexes:
        figures[f"hybrid_{name}_p50_ms"], figures[f"hybrid_{name}_p99_ms"] = _ms(latencies[name])
        figures[f"replace_{name}_p50_ms"], figures[f"replace_{name}_p99_ms"] = _ms(writes[name])
        figures[f"replace_{name}_mean_ms"] = statistics.fmean(writes[name]) * 1000
    return figures


# --- run and report ----------------------------------------------------------------------------------------


def run() -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        with moto_server(root / "moto.log") as server, _pointed_at(server):
            clients = AwsClients(region=REGION)
            clients.client("s3").create_bucket(Bucket=BUCKET)
            ensure_table(clients.client("dynamodb"), LOCKS_TABLE, LOCKS)
            figures = market(root, clients)
            figures.update(search(root, clients))
    figures["elapsed_s"] = time.perf_counter() - started
    return figures


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(measure, embedded, AWS shape on moto, ratio) for the table."""

    def pair(embedded: str, aws: str, unit: str = "ms") -> tuple[str, str, str]:
        e50, e99 = figures[f"{embedded}_p50_ms"], figures[f"{embedded}_p99_ms"]
        a50, a99 = figures[f"{aws}_p50_ms"], figures[f"{aws}_p99_ms"]
        return f"{e50:.1f} / {e99:.1f} {unit}", f"{a50:.1f} / {a99:.1f} {unit}", f"{a50 / e50:.1f}x"

    bars = f"{figures['market_bars']:,} bars"
    return [
        (
            f"market history load, {figures['market_symbols']} symbols x {DAYS:,} days ({bars} in one batch)",
            f"{figures['market_load_duckdb_s']:.2f} s",
            f"{figures['market_load_s3_s']:.2f} s",
            f"{figures['market_load_s3_s'] / figures['market_load_duckdb_s']:.1f}x",
        ),
        ("one symbol, one year of daily bars, cold (S3: LIST + GET), p50 / p99", *pair("read_duckdb", "read_cold")),
        ("the same reads, warm (S3: LIST, file from the cache), p50 / p99", *pair("read_duckdb", "read_warm")),
        (
            "the same reads, warm, the S3 history's code on a local directory (no requests), p50 / p99",
            *pair("read_duckdb", "read_local"),
        ),
        ("the same reads as of the year's end, warm, p50 / p99", *pair("read_duckdb_as_of", "read_warm_as_of")),
        (
            f"hybrid search, {figures['search_chunks']:,} chunks, access scope, top 10, p50 / p99",
            *pair("hybrid_local", "hybrid_s3"),
        ),
        (
            f"`replace_document`, {CHUNKS_PER_DOCUMENT} chunks (S3: lease, commit, index upkeep), p50 / p99",
            *pair("replace_local", "replace_s3"),
        ),
    ]


def subsection(figures: dict[str, Any]) -> list[str]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        f"### {SUBSECTION}",
        "",
        "Command: `.venv/bin/python -m benchmarks.aws_shape --write` (also run by `make bench`; method in its "
        "docstring). It starts its own moto server on 127.0.0.1 and measures the same operations on the embedded "
        "adapters (DuckDB and LanceDB on local files) and on the AWS shape's (Parquet in S3 read with DuckDB, "
        "LanceDB on S3, DynamoDB leases for writers), interleaved, with the same seeds; every market read returns "
        f"the same bars on every store, and {figures['search_same_top10']} of {figures['search_queries']} searches "
        "the same top 10.",
        "",
        f"Run {stamp} on {platform.machine()}, {os.cpu_count()} cores (shared with the emulator), Python "
        f"{platform.python_version()}; {figures['market_reads']} reads of random symbols and years, "
        f"{figures['search_queries']} hybrid queries, {figures['search_documents']} document writes; "
        f"{figures['elapsed_s']:.0f} s in all.",
        "",
        "| measure | embedded | AWS shape on moto | ratio (p50) |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {measure} | {embedded} | {aws} | {ratio} |" for measure, embedded, aws, ratio in rows(figures)]
    f = figures
    lines += [
        "",
        "moto is an emulator in a separate local process reached over HTTP on loopback, not AWS, so a ratio here "
        "is the cost of the request path (HTTP, request signing, the emulator's handling of each LIST, GET, PUT "
        "and DynamoDB call) plus the adapter's own work, against local files, and not a forecast of production "
        "latency. For the market read most of the gap is the adapter's own work: the S3 history's code reading "
        f"cached files from a local directory takes {f['read_local_p50_ms']:.1f} ms against the embedded store's "
        f"{f['read_duckdb_p50_ms']:.1f} ms (each read concatenates the symbol's versions and derives the current "
        "and replaced ones with a window function before the embedded store's query runs over them); moto's LIST "
        f"adds about {f['read_warm_p50_ms'] - f['read_local_p50_ms']:.1f} ms and "
        f"the GET with Parquet decoding {f['read_cold_p50_ms'] - f['read_warm_p50_ms']:.1f} ms more. On S3 a GET "
        "or LIST takes about 10-30 ms, so there a cold read costs several times what it does here, and the file "
        "cache, which spares every later read of a symbol its GET, matters more than this table shows; each "
        "search and each write likewise pays that latency for every object it reads or commits and every lease "
        "call. Every 20th index write also optimises the table (compaction and index merge), which is what the "
        f"write row's p99 shows; the mean write took {f['replace_local_mean_ms']:.0f} ms embedded and "
        f"{f['replace_s3_mean_ms']:.0f} ms on moto.",
    ]
    return lines


def write_section(figures: dict[str, Any], path: Path, previous: str | None = None) -> None:
    """Put :func:`subsection` into the "AWS shape against moto" section of ``path``, replacing an earlier one
    and keeping the rest of the section (command timings measured by hand). ``previous`` is the file's text
    before a ``make bench`` rewrote it: the section is taken from there when the file no longer has it."""
    text = path.read_text() if path.is_file() else "# Benchmark results\n"
    marker = f"\n## {SECTION}\n"
    source = text if marker in text else (previous or "")
    head = text.split(marker, 1)[0].rstrip("\n")
    section = source.split(marker, 1)[1] if marker in source else ""
    before, found, after = section.partition(f"\n### {SUBSECTION}\n")
    if not found:  # no earlier subsection: add it at the end of the section, before any later one
        before, separator, after = section.partition("\n## ")
        after = separator + after
    else:
        ends = [at for at in (after.find("\n### "), after.find("\n## ")) if at >= 0]
        after = after[min(ends) :] if ends else ""
    lead = before.rstrip("\n") + "\n\n" if before.strip() else "\n"
    body = lead + "\n".join(subsection(figures)) + "\n" + after
    path.write_text(f"{head}\n\n## {SECTION}\n{body}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help="update this subsection of benchmarks/RESULTS.md")
    arguments = parser.parse_args()
    figures = run()
    print(json.dumps(figures, indent=2))
    print()
    print("\n".join(subsection(figures)))
    if arguments.write:
        write_section(figures, RESULTS)


if __name__ == "__main__":
    main()
