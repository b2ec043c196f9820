"""Refresh-token families, single-use keys and encrypted MFA secrets in DynamoDB (the local issuer's stores on
the AWS shape; Cognito keeps its own).

Tables (:mod:`investai.adapters.aws.resources`): ``token-families`` (by ``familyId``; index ``byUser``),
``refresh-tokens`` (by ``tokenHash``), ``single-use-keys`` (by ``useKey``) and ``mfa-secrets`` (by ``userId``).
Every single-use rule is a conditional write: a refresh token is spent by an update conditioned on it not being
spent yet, a single-use key by a put conditioned on its absence, so two concurrent uses cannot both succeed.

Expiry: items carry ``purgeAt`` (epoch seconds), DynamoDB's time-to-live attribute, so DynamoDB deletes them
some time after they expire (moto never does). Reads never rely on that: a family past ``expiresAt`` is not
active whether or not its item is still there, so :meth:`DynamoDbTokenStore.purge_expired` has nothing to do.

Global sign-out: :meth:`DynamoDbTokenStore.revoke_user` revokes the families the ``byUser`` index lists, and also
moves the user's revocation generation (item ``familyId = "user#<id>"``) forward. A family records the generation
current when it was created and is active only while it still is, so a family the index had not yet caught up
with (index reads are eventually consistent) is revoked all the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from investai.domain.access import MfaSecrets
from investai.domain.common import epoch_ms, from_epoch_ms
from investai.domain.errors import Conflict, NotFound, ValidationFailed
from investai.ports.identity import RefreshOutcome, RefreshUse
from investai.security.envelope import EnvelopeCipher

USER_PREFIX = "user#"


class DynamoDbTokenStore:
    """A :class:`~investai.ports.identity.TokenStore` over an injected DynamoDB client."""

    health_name = "token_store"

    def __init__(self, *, dynamodb: Any, families_table: str, tokens_table: str, single_use_table: str) -> None:
        self._db = dynamodb
        self._families = families_table
        self._tokens = tokens_table
        self._single_use = single_use_table

    def create_family(
        self,
        *,
        family_id: str,
        user_id: str,
        created_at: datetime,
        expires_at: datetime,
        amr: tuple[str, ...] = ("pwd",),
    ) -> None:
        if family_id.startswith(USER_PREFIX):
            raise ValidationFailed(f"a token family id may not start with {USER_PREFIX!r}")
        item = {
            "familyId": {"S": family_id},
            "userId": {"S": user_id},
            "createdAt": {"N": str(epoch_ms(created_at))},
            "authTime": {"N": str(epoch_ms(created_at))},
            "expiresAt": {"N": str(epoch_ms(expires_at))},
            "purgeAt": {"N": str(_epoch_s(expires_at))},
            "amr": {"L": [{"S": method} for method in amr]},
            "generation": {"N": str(self._generation(user_id))},
        }
        try:
            self._db.put_item(TableName=self._families, Item=item, **_absent("familyId"))
        except self._db.exceptions.ConditionalCheckFailedException as exc:
            raise Conflict(f"token family {family_id} exists") from exc

    def add_refresh_token(self, *, token_hash: str, family_id: str, issued_at: datetime) -> None:
        family = self._family(family_id)
        if family is None:
            raise NotFound(f"token family {family_id} does not exist")
        item = {
            "tokenHash": {"S": token_hash},
            "familyId": {"S": family_id},
            "issuedAt": {"N": str(epoch_ms(issued_at))},
            "purgeAt": family["purgeAt"],  # a token outlives its family by nothing
        }
        try:
            self._db.put_item(TableName=self._tokens, Item=item, **_absent("tokenHash"))
        except self._db.exceptions.ConditionalCheckFailedException as exc:
            raise Conflict("refresh token exists") from exc

    def use_refresh_token(self, *, token_hash: str, at: datetime) -> RefreshUse:
        """Spend the token (a conditional update: one use only, even under concurrency), then judge its family:
        revoked or expired wins over reuse, as in the SQLite store."""
        spent, family_id = self._spend(token_hash, at)
        if family_id is None:
            return RefreshUse(RefreshOutcome.UNKNOWN)
        family = self._family(family_id)
        if family is None:
            return RefreshUse(RefreshOutcome.UNKNOWN)
        user_id = str(family["userId"]["S"])
        if not self._active(family, at):
            return RefreshUse(RefreshOutcome.REVOKED, family_id, user_id)
        if not spent:
            return RefreshUse(RefreshOutcome.REUSED, family_id, user_id)
        amr = tuple(str(method["S"]) for method in family["amr"]["L"])
        return RefreshUse(RefreshOutcome.VALID, family_id, user_id, amr, from_epoch_ms(int(family["authTime"]["N"])))

    def revoke_family(self, *, family_id: str, at: datetime, reason: str) -> None:
        self._revoke(family_id, at, reason)

    def revoke_user(self, *, user_id: str, at: datetime, reason: str) -> int:
        """Move the user's generation forward (every family created before is revoked from now on), then mark
        the live families the ``byUser`` index lists; returns how many of those this call revoked."""
        self._db.update_item(
            TableName=self._families,
            Key={"familyId": {"S": USER_PREFIX + user_id}},
            UpdateExpression="ADD #generation :one",
            ExpressionAttributeNames={"#generation": "generation"},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        pages = self._db.get_paginator("query").paginate(
            TableName=self._families,
            IndexName="byUser",
            KeyConditionExpression="#user = :user",
            FilterExpression="attribute_not_exists(#revoked)",
            ExpressionAttributeNames={"#user": "userId", "#revoked": "revokedAt"},
            ExpressionAttributeValues={":user": {"S": user_id}},
        )
        revoked = 0
        for page in pages:
            revoked += sum(self._revoke(str(item["familyId"]["S"]), at, reason) for item in page.get("Items", []))
        return revoked

    def is_family_active(self, *, family_id: str, at: datetime) -> bool:
        family = self._family(family_id)
        return family is not None and self._active(family, at)

    def consume_once(self, *, key: str, expires_at: datetime) -> bool:
        item = {
            "useKey": {"S": key},
            "expiresAt": {"N": str(epoch_ms(expires_at))},
            "purgeAt": {"N": str(_epoch_s(expires_at))},
        }
        try:
            self._db.put_item(TableName=self._single_use, Item=item, **_absent("useKey"))
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def purge_expired(self, *, at: datetime) -> int:
        """Nothing to do: DynamoDB's time-to-live deletes expired items, and reads already treat them as gone."""
        return 0

    def check(self) -> None:
        self._db.get_item(TableName=self._families, Key={"familyId": {"S": USER_PREFIX + "health-check"}})

    # -- internals ----------------------------------------------------------------------------------
    def _spend(self, token_hash: str, at: datetime) -> tuple[bool, str | None]:
        """``(spent now, family id)``; the family id is None for an unknown token."""
        try:
            answer = self._db.update_item(
                TableName=self._tokens,
                Key={"tokenHash": {"S": token_hash}},
                UpdateExpression="SET #used = :at",
                ConditionExpression="attribute_exists(#hash) AND attribute_not_exists(#used)",
                ExpressionAttributeNames={"#used": "usedAt", "#hash": "tokenHash"},
                ExpressionAttributeValues={":at": {"N": str(epoch_ms(at))}},
                ReturnValues="ALL_NEW",
            )
            return True, str(answer["Attributes"]["familyId"]["S"])
        except self._db.exceptions.ConditionalCheckFailedException:
            item = self._get(self._tokens, {"tokenHash": {"S": token_hash}})
            return False, None if item is None else str(item["familyId"]["S"])

    def _revoke(self, family_id: str, at: datetime, reason: str) -> bool:
        """Mark a live family revoked; False when it does not exist or was revoked already."""
        try:
            self._db.update_item(
                TableName=self._families,
                Key={"familyId": {"S": family_id}},
                UpdateExpression="SET #revoked = :at, #reason = :reason",
                ConditionExpression="attribute_exists(#user) AND attribute_not_exists(#revoked)",
                ExpressionAttributeNames={"#revoked": "revokedAt", "#reason": "revokedReason", "#user": "userId"},
                ExpressionAttributeValues={":at": {"N": str(epoch_ms(at))}, ":reason": {"S": reason}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _family(self, family_id: str) -> dict[str, Any] | None:
        item = self._get(self._families, {"familyId": {"S": family_id}})
        return item if item is not None and "userId" in item else None  # "user#..." items are not families

    def _active(self, family: dict[str, Any], at: datetime) -> bool:
        if "revokedAt" in family or int(family["expiresAt"]["N"]) <= epoch_ms(at):
            return False
        return int(family["generation"]["N"]) == self._generation(str(family["userId"]["S"]))

    def _generation(self, user_id: str) -> int:
        marker = self._get(self._families, {"familyId": {"S": USER_PREFIX + user_id}})
        return int(marker["generation"]["N"]) if marker is not None else 0

    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return dict(item) if item is not None else None


class DynamoDbMfaSecretRepository:
    """TOTP secrets and recovery-code hashes, envelope-encrypted (bound to the user) before they are stored."""

    def __init__(self, *, dynamodb: Any, table: str, cipher: EnvelopeCipher) -> None:
        self._db = dynamodb
        self._table = table
        self._cipher = cipher

    def get(self, user_id: str) -> MfaSecrets | None:
        item = self._db.get_item(TableName=self._table, Key=_user_key(user_id), ConsistentRead=True).get("Item")
        if item is None:
            return None
        return MfaSecrets.model_validate_json(self._cipher.open(bytes(item["body"]["B"]), aad=_aad(user_id)))

    def put(self, user_id: str, secrets: MfaSecrets) -> None:
        sealed = self._cipher.seal(secrets.model_dump_json().encode(), aad=_aad(user_id))
        self._db.put_item(TableName=self._table, Item={**_user_key(user_id), "body": {"B": sealed}})

    def delete(self, user_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key=_user_key(user_id))


def _absent(attribute: str) -> dict[str, Any]:
    """``put_item`` arguments that refuse to overwrite an item."""
    return {"ConditionExpression": "attribute_not_exists(#key)", "ExpressionAttributeNames": {"#key": attribute}}


def _user_key(user_id: str) -> dict[str, Any]:
    return {"userId": {"S": user_id}}


def _aad(user_id: str) -> bytes:
    return f"mfa:{user_id}".encode()  # as the SQLite repository binds it


def _epoch_s(moment: datetime) -> int:
    return epoch_ms(moment) // 1000 + 1  # DynamoDB's time to live is in whole seconds: never before the expiry
