"""Backups, the secondary region and DNS failover per stage: the backup plan (rules, 35-day retention, selection
by tag, copies to the secondary vault in prod), the us-west-2 stack in prod only, Route 53 failover in prod.
A few checks cross the stacks' boundaries: the storage stack's tables carry the tag the selection asks for, and
its replication names the bucket the secondary stack creates."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match, Template

STAGES = ("dev", "staging", "prod")
PREFIX = {stage: f"investai-{stage}" for stage in STAGES}
ACCOUNT = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
SECONDARY_VAULT = ":backup:us-west-2:333333333333:backup-vault:investai-prod-backup-us-west-2"


@pytest.fixture(scope="module")
def storage(synthesised) -> dict[str, Template]:
    return {stage: synthesised.template(stage, "storage") for stage in STAGES}


@pytest.fixture(scope="module")
def secondary(synthesised) -> Template:
    return synthesised.template("prod", "secondary")


def _plan_rules(template: Template) -> dict[str, dict]:
    (plan,) = template.find_resources("AWS::Backup::BackupPlan").values()
    return {rule["RuleName"]: rule for rule in plan["Properties"]["BackupPlan"]["BackupPlanRule"]}


def _copy_target(rule: dict) -> str:
    (copy,) = rule["CopyActions"]
    return json.dumps(copy["DestinationBackupVaultArn"])


@pytest.mark.parametrize("stage", STAGES)
def test_vault_encrypted_and_retained(storage, stage):
    storage[stage].has_resource(
        "AWS::Backup::BackupVault",
        {
            "Properties": Match.object_like(
                {"BackupVaultName": f"{PREFIX[stage]}-backup", "EncryptionKeyArn": Match.any_value()}
            ),
            "DeletionPolicy": "Retain",
        },
    )


@pytest.mark.parametrize("stage", STAGES)
def test_plan_rules_and_retention(storage, stage):
    rules = _plan_rules(storage[stage])
    assert set(rules) == {"Hourly", "Daily"}
    hourly, daily = rules["Hourly"], rules["Daily"]
    assert hourly["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert hourly["Lifecycle"] == {"DeleteAfterDays": 1}
    assert daily["ScheduleExpression"] == "cron(0 5 * * ? *)"
    assert daily["Lifecycle"] == {"DeleteAfterDays": 35}  # the seed's 35 days
    assert daily["EnableContinuousBackup"] is True  # S3 point-in-time restore over the same 35 days
    assert "EnableContinuousBackup" not in hourly


@pytest.mark.parametrize("stage", STAGES)
def test_copies_to_the_secondary_vault_in_prod_only(storage, stage):
    rules = _plan_rules(storage[stage])
    if stage != "prod":
        assert all("CopyActions" not in rule for rule in rules.values())
        return
    for name, days in (("Hourly", 1), ("Daily", 35)):
        assert SECONDARY_VAULT in _copy_target(rules[name])
        assert rules[name]["CopyActions"][0]["Lifecycle"] == {"DeleteAfterDays": days}


@pytest.mark.parametrize("stage", STAGES)
def test_selection_by_tag_over_the_stage_tables_and_buckets(storage, stage):
    (selection,) = storage[stage].find_resources("AWS::Backup::BackupSelection").values()
    body = selection["Properties"]["BackupSelection"]
    assert body["Conditions"] == {
        "StringEquals": [{"ConditionKey": "aws:ResourceTag/investai:backup", "ConditionValue": "daily"}]
    }
    patterns = json.dumps(body["Resources"])
    assert f":dynamodb:us-east-1:{ACCOUNT[stage]}:table/{PREFIX[stage]}-*" in patterns
    assert f":s3:::{PREFIX[stage]}-*" in patterns
    assert "ListOfTags" not in body  # tags OR'd with resources would widen the selection


@pytest.mark.parametrize("stage", STAGES)
def test_backup_role_has_the_service_policies(storage, stage):
    roles = storage[stage].find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [Match.object_like({"Principal": {"Service": "backup.amazonaws.com"}})]
                }
            }
        },
    )
    (role,) = roles.values()
    policies = json.dumps(role["Properties"]["ManagedPolicyArns"])
    for name in (
        "AWSBackupServiceRolePolicyForBackup",
        "AWSBackupServiceRolePolicyForRestores",
        "ForS3Backup",
        "ForS3Restore",
    ):
        assert name in policies


@pytest.mark.parametrize("stage", STAGES)
def test_the_selection_finds_the_storage_stack_tables(storage, stage):
    """The contract between the stacks: every table is named <prefix>-<role> and tagged investai:backup=daily."""
    tables = storage[stage].find_resources("AWS::DynamoDB::GlobalTable") or storage[stage].find_resources(
        "AWS::DynamoDB::Table"
    )
    assert tables
    for table in tables.values():
        properties = table["Properties"]
        assert properties["TableName"].startswith(f"{PREFIX[stage]}-")
        tags = properties.get("Tags") or [
            tag for replica in properties.get("Replicas", []) for tag in replica.get("Tags", [])
        ]
        assert {"Key": "investai:backup", "Value": "daily"} in tags, properties["TableName"]


def test_secondary_stack_in_us_west_2_for_prod_only(synthesised):
    assert synthesised.stages["dev"].secondary is None
    assert synthesised.stages["staging"].secondary is None
    stack = synthesised.stages["prod"].secondary
    assert (stack.region, stack.account) == ("us-west-2", "333333333333")


def test_prod_secondary_replicates_the_data_key_under_the_products_alias(synthesised, secondary):
    """The replica of prod's multi-Region data key, retained, with alias/<prefix>-data in us-west-2, so the
    product pointed at us-west-2 unwraps the data keys sealed in us-east-1 with its default key setting."""
    (replica_id, replica) = next(iter(secondary.find_resources("AWS::KMS::ReplicaKey").items()))
    assert len(secondary.find_resources("AWS::KMS::ReplicaKey")) == 1
    assert replica["DeletionPolicy"] == "Retain"
    assert replica["UpdateReplacePolicy"] == "Retain"
    properties = replica["Properties"]
    assert properties["Enabled"] is True
    assert properties["PendingWindowInDays"] == 30
    statements = {statement.get("Sid"): statement for statement in properties["KeyPolicy"]["Statement"]}
    assert statements["AccountAdministersAndGrantsThroughIam"]["Action"] == "kms:*"
    assert statements["CloudWatchLogsEncryption"]["Principal"] == {"Service": "logs.us-west-2.amazonaws.com"}
    assert statements["CloudWatchLogsEncryption"]["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-west-2:333333333333:log-group:*"}
    }
    secondary.has_resource_properties(
        "AWS::KMS::Alias", {"AliasName": "alias/investai-prod-data", "TargetKeyId": {"Ref": replica_id}}
    )
    # the primary key's ARN, read from the parameter the security stack's export writer fills with it
    reader, parameter = properties["PrimaryKeyArn"]["Fn::GetAtt"]
    assert secondary.find_resources("Custom::CrossRegionExportReader")[reader]
    security = synthesised.stages["prod"].security
    data_key = security.resolve(security.data_key.node.default_child.logical_id)
    (writer,) = [
        body
        for body in synthesised.template_json("prod", "security")["Resources"].values()
        if body["Type"] == "Custom::CrossRegionExportWriter"
    ]
    assert writer["Properties"]["WriterProps"]["exports"][parameter] == {"Fn::GetAtt": [data_key, "Arn"]}


@pytest.mark.parametrize("stage", ["dev", "staging"])
def test_no_replica_key_outside_prod(synthesised, stage):
    for stack in synthesised.stages[stage].all():
        assert not Template.from_stack(stack).find_resources("AWS::KMS::ReplicaKey"), stack.stack_name


def test_prod_deploys_security_then_secondary_then_storage(synthesised):
    """The replica needs the primary key (security first); replication and backup copies need the replica
    bucket and vault (secondary before storage)."""
    prod = synthesised.stages["prod"]
    assert prod.security in prod.secondary.dependencies
    assert prod.secondary in prod.storage.dependencies
    assert prod.storage not in prod.secondary.dependencies
    assert prod.secondary not in prod.security.dependencies


@pytest.mark.parametrize("stage", STAGES)
def test_data_bucket_sends_eventbridge_notifications(synthesised, storage, stage):
    """AWS Backup's continuous backup of S3 relies on them; declared natively, not by CDK's notifications
    custom resource (no Lambda function in the storage stack for it)."""
    stack = synthesised.stages[stage].storage
    bucket_id = stack.resolve(stack.bucket.node.default_child.logical_id)
    bucket = storage[stage].find_resources("AWS::S3::Bucket")[bucket_id]
    assert bucket["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert not storage[stage].find_resources("Custom::S3BucketNotifications")


def test_replica_bucket_versioned_encrypted_private_ssl_only(secondary):
    secondary.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    secondary.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/investai-prod-replica"})
    secondary.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "BucketName": "investai-prod-data-333333333333-us-west-2",
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            Match.object_like(
                                {
                                    "BucketKeyEnabled": True,
                                    "ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"}),
                                }
                            )
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "LoggingConfiguration": Match.object_like({"LogFilePrefix": "replica/"}),
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
    policies = json.dumps(secondary.find_resources("AWS::S3::BucketPolicy"))
    assert '"aws:SecureTransport": "false"' in policies


def test_secondary_vault_receives_the_copies(secondary):
    secondary.has_resource_properties(
        "AWS::Backup::BackupVault",
        {
            "BackupVaultName": "investai-prod-backup-us-west-2",
            "EncryptionKeyArn": {"Fn::GetAtt": [Match.string_like_regexp("^ReplicaKey"), "Arn"]},
        },
    )


def test_storage_replicates_into_the_replica_bucket(storage):
    (bucket,) = [
        b
        for b in storage["prod"].find_resources("AWS::S3::Bucket").values()
        if "ReplicationConfiguration" in b["Properties"]
    ]
    rules = json.dumps(bucket["Properties"]["ReplicationConfiguration"])
    assert "investai-prod-data-333333333333-us-west-2" in rules
    assert "alias/investai-prod-replica" in rules


def test_prod_failover_health_check_and_records(synthesised):
    api = synthesised.template("prod", "api")
    api.has_resource_properties(
        "AWS::Route53::HealthCheck",
        {
            "HealthCheckConfig": Match.object_like(
                {
                    "Type": "HTTPS",
                    "Port": 443,
                    "ResourcePath": {"Fn::Join": ["", ["/", Match.any_value(), "/health"]]},
                    "FullyQualifiedDomainName": Match.any_value(),
                    "RequestInterval": 30,
                    "FailureThreshold": 3,
                    "Regions": ["us-east-1", "us-west-2", "eu-west-1"],
                }
            )
        },
    )
    record = {
        "HostedZoneId": "Z00000000000000000000",
        "Name": "api.investai.example.com.",
        "Type": "CNAME",
        "TTL": "60",
    }
    api.has_resource_properties(
        "AWS::Route53::RecordSet",
        {
            **record,
            "Failover": "PRIMARY",
            "SetIdentifier": "primary",
            "HealthCheckId": {"Ref": Match.string_like_regexp("^FailoverPrimaryHealth")},
        },
    )
    api.has_resource_properties(
        "AWS::Route53::RecordSet",
        {
            **record,
            "Failover": "SECONDARY",
            "SetIdentifier": "secondary",
            "ResourceRecords": ["api-dr.investai.example.com"],
        },
    )
    api.resource_count_is("AWS::Route53::RecordSet", 2)


@pytest.mark.parametrize("stage", ["dev", "staging"])
def test_no_failover_without_a_prod_domain(synthesised, stage):
    api = synthesised.template(stage, "api")
    api.resource_count_is("AWS::Route53::HealthCheck", 0)
    assert not api.find_resources("AWS::Route53::RecordSet", {"Properties": {"Failover": Match.any_value()}})
