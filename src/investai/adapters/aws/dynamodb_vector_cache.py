"""The AWS shape's :class:`~investai.adapters.embedding_cache.VectorCache`: the embeddings table
(:data:`~investai.adapters.aws.resources.EMBEDDINGS_TABLE`), shared by every process and Lambda instance.

One item per vector: ``key`` (binary, the content hash), ``vector`` (binary, float32 values) and ``expiresAt``
(epoch seconds, the table's TTL attribute), set ``ttl_days`` ahead each time the vector is written. DynamoDB
deletes an expired item some time later; until then a reader still uses it, which is harmless because a key
names the model, its settings and the text, so the vector under it never changes.

Reads go 100 keys per ``BatchGetItem`` and writes 25 items per ``BatchWriteItem`` (DynamoDB's limits); what
DynamoDB leaves unprocessed is resubmitted with back-off. Whatever is still unprocessed after the last attempt
is given up with a warning: a key not read is embedded again, a vector not written is written by a later call.
Errors (a missing table, access denied) propagate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from investai.adapters.aws.dynamodb_common import pause
from investai.adapters.embedding_cache import Vector, decode_vector, encode_vector
from investai.adapters.local.clock import SystemClock
from investai.observability.logging import get_logger
from investai.ports.clock import Clock

log = get_logger(__name__)

GET_BATCH = 100
"""Keys per ``BatchGetItem`` (DynamoDB's limit)."""

WRITE_BATCH = 25
"""Items per ``BatchWriteItem`` (DynamoDB's limit)."""

_ATTEMPTS = 8
_NAMES = {"#k": "key", "#v": "vector"}  # KEY is a reserved word


class DynamoDbVectorCache:
    """Vectors by content hash in DynamoDB table ``table``, through an injected low-level ``dynamodb`` client
    (thread-safe, so one cache serves concurrent embedders). :meth:`close` releases nothing: the client is the
    caller's."""

    def __init__(self, client: Any, table: str, *, ttl_days: int = 180, clock: Clock | None = None) -> None:
        if ttl_days < 1:
            raise ValueError("ttl_days must be at least 1")
        self._client = client
        self._table = table
        self._ttl = timedelta(days=ttl_days)
        self._clock: Clock = clock or SystemClock()

    @property
    def table(self) -> str:
        return self._table

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Vector]:
        unique = list(dict.fromkeys(bytes(key) for key in keys))
        found: dict[bytes, Vector] = {}
        for start in range(0, len(unique), GET_BATCH):
            for item in self._get_batch(unique[start : start + GET_BATCH]):
                vector = decode_vector(bytes(item.get("vector", {}).get("B", b"")))
                if vector is not None:  # anything else is damage: the text is embedded again
                    found[bytes(item["key"]["B"])] = vector
        return found

    def put_many(self, entries: Mapping[bytes, Vector]) -> None:
        if not entries:
            return
        expires_at = str(int((self._clock.now() + self._ttl).timestamp()))
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "key": {"B": bytes(key)},
                        "vector": {"B": encode_vector(vector)},
                        "expiresAt": {"N": expires_at},
                    }
                }
            }
            for key, vector in entries.items()
        ]
        for start in range(0, len(requests), WRITE_BATCH):
            self._write_batch(requests[start : start + WRITE_BATCH])

    def close(self) -> None:
        """Nothing to release (the client is shared and the caller's)."""

    def _get_batch(self, keys: list[bytes]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        pending: dict[str, Any] = {
            self._table: {
                "Keys": [{"key": {"B": key}} for key in keys],
                "ProjectionExpression": "#k, #v",
                "ExpressionAttributeNames": _NAMES,
            }
        }
        for attempt in range(_ATTEMPTS):
            answer = self._client.batch_get_item(RequestItems=pending)
            items.extend(answer.get("Responses", {}).get(self._table, []))
            pending = answer.get("UnprocessedKeys") or {}
            if not pending:
                return items
            if attempt < _ATTEMPTS - 1:
                pause(attempt)
        left = len(pending.get(self._table, {}).get("Keys", []))
        log.warning("embedding_cache.read_incomplete", table=self._table, unprocessed=left)
        return items

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self._table: requests}
        for attempt in range(_ATTEMPTS):
            answer = self._client.batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                return
            if attempt < _ATTEMPTS - 1:
                pause(attempt)
        log.warning(
            "embedding_cache.write_incomplete", table=self._table, unprocessed=len(pending.get(self._table, []))
        )
