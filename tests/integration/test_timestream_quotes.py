"""Quotes in Timestream for LiveAnalytics (:mod:`investai.adapters.aws.timestream_quotes`).

moto's Timestream writes work, but its ``Query`` returns only canned results: provisioning and writes run against
the session's moto server, and every query runs against a ``timestream-query`` client stubbed with botocore's
``Stubber`` (which checks each request against the service model), asserting the SQL sent and feeding back
results in Timestream's wire format.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
import pandas as pd
import pyarrow as pa
import pytest
from botocore.stub import ANY, Stubber

from investai.adapters.aws.timestream_quotes import (
    QuotesRejected,
    RejectedQuote,
    TimestreamQuoteTiers,
    ensure_timestream,
)
from investai.adapters.local.duckdb_market import DuckDbTimeSeriesStore
from investai.domain.market import Quote, RetentionResult, WriteCounts
from investai.ports.market import QUOTE_COLUMNS, QUOTE_SCHEMA
from tests.aws import CREDENTIALS, REGION, MotoServer, fresh_prefix
from tests.factories import T0

HOUR = timedelta(hours=1)
US = timedelta(microseconds=1)
T0_US = 1_704_187_800_000_000  # T0 (2024-01-02 09:30 UTC) in epoch microseconds
DATABASE, TABLE = "investai-market", "quotes"
SOURCE = f'"{DATABASE}"."{TABLE}"'
SELECT = "SELECT symbol, time, price, size, bid, ask, source, ingested_at"
COLUMNS = [
    ("symbol", "VARCHAR"),
    ("time", "TIMESTAMP"),
    ("price", "DOUBLE"),
    ("size", "DOUBLE"),
    ("bid", "DOUBLE"),
    ("ask", "DOUBLE"),
    ("source", "VARCHAR"),
    ("ingested_at", "BIGINT"),
]


def quote(
    symbol: str,
    timestamp: datetime,
    price: float,
    *,
    size: float | None = 100.0,
    bid: float | None = None,
    ask: float | None = None,
    source: str = "api",
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "timestamp": timestamp,
        "price": price,
        "size": size,
        "bid": bid,
        "ask": ask,
        "source": source,
    }


def quotes(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=QUOTE_SCHEMA)


def stamp(moment: datetime) -> str:
    """A TIMESTAMP as Timestream writes it in results and as the adapter writes it in literals."""
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond:06d}000"


def result_row(row: dict[str, Any], ingested_at: datetime = T0) -> dict[str, Any]:
    """One row of a Timestream result for the quote ``row`` (in :data:`COLUMNS` order)."""
    values = [row["symbol"], stamp(row["timestamp"])]
    values += [None if row[name] is None else repr(row[name]) for name in ("price", "size", "bid", "ask")]
    values += [row["source"], str((ingested_at - T0) // US + T0_US)]
    return {"Data": [{"NullValue": True} if value is None else {"ScalarValue": value} for value in values]}


def page(rows: list[dict[str, Any]], next_token: str | None = None, *, columns: Any = COLUMNS) -> dict[str, Any]:
    response: dict[str, Any] = {
        "QueryId": "query-1",
        "Rows": rows,
        "ColumnInfo": [{"Name": name, "Type": {"ScalarType": kind}} for name, kind in columns],
    }
    if next_token is not None:
        response["NextToken"] = next_token
    return response


def offline_client(service: str) -> Any:
    """A client that never reaches a server: every call is answered by a Stubber."""
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@dataclass
class Stubbed:
    tiers: TimestreamQuoteTiers
    query: Stubber
    write: Stubber


@pytest.fixture
def stubbed() -> Iterator[Stubbed]:
    query_client, write_client = offline_client("timestream-query"), offline_client("timestream-write")
    with Stubber(query_client) as query, Stubber(write_client) as write:
        tiers = TimestreamQuoteTiers(write_client, query_client, database=DATABASE, table=TABLE)
        yield Stubbed(tiers, query, write)
        query.assert_no_pending_responses()
        write.assert_no_pending_responses()


# --- provisioning and writes on moto -----------------------------------------------------------------------


@dataclass
class Provisioned:
    write: Any
    database: str
    table: str


@pytest.fixture
def provisioned(moto: MotoServer) -> Iterator[Provisioned]:
    write = moto.client("timestream-write")
    database = f"{fresh_prefix()}-market"
    assert ensure_timestream(write, database=database, table=TABLE) is True
    yield Provisioned(write, database, TABLE)
    write.delete_table(DatabaseName=database, TableName=TABLE)
    write.delete_database(DatabaseName=database)


def test_ensure_timestream_sets_the_tiers_and_is_idempotent(provisioned: Provisioned) -> None:
    write, database = provisioned.write, provisioned.database

    def table() -> dict[str, Any]:
        return dict(write.describe_table(DatabaseName=database, TableName=TABLE)["Table"])

    expected = {"MemoryStoreRetentionPeriodInHours": 24, "MagneticStoreRetentionPeriodInDays": 7}
    assert table()["RetentionProperties"] == expected
    assert table()["MagneticStoreWriteProperties"]["EnableMagneticStoreWrites"] is True

    assert ensure_timestream(write, database=database, table=TABLE) is False
    assert table()["RetentionProperties"] == expected

    # a table someone changed is brought back to the settings
    write.update_table(
        DatabaseName=database,
        TableName=TABLE,
        RetentionProperties={"MemoryStoreRetentionPeriodInHours": 6, "MagneticStoreRetentionPeriodInDays": 30},
        MagneticStoreWriteProperties={"EnableMagneticStoreWrites": False},
    )
    assert ensure_timestream(write, database=database, table=TABLE, kms_key_id="alias/investai-data") is False
    assert table()["RetentionProperties"] == expected
    assert table()["MagneticStoreWriteProperties"]["EnableMagneticStoreWrites"] is True
    assert write.describe_database(DatabaseName=database)["Database"]["KmsKeyId"] == "alias/investai-data"
    TimestreamQuoteTiers(write, None, database=database, table=TABLE).check()


def test_writes_go_out_in_batches_of_100_multi_measure_records(provisioned: Provisioned) -> None:
    sent: list[dict[str, Any]] = []

    def record_request(params: dict[str, Any], **_: Any) -> None:
        sent.append(params)

    provisioned.write.meta.events.register("provide-client-params.timestream-write.WriteRecords", record_request)
    query_client = offline_client("timestream-query")
    tiers = TimestreamQuoteTiers(
        provisioned.write, query_client, database=provisioned.database, table=provisioned.table
    )
    rows = [quote("AAA", T0 - n * timedelta(minutes=1), 10.0 + n / 100) for n in range(125)]
    rows += [quote("BBB", T0 - n * timedelta(minutes=1), 0.1 * (n + 1), size=None, bid=1.5) for n in range(125)]
    ingested_at = T0 + timedelta(seconds=1, microseconds=7)
    classification = (
        f'{SELECT} FROM "{provisioned.database}"."{TABLE}" WHERE measure_name = \'quote\''
        f" AND symbol IN ('AAA', 'BBB') AND time BETWEEN TIMESTAMP '{stamp(T0 - 124 * timedelta(minutes=1))}'"
        f" AND TIMESTAMP '{stamp(T0)}'"
    )
    with Stubber(query_client) as query:
        query.add_response("query", page([]), {"QueryString": classification})
        assert tiers.write_quotes(quotes(rows), ingested_at=ingested_at) == WriteCounts(
            inserted=250, updated=0, unchanged=0
        )
        query.assert_no_pending_responses()

    assert [len(request["Records"]) for request in sent] == [100, 100, 50]
    version = T0_US + 1_000_007
    assert all(
        request["CommonAttributes"] == {"MeasureName": "quote", "MeasureValueType": "MULTI", "TimeUnit": "MICROSECONDS"}
        for request in sent
    )
    assert sent[0]["Records"][1] == {
        "Dimensions": [{"Name": "symbol", "Value": "AAA", "DimensionValueType": "VARCHAR"}],
        "MeasureValues": [
            {"Name": "price", "Value": "10.01", "Type": "DOUBLE"},
            {"Name": "size", "Value": "100.0", "Type": "DOUBLE"},
            {"Name": "source", "Value": "api", "Type": "VARCHAR"},
            {"Name": "ingested_at", "Value": str(version), "Type": "BIGINT"},
        ],
        "Time": str(T0_US - 60_000_000),
        "Version": version,
    }
    last = sent[2]["Records"][-1]
    assert last["Dimensions"][0]["Value"] == "BBB"
    assert [measure["Name"] for measure in last["MeasureValues"]] == ["price", "bid", "source", "ingested_at"]
    assert last["MeasureValues"][0]["Value"] == repr(0.1 * 125)


# --- writes: classification and rejections (stubbed) ------------------------------------------------------


def test_a_write_is_classified_against_what_one_query_finds(stubbed: Stubbed) -> None:
    same, changed, new = quote("AAA", T0 - HOUR, 10.0), quote("AAA", T0, 11.0), quote("BBB", T0, 5.0)
    classification = (
        f"{SELECT} FROM {SOURCE} WHERE measure_name = 'quote' AND symbol IN ('AAA', 'BBB')"
        f" AND time BETWEEN TIMESTAMP '2024-01-02 08:30:00.000000000' AND TIMESTAMP '2024-01-02 09:30:00.000000000'"
    )
    stored = [result_row(same), result_row({**changed, "price": 10.5, "size": None})]
    stubbed.query.add_response("query", page(stored), {"QueryString": classification})
    ingested_at = T0 + HOUR
    version = T0_US + 3_600_000_000
    written = [
        {
            "Dimensions": [{"Name": "symbol", "Value": symbol, "DimensionValueType": "VARCHAR"}],
            "MeasureValues": [
                {"Name": "price", "Value": price, "Type": "DOUBLE"},
                {"Name": "size", "Value": "100.0", "Type": "DOUBLE"},
                {"Name": "source", "Value": "api", "Type": "VARCHAR"},
                {"Name": "ingested_at", "Value": str(version), "Type": "BIGINT"},
            ],
            "Time": str(T0_US),
            "Version": version,
        }
        for symbol, price in (("AAA", "11.0"), ("BBB", "5.0"))
    ]
    stubbed.write.add_response(
        "write_records",
        {"RecordsIngested": {"Total": 2, "MemoryStore": 2, "MagneticStore": 0}},
        {
            "DatabaseName": DATABASE,
            "TableName": TABLE,
            "CommonAttributes": {"MeasureName": "quote", "MeasureValueType": "MULTI", "TimeUnit": "MICROSECONDS"},
            "Records": written,
        },
    )

    counts = stubbed.tiers.write_quotes(quotes([same, changed, new]), ingested_at=ingested_at)

    assert counts == WriteCounts(inserted=1, updated=1, unchanged=1)


def test_an_unchanged_batch_writes_nothing_and_a_bad_one_asks_nothing(stubbed: Stubbed) -> None:
    row = quote("AAA", T0, 10.0)
    stubbed.query.add_response("query", page([result_row(row)]), {"QueryString": ANY})
    assert stubbed.tiers.write_quotes(quotes([row]), ingested_at=T0) == WriteCounts(inserted=0, updated=0, unchanged=1)

    with pytest.raises(ValueError, match="AAA"):
        stubbed.tiers.write_quotes(quotes([row, {**row, "price": 1.0}]), ingested_at=T0)
    with pytest.raises(ValueError, match="not a ticker"):
        stubbed.tiers.write_quotes(quotes([quote("x' OR '1'='1", T0, 1.0)]), ingested_at=T0)
    with pytest.raises(ValueError, match="timezone"):
        stubbed.tiers.write_quotes(quotes([row]), ingested_at=datetime(2024, 1, 2))
    assert stubbed.tiers.write_quotes(quotes([]), ingested_at=T0) == WriteCounts(inserted=0, updated=0, unchanged=0)


def test_rejected_records_are_reported_by_row_and_reason(stubbed: Stubbed) -> None:
    rows = [quote("AAA", T0 - n * HOUR, 10.0 + n) for n in range(3)]
    stubbed.query.add_response("query", page([]), {"QueryString": ANY})
    old = "The record timestamp is outside the time range [2024-01-01T09:30:00Z, 2024-01-02T09:45:00Z)"
    same_version = "A record with the same time and dimensions but different measure values already exists"
    stubbed.write.add_client_error(
        "write_records",
        service_error_code="RejectedRecordsException",
        service_message="One or more records have been rejected.",
        http_status_code=419,
        modeled_fields={
            "RejectedRecords": [
                {"RecordIndex": 2, "Reason": old},
                {"RecordIndex": 0, "Reason": same_version, "ExistingVersion": T0_US},
                {"RecordIndex": 1, "Reason": same_version, "ExistingVersion": T0_US + 5},
            ]
        },
    )
    # a rewrite in the same microsecond is resent once with the next version; a later ingest's version is not
    resent = {"DatabaseName": DATABASE, "TableName": TABLE, "CommonAttributes": ANY, "Records": ANY}
    stubbed.write.add_response("write_records", {"RecordsIngested": {"Total": 1}}, resent)
    requests: list[dict[str, Any]] = []
    stubbed.write.client.meta.events.register(
        "provide-client-params.timestream-write.WriteRecords",
        lambda params, **_: requests.append(params),
    )

    with pytest.raises(QuotesRejected) as raised:
        stubbed.tiers.write_quotes(quotes(rows), ingested_at=T0)

    assert raised.value.written == 1
    assert raised.value.rejected == [
        RejectedQuote("AAA", T0 - HOUR, same_version, T0_US + 5),
        RejectedQuote("AAA", T0 - 2 * HOUR, old, None),
    ]
    assert "Timestream rejected 2 quotes (1 written)" in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert [record["Version"] for record in requests[1]["Records"]] == [T0_US + 1]
    assert requests[1]["Records"][0]["Time"] == str(T0_US)


# --- queries (stubbed) --------------------------------------------------------------------------------------


def test_latest_quote_sql_and_result(stubbed: Stubbed) -> None:
    newest = quote("AAA", T0 + 123_456 * US, 11.25, bid=11.0, ask=11.5, source="feed")
    stubbed.query.add_response(
        "query",
        page([result_row(newest)]),
        {
            "QueryString": f"{SELECT} FROM {SOURCE} WHERE measure_name = 'quote' AND symbol = 'AAA'"
            " ORDER BY time DESC LIMIT 1"
        },
    )
    as_of = T0 + HOUR + timedelta(seconds=30)
    stubbed.query.add_response(
        "query",
        page([]),
        {
            "QueryString": f"{SELECT} FROM {SOURCE} WHERE measure_name = 'quote' AND symbol = 'BRK.B'"
            " AND time <= TIMESTAMP '2024-01-02 10:30:30.000000000' AND ingested_at <= 1704191430000000"
            " ORDER BY time DESC LIMIT 1"
        },
    )

    latest = stubbed.tiers.latest_quote("AAA")
    assert latest == Quote(
        symbol="AAA", timestamp=newest["timestamp"], price=11.25, size=100.0, bid=11.0, ask=11.5, source="feed"
    )
    assert latest is not None
    assert latest.timestamp.utcoffset() == timedelta(0)
    assert stubbed.tiers.latest_quote("BRK.B", as_of=as_of) is None


def test_read_quotes_follows_every_page_and_matches_duckdbs_frame(stubbed: Stubbed) -> None:
    rows = [
        quote("AAA", T0 - 2 * HOUR, 0.1 + 0.2, bid=0.29, ask=0.31),
        quote("AAA", T0 - HOUR + 17 * US, 1 / 3, size=None, source="feed"),
        quote("AAA", T0, 10.0, size=None),
    ]
    start, end, as_of = T0 - 3 * HOUR, T0 + HOUR, T0 + 30 * timedelta(minutes=1)
    sql = (
        f"{SELECT} FROM {SOURCE} WHERE measure_name = 'quote' AND symbol = 'AAA'"
        " AND time >= TIMESTAMP '2024-01-02 06:30:00.000000000' AND time <= TIMESTAMP '2024-01-02 10:00:00.000000000'"
        " AND ingested_at <= 1704189600000000 ORDER BY time ASC"
    )
    stubbed.query.add_response(
        "query", page([result_row(rows[0]), result_row(rows[1])], "page-2"), {"QueryString": sql}
    )
    stubbed.query.add_response("query", page([], "page-3"), {"QueryString": sql, "NextToken": "page-2"})
    stubbed.query.add_response("query", page([result_row(rows[2])]), {"QueryString": sql, "NextToken": "page-3"})

    frame = stubbed.tiers.read_quotes("AAA", start=start, end=end, as_of=as_of)

    duck = DuckDbTimeSeriesStore(path=None)
    try:
        duck.write_quotes(quotes(rows), ingested_at=T0)
        expected = duck.read_quotes("AAA", start=start, end=end, as_of=as_of)
    finally:
        duck.close()
    pd.testing.assert_frame_equal(frame, expected)
    assert frame["price"].tolist() == [0.1 + 0.2, 1 / 3, 10.0]  # exactly, not approximately
    assert frame["size"].isna().tolist() == [False, True, True]


def test_an_empty_window_or_a_non_ticker_asks_nothing(stubbed: Stubbed) -> None:
    for text in ["x' OR '1'='1", "'; DROP TABLE quotes; --", "AAA' --", "", "aaa", "%", "AAA\n"]:
        assert stubbed.tiers.latest_quote(text) is None
        frame = stubbed.tiers.read_quotes(text)
        assert frame.empty
        assert list(frame.columns) == QUOTE_COLUMNS
    assert stubbed.tiers.read_quotes("AAA", start=T0, end=T0 - US).empty
    assert stubbed.tiers.read_quotes("AAA", start=T0, as_of=T0 - US).empty


def test_tier_counts_is_one_query_against_the_memory_retention(stubbed: Stubbed) -> None:
    counts = [("memory", "BIGINT"), ("magnetic", "BIGINT")]
    stubbed.query.add_response(
        "query",
        page([{"Data": [{"ScalarValue": "3"}, {"ScalarValue": "2"}]}], columns=counts),
        {
            "QueryString": "SELECT count(CASE WHEN time >= ago(1d) THEN 1 END) AS memory,"
            f" count(CASE WHEN time < ago(1d) THEN 1 END) AS magnetic FROM {SOURCE} WHERE measure_name = 'quote'"
        },
    )
    assert stubbed.tiers.tier_counts() == {"memory": 3, "magnetic": 2}

    query_client = offline_client("timestream-query")
    tiers = TimestreamQuoteTiers(
        None, query_client, database=DATABASE, table=TABLE, memory_retention=90 * timedelta(minutes=1)
    )
    with Stubber(query_client) as query:
        query.add_response(
            "query",
            page([{"Data": [{"NullValue": True}, {"ScalarValue": "0"}]}], columns=counts),
            {
                "QueryString": "SELECT count(CASE WHEN time >= ago(90m) THEN 1 END) AS memory,"
                f" count(CASE WHEN time < ago(90m) THEN 1 END) AS magnetic FROM {SOURCE} WHERE measure_name = 'quote'"
            },
        )
        assert tiers.tier_counts() == {"memory": 0, "magnetic": 0}
        query.assert_no_pending_responses()


def test_retention_is_the_services_own(stubbed: Stubbed) -> None:
    assert stubbed.tiers.apply_retention(T0 + 8 * 24 * HOUR) == RetentionResult(moved=0, expired=0)
    with pytest.raises(ValueError, match="timezone"):
        stubbed.tiers.apply_retention(datetime(2024, 1, 2))


def test_names_and_retentions_are_checked() -> None:
    with pytest.raises(ValueError, match="Timestream"):
        TimestreamQuoteTiers(None, None, database='x"; DROP', table=TABLE)
    with pytest.raises(ValueError, match="retention"):
        TimestreamQuoteTiers(None, None, database=DATABASE, table=TABLE, memory_retention=timedelta(days=8))
