"""The Lambda handlers called as plain functions, the way the Lambda service calls them, on the session's moto
server: the API behind API Gateway (REST v1 and HTTP API v2 events), the processing function fed by SQS, and the
scheduler fired by EventBridge. Each test provisions a fresh deployment (``investai aws provision``'s function),
sets the variables a function gets (prod profile, no secret but the one in Secrets Manager, the data-plane
roles to assume) and starts from a fresh execution environment.

Events are AWS's documented samples (``tests/data/lambda_events``) with the request, the messages or the rule
filled in; SQS records carry messages really received from the queue, so receipt handles are real.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest

from investai.aws_lambda import api, processing, runtime, scheduler
from investai.bootstrap import Container
from investai.bootstrap.aws import provision
from investai.bootstrap.aws_jobs import aws_schedules
from investai.config import ConfigurationError, Settings
from investai.domain.jobs import JobStatus
from investai.domain.users import Role
from investai.jobs.kinds import EXPIRE_IDEAS, MARKET_REFRESH
from tests.aws import MotoServer, fresh_prefix
from tests.conftest import sign_up

pytestmark = pytest.mark.timeout(300)

EVENTS = Path(__file__).resolve().parents[1] / "data" / "lambda_events"
ROOT = Path(__file__).resolve().parents[2]
DYNAMODB_ROLE = "arn:aws:iam::123456789012:role/InvestmentAI-DynamoDB-AccessRole"
BEDROCK_ROLE = "arn:aws:iam::123456789012:role/InvestmentAI-Bedrock-AccessRole"
HEAVY = ("pandas", "numpy", "pyarrow", "duckdb", "scipy", "sklearn", "lancedb", "torch", "matplotlib")


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def context(name: str = "investai-api") -> Any:
    """What the Lambda runtime passes as the context object (the attributes handlers may read)."""
    return SimpleNamespace(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        memory_limit_in_mb=1024,
        aws_request_id="6f1c7a4e-5b7f-4c8e-9d1a-2b3c4d5e6f70",
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name="2026/12/06/[$LATEST]abcdef0123456789",
        get_remaining_time_in_millis=lambda: 30_000,
    )


# -- the deployment a function runs in ----------------------------------------------------------------------


@dataclass
class Deployment:
    prefix: str
    moto: MotoServer

    @property
    def queue_url(self) -> str:
        return str(self.moto.client("sqs").get_queue_url(QueueName=f"{self.prefix}-jobs")["QueueUrl"])

    def container(self) -> Container:
        """The container of the current execution environment (built by the first handler that needs it)."""
        return runtime.container()

    def queue_counts(self) -> dict[str, int]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = self.moto.client("sqs").get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)
        return {"visible": int(found["Attributes"][names[0]]), "in_flight": int(found["Attributes"][names[1]])}

    def receive(self, expect: int, *, visibility_s: int = 60) -> list[dict[str, Any]]:
        """Messages as the event source mapping receives them (all attributes), waiting for ``expect``."""
        sqs = self.moto.client("sqs")
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while len(messages) < expect and time.monotonic() < deadline:
            answer = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, expect - len(messages)),
                WaitTimeSeconds=1,
                VisibilityTimeout=visibility_s,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages += answer.get("Messages", [])
        assert len(messages) == expect, messages
        return messages

    def send(self, body: str) -> None:
        self.moto.client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=body)

    def jobs_of(self, kind: str) -> list[dict[str, Any]]:
        items = self.moto.client("dynamodb").scan(TableName=f"{self.prefix}-jobs")["Items"]
        return [item for item in items if item["pk"]["S"].startswith("job#") and item["kind"]["S"] == kind]


@pytest.fixture
def deployment(aws_environment: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Deployment]:
    prefix = fresh_prefix()
    provision(Settings(_env_file=None, backend="aws", aws_resource_prefix=prefix))
    for name in [name for name in os.environ if name.startswith("INVESTAI_")]:
        monkeypatch.delenv(name)
    for name, value in {
        "INVESTAI_PROFILE": "prod",
        "INVESTAI_AWS_RESOURCE_PREFIX": prefix,
        "INVESTAI_DATA_DIR": str(tmp_path / "var"),
        "INVESTAI_AWS_DYNAMODB_ROLE_ARN": DYNAMODB_ROLE,
        "INVESTAI_AWS_BEDROCK_ROLE_ARN": BEDROCK_ROLE,
    }.items():
        monkeypatch.setenv(name, value)
    runtime.reset()  # a fresh execution environment
    try:
        yield Deployment(prefix=prefix, moto=aws_environment)
    finally:
        runtime.reset()


# -- the API function ---------------------------------------------------------------------------------------


def rest_v1(
    method: str, path: str, *, headers: dict[str, str] | None = None, query: dict[str, str] | None = None
) -> dict[str, Any]:
    """A REST API proxy event (``/{proxy+}`` on stage ``prod``) for one request."""
    event = sample("apigateway_rest_v1.json")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = path
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["requestContext"]["path"] = f"/prod{path}"
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    if query:
        event["queryStringParameters"] = dict(query)
        event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()}
    return event


def http_v2(
    method: str, path: str, *, headers: dict[str, str] | None = None, query: dict[str, str] | None = None
) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) event for one request."""
    event = sample("apigateway_http_v2.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = urlencode(query or {})
    if query:
        event["queryStringParameters"] = dict(query)
    event["headers"].update({name.lower(): value for name, value in (headers or {}).items()})
    return event


EVENT_FORMATS = {"rest_v1": rest_v1, "http_v2": http_v2}
EventFormat = Callable[..., dict[str, Any]]


@pytest.fixture(params=sorted(EVENT_FORMATS))
def api_event(request: pytest.FixtureRequest) -> EventFormat:
    return EVENT_FORMATS[request.param]


def call_api(event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    answer = api.handler(event, context())
    headers = {name.lower(): value for name, value in answer.get("headers", {}).items()}
    assert answer["isBase64Encoded"] is False
    body = json.loads(answer["body"]) if "json" in headers.get("content-type", "") else answer["body"]
    return answer["statusCode"], headers, body


def test_health_answers_through_api_gateway(deployment: Deployment, api_event: EventFormat) -> None:
    status, headers, body = call_api(api_event("GET", "/health"))
    assert status == 200
    assert body["status"] == "ok"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert headers["x-request-id"]


def test_an_authenticated_call_reaches_the_users_data(deployment: Deployment, api_event: EventFormat) -> None:
    account = sign_up(deployment.container(), role=Role.ANALYST, organisation="org_lambda")  # a Cognito user
    status, _, body = call_api(api_event("GET", "/api/v1/profile", headers=account.headers))
    assert status == 200, body
    assert (body["user_id"], body["organisation_id"], body["role"]) == (account.user.id, "org_lambda", "analyst")


def test_refusals_carry_the_json_error_body(deployment: Deployment, api_event: EventFormat) -> None:
    status, _, body = call_api(api_event("GET", "/api/v1/profile"))
    assert status == 401
    assert set(body) == {"error"}
    assert {"code", "message", "request_id"} <= set(body["error"])
    account = sign_up(deployment.container())
    status, _, body = call_api(api_event("GET", "/api/v1/ideas/requests/req_missing", headers=account.headers))
    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert body["error"]["request_id"]


def test_the_app_and_its_lifespan_start_once_per_execution_environment(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = deployment.container()
    opened: list[str] = []
    current_key_id = container.keys.current_key_id

    def counting() -> Any:
        opened.append("key")
        return current_key_id()

    monkeypatch.setattr(container.keys, "current_key_id", counting)  # what the lifespan's startup calls
    for event in (rest_v1("GET", "/health"), http_v2("GET", "/health"), rest_v1("GET", "/ready")):
        assert api.handler(event, context())["statusCode"] == 200
    assert opened == ["key"]
    assert runtime.container() is container
    assert container.settings.serve_with_worker is False
    assert container.settings.serve_with_scheduler is False


def test_the_function_needs_only_its_variables_and_the_secret(deployment: Deployment) -> None:
    settings = runtime.settings()
    assert settings.secret_key is None  # nothing of the secret in the environment
    stored = deployment.moto.client("secretsmanager").get_secret_value(SecretId=f"{deployment.prefix}/app")
    assert deployment.container().secret("secret_key") == json.loads(stored["SecretString"])["secret_key"]
    assert (settings.profile.value, settings.backend.value, settings.log_json) == ("prod", "aws", True)
    assert settings.progress_transport == "poll"  # API Gateway buffers: no server-sent events through it
    assert str(settings.data_dir) == os.environ["INVESTAI_DATA_DIR"]


def test_lambda_settings_keep_what_the_environment_sets_but_never_run_work_in_process() -> None:
    environ = {"INVESTAI_PROGRESS_TRANSPORT": "sse", "INVESTAI_SERVE_WITH_WORKER": "true"}
    patched = pytest.MonkeyPatch()
    try:
        for name, value in environ.items():
            patched.setenv(name, value)
        chosen = runtime.lambda_settings()
        assert chosen.progress_transport == "sse"
        assert chosen.serve_with_worker is False
        assert chosen.backend.value == "aws"
        patched.setenv("INVESTAI_BACKEND", "embedded")
        with pytest.raises(ConfigurationError, match="AWS shape"):
            runtime.lambda_settings()
    finally:
        patched.undo()


def test_an_upload_larger_than_one_invocation_carries_is_refused_clearly(
    deployment: Deployment, api_event: EventFormat
) -> None:
    assert runtime.settings().max_upload_bytes == runtime.LAMBDA_MAX_UPLOAD_BYTES
    account = sign_up(deployment.container())
    boundary = "investai-boundary"
    payload = b"x" * (runtime.LAMBDA_MAX_UPLOAD_BYTES + 1024)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        **account.headers,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(body)),
    }
    event = api_event("POST", "/api/v1/documents", headers=headers)
    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    status, _, answer = call_api(event)
    assert status == 413
    assert set(answer) == {"error"}
    assert str(runtime.LAMBDA_MAX_UPLOAD_BYTES) in answer["error"]["message"]


# -- the processing function --------------------------------------------------------------------------------


def sqs_event(deployment: Deployment, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event the SQS event source mapping hands the function for ``messages`` (as received)."""
    template = sample("sqs_batch.json")["Records"][0]
    arn = f"arn:aws:sqs:us-east-1:123456789012:{deployment.prefix}-jobs"
    records = []
    for message in messages:
        record = copy.deepcopy(template)
        record.update(
            messageId=message["MessageId"],
            receiptHandle=message["ReceiptHandle"],
            body=message["Body"],
            attributes={**record["attributes"], **message.get("Attributes", {})},
            md5OfBody=message["MD5OfBody"],
            eventSourceARN=arn,
        )
        attributes = message.get("MessageAttributes", {})
        record["messageAttributes"] = {
            name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
            for name, value in attributes.items()
        }
        records.append(record)
    return {"Records": records}


def process(deployment: Deployment, messages: list[dict[str, Any]]) -> list[str]:
    """Invoke the processing function; the message ids it reports as failed."""
    answer = processing.handler(sqs_event(deployment, messages), context("investai-processing"))
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


def count_runs(container: Container, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the runs of the ideas-expiry job's handler (it calls ``IdeaLifecycle.expire_due``)."""
    runs: list[int] = []
    expire_due = container.idea_lifecycle.expire_due

    def counted() -> Any:
        runs.append(1)
        return expire_due()

    monkeypatch.setattr(container.idea_lifecycle, "expire_due", counted)
    return runs


def test_a_poisoned_message_fails_alone_and_the_good_jobs_run(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = deployment.container()
    runs = count_runs(container, monkeypatch)
    jobs = [container.jobs.enqueue(EXPIRE_IDEAS, idempotency_key=f"batch-{n}") for n in range(2)]
    deployment.send("this is not a job message")
    messages = deployment.receive(3)
    poisoned = next(message["MessageId"] for message in messages if message["Body"].startswith("this"))

    assert process(deployment, messages) == [poisoned]
    assert [container.jobs.get(job.id).status for job in jobs] == [JobStatus.SUCCEEDED] * 2
    assert len(runs) == 2


def test_unknown_jobs_and_errors_are_reported_failed_without_failing_the_batch(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = deployment.container()
    runs = count_runs(container, monkeypatch)
    good = container.jobs.enqueue(EXPIRE_IDEAS, idempotency_key="good")
    broken = container.jobs.enqueue(EXPIRE_IDEAS, idempotency_key="broken")
    deployment.send(json.dumps({"job_id": "job_never_written", "kind": EXPIRE_IDEAS}))
    claim = container.jobs.claim

    def failing_claim(job_id: str, **kwargs: Any) -> Any:
        if job_id == broken.id:
            raise RuntimeError("DynamoDB is unreachable")
        return claim(job_id, **kwargs)

    monkeypatch.setattr(container.jobs, "claim", failing_claim)
    messages = deployment.receive(3)
    by_job = {json.loads(message["Body"])["job_id"]: message["MessageId"] for message in messages}

    assert sorted(process(deployment, messages)) == sorted([by_job["job_never_written"], by_job[broken.id]])
    assert container.jobs.get(good.id).status is JobStatus.SUCCEEDED
    assert container.jobs.get(broken.id).status is JobStatus.QUEUED
    assert len(runs) == 1


def test_a_redelivered_message_does_no_work_twice(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    container = deployment.container()
    runs = count_runs(container, monkeypatch)
    job = container.jobs.enqueue(EXPIRE_IDEAS, idempotency_key="once")
    [first] = deployment.receive(1)
    assert process(deployment, [first]) == []

    sqs = deployment.moto.client("sqs")  # SQS delivers at least once: the same message comes back
    sqs.change_message_visibility(
        QueueUrl=deployment.queue_url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    [again] = deployment.receive(1)
    assert again["MessageId"] == first["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"

    assert process(deployment, [again]) == []  # settled: deleted, not retried
    assert len(runs) == 1
    finished = container.jobs.get(job.id)
    assert (finished.status, finished.attempts) == (JobStatus.SUCCEEDED, 1)


def test_a_job_not_ready_yet_is_reported_failed_and_hidden_until_it_is(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = deployment.container()
    runs = count_runs(container, monkeypatch)
    job = container.jobs.enqueue(EXPIRE_IDEAS, delay=timedelta(hours=1))  # its own message waits 15 minutes
    deployment.send(json.dumps({"job_id": job.id, "kind": job.kind}))  # SQS's delay cap: it arrives early
    [early] = deployment.receive(1, visibility_s=2)

    assert process(deployment, [early]) == [early["MessageId"]]
    assert len(runs) == 0
    assert container.jobs.get(job.id).status is JobStatus.QUEUED
    time.sleep(3)  # past the 2 s the message was received for: it stays hidden for the job's remaining hour
    hidden = deployment.moto.client("sqs").receive_message(QueueUrl=deployment.queue_url, WaitTimeSeconds=1)
    assert hidden.get("Messages", []) == []
    assert deployment.queue_counts() == {"visible": 0, "in_flight": 1}


# -- the scheduler function ---------------------------------------------------------------------------------


def scheduled_event(deployment: Deployment, rule: str, *, at: str = "2026-12-06T07:07:00Z") -> dict[str, Any]:
    event = sample("eventbridge_scheduled.json")
    event["resources"] = [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"]
    event["time"] = at
    return event


def test_a_scheduled_event_enqueues_its_job_once_however_often_it_arrives(deployment: Deployment) -> None:
    event = scheduled_event(deployment, f"{deployment.prefix}-schedule-ideas-expiry")
    first = scheduler.handler(event, context("investai-scheduler"))
    again = scheduler.handler(copy.deepcopy(event), context("investai-scheduler"))  # EventBridge: at least once

    assert (
        first
        == again
        == {
            "schedule": "ideas-expiry",
            "job_kind": EXPIRE_IDEAS,
            "idempotency_key": "ideas-expiry:2026-12-06T07:07",
        }
    )
    assert len(deployment.jobs_of(EXPIRE_IDEAS)) == 1
    [message] = deployment.receive(1)
    assert json.loads(message["Body"])["kind"] == EXPIRE_IDEAS
    later = scheduler.handler(
        scheduled_event(deployment, event["resources"][0].rsplit("/", 1)[-1], at="2026-12-06T08:07:00Z"), None
    )
    assert later["idempotency_key"] == "ideas-expiry:2026-12-06T08:07"
    assert len(deployment.jobs_of(EXPIRE_IDEAS)) == 2  # the next period is a new job


def test_detail_schedule_names_the_schedule_before_the_rule(deployment: Deployment) -> None:
    event = scheduled_event(deployment, "a-rule-named-otherwise")
    event["detail"] = {"schedule": "market-refresh"}
    assert scheduler.handler(event, None)["job_kind"] == MARKET_REFRESH
    assert len(deployment.jobs_of(MARKET_REFRESH)) == 1
    bare = scheduler.handler({"detail": {"schedule": "ideas-expiry"}}, None)  # a target input of its own: no time
    assert bare["idempotency_key"].startswith(f"ideas-expiry:{datetime.now(UTC):%Y-%m-%d}")


@pytest.mark.parametrize(
    ("rule", "named"),
    [("{prefix}-schedule-no-such-schedule", "'no-such-schedule'"), ("someone-elses-rule", "someone-elses-rule")],
)
def test_an_unknown_schedule_is_an_error_naming_it(deployment: Deployment, rule: str, named: str) -> None:
    event = scheduled_event(deployment, rule.format(prefix=deployment.prefix))
    with pytest.raises(scheduler.UnknownSchedule, match=named):
        scheduler.handler(event, None)
    assert deployment.queue_counts() == {"visible": 0, "in_flight": 0}


def test_the_scheduler_knows_the_schedules_the_container_would_run(deployment: Deployment) -> None:
    settings = runtime.settings()
    assert aws_schedules(settings) == deployment.container().schedules()
    assert "backup" not in {schedule.name for schedule in aws_schedules(settings)}


LIGHT_PROBE = textwrap.dedent(
    """
    import json, sys
    from investai.aws_lambda import scheduler
    answer = scheduler.handler(json.loads(sys.argv[1]), None)
    heavy = [name for name in json.loads(sys.argv[2]) if name in sys.modules]
    print(json.dumps({"answer": answer, "heavy": heavy}))
    """
)


def test_the_scheduler_loads_nothing_of_the_data_stack(deployment: Deployment) -> None:
    """The scheduler ships as a small ZIP: importing it and building what it needs (in a fresh interpreter, as
    a cold start does) loads none of the heavy libraries."""
    event = scheduled_event(deployment, f"{deployment.prefix}-schedule-maintenance")
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_PROBE, json.dumps(event), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["answer"]["schedule"] == "maintenance"
    assert report["heavy"] == []
    assert len(deployment.jobs_of("maintenance.purge_expired")) == 1  # it really built and enqueued


def test_the_probe_would_see_a_heavy_import(deployment: Deployment) -> None:
    """Guard against a probe that passes because it looks at nothing."""
    probe = LIGHT_PROBE.replace(
        "from investai.aws_lambda import scheduler", "import pandas\nfrom investai.aws_lambda import scheduler"
    )
    event = scheduled_event(deployment, f"{deployment.prefix}-schedule-maintenance")
    result = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(event), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
        env=dict(os.environ),
    )
    assert "pandas" in json.loads(result.stdout.strip().splitlines()[-1])["heavy"]
