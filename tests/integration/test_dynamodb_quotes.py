"""Quotes in DynamoDB (:mod:`investai.adapters.aws.dynamodb_quotes`): what the port's contract suite (which runs
these tiers through the AWS market store) cannot express — the stored items' TTL and tier attributes, exact float
round trips, queries and retention across many pages, and DynamoDB's unprocessed items and keys."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from investai.adapters.aws import dynamodb_quotes
from investai.adapters.aws.dynamodb_quotes import DynamoDbQuoteTiers
from investai.adapters.aws.provision import ensure_table
from investai.adapters.aws.resources import QUOTES_TABLE
from investai.domain.market import RetentionResult, WriteCounts
from investai.ports.market import QUOTE_SCHEMA
from tests.aws import MotoServer, fresh_prefix
from tests.factories import T0

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
US = timedelta(microseconds=1)
T0_US = 1_704_187_800_000_000  # T0 (2024-01-02 09:30 UTC) in epoch microseconds
WEEK_S = 7 * 86_400


def quote(symbol: str, timestamp: datetime, price: float, *, size: float | None = 100.0) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "timestamp": timestamp,
        "price": price,
        "size": size,
        "bid": None,
        "ask": None,
        "source": "api",
    }


def quotes(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=QUOTE_SCHEMA)


@dataclass
class Table:
    client: Any
    name: str

    def item(self, symbol: str, moment: datetime) -> dict[str, Any] | None:
        key = {"symbol": {"S": symbol}, "ts": {"N": str((moment - T0) // US + T0_US)}}
        found: dict[str, Any] | None = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=True).get(
            "Item"
        )
        return found

    def calls(self, operation: str) -> list[dict[str, Any]]:
        """Record the parameters of every ``operation`` request from now on."""
        seen: list[dict[str, Any]] = []
        self.client.meta.events.register(
            f"provide-client-params.dynamodb.{operation}", lambda params, **_: seen.append(dict(params))
        )
        return seen


@pytest.fixture
def table(moto: MotoServer) -> Iterator[Table]:
    client = moto.client("dynamodb")
    name = f"{fresh_prefix()}-quotes"
    ensure_table(client, QUOTES_TABLE, name)
    yield Table(client, name)
    client.delete_table(TableName=name)


def test_items_carry_their_tier_ingest_and_ttl(table: Table) -> None:
    tiers = DynamoDbQuoteTiers(table.client, table.name)
    young, old = T0 - HOUR + 250_000 * US, T0 - 48 * HOUR
    tiers.write_quotes(quotes([quote("AAA", young, 10.0), quote("AAA", old, 9.0, size=None)]), ingested_at=T0)

    fresh = table.item("AAA", young)
    assert fresh is not None
    assert fresh["tier"] == {"S": "memory"}
    assert fresh["ingestedAt"] == {"N": str(T0_US)}
    young_s = (T0_US - 3_600_000_000) // 1_000_000 + 1  # 08:30:00.25 -> the next whole second
    assert fresh["expiresAt"] == {"N": str(young_s + WEEK_S)}
    stale = table.item("AAA", old)
    assert stale is not None
    assert stale["tier"] == {"S": "magnetic"}
    assert stale["expiresAt"] == {"N": str(T0_US // 1_000_000 - 48 * 3600 + WEEK_S)}  # a whole second: itself
    assert "size" not in stale
    assert "bid" not in stale
    ttl = table.client.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
    assert (ttl["AttributeName"], ttl["TimeToLiveStatus"]) == ("expiresAt", "ENABLED")

    # TTL is whole seconds, retention microseconds: TTL never deletes a quote retention would keep
    assert int(fresh["expiresAt"]["N"]) * 1_000_000 >= (young - T0) // US + T0_US + WEEK_S * 1_000_000
    tiers.check()


def test_floats_read_back_exactly(table: Table) -> None:
    tiers = DynamoDbQuoteTiers(table.client, table.name)
    rng = random.Random(20240102)
    tricky = [0.1 + 0.2, 1 / 3, 2 / 3, math.pi * 1e100, 1e-100, 2.0**53 + 2, 123456789.12345679, 5e-7, 1e125]
    tricky += [rng.uniform(0, 1000) for _ in range(60)] + [rng.lognormvariate(0, 20) for _ in range(30)]
    tricky = [value for value in tricky if 1e-130 <= value < 1e126]
    rows = [quote("AAA", T0 - n * MINUTE, value, size=tricky[-1 - n]) for n, value in enumerate(tricky)]
    tiers.write_quotes(quotes(rows), ingested_at=T0)

    frame = tiers.read_quotes("AAA")
    assert [value.hex() for value in frame["price"]] == [value.hex() for value in reversed(tricky)]
    assert [value.hex() for value in frame["size"]] == [value.hex() for value in tricky]
    # a rewrite of the same values is recognised as unchanged (the comparison sees exactly what was written)
    assert tiers.write_quotes(quotes(rows), ingested_at=T0 + HOUR) == WriteCounts(
        inserted=0, updated=0, unchanged=len(rows)
    )

    for beyond in (1e126, 5e-324, math.inf):
        with pytest.raises(ValueError, match="price"):
            tiers.write_quotes(quotes([quote("BBB", T0, 1.0), quote("BBB", T0 + US, beyond)]), ingested_at=T0)
    assert tiers.read_quotes("BBB").empty  # refused whole: nothing written


def test_reads_counts_and_retention_follow_every_page(table: Table) -> None:
    tiers = DynamoDbQuoteTiers(table.client, table.name, page_size=25)
    queries = table.calls("Query")
    transactions = table.calls("TransactWriteItems")
    batches = table.calls("BatchWriteItem")
    stamps = [T0 - n * 8 * MINUTE for n in range(130)]  # 17 hours back: all in the memory tier
    first = quotes([quote("AAA", at, 1.0 + n) for n, at in enumerate(stamps)])
    assert tiers.write_quotes(first, ingested_at=T0) == WriteCounts(inserted=130, updated=0, unchanged=0)
    assert [len(call["RequestItems"][table.name]) for call in batches] == [25] * 5 + [5]

    frame = tiers.read_quotes("AAA")
    assert [moment.to_pydatetime() for moment in frame["timestamp"]] == sorted(stamps)
    assert len(queries) == 6  # 130 items, 25 a page
    assert tiers.tier_counts() == {"memory": 130, "magnetic": 0}

    # a later batch that reads as of an earlier moment must page past: 60 newer stamps ingested 3 hours on
    later = [quote("AAA", T0 + n * MINUTE, 500.0 + n) for n in range(1, 61)]
    tiers.write_quotes(quotes(later), ingested_at=T0 + 3 * HOUR)
    del queries[:]
    latest = tiers.latest_quote("AAA", as_of=T0 + 2 * HOUR)
    assert latest is not None
    assert (latest.timestamp, latest.price) == (T0, 1.0)
    assert len(queries) >= 2  # 60 filtered out before the answer
    assert len(tiers.read_quotes("AAA", as_of=T0 + 2 * HOUR)) == 130
    latest = tiers.latest_quote("AAA")
    assert latest is not None
    assert latest.price == 560.0

    # 23 hours on, the 122 quotes older than an hour at T0 move: transactions of at most 100
    assert tiers.apply_retention(T0 + 23 * HOUR) == RetentionResult(moved=122, expired=0)
    assert [len(call["TransactItems"]) for call in transactions] == [100, 22]
    assert tiers.tier_counts() == {"memory": 68, "magnetic": 122}
    # 6.5 days on, the 39 stamped more than 12 hours before T0 expire (in batches of 25), the rest move
    del batches[:]
    assert tiers.apply_retention(T0 + 6 * 24 * HOUR + 12 * HOUR) == RetentionResult(moved=68, expired=39)
    assert [len(call["RequestItems"][table.name]) for call in batches] == [25, 14]
    assert tiers.tier_counts() == {"memory": 0, "magnetic": 151}
    assert len(tiers.read_quotes("AAA")) == 151


class Unprocessing:
    """A DynamoDB client that leaves half of a batch unprocessed on its first ``rounds`` calls (writing or
    reading only the other half), as DynamoDB does under load."""

    def __init__(self, client: Any, rounds: int = 1) -> None:
        self._client = client
        self.rounds = {"batch_write_item": rounds, "batch_get_item": rounds}
        self.calls = {"batch_write_item": 0, "batch_get_item": 0}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls["batch_write_item"] += 1
        if self.rounds["batch_write_item"] <= 0:
            return dict(self._client.batch_write_item(RequestItems=RequestItems))
        self.rounds["batch_write_item"] -= 1
        ((name, requests),) = RequestItems.items()
        half = len(requests) // 2
        if half:
            self._client.batch_write_item(RequestItems={name: requests[:half]})
        return {"UnprocessedItems": {name: requests[half:]}}

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls["batch_get_item"] += 1
        if self.rounds["batch_get_item"] <= 0:
            return dict(self._client.batch_get_item(RequestItems=RequestItems))
        self.rounds["batch_get_item"] -= 1
        ((name, request),) = RequestItems.items()
        half = len(request["Keys"]) // 2
        done = (
            self._client.batch_get_item(RequestItems={name: {**request, "Keys": request["Keys"][:half]}})
            if half
            else {"Responses": {name: []}}
        )
        return {"Responses": done["Responses"], "UnprocessedKeys": {name: {**request, "Keys": request["Keys"][half:]}}}


def test_unprocessed_items_and_keys_are_resubmitted(table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb_quotes, "pause", lambda attempt: None)
    client = Unprocessing(table.client)
    tiers = DynamoDbQuoteTiers(client, table.name)
    rows = [quote("AAA", T0 - n * MINUTE, 10.0 + n) for n in range(20)]
    tiers.write_quotes(quotes(rows[:10]), ingested_at=T0)  # its read and its write are each left half undone
    assert client.calls == {"batch_write_item": 2, "batch_get_item": 2}

    # the next write's read of what is stored is left half unprocessed: every stored row is still seen
    changed = [{**row, "price": 99.0} if n < 5 else row for n, row in enumerate(rows)]
    client.rounds["batch_get_item"] = 1
    assert tiers.write_quotes(quotes(changed), ingested_at=T0 + MINUTE) == WriteCounts(
        inserted=10, updated=5, unchanged=5
    )
    assert client.calls == {"batch_write_item": 3, "batch_get_item": 4}
    assert sorted(tiers.read_quotes("AAA")["price"]) == sorted(row["price"] for row in changed)

    stuck = Unprocessing(table.client, rounds=1_000)
    stuck.rounds["batch_get_item"] = 0
    with pytest.raises(RuntimeError, match="unprocessed"):
        DynamoDbQuoteTiers(stuck, table.name).write_quotes(quotes([quote("BBB", T0, 1.0)]), ingested_at=T0)
    assert stuck.calls["batch_write_item"] == dynamodb_quotes.BATCH_ATTEMPTS


class DeletingDuringRetention:
    """Deletes the first quote the retention's memory-tier query finds before returning it: another process's
    retention run, say, that got there first."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        self.deleted: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, **arguments: Any) -> dict[str, Any]:
        page = dict(self._client.query(**arguments))
        memory = arguments.get("ExpressionAttributeValues", {}).get(":tier") == {"S": "memory"}
        if self.deleted is None and arguments.get("IndexName") == "byTier" and memory and page.get("Items"):
            item = page["Items"][0]
            self.deleted = {"symbol": item["symbol"], "ts": item["ts"]}
            self._client.delete_item(TableName=self._table, Key=self.deleted)
        return page


def test_a_move_leaves_alone_a_quote_someone_else_removed(table: Table) -> None:
    client = DeletingDuringRetention(table.client, table.name)
    tiers = DynamoDbQuoteTiers(client, table.name)
    tiers.write_quotes(quotes([quote("AAA", T0 - n * HOUR, 1.0 + n) for n in range(5)]), ingested_at=T0)

    assert tiers.apply_retention(T0 + 30 * HOUR) == RetentionResult(moved=4, expired=0)  # 5 were due; 1 vanished

    assert client.deleted is not None
    assert table.client.get_item(TableName=table.name, Key=client.deleted, ConsistentRead=True).get("Item") is None
    assert tiers.tier_counts() == {"memory": 0, "magnetic": 4}
