"""What the DynamoDB repositories share: attribute values, paged queries, transactions with retries, and the
mapping of DynamoDB's refusals to the domain's errors.

Everything speaks the low-level client's wire format (``{"S": ...}``, ``{"N": "..."}``) so numbers never pass
through ``Decimal``; domain models travel as one JSON string attribute (``body``) beside their key and index
attributes. ``botocore`` is imported only when an error has to be recognised.
"""

from __future__ import annotations

import functools
import itertools
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

Item = dict[str, Any]
"""An item in the low-level client's attribute-value format."""

Action = dict[str, Any]
"""One entry of ``TransactWriteItems``."""

MAX_TRANSACTION_ACTIONS = 100
"""DynamoDB's limit on the items one transaction may touch."""

HEAD = 2**62
"""The sort key of a partition's head item (its latest version, for conditional writes): above every
epoch-millisecond timestamp, so revision queries bound their sort key below it."""

_RETRYABLE_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
_RETRYABLE_WRITE_ERRORS = frozenset({"TransactionConflictException"})


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def integer(item: Mapping[str, Any], name: str) -> int:
    return int(item[name]["N"])


def text(item: Mapping[str, Any], name: str) -> str:
    return str(item[name]["S"])


def values(**named: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``ExpressionAttributeValues`` from keyword arguments: ``values(id=s("x"))`` gives ``{":id": ...}``."""
    return {f":{name}": value for name, value in named.items()}


def error_code(exc: BaseException) -> str | None:
    """The DynamoDB error code of a botocore ``ClientError``; None for any other exception."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return None
    return str(exc.response.get("Error", {}).get("Code", "")) or None


def is_condition_failure(exc: BaseException) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


class TransactionFailed(Exception):
    """A transaction DynamoDB cancelled; ``reasons`` holds one code per action (None where it was fine)."""

    def __init__(self, reasons: list[str | None]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        """Whether action ``index`` failed its condition."""
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"

    @property
    def condition_failed(self) -> bool:
        return "ConditionalCheckFailed" in self.reasons


def _cancellation_reasons(exc: BaseException) -> list[str | None] | None:
    if error_code(exc) != "TransactionCanceledException":
        return None
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return [None if reason.get("Code") in (None, "None") else str(reason["Code"]) for reason in reasons]


def pause(attempt: int) -> None:
    """Full-jitter back-off between attempts: up to 5 ms doubled per attempt, capped at 200 ms."""
    time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))  # noqa: S311 - jitter, not a secret


def transact(
    client: Any, build: Callable[[], list[Action]], *, attempts: int = 8, retry_conditions: bool = False
) -> None:
    """Run the transaction ``build()`` describes. ``build`` is called again for each attempt (so it re-reads
    what it conditions on) after a cancellation that a retry can cure: a conflict with a concurrent
    transaction or throttling, and, with ``retry_conditions``, a failed condition too. Other cancellations,
    and the last, raise :class:`TransactionFailed`."""
    for attempt in range(attempts):
        actions = build()
        if not actions:
            return
        if len(actions) > MAX_TRANSACTION_ACTIONS:
            raise ValueError(f"{len(actions)} writes cannot be one transaction (DynamoDB allows 100)")
        try:
            client.transact_write_items(TransactItems=actions)
            return
        except Exception as exc:
            reasons = _cancellation_reasons(exc)
            if reasons is None:
                raise
            failure = TransactionFailed(reasons)
            if attempt == attempts - 1 or not _worth_retrying(failure, retry_conditions=retry_conditions):
                raise failure from exc
        pause(attempt)


def _worth_retrying(failure: TransactionFailed, *, retry_conditions: bool) -> bool:
    if failure.condition_failed:
        return retry_conditions
    return bool(_RETRYABLE_CANCELLATIONS.intersection(reason for reason in failure.reasons if reason))


def write(call: Callable[[], Any], *, attempts: int = 8) -> Any:
    """A single-item write, retried while it collides with a transaction in flight on the same item
    (``TransactionConflictException``, which botocore does not retry)."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            if error_code(exc) not in _RETRYABLE_WRITE_ERRORS or attempt == attempts - 1:
                raise
        pause(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def query(client: Any, arguments: Mapping[str, Any], *, limit: int | None = None) -> Iterator[Item]:
    """The items of a ``Query``, following ``LastEvaluatedKey`` across DynamoDB's 1 MB pages. With ``limit``,
    pages ask for what is still wanted (more when a filter may drop items); the caller stops iterating."""
    wanted = limit
    start: Item | None = None
    filtered = "FilterExpression" in arguments
    while True:
        page_arguments = dict(arguments)
        if wanted is not None:
            page_arguments["Limit"] = min(max(wanted * 2, 50), 1000) if filtered or wanted <= 0 else wanted
        if start is not None:
            page_arguments["ExclusiveStartKey"] = start
        page = client.query(**page_arguments)
        for item in page.get("Items", []):
            yield item
            if wanted is not None:
                wanted -= 1
        start = page.get("LastEvaluatedKey")
        if start is None:
            return


def take(items: Iterator[Item], limit: int) -> list[Item]:
    """The first ``limit`` items (none for a limit below 1)."""
    return [] if limit <= 0 else list(itertools.islice(items, limit))


def batch_delete(client: Any, table: str, keys: list[Item]) -> None:
    """Delete ``keys`` 25 at a time, resubmitting what DynamoDB leaves unprocessed."""
    for first in range(0, len(keys), 25):
        pending: dict[str, Any] = {table: [{"DeleteRequest": {"Key": key}} for key in keys[first : first + 25]]}
        for attempt in range(10):
            result = write(functools.partial(client.batch_write_item, RequestItems=pending))
            pending = result.get("UnprocessedItems") or {}
            if not pending:
                break
            pause(attempt)
        if pending:
            raise RuntimeError(f"DynamoDB left {len(pending[table])} deletes unprocessed in {table}")


def describe(client: Any, *tables: str) -> None:
    """A health check: each table exists and is usable."""
    for table in tables:
        status = client.describe_table(TableName=table)["Table"]["TableStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            raise RuntimeError(f"table {table} is {status}")
