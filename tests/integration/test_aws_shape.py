"""The AWS shape end to end against a moto server, driven the way an operator drives it:
``investai aws provision``, ``investai ready``, then ``investai serve`` and the API — sign-in through Cognito,
MFA setup, a PDF upload (bytes in S3 under SSE-KMS, its record in DynamoDB, parsed and indexed by the job SQS
delivers, into LanceDB on S3), a hybrid search that finds it, an idea request over the sample history held as
Parquet in S3, ideas whose citations resolve, and a compliance officer's approval. boto3's own
``AWS_ENDPOINT_URL`` is the only thing pointing it at moto. Embeddings are the local model's: moto has no
Bedrock (Titan is tested with botocore's Stubber)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from investai.security.totp import code_at
from tests.aws import MotoServer, fresh_prefix
from tests.document_files import make_pdf
from tests.processes import ADMIN_EMAIL, Api, Deployment, Server

pytestmark = pytest.mark.timeout(600)

MARKER = "Tessellate shelf audit"
NOTE = (
    f"{MARKER}: Procter & Gamble (PG) keeps its shelf share against private labels through 2024.\n\n"
    "PG: Overweight.\n\n"
    "The desk expects Procter & Gamble margins to recover as input costs ease."
)


@pytest.fixture
def deployment(moto: MotoServer, tmp_path: Path) -> Deployment:
    prefix = fresh_prefix()
    return Deployment(
        root=tmp_path,
        extra_env={
            **moto.environment,
            "INVESTAI_BACKEND": "aws",
            "INVESTAI_AWS_RESOURCE_PREFIX": prefix,
            "INVESTAI_LOAD_SAMPLE_DOCUMENTS": "false",
            "INVESTAI_LOAD_SAMPLE_MARKET_DATA": "true",
            "INVESTAI_EMBEDDING_PROVIDER": "local",
        },
    )


@pytest.fixture
def server(deployment: Deployment) -> Iterator[Server]:
    provisioned = deployment.cli("aws", "provision")
    assert provisioned.returncode == 0, provisioned.stderr
    running = deployment.start_server()
    running.wait_ready()
    yield running
    assert running.stop() == 0, running.log()


def test_ready_before_provisioning_says_what_is_missing(deployment: Deployment) -> None:
    result = deployment.cli("ready")
    assert result.returncode == 1
    assert "investai aws provision" in result.stderr
    assert "Traceback" not in result.stderr


def test_provision_then_ready_names_every_aws_store_it_checked(deployment: Deployment, moto: MotoServer) -> None:
    first = deployment.cli("aws", "provision")
    assert first.returncode == 0, first.stderr
    again = deployment.cli("aws", "provision")
    assert again.returncode == 0, again.stderr
    assert "created" in first.stdout
    assert "created" not in again.stdout  # a second run finds everything in place

    ready = deployment.cli("ready")
    assert ready.returncode == 0, ready.stdout + ready.stderr
    prefix = deployment.extra_env["INVESTAI_AWS_RESOURCE_PREFIX"]
    checked = {line.split()[0]: line.split()[1] for line in ready.stdout.splitlines() if line.strip()}
    assert set(checked.values()) == {"ok"}
    expected = {
        f"kms:alias/{prefix}-data",
        f"s3:{prefix}-data",
        f"secretsmanager:{prefix}/app",
        f"sqs:{prefix}-jobs",
        *(f"dynamodb:{prefix}-{role}" for role in ("ideas", "users", "profiles", "documents", "idea-requests", "jobs")),
    }
    assert expected <= set(checked)
    assert any(name.startswith("cognito-idp:") for name in checked)
    assert not any(name in ("sqlite", "keyring") for name in checked)  # nothing of the embedded shape


def test_prepare_creates_the_first_administrator_of_a_deployment_once(deployment: Deployment, moto: MotoServer) -> None:
    """No function of a deployment runs serve's first-start preparation: the operator runs ``aws prepare``."""
    assert deployment.cli("aws", "provision").returncode == 0
    deployment.extra_env["INVESTAI_LOAD_SAMPLE_MARKET_DATA"] = "false"  # quick: the administrator only
    first = deployment.cli("aws", "prepare")
    assert first.returncode == 0, first.stderr
    assert f"first administrator created: {ADMIN_EMAIL}" in first.stdout
    prefix = deployment.extra_env["INVESTAI_AWS_RESOURCE_PREFIX"]
    cognito = moto.client("cognito-idp")
    (pool,) = [p for p in cognito.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == f"{prefix}-users"]
    users = cognito.list_users(UserPoolId=pool["Id"])["Users"]
    assert len(users) == 1
    again = deployment.cli("aws", "prepare")
    assert again.returncode == 0, again.stderr
    assert "already has users" in again.stdout
    assert len(cognito.list_users(UserPoolId=pool["Id"])["Users"]) == 1


def test_the_whole_flow_on_aws_services(deployment: Deployment, server: Server, moto: MotoServer) -> None:
    prefix = deployment.extra_env["INVESTAI_AWS_RESOURCE_PREFIX"]
    admin = Api.admin(server.base_url)  # the first administrator, created in Cognito at start
    pool = moto.client("cognito-idp")
    pools = [p["Id"] for p in pool.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == f"{prefix}-users"]
    assert len(pools) == 1
    emails = [
        attribute["Value"]
        for user in pool.list_users(UserPoolId=pools[0])["Users"]
        for attribute in user["Attributes"]
        if attribute["Name"] == "email"
    ]
    assert ADMIN_EMAIL in emails

    analyst = admin.new_user("ana@example.com", "analyst")  # temporary password, then a new one
    _set_up_mfa(analyst)

    uploaded = analyst.request(
        "POST",
        "/api/v1/documents",
        files={"file": ("desk-note.pdf", io.BytesIO(make_pdf([NOTE], title="Desk note")))},
        # published within the sample price history, so that research as of its last date can read it
        data={"title": "Desk note", "published_at": "2022-12-01"},
    )
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()
    _assert_stored_in_s3_with_kms(moto, f"{prefix}-data", document["id"])
    item = moto.client("dynamodb").get_item(TableName=f"{prefix}-documents", Key={"id": {"S": document["id"]}})
    assert "Item" in item
    assert _processed(analyst, document["id"]) == "indexed"  # the job went through SQS to the server's worker

    found = analyst.request(
        "GET", "/api/v1/knowledge/search", params={"q": "private label shelf share Procter", "mode": "hybrid"}
    )
    assert found.status_code == 200, found.text
    assert document["id"] in [hit["citation"]["document_id"] for hit in found.json()[:3]]

    requested = analyst.request(
        "POST",
        "/api/v1/ideas/requests",
        json={"tickers": ["PG", "JNJ"], "max_ideas": 2, "min_confidence": 0, "risk_tolerance": "very_aggressive"},
    )
    assert requested.status_code == 202, requested.text
    request_id = requested.json()["request_id"]
    stored = moto.client("dynamodb").get_item(TableName=f"{prefix}-idea-requests", Key={"id": {"S": request_id}})
    assert "Item" in stored
    assert _finished(analyst, request_id) == "succeeded"
    ideas = analyst.request("GET", f"/api/v1/ideas/requests/{request_id}/results").json()["ideas"]
    assert ideas
    cited_note = _assert_citations_resolve(analyst, ideas)
    assert document["id"] in cited_note

    officer = admin.new_user("cleo@example.com", "compliance-officer")
    idea_id = ideas[0]["id"]
    submitted = analyst.request("POST", f"/api/v1/ideas/{idea_id}/status", json={"status": "in_review"})
    assert submitted.status_code == 200, submitted.text
    approved = officer.request("POST", f"/api/v1/ideas/{idea_id}/status", json={"status": "approved"})
    assert approved.status_code == 200, approved.text
    assert analyst.request("GET", f"/api/v1/ideas/{idea_id}").json()["status"] == "approved"

    # every store on AWS services: the index and the bar history are in the bucket, nothing in DATA_DIR
    bucket = moto.client("s3")
    for key_prefix in ("knowledge/", "market/bars/PG/"):
        assert bucket.list_objects_v2(Bucket=f"{prefix}-data", Prefix=key_prefix).get("KeyCount", 0) > 0, key_prefix
    assert not (deployment.data_dir / "knowledge").exists()
    assert not (deployment.data_dir / "market.duckdb").exists()


def _finished(account: Api, request_id: str, timeout_s: float = 240.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = str(account.request("GET", f"/api/v1/ideas/requests/{request_id}").json()["status"])
        if status in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"idea request {request_id} still running after {timeout_s} s")


def _assert_citations_resolve(account: Api, ideas: list[dict[str, Any]]) -> set[str]:
    """Every document citation opens the passage it quotes; every market citation is the bar it names, as of
    its moment. Returns the documents cited."""
    documents: set[str] = set()
    for idea in ideas:
        for evidence in idea["supporting_evidence"]:
            citation = evidence["citation"]
            if citation["kind"] == "document":
                chunk = account.request("GET", f"/api/v1/knowledge/chunks/{citation['chunk_id']}")
                assert chunk.status_code == 200, citation
                assert chunk.json()["document_id"] == citation["document_id"]
                assert evidence["claim"].strip("…").strip()[:60] in chunk.json()["text"]
                documents.add(citation["document_id"])
            else:
                bars = account.request(
                    "GET",
                    f"/api/v1/market/{citation['symbol']}/bars",
                    params={"start": citation["end"], "end": citation["end"], "as_of": citation["as_of"]},
                )
                assert bars.status_code == 200, bars.text
                if citation["series"] == "adj_close":
                    assert bars.json()["bars"][-1]["adj_close"] == pytest.approx(citation["value"])
    return documents


def _set_up_mfa(account: Api) -> None:
    setup = account.request("POST", "/api/v1/auth/mfa/setup")
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    wrong = f"{(int(code_at(secret, time.time())) + 1) % 1_000_000:06d}"
    refused = account.request("POST", "/api/v1/auth/mfa/verify", json={"code": wrong})
    assert refused.status_code in (400, 401), refused.text
    confirmed = account.request("POST", "/api/v1/auth/mfa/verify", json={"code": code_at(secret, time.time())})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["recovery_codes"]
    fresh = Api(account.base_url)
    login = fresh.client.post("/api/v1/auth/login", json={"email": "ana@example.com", "password": _password()})
    assert login.status_code == 200, login.text
    assert login.json()["challenge"] == "MFA"
    answer = fresh.client.post(
        "/api/v1/auth/challenge/mfa",
        json={"session": login.json()["session"], "code": code_at(secret, time.time() + 30)},  # the next step's
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["access_token"]


def _password() -> str:
    from tests.processes import USER_PASSWORD

    return USER_PASSWORD


def _assert_stored_in_s3_with_kms(moto: MotoServer, bucket: str, document_id: str) -> None:
    s3 = moto.client("s3")
    keys = [entry["Key"] for entry in s3.list_object_versions(Bucket=bucket).get("Versions", [])]
    mine = [key for key in keys if document_id in key]
    assert mine, keys
    head = s3.head_object(Bucket=bucket, Key=mine[0])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head.get("BucketKeyEnabled") is True
    assert MARKER.encode() not in s3.get_object(Bucket=bucket, Key=mine[0])["Body"].read()  # sealed by the app too


def _processed(account: Api, document_id: str, timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(account.request("GET", f"/api/v1/documents/{document_id}").json()["status"])
        if status not in ("uploaded", "processing") or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def test_the_container_reads_runtime_secrets_through_the_secret_store(
    deployment: Deployment, moto: MotoServer, monkeypatch: pytest.MonkeyPatch, embedder: Any
) -> None:
    """The AWS shape's ``secret_key`` (CSRF, challenge sessions) comes from Secrets Manager, not the settings."""
    from investai.bootstrap import build_container
    from investai.config import Settings

    assert deployment.cli("aws", "provision").returncode == 0
    for name, value in moto.environment.items():
        monkeypatch.setenv(name, value)
    prefix = deployment.extra_env["INVESTAI_AWS_RESOURCE_PREFIX"]
    stored = json.loads(moto.client("secretsmanager").get_secret_value(SecretId=f"{prefix}/app")["SecretString"])
    assert len(stored["secret_key"]) >= 32
    settings = Settings(_env_file=None, backend="aws", aws_resource_prefix=prefix, data_dir=deployment.data_dir)
    container = build_container(settings, embedder=embedder)
    try:
        assert container.shape == "aws"
        assert container.secret("secret_key") == stored["secret_key"]
        assert container.identity.issuer is None  # Cognito signs the tokens
        assert container.jobs_dispatched
        assert "backup" not in {schedule.name for schedule in container.schedules()}
        assert "document-lifecycle" not in {schedule.name for schedule in container.schedules()}
        compaction = next(schedule for schedule in container.schedules() if schedule.name == "market-compaction")
        assert compaction.job_kind == "market.compact"  # the Parquet history's small files are merged daily
        assert all(check.ok for check in container.operations.readiness().checks)
    finally:
        container.close()
