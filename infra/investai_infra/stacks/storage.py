"""Where the stage's data lives: the data bucket (and its access-log bucket), the DynamoDB tables of
:func:`investai.adapters.aws.resources.tables`, the OpenSearch domain and, optionally, Timestream.

Every definition the product also provisions itself (table keys and indexes, TTL attributes, which tables hold
personal data, the bucket's lifecycle rules) is read from :mod:`investai.adapters.aws.resources`, so the CDK app
and ``investai aws provision`` cannot drift apart. Data outlives the stack: tables, buckets, the domain and log
groups are retained on deletion, tables are deletion-protected, and the bucket and tables carry the tag the AWS
Backup plan selects by (``investai:backup=daily``).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Environment, RemovalPolicy, Stack, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchservice as opensearch
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_timestream as timestream
from constructs import Construct

from investai.adapters.aws.resources import BUCKET, Key, TableSpec, tables
from investai_infra.config import StageConfig
from investai_infra.stacks.common import acknowledge, log_retention
from investai_infra.stacks.networking import NetworkingStack
from investai_infra.stacks.security import PARTITION, SecurityStack

S3_LOGS_BY_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"
BACKUP_TAG = ("investai:backup", "daily")  # what the AWS Backup plan's selection matches
_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_STORAGE_CLASSES = {
    "STANDARD_IA": s3.StorageClass.INFREQUENT_ACCESS,
    "GLACIER": s3.StorageClass.GLACIER,
    "INTELLIGENT_TIERING": s3.StorageClass.INTELLIGENT_TIERING,
}
_RULE_KEYS = {
    "ID",
    "Status",
    "Filter",
    "Transitions",
    "NoncurrentVersionTransitions",
    "NoncurrentVersionExpiration",
    "Expiration",
    "AbortIncompleteMultipartUpload",
}
TIMESTREAM_TABLE = "quotes"  # the product's default INVESTAI_TIMESTREAM_TABLE
TIMESTREAM_MEMORY_HOURS = 24
TIMESTREAM_MAGNETIC_DAYS = 7
REPLICATION_MINUTES = 15  # S3 Replication Time Control's guarantee: well inside the seed's 1 h RPO


class StorageStack(Stack):
    """Bucket, tables, search domain and time-series store of one stage (see the module)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        networking: NetworkingStack,
        security: SecurityStack,
        env: Environment,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=f"InvestAI {config.stage}: data stores")
        # Server access logs are granted to the logging service by bucket policy, not by the legacy ACL
        # (LogDeliveryWrite), which AWS and cfn-lint (W3045) advise against. Set before any child exists.
        self.node.set_context(S3_LOGS_BY_POLICY, True)
        self.config = config
        self._removal = RemovalPolicy.RETAIN if config.removal_retain else RemovalPolicy.DESTROY
        self.access_logs_bucket = self._access_logs_bucket(config)
        self.bucket = self._data_bucket(config, security)
        self.replication_role: iam.Role | None = None  # prod: S3's role for replication to the secondary region
        if config.replicate_to_secondary:
            self._replicate(config, security)
        self.tables: dict[str, dynamodb.TableV2] = {spec.role: self._table(spec, security) for spec in tables()}
        self.opensearch_domain = (
            self._search_domain(config, networking, security) if config.search_backend == "opensearch" else None
        )
        self.timestream_table = self._timestream(config, security) if config.quotes_backend == "timestream" else None
        for resource in (self.bucket, *self.tables.values()):
            Tags.of(resource).add(*BACKUP_TAG)

    # -- buckets ------------------------------------------------------------------------------------------
    def _access_logs_bucket(self, config: StageConfig) -> s3.Bucket:
        """Server access logs of the stage's buckets and the CloudFront logs of the static site. SSE-S3, since
        S3 log delivery cannot write to an SSE-KMS bucket; ACLs stay possible (BucketOwnerPreferred) because
        CloudFront's standard logs are delivered by ACL."""
        bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            bucket_name=f"{config.prefix}-access-logs-{config.account}-{config.region}",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            enforce_ssl=True,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs",
                    expiration=Duration.days(max(config.log_retention_days, 90)),
                    abort_incomplete_multipart_upload_after=Duration.days(BUCKET.abort_incomplete_upload_days),
                )
            ],
            removal_policy=self._removal,
        )
        return bucket  # itself unlogged (it would log its own deliveries); cdk-nag's S1 exempts log targets

    def _data_bucket(self, config: StageConfig, security: SecurityStack) -> s3.Bucket:
        """The data bucket, with Amazon EventBridge notifications on: AWS Backup's continuous backup of S3 needs
        them (it turns them on itself when the first backup runs), and declaring them keeps a later stack update
        from switching them off. Declared on the CloudFormation bucket (``EventBridgeConfiguration``), not with
        ``s3.Bucket(event_bridge_enabled=True)``: the L2 property is implemented by CDK's notifications custom
        resource, a Lambda function with its own role, for what CloudFormation sets natively."""
        bucket = s3.Bucket(
            self,
            "DataBucket",
            bucket_name=config.bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=security.data_key,
            bucket_key_enabled=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=f"{config.bucket_name}/",
            lifecycle_rules=list(self._lifecycle_rules(config)),
            removal_policy=self._removal,
        )
        cfn: s3.CfnBucket = bucket.node.default_child  # type: ignore[assignment]
        cfn.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
        )
        return bucket

    def _lifecycle_rules(self, config: StageConfig) -> list[s3.LifecycleRule]:
        """The product's rules (:meth:`BucketSpec.lifecycle_configuration`): uploaded documents go Standard →
        Standard-IA at 30 days → Glacier at 90 where the stage tiers (the seed: staging and prod), and the
        versions that rewrites of derived data leave behind expire in every stage. Where the stage stores in
        Intelligent-Tiering (prod), bar history moves there at once: its access follows the symbols users look at,
        and Intelligent-Tiering has no retrieval fee or restore, unlike the documents' archive tier."""
        rules = []
        for rule in BUCKET.lifecycle_configuration()["Rules"]:
            if rule.get("Transitions") and not config.s3_lifecycle_rules:
                continue
            rules.append(_lifecycle_rule(rule))
        if config.s3_storage == "intelligent-tiering":
            rules.append(
                s3.LifecycleRule(
                    id="intelligent-tiering-market",
                    prefix="market/",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING, transition_after=Duration.days(0)
                        )
                    ],
                )
            )
        return rules

    def _replicate(self, config: StageConfig, security: SecurityStack) -> None:
        """Every object, version and delete marker to the replica bucket in the secondary region (created by the
        secondary-region stack, which deploys first), re-encrypted there with the replica key by its alias, with
        Replication Time Control (15 minutes) so the seed's one-hour RPO holds for the data bucket too."""
        replica = f"arn:{PARTITION}:s3:::{config.replica_bucket_name()}"
        replica_alias = f"alias/{config.prefix}-replica"
        replica_key = f"arn:{PARTITION}:kms:{config.secondary_region}:{config.account}:{replica_alias}"
        role = iam.Role(
            self,
            "ReplicationRole",
            assumed_by=iam.ServicePrincipal("s3.amazonaws.com"),
            description="S3 replication of the data bucket to the secondary region",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadSourceConfiguration",
                actions=["s3:GetReplicationConfiguration", "s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadSourceVersions",
                actions=["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
                resources=[self.bucket.arn_for_objects("*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteReplicas",
                actions=["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                resources=[f"{replica}/*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DecryptSource",
                actions=["kms:Decrypt"],
                resources=[security.data_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EncryptReplicas",
                actions=["kms:Encrypt", "kms:GenerateDataKey"],
                resources=[f"arn:{PARTITION}:kms:{config.secondary_region}:{config.account}:key/*"],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{config.secondary_region}.amazonaws.com"},
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": replica_alias},
                },
            )
        )
        cfn: s3.CfnBucket = self.bucket.node.default_child  # type: ignore[assignment]
        cfn.replication_configuration = s3.CfnBucket.ReplicationConfigurationProperty(
            role=role.role_arn,
            rules=[
                s3.CfnBucket.ReplicationRuleProperty(
                    id="to-secondary-region",
                    status="Enabled",
                    priority=1,
                    filter=s3.CfnBucket.ReplicationRuleFilterProperty(prefix=""),
                    delete_marker_replication=s3.CfnBucket.DeleteMarkerReplicationProperty(status="Enabled"),
                    source_selection_criteria=s3.CfnBucket.SourceSelectionCriteriaProperty(
                        sse_kms_encrypted_objects=s3.CfnBucket.SseKmsEncryptedObjectsProperty(status="Enabled")
                    ),
                    destination=s3.CfnBucket.ReplicationDestinationProperty(
                        bucket=replica,
                        encryption_configuration=s3.CfnBucket.EncryptionConfigurationProperty(
                            replica_kms_key_id=replica_key
                        ),
                        replication_time=s3.CfnBucket.ReplicationTimeProperty(
                            status="Enabled",
                            time=s3.CfnBucket.ReplicationTimeValueProperty(minutes=REPLICATION_MINUTES),
                        ),
                        metrics=s3.CfnBucket.MetricsProperty(
                            status="Enabled",
                            event_threshold=s3.CfnBucket.ReplicationTimeValueProperty(minutes=REPLICATION_MINUTES),
                        ),
                    ),
                )
            ],
        )
        self.replication_role = role
        bucket_id = self.resolve(self.bucket.node.default_child.logical_id)  # type: ignore[union-attr]
        acknowledge(
            role,
            {
                f"IAM5[Resource::<{bucket_id}.Arn>/*]": "Replication reads every object version of the data bucket: "
                "the whole bucket is replicated.",
                f"IAM5[Resource::{replica}/*]": "Replication writes every object into the stage's own replica bucket.",
                f"IAM5[Resource::arn:{PARTITION}:kms:{config.secondary_region}:{config.account}:key/*]": "The "
                "replica key lives in the secondary region's stack, so its id is unknown here; the conditions limit "
                f"this to the key aliased {replica_alias}, used through S3.",
            },
        )

    # -- tables -------------------------------------------------------------------------------------------
    def _table(self, spec: TableSpec, security: SecurityStack) -> dynamodb.TableV2:
        """A table as the product defines it: on demand, PITR (35 days), deletion protection, retained; the
        personal-data key for tables marked ``customer_managed_key``, the data key for the others."""
        key = security.profiles_key if spec.customer_managed_key else security.data_key
        return dynamodb.TableV2(
            self,
            f"Table-{spec.role}",
            table_name=self.config.name(spec.role),
            partition_key=_attribute(spec.partition),
            sort_key=_attribute(spec.sort) if spec.sort else None,
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=index.name,
                    partition_key=_attribute(index.partition),
                    sort_key=_attribute(index.sort) if index.sort else None,
                    projection_type=dynamodb.ProjectionType.ALL,
                )
                for index in spec.indexes
            ]
            or None,
            time_to_live_attribute=spec.ttl_attribute,
            billing=dynamodb.Billing.on_demand(),
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True, recovery_period_in_days=self.config.pitr_days
            ),
            deletion_protection=True,
            removal_policy=self._removal,
        )

    # -- search -------------------------------------------------------------------------------------------
    def _search_domain(
        self, config: StageConfig, networking: NetworkingStack, security: SecurityStack
    ) -> opensearch.Domain:
        """The knowledge base's OpenSearch domain, in the isolated subnets: encrypted at rest (data key) and
        between nodes, HTTPS with TLS 1.2 and forward secrecy, fine-grained access control with the execution
        role as master user, zone awareness over as many zones as it has data nodes (at most three) where the
        stage is multi-AZ, and dedicated masters where the stage has them; slow, application and audit logs to
        encrypted log groups."""
        zones = min(config.opensearch_data_nodes, len(config.availability_zones)) if config.opensearch_multi_az else 1
        name = config.name("search")
        log_groups = self._search_log_groups(config, security, name)
        domain = opensearch.Domain(
            self,
            "SearchDomain",
            domain_name=name,
            version=opensearch.EngineVersion.OPENSEARCH_2_17,
            capacity=opensearch.CapacityConfig(
                data_node_instance_type=config.opensearch_instance_type,
                data_nodes=config.opensearch_data_nodes,
                master_nodes=config.opensearch_master_nodes or None,
                master_node_instance_type=config.opensearch_instance_type if config.opensearch_master_nodes else None,
                multi_az_with_standby_enabled=False,
            ),
            ebs=opensearch.EbsOptions(volume_size=config.opensearch_volume_gb, volume_type=ec2.EbsDeviceVolumeType.GP3),
            zone_awareness=opensearch.ZoneAwarenessConfig(
                enabled=zones > 1, availability_zone_count=zones if zones > 1 else None
            ),
            vpc=networking.vpc,
            vpc_subnets=[
                ec2.SubnetSelection(
                    subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
                    availability_zones=list(config.availability_zones[:zones]),
                )
            ],
            security_groups=[networking.opensearch_security_group],
            encryption_at_rest=opensearch.EncryptionAtRestOptions(enabled=True, kms_key=security.data_key),
            node_to_node_encryption=True,
            enforce_https=True,
            tls_security_policy=opensearch.TLSSecurityPolicy.TLS_1_2_PFS,
            fine_grained_access_control=opensearch.AdvancedSecurityOptions(
                master_user_arn=security.execution_role.role_arn
            ),
            logging=opensearch.LoggingOptions(
                slow_search_log_enabled=True,
                slow_search_log_group=log_groups["slow-search"],
                slow_index_log_enabled=True,
                slow_index_log_group=log_groups["slow-index"],
                app_log_enabled=True,
                app_log_group=log_groups["application"],
                audit_log_enabled=True,
                audit_log_group=log_groups["audit"],
            ),
            suppress_logs_resource_policy=True,  # written below without CDK's custom-resource Lambda
            enable_auto_software_update=True,
            off_peak_window_enabled=True,
            removal_policy=self._removal,
        )
        cfn: opensearch.CfnDomain = domain.node.default_child  # type: ignore[assignment]
        cfn.access_policies = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": security.execution_role.role_arn},
                    "Action": "es:ESHttp*",
                    "Resource": f"arn:{PARTITION}:es:{config.region}:{config.account}:domain/{name}/*",
                }
            ],
        }
        self._acknowledge_search(domain, config)
        return domain

    def _search_log_groups(self, config: StageConfig, security: SecurityStack, domain: str) -> dict[str, logs.LogGroup]:
        groups = {
            kind: logs.LogGroup(
                self,
                f"SearchLogs-{kind}",
                log_group_name=f"/investai/{config.stage}/opensearch/{kind}",
                retention=log_retention(config.log_retention_days),
                encryption_key=security.data_key,
                removal_policy=self._removal,
            )
            for kind in ("slow-search", "slow-index", "application", "audit")
        }
        logs.ResourcePolicy(
            self,
            "SearchLogsPolicy",
            resource_policy_name=f"{config.prefix}-opensearch-logs",
            policy_statements=[
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("es.amazonaws.com")],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[group.log_group_arn for group in groups.values()],
                    conditions={
                        "StringEquals": {"aws:SourceAccount": config.account},
                        "ArnLike": {
                            "aws:SourceArn": f"arn:{PARTITION}:es:{config.region}:{config.account}:domain/{domain}"
                        },
                    },
                )
            ],
        )
        return groups

    def _acknowledge_search(self, domain: opensearch.Domain, config: StageConfig) -> None:
        findings = {
            "OS3": "A VPC-only domain (no public endpoint), reachable on 443 from the functions' security group "
            "alone; OpenSearch does not support IP-based access policies for VPC domains, so the access policy "
            "names the execution role and fine-grained access control authorises each request."
        }
        if not config.opensearch_master_nodes:
            findings["OS4"] = (
                f"{config.stage} runs {config.opensearch_data_nodes} data node(s) of a small index; dedicated "
                "masters (prod has three) would cost more than the data nodes for no gain at this size."
            )
        if not config.opensearch_multi_az:
            findings["OS7"] = (
                f"{config.stage} is a single-zone environment by the seed (one AZ); the index is rebuilt from the "
                "data bucket if the zone is lost."
            )
        acknowledge(domain, findings)

    # -- time series --------------------------------------------------------------------------------------
    def _timestream(self, config: StageConfig, security: SecurityStack) -> timestream.CfnTable:
        """Timestream for LiveAnalytics when the stage chooses it for quotes (memory store 24 h, magnetic 7
        days, magnetic-store writes on for late quotes), as ``ensure_timestream`` creates it; in maintenance mode
        since 2025-06-20, hence not the default."""
        database = timestream.CfnDatabase(
            self, "QuotesDatabase", database_name=config.name("market"), kms_key_id=security.data_key.key_arn
        )
        table = timestream.CfnTable(
            self,
            "QuotesTable",
            database_name=config.name("market"),
            table_name=TIMESTREAM_TABLE,
            retention_properties={
                "MemoryStoreRetentionPeriodInHours": str(TIMESTREAM_MEMORY_HOURS),
                "MagneticStoreRetentionPeriodInDays": str(TIMESTREAM_MAGNETIC_DAYS),
            },
            magnetic_store_write_properties={"EnableMagneticStoreWrites": True},
        )
        table.add_dependency(database)
        for resource in (database, table):
            resource.apply_removal_policy(self._removal)
        return table


def _attribute(key: Key) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


def _lifecycle_rule(rule: dict[str, Any]) -> s3.LifecycleRule:
    """One rule of the product's ``LifecycleConfiguration`` as CDK's; an action the product adds that this
    does not translate fails the synth rather than vanish."""
    unknown = set(rule) - _RULE_KEYS
    if unknown:
        raise ValueError(f"lifecycle rule {rule['ID']}: translate {sorted(unknown)} in storage.py")
    noncurrent_expiry = rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
    abort_days = rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation")
    return s3.LifecycleRule(
        id=rule["ID"],
        enabled=rule["Status"] == "Enabled",
        prefix=rule["Filter"]["Prefix"],
        transitions=[
            s3.Transition(
                storage_class=_STORAGE_CLASSES[step["StorageClass"]], transition_after=Duration.days(step["Days"])
            )
            for step in rule.get("Transitions", [])
        ]
        or None,
        noncurrent_version_transitions=[
            s3.NoncurrentVersionTransition(
                storage_class=_STORAGE_CLASSES[step["StorageClass"]],
                transition_after=Duration.days(step["NoncurrentDays"]),
            )
            for step in rule.get("NoncurrentVersionTransitions", [])
        ]
        or None,
        noncurrent_version_expiration=Duration.days(noncurrent_expiry) if noncurrent_expiry else None,
        expired_object_delete_marker=rule.get("Expiration", {}).get("ExpiredObjectDeleteMarker"),
        abort_incomplete_multipart_upload_after=Duration.days(abort_days) if abort_days else None,
    )
