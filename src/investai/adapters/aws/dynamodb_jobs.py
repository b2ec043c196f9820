"""Job records in DynamoDB, with the SQS semantics of :mod:`investai.ports.jobs`.

One table (``resources.JOBS_TABLE``), partition key ``pk``:

- ``job#<id>``: a job. ``body`` holds the whole :class:`Job` as JSON; beside it what conditions, filters and the
  index read: ``status``, ``attempts``, ``leaseToken``, ``updatedAt``, ``kind``, ``availableUs``,
  ``leaseExpiresUs``, ``statusOrder``, and ``expiresAt`` (epoch seconds, the TTL attribute) on finished jobs
  only, so DynamoDB never deletes a job that has yet to run.
- ``key#<kind>#<idempotency key>``: the uniqueness item of a keyed job, ``jobId`` naming its holder; written in
  the same transaction as the job, and given the job's ``expiresAt`` (in one transaction) when the job finishes.

Index ``byStatus`` (``status``, ``statusOrder``): for queued and leased jobs the order is priority (highest
first), then ``available_at``, then ``created_at``; for finished jobs it is ``expires_at``, so the expired ones
are a key range: :meth:`purge_expired` deletes them, and reads treat them as gone already (TTL deletion is lazy).

Every state change is a write conditioned on the state it was computed from (status, attempts, lease token and
``updated_at``): a writer that lost a race gets ``False`` from :meth:`_swap`, or ``LeaseLost``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from investai.domain.errors import Conflict, NotFound
from investai.domain.jobs import TERMINAL_JOB_STATUSES, Job, JobStatus, RetryPolicy
from investai.ports.clock import Clock
from investai.ports.jobs import ClaimOutcome, JobDispatch, JobRecords, LeaseLost

STATUS_INDEX = "byStatus"
WRITE_ATTEMPTS = 8  # optimistic retries of one change before giving up
PAGE_SIZE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Item = dict[str, dict[str, Any]]
Condition = dict[str, Any]
SortRange = tuple[str, dict[str, Any]]  # a condition on ``statusOrder`` and its values


class DynamoDbJobRecords(JobRecords):
    def __init__(
        self,
        *,
        dynamodb: Any,
        table_name: str,
        clock: Clock,
        retry: RetryPolicy,
        ttl: timedelta,
        rng: random.Random | None = None,
        dispatch: JobDispatch | None = None,
    ) -> None:
        super().__init__(clock=clock, retry=retry, ttl=ttl, rng=rng, dispatch=dispatch)
        self._db = dynamodb
        self._table = table_name

    # -- reads --------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        job = self._read(job_id)
        if job is None or _expired(job, self._clock.now()):
            raise NotFound(f"job {job_id} not found")
        return job

    def dead_letters(self, *, limit: int = 100) -> list[Job]:
        found: list[Job] = []
        for item in self._query_status(JobStatus.DEAD, self._live_range()):
            found.append(_job(item))
            if len(found) >= limit:
                break
        return found

    def counts(self) -> dict[JobStatus, int]:
        live = self._live_range()
        return {status: self._count(status, live if status in TERMINAL_JOB_STATUSES else None) for status in JobStatus}

    def check(self) -> None:
        self._db.describe_table(TableName=self._table)

    # -- operations ---------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> Job:
        for _ in range(WRITE_ATTEMPTS):
            job = self.get(job_id)
            if job.finished:
                raise Conflict(f"job {job_id} has already finished ({job.status.value})")
            now = self._clock.now()
            updated = job.model_copy(
                update={
                    "status": JobStatus.CANCELLED,
                    "lease_token": None,
                    "updated_at": now,
                    "expires_at": self._expiry(),
                }
            )
            if self._write(job, updated):
                return updated
        raise Conflict(f"job {job_id} kept changing; try again")

    def _redrive(self, job_id: str) -> Job:
        for _ in range(WRITE_ATTEMPTS):
            job = self.get(job_id)
            if job.status is not JobStatus.DEAD:
                raise Conflict(f"job {job_id} is not dead-lettered")
            now = self._clock.now()
            updated = job.model_copy(
                update={
                    "status": JobStatus.QUEUED,
                    "attempts": 0,
                    "available_at": now,
                    "updated_at": now,
                    "expires_at": now + self._ttl,
                }
            )
            if self._write(job, updated):
                return updated
        raise Conflict(f"job {job_id} kept changing; try again")

    def purge_expired(self) -> int:
        expired = (f"statusOrder < {_EXPIRY_BOUND}", {_EXPIRY_BOUND: _s(_order_stamp(self._clock.now()))})
        purged = 0
        for status in sorted(TERMINAL_JOB_STATUSES):
            for item in list(self._query_status(status, expired)):
                if self._delete_job(item):
                    purged += 1
        return purged

    # -- hooks --------------------------------------------------------------------------------------
    def _insert(self, job: Job) -> Job:
        if job.idempotency_key is None:
            if not self._put(_item(job), _absent()):
                raise Conflict(f"job {job.id} already exists")
            return job
        for _ in range(WRITE_ATTEMPTS):
            holder_id = self._key_holder(job)
            if holder_id is not None:
                holder = self._read(holder_id)
                if holder is not None and not _expired(holder, self._clock.now()):
                    return holder
            if self._insert_keyed(job, holder_id):
                return job
        raise Conflict(f"idempotency key {job.idempotency_key!r} of {job.kind} kept changing; try again")

    def _lease(self, now: datetime, visibility_timeout: timedelta, kinds: Sequence[str] | None) -> Job | None:
        queued = self._ready(JobStatus.QUEUED, "availableUs", now, kinds)
        expired = self._ready(JobStatus.LEASED, "leaseExpiresUs", now, kinds)
        for job in heapq.merge(queued, expired, key=_order):
            claim, updated = self._decide_claim(job, now, visibility_timeout)
            if updated is None:
                continue  # the index was behind: no longer ready
            if claim.outcome is ClaimOutcome.CLAIMED:
                if self._write(job, updated):
                    return updated
            else:
                self._write(job, updated)  # dead-lettered: its last attempt's worker was lost
        return None

    def _stale(self, cutoff: datetime, limit: int) -> list[Job]:
        queued = self._ready(JobStatus.QUEUED, "availableUs", cutoff, None)
        expired = self._ready(JobStatus.LEASED, "leaseExpiresUs", cutoff, None)
        return list(itertools.islice(heapq.merge(queued, expired, key=_order), limit))

    def _swap(self, expected: Job, updated: Job) -> bool:
        return self._write(expected, updated)

    def _update_leased(self, job: Job, **changes: Any) -> Job:
        for _ in range(WRITE_ATTEMPTS):
            current = self._read(job.id)
            if current is None or current.status is not JobStatus.LEASED or current.lease_token != job.lease_token:
                raise LeaseLost(f"job {job.id} is no longer leased by this worker")
            if changes.get("status") in TERMINAL_JOB_STATUSES or changes.get("status") is JobStatus.QUEUED:
                changes["lease_token"] = None
            updated = current.model_copy(update={**changes, "updated_at": self._clock.now()})
            updated = Job.model_validate(updated.model_dump())
            if self._write(current, updated):
                return updated
        raise Conflict(f"job {job.id} kept changing; try again")

    # -- storage ------------------------------------------------------------------------------------
    def _read(self, job_id: str) -> Job | None:
        response = self._db.get_item(TableName=self._table, Key=_job_key(job_id), ConsistentRead=True)
        item = response.get("Item")
        return _job(item) if item else None

    def _write(self, expected: Job, updated: Job) -> bool:
        """Store ``updated`` if the stored job is still in ``expected``'s state; when it finishes (or comes back
        from the dead) its uniqueness item takes the same time to live in the same transaction."""
        if updated.idempotency_key is not None and expected.finished != updated.finished:
            return self._write_with_key(expected, updated)
        return self._put(_item(updated), _state(expected))

    def _write_with_key(self, expected: Job, updated: Job) -> bool:
        key_item = _key_item(updated)
        owned: Condition = {
            "ConditionExpression": "jobId = :job_id",
            "ExpressionAttributeValues": {":job_id": _s(updated.id)},
        }
        reasons = self._transact([(_item(updated), _state(expected)), (key_item, owned)])
        if reasons is None:
            return True
        if reasons[0] == "None" and reasons[1] == "ConditionalCheckFailed":
            return self._put(_item(updated), _state(expected))  # the key has moved on: the job alone
        return False

    def _insert_keyed(self, job: Job, stale_holder: str | None) -> bool:
        if stale_holder is None:
            free = _absent()
        else:  # the holder is gone or expired: take the key over, unless someone else did first
            free = {"ConditionExpression": "jobId = :stale", "ExpressionAttributeValues": {":stale": _s(stale_holder)}}
        return self._transact([(_item(job), _absent()), (_key_item(job), free)]) is None

    def _key_holder(self, job: Job) -> str | None:
        key = {"pk": _s(_unique_pk(job.kind, job.idempotency_key or ""))}
        response = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        item = response.get("Item")
        return str(item["jobId"]["S"]) if item else None

    def _put(self, item: Item, condition: Condition) -> bool:
        try:
            self._db.put_item(TableName=self._table, Item=item, **condition)
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _transact(self, puts: list[tuple[Item, Condition]]) -> list[str] | None:
        """Put every item or none; ``None`` when done, else each put's cancellation reason code."""
        try:
            self._db.transact_write_items(
                TransactItems=[{"Put": {"TableName": self._table, "Item": item, **cond}} for item, cond in puts]
            )
        except self._db.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            return [str(reason.get("Code", "None")) for reason in reasons] or ["Unknown"] * len(puts)
        return None

    def _delete_job(self, item: Item) -> bool:
        """Delete an expired job unless it changed since the query (redriven, say), then its uniqueness item
        unless the key already belongs to a newer job."""
        job = _job(item)
        if not self._delete(_job_key(job.id), "statusOrder = :v", item["statusOrder"]):
            return False
        if job.idempotency_key is not None:
            self._delete({"pk": _s(_unique_pk(job.kind, job.idempotency_key))}, "jobId = :v", _s(job.id))
        return True

    def _delete(self, key: Item, condition: str, value: dict[str, Any]) -> bool:
        try:
            self._db.delete_item(
                TableName=self._table, Key=key, ConditionExpression=condition, ExpressionAttributeValues={":v": value}
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- index queries ------------------------------------------------------------------------------
    def _ready(self, status: JobStatus, due: str, now: datetime, kinds: Sequence[str] | None) -> Iterator[Job]:
        """Jobs of ``status`` due by ``now``, in lease order (a filter, not a key range: the order is by
        priority first)."""
        names = {"#due": due}
        values: dict[str, Any] = {":now": _n(_micros(now))}
        expression = "#due <= :now"
        if kinds:
            placeholders = [f":kind{i}" for i in range(len(kinds))]
            values.update({p: _s(kind) for p, kind in zip(placeholders, kinds, strict=True)})
            names["#kind"] = "kind"
            expression += f" AND #kind IN ({', '.join(placeholders)})"
        filters = {
            "FilterExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        return (_job(item) for item in self._query_status(status, None, filters))

    def _count(self, status: JobStatus, sort_range: SortRange | None) -> int:
        return sum(int(page.get("Count", 0)) for page in self._pages(status, sort_range, {"Select": "COUNT"}))

    def _live_range(self) -> SortRange:
        """Finished jobs not yet expired: ``expires_at`` after now."""
        return (f"statusOrder > {_EXPIRY_BOUND}", {_EXPIRY_BOUND: _s(_order_stamp(self._clock.now()))})

    def _query_status(
        self, status: JobStatus, sort_range: SortRange | None, extra: dict[str, Any] | None = None
    ) -> Iterator[Item]:
        """Items of ``status`` from the index in ``statusOrder``, page by page as they are consumed."""
        for page in self._pages(status, sort_range, {"Limit": PAGE_SIZE, **(extra or {})}):
            yield from page.get("Items", [])

    def _pages(self, status: JobStatus, sort_range: SortRange | None, extra: dict[str, Any]) -> Iterator[Any]:
        extra = dict(extra)
        names = {"#status": "status", **extra.pop("ExpressionAttributeNames", {})}
        values = {":status": _s(status.value), **extra.pop("ExpressionAttributeValues", {})}
        key = "#status = :status"
        if sort_range is not None:
            key += f" AND {sort_range[0]}"
            values.update(sort_range[1])
        arguments = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": key,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            **extra,
        }
        while True:
            page = self._db.query(**arguments)
            yield page
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


_EXPIRY_BOUND = ":bound"


def _expired(job: Job, now: datetime) -> bool:
    """Finished and past its time to live: purged, whether or not DynamoDB has got round to deleting it."""
    return job.finished and job.expires_at <= now


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _order_stamp(moment: datetime) -> str:
    """Finished jobs expiring by ``moment`` sort below this ``statusOrder``; later ones above it."""
    return f"{_micros(moment):017d}~"  # after "<that instant>#<id>", before any later instant


def _order(job: Job) -> str:
    if job.finished:
        return f"{_micros(job.expires_at):017d}#{job.id}"
    rank = 10 - job.priority  # priority -10..10: the highest first
    return f"{rank:02d}#{_micros(job.available_at):017d}#{_micros(job.created_at):017d}#{job.id}"


def _item(job: Job) -> Item:
    item: Item = {
        "pk": _s(f"job#{job.id}"),
        "status": _s(job.status.value),
        "statusOrder": _s(_order(job)),
        "kind": _s(job.kind),
        "attempts": _n(job.attempts),
        "updatedAt": _s(job.updated_at.isoformat()),
        "availableUs": _n(_micros(job.available_at)),
        "body": _s(job.model_dump_json()),
    }
    if job.lease_token is not None:
        item["leaseToken"] = _s(job.lease_token)
    if job.status is JobStatus.LEASED and job.lease_expires_at is not None:
        item["leaseExpiresUs"] = _n(_micros(job.lease_expires_at))
    if job.finished:
        item["expiresAt"] = _n(math.ceil(job.expires_at.timestamp()))
    return item


def _key_item(job: Job) -> Item:
    item: Item = {"pk": _s(_unique_pk(job.kind, job.idempotency_key or "")), "jobId": _s(job.id)}
    if job.finished:
        item["expiresAt"] = _n(math.ceil(job.expires_at.timestamp()))
    return item


def _state(job: Job) -> Condition:
    """The condition that the stored job is still in ``job``'s state."""
    values = {
        ":status": _s(job.status.value),
        ":attempts": _n(job.attempts),
        ":updated_at": _s(job.updated_at.isoformat()),
    }
    expression = "#status = :status AND #attempts = :attempts AND updatedAt = :updated_at"
    if job.lease_token is None:
        expression += " AND attribute_not_exists(leaseToken)"
    else:
        expression += " AND leaseToken = :lease_token"
        values[":lease_token"] = _s(job.lease_token)
    return {
        "ConditionExpression": expression,
        "ExpressionAttributeNames": {"#status": "status", "#attempts": "attempts"},
        "ExpressionAttributeValues": values,
    }


def _absent() -> Condition:
    return {"ConditionExpression": "attribute_not_exists(pk)"}


def _job(item: Item) -> Job:
    return Job.model_validate_json(item["body"]["S"])


def _job_key(job_id: str) -> Item:
    return {"pk": _s(f"job#{job_id}")}


def _unique_pk(kind: str, key: str) -> str:
    return f"key#{kind}#{key}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}
