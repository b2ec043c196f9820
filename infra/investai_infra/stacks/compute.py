"""The stage's compute: the jobs queue, the API / processing / scheduler functions, the API's release alias
(with a CodeDeploy canary in prod), one EventBridge rule per schedule, and the optional Fargate worker.

Roles: every function, and the worker's tasks, run as the security stack's execution role, taken here
*without policy updates*. CDK would otherwise append grants (queue, key, X-Ray, VPC access) to that role's
policy inside the security stack, pointing it back at this stack: a dependency cycle, and policy written in two
places. Security writes the role's least-privilege policy against the deterministic names (``<prefix>-jobs``,
``/aws/lambda/<prefix>-*``, ...) these resources carry.

Code: the API and processing functions share ONE container image (``deploy/Dockerfile.lambda``), each
overriding its command. Synth stages the image's build context (the Dockerfile's own allow-list,
``deploy/Dockerfile.lambda.dockerignore``) and never runs Docker; ``cdk deploy`` builds and pushes it. The
scheduler is a ZIP (:mod:`investai_infra.assets` explains when and how it is built).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from investai.adapters.aws.resources import JOBS_QUEUE
from investai_infra.assets import ImageSource, architecture, image_source, scheduler_package
from investai_infra.config import StageConfig
from investai_infra.schedules import aws_schedules, to_eventbridge_cron
from investai_infra.stacks.common import acknowledge, log_retention

if TYPE_CHECKING:
    from investai_infra.stacks.networking import NetworkingStack
    from investai_infra.stacks.security import SecurityStack
    from investai_infra.stacks.storage import StorageStack

API_HANDLER = "investai.aws_lambda.api.handler"
PROCESSING_HANDLER = "investai.aws_lambda.processing.handler"
SCHEDULER_HANDLER = "investai.aws_lambda.scheduler.handler"
LAMBDA_SCRATCH = "/tmp/investai"  # noqa: S108 - Lambda's only writable directory; the product keeps scratch files there
PROCESSING_BATCH = 1  # a job may take the whole 15 minutes: batching would share one invocation's timeout
CANARY_P99_MS = 5_000  # API p99 latency that rolls a canary back
CODEDEPLOY_POLICY = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"
WORKER_STOP_TIMEOUT = Duration.seconds(120)  # Fargate's maximum: SIGTERM, then the job in hand gets 2 minutes


class ComputeStack(Stack):
    """Queue, functions, alias and canary, schedules and the optional worker of one stage (see the module)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        networking: NetworkingStack,
        security: SecurityStack,
        storage: StorageStack,
        static_url: str,
        env: Environment,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=f"InvestAI {config.stage}: functions and jobs")
        self.config = config
        self._networking = networking
        self._security = security
        self._role = security.execution_role.without_policy_updates()
        self.dead_letter_queue, self.jobs_queue = self._queues(config, security)
        self.function_environment = self._environment(config, security, storage, static_url)
        image = image_source(self, "LambdaImage", "deploy/Dockerfile.lambda", config)
        self.api_function = self._image_function(
            "ApiFunction", "api", API_HANDLER, image, config.api_memory_mb, config.api_timeout_s
        )
        self.processing_function = self._image_function(
            "ProcessingFunction",
            "processing",
            PROCESSING_HANDLER,
            image,
            config.processing_memory_mb,
            config.processing_timeout_s,
        )
        self.schedule_dead_letter_queue = self._schedule_dead_letter_queue(config)
        self.scheduler_function = self._scheduler_function(config)
        self.api_alias = lambda_.Alias(
            self, "ApiLiveAlias", alias_name="live", version=self.api_function.current_version
        )
        self.deployment_group = self._canary() if config.canary else None
        self.processing_function.add_event_source(
            event_sources.SqsEventSource(self.jobs_queue, batch_size=PROCESSING_BATCH, report_batch_item_failures=True)
        )
        self.schedule_rules = self._schedule_rules(config)
        self.worker_service = self._worker(config) if config.fargate_worker else None

    # -- queues ------------------------------------------------------------------------------------------
    def _queues(self, config: StageConfig, security: SecurityStack) -> tuple[sqs.Queue, sqs.Queue]:
        """``<prefix>-jobs`` and its dead-letter queue, as :data:`resources.JOBS_QUEUE` defines them (the
        visibility timeout is the processing function's timeout: Lambda requires at least that)."""
        retention = Duration.seconds(JOBS_QUEUE.retention_s)
        dead_letters = sqs.Queue(
            self,
            "JobsDeadLetterQueue",
            queue_name=config.name(f"{JOBS_QUEUE.role}-dlq"),
            retention_period=retention,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=security.data_key,
        )
        jobs = sqs.Queue(
            self,
            "JobsQueue",
            queue_name=config.name(JOBS_QUEUE.role),
            visibility_timeout=Duration.seconds(max(JOBS_QUEUE.visibility_timeout_s, config.processing_timeout_s)),
            retention_period=retention,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=JOBS_QUEUE.max_receive_count),
            removal_policy=RemovalPolicy.RETAIN,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=security.data_key,
        )
        return dead_letters, jobs

    def _schedule_dead_letter_queue(self, config: StageConfig) -> sqs.Queue:
        """``<prefix>-schedule-dlq``: scheduled events EventBridge could not deliver to the scheduler (after its
        retries), for an operator to look at. It holds rule ARNs and times only, so SQS-managed encryption
        suffices (a KMS key would need EventBridge in its key policy); EventBridge's send permission is the
        queue policy CDK writes per rule. Failures *inside* the function are Lambda's async retries' (two) and
        the function's error alarm: a function-level dead-letter queue would need ``sqs:SendMessage`` on this
        queue in the execution role's policy, which the security stack owns."""
        queue = sqs.Queue(
            self,
            "ScheduleDeadLetterQueue",
            queue_name=config.name("schedule-dlq"),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            retention_period=Duration.seconds(JOBS_QUEUE.retention_s),
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            queue,
            {
                "SQS3": "This queue is itself a dead-letter queue: the EventBridge rules' targets name it in their"
                " DeadLetterConfig, which cdk-nag does not follow (it recognises SQS redrive policies only)"
            },
        )
        return queue

    # -- functions ---------------------------------------------------------------------------------------
    def _environment(
        self, config: StageConfig, security: SecurityStack, storage: StorageStack, static_url: str
    ) -> dict[str, str]:
        """What the product's settings read on AWS (``INVESTAI_*``, see ``investai.config.Settings``)."""
        environment = {
            "INVESTAI_BACKEND": "aws",
            "INVESTAI_PROFILE": config.stage,
            "INVESTAI_AWS_REGION": config.region,
            "INVESTAI_AWS_RESOURCE_PREFIX": config.prefix,
            "INVESTAI_AWS_BUCKET": storage.bucket.bucket_name,
            "INVESTAI_AWS_JOBS_QUEUE_URL": self.jobs_queue.queue_url,
            "INVESTAI_AWS_KMS_KEY_ID": security.data_key.key_arn,
            "INVESTAI_AWS_SECRET_ID": security.app_secret.secret_arn,
            "INVESTAI_AWS_DYNAMODB_ROLE_ARN": security.dynamodb_role.role_arn,
            "INVESTAI_AWS_BEDROCK_ROLE_ARN": security.bedrock_role.role_arn,
            "INVESTAI_SEARCH_BACKEND": config.search_backend,
            "INVESTAI_QUOTES_BACKEND": config.quotes_backend,
            "INVESTAI_MODEL_PROVIDER": "bedrock",
            "INVESTAI_STATIC_URL": static_url,
            "INVESTAI_PROGRESS_TRANSPORT": "poll",  # API Gateway buffers responses: no server-sent events
        }
        if storage.opensearch_domain is not None:
            environment["INVESTAI_OPENSEARCH_URL"] = f"https://{storage.opensearch_domain.domain_endpoint}"
        return environment

    def _log_group(self, construct_id: str, name: str) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            log_group_name=name,
            retention=log_retention(self.config.log_retention_days),
            encryption_key=self._security.data_key,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _function_options(self, role: str, memory_mb: int, timeout_s: int) -> dict[str, object]:
        """Everything the three functions share: role, VPC placement, tracing, logs, environment."""
        name = self.config.name(role)
        return {
            "function_name": name,
            "description": f"InvestAI {self.config.stage} {role}",
            "role": self._role,
            "memory_size": memory_mb,
            "timeout": Duration.seconds(timeout_s),
            "architecture": architecture(self.config).function,
            "tracing": lambda_.Tracing.ACTIVE,
            "vpc": self._networking.vpc,
            "vpc_subnets": ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            "security_groups": [self._networking.lambda_security_group],
            "log_group": self._log_group(f"{role.capitalize()}LogGroup", f"/aws/lambda/{name}"),
            "environment": {**self.function_environment, "INVESTAI_DATA_DIR": LAMBDA_SCRATCH},
            "environment_encryption": self._security.data_key,
        }

    def _image_function(
        self,
        construct_id: str,
        role: str,
        handler: str,
        image: ImageSource,
        memory_mb: int,
        timeout_s: int,
    ) -> lambda_.DockerImageFunction:
        reserved = self.config.reserved_concurrency if role == "api" else None
        return lambda_.DockerImageFunction(
            self,
            construct_id,
            code=lambda_.DockerImageCode.from_ecr(image.repository, tag_or_digest=image.tag_or_digest, cmd=[handler]),
            reserved_concurrent_executions=reserved,
            **self._function_options(role, memory_mb, timeout_s),  # type: ignore[arg-type]
        )

    def _scheduler_function(self, config: StageConfig) -> lambda_.Function:
        function = lambda_.Function(
            self,
            "SchedulerFunction",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler=SCHEDULER_HANDLER,
            code=scheduler_package(self),
            **self._function_options("scheduler", config.scheduler_memory_mb, config.scheduler_timeout_s),  # type: ignore[arg-type]
        )
        acknowledge(
            function,
            {
                "L1": "Python 3.11 on purpose: the product is tested on CPython 3.11 and the ZIP's wheels are built for"
                " cp311 (deploy/lambda_package.py); the container images run 3.11 too"
            },
        )
        return function

    # -- release -----------------------------------------------------------------------------------------
    def _canary(self) -> codedeploy.LambdaDeploymentGroup:
        """Prod: CodeDeploy shifts 10% of the alias to a new version for 5 minutes, then the rest, and rolls
        back when the alias's error rate or p99 latency alarm fires meanwhile."""
        alias, name = self.api_alias, self.config.name("api")
        errors = cloudwatch.MathExpression(
            expression="100 * errors / MAX([invocations, 1])",
            using_metrics={
                "errors": alias.metric_errors(period=Duration.minutes(1), statistic="Sum"),
                "invocations": alias.metric_invocations(period=Duration.minutes(1), statistic="Sum"),
            },
            label="error rate (%)",
            period=Duration.minutes(1),
        )
        error_alarm = errors.create_alarm(
            self,
            "ApiAliasErrorRate",
            alarm_name=f"{name}-live-error-rate",
            alarm_description="API alias: more than 1% of invocations fail (rolls a canary back)",
            threshold=1,
            evaluation_periods=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        latency_alarm = alias.metric_duration(period=Duration.minutes(1), statistic="p99").create_alarm(
            self,
            "ApiAliasLatencyP99",
            alarm_name=f"{name}-live-latency-p99",
            alarm_description=f"API alias: p99 duration above {CANARY_P99_MS} ms (rolls a canary back)",
            threshold=CANARY_P99_MS,
            evaluation_periods=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        group = codedeploy.LambdaDeploymentGroup(
            self,
            "ApiDeploymentGroup",
            alias=alias,
            deployment_config=codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES,
            alarms=[error_alarm, latency_alarm],
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
        )
        acknowledge(
            group,
            {
                f"IAM4[Policy::{CODEDEPLOY_POLICY}]": (
                    "CodeDeploy's own service role policy for Lambda deployments: it shifts the alias's weights"
                    " and reads the alarms; AWS maintains it with the service"
                )
            },
        )
        return group

    # -- schedules ---------------------------------------------------------------------------------------
    def _schedule_rules(self, config: StageConfig) -> dict[str, events.Rule]:
        """One rule ``<prefix>-schedule-<name>`` per schedule. The target receives EventBridge's scheduled
        event unchanged: its ``resources`` name the rule (so the schedule) and its ``time`` the period, which
        the scheduler turns into the job's idempotency key. Retries are safe: a period enqueues its job once."""
        rules: dict[str, events.Rule] = {}
        for schedule in aws_schedules():
            rule_name = config.name(f"schedule-{schedule.name}")
            rules[schedule.name] = events.Rule(
                self,
                f"Schedule-{schedule.name}",
                rule_name=rule_name,
                description=f"{schedule.name}: enqueue {schedule.job_kind} ({schedule.cron} UTC)",
                schedule=events.Schedule.expression(to_eventbridge_cron(schedule.cron)),
                targets=[
                    targets.LambdaFunction(
                        self.scheduler_function,
                        retry_attempts=2,
                        max_event_age=Duration.hours(1),
                        dead_letter_queue=self.schedule_dead_letter_queue,
                    )
                ],
            )
        return rules

    # -- worker ------------------------------------------------------------------------------------------
    def _worker(self, config: StageConfig) -> ecs.FargateService:
        """``investai worker`` on Fargate for jobs longer than a function may run: it pulls from the same
        queue, in the private subnets with the functions' security group and role."""
        cluster = ecs.Cluster(
            self,
            "WorkerCluster",
            cluster_name=config.name("workers"),
            vpc=self._networking.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        task = ecs.FargateTaskDefinition(
            self,
            "WorkerTask",
            family=config.name("worker"),
            cpu=config.worker_cpu,
            memory_limit_mib=config.worker_memory_mb,
            task_role=self._role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=architecture(config).ecs,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self._worker_container(task, config)
        service = ecs.FargateService(
            self,
            "WorkerService",
            service_name=config.name("worker"),
            cluster=cluster,
            task_definition=task,
            desired_count=config.worker_min_tasks,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[self._networking.lambda_security_group],
            assign_public_ip=False,
        )
        scaling = service.auto_scale_task_count(
            min_capacity=config.worker_min_tasks, max_capacity=config.worker_max_tasks
        )
        scaling.scale_on_cpu_utilization("CpuScaling", target_utilization_percent=70)
        scaling.scale_on_memory_utilization("MemoryScaling", target_utilization_percent=75)
        return service

    def _worker_container(self, task: ecs.FargateTaskDefinition, config: StageConfig) -> None:
        image = image_source(self, "WorkerImage", "deploy/Dockerfile.worker", config)
        task.add_container(
            "worker",
            image=ecs.ContainerImage.from_ecr_repository(image.repository, tag=image.tag_or_digest),
            command=["worker"],
            environment=self.function_environment,
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="worker", log_group=self._log_group("WorkerLogGroup", f"/ecs/{config.name('worker')}")
            ),
            health_check=ecs.HealthCheck(
                command=["CMD", "/opt/venv/bin/investai", "ready"],
                interval=Duration.seconds(60),
                timeout=Duration.seconds(30),
                start_period=Duration.seconds(60),
                retries=3,
            ),
            stop_timeout=WORKER_STOP_TIMEOUT,
        )
        acknowledge(
            task,
            {
                "ECS2": "The environment holds names and ARNs only (bucket, queue URL, key and secret ARNs, role ARNs);"
                " the secret itself is read from Secrets Manager at run time"
            },
        )
        acknowledge(
            task,
            {
                "IAM5[Resource::*]": "The task execution role's ecr:GetAuthorizationToken, which has no"
                " resource-level permissions"
            },
        )
