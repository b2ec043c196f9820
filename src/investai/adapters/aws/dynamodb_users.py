"""Users and encrypted profiles in DynamoDB.

Users: table key ``pk``. A user is ``user#<id>`` (``body``, ``organisationId``, ``emailKey``, ``listAll``); its
address is held by a second item ``email#<emailKey>`` naming the user, written in the same transaction with
``attribute_not_exists``, so no two users share an address. ``emailKey`` folds ASCII letters only, as SQLite's
``NOCASE`` does.

Profiles: table keys ``userId`` and ``timestamp``. Each revision is an item at its revision time holding the
profile sealed by the :class:`EnvelopeCipher` (a KMS data key on AWS) in ``body``; the head item at
:data:`HEAD` names the newest (``newest``). A write is one transaction conditioned on the head that also marks
the previous revision superseded (``supersededAt`` and ``prunable``, the keys of the pruning index).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator
from typing import Any

from investai.adapters.aws.dynamodb_common import (
    HEAD,
    Action,
    Item,
    TransactionFailed,
    batch_delete,
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
from investai.domain.common import epoch_ms
from investai.domain.errors import Conflict, NotFound
from investai.domain.users import User, UserProfile
from investai.security.envelope import EnvelopeCipher

LIST_ALL = "user"
"""The one partition of the users' by-email index: the administrators' list of every user (one identity store
per deployment; its size is its number of users)."""

PRUNABLE = "profile-revision"
"""The one partition of the profiles' pruning index: superseded revisions, oldest supersession first."""

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_ATTEMPTS = 8


def email_key(email: str) -> str:
    """The address as SQLite's ``NOCASE`` compares it: ASCII letters folded to lower case, nothing else."""
    return email.translate(_ASCII_LOWER)


class DynamoDbUserRepository:
    health_name = "dynamodb_users"

    def __init__(self, *, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def check(self) -> None:
        describe(self._client, self._table)

    def add(self, user: User) -> None:
        try:
            transact(self._client, lambda: [self._put(user, "attribute_not_exists(#pk)"), self._claim(user)])
        except TransactionFailed as exc:
            raise Conflict("a user with that id or e-mail address already exists") from exc

    def get(self, user_id: str) -> User:
        return User.model_validate_json(text(self._stored(user_id), "body"))

    def get_by_email(self, email: str) -> User | None:
        key = email_key(email)
        claim = self._get_item(f"email#{key}")
        if claim is None:
            return None
        user = self._get_item(f"user#{text(claim, 'userId')}")
        if user is None or text(user, "emailKey") != key:
            return None  # changed between the two reads
        return User.model_validate_json(text(user, "body"))

    def update(self, user: User) -> None:
        def build() -> list[Action]:
            seen = text(self._stored(user.id), "emailKey")
            actions = [self._put(user, "attribute_exists(#pk) AND #ek = :seen", seen=seen)]
            if seen != email_key(user.email):
                actions += [self._release(seen, user.id), self._claim(user)]
            return actions

        self._retrying(build, "another user has that e-mail address")

    def delete(self, user_id: str) -> None:
        def build() -> list[Action]:
            seen = text(self._stored(user_id), "emailKey")
            condition = {"ConditionExpression": "#ek = :seen", "ExpressionAttributeNames": {"#ek": "emailKey"}}
            delete = {"TableName": self._table, "Key": {"pk": s(f"user#{user_id}")}, **condition}
            return [
                {"Delete": {**delete, "ExpressionAttributeValues": values(seen=s(seen))}},
                self._release(seen, user_id),
            ]

        self._retrying(build, f"user {user_id} changed while it was deleted")

    def list_users(self, *, organisation_id: str | None = None, limit: int = 100) -> list[User]:
        index, attribute, value = (
            ("byEmail", "listAll", LIST_ALL)
            if organisation_id is None
            else ("byOrganisation", "organisationId", organisation_id)
        )
        arguments = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": attribute},
            "ExpressionAttributeValues": values(p=s(value)),
        }
        items = take(query(self._client, arguments, limit=max(limit, 1)), limit)
        return [User.model_validate_json(text(item, "body")) for item in items]

    def _retrying(self, build: Callable[[], list[Action]], conflict: str) -> None:
        """Run ``build``'s transaction again while only the user item's condition failed (a concurrent
        update or delete of the same user); any other failed condition is a taken address."""
        for attempt in range(_ATTEMPTS):
            try:
                transact(self._client, build)
                return
            except TransactionFailed as exc:
                only_the_user = exc.failed(0) and not any(exc.failed(i) for i in range(1, len(exc.reasons)))
                if not only_the_user or attempt == _ATTEMPTS - 1:
                    raise Conflict(conflict) from exc
            pause(attempt)

    def _stored(self, user_id: str) -> Item:
        found = self._get_item(f"user#{user_id}")
        if found is None:
            raise NotFound(f"user {user_id} not found")
        return found

    def _get_item(self, pk: str) -> Item | None:
        found: Item | None = self._client.get_item(TableName=self._table, Key={"pk": s(pk)}, ConsistentRead=True).get(
            "Item"
        )
        return found

    def _put(self, user: User, condition: str, *, seen: str | None = None) -> Action:
        item = {
            "pk": s(f"user#{user.id}"),
            "userId": s(user.id),
            "organisationId": s(user.organisation_id),
            "emailKey": s(email_key(user.email)),
            "listAll": s(LIST_ALL),
            "body": s(user.model_dump_json()),
        }
        put: Action = {"TableName": self._table, "Item": item, "ConditionExpression": condition}
        put["ExpressionAttributeNames"] = {"#pk": "pk", **({} if seen is None else {"#ek": "emailKey"})}
        if seen is not None:
            put["ExpressionAttributeValues"] = values(seen=s(seen))
        return {"Put": put}

    def _claim(self, user: User) -> Action:
        item = {"pk": s(f"email#{email_key(user.email)}"), "userId": s(user.id)}
        return {
            "Put": {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": "pk"},
            }
        }

    def _release(self, key: str, user_id: str) -> Action:
        return {
            "Delete": {
                "TableName": self._table,
                "Key": {"pk": s(f"email#{key}")},
                "ConditionExpression": "#uid = :uid",
                "ExpressionAttributeNames": {"#uid": "userId"},
                "ExpressionAttributeValues": values(uid=s(user_id)),
            }
        }


class DynamoDbProfileRepository:
    """Profiles are sealed before they reach DynamoDB (they hold personal data); the table itself is
    encrypted with the customer-managed key too."""

    health_name = "dynamodb_profiles"

    def __init__(self, *, client: Any, table: str, cipher: EnvelopeCipher) -> None:
        self._client = client
        self._table = table
        self._cipher = cipher

    def check(self) -> None:
        describe(self._client, self._table)

    def get(self, user_id: str) -> UserProfile:
        found = take(self._partition(user_id, upper=HEAD - 1, newest_first=True, limit=1), 1)
        if not found:
            raise NotFound(f"no profile for user {user_id}")
        return self._open(user_id, found[0])

    def as_of(self, user_id: str, at_ms: int) -> UserProfile:
        found = take(self._partition(user_id, upper=min(at_ms, HEAD - 1), newest_first=True, limit=1), 1)
        if not found:
            raise NotFound(f"no profile for user {user_id} then")
        return self._open(user_id, found[0])

    def put(self, profile: UserProfile) -> None:
        sealed = self._cipher.seal(profile.model_dump_json().encode(), aad=_profile_aad(profile.user_id))
        at = epoch_ms(profile.updated_at)
        try:
            transact(
                self._client, lambda: self._put_actions(profile.user_id, at, sealed), attempts=16, retry_conditions=True
            )
        except TransactionFailed as exc:
            raise Conflict(f"the profile of user {profile.user_id} kept changing while it was stored") from exc

    def _put_actions(self, user_id: str, at: int, sealed: bytes) -> list[Action]:
        newest_two = take(self._partition(user_id, upper=HEAD, newest_first=True, limit=2), 2)
        head = newest_two.pop(0) if newest_two and integer(newest_two[0], "timestamp") == HEAD else None
        previous = integer(newest_two[0], "timestamp") if newest_two else None
        named = integer(head, "newest") if head is not None else None
        stamp = max([at, *(known + 1 for known in (named, previous) if known is not None)])
        key = {"userId": s(user_id), "timestamp": n(stamp)}
        actions = [self._head_action(user_id, named, stamp)]
        if previous is not None and (named is None or previous == named):
            actions.append(self._supersede_action(user_id, previous, stamp))
        put = {"TableName": self._table, "Item": {**key, "body": {"B": sealed}}}
        actions.append({"Put": {**put, **_expressions("attribute_not_exists(#uid)")}})
        return actions

    def _head_action(self, user_id: str, named: int | None, stamp: int) -> Action:
        key = {"userId": s(user_id), "timestamp": n(HEAD)}
        if named is None:
            item = {**key, "newest": n(stamp)}
            return {"Put": {"TableName": self._table, "Item": item, **_expressions("attribute_not_exists(#uid)")}}
        update = _expressions("#newest = :seen", update="SET #newest = :stamp", stamp=n(stamp), seen=n(named))
        return {"Update": {"TableName": self._table, "Key": key, **update}}

    def _supersede_action(self, user_id: str, previous: int, stamp: int) -> Action:
        update = _expressions(
            "attribute_exists(#uid) AND attribute_not_exists(#sup)",
            update="SET #sup = :stamp, #prunable = :prunable",
            stamp=n(stamp),
            prunable=s(PRUNABLE),
        )
        return {"Update": {"TableName": self._table, "Key": {"userId": s(user_id), "timestamp": n(previous)}, **update}}

    def delete(self, user_id: str) -> None:
        """Remove every revision up to the newest the head names, then the head, unless a write arrived
        meanwhile (that profile was stored after the erasure and stays)."""
        newest = take(self._partition(user_id, upper=HEAD, newest_first=True, limit=1), 1)
        head = newest[0] if newest and integer(newest[0], "timestamp") == HEAD else None
        upper = HEAD - 1 if head is None else integer(head, "newest")
        keys = [
            {"userId": item["userId"], "timestamp": item["timestamp"]}
            for item in self._partition(user_id, upper=upper, projection="#uid, #ts")
        ]
        batch_delete(self._client, self._table, keys)
        if head is None:
            return
        try:
            write(
                lambda: self._client.delete_item(
                    TableName=self._table,
                    Key={"userId": s(user_id), "timestamp": n(HEAD)},
                    **_expressions("#newest = :seen", seen=head["newest"]),
                )
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise

    def prune_revisions(self, before_ms: int) -> int:
        arguments = {
            "TableName": self._table,
            "IndexName": "bySuperseded",
            "KeyConditionExpression": "#prunable = :prunable AND #sup <= :cutoff",
            "ExpressionAttributeNames": {"#prunable": "prunable", "#sup": "supersededAt", "#ts": "timestamp"},
            "ExpressionAttributeValues": values(prunable=s(PRUNABLE), cutoff=n(before_ms)),
            "ProjectionExpression": "userId, #ts",
        }
        keys = [{"userId": item["userId"], "timestamp": item["timestamp"]} for item in query(self._client, arguments)]
        return sum(self._remove_superseded(key, before_ms) for key in keys)

    def _remove_superseded(self, key: Item, before_ms: int) -> int:
        """1 when this call removed the revision, 0 when it was gone already."""
        try:
            write(
                lambda: self._client.delete_item(
                    TableName=self._table,
                    Key=key,
                    **_expressions("attribute_exists(#uid) AND #sup <= :cutoff", cutoff=n(before_ms)),
                )
            )
        except Exception as exc:
            if is_condition_failure(exc):
                return 0
            raise
        return 1

    def _partition(
        self, user_id: str, *, upper: int, newest_first: bool = False, limit: int | None = None, projection: str = ""
    ) -> Iterator[Item]:
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#uid = :uid AND #ts <= :upper",
            "ExpressionAttributeNames": {"#uid": "userId", "#ts": "timestamp"},
            "ExpressionAttributeValues": values(uid=s(user_id), upper=n(upper)),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        if projection:
            arguments["ProjectionExpression"] = projection
        return query(self._client, arguments, limit=limit)

    def _open(self, user_id: str, item: Item) -> UserProfile:
        plaintext = self._cipher.open(bytes(item["body"]["B"]), aad=_profile_aad(user_id))
        return UserProfile.model_validate_json(plaintext)


_PROFILE_NAMES = {"#uid": "userId", "#sup": "supersededAt", "#prunable": "prunable", "#newest": "newest"}


def _expressions(condition: str, *, update: str = "", **bound: dict[str, Any]) -> dict[str, Any]:
    """A condition (and an update) with exactly the attribute names they use, and the values ``bound``."""
    arguments: dict[str, Any] = {"ConditionExpression": condition}
    if update:
        arguments["UpdateExpression"] = update
    arguments["ExpressionAttributeNames"] = {
        name: value for name, value in _PROFILE_NAMES.items() if name in condition or name in update
    }
    if bound:
        arguments["ExpressionAttributeValues"] = values(**bound)
    return arguments


def _profile_aad(user_id: str) -> bytes:
    return f"profile:{user_id}".encode()
