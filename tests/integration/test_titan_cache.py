"""The DynamoDB vector cache on the session's moto server, alone and behind Titan embedders (whose Bedrock client
is a fake: moto has no Titan)."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from investai.adapters.aws.bedrock_embeddings import TitanEmbedder
from investai.adapters.aws.dynamodb_vector_cache import GET_BATCH, WRITE_BATCH, DynamoDbVectorCache
from investai.adapters.aws.provision import ensure_table
from investai.adapters.aws.resources import EMBEDDINGS_TABLE
from investai.adapters.embedding_cache import cache_key
from investai.adapters.local.clock import FakeClock
from tests.aws import MotoServer, fresh_prefix
from tests.factories import T0


class RecordingClient:
    """A DynamoDB client that records the size of each batch request and can leave part of the first
    ``unprocessed_rounds`` batch requests unprocessed (sending only the first half on to the server and
    answering the rest as ``Unprocessed*``, as DynamoDB does under load)."""

    def __init__(self, client: Any, *, unprocessed_rounds: int = 0) -> None:
        self._client = client
        self.unprocessed_rounds = unprocessed_rounds
        self.gets: list[int] = []
        self.writes: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        (table, request), *_ = RequestItems.items()
        keys = request["Keys"]
        self.gets.append(len(keys))
        if self.unprocessed_rounds > 0 and len(keys) > 1:
            self.unprocessed_rounds -= 1
            half = len(keys) // 2
            answer = self._client.batch_get_item(RequestItems={table: {**request, "Keys": keys[:half]}})
            answer["UnprocessedKeys"] = {table: {**request, "Keys": keys[half:]}}
            return dict(answer)
        return dict(self._client.batch_get_item(RequestItems=RequestItems))

    def batch_write_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        (table, requests), *_ = RequestItems.items()
        self.writes.append(len(requests))
        if self.unprocessed_rounds > 0 and len(requests) > 1:
            self.unprocessed_rounds -= 1
            half = len(requests) // 2
            answer = self._client.batch_write_item(RequestItems={table: requests[:half]})
            answer["UnprocessedItems"] = {table: requests[half:]}
            return dict(answer)
        return dict(self._client.batch_write_item(RequestItems=RequestItems))


class HashingBedrockRuntime:
    """Titan v2 without AWS: each text's vector is seeded by its SHA-256; counts the calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def invoke_model(self, *, body: bytes, **_: Any) -> dict[str, Any]:
        request = json.loads(body)
        with self._lock:
            self.calls.append(request["inputText"])
        seed = int.from_bytes(hashlib.sha256(request["inputText"].encode()).digest()[:8], "big")
        values = np.random.default_rng(seed).standard_normal(request["dimensions"])
        return {"body": json.dumps({"embedding": (values / np.linalg.norm(values)).tolist()}).encode()}


@pytest.fixture
def table(moto: MotoServer) -> tuple[Any, str]:
    dynamodb = moto.client("dynamodb")
    name = f"{fresh_prefix()}-{EMBEDDINGS_TABLE.role}"
    ensure_table(dynamodb, EMBEDDINGS_TABLE, name)
    return dynamodb, name


def random_vectors(count: int, dimension: int = 1024) -> dict[bytes, np.ndarray]:
    rng = np.random.default_rng(7)
    return {secrets.token_bytes(32): rng.standard_normal(dimension).astype(np.float32) for _ in range(count)}


def test_a_round_trip_of_many_keys_keeps_the_exact_float32_bytes(table: tuple[Any, str]) -> None:
    dynamodb, name = table
    client = RecordingClient(dynamodb)
    cache = DynamoDbVectorCache(client, name, clock=FakeClock(T0))
    entries = random_vectors(250)
    absent = [secrets.token_bytes(32) for _ in range(7)]

    cache.put_many(entries)
    found = cache.get_many([*entries, *absent])

    assert client.writes == [WRITE_BATCH] * 10
    assert client.gets == [GET_BATCH, GET_BATCH, 57]
    assert set(found) == set(entries)
    for key, vector in entries.items():
        assert found[key].dtype == np.float32
        assert found[key].tobytes() == vector.tobytes()


def test_each_write_sets_the_expiry_ttl_days_ahead(table: tuple[Any, str]) -> None:
    dynamodb, name = table
    clock = FakeClock(T0)
    cache = DynamoDbVectorCache(dynamodb, name, ttl_days=30, clock=clock)
    [(key, vector)] = random_vectors(1, 256).items()

    def expires_at() -> int:
        item = dynamodb.get_item(TableName=name, Key={"key": {"B": key}})["Item"]
        return int(item["expiresAt"]["N"])

    cache.put_many({key: vector})
    assert expires_at() == int((T0 + timedelta(days=30)).timestamp())

    clock.advance(timedelta(days=12))
    cache.put_many({key: vector})
    assert expires_at() == int((T0 + timedelta(days=42)).timestamp())
    description = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert description["AttributeName"] == EMBEDDINGS_TABLE.ttl_attribute == "expiresAt"


def test_unprocessed_keys_and_items_are_sent_again(table: tuple[Any, str]) -> None:
    dynamodb, name = table
    client = RecordingClient(dynamodb, unprocessed_rounds=2)
    cache = DynamoDbVectorCache(client, name)
    entries = random_vectors(20, 256)

    cache.put_many(entries)  # 20 items: 10 written, 10 left; 5 written, 5 left; 5 written
    assert client.writes == [20, 10, 5]

    client.unprocessed_rounds = 2
    found = cache.get_many(list(entries))  # 20 keys: 10 read, 10 left; 5 read, 5 left; 5 read
    assert client.gets == [20, 10, 5]
    assert {key: vector.tobytes() for key, vector in found.items()} == {
        key: vector.tobytes() for key, vector in entries.items()
    }


def test_nothing_to_read_or_write_makes_no_request(table: tuple[Any, str]) -> None:
    dynamodb, name = table
    client = RecordingClient(dynamodb)
    cache = DynamoDbVectorCache(client, name)

    assert cache.get_many([]) == {}
    cache.put_many({})

    assert (client.gets, client.writes) == ([], [])


def test_two_titan_embedders_share_the_table(table: tuple[Any, str]) -> None:
    dynamodb, name = table
    texts = [f"{secrets.token_hex(4)} chunk {n}" for n in range(130)]
    first_bedrock, second_bedrock = HashingBedrockRuntime(), HashingBedrockRuntime()
    first = TitanEmbedder(first_bedrock, concurrency=4, batch_size=32, cache=DynamoDbVectorCache(dynamodb, name))
    second = TitanEmbedder(second_bedrock, concurrency=4, batch_size=32, cache=DynamoDbVectorCache(dynamodb, name))

    stored = first.embed(texts)
    again = second.embed(texts)
    first.close()
    second.close()

    assert sorted(first_bedrock.calls) == sorted(texts)
    assert second_bedrock.calls == []
    assert again.tobytes() == stored.tobytes()
    assert again.shape == (130, 1024)


def test_embedders_of_other_settings_do_not_share_vectors(table: tuple[Any, str]) -> None:
    dynamodb, name = table
    text = f"{secrets.token_hex(4)} the same text"
    bedrock = HashingBedrockRuntime()
    cache = DynamoDbVectorCache(dynamodb, name)
    full = TitanEmbedder(bedrock, dimension=1024, concurrency=1, cache=cache)
    small = TitanEmbedder(bedrock, dimension=256, concurrency=1, cache=cache)

    full.embed([text])
    vector = small.embed([text])

    assert bedrock.calls == [text, text]
    assert vector.shape == (1, 256)
    assert set(cache.get_many([cache_key(full.model_id, text), cache_key(small.model_id, text)])) == {
        cache_key(full.model_id, text),
        cache_key(small.model_id, text),
    }
