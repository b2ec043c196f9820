"""Document metadata and feedback in DynamoDB: one item per record keyed ``id``, its model as JSON in
``body``, and the attributes of its indexes beside it.

Documents: ``ownerId`` / ``organisationId`` with ``updatedAt`` (epoch ms) for the newest-first lists; an update
is a put conditioned on the stored ``updatedAt`` (optimistic concurrency). Feedback: ``ideaId`` / ``userId``
with ``createdAt`` for the oldest-first lists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from investai.adapters.aws.dynamodb_common import (
    Item,
    describe,
    is_condition_failure,
    n,
    query,
    s,
    take,
    text,
    values,
    write,
)
from investai.domain.common import epoch_ms
from investai.domain.documents import Document
from investai.domain.errors import Conflict, NotFound
from investai.domain.feedback import Feedback


def _index_query(table: str, index: str, attribute: str, value: str, *, newest_first: bool) -> dict[str, Any]:
    return {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": attribute},
        "ExpressionAttributeValues": values(p=s(value)),
        "ScanIndexForward": not newest_first,
    }


class DynamoDbDocumentRepository:
    health_name = "dynamodb_documents"

    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def check(self) -> None:
        describe(self._client, self._table)

    def add(self, document: Document) -> None:
        try:
            self._put(document, "attribute_not_exists(#id)", {})
        except Exception as exc:
            if is_condition_failure(exc):
                raise Conflict(f"document {document.id} already exists") from exc
            raise

    def get(self, document_id: str) -> Document:
        found = self._item(document_id)
        if found is None:
            raise NotFound(f"document {document_id} not found")
        return Document.model_validate_json(text(found, "body"))

    def update(self, document: Document, *, expected_updated_at: datetime) -> None:
        try:
            self._put(
                document, "attribute_exists(#id) AND #u = :expected", {"expected": n(epoch_ms(expected_updated_at))}
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            if self._item(document.id) is None:
                raise NotFound(f"document {document.id} not found") from exc
            raise Conflict(f"document {document.id} changed since it was read") from exc

    def delete(self, document_id: str) -> None:
        try:
            write(
                lambda: self._client.delete_item(
                    TableName=self._table,
                    Key={"id": s(document_id)},
                    ConditionExpression="attribute_exists(#id)",
                    ExpressionAttributeNames={"#id": "id"},
                )
            )
        except Exception as exc:
            if is_condition_failure(exc):
                raise NotFound(f"document {document_id} not found") from exc
            raise

    def list_by_owner(self, owner_id: str, *, limit: int = 100) -> list[Document]:
        return self._list("byOwner", "ownerId", owner_id, limit)

    def list_by_organisation(self, organisation_id: str, *, limit: int = 100) -> list[Document]:
        return self._list("byOrganisation", "organisationId", organisation_id, limit)

    def _list(self, index: str, attribute: str, value: str, limit: int) -> list[Document]:
        arguments = _index_query(self._table, index, attribute, value, newest_first=True)
        items = take(query(self._client, arguments, limit=max(limit, 1)), limit)
        return [Document.model_validate_json(text(item, "body")) for item in items]

    def _item(self, document_id: str) -> Item | None:
        found: Item | None = self._client.get_item(
            TableName=self._table, Key={"id": s(document_id)}, ConsistentRead=True
        ).get("Item")
        return found

    def _put(self, document: Document, condition: str, bound: dict[str, Any]) -> None:
        item = {
            "id": s(document.id),
            "ownerId": s(document.owner_id),
            "organisationId": s(document.organisation_id),
            "updatedAt": n(epoch_ms(document.updated_at)),
            "body": s(document.model_dump_json()),
        }
        names = {"#id": "id", **({"#u": "updatedAt"} if "#u" in condition else {})}
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
        }
        if bound:
            arguments["ExpressionAttributeValues"] = values(**bound)
        write(lambda: self._client.put_item(**arguments))


class DynamoDbFeedbackRepository:
    health_name = "dynamodb_feedback"

    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def check(self) -> None:
        describe(self._client, self._table)

    def add(self, feedback: Feedback) -> None:
        item = {
            "id": s(feedback.id),
            "ideaId": s(feedback.idea_id),
            "userId": s(feedback.user_id),
            "createdAt": n(epoch_ms(feedback.created_at)),
            "body": s(feedback.model_dump_json()),
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#id)",
                ExpressionAttributeNames={"#id": "id"},
            )
        except Exception as exc:
            if is_condition_failure(exc):
                raise Conflict(f"feedback {feedback.id} already exists") from exc
            raise

    def list_for_idea(self, idea_id: str) -> list[Feedback]:
        return self._list("byIdea", "ideaId", idea_id)

    def list_by_user(self, user_id: str) -> list[Feedback]:
        return self._list("byUser", "userId", user_id)

    def _list(self, index: str, attribute: str, value: str) -> list[Feedback]:
        arguments = _index_query(self._table, index, attribute, value, newest_first=False)
        return [Feedback.model_validate_json(text(item, "body")) for item in query(self._client, arguments)]
