"""Contract of the local identity provider's stores: TokenStore (refresh-token families, single-use keys) and
MfaSecretRepository (encrypted TOTP secrets), run against every adapter in :data:`ADAPTERS`.

A factory yields an :class:`IdentityHarness` on fresh storage: both stores, a second pair over the same storage
(another process), and raw access to the stored MFA bodies for the tamper tests. SQLite runs on ``tmp_path``;
DynamoDB on the session's moto server (started only when its cases run), one set of fresh tables per test, its
requests reaching moto one at a time (see ``tests.aws.SerialisedClient``: moto's threaded server is not
atomic per request, DynamoDB is). moto never deletes items past their time to live, and the contract asks
nothing of that: expired sessions must read as expired whether or not their items are still there. What only
one backend does (DynamoDB's global sign-out beside a lagging index, its TTL attribute) is tested at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from investai.adapters.aws.dynamodb_identity import DynamoDbMfaSecretRepository, DynamoDbTokenStore
from investai.adapters.aws.kms_keys import KmsKeyManager
from investai.adapters.aws.provision import ensure_data_key, ensure_table
from investai.adapters.aws.resources import (
    MFA_SECRETS_TABLE,
    REFRESH_TOKENS_TABLE,
    SINGLE_USE_KEYS_TABLE,
    TOKEN_FAMILIES_TABLE,
    ResourceNames,
)
from investai.adapters.local.clock import FakeClock
from investai.adapters.local.keyring import LocalKeyring
from investai.adapters.local.migrations import MIGRATIONS
from investai.adapters.local.sqlite import SqliteDatabase
from investai.adapters.local.sqlite_identity import SqliteMfaSecretRepository, SqliteTokenStore
from investai.domain.access import MfaSecrets
from investai.domain.common import epoch_ms
from investai.domain.errors import Conflict, IntegrityError
from investai.ports.identity import MfaSecretRepository, RefreshOutcome, TokenStore
from investai.security.envelope import EnvelopeCipher
from tests.aws import MotoServer, SerialisedClient, fresh_prefix
from tests.factories import T0

MASTER_SECRET = "contract-test-master-secret-0123456789abcdef"
DAY = timedelta(days=1)
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@dataclass(frozen=True)
class IdentityHarness:
    tokens: TokenStore
    mfa: MfaSecretRepository
    reopen: Callable[[], tuple[TokenStore, MfaSecretRepository]]
    """Both stores again over the same storage, as another process holds them."""
    read_mfa_body: Callable[[str], bytes]
    write_mfa_body: Callable[[str, bytes], None]


# -- SQLite ----------------------------------------------------------------------------------------


@contextmanager
def sqlite_identity(tmp_path: Path, clock: FakeClock) -> Iterator[IdentityHarness]:
    cipher = EnvelopeCipher(
        key_manager=LocalKeyring(path=tmp_path / "keys" / "keyring.json", master_secret=MASTER_SECRET, clock=clock)
    )
    databases: list[SqliteDatabase] = []

    def open_stores() -> tuple[TokenStore, MfaSecretRepository]:
        db = SqliteDatabase(path=tmp_path / "identity.db", migrations=MIGRATIONS)
        db.migrate()
        databases.append(db)
        return SqliteTokenStore(db=db), SqliteMfaSecretRepository(db=db, cipher=cipher)

    def read_body(user_id: str) -> bytes:
        row = databases[0].connection().execute("SELECT body FROM user_secrets WHERE user_id = ?", (user_id,))
        return bytes(row.fetchone()[0])

    def write_body(user_id: str, body: bytes) -> None:
        with databases[0].transaction() as conn:
            conn.execute("UPDATE user_secrets SET body = ? WHERE user_id = ?", (body, user_id))

    tokens, mfa = open_stores()
    try:
        yield IdentityHarness(tokens, mfa, open_stores, read_body, write_body)
    finally:
        for db in databases:
            db.close()


# -- DynamoDB --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DynamoDbTables:
    moto: MotoServer
    names: ResourceNames
    cipher: EnvelopeCipher
    lock: threading.Lock

    def client(self) -> Any:
        return SerialisedClient(self.moto.client("dynamodb"), self.lock)

    def token_store(self, client: Any | None = None) -> DynamoDbTokenStore:
        return DynamoDbTokenStore(
            dynamodb=client or self.client(),
            families_table=self.names.table(TOKEN_FAMILIES_TABLE.role),
            tokens_table=self.names.table(REFRESH_TOKENS_TABLE.role),
            single_use_table=self.names.table(SINGLE_USE_KEYS_TABLE.role),
        )

    def mfa_store(self) -> DynamoDbMfaSecretRepository:
        table = self.names.table(MFA_SECRETS_TABLE.role)
        return DynamoDbMfaSecretRepository(dynamodb=self.client(), table=table, cipher=self.cipher)


IDENTITY_SPECS = (TOKEN_FAMILIES_TABLE, REFRESH_TOKENS_TABLE, SINGLE_USE_KEYS_TABLE, MFA_SECRETS_TABLE)


@contextmanager
def dynamodb_tables(moto: MotoServer) -> Iterator[DynamoDbTables]:
    names = ResourceNames(prefix=fresh_prefix())
    raw = moto.client("dynamodb")
    kms_key = ensure_data_key(moto.client("kms"), names.key)
    for spec in IDENTITY_SPECS:
        ensure_table(raw, spec, names.table(spec.role), kms_key=kms_key)
    cipher = EnvelopeCipher(key_manager=KmsKeyManager(kms=moto.client("kms"), key_id=names.key))
    try:
        yield DynamoDbTables(moto=moto, names=names, cipher=cipher, lock=threading.Lock())
    finally:
        for spec in IDENTITY_SPECS:
            raw.delete_table(TableName=names.table(spec.role))


@contextmanager
def dynamodb_identity(tmp_path: Path, clock: FakeClock, *, moto: MotoServer) -> Iterator[IdentityHarness]:
    with dynamodb_tables(moto) as tables:
        raw = tables.client()
        table = tables.names.table(MFA_SECRETS_TABLE.role)

        def read_body(user_id: str) -> bytes:
            return bytes(raw.get_item(TableName=table, Key={"userId": {"S": user_id}})["Item"]["body"]["B"])

        def write_body(user_id: str, body: bytes) -> None:
            raw.put_item(TableName=table, Item={"userId": {"S": user_id}, "body": {"B": body}})

        def open_stores() -> tuple[TokenStore, MfaSecretRepository]:
            return tables.token_store(), tables.mfa_store()

        yield IdentityHarness(tables.token_store(), tables.mfa_store(), open_stores, read_body, write_body)


ADAPTERS: dict[str, Callable[..., AbstractContextManager[IdentityHarness]]] = {
    "sqlite": sqlite_identity,
    "dynamodb": dynamodb_identity,
}
MOTO_ADAPTERS = frozenset({"dynamodb"})


@pytest.fixture(params=sorted(ADAPTERS))
def harness(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[IdentityHarness]:
    extra = {"moto": request.getfixturevalue("moto")} if request.param in MOTO_ADAPTERS else {}
    with ADAPTERS[request.param](tmp_path, clock, **extra) as built:
        yield built


@pytest.fixture
def tokens(harness: IdentityHarness) -> TokenStore:
    return harness.tokens


@pytest.fixture
def mfa(harness: IdentityHarness) -> MfaSecretRepository:
    return harness.mfa


def session(tokens: TokenStore, family_id: str, *, user_id: str = "user_1", token: str | None = None) -> str:
    """A family created at T0 and valid for 30 days, with one refresh token; returns the token's hash."""
    tokens.create_family(family_id=family_id, user_id=user_id, created_at=T0, expires_at=T0 + 30 * DAY)
    token_hash = token or f"hash-of-{family_id}"
    tokens.add_refresh_token(token_hash=token_hash, family_id=family_id, issued_at=T0)
    return token_hash


# -- refresh tokens ----------------------------------------------------------------------------------


def test_a_fresh_refresh_token_is_valid_once(tokens: TokenStore) -> None:
    tokens.create_family(
        family_id="ses_1", user_id="user_1", created_at=T0, expires_at=T0 + 30 * DAY, amr=("pwd", "mfa")
    )
    tokens.add_refresh_token(token_hash="h1", family_id="ses_1", issued_at=T0)

    use = tokens.use_refresh_token(token_hash="h1", at=T0 + DAY)

    assert use.outcome is RefreshOutcome.VALID
    assert (use.family_id, use.user_id, use.amr, use.auth_time) == ("ses_1", "user_1", ("pwd", "mfa"), T0)


def test_a_reused_refresh_token_names_its_family(tokens: TokenStore) -> None:
    token = session(tokens, "ses_1")
    tokens.use_refresh_token(token_hash=token, at=T0)

    again = tokens.use_refresh_token(token_hash=token, at=T0 + DAY)

    assert (again.outcome, again.family_id, again.user_id) == (RefreshOutcome.REUSED, "ses_1", "user_1")
    assert tokens.is_family_active(family_id="ses_1", at=T0 + DAY)  # the service, not the store, revokes it


def test_rotated_tokens_of_one_family_are_each_valid_once(tokens: TokenStore) -> None:
    first = session(tokens, "ses_1")
    assert tokens.use_refresh_token(token_hash=first, at=T0).outcome is RefreshOutcome.VALID
    tokens.add_refresh_token(token_hash="second", family_id="ses_1", issued_at=T0)

    assert tokens.use_refresh_token(token_hash="second", at=T0).outcome is RefreshOutcome.VALID
    assert tokens.use_refresh_token(token_hash="second", at=T0).outcome is RefreshOutcome.REUSED


def test_an_unknown_refresh_token_is_unknown(tokens: TokenStore) -> None:
    session(tokens, "ses_1")

    use = tokens.use_refresh_token(token_hash="never-issued", at=T0)

    assert (use.outcome, use.family_id, use.user_id) == (RefreshOutcome.UNKNOWN, None, None)


def test_a_revoked_family_refuses_its_tokens_and_revoking_twice_is_harmless(tokens: TokenStore) -> None:
    token = session(tokens, "ses_1")

    tokens.revoke_family(family_id="ses_1", at=T0, reason="logout")
    tokens.revoke_family(family_id="ses_1", at=T0 + DAY, reason="again")
    tokens.revoke_family(family_id="ses_unknown", at=T0, reason="nothing to revoke")

    use = tokens.use_refresh_token(token_hash=token, at=T0)
    assert (use.outcome, use.family_id, use.user_id) == (RefreshOutcome.REVOKED, "ses_1", "user_1")
    assert not tokens.is_family_active(family_id="ses_1", at=T0)


def test_revocation_wins_over_reuse(tokens: TokenStore) -> None:
    token = session(tokens, "ses_1")
    tokens.use_refresh_token(token_hash=token, at=T0)
    tokens.revoke_family(family_id="ses_1", at=T0, reason="logout")

    assert tokens.use_refresh_token(token_hash=token, at=T0).outcome is RefreshOutcome.REVOKED


def test_a_family_expires_at_its_expiry(tokens: TokenStore) -> None:
    token = session(tokens, "ses_1")
    expiry = T0 + 30 * DAY
    just_before = expiry - timedelta(milliseconds=1)

    assert tokens.is_family_active(family_id="ses_1", at=just_before)
    assert not tokens.is_family_active(family_id="ses_1", at=expiry)
    assert tokens.use_refresh_token(token_hash=token, at=expiry).outcome is RefreshOutcome.REVOKED


def test_an_unknown_family_is_not_active(tokens: TokenStore) -> None:
    assert not tokens.is_family_active(family_id="ses_unknown", at=T0)
    assert not tokens.is_family_active(family_id="user#user_1", at=T0)


def test_a_family_id_is_used_once(tokens: TokenStore) -> None:
    session(tokens, "ses_1")

    with pytest.raises(Conflict):
        tokens.create_family(family_id="ses_1", user_id="user_2", created_at=T0, expires_at=T0 + DAY)

    assert tokens.use_refresh_token(token_hash="hash-of-ses_1", at=T0).user_id == "user_1"


def test_concurrent_uses_of_one_token_are_valid_exactly_once(tokens: TokenStore) -> None:
    token = session(tokens, "ses_1")

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: tokens.use_refresh_token(token_hash=token, at=T0).outcome, range(8)))

    assert sorted(outcomes) == sorted([RefreshOutcome.VALID] + [RefreshOutcome.REUSED] * 7)


# -- global sign-out ---------------------------------------------------------------------------------


def test_revoke_user_revokes_every_live_family_of_that_user_only(tokens: TokenStore) -> None:
    for family in ("ses_1", "ses_2", "ses_3"):
        session(tokens, family)
    session(tokens, "ses_other", user_id="user_2")
    tokens.revoke_family(family_id="ses_3", at=T0, reason="logout")

    assert tokens.revoke_user(user_id="user_1", at=T0 + DAY, reason="global sign-out") == 2

    assert not any(tokens.is_family_active(family_id=f, at=T0 + DAY) for f in ("ses_1", "ses_2", "ses_3"))
    assert tokens.use_refresh_token(token_hash="hash-of-ses_1", at=T0 + DAY).outcome is RefreshOutcome.REVOKED
    assert tokens.is_family_active(family_id="ses_other", at=T0 + DAY)
    assert tokens.revoke_user(user_id="user_1", at=T0 + DAY, reason="again") == 0
    assert not tokens.is_family_active(family_id="user#user_1", at=T0 + DAY)  # no id names something else
    assert tokens.revoke_user(user_id="user_nobody", at=T0, reason="no sessions") == 0


def test_a_session_started_after_a_global_sign_out_is_live(tokens: TokenStore) -> None:
    session(tokens, "ses_old")
    tokens.revoke_user(user_id="user_1", at=T0, reason="password changed")

    token = session(tokens, "ses_new")  # the same instant, as right after a password change

    assert tokens.is_family_active(family_id="ses_new", at=T0)
    assert tokens.use_refresh_token(token_hash=token, at=T0).outcome is RefreshOutcome.VALID
    assert not tokens.is_family_active(family_id="ses_old", at=T0)


# -- single-use keys -----------------------------------------------------------------------------------


def test_a_single_use_key_is_accepted_once(tokens: TokenStore) -> None:
    assert tokens.consume_once(key="challenge:jti-1", expires_at=T0 + timedelta(minutes=5))
    assert not tokens.consume_once(key="challenge:jti-1", expires_at=T0 + timedelta(minutes=5))
    assert tokens.consume_once(key="challenge:jti-2", expires_at=T0 + timedelta(minutes=5))


def test_concurrent_uses_of_a_single_use_key_succeed_once(tokens: TokenStore) -> None:
    expires = T0 + timedelta(minutes=5)

    with ThreadPoolExecutor(max_workers=8) as pool:
        accepted = list(pool.map(lambda _: tokens.consume_once(key="totp:user_1:42", expires_at=expires), range(8)))

    assert accepted.count(True) == 1


def test_purging_keeps_what_is_live_and_expired_sessions_stay_unusable(tokens: TokenStore) -> None:
    live = session(tokens, "ses_live")
    tokens.create_family(family_id="ses_short", user_id="user_1", created_at=T0, expires_at=T0 + DAY)
    tokens.add_refresh_token(token_hash="short", family_id="ses_short", issued_at=T0)
    tokens.consume_once(key="challenge:old", expires_at=T0 + timedelta(minutes=5))

    purged = tokens.purge_expired(at=T0 + 2 * DAY)

    assert purged >= 0  # SQLite deletes now; DynamoDB leaves it to its time to live
    assert tokens.use_refresh_token(token_hash="short", at=T0 + 2 * DAY).outcome is not RefreshOutcome.VALID
    assert not tokens.is_family_active(family_id="ses_short", at=T0 + 2 * DAY)
    assert tokens.use_refresh_token(token_hash=live, at=T0 + 2 * DAY).outcome is RefreshOutcome.VALID


def test_another_instance_sees_the_same_sessions(harness: IdentityHarness) -> None:
    token = session(harness.tokens, "ses_1")
    other_tokens, _ = harness.reopen()

    assert other_tokens.use_refresh_token(token_hash=token, at=T0).outcome is RefreshOutcome.VALID
    assert harness.tokens.use_refresh_token(token_hash=token, at=T0).outcome is RefreshOutcome.REUSED
    other_tokens.revoke_user(user_id="user_1", at=T0, reason="global sign-out")
    assert not harness.tokens.is_family_active(family_id="ses_1", at=T0)


# -- MFA secrets -----------------------------------------------------------------------------------------


RECOVERY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$recovery-code-hash"


def mfa_secrets(**changes: Any) -> MfaSecrets:
    return MfaSecrets(totp_secret=TOTP_SECRET, created_at=T0, recovery_code_hashes=[RECOVERY_HASH, "r2"]).model_copy(
        update=changes
    )


def test_mfa_secrets_round_trip_and_are_replaced_by_put(harness: IdentityHarness) -> None:
    assert harness.mfa.get("user_1") is None
    harness.mfa.put("user_1", mfa_secrets())
    confirmed = mfa_secrets(confirmed=True, last_used_step=123, recovery_code_hashes=["r2"])

    harness.mfa.put("user_1", confirmed)

    assert harness.mfa.get("user_1") == confirmed
    assert harness.reopen()[1].get("user_1") == confirmed
    assert harness.mfa.get("user_2") is None


def test_deleting_mfa_secrets_forgets_them(mfa: MfaSecretRepository) -> None:
    mfa.put("user_1", mfa_secrets())

    mfa.delete("user_1")
    mfa.delete("user_never_enrolled")

    assert mfa.get("user_1") is None


def test_mfa_secrets_are_stored_encrypted(harness: IdentityHarness) -> None:
    harness.mfa.put("user_1", mfa_secrets())

    body = harness.read_mfa_body("user_1")

    assert TOTP_SECRET.encode() not in body
    assert RECOVERY_HASH.encode() not in body  # long enough that random ciphertext cannot contain it by chance
    assert body.startswith(b"IAE1")


def test_mfa_secrets_moved_to_another_user_do_not_open(harness: IdentityHarness) -> None:
    harness.mfa.put("user_1", mfa_secrets())
    harness.mfa.put("user_2", mfa_secrets(totp_secret="KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"))

    harness.write_mfa_body("user_2", harness.read_mfa_body("user_1"))

    with pytest.raises(IntegrityError):
        harness.mfa.get("user_2")
    assert harness.mfa.get("user_1") == mfa_secrets()


def test_altered_mfa_secrets_do_not_open(harness: IdentityHarness) -> None:
    harness.mfa.put("user_1", mfa_secrets())
    body = bytearray(harness.read_mfa_body("user_1"))
    body[-1] ^= 0x01

    harness.write_mfa_body("user_1", bytes(body))

    with pytest.raises(IntegrityError):
        harness.mfa.get("user_1")


# -- DynamoDB specifics --------------------------------------------------------------------------------


@pytest.fixture
def dynamodb(moto: MotoServer) -> Iterator[DynamoDbTables]:
    with dynamodb_tables(moto) as tables:
        yield tables


def test_dynamodb_global_sign_out_reaches_a_family_the_index_has_not_caught_up_with(
    dynamodb: DynamoDbTables,
) -> None:
    """The byUser index is eventually consistent; here it lags so far that it lists nothing."""
    client = dynamodb.client().client  # the boto3 client itself, its requests already serialised
    make_api_call = client._make_api_call

    def lagging_index(operation: str, parameters: dict[str, Any]) -> Any:
        answer = make_api_call(operation, parameters)
        if operation == "Query" and parameters.get("IndexName") == "byUser":
            answer = {**answer, "Items": [], "Count": 0}
        return answer

    client._make_api_call = lagging_index
    tokens = dynamodb.token_store(client)
    token = session(tokens, "ses_1")

    assert tokens.revoke_user(user_id="user_1", at=T0, reason="global sign-out") == 0  # the index saw nothing

    assert not tokens.is_family_active(family_id="ses_1", at=T0)
    assert tokens.use_refresh_token(token_hash=token, at=T0).outcome is RefreshOutcome.REVOKED


def test_dynamodb_items_carry_their_time_to_live(dynamodb: DynamoDbTables) -> None:
    """moto keeps items past their time to live (DynamoDB deletes them within days): the contract's expiry
    tests pass on items still present; here the attribute DynamoDB deletes by is checked."""
    tokens = dynamodb.token_store()
    token = session(tokens, "ses_1")
    tokens.consume_once(key="challenge:jti", expires_at=T0 + timedelta(minutes=5, milliseconds=1))
    raw = dynamodb.client()
    expiry_s = epoch_ms(T0 + 30 * DAY) // 1000 + 1

    def item(role: str, key: dict[str, Any]) -> dict[str, Any]:
        return dict(raw.get_item(TableName=dynamodb.names.table(role), Key=key)["Item"])

    family = item(TOKEN_FAMILIES_TABLE.role, {"familyId": {"S": "ses_1"}})
    refresh = item(REFRESH_TOKENS_TABLE.role, {"tokenHash": {"S": token}})
    single = item(SINGLE_USE_KEYS_TABLE.role, {"useKey": {"S": "challenge:jti"}})
    assert family["purgeAt"] == refresh["purgeAt"] == {"N": str(expiry_s)}
    assert int(single["purgeAt"]["N"]) * 1000 > epoch_ms(T0 + timedelta(minutes=5))
    for spec in (TOKEN_FAMILIES_TABLE, REFRESH_TOKENS_TABLE, SINGLE_USE_KEYS_TABLE):
        described = raw.describe_time_to_live(TableName=dynamodb.names.table(spec.role))["TimeToLiveDescription"]
        assert (described["TimeToLiveStatus"], described["AttributeName"]) == ("ENABLED", "purgeAt")


def test_dynamodb_expired_items_still_stored_read_as_expired(dynamodb: DynamoDbTables) -> None:
    tokens = dynamodb.token_store()
    token = session(tokens, "ses_1")
    long_after = T0 + 400 * DAY

    assert tokens.purge_expired(at=long_after) == 0  # left to DynamoDB's time to live

    raw = dynamodb.client()
    stored = raw.get_item(TableName=dynamodb.names.table(TOKEN_FAMILIES_TABLE.role), Key={"familyId": {"S": "ses_1"}})
    assert "Item" in stored
    assert not tokens.is_family_active(family_id="ses_1", at=long_after)
    assert tokens.use_refresh_token(token_hash=token, at=long_after).outcome is RefreshOutcome.REVOKED


def test_dynamodb_mfa_and_family_tables_use_the_customer_managed_key(dynamodb: DynamoDbTables) -> None:
    raw = dynamodb.client()
    for spec in (MFA_SECRETS_TABLE, TOKEN_FAMILIES_TABLE):
        described = raw.describe_table(TableName=dynamodb.names.table(spec.role))["Table"]
        assert described["SSEDescription"]["SSEType"] == "KMS"
