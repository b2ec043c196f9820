"""The request quota shared through DynamoDB (on the moto server): the token bucket's exact schedule, its bound
under a burst from two processes, separate buckets per model, refusals that take nothing, and failing open to
the in-process bucket when the table cannot be reached."""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from investai.adapters.aws.dynamodb_rate_limit import DynamoDbRequestQuota
from investai.adapters.aws.provision import ensure_table
from investai.adapters.aws.resources import RATE_LIMITS_TABLE
from investai.agents.router import LocalRequestQuota
from tests.aws import MotoServer, fresh_prefix

SONNET = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
EPOCH = 1_800_000_000.0  # a wall-clock reading in 2027


class Time:
    """A wall clock and a monotonic clock that only the test moves."""

    def __init__(self) -> None:
        self.now = EPOCH
        self.mono = 0.0

    def clock(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono


@pytest.fixture
def table(moto: MotoServer) -> str:
    name = f"{fresh_prefix()}-{RATE_LIMITS_TABLE.role}"
    ensure_table(moto.client("dynamodb"), RATE_LIMITS_TABLE, name)
    return name


@pytest.fixture
def time_() -> Time:
    return Time()


def quota(moto: MotoServer, table: str, time_: Time, **options: Any) -> DynamoDbRequestQuota:
    arguments: dict[str, Any] = {"requests_per_minute": 60, "burst": 3, **options}
    return DynamoDbRequestQuota(
        moto.client("dynamodb"), table, clock=time_.clock, monotonic=time_.monotonic, **arguments
    )


def within_bound(slots: list[float], rate_per_minute: float, burst: int) -> bool:
    """No interval [s_i, s_j] holds more slots than the burst plus what the rate refills in it."""
    ordered = sorted(slots)
    rate = rate_per_minute / 60
    return all(
        j - i + 1 <= burst + rate * (ordered[j] - ordered[i]) + 1e-3
        for i in range(len(ordered))
        for j in range(i, len(ordered))
    )


# ------------------------------------------------------------------------------------------ the schedule


def test_the_burst_at_once_then_one_slot_per_interval_then_a_full_bucket_again(
    moto: MotoServer, table: str, time_: Time
) -> None:
    shared = quota(moto, table, time_)  # 60 a minute: one a second, three saved up
    assert [shared.reserve(SONNET) for _ in range(6)] == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]
    time_.now += 1.5
    assert shared.reserve(SONNET) == pytest.approx(2.5)  # booked after the three already waiting
    time_.now += 60.0  # idle long enough to refill
    assert [shared.reserve(SONNET) for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]
    item = moto.client("dynamodb").get_item(TableName=table, Key={"bucket": {"S": SONNET}}, ConsistentRead=True)
    tat = int(item["Item"]["tat"]["N"]) / 1e6
    assert tat == pytest.approx(time_.now + 4.0)  # four intervals booked from now
    assert int(item["Item"]["expiresAt"]["N"]) >= tat + 86_400  # expiry outlives every booking


def test_two_instances_take_turns_in_one_bucket(moto: MotoServer, table: str, time_: Time) -> None:
    first, second = quota(moto, table, time_), quota(moto, table, time_)
    waits = [(first if i % 2 else second).reserve(SONNET) for i in range(6)]
    assert waits == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]


def test_each_model_has_its_own_bucket(moto: MotoServer, table: str, time_: Time) -> None:
    shared = quota(moto, table, time_, burst=1)
    assert shared.reserve(SONNET) == 0.0
    assert shared.reserve(SONNET) == 1.0
    assert shared.reserve(HAIKU) == 0.0
    assert shared.reserve("us.amazon.nova-pro-v1:0") == 0.0
    assert shared.reserve(HAIKU) == 1.0
    assert shared.reserve(SONNET) == 2.0


def test_a_refused_wait_takes_no_slot(moto: MotoServer, table: str, time_: Time) -> None:
    shared = quota(moto, table, time_, burst=2)
    assert [shared.reserve(SONNET), shared.reserve(SONNET)] == [0.0, 0.0]
    assert shared.reserve(SONNET, max_wait_s=0.5) == 1.0  # refused: would wait 1 s
    assert shared.reserve(SONNET, max_wait_s=0.5) == 1.0  # still the same slot on offer
    assert shared.reserve(SONNET, max_wait_s=1.0) == 1.0  # taken
    assert shared.reserve(SONNET, max_wait_s=0.0) == 2.0  # refused
    time_.now += 2.0
    assert shared.reserve(SONNET, max_wait_s=0.0) == 0.0


def test_waits_beyond_the_backlog_are_refused_however_patient_the_caller(
    moto: MotoServer, table: str, time_: Time
) -> None:
    shared = quota(moto, table, time_, burst=1, max_backlog_s=2.0)
    assert [shared.reserve(SONNET) for _ in range(3)] == [0.0, 1.0, 2.0]
    assert shared.reserve(SONNET) == math.inf  # would wait 3 s, and the bucket books at most 2 s ahead
    assert shared.reserve(SONNET, max_wait_s=2.5) == 3.0  # refused either way: the wait says why
    time_.now += 1.0
    assert shared.reserve(SONNET) == 2.0  # a slot has come within the backlog


# ------------------------------------------------------------------------------------------ two processes

_CHILD = r"""
import fcntl, json, sys, time

import boto3
from botocore.config import Config

from investai.adapters.aws.dynamodb_rate_limit import DynamoDbRequestQuota

endpoint, table, key, count, lock_path = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
client = boto3.client(
    "dynamodb", endpoint_url=endpoint, region_name="us-east-1", config=Config(retries={"max_attempts": 1})
)
make_api_call = client._make_api_call
lock = open(lock_path, "w")


def serialised(operation, parameters):
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        return make_api_call(operation, parameters)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)


client._make_api_call = serialised
readings = []


def clock():
    readings.append(time.time())
    return readings[-1]


quota = DynamoDbRequestQuota(client, table, requests_per_minute=1000, burst=50, clock=clock)
client.describe_table(TableName=table)
print("ready", flush=True)
sys.stdin.readline()
reservations = []
for _ in range(count):
    wait = quota.reserve(key)
    reservations.append([readings[-1], wait])
print(json.dumps({"reservations": reservations, "errors": quota.errors_total}), flush=True)
"""


@pytest.fixture
def children(moto: MotoServer) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait()


def test_a_burst_from_two_processes_stays_within_the_bound(
    moto: MotoServer, table: str, tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    """Each process reserves as fast as it can. moto applies requests in threads without DynamoDB's per-item
    atomicity, so the children's requests reach it one at a time (a file lock, as ``SerialisedClient`` does
    within one process); the races between one process's requests and the other's remain, and the conditional
    writes settle them."""
    rate, burst, count = 1000, 50, 250
    env = {**os.environ, **moto.environment}
    for _ in range(2):
        command = [sys.executable, "-c", _CHILD, moto.endpoint, table, SONNET, str(count), str(tmp_path / "lock")]
        children.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env))
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    for child in children:  # both start together
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [json.loads(child.communicate(timeout=60)[0]) for child in children]
    assert [child.returncode for child in children] == [0, 0]
    assert [result["errors"] for result in results] == [0, 0]

    per_process = [[(reading, wait) for reading, wait in result["reservations"]] for result in results]
    reservations = [reservation for process in per_process for reservation in process]
    assert len(reservations) == 2 * count
    assert all(math.isfinite(wait) and wait >= 0 for _, wait in reservations)
    (first_start, first_end), (second_start, second_end) = [
        (min(reading for reading, _ in process), max(reading for reading, _ in process)) for process in per_process
    ]
    assert first_start < second_end  # the two bursts overlapped
    assert second_start < first_end

    # the stated guarantee, over every slot granted to either process
    slots = sorted(reading + wait for reading, wait in reservations)
    assert within_bound(slots, rate, burst)
    # admitted without waiting: the burst, plus what the rate refilled while the processes ran
    immediate = sorted(reading for reading, wait in reservations if wait == 0.0)
    assert burst <= len(immediate) <= burst + rate / 60 * (immediate[-1] - immediate[0]) + 1e-3
    # nothing lost or granted twice: once the bucket is empty, the slots follow one another one interval apart
    booked = sorted(reading + wait for reading, wait in reservations if wait > 0.0)
    gaps = [later - earlier for earlier, later in itertools.pairwise(booked)]
    assert len(booked) == 2 * count - len(immediate)
    assert all(gap == pytest.approx(60 / rate, abs=1e-4) for gap in gaps)


# ------------------------------------------------------------------------------------------ when DynamoDB fails


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_table_fails_open_to_the_in_process_bucket(
    time_: Time, caplog: pytest.LogCaptureFixture
) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )
    calls: list[str] = []
    make_api_call = client._make_api_call

    def counted(operation: str, parameters: dict[str, Any]) -> Any:
        calls.append(operation)
        return make_api_call(operation, parameters)

    client._make_api_call = counted
    fallback = LocalRequestQuota(60, 2, monotonic=time_.monotonic)
    shared = DynamoDbRequestQuota(
        client,
        "investai-rate-limits",
        requests_per_minute=60,
        burst=2,
        clock=time_.clock,
        monotonic=time_.monotonic,
        fallback=fallback,
        retry_after_s=30.0,
    )
    with caplog.at_level(logging.WARNING, logger="investai.adapters.aws.dynamodb_rate_limit"):
        assert [shared.reserve(SONNET) for _ in range(3)] == [0.0, 0.0, 1.0]  # the in-process bucket's answers
    assert calls == ["UpdateItem"]  # one failed request, then a pause: no timeout per model call
    assert (shared.errors_total, shared.fallback_total) == (1, 3)
    assert "shared rate limit unavailable" in caplog.text
    assert "in-process limit" in caplog.text
    time_.mono += 31.0
    assert shared.reserve(SONNET) == 0.0  # asked DynamoDB again after the pause, then fell back again
    assert (calls, shared.errors_total, shared.fallback_total) == (["UpdateItem"] * 2, 2, 4)

    unlimited = DynamoDbRequestQuota(client, "investai-rate-limits", requests_per_minute=60, burst=1)
    assert [unlimited.reserve(SONNET) for _ in range(3)] == [0.0, 0.0, 0.0]  # no fallback: fail open, no limit
    assert unlimited.fallback_total == 3


def test_a_missing_table_fails_open_and_the_shared_limit_resumes_when_it_is_back(
    moto: MotoServer, time_: Time, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"{fresh_prefix()}-{RATE_LIMITS_TABLE.role}"
    fallback = LocalRequestQuota(60, 5, monotonic=time_.monotonic)
    shared = quota(moto, name, time_, burst=1, fallback=fallback, retry_after_s=10.0)
    with caplog.at_level(logging.INFO, logger="investai.adapters.aws.dynamodb_rate_limit"):
        assert [shared.reserve(SONNET) for _ in range(2)] == [0.0, 0.0]  # the fallback's burst of 5
        assert "ResourceNotFoundException" in caplog.text
        ensure_table(moto.client("dynamodb"), RATE_LIMITS_TABLE, name)
        assert shared.reserve(SONNET) == 0.0  # still paused: the fallback again
        assert shared.errors_total == 1
        time_.mono += 10.0
        assert [shared.reserve(SONNET) for _ in range(2)] == [0.0, 1.0]  # the shared bucket (burst 1) again
        assert "reachable again" in caplog.text
    assert (shared.errors_total, shared.fallback_total) == (1, 3)


def test_the_bootstrap_shares_the_settings_rate_and_falls_back_to_the_in_process_bucket(
    moto: MotoServer, table: str
) -> None:
    from investai.bootstrap.models import shared_quota
    from investai.config import Settings

    settings = Settings(_env_file=None, model_requests_per_minute=60, model_burst=2)
    first = shared_quota(settings, moto.client("dynamodb"), table)
    second = shared_quota(settings, moto.client("dynamodb"), table)  # another instance, the same bucket
    assert first.reserve(SONNET) == 0.0
    assert second.reserve(SONNET) == 0.0
    assert 0.9 < first.reserve(SONNET) <= 1.0
    missing = shared_quota(settings, moto.client("dynamodb"), f"{table}-missing")
    assert [missing.reserve(SONNET), missing.reserve(SONNET)] == [0.0, 0.0]  # the in-process burst of 2
    assert 0.9 < missing.reserve(SONNET) <= 1.0


def test_a_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        DynamoDbRequestQuota(object(), "t", requests_per_minute=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        DynamoDbRequestQuota(object(), "t", requests_per_minute=10, burst=0)
