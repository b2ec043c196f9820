"""The AWS shape's :class:`~investai.adapters.aws.market_parts.MarketCatalog`: the symbol master, the quarantine
and the providers' bookkeeping in one DynamoDB table (:data:`~investai.adapters.aws.resources.MARKET_TABLE`,
string keys ``pk`` and ``sk``), with the semantics of the embedded store
(:mod:`investai.adapters.local.duckdb_market`, :mod:`investai.adapters.local.duckdb_quarantine`).

Items (``body`` is JSON: what never changes once written travels as one string, as in the other repositories):

- ``pk = "symbol"``, ``sk = <symbol>``: a master entry, :class:`SymbolInfo` in ``body``. One partition, queried
  in key order (which is symbol order) page by page and filtered here: case-insensitive substring matching has
  no key or filter expression in DynamoDB, and a master of thousands of entries is a few pages.
- ``pk = "quarantine"``, ``sk = <id>``: a held row. ``body`` holds the submitted values (floats written by
  ``repr``, so every double comes back bit for bit, ``1e308`` and infinities included; a missing value is
  ``null``) and the reason; beside it ``status``, ``quarantinedAt`` (epoch microseconds), ``digest`` (the key
  of its digest item) and, once resolved, ``resolvedAt`` (epoch microseconds) and ``review`` (JSON: who, the
  note and the token of the resolving call). Listings read the partition (the status as a filter expression)
  and order here, newest first, then by symbol, date and id; that suits a quarantine of thousands of rows (a
  ``(status, order)`` index would be the step beyond).
- ``pk = "held#<sha256 of symbol, date, values and source>"``, ``sk = "held"``: the digest item of a held
  row's content, naming its holder (``heldId``, ``heldKey``). Holding a row is one transaction: the row put
  conditioned on its id being new, and the digest put conditioned on the digest being free, so of two callers
  holding equal rows at the same moment one wins and the other is handed the winner's id.
  A digest is *free* when it is absent or when its holder is no longer pending: resolving a row does not
  touch its digest item (so a resolution is one action per row), and the next equal row takes the digest
  over in a transaction conditioned on the digest still naming that holder and on the holder still not
  being pending. As in DuckDB, a resolved row does not absorb a later equal row: that one is held anew.
- ``pk = "provider#<provider>"``, ``sk = <fingerprint>``: a file a provider's refresh ingested (``body``: the
  file's name, symbol, counts and time). Written with ``attribute_not_exists``: the first record is kept.

A key part that DynamoDB cannot take as it is (empty, longer than :data:`KEY_BYTES` bytes of UTF-8, not
encodable) is replaced by a tagged SHA-256 digest, so hostile symbols, ids, providers and fingerprints are
simply not found (or stored under their digest) instead of failing; the real value always stays in ``body``.

Resolving (:meth:`DynamoDbMarketCatalog.resolve_quarantined`) is one ``TransactWriteItems`` of conditional
updates (``status = pending``) for up to :data:`MAX_RESOLVE` ids: all or none, and
:class:`~investai.domain.market.QuarantineResolved` with nothing changed when one row is not pending. A larger
set (the review service allows 500 rows) is resolved in transactions of :data:`MAX_RESOLVE`; when a later one
is refused, the earlier ones are undone (each update conditioned on this call's token) before
``QuarantineResolved`` is raised. The outcome is all or none, but a concurrent reader may see part of such a
resolution for that moment, and a process that dies between the transactions leaves the earlier ones resolved.

:meth:`~DynamoDbMarketCatalog.reopen_quarantined` puts rows back to pending when they are still resolved as
that status at that moment and skips the others. It leaves the digest items alone: a reopened row is again the
digest's pending holder, unless an equal row was held in the short window between the resolution and the
reopening, in which case both stay pending (each can be resolved on its own).

Every read is strongly consistent, so what a call wrote the next call reads.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import json
import math
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from investai.adapters.aws.dynamodb_common import (
    Action,
    Item,
    TransactionFailed,
    describe,
    is_condition_failure,
    n,
    pause,
    s,
    text,
    transact,
    write,
)
from investai.domain.errors import Conflict
from investai.domain.market import (
    TICKER_PATTERN,
    AssetClass,
    QuarantinedBar,
    QuarantineResolved,
    QuarantineStatus,
    SymbolInfo,
)
from investai.observability.logging import get_logger
from investai.ports.market import QUARANTINE_SCHEMA, ProviderFile

log = get_logger(__name__)

SYMBOLS = "symbol"
QUARANTINE = "quarantine"
HELD_PREFIX = "held#"
HELD_SORT = "held"
PROVIDER_PREFIX = "provider#"

KEY_BYTES = 512
"""The longest key part stored as it is (DynamoDB allows 1024 bytes in a sort key, 2048 in a partition key)."""
HASHED = "\x1f#"
"""The tag of a key part replaced by its digest; a value that itself starts with it is always hashed, so the
two forms never collide."""

MAX_RESOLVE = 100
"""Rows one resolving transaction updates (DynamoDB's limit of actions per transaction)."""
GET_BATCH = 100
WRITE_BATCH = 25
HOLD_BATCH = 33
"""Rows one holding transaction writes: a row put, a digest put and, on a takeover, a check of the previous
holder, so at most 99 actions."""
PAGE_SIZE = 1000

_ATTEMPTS = 8
_PENDING = QuarantineStatus.PENDING.value
_VALUES = ["open", "high", "low", "close", "adj_close", "volume"]
_SAME = ["symbol", "date", *_VALUES, "source"]
"""What makes two held rows equal (the reason does not)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICKER = re.compile(TICKER_PATTERN)
_STATUS = {"#status": "status"}


# --- values at the boundary ----------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no timezone; the catalog takes aware datetimes")
    return moment.astimezone(UTC)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def key_part(value: str) -> str:
    """``value`` as a key part: itself when DynamoDB can take it, else its tagged digest (see the module notes)."""
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        encoded = b""
    if 0 < len(encoded) <= KEY_BYTES and not value.startswith(HASHED):
        return value
    return HASHED + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _key(pk: str, sk: str) -> Item:
    return {"pk": s(pk), "sk": s(sk)}


def _row_key(identifier: str) -> Item:
    return _key(QUARANTINE, key_part(identifier))


def _float(value: Any) -> float | None:
    """A held value as stored: ``None`` for missing (NaN too)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _held_rows(rows: pa.Table) -> list[dict[str, Any]]:
    """``rows`` as :data:`QUARANTINE_SCHEMA` records (NaN as ``None``); ``ValueError`` when they do not fit."""
    missing = [name for name in QUARANTINE_SCHEMA.names if name not in rows.column_names]
    if missing:
        raise ValueError(f"the batch lacks columns {missing}")
    try:
        records: list[dict[str, Any]] = rows.select(QUARANTINE_SCHEMA.names).cast(QUARANTINE_SCHEMA).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError) as error:
        raise ValueError(f"the batch does not fit the schema: {error}") from error
    required = [field.name for field in QUARANTINE_SCHEMA if not field.nullable]
    for record in records:
        for name in _VALUES:
            record[name] = _float(record[name])
        absent = [name for name in required if record[name] is None]
        if absent:
            raise ValueError(f"a held row lacks {absent}")
    return records


def _digest(row: Mapping[str, Any]) -> str:
    """The digest item's key of a held row's content (``-0.0`` is ``0.0``, as SQL compares them)."""
    same = [row[name] + 0.0 if name in _VALUES and row[name] is not None else row[name] for name in _SAME]
    same[_SAME.index("date")] = row["date"].isoformat()
    return HELD_PREFIX + hashlib.sha256(json.dumps(same).encode("utf-8", "surrogatepass")).hexdigest()


def _held_body(row: Mapping[str, Any]) -> str:
    return json.dumps({**row, "date": row["date"].isoformat()})


def _held_bar(item: Item, body: Mapping[str, Any] | None = None) -> QuarantinedBar:
    values = dict(body if body is not None else json.loads(text(item, "body")))
    review = json.loads(text(item, "review")) if "review" in item else {}
    return QuarantinedBar.model_validate(
        {
            **values,
            "quarantined_at": _moment(int(item["quarantinedAt"]["N"])),
            "status": text(item, "status"),
            "resolved_at": _moment(int(item["resolvedAt"]["N"])) if "resolvedAt" in item else None,
            "resolved_by": review.get("by"),
            "note": review.get("note"),
        }
    )


def _listing_order(entry: tuple[Item, dict[str, Any]]) -> tuple[int, str, str, str]:
    item, body = entry
    return (-int(item["quarantinedAt"]["N"]), body["symbol"], body["date"], body["id"])


# --- the catalog -----------------------------------------------------------------------------------------------


class DynamoDbMarketCatalog:
    """The market catalog in DynamoDB table ``table`` through an injected low-level ``client`` (see the module
    notes). ``page_size``: the items one ``Query`` page asks for. Thread-safe (boto3 clients are)."""

    health_name = "dynamodb_market_catalog"

    def __init__(self, client: Any, table: str, *, page_size: int = PAGE_SIZE) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._client = client
        self._table = table
        self._page_size = page_size

    def check(self) -> None:
        describe(self._client, self._table)

    # --- symbol master -------------------------------------------------------------------------------------

    def upsert_symbols(self, symbols: Sequence[SymbolInfo]) -> int:
        """Insert or replace by symbol; of several entries for one symbol the last wins."""
        latest = {info.symbol: info for info in symbols}
        requests = [
            {"PutRequest": {"Item": {**_key(SYMBOLS, symbol), "body": s(info.model_dump_json())}}}
            for symbol, info in latest.items()
        ]
        for first in range(0, len(requests), WRITE_BATCH):
            self._write_batch(requests[first : first + WRITE_BATCH])
        return len(latest)

    def get_symbol(self, symbol: str) -> SymbolInfo | None:
        if not _TICKER.fullmatch(symbol):
            return None  # not a symbol the master can hold
        found = self._client.get_item(TableName=self._table, Key=_key(SYMBOLS, symbol), ConsistentRead=True)
        item = found.get("Item")
        return None if item is None else SymbolInfo.model_validate_json(text(item, "body"))

    def find_symbols(
        self,
        *,
        query: str | None = None,
        sector: str | None = None,
        asset_class: AssetClass | None = None,
        limit: int = 100,
    ) -> list[SymbolInfo]:
        """Symbol or name containing ``query`` literally, case-insensitive; the sector case-insensitive; in
        symbol order (the partition's key order), reading pages only until ``limit`` entries matched."""
        if limit < 1:
            return []
        needle = query.lower() if query else None
        wanted_sector = None if sector is None else sector.lower()
        wanted_class = None if asset_class is None else AssetClass(asset_class).value
        found: list[SymbolInfo] = []
        arguments = self._partition(SYMBOLS, projection="body")
        for item in self._query(arguments):
            entry = json.loads(text(item, "body"))
            if needle is not None and needle not in entry["symbol"].lower() and needle not in entry["name"].lower():
                continue
            if wanted_sector is not None and (entry.get("sector") is None or entry["sector"].lower() != wanted_sector):
                continue
            if wanted_class is not None and entry.get("asset_class") != wanted_class:
                continue
            found.append(SymbolInfo.model_validate(entry))
            if len(found) >= limit:
                break
        return found

    def known_symbols(self, symbols: Iterable[str]) -> set[str]:
        wanted = sorted({symbol for symbol in symbols if isinstance(symbol, str) and _TICKER.fullmatch(symbol)})
        items = self._get_many([_key(SYMBOLS, symbol) for symbol in wanted], projection="sk")
        return {text(item, "sk") for item in items}

    # --- quarantine ----------------------------------------------------------------------------------------

    def quarantine_bars(self, rows: pa.Table, *, at: datetime) -> list[str]:
        """Hold ``rows``; a row equal to a pending one (or to an earlier one of the batch) gets that one's id.
        Rows go in transactions of :data:`HOLD_BATCH`; an id that already holds a different row is refused with
        ``ValueError`` (ids are generated unique, so that is a caller's mistake), the chunks before it held."""
        moment = _utc(at)
        held = _held_rows(rows)
        digests = [_digest(row) for row in held]
        first_of: dict[str, int] = {}
        for index, digest in enumerate(digests):
            first_of.setdefault(digest, index)
        leaders = [(digest, held[index]) for digest, index in first_of.items()]
        ids = [row["id"] for _, row in leaders]
        if len(set(map(key_part, ids))) < len(ids):
            raise ValueError("the batch holds two different rows under one id")
        holders: dict[str, str] = {}
        for first in range(0, len(leaders), HOLD_BATCH):
            holders.update(self._hold(leaders[first : first + HOLD_BATCH], moment))
        return [holders[digest] for digest in digests]

    def _hold(self, rows: list[tuple[str, dict[str, Any]]], moment: datetime) -> dict[str, str]:
        """Hold one chunk of distinct rows (digest, row): the id each digest is now held under."""
        for attempt in range(_ATTEMPTS):
            digests = {text(item, "pk"): item for item in self._get_many([_key(d, HELD_SORT) for d, _ in rows])}
            holder_keys = [_key(QUARANTINE, text(item, "heldKey")) for item in digests.values()]
            statuses = {
                text(item, "sk"): text(item, "status")
                for item in self._get_many(holder_keys, projection="sk, #status", names=_STATUS)
            }
            held: dict[str, str] = {}
            plan: list[tuple[str, dict[str, Any], int]] = []  # digest, row, index of its row put
            actions: list[Action] = []
            for digest, row in rows:
                holder = digests.get(digest)
                if holder is not None and statuses.get(text(holder, "heldKey")) == _PENDING:
                    held[digest] = text(holder, "heldId")
                    continue
                plan.append((digest, row, len(actions)))
                actions += self._hold_actions(digest, row, moment, holder)
            if not actions:
                return held
            try:
                transact(self._client, functools.partial(list, actions))
            except TransactionFailed as failure:
                taken = [row for _, row, index in plan if failure.failed(index)]
                if taken:
                    self._refuse_taken(taken)
                pause(attempt)
                continue
            held.update({digest: row["id"] for digest, row, _ in plan})
            return held
        raise Conflict("the quarantine kept changing while rows were held; try again")

    def _hold_actions(self, digest: str, row: dict[str, Any], moment: datetime, holder: Item | None) -> list[Action]:
        """Put the row (its id new) and take the digest: free, or from a holder that is no longer pending."""
        row_key = key_part(row["id"])
        item = {
            **_key(QUARANTINE, row_key),
            "body": s(_held_body(row)),
            "status": s(_PENDING),
            "quarantinedAt": n(_micros(moment)),
            "digest": s(digest),
        }
        put_row = {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
        digest_item = {**_key(digest, HELD_SORT), "heldId": s(row["id"]), "heldKey": s(row_key)}
        put_digest: dict[str, Any] = {"TableName": self._table, "Item": digest_item}
        if holder is None:
            put_digest["ConditionExpression"] = "attribute_not_exists(pk)"
            return [put_row, {"Put": put_digest}]
        put_digest["ConditionExpression"] = "heldKey = :holder"
        put_digest["ExpressionAttributeValues"] = {":holder": holder["heldKey"]}
        still_resolved = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": _key(QUARANTINE, text(holder, "heldKey")),
                "ConditionExpression": "attribute_not_exists(pk) OR #status <> :pending",
                "ExpressionAttributeNames": _STATUS,
                "ExpressionAttributeValues": {":pending": s(_PENDING)},
            }
        }
        return [put_row, {"Put": put_digest}, still_resolved]

    def _refuse_taken(self, rows: list[dict[str, Any]]) -> None:
        """``ValueError`` when one of ``rows``' ids already holds a different row (or a resolved one); an id
        that holds this very row, pending, is fine (an earlier attempt of the same call got through)."""
        stored = {
            text(item, "sk"): item
            for item in self._get_many(
                [_row_key(row["id"]) for row in rows], projection="sk, digest, #status", names=_STATUS
            )
        }
        for row in rows:
            item = stored.get(key_part(row["id"]))
            if item is not None and (text(item, "digest") != _digest(row) or text(item, "status") != _PENDING):
                raise ValueError(f"quarantine id {row['id']!r} already holds another row")

    def quarantined_bars(
        self,
        *,
        symbol: str | None = None,
        status: QuarantineStatus | None = QuarantineStatus.PENDING,
        limit: int = 100,
    ) -> list[QuarantinedBar]:
        """Newest first, then by symbol, date and id (the whole partition is read and ordered here)."""
        if limit < 1:
            return []
        arguments = self._partition(QUARANTINE)
        if status is not None:
            arguments["FilterExpression"] = "#status = :status"
            arguments["ExpressionAttributeNames"] = _STATUS
            arguments["ExpressionAttributeValues"][":status"] = s(QuarantineStatus(status).value)
        entries = ((item, json.loads(text(item, "body"))) for item in self._query(arguments))
        if symbol is not None:
            entries = (entry for entry in entries if entry[1]["symbol"] == symbol)
        return [_held_bar(item, body) for item, body in heapq.nsmallest(limit, entries, key=_listing_order)]

    def get_quarantined_bars(self, ids: Sequence[str]) -> list[QuarantinedBar]:
        wanted = list(dict.fromkeys(ids))
        items = self._get_many([_row_key(identifier) for identifier in wanted])
        bodies = [json.loads(text(item, "body")) for item in items]
        # by the id as held: the model strips surrounding whitespace from it
        found = {body["id"]: _held_bar(item, body) for item, body in zip(items, bodies, strict=True)}
        return [found[identifier] for identifier in wanted if identifier in found]

    def resolve_quarantined(
        self, ids: Sequence[str], *, status: QuarantineStatus, at: datetime, by: str, note: str
    ) -> None:
        """Mark the pending rows ``ids`` resolved, all or none (see the module notes for more than
        :data:`MAX_RESOLVE`); :class:`QuarantineResolved`, nothing changed, when one is not pending or unknown."""
        resolution = QuarantineStatus(status)
        if resolution is QuarantineStatus.PENDING:
            raise ValueError("a quarantined row is resolved as released, corrected or discarded")
        moment = _utc(at)
        wanted = list(dict.fromkeys(ids))
        review = json.dumps({"by": by, "note": note, "token": secrets.token_hex(16)})
        values = {":status": s(resolution.value), ":at": n(_micros(moment)), ":review": s(review)}
        update = {
            "UpdateExpression": "SET #status = :status, resolvedAt = :at, review = :review",
            "ConditionExpression": "#status = :pending",
            "ExpressionAttributeNames": _STATUS,
            "ExpressionAttributeValues": {**values, ":pending": s(_PENDING)},
        }
        undo = "#status = :status AND resolvedAt = :at AND review = :review"  # this call's resolution only
        started: list[str] = []
        for first in range(0, len(wanted), MAX_RESOLVE):
            chunk = wanted[first : first + MAX_RESOLVE]
            started += chunk
            try:
                transact(self._client, functools.partial(self._updates, chunk, update))
            except BaseException as error:
                if first or not isinstance(error, TransactionFailed):  # a failed request may have committed
                    self._undo(started, undo, values)
                if isinstance(error, TransactionFailed) and error.condition_failed:
                    raise QuarantineResolved(
                        "a quarantined row was already released, corrected or discarded, or does not exist"
                    ) from error
                raise

    def reopen_quarantined(self, ids: Sequence[str], *, status: QuarantineStatus, at: datetime) -> None:
        """Put back to pending the rows of ``ids`` still resolved as ``status`` at ``at``; others are left as
        they are."""
        resolution = QuarantineStatus(status)
        if resolution is QuarantineStatus.PENDING:
            raise ValueError("only a resolution can be undone")
        values = {":status": s(resolution.value), ":at": n(_micros(_utc(at)))}
        self._reopen(list(dict.fromkeys(ids)), "#status = :status AND resolvedAt = :at", values)

    def _undo(self, ids: list[str], condition: str, values: dict[str, Any]) -> None:
        """Compensate a resolution that could not be completed; a failure here is logged, not raised, so the
        caller's error is the one that surfaces."""
        try:
            self._reopen(ids, condition, values)
        except Exception:
            log.exception("market_catalog.undo_failed", table=self._table, rows=len(ids))

    def _reopen(self, ids: list[str], condition: str, values: dict[str, Any]) -> None:
        update = {
            "UpdateExpression": "SET #status = :pending REMOVE resolvedAt, review",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": _STATUS,
            "ExpressionAttributeValues": {**values, ":pending": s(_PENDING)},
        }
        for first in range(0, len(ids), MAX_RESOLVE):
            remaining = ids[first : first + MAX_RESOLVE]
            while remaining:
                try:
                    transact(self._client, functools.partial(self._updates, remaining, update))
                    break
                except TransactionFailed as failure:
                    if not failure.condition_failed:
                        raise
                    remaining = [i for index, i in enumerate(remaining) if not failure.failed(index)]

    def _updates(self, ids: list[str], update: Mapping[str, Any]) -> list[Action]:
        return [{"Update": {"TableName": self._table, "Key": _row_key(i), **update}} for i in ids]

    # --- provider bookkeeping ------------------------------------------------------------------------------

    def ingested_files(self, provider: str) -> set[str]:
        arguments = self._partition(PROVIDER_PREFIX + key_part(provider), projection="body")
        return {json.loads(text(item, "body"))["fingerprint"] for item in self._query(arguments)}

    def record_ingested_file(
        self, provider: str, file: ProviderFile, *, accepted: int, rejected: int, at: datetime
    ) -> None:
        """Remember ``file``; recording the same fingerprint again keeps the first record."""
        body = {
            "provider": provider,
            "fingerprint": file.fingerprint,
            "name": file.name,
            "symbol": file.symbol,
            "accepted": int(accepted),
            "rejected": int(rejected),
            "ingested_at": _utc(at).isoformat(),
        }
        item = {**_key(PROVIDER_PREFIX + key_part(provider), key_part(file.fingerprint)), "body": s(json.dumps(body))}
        try:
            write(
                lambda: self._client.put_item(
                    TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise

    # --- plumbing ------------------------------------------------------------------------------------------

    def _partition(self, pk: str, *, projection: str | None = None) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": s(pk)},
            "ConsistentRead": True,
        }
        if projection is not None:
            arguments["ProjectionExpression"] = projection
        return arguments

    def _query(self, arguments: Mapping[str, Any]) -> Iterator[Item]:
        """A partition's items in key order, ``page_size`` per request, as they are consumed."""
        page_arguments = {**arguments, "Limit": self._page_size}
        while True:
            page = self._client.query(**page_arguments)
            yield from page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if start is None:
                return
            page_arguments["ExclusiveStartKey"] = start

    def _get_many(
        self, keys: list[Item], *, projection: str | None = None, names: Mapping[str, str] | None = None
    ) -> list[Item]:
        """The items of ``keys`` that exist (any order), 100 keys per ``BatchGetItem``, what DynamoDB leaves
        unprocessed asked again."""
        unique = list({(key["pk"]["S"], key["sk"]["S"]): key for key in keys}.values())
        found: list[Item] = []
        for first in range(0, len(unique), GET_BATCH):
            request: dict[str, Any] = {"Keys": unique[first : first + GET_BATCH], "ConsistentRead": True}
            if projection is not None:
                request["ProjectionExpression"] = projection
            if names:
                request["ExpressionAttributeNames"] = dict(names)
            pending: dict[str, Any] = {self._table: request}
            for attempt in range(_ATTEMPTS):
                answer = self._client.batch_get_item(RequestItems=pending)
                found += answer.get("Responses", {}).get(self._table, [])
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                pause(attempt)
            if pending:
                raise RuntimeError(
                    f"DynamoDB left {len(pending[self._table]['Keys'])} reads unprocessed in {self._table}"
                )
        return found

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self._table: requests}
        for attempt in range(_ATTEMPTS):
            answer = write(functools.partial(self._client.batch_write_item, RequestItems=pending))
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                return
            pause(attempt)
        raise RuntimeError(f"DynamoDB left {len(pending[self._table])} writes unprocessed in {self._table}")
