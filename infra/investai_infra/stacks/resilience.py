"""Backups, the secondary region and DNS failover: how the deployment meets the seed's RTO 4 h / RPO 1 h.

The recovery objectives and what meets them (docs/DR.md has the arithmetic and the runbook):

- **RPO 1 hour.** DynamoDB point-in-time recovery (on for every table, 35 days, per second; storage stack) and
  AWS Backup continuous backup of the data bucket (35 days, per second; ``Daily`` rule below) restore to any
  second of the last 35 days in the region. Against the loss of the region (prod): S3 cross-region replication
  copies every object to the replica bucket within minutes, and the ``Hourly`` rule's recovery points of every
  tagged table and bucket are copied to the secondary region's vault as they are taken, so the newest copy
  there is normally about an hour (plus the copy's minutes) old; the rule's start window allows a late start.
- **RTO 4 hours.** In the region: a PITR restore of a table or the bucket takes minutes to an hour at these
  sizes. Region loss (prod): Route 53 notices the primary API's failed health check in about 90 s (3 checks,
  30 s apart) and answers with the secondary record (TTL 60 s); the standby stacks are deployed in
  ``config.secondary_region`` from this app against tables restored from the copied recovery points and the
  replica bucket (runbook in docs/DR.md: about 2 h 25 min of the 4 h budget; rehearse it before go-live).
- **Readable in the secondary region.** The product envelope-encrypts objects and personal data with data keys
  wrapped by the data key. In prod that key is a multi-Region primary (security stack) and this module's
  secondary-region stack holds its replica under the same alias, ``alias/<prefix>-data``, so the replica
  bucket's objects and the restored tables' sealed fields open in the secondary region with the product's
  default key setting (the alias; a primary-region key ARN is refused there, docs/DR.md). The application
  secret is replicated by Secrets Manager (security stack). Still not replicated: Cognito users (docs/DR.md,
  *Gaps*).

Why the hourly rule keeps its points one day while the seed says 35 days: the 35-day window is already covered
at one-second granularity by the two point-in-time mechanisms and by the ``Daily`` rule's 35-day points, so
35 days of hourly *full* DynamoDB snapshots (AWS Backup's DynamoDB backups are not incremental: 840 full copies
per table, and again in the secondary region) would add cost and no recovery point that is not already there.
The hourly points exist for what PITR cannot do: survive the region (copied, prod) and a deleted table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import ArnFormat, Aws, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_backup as backup
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from constructs import Construct

from investai_infra.config import StageConfig
from investai_infra.stacks.common import acknowledge
from investai_infra.stacks.security import data_key_alias, service_key_statements
from investai_infra.stacks.storage import BACKUP_TAG

if TYPE_CHECKING:
    from investai_infra.stacks.api import ApiStack

BACKUP_TAG_KEY, BACKUP_TAG_VALUE = BACKUP_TAG  # the storage stack tags the bucket and every table with it
HOURLY_RETENTION = Duration.days(1)  # see the module docstring: the 35-day window is covered by PITR and Daily
FAILOVER_TTL = Duration.seconds(60)
# Route 53's minimum of three checker regions (the default is all eight): each checker calls /health every 30 s,
# about 87,600 requests a month through WAF, API Gateway and the function, so fewer regions, fewer requests
HEALTH_CHECK_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
BACKUP_SERVICE_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Backup",
    "AWSBackupServiceRolePolicyForS3Restore",
)


def primary_vault_name(config: StageConfig) -> str:
    return config.name("backup")


def secondary_vault_name(config: StageConfig) -> str:
    """The secondary region's vault: a fixed name, so the primary's plan names it without a cross-region
    reference (the storage stack does not enable ``cross_region_references``; only the data key's ARN, which
    KMS assigns, crosses regions that way, from the security stack to the secondary-region stack)."""
    return config.name(f"backup-{config.secondary_region}")


def replica_key_alias(config: StageConfig) -> str:
    return f"alias/{config.prefix}-replica"


class SecondaryRegionStack(Stack):
    """Prod only, in ``config.secondary_region``: the replica of the data key (same alias as in the primary
    region), the S3 replication destination and the vault that receives the backup copies. Deployed after the
    security stack (the replica names its primary key's ARN) and before the storage stack (which replicates
    into the replica bucket and copies backups into the vault).

    The primary key's ARN crosses regions through CDK's ``cross_region_references``: the security stack writes
    it to an SSM parameter in this region (a small custom resource) and this stack reads it at deploy time (a
    second one, which also marks the parameter in use, so the security stack cannot change or drop the value
    while this stack imports it). The key's id (``mrk-…``) is assigned by KMS at creation, so it cannot be
    derived from names the way the vault's and the replica bucket's ARNs are.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        env: Environment,
        data_key_arn: str,
        **kwargs,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description=f"InvestAI {config.stage}: disaster-recovery copies in {config.secondary_region}",
            **kwargs,
        )
        self.config = config
        # log delivery by bucket policy, not the legacy ACL (which would force ACLs on the log bucket)
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        self.data_key_replica = self._data_key_replica(config, data_key_arn)
        self.data_key_replica_alias = kms.CfnAlias(
            self,
            "DataKeyReplicaAlias",
            alias_name=data_key_alias(config),  # the product's default key setting opens the same blobs here
            target_key_id=self.data_key_replica.ref,
        )
        self.replica_key = kms.Key(
            self,
            "ReplicaKey",
            alias=replica_key_alias(config),
            description=f"{config.prefix}: replica bucket and cross-region backup copies",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.access_logs_bucket = self._access_logs_bucket(config)
        self.replica_bucket = self._replica_bucket(config)
        self.backup_vault = backup.BackupVault(
            self,
            "BackupVault",
            backup_vault_name=secondary_vault_name(config),
            encryption_key=self.replica_key,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _data_key_replica(self, config: StageConfig, primary_key_arn: str) -> kms.CfnReplicaKey:
        """The data key's replica: same key id (``mrk-…``) and key material as the primary, so a data key the
        product wrapped in the primary region unwraps here. Rotation follows the primary's. A replica keeps
        its own key policy: the account (so IAM policies grant its use, as for the primary) and the services
        that would encrypt with it here, as the primary allows them in its region."""
        policy = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="AccountAdministersAndGrantsThroughIam",
                    principals=[iam.AccountRootPrincipal()],
                    actions=["kms:*"],
                    resources=["*"],
                ),
                *service_key_statements(self.region, self.account),
            ]
        )
        replica = kms.CfnReplicaKey(
            self,
            "DataKeyReplica",
            primary_key_arn=primary_key_arn,
            key_policy=policy,
            description=f"InvestAI {config.stage}: replica of the data key ({data_key_alias(config)} here too)",
            enabled=True,
            pending_window_in_days=30,
        )
        replica.apply_removal_policy(RemovalPolicy.RETAIN)  # it opens the replicated data: never deleted by a deploy
        return replica

    def _access_logs_bucket(self, config: StageConfig) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # S3 server access logging cannot write SSE-KMS objects
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(id="expire", expiration=Duration.days(config.log_retention_days))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        # no S1 acknowledgement: cdk-nag does not raise S1 on a bucket that another bucket in the stack logs to
        return bucket

    def _replica_bucket(self, config: StageConfig) -> s3.Bucket:
        return s3.Bucket(
            self,
            "ReplicaBucket",
            bucket_name=config.replica_bucket_name(),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.replica_key,
            bucket_key_enabled=True,
            versioned=True,  # replication needs it at both ends; versions are the product's object history
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="replica/",
            # no archive tier: a disaster-recovery copy must be readable within the RTO (a Glacier restore
            # takes 3 to 5 hours); older versions go to infrequent access, where they are rarely read
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="noncurrent-to-ia",
                    noncurrent_version_transitions=[
                        s3.NoncurrentVersionTransition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=Duration.days(30)
                        )
                    ],
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )


class BackupAndRecovery(Construct):
    """AWS Backup for the stage's tagged tables and bucket (a construct in the storage stack).

    One vault (the data key), one plan with two rules, one selection by the tag ``investai:backup=daily``:

    - ``Hourly``: a snapshot every hour, kept one day; in prod copied to the secondary region's vault (kept one
      day there too): the region-loss recovery point that bounds the RPO at an hour.
    - ``Daily`` (05:00 UTC): continuous backup for the resources that support it (S3: restore to any second of
      the last 35 days) and a daily snapshot of the others (DynamoDB), kept 35 days; in prod copied to the
      secondary vault, kept 35 days.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=primary_vault_name(config),
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,  # a vault holding recovery points cannot be deleted anyway
        )
        self.plan = backup.BackupPlan(self, "Plan", backup_plan_name=config.name("backup"), backup_vault=self.vault)
        secondary = self._secondary_vault() if config.replicate_to_secondary else None
        self.plan.add_rule(self._hourly_rule(secondary))
        self.plan.add_rule(self._daily_rule(secondary))
        self.role = self._role()
        self.selection = self._selection()

    def _secondary_vault(self) -> backup.IBackupVault:
        arn = Stack.of(self).format_arn(
            service="backup",
            region=self.config.secondary_region,
            resource="backup-vault",
            resource_name=secondary_vault_name(self.config),
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        return backup.BackupVault.from_backup_vault_arn(self, "SecondaryVault", arn)

    def _hourly_rule(self, secondary: backup.IBackupVault | None) -> backup.BackupPlanRule:
        copies = [backup.BackupPlanCopyActionProps(destination_backup_vault=secondary, delete_after=HOURLY_RETENTION)]
        return backup.BackupPlanRule(
            rule_name="Hourly",
            schedule_expression=events.Schedule.cron(minute="0", hour="*", day="*", month="*", year="*"),
            start_window=Duration.hours(1),
            completion_window=Duration.hours(2),
            delete_after=HOURLY_RETENTION,
            copy_actions=copies if secondary is not None else None,
        )

    def _daily_rule(self, secondary: backup.IBackupVault | None) -> backup.BackupPlanRule:
        retention = Duration.days(self.config.backup_retention_days)
        copies = [backup.BackupPlanCopyActionProps(destination_backup_vault=secondary, delete_after=retention)]
        return backup.BackupPlanRule(
            rule_name="Daily",
            schedule_expression=events.Schedule.cron(minute="0", hour="5", day="*", month="*", year="*"),
            start_window=Duration.hours(1),
            completion_window=Duration.hours(8),
            delete_after=retention,
            enable_continuous_backup=True,
            copy_actions=copies if secondary is not None else None,
        )

    def _role(self) -> iam.Role:
        """The role AWS Backup assumes: AWS's own service policies for backup and restore, S3 included."""
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            description=f"{self.config.prefix}: AWS Backup jobs of the tagged tables and bucket",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(name) for name in BACKUP_SERVICE_POLICIES],
        )
        reason = (
            "AWS Backup's own service-role policy, the documented way to grant it backup and restore access; AWS "
            "keeps it current as the service adds resource types, and the selection limits the plan to this "
            "stage's tagged tables and bucket."
        )
        acknowledge(
            role,
            {f"IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]": reason for name in BACKUP_SERVICE_POLICIES},
        )
        return role

    def _selection(self) -> backup.CfnBackupSelection:
        """Explicit resource types (so AWS Backup's per-service opt-in settings do not silently drop one) AND
        the tag: this stage's tagged DynamoDB tables and buckets, nothing else."""
        stack = Stack.of(self)
        tables = stack.format_arn(service="dynamodb", resource="table", resource_name=f"{self.config.prefix}-*")
        buckets = f"arn:{Aws.PARTITION}:s3:::{self.config.prefix}-*"
        return backup.CfnBackupSelection(
            self,
            "Selection",
            backup_plan_id=self.plan.backup_plan_id,
            backup_selection=backup.CfnBackupSelection.BackupSelectionResourceTypeProperty(
                selection_name=self.config.name("tagged"),
                iam_role_arn=self.role.role_arn,
                resources=[tables, buckets],
                conditions={
                    "StringEquals": [
                        {"ConditionKey": f"aws:ResourceTag/{BACKUP_TAG_KEY}", "ConditionValue": BACKUP_TAG_VALUE}
                    ]
                },
            ),
        )


class ApiFailover(Construct):
    """Route 53 failover for the prod API (a construct in the api stack, when the domain is configured).

    A health check probes the primary API's ``/health`` every 30 s; after 3 failures (about 90 s) Route 53
    answers ``config.domain_name`` with the SECONDARY record, ``config.secondary_domain_name`` (the standby API
    in the secondary region, see docs/DR.md), and returns to PRIMARY when the check passes again. RTO: DNS
    switches within about 2.5 minutes (90 s + the 60 s TTL); the rest of the 4 h budget is the standby's
    deployment and data restore. RPO: set by the data copies (module docstring), not by DNS.

    The check targets the primary's regional ``execute-api`` endpoint, not ``https://<domain_name>/health``: a
    check on the failover name itself would follow the failover to the secondary and report the primary
    healthy again. The records are CNAMEs because the secondary name need not exist until the standby is
    deployed (an alias must point at an existing record); CNAMEs are fine on a subdomain like ``api.``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, api: ApiStack) -> None:
        super().__init__(scope, construct_id)
        if not (config.domain_name and config.secondary_domain_name and config.hosted_zone_id):
            raise ValueError("ApiFailover needs domain_name, secondary_domain_name and hosted_zone_id")
        rest_api: apigateway.RestApi = api.rest_api
        custom_domain = getattr(api, "custom_domain", None) or rest_api.domain_name
        if custom_domain is None:
            raise ValueError("ApiFailover needs the api stack's custom domain (config.domain_name) on rest_api")
        _require_execute_api_endpoint(rest_api)
        zone = route53.HostedZone.from_hosted_zone_attributes(
            self,
            "Zone",
            hosted_zone_id=config.hosted_zone_id,
            zone_name=config.hosted_zone_name or config.domain_name.split(".", 1)[1],
        )
        self.health_check = route53.HealthCheck(
            self,
            "PrimaryHealth",
            type=route53.HealthCheckType.HTTPS,
            fqdn=f"{rest_api.rest_api_id}.execute-api.{Stack.of(self).region}.{Aws.URL_SUFFIX}",
            resource_path=f"/{rest_api.deployment_stage.stage_name}/health",
            port=443,
            request_interval=Duration.seconds(30),
            failure_threshold=3,
            regions=list(HEALTH_CHECK_REGIONS),
        )
        self.primary = route53.CnameRecord(
            self,
            "Primary",
            zone=zone,
            record_name=config.domain_name,
            domain_name=custom_domain.domain_name_alias_domain_name,
            failover=route53.Failover.PRIMARY,
            set_identifier="primary",
            health_check=self.health_check,
            ttl=FAILOVER_TTL,
        )
        self.secondary = route53.CnameRecord(
            self,
            "Secondary",
            zone=zone,
            record_name=config.domain_name,
            domain_name=config.secondary_domain_name,
            failover=route53.Failover.SECONDARY,
            set_identifier="secondary",
            ttl=FAILOVER_TTL,
        )


def _require_execute_api_endpoint(rest_api: apigateway.RestApi) -> None:
    """The health check calls the default ``execute-api`` endpoint: refuse a configuration that disables it."""
    cfn = rest_api.node.default_child
    if isinstance(cfn, apigateway.CfnRestApi) and cfn.disable_execute_api_endpoint is True:
        raise ValueError(
            "ApiFailover's health check calls the primary's execute-api endpoint; it is disabled on the rest API"
        )
