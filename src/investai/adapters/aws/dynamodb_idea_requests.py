"""Idea-generation requests and their agent messages in DynamoDB.

IdeaRequests, key ``id``: the record as JSON in ``body``; ``cancelRequested`` beside it (set by
:meth:`request_cancel`, never cleared by an update, which only ever sets it); ``status``; and the index keys
``organisationId``, ``orgOwner`` (``org#owner``) and ``orgStatus`` (``org#status``), each sorted by
``createdKey`` (``<created_at ms, 15 digits>#<id>``, so newest first with ties broken by id).

AgentMessages, keys ``requestId`` and ``seq``: a message takes the number after the newest with a put
conditioned on that number being free; a writer that loses the race reads again and takes the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from investai.adapters.aws.dynamodb_common import (
    Action,
    Item,
    TransactionFailed,
    describe,
    integer,
    is_condition_failure,
    n,
    pause,
    query,
    s,
    take,
    text,
    transact,
    values,
    write,
)
from investai.adapters.aws.dynamodb_ideas import DynamoDbIdeaRepository
from investai.domain.agents import AgentMessage
from investai.domain.common import epoch_ms
from investai.domain.errors import Conflict, NotFound
from investai.domain.idea_jobs import IdeaRequestRecord, RequestStatus
from investai.domain.ideas import InvestmentIdea

_KEY_DIGITS = 15
_LAST_MS: int = 10**_KEY_DIGITS - 1
_APPEND_ATTEMPTS = 64


def _millis(moment: datetime) -> int:
    return max(0, min(epoch_ms(moment), _LAST_MS))


def created_key(record: IdeaRequestRecord) -> str:
    return f"{_millis(record.created_at):0{_KEY_DIGITS}d}#{record.id}"


class DynamoDbIdeaRequestRepository:
    health_name = "dynamodb_idea_requests"

    def __init__(self, *, client: Any, requests_table: str, messages_table: str, ideas: DynamoDbIdeaRepository) -> None:
        self._client = client
        self._requests = requests_table
        self._messages = messages_table
        self._ideas = ideas  # complete() stores a request's ideas in the request's transaction

    def check(self) -> None:
        describe(self._client, self._requests, self._messages)

    def add(self, record: IdeaRequestRecord) -> None:
        item = {
            "id": s(record.id),
            "organisationId": s(record.organisation_id),
            "orgOwner": s(f"{record.organisation_id}#{record.owner_id}"),
            "createdKey": s(created_key(record)),
            "cancelRequested": {"BOOL": record.cancel_requested},
            **self._changing(record),
        }
        try:
            self._client.put_item(
                TableName=self._requests,
                Item=item,
                ConditionExpression="attribute_not_exists(#id)",
                ExpressionAttributeNames={"#id": "id"},
            )
        except Exception as exc:
            if is_condition_failure(exc):
                raise Conflict(f"idea request {record.id} already exists") from exc
            raise

    def get(self, request_id: str) -> IdeaRequestRecord:
        found = self._item(request_id)
        if found is None:
            raise NotFound(f"idea request {request_id} not found")
        return _record(found)

    def update(self, record: IdeaRequestRecord) -> None:
        try:
            write(lambda: self._client.update_item(**self._update(record)))
        except Exception as exc:
            if is_condition_failure(exc):
                raise NotFound(f"idea request {record.id} not found") from exc
            raise

    def complete(self, record: IdeaRequestRecord, ideas: Sequence[InvestmentIdea]) -> None:
        """One transaction: every idea revision (conditioned on its head) and the request's update."""

        def build() -> list[Action]:
            return [*self._ideas.write_actions(ideas), {"Update": self._update(record)}]

        try:
            transact(self._client, build)
        except TransactionFailed as exc:
            if exc.failed(len(exc.reasons) - 1) and not any(exc.failed(i) for i in range(len(exc.reasons) - 1)):
                raise NotFound(f"idea request {record.id} not found") from exc
            raise Conflict(f"idea request {record.id}: its ideas conflict with stored ones") from exc

    def request_cancel(self, request_id: str) -> None:
        try:
            write(
                lambda: self._client.update_item(
                    TableName=self._requests,
                    Key={"id": s(request_id)},
                    UpdateExpression="SET #cancel = :yes",
                    ConditionExpression="attribute_exists(#id)",
                    ExpressionAttributeNames={"#id": "id", "#cancel": "cancelRequested"},
                    ExpressionAttributeValues={":yes": {"BOOL": True}},
                )
            )
        except Exception as exc:
            if is_condition_failure(exc):
                raise NotFound(f"idea request {request_id} not found") from exc
            raise

    def cancel_requested(self, request_id: str) -> bool:
        found = self._item(request_id, projection="cancelRequested")
        if found is None:
            raise NotFound(f"idea request {request_id} not found")
        return bool(found["cancelRequested"]["BOOL"])

    def list_requests(
        self,
        *,
        organisation_id: str,
        owner_id: str | None = None,
        status: RequestStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[IdeaRequestRecord]:
        if owner_id is not None:
            index, attribute, value = "byOwner", "orgOwner", f"{organisation_id}#{owner_id}"
        elif status is not None:
            index, attribute, value = "byStatus", "orgStatus", f"{organisation_id}#{status.value}"
        else:
            index, attribute, value = "byOrganisation", "organisationId", organisation_id
        first, last = _millis(since) if since else 0, _millis(until) if until else _LAST_MS
        if first > last:
            return []
        low = f"{first:0{_KEY_DIGITS}d}#"  # "#" sorts before every character of an id
        high = f"{last:0{_KEY_DIGITS}d}$"  # "$" sorts right after "#"
        arguments: dict[str, Any] = {
            "TableName": self._requests,
            "IndexName": index,
            "KeyConditionExpression": "#p = :p AND #ck BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#p": attribute, "#ck": "createdKey"},
            "ExpressionAttributeValues": values(p=s(value), low=s(low), high=s(high)),
            "ScanIndexForward": False,
        }
        if owner_id is not None and status is not None:
            arguments["FilterExpression"] = "#status = :status"
            arguments["ExpressionAttributeNames"]["#status"] = "status"
            arguments["ExpressionAttributeValues"][":status"] = s(status.value)
        wanted = max(1, min(limit, 500))
        return [_record(item) for item in take(query(self._client, arguments, limit=wanted), wanted)]

    def append_message(self, message: AgentMessage) -> int:
        if self._item(message.request_id, projection="id") is None:
            raise NotFound(f"idea request {message.request_id} not found")
        for attempt in range(_APPEND_ATTEMPTS):
            seq = self._last_seq(message.request_id) + 1
            item = {
                "requestId": s(message.request_id),
                "seq": n(seq),
                "createdAt": n(epoch_ms(message.created_at)),
                "body": s(message.model_dump_json()),
            }
            try:
                self._client.put_item(
                    TableName=self._messages,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#seq)",
                    ExpressionAttributeNames={"#seq": "seq"},
                )
                return seq
            except Exception as exc:
                if not is_condition_failure(exc):
                    raise
            pause(min(attempt, 5))  # another writer took that number; read the newest again
        raise Conflict(f"idea request {message.request_id}: too many concurrent messages to number this one")

    def messages(self, request_id: str, *, after: int = 0, limit: int = 1000) -> list[tuple[int, AgentMessage]]:
        wanted = max(1, min(limit, 10_000))
        arguments = {
            "TableName": self._messages,
            "KeyConditionExpression": "#r = :r AND #seq > :after",
            "ExpressionAttributeNames": {"#r": "requestId", "#seq": "seq"},
            "ExpressionAttributeValues": values(r=s(request_id), after=n(after)),
            "ConsistentRead": True,
        }
        items = take(query(self._client, arguments, limit=wanted), wanted)
        return [(integer(item, "seq"), AgentMessage.model_validate_json(text(item, "body"))) for item in items]

    def _last_seq(self, request_id: str) -> int:
        arguments = {
            "TableName": self._messages,
            "KeyConditionExpression": "#r = :r",
            "ExpressionAttributeNames": {"#r": "requestId", "#seq": "seq"},
            "ExpressionAttributeValues": values(r=s(request_id)),
            "ProjectionExpression": "#seq",
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        newest = take(query(self._client, arguments, limit=1), 1)
        return integer(newest[0], "seq") if newest else 0

    def _item(self, request_id: str, *, projection: str | None = None) -> Item | None:
        arguments: dict[str, Any] = {"TableName": self._requests, "Key": {"id": s(request_id)}, "ConsistentRead": True}
        if projection:
            arguments["ProjectionExpression"] = projection
        found: Item | None = self._client.get_item(**arguments).get("Item")
        return found

    @staticmethod
    def _changing(record: IdeaRequestRecord) -> Item:
        """The attributes an update replaces."""
        return {
            "status": s(record.status.value),
            "orgStatus": s(f"{record.organisation_id}#{record.status.value}"),
            "updatedAt": n(epoch_ms(record.updated_at)),
            "body": s(record.model_dump_json()),
        }

    def _update(self, record: IdeaRequestRecord) -> dict[str, Any]:
        """``UpdateItem`` arguments replacing the record; they set ``cancelRequested`` only ever to true."""
        changing = self._changing(record)
        if record.cancel_requested:
            changing["cancelRequested"] = {"BOOL": True}
        names = {f"#a{index}": name for index, name in enumerate(changing)}
        return {
            "TableName": self._requests,
            "Key": {"id": s(record.id)},
            "UpdateExpression": "SET " + ", ".join(f"#a{index} = :a{index}" for index in range(len(changing))),
            "ConditionExpression": "attribute_exists(#id)",
            "ExpressionAttributeNames": {"#id": "id", **names},
            "ExpressionAttributeValues": {f":a{index}": value for index, value in enumerate(changing.values())},
        }


def _record(item: Item) -> IdeaRequestRecord:
    record = IdeaRequestRecord.model_validate_json(text(item, "body"))
    if item["cancelRequested"]["BOOL"] and not record.cancel_requested:
        record = record.model_copy(update={"cancel_requested": True})
    return record
