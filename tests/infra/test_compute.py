"""The compute stack per stage: the jobs queue and its dead-letter queue, the three functions (memory, timeouts,
reserved concurrency, X-Ray, VPC placement, environment), the SQS event source, one EventBridge rule per
schedule, prod's alias with its CodeDeploy canary, the Fargate worker where enabled, and the code assets (one
container image staged from the Dockerfile's allow-list, built at deploy time; the scheduler's ZIP by local
bundling)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match

from investai.adapters.aws.resources import JOBS_QUEUE
from investai_infra import assets
from investai_infra.schedules import aws_schedules, to_eventbridge_cron
from tests.infra.conftest import SKIP_BUNDLING

STAGES = ("dev", "staging", "prod")
REGION = "us-east-1"
API_MEMORY = {"dev": 256, "staging": 512, "prod": 1024}
PROCESSING_MEMORY = {"dev": 1024, "staging": 2048, "prod": 3008}
TIMEOUTS = {"api": 30, "processing": 900, "scheduler": 60}
HANDLERS = {"api": "investai.aws_lambda.api.handler", "processing": "investai.aws_lambda.processing.handler"}
REPO_ROOT = Path(__file__).resolve().parents[2]


# -- helpers ------------------------------------------------------------------------------------------------
def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}


def function(synthesised, stage: str, role: str) -> dict[str, Any]:
    """The function named ``investai-<stage>-<role>``'s properties."""
    functions = resources(synthesised.template_json(stage, "compute"), "AWS::Lambda::Function")
    (found,) = [
        f["Properties"] for f in functions.values() if f["Properties"]["FunctionName"] == f"investai-{stage}-{role}"
    ]
    return found


def logical_id(synthesised, stage: str, attribute: str) -> str:
    stack = synthesised.stages[stage].compute
    return stack.resolve(getattr(stack, attribute).node.default_child.logical_id)


def exported(synthesised, stage: str, value: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The stack part and the value behind an ``Fn::ImportValue`` of a cross-stack reference."""
    name = value["Fn::ImportValue"]
    stack_name = name.partition(":")[0]
    part = stack_name.rsplit("-", 1)[1].lower()
    outputs = synthesised.template_json(stage, part)["Outputs"]
    (found,) = [o["Value"] for o in outputs.values() if o.get("Export", {}).get("Name") == name]
    return part, found


# -- queues -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_jobs_queue_and_dead_letter_queue(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "compute")
    dlq = logical_id(synthesised, stage, "dead_letter_queue")
    template.has_resource(
        "AWS::SQS::Queue",
        {
            "Properties": {
                "QueueName": f"investai-{stage}-jobs",
                "VisibilityTimeout": 900,
                "MessageRetentionPeriod": JOBS_QUEUE.retention_s,
                "KmsMasterKeyId": Match.object_like({"Fn::ImportValue": Match.string_like_regexp("Security.*DataKey")}),
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                    "maxReceiveCount": JOBS_QUEUE.max_receive_count,
                },
            },
            "DeletionPolicy": "Retain",
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": f"investai-{stage}-jobs-dlq",
            "KmsMasterKeyId": Match.object_like({"Fn::ImportValue": Match.any_value()}),
        },
    )


@pytest.mark.parametrize("stage", STAGES)
def test_every_queue_refuses_plain_http(synthesised, stage: str) -> None:
    template = synthesised.template_json(stage, "compute")
    queues = resources(template, "AWS::SQS::Queue")
    guarded = set()
    for policy in resources(template, "AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}:
                guarded.update(queue["Ref"] for queue in policy["Properties"]["Queues"])
    assert guarded == set(queues)


# -- functions ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_memory_and_timeouts_per_stage(synthesised, stage: str) -> None:
    config = synthesised.stages[stage].config
    memory = {"api": API_MEMORY[stage], "processing": PROCESSING_MEMORY[stage], "scheduler": config.scheduler_memory_mb}
    for role, timeout in TIMEOUTS.items():
        found = function(synthesised, stage, role)
        assert (found["MemorySize"], found["Timeout"]) == (memory[role], timeout), role


@pytest.mark.parametrize("stage", STAGES)
def test_reserved_concurrency_on_the_api_in_prod_only(synthesised, stage: str) -> None:
    assert function(synthesised, stage, "api").get("ReservedConcurrentExecutions") == (
        1000 if stage == "prod" else None
    )
    for role in ("processing", "scheduler"):
        assert "ReservedConcurrentExecutions" not in function(synthesised, stage, role)


@pytest.mark.parametrize("stage", STAGES)
def test_one_image_two_commands_and_a_zip_scheduler(synthesised, stage: str) -> None:
    images = {role: function(synthesised, stage, role) for role in HANDLERS}
    for role, handler in HANDLERS.items():
        assert images[role]["PackageType"] == "Image"
        assert images[role]["ImageConfig"] == {"Command": [handler]}
    assert images["api"]["Code"] == images["processing"]["Code"], "both functions run the same image"
    scheduler = function(synthesised, stage, "scheduler")
    assert (scheduler["Runtime"], scheduler["Handler"]) == ("python3.11", "investai.aws_lambda.scheduler.handler")
    manifest = json.loads((synthesised.outdir / f"InvestAI-{stage.capitalize()}-Compute.assets.json").read_text())
    assert [image["source"]["dockerFile"] for image in manifest["dockerImages"].values()].count(
        "deploy/Dockerfile.lambda"
    ) == 1


@pytest.mark.parametrize("stage", STAGES)
def test_tracing_placement_logs_and_role(synthesised, stage: str) -> None:
    config = synthesised.stages[stage].config
    template = synthesised.template_json(stage, "compute")
    log_groups = resources(template, "AWS::Logs::LogGroup")
    for role in ("api", "processing", "scheduler"):
        found = function(synthesised, stage, role)
        assert found["TracingConfig"] == {"Mode": "Active"}
        part, role_arn = exported(synthesised, stage, found["Role"])
        assert (part, role_arn["Fn::GetAtt"][1]) == ("security", "Arn")
        assert role_arn["Fn::GetAtt"][0].startswith("ExecutionRole")
        vpc = found["VpcConfig"]
        subnets = [exported(synthesised, stage, subnet) for subnet in vpc["SubnetIds"]]
        networking = synthesised.template_json(stage, "networking")["Resources"]
        kinds = {
            tag["Value"]
            for _, ref in subnets
            for tag in networking[ref["Ref"]]["Properties"]["Tags"]
            if tag["Key"] == "aws-cdk:subnet-type"
        }
        assert kinds == {"Private"}
        assert len(subnets) == len(config.availability_zones)
        (group,) = vpc["SecurityGroupIds"]
        assert exported(synthesised, stage, group)[1]["Fn::GetAtt"][0].startswith("LambdaSecurityGroup")
        log_group = found["LoggingConfig"]["LogGroup"]["Ref"]
        assert log_groups[log_group]["Properties"]["LogGroupName"] == f"/aws/lambda/investai-{stage}-{role}"
        assert log_groups[log_group]["Properties"]["RetentionInDays"] == config.log_retention_days
        assert "KmsKeyId" in log_groups[log_group]["Properties"]


@pytest.mark.parametrize("stage", STAGES)
def test_environment_of_every_function(synthesised, stage: str) -> None:
    config = synthesised.stages[stage].config
    literal = {
        "INVESTAI_BACKEND": "aws",
        "INVESTAI_PROFILE": stage,
        "INVESTAI_AWS_REGION": REGION,
        "INVESTAI_AWS_RESOURCE_PREFIX": f"investai-{stage}",
        "INVESTAI_SEARCH_BACKEND": config.search_backend,
        "INVESTAI_QUOTES_BACKEND": config.quotes_backend,
        "INVESTAI_MODEL_PROVIDER": "bedrock",
        "INVESTAI_PROGRESS_TRANSPORT": "poll",
        "INVESTAI_DATA_DIR": "/tmp/investai",
    }
    queue = logical_id(synthesised, stage, "jobs_queue")
    for role in ("api", "processing", "scheduler"):
        variables = function(synthesised, stage, role)["Environment"]["Variables"]
        assert {name: variables.get(name) for name in literal} == literal
        assert variables["INVESTAI_AWS_JOBS_QUEUE_URL"] == {"Ref": queue}
        origins = {
            name: exported(synthesised, stage, variables[name])
            for name in (
                "INVESTAI_AWS_BUCKET",
                "INVESTAI_AWS_KMS_KEY_ID",
                "INVESTAI_AWS_SECRET_ID",
                "INVESTAI_AWS_DYNAMODB_ROLE_ARN",
                "INVESTAI_AWS_BEDROCK_ROLE_ARN",
            )
        }
        assert origins["INVESTAI_AWS_BUCKET"][0] == "storage"
        assert origins["INVESTAI_AWS_KMS_KEY_ID"][1]["Fn::GetAtt"][0].startswith("DataKey")
        assert origins["INVESTAI_AWS_SECRET_ID"][1]["Ref"].startswith("AppSecret")
        assert origins["INVESTAI_AWS_DYNAMODB_ROLE_ARN"][1]["Fn::GetAtt"][0].startswith("DynamoDb")
        assert origins["INVESTAI_AWS_BEDROCK_ROLE_ARN"][1]["Fn::GetAtt"][0].startswith("Bedrock")
        static = json.dumps(variables["INVESTAI_STATIC_URL"])
        assert '"https://"' in static
        assert static.endswith('"/static"]]}')
        opensearch = variables.get("INVESTAI_OPENSEARCH_URL")
        assert (opensearch is not None) == (config.search_backend == "opensearch")


def test_lancedb_stage_has_no_opensearch_url_and_builds_the_lancedb_image(dev_variant) -> None:
    variables = function(dev_variant, "dev", "api")["Environment"]["Variables"]
    assert variables["INVESTAI_SEARCH_BACKEND"] == "lancedb"
    assert "INVESTAI_OPENSEARCH_URL" not in variables
    manifest = json.loads((dev_variant.outdir / "InvestAI-Dev-Compute.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerBuildArgs"] == {"SEARCH_BACKEND": "lancedb"}


# -- event source, schedules ----------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_processing_reads_the_queue_reporting_item_failures(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "compute")
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 1)
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [logical_id(synthesised, stage, "jobs_queue"), "Arn"]},
            "FunctionName": {"Ref": logical_id(synthesised, stage, "processing_function")},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 1,
        },
    )


@pytest.mark.parametrize("stage", STAGES)
def test_one_rule_per_schedule_with_the_converted_cron(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "compute")
    scheduler = logical_id(synthesised, stage, "scheduler_function")
    dlq = logical_id(synthesised, stage, "schedule_dead_letter_queue")
    expected = aws_schedules()
    template.resource_count_is("AWS::Events::Rule", len(expected))
    for schedule in expected:
        template.has_resource_properties(
            "AWS::Events::Rule",
            {
                "Name": f"investai-{stage}-schedule-{schedule.name}",
                "ScheduleExpression": to_eventbridge_cron(schedule.cron),
                "State": "ENABLED",
                "Targets": [
                    Match.object_like(
                        {
                            "Arn": {"Fn::GetAtt": [scheduler, "Arn"]},
                            "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
                            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}},
                        }
                    )
                ],
            },
        )
    template.has_resource_properties(
        "AWS::SQS::Queue", {"QueueName": f"investai-{stage}-schedule-dlq", "SqsManagedSseEnabled": True}
    )


# -- release ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_live_alias_and_the_prod_canary(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "compute")
    template.has_resource_properties(
        "AWS::Lambda::Alias",
        {"Name": "live", "FunctionName": {"Ref": logical_id(synthesised, stage, "api_function")}},
    )
    if stage != "prod":
        template.resource_count_is("AWS::CodeDeploy::DeploymentGroup", 0)
        return
    template.has_resource_properties(
        "AWS::CodeDeploy::DeploymentGroup",
        {
            "DeploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
            "DeploymentStyle": {"DeploymentOption": "WITH_TRAFFIC_CONTROL", "DeploymentType": "BLUE_GREEN"},
            "AutoRollbackConfiguration": {
                "Enabled": True,
                "Events": Match.array_with(["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]),
            },
            "AlarmConfiguration": {"Enabled": True, "Alarms": Match.any_value()},
        },
    )
    alarms = resources(synthesised.template_json(stage, "compute"), "AWS::CloudWatch::Alarm")
    names = {alarm["Properties"]["AlarmName"] for alarm in alarms.values()}
    assert names == {"investai-prod-api-live-error-rate", "investai-prod-api-live-latency-p99"}
    latency = next(a for a in alarms.values() if a["Properties"]["AlarmName"].endswith("p99"))["Properties"]
    assert latency["ExtendedStatistic"] == "p99"
    assert {dimension["Name"] for dimension in latency["Dimensions"]} == {"FunctionName", "Resource"}  # the alias
    template.has_resource("AWS::Lambda::Alias", {"UpdatePolicy": {"CodeDeployLambdaAliasUpdate": Match.any_value()}})


# -- worker -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_fargate_worker_where_enabled(synthesised, stage: str) -> None:
    config = synthesised.stages[stage].config
    template = synthesised.template(stage, "compute")
    if not config.fargate_worker:
        template.resource_count_is("AWS::ECS::Service", 0)
        assert synthesised.stages[stage].compute.worker_service is None
        return
    template.has_resource_properties(
        "AWS::ECS::Cluster", {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]}
    )
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "Cpu": str(config.worker_cpu),
            "Memory": str(config.worker_memory_mb),
            "RequiresCompatibilities": ["FARGATE"],
            "ContainerDefinitions": [
                Match.object_like(
                    {
                        "Command": ["worker"],
                        "HealthCheck": Match.object_like({"Command": ["CMD", "/opt/venv/bin/investai", "ready"]}),
                        "Environment": Match.array_with([{"Name": "INVESTAI_BACKEND", "Value": "aws"}]),
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "LaunchType": "FARGATE",
            "NetworkConfiguration": {"AwsvpcConfiguration": Match.object_like({"AssignPublicIp": "DISABLED"})},
            "DeploymentConfiguration": Match.object_like(
                {"DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}
            ),
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": config.worker_min_tasks, "MaxCapacity": config.worker_max_tasks},
    )
    for metric in ("ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization"):
        template.has_resource_properties(
            "AWS::ApplicationAutoScaling::ScalingPolicy",
            {
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                    {"PredefinedMetricSpecification": {"PredefinedMetricType": metric}}
                ),
            },
        )


# -- assets -------------------------------------------------------------------------------------------------
NEVER_STAGED = (".venv", ".git", "tests", "data", "var", "build", "node_modules", ".tools", "infra", ".mypy_cache")


@pytest.mark.parametrize("dockerfile", ["deploy/Dockerfile.lambda", "deploy/Dockerfile.worker"])
def test_image_context_is_small_and_holds_what_the_dockerfile_copies(synthesised, dockerfile: str) -> None:
    manifest = json.loads((synthesised.outdir / "InvestAI-Prod-Compute.assets.json").read_text())
    (image,) = [i for i in manifest["dockerImages"].values() if i["source"]["dockerFile"] == dockerfile]
    context = synthesised.outdir / image["source"]["directory"]
    files = [path for path in context.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in files) < 20_000_000
    assert not {part for path in files for part in path.relative_to(context).parts} & set(NEVER_STAGED)
    assert not [path for path in files if "__pycache__" in path.parts or path.suffix == ".pyc"]
    assert (context / dockerfile).is_file(), "CDK keeps only a root Dockerfile by itself"
    for source in _copy_sources(REPO_ROOT / dockerfile):
        assert (context / source).exists(), f"{dockerfile} copies {source}, missing from the staged context"


def _copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        found = re.match(r"^\s*COPY\s+(?!--from)(?:--\S+\s+)*(.+)$", line)
        if found:
            sources += found.group(1).split()[:-1]
    return sources


def test_scheduler_asset_is_the_package_builders_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local bundling runs the builder and hands CDK only its ZIP (a single archive CDK uploads as is)."""
    builder = tmp_path / "lambda_package.py"
    builder.write_text(
        "import sys, zipfile, pathlib\n"
        "out = pathlib.Path(sys.argv[sys.argv.index('--out') + 1]); out.mkdir(parents=True, exist_ok=True)\n"
        "assert sys.argv[sys.argv.index('--function') + 1] == 'scheduler'\n"
        "(out / 'scheduler.json').write_text('{}')\n"
        "with zipfile.ZipFile(out / 'scheduler.zip', 'w') as z: z.writestr('investai/__init__.py', '')\n"
    )
    monkeypatch.setattr(assets, "PACKAGE_BUILDER", builder)
    monkeypatch.setattr(assets, "PACKAGE_OUT", tmp_path / "build" / "lambda")
    output = tmp_path / "bundle"
    output.mkdir()
    assert assets.SchedulerPackage().try_bundle(str(output)) is True
    assert [path.name for path in output.iterdir()] == ["scheduler.zip"]
    assert zipfile.ZipFile(output / "scheduler.zip").namelist() == ["investai/__init__.py"]
    assert (tmp_path / "build" / "lambda" / "scheduler.zip").is_file()


def test_scheduler_bundling_failure_names_make_lambda_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builder = tmp_path / "lambda_package.py"
    builder.write_text("import sys\nsys.exit(2)\n")
    monkeypatch.setattr(assets, "PACKAGE_BUILDER", builder)
    with pytest.raises(RuntimeError, match="make lambda-package"):
        assets.SchedulerPackage().try_bundle(str(tmp_path))


@pytest.mark.slow
def test_synth_never_runs_docker(tmp_path: Path) -> None:
    """Synthesise prod (its two images and the worker's) with ``docker`` on the PATH and CDK_DOCKER replaced by a
    tripwire: image assets are staged, not built, at synth. (Bundling is skipped as in the session synth.)"""
    tripwire = tmp_path / "bin" / "docker"
    tripwire.parent.mkdir()
    calls = tmp_path / "docker-calls"
    tripwire.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    tripwire.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{tripwire.parent}{os.pathsep}{os.environ['PATH']}",
        "CDK_DOCKER": str(tripwire),
        "INVESTAI_INFRA_NAG": "0",
    }
    program = (
        "from investai_infra.build import build_app\n"
        f"build_app(outdir={str(tmp_path / 'out')!r}, context={{'stage': 'prod', 'aws:cdk:bundling-stacks': []}})"
        ".synth()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO_ROOT / "infra", env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not calls.exists(), calls.read_text()


# -- artefacts the delivery pipeline built once ---------------------------------------------------------------
PREBUILT_LAMBDA_IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/investai-lambda@sha256:" + "ab" * 32
PREBUILT_WORKER_IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/investai-worker:release-42"


def test_prebuilt_images_and_package_replace_the_assets(tmp_path: Path) -> None:
    """Staging and prod deploy the very image digests and ZIP that the pipeline built and checked."""
    from investai_infra.build import build_app

    package = tmp_path / "scheduler.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("investai/aws_lambda/scheduler.py", "def handler(event, context): ...\n")
    context = {
        "stage": "dev",
        "investai:dev:fargate_worker": "true",
        "investai:lambda_image": PREBUILT_LAMBDA_IMAGE,
        "investai:worker_image": PREBUILT_WORKER_IMAGE,
        "investai:scheduler_package": str(package),
        **SKIP_BUNDLING,
    }
    app = build_app(outdir=str(tmp_path / "out"), context=context, nag=False)
    app.synth()
    stack = app.stages["dev"].compute  # type: ignore[attr-defined]
    template = json.loads((tmp_path / "out" / stack.template_file).read_text())
    images = {
        json.dumps(props["Code"]["ImageUri"])
        for props in (r["Properties"] for r in resources(template, "AWS::Lambda::Function").values())
        if "ImageUri" in props.get("Code", {})
    }
    assert len(images) == 1
    assert "investai-lambda@sha256:" + "ab" * 32 in images.pop()
    (task,) = resources(template, "AWS::ECS::TaskDefinition").values()
    assert "investai-worker:release-42" in json.dumps(task["Properties"]["ContainerDefinitions"][0]["Image"])
    manifest = json.loads((tmp_path / "out" / "InvestAI-Dev-Compute.assets.json").read_text())
    assert manifest.get("dockerImages", {}) == {}  # nothing for cdk deploy to build
    (code,) = [asset for asset in manifest["files"].values() if asset.get("displayName") == "SchedulerFunction/Code"]
    assert code["source"]["packaging"] == "file"  # the ZIP uploaded as it is, not rebuilt


@pytest.mark.parametrize("uri", ["investai-lambda:latest", "111111111111.dkr.ecr.us-east-1.amazonaws.com/x@md5:0"])
def test_a_prebuilt_image_must_be_an_ecr_uri(tmp_path: Path, uri: str) -> None:
    from investai_infra.build import build_app

    with pytest.raises(ValueError, match="ECR image URI"):
        build_app(outdir=str(tmp_path), context={"stage": "dev", "investai:lambda_image": uri, **SKIP_BUNDLING})
