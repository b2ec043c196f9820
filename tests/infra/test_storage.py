"""The storage stack against the seed and the product's own definitions: the data bucket (SSE-KMS with a bucket
key, versioned, private, TLS only, tiered, logged, replicated in prod), every table of ``resources.tables()``,
OpenSearch per stage, Timestream only when chosen, and the static site added into the stack."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match

from investai.adapters.aws.resources import BUCKET, TableSpec, tables

STAGES = ("dev", "staging", "prod")
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
BACKUP_TAG = {"Key": "investai:backup", "Value": "daily"}
TIERS = [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}, {"StorageClass": "GLACIER", "TransitionInDays": 90}]
SEARCH = {  # instance type, data nodes, zones, dedicated masters, volume GB
    "dev": ("t3.small.search", 1, 1, 0, 20),
    "staging": ("m7g.medium.search", 2, 2, 0, 20),  # the seed's m6g.medium.search does not exist (see config.py)
    "prod": ("m6g.large.search", 3, 3, 3, 100),
}


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}


def storage_id(synthesised, stage: str, construct) -> str:
    return synthesised.stages[stage].storage.resolve(construct.node.default_child.logical_id)


def imports(value: Any, export_fragment: str) -> bool:
    """Whether ``value`` is an ``Fn::ImportValue`` of an export whose name contains the fragment."""
    return isinstance(value, dict) and export_fragment in str(value.get("Fn::ImportValue", ""))


# -- the data bucket ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_data_bucket_is_kms_encrypted_versioned_private_and_logged(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "storage")
    name = f"investai-{stage}-data-{ACCOUNTS[stage]}-us-east-1"
    storage = synthesised.stages[stage].storage
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "BucketName": name,
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    "LoggingConfiguration": {
                        "DestinationBucketName": {"Ref": storage_id(synthesised, stage, storage.access_logs_bucket)},
                        "LogFilePrefix": f"{name}/",
                    },
                    "Tags": Match.array_with([BACKUP_TAG]),
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
    bucket = synthesised.template_json(stage, "storage")["Resources"][storage_id(synthesised, stage, storage.bucket)]
    [encryption] = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["BucketKeyEnabled"] is True
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert imports(encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"], "DataKey")


@pytest.mark.parametrize("stage", STAGES)
def test_buckets_refuse_plain_http_and_old_tls(synthesised, stage: str) -> None:
    template = synthesised.template_json(stage, "storage")
    storage = synthesised.stages[stage].storage
    for bucket in (storage.bucket, storage.access_logs_bucket):
        bucket_id = storage_id(synthesised, stage, bucket)
        [policy] = [
            body
            for body in resources(template, "AWS::S3::BucketPolicy").values()
            if body["Properties"]["Bucket"] == {"Ref": bucket_id}
        ]
        denials = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert {"Bool": {"aws:SecureTransport": "false"}} in [s["Condition"] for s in denials]
    synthesised.template(stage, "storage").has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}}})]
                )
            }
        },
    )


def _lifecycle(synthesised, stage: str) -> dict[str, dict[str, Any]]:
    storage = synthesised.stages[stage].storage
    bucket = synthesised.template_json(stage, "storage")["Resources"][storage_id(synthesised, stage, storage.bucket)]
    return {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}


@pytest.mark.parametrize("stage", STAGES)
def test_lifecycle_standard_to_ia_at_30_to_glacier_at_90_where_the_stage_tiers(synthesised, stage: str) -> None:
    rules = _lifecycle(synthesised, stage)
    tiered = {rule_id: rule for rule_id, rule in rules.items() if "Transitions" in rule}
    expected_tiering = {f"tier-{prefix.strip('/')}" for prefix in BUCKET.tiered_prefixes}
    if stage == "dev":  # the seed: no lifecycle rules in dev
        assert tiered == {}
        return
    for rule_id in expected_tiering:
        rule = rules[rule_id]
        assert rule["Status"] == "Enabled"
        assert rule["Prefix"].startswith(BUCKET.object_prefix)
        assert rule["Transitions"] == TIERS
        assert rule["NoncurrentVersionTransitions"] == TIERS
    extra = set(tiered) - expected_tiering
    assert extra == ({"intelligent-tiering-market"} if stage == "prod" else set())


@pytest.mark.parametrize("stage", STAGES)
def test_lifecycle_expires_replaced_derived_data_and_aborted_uploads_in_every_stage(synthesised, stage: str) -> None:
    rules = _lifecycle(synthesised, stage)
    for prefix in BUCKET.derived_prefixes:
        rule = rules[f"expire-replaced-{prefix.strip('/')}"]
        assert rule["Prefix"] == prefix
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": BUCKET.derived_noncurrent_days}
        assert rule["ExpiredObjectDeleteMarker"] is True
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": BUCKET.abort_incomplete_upload_days}


def test_prod_keeps_bar_history_in_intelligent_tiering(synthesised) -> None:
    rule = _lifecycle(synthesised, "prod")["intelligent-tiering-market"]
    assert rule["Prefix"] == "market/"
    assert rule["Transitions"] == [{"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 0}]


@pytest.mark.parametrize("stage", STAGES)
def test_replication_to_the_secondary_region_in_prod_only(synthesised, stage: str) -> None:
    storage = synthesised.stages[stage].storage
    bucket = synthesised.template_json(stage, "storage")["Resources"][storage_id(synthesised, stage, storage.bucket)]
    replication = bucket["Properties"].get("ReplicationConfiguration")
    if stage != "prod":
        assert replication is None
        return
    [rule] = replication["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Filter"] == {"Prefix": ""}
    assert rule["DeleteMarkerReplication"] == {"Status": "Enabled"}
    assert rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
    destination = rule["Destination"]
    assert destination["Bucket"] == "arn:aws:s3:::investai-prod-data-333333333333-us-west-2"
    assert destination["EncryptionConfiguration"] == {
        "ReplicaKmsKeyID": "arn:aws:kms:us-west-2:333333333333:alias/investai-prod-replica"
    }
    assert destination["ReplicationTime"] == {"Status": "Enabled", "Time": {"Minutes": 15}}
    assert replication["Role"] == {"Fn::GetAtt": [storage_id(synthesised, stage, storage.replication_role), "Arn"]}
    statements = {
        statement["Sid"]: statement
        for policy in resources(synthesised.template_json(stage, "storage"), "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "Sid" in statement
    }
    assert statements["WriteReplicas"]["Resource"] == "arn:aws:s3:::investai-prod-data-333333333333-us-west-2/*"
    assert statements["EncryptReplicas"]["Condition"]["ForAnyValue:StringEquals"] == {
        "kms:ResourceAliases": "alias/investai-prod-replica"
    }


@pytest.mark.parametrize("stage", STAGES)
def test_access_logs_bucket(synthesised, stage: str) -> None:
    synthesised.template(stage, "storage").has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "BucketName": f"investai-{stage}-access-logs-{ACCOUNTS[stage]}-us-east-1",
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    # CloudFront's standard logs are delivered by ACL
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]},
                    "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicAcls": True}),
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )


# -- tables -------------------------------------------------------------------------------------------------
def _tables(synthesised, stage: str) -> dict[str, dict[str, Any]]:
    template = synthesised.template_json(stage, "storage")
    return {
        body["Properties"]["TableName"]: body for body in resources(template, "AWS::DynamoDB::GlobalTable").values()
    }


def _key_schema(partition, sort) -> list[dict[str, str]]:
    return [
        {"AttributeName": partition.name, "KeyType": "HASH"},
        *([{"AttributeName": sort.name, "KeyType": "RANGE"}] if sort else []),
    ]


@pytest.mark.parametrize("stage", STAGES)
def test_every_table_of_the_product_and_no_other(synthesised, stage: str) -> None:
    assert set(_tables(synthesised, stage)) == {f"investai-{stage}-{spec.role}" for spec in tables()}
    assert set(synthesised.stages[stage].storage.tables) == {spec.role for spec in tables()}


@pytest.mark.parametrize("spec", tables(), ids=lambda spec: spec.role)
@pytest.mark.parametrize("stage", STAGES)
def test_table_matches_its_definition(synthesised, stage: str, spec: TableSpec) -> None:
    table = _tables(synthesised, stage)[f"investai-{stage}-{spec.role}"]
    properties = table["Properties"]
    assert properties["KeySchema"] == _key_schema(spec.partition, spec.sort)
    assert sorted(properties["AttributeDefinitions"], key=str) == sorted(spec.attribute_definitions(), key=str)
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {index["IndexName"]: index for index in properties.get("GlobalSecondaryIndexes", [])}
    assert list(indexes) == [index.name for index in spec.indexes]
    for index in spec.indexes:
        assert indexes[index.name]["KeySchema"] == _key_schema(index.partition, index.sort)
        assert indexes[index.name]["Projection"] == {"ProjectionType": "ALL"}
    if spec.ttl_attribute:
        assert properties["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
    else:
        assert "TimeToLiveSpecification" not in properties
    [replica] = properties["Replicas"]
    assert replica["Region"] == "us-east-1"
    assert replica["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True,
        "RecoveryPeriodInDays": 35,
    }
    assert replica["DeletionProtectionEnabled"] is True
    assert BACKUP_TAG in replica["Tags"]
    assert properties["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    key = "ProfilesKey" if spec.customer_managed_key else "DataKey"
    assert imports(replica["SSESpecification"]["KMSMasterKeyId"], key), replica["SSESpecification"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_personal_data_tables_use_the_profiles_key() -> None:
    """The product marks which tables hold personal data; the seed's at least: profiles, users, MFA, audit."""
    marked = {spec.role for spec in tables() if spec.customer_managed_key}
    assert {"profiles", "users", "mfa-secrets", "audit", "token-families"} <= marked


# -- OpenSearch ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_opensearch_domain_per_stage(synthesised, stage: str) -> None:
    instance, nodes, zones, masters, volume = SEARCH[stage]
    template = synthesised.template(stage, "storage")
    template.resource_count_is("AWS::OpenSearchService::Domain", 1)
    cluster: dict[str, Any] = {
        "InstanceType": instance,
        "InstanceCount": nodes,
        "ZoneAwarenessEnabled": zones > 1,
        "DedicatedMasterEnabled": masters > 0,
    }
    if zones > 1:
        cluster["ZoneAwarenessConfig"] = {"AvailabilityZoneCount": zones}
    if masters:
        cluster |= {"DedicatedMasterCount": masters, "DedicatedMasterType": instance}
    template.has_resource(
        "AWS::OpenSearchService::Domain",
        {
            "Properties": Match.object_like(
                {
                    "DomainName": f"investai-{stage}-search",
                    "EngineVersion": "OpenSearch_2.17",
                    "ClusterConfig": Match.object_like(cluster),
                    "EBSOptions": {"EBSEnabled": True, "VolumeSize": volume, "VolumeType": "gp3"},
                    "EncryptionAtRestOptions": {"Enabled": True, "KmsKeyId": Match.any_value()},
                    "NodeToNodeEncryptionOptions": {"Enabled": True},
                    "DomainEndpointOptions": {
                        "EnforceHTTPS": True,
                        "TLSSecurityPolicy": "Policy-Min-TLS-1-2-PFS-2023-10",
                    },
                    "AdvancedSecurityOptions": {
                        "Enabled": True,
                        "InternalUserDatabaseEnabled": False,
                        "MasterUserOptions": {"MasterUserARN": Match.any_value()},
                    },
                    "LogPublishingOptions": {
                        kind: {"CloudWatchLogsLogGroupArn": Match.any_value(), "Enabled": True}
                        for kind in ("SEARCH_SLOW_LOGS", "INDEX_SLOW_LOGS", "ES_APPLICATION_LOGS", "AUDIT_LOGS")
                    },
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
    [domain] = resources(synthesised.template_json(stage, "storage"), "AWS::OpenSearchService::Domain").values()
    properties = domain["Properties"]
    assert imports(properties["EncryptionAtRestOptions"]["KmsKeyId"], "DataKey")
    assert imports(properties["AdvancedSecurityOptions"]["MasterUserOptions"]["MasterUserARN"], "ExecutionRole")
    vpc = properties["VPCOptions"]
    assert len(vpc["SubnetIds"]) == zones
    assert all(imports(subnet, "isolatedSubnet") for subnet in vpc["SubnetIds"])
    assert [imports(group, "OpenSearchSecurityGroup") for group in vpc["SecurityGroupIds"]] == [True]
    [statement] = properties["AccessPolicies"]["Statement"]
    assert imports(statement["Principal"]["AWS"], "ExecutionRole")
    assert statement["Resource"] == f"arn:aws:es:us-east-1:{ACCOUNTS[stage]}:domain/investai-{stage}-search/*"


@pytest.mark.parametrize("stage", STAGES)
def test_opensearch_logs_are_encrypted_and_writable_by_the_domain_only(synthesised, stage: str) -> None:
    template = synthesised.template_json(stage, "storage")
    groups = [
        body["Properties"]
        for body in resources(template, "AWS::Logs::LogGroup").values()
        if body["Properties"].get("LogGroupName", "").startswith(f"/investai/{stage}/opensearch/")
    ]
    assert len(groups) == 4
    assert all(imports(group["KmsKeyId"], "DataKey") for group in groups)
    synthesised.template(stage, "storage").has_resource_properties(
        "AWS::Logs::ResourcePolicy", {"PolicyName": f"investai-{stage}-opensearch-logs"}
    )
    [policy] = resources(template, "AWS::Logs::ResourcePolicy").values()
    text = str(policy["Properties"]["PolicyDocument"])  # a JSON string joined with the log group ARNs
    assert "es.amazonaws.com" in text
    assert f"arn:aws:es:us-east-1:{ACCOUNTS[stage]}:domain/investai-{stage}-search" in text


# -- Timestream (only when chosen) and LanceDB (no domain) --------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_no_timestream_unless_chosen(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "storage")
    template.resource_count_is("AWS::Timestream::Database", 0)
    template.resource_count_is("AWS::Timestream::Table", 0)
    assert synthesised.stages[stage].storage.timestream_table is None


def test_timestream_when_the_stage_chooses_it(dev_variant) -> None:
    template = dev_variant.template("dev", "storage")
    template.resource_count_is("AWS::Timestream::Database", 1)
    template.has_resource_properties(
        "AWS::Timestream::Database", {"DatabaseName": "investai-dev-market", "KmsKeyId": Match.any_value()}
    )
    template.has_resource(
        "AWS::Timestream::Table",
        {
            "Properties": Match.object_like(
                {
                    "DatabaseName": "investai-dev-market",
                    "TableName": "quotes",
                    "RetentionProperties": {
                        "MemoryStoreRetentionPeriodInHours": "24",
                        "MagneticStoreRetentionPeriodInDays": "7",
                    },
                    "MagneticStoreWriteProperties": {"EnableMagneticStoreWrites": True},
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
    assert dev_variant.stages["dev"].storage.timestream_table is not None


def test_lancedb_stage_has_no_search_domain(dev_variant) -> None:
    dev_variant.template("dev", "storage").resource_count_is("AWS::OpenSearchService::Domain", 0)
    assert dev_variant.stages["dev"].storage.opensearch_domain is None


# -- the static site ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_static_site_is_a_private_bucket_behind_cloudfront(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "storage")
    template.resource_count_is("AWS::CloudFront::Distribution", 1)
    template.resource_count_is("AWS::CloudFront::OriginAccessControl", 1)
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "DefaultCacheBehavior": Match.object_like(
                        {
                            "ViewerProtocolPolicy": "https-only",
                            "AllowedMethods": ["GET", "HEAD"],
                            "Compress": True,
                            "CachePolicyId": Match.any_value(),
                            "ResponseHeadersPolicyId": Match.any_value(),
                        }
                    ),
                    "Logging": Match.object_like({"Prefix": "cloudfront-static/"}),
                    "Origins": [Match.object_like({"OriginAccessControlId": Match.any_value()})],
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::CloudFront::ResponseHeadersPolicy",
        {
            "ResponseHeadersPolicyConfig": Match.object_like(
                {
                    "SecurityHeadersConfig": Match.object_like(
                        {
                            "StrictTransportSecurity": Match.object_like({"AccessControlMaxAgeSec": 63072000}),
                            "ContentTypeOptions": {"Override": True},
                            "FrameOptions": {"FrameOption": "DENY", "Override": True},
                        }
                    )
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::CloudFront::CachePolicy",
        {"CachePolicyConfig": Match.object_like({"DefaultTTL": 86400, "MaxTTL": 604800, "MinTTL": 0})},
    )
    site_bucket = _static_site_bucket(synthesised, stage)
    assert site_bucket["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert site_bucket["Properties"]["LoggingConfiguration"]["LogFilePrefix"] == "static-site-bucket/"


def _static_site_bucket(synthesised, stage: str) -> dict[str, Any]:
    storage = synthesised.stages[stage].storage
    site = storage.node.find_child("StaticSite")
    return synthesised.template_json(stage, "storage")["Resources"][storage_id(synthesised, stage, site.bucket)]


@pytest.mark.parametrize("stage", STAGES)
def test_static_files_and_plotly_deployed_under_static(synthesised, stage: str) -> None:
    template = synthesised.template_json(stage, "storage")
    [deployment] = resources(template, "Custom::CDKBucketDeployment").values()
    properties = deployment["Properties"]
    assert properties["DestinationBucketKeyPrefix"] == "static/"
    assert len(properties["SourceObjectKeys"]) == 2  # the package's static folder and plotly's bundle
    assert properties["DistributionPaths"] == ["/static/*"]
    assert properties["Prune"] is True
    site = synthesised.stages[stage].storage.node.find_child("StaticSite")
    resolved = synthesised.stages[stage].storage.resolve(site.url)
    assert resolved["Fn::Join"][1][-1] == "/static"
    assert resolved["Fn::Join"][1][0] == "https://"


def test_vendor_folder_holds_plotly_at_its_static_path() -> None:
    from investai_infra.stacks.static_site import PLOTLY_KEY, plotly_bundle, static_folder, vendor_folder

    staged = vendor_folder() / PLOTLY_KEY
    assert PLOTLY_KEY == "vendor/plotly.min.js"
    assert staged.read_bytes() == plotly_bundle().read_bytes()
    assert (static_folder() / "js" / "app.js").is_file()
    assert [path.name for path in vendor_folder().rglob("*") if path.is_file()] == ["plotly.min.js"]


# -- backups and attributes ---------------------------------------------------------------------------------
def test_public_attributes(synthesised) -> None:
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_opensearchservice as opensearch
    from aws_cdk import aws_s3 as s3

    storage = synthesised.stages["prod"].storage
    assert isinstance(storage.bucket, s3.Bucket)
    assert isinstance(storage.access_logs_bucket, s3.Bucket)
    assert all(isinstance(table, dynamodb.TableV2) for table in storage.tables.values())
    assert isinstance(storage.opensearch_domain, opensearch.Domain)
