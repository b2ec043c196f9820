"""The usage ledger in one DynamoDB table (``usage``: keys ``pk``, ``sk``).

Counters
    ``pk = "month#<YYYY-MM>"``, ``sk = "<organisationId>#<dimension>#<name>"`` (dimension: organisation, user,
    model, step), numbers ``calls``, ``inputTokens``, ``outputTokens``, ``costNanos`` moved only by ``ADD``,
    which DynamoDB applies atomically, so concurrent writers never lose an update. A budget check reads two
    items; a report queries one month (``begins_with`` the organisation for one organisation's).
Batches
    ``pk = "batch#<key>"``, ``sk = "batch"``: the uses recorded (JSON in ``body``). A batch's put (conditioned
    on the key being new) and its counter updates are one transaction, so a batch counts once or not at all.
Overrides
    ``pk = "budget#<organisationId>"``, ``sk = "<scope>#<subjectId>"``: the override as JSON in ``body``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from investai.adapters.aws.dynamodb_common import (
    Action,
    Item,
    TransactionFailed,
    describe,
    n,
    query,
    s,
    text,
    transact,
    values,
    write,
)
from investai.domain.budgets import BudgetOverride, BudgetScope, UsageDimension, UsageEntry, UsageTotals
from investai.domain.common import epoch_ms
from investai.ports.usage import CounterKey, UsageLedger

_NUMBERS = {"calls": "calls", "inputTokens": "input_tokens", "outputTokens": "output_tokens", "costNanos": "cost_nanos"}
_ADD_NAMES = {f"#{name}": name for name in ("organisationId", "dimension", "name", *_NUMBERS)}
_ADD_EXPRESSION = "SET #organisationId = :org, #dimension = :dimension, #name = :name ADD " + ", ".join(
    f"#{attribute} :{attribute}" for attribute in _NUMBERS
)
_BATCH_SORT = "batch"
_ATTEMPTS = 16


def _month_key(month: str) -> str:
    return f"month#{month}"


def _counter_sort(key: CounterKey) -> str:
    return f"{key.organisation_id}#{key.dimension.value}#{key.name}"


def _override_key(organisation_id: str, scope: BudgetScope, subject_id: str) -> Item:
    return {"pk": s(f"budget#{organisation_id}"), "sk": s(f"{scope.value}#{subject_id}")}


class DynamoDbUsageLedger(UsageLedger):
    health_name = "dynamodb_usage"

    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def check(self) -> None:
        describe(self._client, self._table)

    def _apply(self, batch_key: str, entries: list[UsageEntry], counters: dict[CounterKey, UsageTotals]) -> bool:
        batch: Action = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": s(f"batch#{batch_key}"),
                    "sk": s(_BATCH_SORT),
                    "recordedAt": n(max(epoch_ms(entry.at) for entry in entries)),
                    "body": s(json.dumps([entry.model_dump(mode="json") for entry in entries])),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        actions = [batch, *(self._add(key, totals) for key, totals in counters.items())]
        try:
            transact(self._client, lambda: actions, attempts=_ATTEMPTS)
        except TransactionFailed as exc:
            if exc.failed(0):
                return False  # recorded before
            raise
        return True

    def _add(self, key: CounterKey, totals: UsageTotals) -> Action:
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": s(_month_key(key.month)), "sk": s(_counter_sort(key))},
                "UpdateExpression": _ADD_EXPRESSION,
                "ExpressionAttributeNames": _ADD_NAMES,
                "ExpressionAttributeValues": values(
                    org=s(key.organisation_id),
                    dimension=s(key.dimension.value),
                    name=s(key.name),
                    **{attribute: n(getattr(totals, field)) for attribute, field in _NUMBERS.items()},
                ),
            }
        }

    def _counter(self, key: CounterKey) -> UsageTotals:
        answer = self._client.get_item(
            TableName=self._table,
            Key={"pk": s(_month_key(key.month)), "sk": s(_counter_sort(key))},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return UsageTotals() if item is None else _totals(item)

    def _counters(self, month: str, organisation_id: str | None) -> Iterable[tuple[CounterKey, UsageTotals]]:
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": values(pk=s(_month_key(month))),
            "ConsistentRead": True,
        }
        if organisation_id is not None:
            arguments["KeyConditionExpression"] += " AND begins_with(sk, :org)"
            arguments["ExpressionAttributeValues"][":org"] = s(f"{organisation_id}#")
        for item in query(self._client, arguments):
            key = CounterKey(
                month, text(item, "organisationId"), UsageDimension(text(item, "dimension")), text(item, "name")
            )
            yield key, _totals(item)

    # --- overrides -------------------------------------------------------------------------------------------

    def set_override(self, override: BudgetOverride) -> None:
        item = {
            **_override_key(override.organisation_id, override.scope, override.subject_id),
            "body": s(override.model_dump_json()),
        }
        write(lambda: self._client.put_item(TableName=self._table, Item=item))

    def clear_override(self, *, organisation_id: str, scope: BudgetScope, subject_id: str) -> bool:
        answer = write(
            lambda: self._client.delete_item(
                TableName=self._table, Key=_override_key(organisation_id, scope, subject_id), ReturnValues="ALL_OLD"
            )
        )
        return bool(answer.get("Attributes"))

    def override(self, *, organisation_id: str, scope: BudgetScope, subject_id: str) -> BudgetOverride | None:
        answer = self._client.get_item(
            TableName=self._table, Key=_override_key(organisation_id, scope, subject_id), ConsistentRead=True
        )
        item = answer.get("Item")
        return None if item is None else BudgetOverride.model_validate_json(text(item, "body"))

    def overrides(self, *, organisation_id: str) -> list[BudgetOverride]:
        found = query(
            self._client,
            {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": values(pk=s(f"budget#{organisation_id}")),
                "ConsistentRead": True,
            },
        )
        overrides = [BudgetOverride.model_validate_json(text(item, "body")) for item in found]
        return sorted(overrides, key=lambda item: (item.scope is BudgetScope.USER, item.subject_id))


def _totals(item: Item) -> UsageTotals:
    return UsageTotals(
        **{field: int(item[attribute]["N"]) if attribute in item else 0 for attribute, field in _NUMBERS.items()}
    )
