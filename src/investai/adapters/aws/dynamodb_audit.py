"""The audit log on DynamoDB: a hash chain moved forward by one transaction per record.

Items of the audit table (:data:`~investai.adapters.aws.resources.AUDIT_TABLE`) share one partition
(``chain = "audit"``). Record ``n`` sits at ``seq = n`` and stores its body (every :class:`AuditEvent` field but the
two hashes, canonical JSON), ``prevHash``, ``hash = chain_hash(prevHash, body)`` — the hashing of
:mod:`investai.domain.audit`, as the SQLite log uses — and copies of ``at``, ``actorId``, ``organisationId`` and
``action`` for queries, which :meth:`DynamoDbAuditLog.verify` checks against the body. The head item at
``seq = 0`` holds the last ``seq`` and hash.

Appending reads the head (strongly consistent), then in ONE ``TransactWriteItems`` puts record ``seq + 1`` (only if
absent) and moves the head, conditioned on the head still being at ``seq``. A writer that lost the race (another
process appended first) re-reads the head and tries again, with jittered back-off; threads of one instance take
turns on a lock first, so they do not spend write capacity on conflicts with each other.

What the chain shows, and what it cannot: as for SQLite, any edit, deletion or reordering of records breaks the
chain at the first record touched. The head item makes truncating the newest records visible too (verify walks to
the head's ``seq``), unless the head is rewritten as well. Nothing in DynamoDB refuses an edit by someone holding
``dynamodb:UpdateItem`` on the table: the app role must not (IAM), and :meth:`head` should be copied where the
table's writers cannot reach (the archive to S3 Object Lock).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

from investai.domain.audit import (
    GENESIS_HASH,
    AuditEvent,
    AuditOutcome,
    AuditVerification,
    StoredRecord,
    canonical_json,
    checked_details,
    event_body,
    sealed_event,
    verify_chain,
)
from investai.domain.common import epoch_ms
from investai.domain.errors import IntegrityError, StoreUnavailable
from investai.ports.clock import Clock

CHAIN = "audit"
MAX_PAGE = 500
MAX_ATTEMPTS = 100
_RETRYABLE = frozenset({"ConditionalCheckFailed", "TransactionConflict"})
_COLUMNS = {"at": "at", "actorId": "actor_id", "organisationId": "organisation_id", "action": "action"}


class DynamoDbAuditLog:
    """An :class:`~investai.ports.audit.AuditLog` over an injected DynamoDB client and the audit table."""

    health_name = "audit_log"

    def __init__(self, *, dynamodb: Any, table: str, clock: Clock, max_attempts: int = MAX_ATTEMPTS) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock
        self._max_attempts = max_attempts
        self._lock = threading.Lock()
        self.conflicts = 0
        """Appends that lost a race to another writer and were retried (for tests and metrics)."""

    def append(
        self,
        *,
        action: str,
        outcome: AuditOutcome = AuditOutcome.SUCCESS,
        actor_id: str | None = None,
        organisation_id: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        ip: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        fields: dict[str, Any] = {
            "action": action,
            "outcome": outcome,
            "actor_id": actor_id,
            "organisation_id": organisation_id,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "ip": ip,
            "request_id": request_id,
            "details": checked_details(details),
        }
        sealed_event(seq=1, at=self._clock.now(), prev_hash=GENESIS_HASH, fields=fields)  # refuse before writing
        with self._lock:
            for attempt in range(self._max_attempts):
                last_seq, prev_hash = self.head()
                event = sealed_event(seq=last_seq + 1, at=self._clock.now(), prev_hash=prev_hash, fields=fields)
                if self._try_append(event, last_seq):
                    return event
                self.conflicts += 1
                time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))  # noqa: S311 - jitter, not secrecy
        raise StoreUnavailable(f"the audit log stayed contended for {self._max_attempts} attempts", retry_after_s=1)

    def head(self) -> tuple[int, str]:
        """The newest record's ``seq`` and hash (``(0, GENESIS_HASH)`` when empty), to anchor externally."""
        item = self._db.get_item(TableName=self._table, Key=_key(0), ConsistentRead=True).get("Item")
        if item is None:
            return 0, GENESIS_HASH
        return int(item["lastSeq"]["N"]), str(item["lastHash"]["S"])

    def verify(self) -> AuditVerification:
        """Walk every record in ``seq`` order; report the first that does not hold (the SQLite log's rules), or
        the missing newest records when the chain ends before the ``seq`` the head named when the walk began.
        Records appended during the walk are checked too: they must chain like any other."""
        head_seq, _ = self.head()
        return verify_chain((_stored(item) for item in self._records()), head_seq=head_seq)

    def list_events(
        self,
        *,
        organisation_id: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[AuditEvent]:
        """Newest first; filters combine with AND; ``before_seq`` pages back; ``limit`` is clamped to 1..500.
        Queries the organisation or actor index when one is given (index reads are eventually consistent),
        otherwise the chain's partition; remaining filters apply to what the query reads."""
        wanted = max(1, min(limit, MAX_PAGE))
        if before_seq is not None and before_seq <= 1:
            return []
        query = _list_query(self._table, organisation_id, actor_id, action, before_seq)
        events: list[AuditEvent] = []
        for page in self._db.get_paginator("query").paginate(**query, PaginationConfig={"PageSize": wanted}):
            events += [_event_from_item(item) for item in page.get("Items", [])]
            if len(events) >= wanted:
                break
        return events[:wanted]

    def check(self) -> None:
        """Ready when the table answers a consistent read of the head."""
        self.head()

    # -- internals ----------------------------------------------------------------------------------
    def _try_append(self, event: AuditEvent, last_seq: int) -> bool:
        """Write the record and move the head in one transaction; False when another writer moved it first."""
        head = {**_key(0), "lastSeq": {"N": str(event.seq)}, "lastHash": {"S": event.hash}}
        head_put: dict[str, Any] = {"TableName": self._table, "Item": head}
        if last_seq == 0:
            head_put["ConditionExpression"] = "attribute_not_exists(#seq)"
            head_put["ExpressionAttributeNames"] = {"#seq": "seq"}
        else:
            head_put["ConditionExpression"] = "#last = :last"
            head_put["ExpressionAttributeNames"] = {"#last": "lastSeq"}
            head_put["ExpressionAttributeValues"] = {":last": {"N": str(last_seq)}}
        record_put = {
            "TableName": self._table,
            "Item": _item(event),
            "ConditionExpression": "attribute_not_exists(#seq)",
            "ExpressionAttributeNames": {"#seq": "seq"},
        }
        try:
            self._db.transact_write_items(TransactItems=[{"Put": record_put}, {"Put": head_put}])
        except self._db.exceptions.TransactionCanceledException as exc:
            reasons = [str(r.get("Code") or "None") for r in exc.response.get("CancellationReasons", [])]
            if not set(reasons) - {"None"} <= _RETRYABLE:
                raise
            if reasons == ["ConditionalCheckFailed", "None"] and self.head()[0] == last_seq:
                raise IntegrityError(f"audit record {event.seq} exists beyond the chain's head") from exc
            return False
        except self._db.exceptions.TransactionConflictException:
            return False
        return True

    def _records(self) -> Iterator[dict[str, Any]]:
        """Every record (not the head), oldest first, strongly consistent."""
        pages = self._db.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="#chain = :chain AND #seq >= :one",
            ExpressionAttributeNames={"#chain": "chain", "#seq": "seq"},
            ExpressionAttributeValues={":chain": {"S": CHAIN}, ":one": {"N": "1"}},
            ConsistentRead=True,
        )
        for page in pages:
            yield from page.get("Items", [])


def _key(seq: int) -> dict[str, Any]:
    return {"chain": {"S": CHAIN}, "seq": {"N": str(seq)}}


def _item(event: AuditEvent) -> dict[str, Any]:
    item = {
        **_key(event.seq),
        "at": {"N": str(epoch_ms(event.at))},
        "action": {"S": event.action},
        "body": {"S": canonical_json(event_body(event))},
        "prevHash": {"S": event.prev_hash},
        "hash": {"S": event.hash},
    }
    if event.actor_id is not None:
        item["actorId"] = {"S": event.actor_id}
    if event.organisation_id is not None:
        item["organisationId"] = {"S": event.organisation_id}
    return item


def _list_query(
    table: str, organisation_id: str | None, actor_id: str | None, action: str | None, before_seq: int | None
) -> dict[str, Any]:
    """The newest-first query for a listing: an index for the organisation or actor, else the chain."""
    names: dict[str, str] = {"#seq": "seq"}
    values: dict[str, Any] = {":upper": {"N": str((before_seq if before_seq is not None else 2**62) - 1)}}
    query: dict[str, Any] = {"TableName": table, "ScanIndexForward": False}
    if organisation_id is not None:
        query["IndexName"], partition = "byOrganisation", ("organisationId", organisation_id)
    elif actor_id is not None:
        query["IndexName"], partition = "byActor", ("actorId", actor_id)
    else:
        partition = ("chain", CHAIN)
        query["ConsistentRead"] = True
    names["#part"], values[":part"] = partition[0], {"S": partition[1]}
    query["KeyConditionExpression"] = "#part = :part AND #seq BETWEEN :one AND :upper"
    values[":one"] = {"N": "1"}
    filters = [("actorId", actor_id), ("action", action)] if organisation_id is not None else [("action", action)]
    clauses = []
    for n, (attribute, value) in enumerate((a, v) for a, v in filters if v is not None):
        names[f"#f{n}"], values[f":f{n}"] = attribute, {"S": value}
        clauses.append(f"#f{n} = :f{n}")
    if clauses:
        query["FilterExpression"] = " AND ".join(clauses)
    query["ExpressionAttributeNames"], query["ExpressionAttributeValues"] = names, values
    return query


def _event_from_item(item: dict[str, Any]) -> AuditEvent:
    body = json.loads(item["body"]["S"])
    return AuditEvent.model_validate({**body, "prev_hash": item["prevHash"]["S"], "hash": item["hash"]["S"]})


def _stored(item: dict[str, Any]) -> StoredRecord:
    """A record as :func:`~investai.domain.audit.verify_chain` reads it, columns by their field names."""
    at = _text(item, "at")
    columns: dict[str, object] = {"seq": int(item["seq"]["N"]), "at": int(at) if at and at.isdigit() else at}
    columns |= {field: _text(item, attribute) for attribute, field in _COLUMNS.items() if field != "at"}
    return StoredRecord(
        seq=int(item["seq"]["N"]),
        prev_hash=_text(item, "prevHash"),
        hash=_text(item, "hash"),
        body=_text(item, "body") or "",
        columns=columns,
    )


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {})
    return str(value["S"]) if "S" in value else str(value["N"]) if "N" in value else None
