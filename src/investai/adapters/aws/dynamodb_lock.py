"""A lease in DynamoDB that serialises writers across processes and machines (Lambda instances, workers).

One item per lock: ``{lock: <name>, owner: <random>, expiresAt: <epoch s>}``. Taking it is a conditional put
that succeeds when no item exists or the one there has expired (its holder died without releasing it); the
holder renews it from a background thread every third of the lease while it holds it, so a long operation
(an index build) keeps it, and a crashed holder loses it one lease after its last renewal. Releasing is a
delete conditional on still being the owner. Within a process the lock is reentrant per thread, as the
embedded file lock is (index upkeep runs inside a write).

The guarantee is a lease's: two holders can overlap only if a holder stops renewing for longer than the lease
(a paused process) yet carries on writing afterwards; each protected write is also safe on its own (LanceDB
commits and S3 PUTs are atomic), so such an overlap can at worst interleave two writers' whole commits.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from investai.domain.errors import StoreUnavailable
from investai.observability.logging import get_logger

log = get_logger(__name__)


class LeaseTimeout(StoreUnavailable):
    """The lease stayed held by another process for longer than the caller would wait."""


class DynamoDbLease:
    """A named cross-process lock; use ``with lease():`` (see the module)."""

    def __init__(
        self,
        client: Any,
        table: str,
        name: str,
        *,
        lease_s: float = 60.0,
        wait_s: float = 300.0,
        poll_s: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if lease_s < 3:
            raise ValueError("a lease shorter than 3 s cannot be renewed reliably")
        self._client = client
        self._table = table
        self._name = name
        self._lease_s = lease_s
        self._wait_s = wait_s
        self._poll_s = poll_s
        self._clock = clock
        self._threads = threading.RLock()
        self._depth = 0
        self._owner: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self._name

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._threads:
            if self._depth == 0:
                self._acquire()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release()

    def _acquire(self) -> None:
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self._wait_s
        while True:
            now = self._clock()
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        "lock": {"S": self._name},
                        "owner": {"S": owner},
                        "expiresAt": {"N": str(int(now + self._lease_s))},
                    },
                    ConditionExpression="attribute_not_exists(#lock) OR expiresAt < :now",
                    ExpressionAttributeNames={"#lock": "lock"},
                    ExpressionAttributeValues={":now": {"N": str(int(now))}},
                )
                break
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise StoreUnavailable(f"lock table {self._table} unreachable: {error}") from error
            except BotoCoreError as error:
                raise StoreUnavailable(f"lock table {self._table} unreachable: {error}") from error
            if time.monotonic() >= deadline:
                raise LeaseTimeout(f"{self._name} is held by another process; try again")
            time.sleep(self._poll_s)
        self._owner = owner
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, args=(owner, self._stop), daemon=True, name="lease")
        self._renewer.start()

    def _renew(self, owner: str, stop: threading.Event) -> None:
        while not stop.wait(self._lease_s / 3):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"lock": {"S": self._name}},
                    UpdateExpression="SET expiresAt = :until",
                    ConditionExpression="#owner = :me",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={
                        ":until": {"N": str(int(self._clock() + self._lease_s))},
                        ":me": {"S": owner},
                    },
                )
            except (ClientError, BotoCoreError) as error:
                log.error("lease.renewal_failed", lock=self._name, error=str(error))

    def _release(self) -> None:
        owner, self._owner = self._owner, None
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        if owner is None:
            return
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"lock": {"S": self._name}},
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except (ClientError, BotoCoreError) as error:  # expired and taken over, or unreachable: it lapses
            log.warning("lease.release_failed", lock=self._name, error=str(error))
