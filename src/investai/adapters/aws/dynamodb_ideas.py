"""Idea revisions in DynamoDB: the InvestmentIdeas table, partition key ``id``, sort key ``timestamp``.

An idea's partition holds one item per revision at its ``timestamp`` (epoch ms) and a head item at sort key
:data:`HEAD`:

- a revision: ``body`` (the idea as JSON), ``version``, ``organisationId`` (the by-organisation index covers
  every revision, for point-in-time lists) and, once superseded, ``supersededAt`` (its successor's timestamp).
  Only the latest revision carries the sparse index keys ``userId``, ``orgStatus`` (``org#status``),
  ``orgDate`` (``org#YYYY-MM-DD``) and, while approved or rejected, ``expiryQueue`` + ``expiresAt``; storing
  a revision removes them from its predecessor in the same transaction.
- the head: ``version`` and ``latest`` (the latest revision's timestamp). Every write is one transaction
  conditioned on the head (``attribute_not_exists`` for version 1), so version n+1 commits only on top of n,
  and only once.

Base-table reads are strongly consistent; index queries (the lists) are eventually consistent on AWS.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from investai.adapters.aws.dynamodb_common import (
    HEAD,
    Action,
    Item,
    TransactionFailed,
    describe,
    integer,
    n,
    query,
    s,
    take,
    transact,
    values,
)
from investai.domain.common import epoch_ms
from investai.domain.errors import Conflict, NotFound
from investai.domain.ideas import InvestmentIdea
from investai.domain.lifecycle import IdeaStatus

EXPIRY_QUEUE = "approved-or-rejected"
"""The one partition of the by-expiry index: ideas in any organisation that can expire (a cross-organisation
listing for the scheduler; only latest approved or rejected revisions are in it, so it stays small)."""

_LATEST_ONLY = ("userId", "orgStatus", "orgDate", "expiryQueue", "expiresAt")
_MAX_LIMIT = 500


@dataclass(frozen=True)
class _Head:
    version: int
    latest: int


def _clamp(limit: int) -> int:
    return max(1, min(limit, _MAX_LIMIT))


def _idea(item: Item) -> InvestmentIdea:
    return InvestmentIdea.model_validate_json(item["body"]["S"])


def _index_attributes(idea: InvestmentIdea) -> Item:
    """The sparse index keys the latest revision carries."""
    attributes: Item = {
        "userId": s(idea.owner_id),
        "orgStatus": s(f"{idea.organisation_id}#{idea.status.value}"),
        "orgDate": s(f"{idea.organisation_id}#{idea.date}"),
    }
    if idea.status in (IdeaStatus.APPROVED, IdeaStatus.REJECTED):
        attributes["expiryQueue"] = s(EXPIRY_QUEUE)
        attributes["expiresAt"] = n(epoch_ms(idea.expires_at))
    return attributes


class DynamoDbIdeaRepository:
    health_name = "dynamodb_ideas"

    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def check(self) -> None:
        describe(self._client, self._table)

    def add(self, idea: InvestmentIdea) -> None:
        try:
            transact(self._client, lambda: self.write_actions([idea]))
        except TransactionFailed as exc:
            raise Conflict(f"idea {idea.id}: version {idea.version} does not follow the stored latest") from exc

    def write_actions(self, ideas: Sequence[InvestmentIdea]) -> list[Action]:
        """The transaction actions that store ``ideas`` (revisions in order; several may belong to one idea),
        conditioned on the heads as read now. ``Conflict`` at once when a version or timestamp cannot follow."""
        groups: dict[str, list[InvestmentIdea]] = {}
        for idea in ideas:
            groups.setdefault(idea.id, []).append(idea)
        actions: list[Action] = []
        for revisions in groups.values():
            actions += self._revision_actions(revisions)
        return actions

    def _revision_actions(self, revisions: list[InvestmentIdea]) -> list[Action]:
        first, last = revisions[0], revisions[-1]
        head = self._head(first.id) if first.version > 1 else None
        expected, after = (head.version + 1, head.latest) if head else (1, -1)
        for revision in revisions:
            if revision.version != expected:
                raise Conflict(f"idea {first.id} is at version {expected - 1}; cannot store version {revision.version}")
            if revision.timestamp <= after:
                raise Conflict(f"idea {first.id}: revision timestamps must increase")
            expected, after = revision.version + 1, revision.timestamp
        actions = [self._head_action(head, last)]
        if head is not None:
            actions.append(self._supersede_action(first.id, head.latest, first.timestamp))
        successors: list[InvestmentIdea | None] = [*revisions[1:], None]
        for revision, successor in zip(revisions, successors, strict=True):
            item = self._revision_item(revision, None if successor is None else successor.timestamp)
            put = {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(#id)"}
            actions.append({"Put": {**put, "ExpressionAttributeNames": {"#id": "id"}}})
        return actions

    def _head_action(self, head: _Head | None, last: InvestmentIdea) -> Action:
        if head is None:
            item = {"id": s(last.id), "timestamp": n(HEAD), "version": n(last.version), "latest": n(last.timestamp)}
            return {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(#id)",
                    "ExpressionAttributeNames": {"#id": "id"},
                }
            }
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"id": s(last.id), "timestamp": n(HEAD)},
                "UpdateExpression": "SET #v = :version, #latest = :latest",
                "ConditionExpression": "#v = :seen AND #latest = :seenLatest",
                "ExpressionAttributeNames": {"#v": "version", "#latest": "latest"},
                "ExpressionAttributeValues": values(
                    version=n(last.version), latest=n(last.timestamp), seen=n(head.version), seenLatest=n(head.latest)
                ),
            }
        }

    def _supersede_action(self, idea_id: str, previous: int, successor: int) -> Action:
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"id": s(idea_id), "timestamp": n(previous)},
                "UpdateExpression": f"SET #sup = :sup REMOVE {', '.join(_LATEST_ONLY)}",
                "ConditionExpression": "attribute_exists(#id) AND attribute_not_exists(#sup)",
                "ExpressionAttributeNames": {"#id": "id", "#sup": "supersededAt"},
                "ExpressionAttributeValues": values(sup=n(successor)),
            }
        }

    @staticmethod
    def _revision_item(idea: InvestmentIdea, superseded_at: int | None) -> Item:
        item: Item = {
            "id": s(idea.id),
            "timestamp": n(idea.timestamp),
            "version": n(idea.version),
            "organisationId": s(idea.organisation_id),
            "body": s(idea.model_dump_json()),
        }
        if superseded_at is None:
            item.update(_index_attributes(idea))
        else:
            item["supersededAt"] = n(superseded_at)
        return item

    def _head(self, idea_id: str) -> _Head | None:
        found = self._client.get_item(
            TableName=self._table, Key={"id": s(idea_id), "timestamp": n(HEAD)}, ConsistentRead=True
        ).get("Item")
        return None if found is None else _Head(version=integer(found, "version"), latest=integer(found, "latest"))

    def _revisions(
        self, idea_id: str, *, upper: int = HEAD - 1, newest_first: bool = False, version: int | None = None
    ) -> Iterator[Item]:
        """An idea's revisions up to ``upper`` (never the head), optionally only the given version."""
        names = {"#id": "id", "#ts": "timestamp"}
        bound = values(id=s(idea_id), upper=n(min(upper, HEAD - 1)))
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#id = :id AND #ts <= :upper",
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        if version is not None:
            arguments["FilterExpression"] = "#v = :v"
            names["#v"] = "version"
            bound.update(values(v=n(version)))
        arguments.update(ExpressionAttributeNames=names, ExpressionAttributeValues=bound)
        return query(self._client, arguments, limit=1 if newest_first else None)

    def get(self, idea_id: str, *, version: int | None = None) -> InvestmentIdea:
        found = take(self._revisions(idea_id, newest_first=version is None, version=version), 1)
        if not found:
            raise NotFound(f"idea {idea_id} not found")
        return _idea(found[0])

    def history(self, idea_id: str) -> list[InvestmentIdea]:
        revisions = [_idea(item) for item in self._revisions(idea_id)]
        if not revisions:
            raise NotFound(f"idea {idea_id} not found")
        return revisions

    def as_of(self, idea_id: str, at_ms: int) -> InvestmentIdea:
        found = take(self._revisions(idea_id, upper=at_ms, newest_first=True), 1)
        if not found:
            raise NotFound(f"idea {idea_id} had no revision then")
        return _idea(found[0])

    def list_by_user(self, user_id: str, *, limit: int = 50, before: int | None = None) -> list[InvestmentIdea]:
        return self._latest("byUser", "userId", user_id, limit, before)

    def list_by_status(
        self, organisation_id: str, status: IdeaStatus, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        return self._latest("byStatus", "orgStatus", f"{organisation_id}#{status.value}", limit, before)

    def list_by_date(
        self, organisation_id: str, day: str, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        return self._latest("byDate", "orgDate", f"{organisation_id}#{day}", limit, before)

    def list_by_organisation(
        self, organisation_id: str, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        """The newest ``limit`` of each status partition of the ``byStatus`` index, merged: the index is keyed
        by organisation and status, so an organisation-wide page reads one page per status."""
        merged = [
            idea
            for state in IdeaStatus
            for idea in self.list_by_status(organisation_id, state, limit=limit, before=before)
        ]
        return sorted(merged, key=lambda idea: -idea.timestamp)[: _clamp(limit)]

    def _latest(self, index: str, attribute: str, value: str, limit: int, before: int | None) -> list[InvestmentIdea]:
        condition = "#p = :p" if before is None else "#p = :p AND #ts < :before"
        arguments = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#p": attribute, **({} if before is None else {"#ts": "timestamp"})},
            "ExpressionAttributeValues": values(p=s(value), **({} if before is None else {"before": n(before)})),
            "ScanIndexForward": False,
        }
        return [_idea(item) for item in take(query(self._client, arguments, limit=_clamp(limit)), _clamp(limit))]

    def list_expiring(self, now: datetime, *, limit: int = 500) -> list[InvestmentIdea]:
        """Most overdue first (the index is sorted by ``expires_at``)."""
        arguments = {
            "TableName": self._table,
            "IndexName": "byExpiry",
            "KeyConditionExpression": "#q = :q AND #exp <= :now",
            "ExpressionAttributeNames": {"#q": "expiryQueue", "#exp": "expiresAt"},
            "ExpressionAttributeValues": values(q=s(EXPIRY_QUEUE), now=n(epoch_ms(now))),
        }
        wanted = max(1, limit)
        due = (_idea(item) for item in query(self._client, arguments, limit=wanted))
        found: list[InvestmentIdea] = []
        for idea in due:  # the key holds whole milliseconds; the body has the exact instant
            if idea.expires_at <= now:
                found.append(idea)
                if len(found) >= wanted:
                    break
        return found

    def list_as_of(
        self, organisation_id: str, at_ms: int, *, limit: int = 50, before: int | None = None
    ) -> list[InvestmentIdea]:
        """The revisions with ``timestamp <= at_ms`` not superseded by then: exactly one per idea."""
        upper = at_ms if before is None else min(at_ms, before - 1)
        if upper < 0:
            return []
        arguments = {
            "TableName": self._table,
            "IndexName": "byOrganisation",
            "KeyConditionExpression": "#org = :org AND #ts <= :upper",
            "FilterExpression": "attribute_not_exists(#sup) OR #sup > :at",
            "ExpressionAttributeNames": {"#org": "organisationId", "#ts": "timestamp", "#sup": "supersededAt"},
            "ExpressionAttributeValues": values(org=s(organisation_id), upper=n(upper), at=n(at_ms)),
            "ScanIndexForward": False,
        }
        return [_idea(item) for item in take(query(self._client, arguments, limit=_clamp(limit)), _clamp(limit))]
