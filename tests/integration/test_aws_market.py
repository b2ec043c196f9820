"""The AWS shape's market data beyond the store contract, against the session's moto server: the refresh job's
provider files under an S3 prefix, compaction of the Parquet history, and the DynamoDB lease that serialises
writers across processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from investai.adapters.aws.clients import AwsClients
from investai.adapters.aws.dynamodb_lock import DynamoDbLease, LeaseTimeout
from investai.adapters.aws.provision import ensure_table
from investai.adapters.aws.resources import LOCKS_TABLE
from investai.adapters.aws.s3_bars import S3BarHistory
from investai.adapters.aws.s3_market_provider import S3PrefixProvider
from investai.domain.errors import ValidationFailed
from investai.ports.market import BAR_SCHEMA
from tests.aws import REGION, MotoServer, fresh_prefix

T0 = datetime(2024, 1, 2, 21, tzinfo=UTC)


@pytest.fixture
def clients(aws_environment: MotoServer) -> AwsClients:
    return AwsClients(region=REGION)


@pytest.fixture
def bucket(clients: AwsClients) -> str:
    name = f"{fresh_prefix()}-data"
    clients.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def locks(clients: AwsClients) -> str:
    name = f"{fresh_prefix()}-locks"
    ensure_table(clients.client("dynamodb"), LOCKS_TABLE, name)
    return name


def bars(symbol: str, start: date, closes: list[float], available_at: datetime = T0) -> pa.Table:
    days = [start + timedelta(days=n) for n in range(len(closes))]
    return pa.table(
        {
            "symbol": [symbol] * len(days),
            "date": days,
            "open": [None] * len(days),
            "high": [None] * len(days),
            "low": [None] * len(days),
            "close": closes,
            "adj_close": closes,
            "volume": [1000.0] * len(days),
            "source": ["test"] * len(days),
            "available_at": [available_at] * len(days),
        },
        schema=BAR_SCHEMA,
    )


# --- provider files under an S3 prefix -------------------------------------------------------------------------


def test_the_prefix_provider_offers_each_file_once_and_again_when_it_changes(clients: AwsClients, bucket: str) -> None:
    s3 = clients.client("s3")
    s3.put_object(Bucket=bucket, Key="market-drop/AAPL.csv", Body=b"date,close\n2024-01-02,185.6\n")
    s3.put_object(Bucket=bucket, Key="market-drop/prices.parquet", Body=b"PAR1")
    s3.put_object(Bucket=bucket, Key="market-drop/notes.txt", Body=b"not market data")
    s3.put_object(Bucket=bucket, Key="market-drop/old/MSFT.csv", Body=b"in a sub-prefix: not offered")
    s3.put_object(Bucket=bucket, Key="elsewhere/KO.csv", Body=b"outside the prefix")
    provider = S3PrefixProvider(s3, bucket=bucket, prefix="market-drop/", max_bytes=1_000_000)

    offered = list(provider.pending(set()))
    assert sorted(file.name for file in offered) == ["AAPL.csv", "prices.parquet"]
    apple = next(file for file in offered if file.name == "AAPL.csv")
    assert apple.symbol == "AAPL"
    assert provider.read(apple) == b"date,close\n2024-01-02,185.6\n"
    assert [file.name for file in provider.pending({file.fingerprint for file in offered})] == []

    s3.put_object(Bucket=bucket, Key="market-drop/AAPL.csv", Body=b"date,close\n2024-01-03,184.2\n")
    again = list(provider.pending({file.fingerprint for file in offered}))
    assert [file.name for file in again] == ["AAPL.csv"]
    with pytest.raises(ValidationFailed, match="changed"):
        provider.read(apple)  # the version offered earlier is gone: taken with its new fingerprint instead
    assert provider.read(again[0]).endswith(b"184.2\n")

    s3.delete_object(Bucket=bucket, Key="market-drop/AAPL.csv")
    with pytest.raises(ValidationFailed, match="no longer"):
        provider.read(again[0])


def test_the_prefix_provider_refuses_oversized_and_foreign_names(clients: AwsClients, bucket: str) -> None:
    s3 = clients.client("s3")
    s3.put_object(Bucket=bucket, Key="drop/BIG.csv", Body=b"x" * 2048)
    provider = S3PrefixProvider(s3, bucket=bucket, prefix="drop/", max_bytes=1024)
    (big,) = provider.pending(set())
    with pytest.raises(ValidationFailed, match="larger"):
        provider.read(big)
    forged = replace(big, name="other/../../secrets.csv")
    with pytest.raises(ValidationFailed):
        provider.read(forged)


def test_the_refresh_job_ingests_provider_files_from_s3(clients: AwsClients, bucket: str, locks: str) -> None:
    """The market service's refresh over the S3 provider and the S3 history: the file's bars are stored and
    the file is not taken twice."""
    from investai.adapters.aws.dynamodb_audit import DynamoDbAuditLog
    from investai.adapters.aws.dynamodb_market_catalog import DynamoDbMarketCatalog
    from investai.adapters.aws.dynamodb_quotes import DynamoDbQuoteTiers
    from investai.adapters.aws.market_store import ComposedTimeSeriesStore
    from investai.adapters.aws.resources import AUDIT_TABLE, MARKET_TABLE, QUOTES_TABLE
    from investai.adapters.local.clock import FakeClock
    from investai.domain.market import AssetClass, SymbolInfo
    from investai.services.market import MarketDataService, MarketLimits

    dynamodb = clients.client("dynamodb")
    prefix = bucket.removesuffix("-data")
    for spec in (MARKET_TABLE, QUOTES_TABLE, AUDIT_TABLE):
        ensure_table(dynamodb, spec, f"{prefix}-{spec.role}")
    store = ComposedTimeSeriesStore(
        bars=S3BarHistory(clients.s3_filesystem(), bucket=bucket, write_lock=DynamoDbLease(dynamodb, locks, "m")),
        quotes=DynamoDbQuoteTiers(dynamodb, f"{prefix}-quotes"),
        catalog=DynamoDbMarketCatalog(dynamodb, f"{prefix}-market"),
    )
    store.upsert_symbols([SymbolInfo(symbol="AAPL", name="Apple", asset_class=AssetClass.EQUITY, currency="USD")])
    csv = "date,open,high,low,close,volume\n" + "".join(
        f"2024-01-{day:02d},{180 + day},{182 + day},{179 + day},{181 + day},1000\n" for day in range(2, 12)
    )
    s3 = clients.client("s3")
    s3.put_object(Bucket=bucket, Key="market-drop/AAPL.csv", Body=csv.encode())
    provider = S3PrefixProvider(s3, bucket=bucket, prefix="market-drop/", max_bytes=1_000_000)
    clock = FakeClock(datetime(2024, 2, 1, tzinfo=UTC))
    service = MarketDataService(
        store=store,
        clock=clock,
        audit=DynamoDbAuditLog(dynamodb=dynamodb, table=f"{prefix}-audit", clock=clock),
        limits=MarketLimits(
            auto_create_symbols=False,
            max_import_rows=1000,
            quote_max_age=timedelta(days=7),
            quote_max_skew=timedelta(seconds=5),
        ),
    )

    outcomes = service.refresh(provider)
    assert [name for name, _ in outcomes] == ["AAPL.csv"]
    assert store.bar_range("AAPL") == (date(2024, 1, 2), date(2024, 1, 11), 10)
    assert service.refresh(provider) == []  # taken once
    assert any(key["Key"].startswith("market/bars/AAPL/") for key in s3.list_objects_v2(Bucket=bucket)["Contents"])


# --- compaction --------------------------------------------------------------------------------------------------


def test_compaction_merges_files_and_every_read_answers_the_same(clients: AwsClients, bucket: str) -> None:
    history = S3BarHistory(clients.s3_filesystem(), bucket=bucket, compact_after=4)
    moments = [T0 + timedelta(days=n) for n in range(8)]
    for n, moment in enumerate(moments):  # each write adds a day and corrects the first day's close
        closes = [100.0 + n] + [100.0 + day for day in range(1, n + 1)]
        history.write_bars(bars("AAA", date(2024, 1, 1), closes, available_at=moment), ingested_at=moment)
    history.write_bars(bars("BBB", date(2024, 1, 1), [50.0]), ingested_at=T0)
    before = {at: history.read_bars("AAA", as_of=at) for at in [None, *moments, moments[3] + timedelta(hours=1)]}
    assert history.stats("AAA")["files"] == 8

    assert history.compact() == 1  # BBB has one file: left alone
    assert history.stats("AAA") == {"files": 1, "versions": 8 + 7}
    fresh = S3BarHistory(clients.s3_filesystem(), bucket=bucket, compact_after=4)  # no cached files
    for at, frame in before.items():
        assert fresh.read_bars("AAA", as_of=at).equals(frame), at
    assert fresh.bar_range("BBB") == (date(2024, 1, 1), date(2024, 1, 1), 1)
    assert history.compact() == 0


def test_reads_during_compaction_see_every_bar(clients: AwsClients, bucket: str) -> None:
    writer = S3BarHistory(clients.s3_filesystem(), bucket=bucket, compact_after=1)
    for n in range(6):
        day = date(2024, 1, 1) + timedelta(days=n)
        writer.write_bars(bars("CCC", day, [10.0 + n]), ingested_at=T0 + timedelta(hours=n))
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        reader = S3BarHistory(clients.s3_filesystem(), bucket=bucket, cache_bytes=0)  # every read from S3
        while not stop.is_set():
            try:
                seen.append(len(reader.read_bars("CCC")))
            except BaseException as error:
                errors.append(error)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        time.sleep(0.2)
        assert writer.compact() == 1
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert seen
    assert set(seen) == {6}


# --- the lease -----------------------------------------------------------------------------------------------------


def test_the_lease_is_exclusive_reentrant_and_released(clients: AwsClients, locks: str) -> None:
    dynamodb = clients.client("dynamodb")
    first = DynamoDbLease(dynamodb, locks, "writes", wait_s=0.5, poll_s=0.05)
    second = DynamoDbLease(dynamodb, locks, "writes", wait_s=0.5, poll_s=0.05)
    other = DynamoDbLease(dynamodb, locks, "another", wait_s=0.5)
    with first():
        with first():  # reentrant in the holding thread
            pass
        with pytest.raises(LeaseTimeout), second():
            pass
        with other():  # another name is another lock
            pass
    with second():  # released on exit
        pass
    assert "Item" not in dynamodb.get_item(TableName=locks, Key={"lock": {"S": "writes"}})


def test_an_expired_lease_is_taken_over(clients: AwsClients, locks: str) -> None:
    dynamodb = clients.client("dynamodb")
    dynamodb.put_item(  # left by a holder that died ten minutes ago
        TableName=locks,
        Item={"lock": {"S": "writes"}, "owner": {"S": "gone"}, "expiresAt": {"N": str(int(time.time()) - 600)}},
    )
    with DynamoDbLease(dynamodb, locks, "writes", wait_s=1.0)():
        owner = dynamodb.get_item(TableName=locks, Key={"lock": {"S": "writes"}})["Item"]["owner"]["S"]
        assert owner != "gone"


_HOLDER = """
import sys, time
from investai.adapters.aws.clients import AwsClients
from investai.adapters.aws.dynamodb_lock import DynamoDbLease
lease = DynamoDbLease(AwsClients(region="us-east-1").client("dynamodb"), sys.argv[1], "writes", lease_s=3)
with lease():
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
print("released", flush=True)
"""


def test_a_lease_held_by_another_process_is_renewed_past_its_term(
    clients: AwsClients, locks: str, aws_environment: MotoServer
) -> None:
    """A holder working for longer than the lease keeps it (renewed in the background); the waiter gets it
    only once the holder releases."""
    import os

    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, locks, "5"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **aws_environment.environment},
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with DynamoDbLease(clients.client("dynamodb"), locks, "writes", lease_s=3, wait_s=30, poll_s=0.1)():
            waited = time.monotonic() - started
        assert holder.stdout.readline().strip() == "released"
        assert waited >= 4.0  # not before the holder's five seconds, though its three-second lease was renewed
    finally:
        holder.wait(timeout=30)
