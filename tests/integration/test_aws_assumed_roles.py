"""Data-plane clients that sign with an assumed role, on the session's moto server (its STS answers
``AssumeRole`` with temporary credentials and ``GetCallerIdentity`` names the role they belong to).

The CDK app gives the functions an execution role plus ``InvestmentAI-DynamoDB-AccessRole`` and
``InvestmentAI-Bedrock-AccessRole``: DynamoDB and Bedrock runtime clients must use those, every other service
the execution role's own credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import botocore.credentials
import pytest

from investai.adapters.aws import bedrock_embeddings, bedrock_models
from investai.adapters.aws.clients import AwsClients
from investai.bootstrap.aws import provision
from investai.bootstrap.aws_jobs import aws_clients
from investai.bootstrap.models import build_model_router
from investai.bootstrap.wiring import build_container
from investai.config import ModelProviderName, Settings
from investai.observability.metrics import Metrics
from tests.aws import REGION, MotoServer, fresh_prefix

ACCOUNT = "123456789012"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    ],
}


@pytest.fixture
def roles(aws_environment: MotoServer) -> Iterator[dict[str, str]]:
    """The two access roles, as the CDK app creates them (moto's IAM)."""
    iam = aws_environment.client("iam")
    suffix = fresh_prefix()
    created = {}
    for service, name in (("dynamodb", "DynamoDB"), ("bedrock-runtime", "Bedrock")):
        role = iam.create_role(
            RoleName=f"InvestmentAI-{name}-AccessRole-{suffix}", AssumeRolePolicyDocument=json.dumps(TRUST)
        )
        created[service] = role["Role"]["Arn"]
    yield created
    for arn in created.values():
        iam.delete_role(RoleName=arn.rsplit("/", 1)[-1])


def signing_key(client: Any, call: str, **arguments: Any) -> str:
    """The access key id a client's request was signed with (read from its Authorization header)."""
    seen: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        authorization = request.headers["Authorization"]
        authorization = authorization.decode() if isinstance(authorization, bytes) else authorization
        seen.append(authorization.split("Credential=", 1)[1].split("/", 1)[0])

    client.meta.events.register("before-send", capture)
    try:
        getattr(client, call)(**arguments)
    except client.exceptions.ClientError:
        pass  # moto has no Bedrock runtime: the request was signed and sent all the same
    finally:
        client.meta.events.unregister("before-send", capture)
    assert len(seen) >= 1
    return seen[0]


def caller(session: Any) -> str:
    """Who ``session``'s credentials are, as STS says."""
    return str(session.client("sts").get_caller_identity()["Arn"])


def identity_of_key(moto: MotoServer, session: Any, access_key: str) -> str:
    frozen = session.get_credentials().get_frozen_credentials()
    assert frozen.access_key == access_key
    import boto3

    sts = boto3.client(
        "sts",
        region_name=REGION,
        endpoint_url=moto.endpoint,
        aws_access_key_id=frozen.access_key,
        aws_secret_access_key=frozen.secret_key,
        aws_session_token=frozen.token,
    )
    return str(sts.get_caller_identity()["Arn"])


def test_dynamodb_and_bedrock_clients_sign_with_their_roles(aws_environment: MotoServer, roles: dict[str, str]) -> None:
    clients = AwsClients(region=REGION, roles=roles)
    dynamodb_key = signing_key(clients.client("dynamodb"), "list_tables")
    assert dynamodb_key.startswith("ASIA")  # temporary credentials from STS
    assumed = identity_of_key(aws_environment, clients.session("dynamodb"), dynamodb_key)
    assert assumed.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{roles['dynamodb'].rsplit('/', 1)[-1]}/")

    bedrock = clients.session("bedrock-runtime").client("bedrock-runtime")
    bedrock_key = signing_key(bedrock, "converse", modelId="amazon.nova-pro-v1:0", messages=[])
    assert bedrock_key not in (dynamodb_key, "testing")
    assert "InvestmentAI-Bedrock-AccessRole" in identity_of_key(
        aws_environment, clients.session("bedrock-runtime"), bedrock_key
    )

    assert signing_key(clients.client("sqs"), "list_queues") == "testing"  # the execution role's own
    assert caller(clients.session("s3")) == f"arn:aws:sts::{ACCOUNT}:user/moto"


def test_roles_are_assumed_on_first_use_and_again_only_when_the_credentials_expire(
    aws_environment: MotoServer, roles: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = AwsClients(region=REGION, roles={"dynamodb": roles["dynamodb"]})
    assumed: list[str] = []
    clients.session("sqs").events.register(  # the execution role's session makes the STS client
        "before-parameter-build.sts.AssumeRole", lambda params, **_: assumed.append(params["RoleArn"])
    )
    dynamodb = clients.client("dynamodb")
    assert assumed == []  # building the client fetched nothing
    for _ in range(3):
        dynamodb.list_tables()
    assert assumed == [roles["dynamodb"]]

    # 55 minutes on: the hour's credentials are within botocore's mandatory refresh window (10 minutes)
    later = botocore.credentials._local_now() + timedelta(minutes=55)
    monkeypatch.setattr(clients.session("dynamodb").get_credentials(), "_time_fetcher", lambda: later)
    monkeypatch.setattr(botocore.credentials, "_local_now", lambda: later)  # the fetcher's cache's clock
    dynamodb.list_tables()
    # assumed again (botocore may fetch more than once here: fresh credentials look as old to the moved clock)
    assert len(assumed) > 1
    assert set(assumed) == {roles["dynamodb"]}


def capture_sessions(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[Any]:
    """The ``session`` each call of the client factory ``module.name`` is given (the factory still runs)."""
    sessions: list[Any] = []
    factory = getattr(module, name)

    def recording(**arguments: Any) -> Any:
        sessions.append(arguments.get("session"))
        return factory(**arguments)

    monkeypatch.setattr(module, name, recording)
    return sessions


def test_the_settings_choose_the_roles(
    aws_environment: MotoServer, roles: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        _env_file=None,
        backend="aws",
        aws_dynamodb_role_arn=roles["dynamodb"],
        aws_bedrock_role_arn=roles["bedrock-runtime"],
    )
    assert aws_clients(settings).roles == roles
    assert aws_clients(Settings(_env_file=None, backend="aws")).roles == {}

    sessions = capture_sessions(monkeypatch, bedrock_models, "bedrock_runtime_client")
    build_model_router(settings.model_copy(update={"model_provider": ModelProviderName.BEDROCK}), metrics=Metrics())
    [session] = sessions
    assert "assumed-role/InvestmentAI-Bedrock-AccessRole" in caller(session)
    build_model_router(Settings(_env_file=None, model_provider="bedrock"), metrics=Metrics())
    assert sessions[1] is None  # no role: boto3's default session, as before


def test_the_aws_shape_works_through_the_roles(
    aws_environment: MotoServer, roles: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = fresh_prefix()
    provision(Settings(_env_file=None, backend="aws", aws_resource_prefix=prefix))
    settings = Settings(
        _env_file=None,
        backend="aws",
        aws_resource_prefix=prefix,
        data_dir=tmp_path / "var",
        aws_dynamodb_role_arn=roles["dynamodb"],
        aws_bedrock_role_arn=roles["bedrock-runtime"],
    )
    sessions = capture_sessions(monkeypatch, bedrock_embeddings, "bedrock_embeddings_client")
    container = build_container(settings)  # Titan embeddings on Bedrock (built, never called: moto has none)
    try:
        [session] = sessions
        assert "assumed-role/InvestmentAI-Bedrock-AccessRole" in caller(session)
        job = container.jobs.enqueue("test.work", {"n": 1})  # DynamoDB records through the role, SQS without
        assert container.jobs.get(job.id).kind == "test.work"
        assert all(check.ok for check in container.operations.readiness().checks)
    finally:
        container.close()
