"""Keys, the application secret and the three IAM roles of one stage.

Least privilege is written against the deterministic names the other stacks give their resources
(:meth:`StageConfig.name`: tables ``<prefix>-<role>`` and their indexes, the bucket, the queues, the OpenSearch
domain, the Timestream table), so this stack references nothing in any other stack and every other stack can
depend on it without a cycle. Where AWS cannot scope an action to a resource (X-Ray, ENIs, listing user pools),
or where the resource's id is assigned at deploy time by another stack (the user pool, the log groups), the
wildcard is acknowledged on the role with that reason.

Region loss (prod, ``config.replicate_to_secondary``): the data key is a **multi-Region primary key**. The product
seals documents, profiles and MFA secrets with data keys wrapped by it (``KmsKeyManager``), so those blobs open
in the secondary region only under a related replica key; the secondary-region stack creates that replica
(``kms.CfnReplicaKey``) and gives it the same alias, ``alias/<prefix>-data``. ``MultiRegion`` cannot change after
a key is created (CloudFormation would replace the key, and data sealed under the old one would no longer open
through the alias), which is why it is set from the stage's first deployment and only where the stage
replicates. The application secret is replicated to the secondary region too (:meth:`SecurityStack._secret`).

The product assumes the two access roles itself (settings ``INVESTAI_AWS_DYNAMODB_ROLE_ARN`` and
``INVESTAI_AWS_BEDROCK_ROLE_ARN``): the execution role may only assume them, so a DynamoDB or Bedrock call made
with the function's own credentials is refused, and each access role can do one thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from aws_cdk import Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from investai.adapters.aws.resources import JOBS_QUEUE, tables
from investai_infra.config import StageConfig
from investai_infra.stacks.common import acknowledge

PARTITION = "aws"  # cdk.json targets the aws partition only
EXECUTION_ROLE_NAME = "InvestmentAI-Lambda-ExecutionRole"
BEDROCK_ROLE_NAME = "InvestmentAI-Bedrock-AccessRole"
DYNAMODB_ROLE_NAME = "InvestmentAI-DynamoDB-AccessRole"
METRICS_NAMESPACE = "InvestmentAI"  # the product's CloudWatch namespace (model cost and friends)

# Where a cross-region inference profile routes requests (AWS's documentation of the "us." system profiles of
# the configured models): the caller needs the profile and the foundation model in every destination region.
INFERENCE_PROFILE_REGIONS = {"us": ("us-east-1", "us-east-2", "us-west-2")}

DYNAMODB_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",  # TransactWriteItems' condition checks
    "dynamodb:DescribeTable",  # readiness checks
)
BEDROCK_ACTIONS = (
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
)  # Converse(Stream) authorise as these


class SecurityStack(Stack):
    """KMS keys, the application secret and the execution and access roles (see the module)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        env: Environment,
        cross_region_references: bool = False,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description=f"InvestAI {config.stage}: keys, secret and roles",
            cross_region_references=cross_region_references,
        )
        self.config = config
        removal = RemovalPolicy.RETAIN if config.removal_retain else RemovalPolicy.DESTROY
        self.data_key = kms.Key(
            self,
            "DataKey",
            alias=data_key_alias(config),  # the product's default INVESTAI_AWS_KMS_KEY_ID
            description=f"InvestAI {config.stage}: S3, SQS, DynamoDB, secrets, logs and envelope encryption",
            enable_key_rotation=True,
            pending_window=Duration.days(30),
            # a primary key whose replica (secondary-region stack) opens the same ciphertexts there; fixed at
            # creation, so only where the stage replicates (see the module)
            multi_region=config.replicate_to_secondary,
            removal_policy=removal,
        )
        for statement in service_key_statements(self.region, self.account):
            self.data_key.add_to_resource_policy(statement)
        self.profiles_key = kms.Key(
            self,
            "ProfilesKey",
            alias=f"alias/{config.name('profiles')}",
            description=f"InvestAI {config.stage}: tables holding personal data (profiles, users, MFA, audit)",
            enable_key_rotation=True,
            pending_window=Duration.days(30),
            removal_policy=removal,
        )
        self.app_secret = self._secret(config, removal)
        self.execution_role = self._execution_role(config)
        self.dynamodb_role = self._dynamodb_role(config)
        self.bedrock_role = self._bedrock_role(config)
        self.execution_role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeAccessRoles",
                actions=["sts:AssumeRole"],
                resources=[self.dynamodb_role.role_arn, self.bedrock_role.role_arn],
            )
        )

    # -- keys and secret ----------------------------------------------------------------------------------
    def _secret(self, config: StageConfig, removal: RemovalPolicy) -> secretsmanager.Secret:
        """``<prefix>/app``: the JSON document the product's SecretStore reads; ``secret_key`` (64 characters)
        is generated at creation, as ``investai aws provision`` does on an emulator."""
        secret = secretsmanager.Secret(
            self,
            "AppSecret",
            secret_name=f"{config.prefix}/app",
            description="InvestAI application secrets: secret_key (and optional provider keys such as openai_api_key)",
            encryption_key=self.data_key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({}),
                generate_string_key="secret_key",
                password_length=64,
                exclude_punctuation=True,
            ),
            # prod: a read-only replica in the secondary region, same name (<prefix>/app), kept in sync by Secrets
            # Manager. Its key is the region's AWS managed key (aws/secretsmanager): every customer-managed key
            # there is made by the secondary-region stack, which deploys AFTER this one (it needs the data key's
            # ARN), so naming one would be a reference cycle (a construct) or a key that does not exist yet on
            # the first deployment (an alias), and the replication would fail.
            replica_regions=(
                [secretsmanager.ReplicaRegion(region=config.secondary_region)]
                if config.replicate_to_secondary
                else None
            ),
            removal_policy=removal,
        )
        acknowledge(
            secret,
            {
                "SMG4": "secret_key is the root of the product's session and MFA-challenge MAC keys; a scheduled "
                "rotation would sign every user out and break challenges in flight, and the product has no rotation "
                "function. Operators rotate deliberately by putting a new version (read again within 60 s)."
            },
        )
        return secret

    # -- roles --------------------------------------------------------------------------------------------
    def _arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"

    def _execution_role(self, config: StageConfig) -> iam.Role:
        principals: list[iam.IPrincipal] = [iam.ServicePrincipal("lambda.amazonaws.com")]
        if config.fargate_worker:
            principals.append(iam.ServicePrincipal("ecs-tasks.amazonaws.com"))  # the worker runs the same code
        role = iam.Role(
            self,
            "ExecutionRole",
            role_name=EXECUTION_ROLE_NAME,
            assumed_by=iam.CompositePrincipal(*principals),
            description=f"InvestAI {config.stage}: the functions' (and worker's) own permissions",
            inline_policies={"Runtime": iam.PolicyDocument(statements=list(self._runtime_statements(config)))},
        )
        self._acknowledge_execution_wildcards(role, config)
        return role

    def _runtime_statements(self, config: StageConfig) -> Iterable[iam.PolicyStatement]:
        bucket = f"arn:{PARTITION}:s3:::{config.bucket_name}"
        yield iam.PolicyStatement(
            sid="WriteLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self._arn("logs", "log-group:*")],
        )
        yield iam.PolicyStatement(
            sid="Tracing",
            actions=[
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
            ],
            resources=["*"],
        )
        yield iam.PolicyStatement(
            sid="VpcNetworkInterfaces",
            actions=[
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            resources=["*"],
        )
        yield iam.PolicyStatement(
            sid="DataBucket",
            actions=["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning", "s3:GetBucketLocation"],
            resources=[bucket],
        )
        yield iam.PolicyStatement(
            sid="DataObjects",
            actions=[
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            resources=[f"{bucket}/*"],
        )
        queue = config.name(JOBS_QUEUE.role)
        yield iam.PolicyStatement(
            sid="JobQueues",
            actions=[
                "sqs:SendMessage",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
            ],
            resources=[self._arn("sqs", queue), self._arn("sqs", f"{queue}-dlq")],
        )
        yield iam.PolicyStatement(
            sid="Keys",
            actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:ListKeyRotations"],
            resources=[self.data_key.key_arn, self.profiles_key.key_arn],
        )
        yield iam.PolicyStatement(
            sid="AppSecret",
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            resources=[self.app_secret.secret_arn],
        )
        yield iam.PolicyStatement(sid="FindUserPool", actions=["cognito-idp:ListUserPools"], resources=["*"])
        yield iam.PolicyStatement(
            sid="UserPool",
            actions=[
                "cognito-idp:DescribeUserPool",
                "cognito-idp:ListUserPoolClients",
                "cognito-idp:ListUsers",
                "cognito-idp:AdminGetUser",
                "cognito-idp:AdminCreateUser",
                "cognito-idp:AdminDeleteUser",
                "cognito-idp:AdminDisableUser",
                "cognito-idp:AdminEnableUser",
                "cognito-idp:AdminSetUserPassword",
                "cognito-idp:AdminSetUserMFAPreference",
                "cognito-idp:AdminUserGlobalSignOut",
            ],
            resources=[self._arn("cognito-idp", "userpool/*")],
        )
        yield iam.PolicyStatement(
            sid="ProductMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
        )
        if config.search_backend == "opensearch":
            yield iam.PolicyStatement(
                sid="SearchDomain",
                actions=["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"],
                resources=[self._arn("es", f"domain/{config.name('search')}/*")],
            )
        if config.quotes_backend == "timestream":
            database = config.name("market")
            yield iam.PolicyStatement(
                sid="TimestreamEndpoints", actions=["timestream:DescribeEndpoints"], resources=["*"]
            )
            yield iam.PolicyStatement(
                sid="TimestreamQuotes",
                actions=["timestream:WriteRecords", "timestream:Select", "timestream:DescribeTable"],
                resources=[self._arn("timestream", f"database/{database}/table/quotes")],
            )

    def _acknowledge_execution_wildcards(self, role: iam.Role, config: StageConfig) -> None:
        reasons = {
            f"Resource::{self._arn('logs', 'log-group:*')}": "Only CreateLogStream/PutLogEvents, in this account and "
            "region: the compute stack creates and names the functions' log groups, and this stack references no "
            "other stack.",
            "Resource::*": "X-Ray, ENI management for VPC functions and ListUserPools support no resource-level "
            "scoping; PutMetricData is limited to the InvestmentAI namespace by condition.",
            f"Resource::arn:{PARTITION}:s3:::{config.bucket_name}/*": "Object actions on the stage's own data bucket: "
            "the product writes keys it derives at run time under its prefixes.",
            f"Resource::{self._arn('cognito-idp', 'userpool/*')}": "The user pool's id is assigned at deploy time in "
            "the api stack (the product finds it by name); the account holds this stage's pool only.",
        }
        if config.search_backend == "opensearch":
            domain = self._arn("es", f"domain/{config.name('search')}/*")
            reasons[f"Resource::{domain}"] = (
                "HTTP paths within the stage's one OpenSearch domain (indexes the product names at run time)."
            )
        acknowledge(role, {f"IAM5[{finding}]": reason for finding, reason in reasons.items()})

    def _access_role(self, construct_id: str, name: str, description: str) -> iam.Role:
        return iam.Role(
            self,
            construct_id,
            role_name=name,
            assumed_by=iam.ArnPrincipal(self.execution_role.role_arn),
            description=description,
            max_session_duration=Duration.hours(1),
        )

    def _dynamodb_role(self, config: StageConfig) -> iam.Role:
        """The stage's tables and their indexes, named one by one; the keys only through DynamoDB."""
        table_arns: list[str] = []
        for spec in tables():
            table = self._arn("dynamodb", f"table/{config.name(spec.role)}")
            table_arns.append(table)
            table_arns += [f"{table}/index/{index.name}" for index in spec.indexes]
        role = self._access_role("DynamoDbAccessRole", DYNAMODB_ROLE_NAME, "InvestAI: the stage's DynamoDB tables")
        role.add_to_policy(iam.PolicyStatement(sid="Tables", actions=list(DYNAMODB_ACTIONS), resources=table_arns))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="TableKeysThroughDynamoDb",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[self.data_key.key_arn, self.profiles_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{self.region}.amazonaws.com"}},
            )
        )
        return role

    def _bedrock_role(self, config: StageConfig) -> iam.Role:
        """Invoke the configured models only: an inference profile (``us.`` ids) in this region, the foundation
        models it routes to only when called through that profile, and plain model ids in this region."""
        profiles = [model for model in config.model_ids if _profile_geography(model)]
        direct = [model for model in config.model_ids if not _profile_geography(model)]
        role = self._access_role("BedrockAccessRole", BEDROCK_ROLE_NAME, "InvestAI: the configured Bedrock models")
        if profiles:
            profile_arns = [self._arn("bedrock", f"inference-profile/{model}") for model in profiles]
            role.add_to_policy(
                iam.PolicyStatement(sid="InferenceProfiles", actions=list(BEDROCK_ACTIONS), resources=profile_arns)
            )
            routed = [
                f"arn:{PARTITION}:bedrock:{region}::foundation-model/{model.split('.', 1)[1]}"
                for model in profiles
                for region in INFERENCE_PROFILE_REGIONS[_profile_geography(model)]
            ]
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="ModelsThroughProfiles",
                    actions=list(BEDROCK_ACTIONS),
                    resources=routed,
                    conditions={"StringLike": {"bedrock:InferenceProfileArn": profile_arns}},
                )
            )
        if direct:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="FoundationModels",
                    actions=list(BEDROCK_ACTIONS),
                    resources=[self._arn("bedrock", f"foundation-model/{model}", account="") for model in direct],
                )
            )
        return role


def data_key_alias(config: StageConfig) -> str:
    """``alias/<prefix>-data``: the data key in the primary region and its replica in the secondary region."""
    return f"alias/{config.name('data')}"


def service_key_statements(region: str, account: str) -> list[iam.PolicyStatement]:
    """Services that encrypt with the data key (or its replica) on the stage's behalf, in ``region``: CloudWatch
    Logs (the stage's encrypted log groups, by the log group encryption context) and CloudWatch alarms
    (notifications into the encrypted SNS alarm topic), both limited to this account and region."""
    logs_arns = f"arn:{PARTITION}:logs:{region}:{account}:log-group:*"
    return [
        iam.PolicyStatement(
            sid="CloudWatchLogsEncryption",
            principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_arns}},
        ),
        iam.PolicyStatement(
            sid="CloudWatchAlarmsToEncryptedTopic",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": account}},
        ),
    ]


def _profile_geography(model_id: str) -> str:
    """``us`` for ``us.anthropic...`` (a cross-region inference profile); empty for a foundation model id."""
    head, _, rest = model_id.partition(".")
    if not rest or "." not in rest:
        return ""
    if head in INFERENCE_PROFILE_REGIONS:
        return head
    if head in ("eu", "apac", "us-gov", "global"):
        raise ValueError(f"{model_id}: add the regions the {head!r} inference profile routes to")
    return ""
