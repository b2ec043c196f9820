"""The DynamoDB market catalog on the session's moto server: what the TimeSeriesStore contract (which runs it
through the composite store) cannot express. Holding one row from two threads at once, undoing a resolution
whose bar write failed, resolutions beyond one transaction, paging and batching, and keys DynamoDB could not
take as they are."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest

from investai.adapters.aws.dynamodb_market_catalog import MAX_RESOLVE, DynamoDbMarketCatalog
from investai.adapters.aws.provision import ensure_table
from investai.adapters.aws.resources import MARKET_TABLE, ResourceNames
from investai.domain.market import QuarantineResolved, QuarantineStatus, SymbolInfo
from investai.ports.market import QUARANTINE_SCHEMA, ProviderFile
from tests.aws import MotoServer, SerialisedClient, fresh_prefix
from tests.factories import T0

HOUR = timedelta(hours=1)
DAY = date(2024, 1, 2)
CORRECTED = QuarantineStatus.CORRECTED


@pytest.fixture
def table(moto: MotoServer) -> Iterator[str]:
    client = moto.client("dynamodb")
    name = ResourceNames(prefix=fresh_prefix()).table(MARKET_TABLE.role)
    ensure_table(client, MARKET_TABLE, name)
    try:
        yield name
    finally:
        client.delete_table(TableName=name)


@pytest.fixture
def catalog(moto: MotoServer, table: str) -> DynamoDbMarketCatalog:
    return DynamoDbMarketCatalog(moto.client("dynamodb"), table)


def held(symbol: str, day: date, close: float, identifier: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(["open", "high", "low", "adj_close", "volume"])
    return {
        **row,
        **values,
        "id": identifier,
        "symbol": symbol,
        "date": day,
        "close": close,
        "source": "test",
        "reason": "implausible",
    }


def rows(*entries: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(entries), schema=QUARANTINE_SCHEMA)


def many(count: int, prefix: str) -> pa.Table:
    return rows(*(held("AAA", DAY + timedelta(days=n), 100.0 + n, f"{prefix}{n:04d}") for n in range(count)))


class Rendezvous:
    """A client whose first ``BatchGetItem`` (the read of the digest items) waits until every party has made
    its own: each holder then believes the row new, and both transactions race for the digest."""

    def __init__(self, client: Any, barrier: threading.Barrier) -> None:
        self._client = client
        self._barrier = barrier
        self._met = False

    def batch_get_item(self, **arguments: Any) -> Any:
        answer = self._client.batch_get_item(**arguments)
        if not self._met:
            self._met = True
            self._barrier.wait(timeout=10)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


# --- holding ----------------------------------------------------------------------------------------------------


def test_two_callers_holding_the_same_row_at_once_get_one_id(moto: MotoServer, table: str) -> None:
    lock, barrier = threading.Lock(), threading.Barrier(2)
    clients = [SerialisedClient(moto.client("dynamodb"), lock) for _ in range(2)]
    catalogs = [DynamoDbMarketCatalog(Rendezvous(client, barrier), table) for client in clients]
    proposals = [rows(held("AAA", DAY, 1e308, f"qb_{n}", volume=1e26)) for n in range(2)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(c.quarantine_bars, p, at=T0) for c, p in zip(catalogs, proposals, strict=True)]
        ids = [future.result(timeout=30) for future in futures]

    (first,), (second,) = ids
    assert first == second in ("qb_0", "qb_1")
    assert [entry.id for entry in catalogs[0].quarantined_bars(status=None)] == [first]
    transactions = sum(client.operations.count("transact_write_items") for client in clients)
    assert transactions == 2  # both tried; the loser read the winner's digest and took its id


def test_many_callers_holding_one_batch_agree_on_every_id(moto: MotoServer, table: str) -> None:
    lock = threading.Lock()
    catalogs = [DynamoDbMarketCatalog(SerialisedClient(moto.client("dynamodb"), lock), table) for _ in range(4)]
    batches = [many(5, f"qb_{caller}_") for caller in range(4)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(lambda pair: pair[0].quarantine_bars(pair[1], at=T0), zip(catalogs, batches, strict=True))
        )

    assert all(answer == answers[0] for answer in answers)
    assert sorted(entry.id for entry in catalogs[0].quarantined_bars(status=None)) == sorted(answers[0])


def test_equal_rows_within_one_batch_are_held_once(catalog: DynamoDbMarketCatalog) -> None:
    ids = catalog.quarantine_bars(
        rows(held("AAA", DAY, 5.0, "qb_a"), held("AAA", DAY, 5.0, "qb_b", reason="x"), held("AAA", DAY, 6.0, "qb_c")),
        at=T0,
    )

    assert ids == ["qb_a", "qb_a", "qb_c"]


def test_an_id_already_holding_another_row_is_refused(catalog: DynamoDbMarketCatalog) -> None:
    catalog.quarantine_bars(rows(held("AAA", DAY, 5.0, "qb_a")), at=T0)

    with pytest.raises(ValueError, match="qb_a"):
        catalog.quarantine_bars(rows(held("BBB", DAY, 7.0, "qb_a")), at=T0 + HOUR)
    with pytest.raises(ValueError, match="one id"):
        catalog.quarantine_bars(rows(held("CCC", DAY, 1.0, "qb_z"), held("CCC", DAY, 2.0, "qb_z")), at=T0)

    assert [entry.symbol for entry in catalog.quarantined_bars(status=None)] == ["AAA"]


def test_held_values_round_trip_bit_for_bit(catalog: DynamoDbMarketCatalog) -> None:
    values = {"open": 5e-324, "high": float("inf"), "low": -0.0, "adj_close": 0.1 + 0.2, "volume": 9.999e125 * 1e10}
    (identifier,) = catalog.quarantine_bars(rows(held("AAA", DAY, 1.7976931348623157e308, "qb_x", **values)), at=T0)

    (entry,) = catalog.get_quarantined_bars([identifier])

    assert entry.close == 1.7976931348623157e308
    assert {name: getattr(entry, name) for name in values} == values
    assert str(entry.low) == "-0.0"


# --- resolving and reopening ------------------------------------------------------------------------------------


def test_a_resolution_reopened_after_a_failed_bar_write_leaves_the_rows_pending(
    catalog: DynamoDbMarketCatalog,
) -> None:
    ids = catalog.quarantine_bars(rows(held("AAA", DAY, 5.0, "qb_a"), held("BBB", DAY, 6.0, "qb_b")), at=T0)
    before = catalog.get_quarantined_bars(ids)
    moment = T0 + HOUR
    catalog.resolve_quarantined(ids, status=CORRECTED, at=moment, by="usr_admin", note="restated")
    assert catalog.quarantined_bars() == []

    catalog.reopen_quarantined(ids, status=CORRECTED, at=moment)  # what the composite does when write_bars fails

    assert catalog.get_quarantined_bars(ids) == before
    assert catalog.quarantine_bars(rows(held("AAA", DAY, 5.0, "qb_again")), at=T0 + 2 * HOUR) == ["qb_a"]
    catalog.resolve_quarantined(ids, status=QuarantineStatus.DISCARDED, at=moment, by="usr_admin", note="n")
    with pytest.raises(QuarantineResolved):
        catalog.resolve_quarantined(ids, status=CORRECTED, at=moment, by="usr_admin", note="n")


def test_reopening_touches_only_the_resolution_named(catalog: DynamoDbMarketCatalog) -> None:
    first, second = catalog.quarantine_bars(rows(held("AAA", DAY, 5.0, "qb_a"), held("BBB", DAY, 6.0, "qb_b")), at=T0)
    catalog.resolve_quarantined([first], status=CORRECTED, at=T0 + HOUR, by="usr_admin", note="n")

    catalog.reopen_quarantined([first], status=CORRECTED, at=T0 + 2 * HOUR)  # another moment
    catalog.reopen_quarantined([first], status=QuarantineStatus.RELEASED, at=T0 + HOUR)  # another status
    catalog.reopen_quarantined([second, "qb_unknown", first], status=CORRECTED, at=T0 + HOUR)

    statuses = {entry.id: entry.status for entry in catalog.get_quarantined_bars([first, second])}
    assert statuses == {first: QuarantineStatus.PENDING, second: QuarantineStatus.PENDING}


def test_a_resolved_row_frees_its_content_for_an_equal_row(catalog: DynamoDbMarketCatalog) -> None:
    (first,) = catalog.quarantine_bars(rows(held("AAA", DAY, 5.0, "qb_a")), at=T0)
    catalog.resolve_quarantined([first], status=QuarantineStatus.DISCARDED, at=T0 + HOUR, by="u", note="")

    assert catalog.quarantine_bars(rows(held("AAA", DAY, 5.0, "qb_b")), at=T0 + 2 * HOUR) == ["qb_b"]
    assert catalog.quarantine_bars(rows(held("AAA", DAY, 5.0, "qb_c")), at=T0 + 3 * HOUR) == ["qb_b"]
    (entry,) = catalog.get_quarantined_bars([first])
    assert (entry.status, entry.resolved_by, entry.note) == (QuarantineStatus.DISCARDED, "u", "")


def test_more_ids_than_one_transaction_holds_are_resolved_all_or_none(catalog: DynamoDbMarketCatalog) -> None:
    count = MAX_RESOLVE + 5
    ids = catalog.quarantine_bars(many(count, "qb_"), at=T0)
    blocker = ids[MAX_RESOLVE + 2]  # in the second transaction
    catalog.resolve_quarantined([blocker], status=QuarantineStatus.DISCARDED, at=T0, by="usr_other", note="first")

    with pytest.raises(QuarantineResolved):
        catalog.resolve_quarantined(ids, status=CORRECTED, at=T0 + HOUR, by="usr_admin", note="n")

    entries = catalog.get_quarantined_bars(ids)
    assert {entry.id for entry in entries if entry.status is QuarantineStatus.PENDING} == set(ids) - {blocker}
    assert all(entry.resolved_at is None for entry in entries if entry.id != blocker)
    (kept,) = catalog.get_quarantined_bars([blocker])
    assert (kept.status, kept.resolved_by, kept.note) == (QuarantineStatus.DISCARDED, "usr_other", "first")

    pending = [identifier for identifier in ids if identifier != blocker]
    catalog.resolve_quarantined(pending, status=CORRECTED, at=T0 + HOUR, by="usr_admin", note="n")
    assert catalog.quarantined_bars() == []
    assert len(catalog.quarantined_bars(status=CORRECTED, limit=1000)) == count - 1


# --- paging, batching and keys --------------------------------------------------------------------------------


class Counting:
    """A client that counts its requests per operation and, once, leaves half of a batch unprocessed (as
    DynamoDB may under load)."""

    def __init__(self, client: Any, *, table: str, throttle: bool = False) -> None:
        self._client = client
        self._table = table
        self._throttle = {"batch_get_item", "batch_write_item"} if throttle else set()
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name in ("exceptions", "meta") or not callable(attribute):
            return attribute

        def call(**arguments: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if name in self._throttle:
                self._throttle.discard(name)
                return self._half(name, attribute, arguments)
            return attribute(**arguments)

        return call

    def _half(self, name: str, attribute: Any, arguments: dict[str, Any]) -> Any:
        request = arguments["RequestItems"][self._table]
        if name == "batch_get_item":
            keys = request["Keys"]
            answer = attribute(RequestItems={self._table: {**request, "Keys": keys[: len(keys) // 2]}})
            answer["UnprocessedKeys"] = {self._table: {**request, "Keys": keys[len(keys) // 2 :]}}
            return answer
        answer = attribute(RequestItems={self._table: request[: len(request) // 2]})
        answer["UnprocessedItems"] = {self._table: request[len(request) // 2 :]}
        return answer


def symbol_list(count: int) -> list[SymbolInfo]:
    return [SymbolInfo(symbol=f"S{n:04d}", name=f"Company {n}", sector="Tech" if n % 2 else None) for n in range(count)]


def test_find_symbols_reads_page_after_page_and_stops_at_the_limit(moto: MotoServer, table: str) -> None:
    client = Counting(moto.client("dynamodb"), table=table)
    catalog = DynamoDbMarketCatalog(client, table, page_size=2)
    catalog.upsert_symbols(symbol_list(9))

    found = catalog.find_symbols(sector="tech")
    assert [info.symbol for info in found] == ["S0001", "S0003", "S0005", "S0007"]
    assert client.calls["query"] == 5  # 9 entries, 2 a page

    client.calls.clear()
    assert [info.symbol for info in catalog.find_symbols(query="company", limit=3)] == ["S0000", "S0001", "S0002"]
    assert client.calls["query"] == 2


def test_batches_are_split_to_dynamodbs_limits_and_unprocessed_items_retried(moto: MotoServer, table: str) -> None:
    client = Counting(moto.client("dynamodb"), table=table, throttle=True)
    catalog = DynamoDbMarketCatalog(client, table)
    entries = symbol_list(260)

    assert catalog.upsert_symbols(entries) == 260
    assert client.calls["batch_write_item"] == 12  # 11 of 25 (the last short), one retry of the unprocessed half

    wanted = [info.symbol for info in entries] + ["NOPE", "S9999"]
    assert catalog.known_symbols(wanted) == {info.symbol for info in entries}
    assert client.calls["batch_get_item"] == 4  # 3 of at most 100, one retry
    assert catalog.find_symbols(limit=1000) == entries


HOSTILE = ["", "x" * 5000, "é" * 700, "\x00\x1f\n", "\x1f#abc", "\ud800", "qb_' OR '1'='1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_keys_dynamodb_cannot_take_as_they_are_match_nothing_and_break_nothing(
    catalog: DynamoDbMarketCatalog, value: str
) -> None:
    (identifier,) = catalog.quarantine_bars(rows(held("AAA", DAY, 5.0, "qb_a")), at=T0)

    assert catalog.get_symbol(value) is None
    assert catalog.known_symbols([value]) == set()
    assert catalog.get_quarantined_bars([value, identifier]) == catalog.get_quarantined_bars([identifier])
    assert catalog.ingested_files(value) == set()
    with pytest.raises(QuarantineResolved):
        catalog.resolve_quarantined([identifier, value], status=CORRECTED, at=T0, by="u", note="n")
    assert [entry.id for entry in catalog.quarantined_bars()] == [identifier]
    catalog.reopen_quarantined([value], status=CORRECTED, at=T0)


@pytest.mark.parametrize("value", [v for v in HOSTILE if v != "\ud800"])
def test_long_and_odd_names_are_stored_under_their_digest(catalog: DynamoDbMarketCatalog, value: str) -> None:
    catalog.record_ingested_file(value, ProviderFile(name=value, fingerprint=value), accepted=1, rejected=0, at=T0)
    catalog.record_ingested_file(value, ProviderFile(name="again", fingerprint=value), accepted=2, rejected=0, at=T0)
    catalog.record_ingested_file("plain", ProviderFile(name="a", fingerprint=value), accepted=1, rejected=0, at=T0)

    assert catalog.ingested_files(value) == {value}
    assert catalog.ingested_files("plain") == {value}
    (identifier,) = catalog.quarantine_bars(rows(held("AAA", DAY, 5.0, value or "qb_empty")), at=T0)
    assert identifier == (value or "qb_empty")
    (entry,) = catalog.get_quarantined_bars([identifier])  # its id as the model reads it (whitespace stripped)
    assert entry.close == 5.0


def test_check_describes_the_table(moto: MotoServer, catalog: DynamoDbMarketCatalog) -> None:
    catalog.check()
    with pytest.raises(moto.client("dynamodb").exceptions.ResourceNotFoundException):
        DynamoDbMarketCatalog(moto.client("dynamodb"), "no-such-table").check()
