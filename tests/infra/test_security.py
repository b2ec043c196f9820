"""The security stack: KMS keys with rotation, the application secret, and the three roles by their exact names
with least-privilege statements (Bedrock only on the configured models, DynamoDB only on the stage's tables and
indexes, the execution role only on the stage's own resources and able to assume the two access roles)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match

STAGES = ("dev", "staging", "prod")
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
REGION = "us-east-1"
ROLE_NAMES = (
    "InvestmentAI-Lambda-ExecutionRole",
    "InvestmentAI-Bedrock-AccessRole",
    "InvestmentAI-DynamoDB-AccessRole",
)
PROFILE_MODELS = (
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    "us.amazon.nova-pro-v1:0",
)
EMBEDDING_MODEL = "amazon.titan-embed-text-v2:0"
PROFILE_REGIONS = ("us-east-1", "us-east-2", "us-west-2")


# -- helpers ------------------------------------------------------------------------------------------------
def template_json(synthesised, stage: str) -> dict[str, Any]:
    return synthesised.template_json(stage, "security")


def logical_id(synthesised, stage: str, attribute: str) -> str:
    stack = synthesised.stages[stage].security
    return stack.resolve(getattr(stack, attribute).node.default_child.logical_id)


def role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """Every statement granted to the role (logical id): its inline policies and the policies attached to it."""
    resources = template["Resources"]
    statements = [
        statement
        for policy in resources[role]["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    for body in resources.values():
        if body["Type"] == "AWS::IAM::Policy" and {"Ref": role} in body["Properties"]["Roles"]:
            statements += body["Properties"]["PolicyDocument"]["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in statements}


def actions(statements: list[dict[str, Any]]) -> set[str]:
    return {action for statement in statements for action in as_list(statement["Action"])}


def arn(service: str, stage: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNTS[stage]}:{resource}"


# -- keys and secret ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_two_customer_managed_keys_rotate_and_are_retained(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "security")
    template.resource_count_is("AWS::KMS::Key", 2)
    template.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True, "PendingWindowInDays": 30})
    template.all_resources("AWS::KMS::Key", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})
    for name in ("data", "profiles"):
        template.has_resource_properties("AWS::KMS::Alias", {"AliasName": f"alias/investai-{stage}-{name}"})


@pytest.mark.parametrize("stage", STAGES)
def test_only_prods_data_key_is_a_multi_region_key(synthesised, stage: str) -> None:
    """Prod replicates its data key to the secondary region (MultiRegion is fixed when a key is created); the
    profiles key and the other stages' keys are single-region."""
    keys = template_json(synthesised, stage)["Resources"]
    data_key = keys[logical_id(synthesised, stage, "data_key")]["Properties"]
    profiles_key = keys[logical_id(synthesised, stage, "profiles_key")]["Properties"]
    assert data_key.get("MultiRegion", False) is (stage == "prod")
    assert "MultiRegion" not in profiles_key
    template = synthesised.template(stage, "security")
    template.has_resource_properties(
        "AWS::KMS::Alias",
        {
            "AliasName": f"alias/investai-{stage}-data",
            "TargetKeyId": {"Fn::GetAtt": [logical_id(synthesised, stage, "data_key"), "Arn"]},
        },
    )


@pytest.mark.parametrize("stage", STAGES)
def test_data_key_lets_cloudwatch_logs_encrypt_this_accounts_log_groups(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "security")
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "CloudWatchLogsEncryption",
                                "Principal": {"Service": f"logs.{REGION}.amazonaws.com"},
                                "Condition": {
                                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": arn("logs", stage, "log-group:*")}
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


@pytest.mark.parametrize("stage", STAGES)
def test_app_secret_is_generated_and_encrypted_with_the_data_key(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "security")
    template.resource_count_is("AWS::SecretsManager::Secret", 1)
    template.has_resource(
        "AWS::SecretsManager::Secret",
        {
            "Properties": {
                "Name": f"investai-{stage}/app",
                "KmsKeyId": {"Fn::GetAtt": [logical_id(synthesised, stage, "data_key"), "Arn"]},
                "GenerateSecretString": Match.object_like(
                    {"SecretStringTemplate": "{}", "GenerateStringKey": "secret_key", "PasswordLength": 64}
                ),
            },
            "DeletionPolicy": "Retain",
        },
    )


@pytest.mark.parametrize("stage", STAGES)
def test_app_secret_replicates_to_the_secondary_region_in_prod_only(synthesised, stage: str) -> None:
    """Prod's secret has a replica in us-west-2 under the region's AWS managed key (no KmsKeyId): a customer
    key there belongs to the secondary-region stack, which deploys after this one."""
    resources = template_json(synthesised, stage)["Resources"]
    secret = resources[logical_id(synthesised, stage, "app_secret")]["Properties"]
    if stage == "prod":
        assert secret["ReplicaRegions"] == [{"Region": "us-west-2"}]
    else:
        assert "ReplicaRegions" not in secret


@pytest.mark.parametrize("stage", STAGES)
def test_only_prod_exports_the_data_key_arn_to_the_secondary_region(synthesised, stage: str) -> None:
    """CDK's cross-region reference: the security stack writes the data key's ARN to SSM in us-west-2."""
    writers = [
        body
        for body in template_json(synthesised, stage)["Resources"].values()
        if body["Type"] == "Custom::CrossRegionExportWriter"
    ]
    if stage != "prod":
        assert writers == []
        return
    (writer,) = writers
    assert writer["Properties"]["WriterProps"]["region"] == "us-west-2"
    assert list(writer["Properties"]["WriterProps"]["exports"].values()) == [
        {"Fn::GetAtt": [logical_id(synthesised, stage, "data_key"), "Arn"]}
    ]


# -- roles --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_the_three_roles_by_exact_name(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "security")
    # prod adds one: the role of CDK's cross-region export writer (the data key's ARN to us-west-2)
    template.resource_count_is("AWS::IAM::Role", 4 if stage == "prod" else 3)
    other = set(template.find_resources("AWS::IAM::Role")) - {
        logical_id(synthesised, stage, attribute) for attribute in ("execution_role", "bedrock_role", "dynamodb_role")
    }
    assert all(name.startswith("CustomCrossRegionExportWriter") for name in other)
    for name in ROLE_NAMES:
        template.has_resource_properties("AWS::IAM::Role", {"RoleName": name})
    from aws_cdk import aws_iam as iam

    security = synthesised.stages[stage].security
    for attribute in ("execution_role", "bedrock_role", "dynamodb_role"):
        assert isinstance(getattr(security, attribute), iam.Role)


@pytest.mark.parametrize("stage", STAGES)
def test_no_role_has_a_wildcard_action_or_managed_policy(synthesised, stage: str) -> None:
    template = template_json(synthesised, stage)
    for attribute in ("execution_role", "bedrock_role", "dynamodb_role"):
        role = logical_id(synthesised, stage, attribute)
        assert "ManagedPolicyArns" not in template["Resources"][role]["Properties"]
        for action in actions(role_statements(template, role)):
            assert "*" not in action, f"{attribute} may {action}"


@pytest.mark.parametrize("stage", STAGES)
def test_access_roles_trust_only_the_execution_role(synthesised, stage: str) -> None:
    template = template_json(synthesised, stage)
    execution = logical_id(synthesised, stage, "execution_role")
    for attribute in ("bedrock_role", "dynamodb_role"):
        trust = template["Resources"][logical_id(synthesised, stage, attribute)]["Properties"][
            "AssumeRolePolicyDocument"
        ]
        assert trust["Statement"] == [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"AWS": {"Fn::GetAtt": [execution, "Arn"]}},
            }
        ]


@pytest.mark.parametrize("stage", STAGES)
def test_execution_role_is_assumed_by_lambda_and_in_prod_the_worker(synthesised, stage: str) -> None:
    template = template_json(synthesised, stage)
    trust = template["Resources"][logical_id(synthesised, stage, "execution_role")]["Properties"]
    principals = {
        service
        for statement in trust["AssumeRolePolicyDocument"]["Statement"]
        for service in as_list(statement["Principal"]["Service"])
    }
    expected = {"lambda.amazonaws.com"} | ({"ecs-tasks.amazonaws.com"} if stage == "prod" else set())
    assert principals == expected


@pytest.mark.parametrize("stage", STAGES)
def test_execution_role_reaches_only_the_stages_own_resources(synthesised, stage: str) -> None:
    template = template_json(synthesised, stage)
    statements = by_sid(role_statements(template, logical_id(synthesised, stage, "execution_role")))
    bucket = f"arn:aws:s3:::investai-{stage}-data-{ACCOUNTS[stage]}-{REGION}"
    assert statements["DataBucket"]["Resource"] == bucket
    assert statements["DataObjects"]["Resource"] == f"{bucket}/*"
    assert "s3:DeleteBucket" not in as_list(statements["DataBucket"]["Action"])
    assert statements["JobQueues"]["Resource"] == [
        arn("sqs", stage, f"investai-{stage}-jobs"),
        arn("sqs", stage, f"investai-{stage}-jobs-dlq"),
    ]
    assert statements["Keys"]["Resource"] == [
        {"Fn::GetAtt": [logical_id(synthesised, stage, "data_key"), "Arn"]},
        {"Fn::GetAtt": [logical_id(synthesised, stage, "profiles_key"), "Arn"]},
    ]
    assert set(as_list(statements["Keys"]["Action"])) == {
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
        "kms:ListKeyRotations",
    }
    assert statements["AppSecret"]["Resource"] == {"Ref": logical_id(synthesised, stage, "app_secret")}
    assert statements["UserPool"]["Resource"] == arn("cognito-idp", stage, "userpool/*")
    assert statements["SearchDomain"]["Resource"] == arn("es", stage, f"domain/investai-{stage}-search/*")
    assert statements["ProductMetrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "InvestmentAI"}}
    assert statements["AssumeAccessRoles"]["Resource"] == [
        {"Fn::GetAtt": [logical_id(synthesised, stage, "dynamodb_role"), "Arn"]},
        {"Fn::GetAtt": [logical_id(synthesised, stage, "bedrock_role"), "Arn"]},
    ]
    assert "TimestreamQuotes" not in statements  # quotes are in DynamoDB unless the stage says timestream


@pytest.mark.parametrize("stage", STAGES)
def test_execution_role_cannot_call_dynamodb_or_bedrock_itself(synthesised, stage: str) -> None:
    template = template_json(synthesised, stage)
    granted = actions(role_statements(template, logical_id(synthesised, stage, "execution_role")))
    assert not {action for action in granted if action.startswith(("dynamodb:", "bedrock:"))}


@pytest.mark.parametrize("stage", STAGES)
def test_dynamodb_role_reaches_exactly_the_stages_tables_and_indexes(synthesised, stage: str) -> None:
    from investai.adapters.aws.resources import tables

    template = template_json(synthesised, stage)
    statements = by_sid(role_statements(template, logical_id(synthesised, stage, "dynamodb_role")))
    expected = []
    for spec in tables():
        table = arn("dynamodb", stage, f"table/investai-{stage}-{spec.role}")
        expected += [table, *(f"{table}/index/{index.name}" for index in spec.indexes)]
    assert sorted(as_list(statements["Tables"]["Resource"])) == sorted(expected)
    assert set(as_list(statements["Tables"]["Action"])) == {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
    }
    keys = statements["TableKeysThroughDynamoDb"]
    assert keys["Condition"] == {"StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}}
    assert set(statements) == {"Tables", "TableKeysThroughDynamoDb"}


@pytest.mark.parametrize("stage", STAGES)
def test_bedrock_role_invokes_only_the_configured_models(synthesised, stage: str) -> None:
    template = template_json(synthesised, stage)
    statements = by_sid(role_statements(template, logical_id(synthesised, stage, "bedrock_role")))
    profiles = [arn("bedrock", stage, f"inference-profile/{model}") for model in PROFILE_MODELS]
    assert sorted(as_list(statements["InferenceProfiles"]["Resource"])) == sorted(profiles)
    routed = statements["ModelsThroughProfiles"]
    assert sorted(as_list(routed["Resource"])) == sorted(
        f"arn:aws:bedrock:{region}::foundation-model/{model.split('.', 1)[1]}"
        for model in PROFILE_MODELS
        for region in PROFILE_REGIONS
    )
    assert sorted(routed["Condition"]["StringLike"]["bedrock:InferenceProfileArn"]) == sorted(profiles)
    assert statements["FoundationModels"]["Resource"] == f"arn:aws:bedrock:{REGION}::foundation-model/{EMBEDDING_MODEL}"
    assert actions(list(statements.values())) == {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
    assert set(statements) == {"InferenceProfiles", "ModelsThroughProfiles", "FoundationModels"}


def test_model_ids_are_the_products_defaults() -> None:
    """The Bedrock role is written from StageConfig.model_ids, which follow the product's settings."""
    from investai.config import Settings
    from investai_infra.config import stage_config

    defaults = Settings.model_fields
    configured = {str(defaults[name].default) for name in ("model_reasoning", "model_fast", "model_quantitative")}
    assert configured == set(PROFILE_MODELS)
    assert set(stage_config("prod").model_ids) == {*PROFILE_MODELS, EMBEDDING_MODEL}


def test_timestream_and_lancedb_variant_changes_the_execution_role(dev_variant) -> None:
    template = dev_variant.template_json("dev", "security")
    stack = dev_variant.stages["dev"].security
    role = stack.resolve(stack.execution_role.node.default_child.logical_id)
    statements = by_sid(role_statements(template, role))
    assert statements["TimestreamQuotes"]["Resource"] == arn(
        "timestream", "dev", "database/investai-dev-market/table/quotes"
    )
    assert set(as_list(statements["TimestreamQuotes"]["Action"])) == {
        "timestream:WriteRecords",
        "timestream:Select",
        "timestream:DescribeTable",
    }
    assert statements["TimestreamEndpoints"]["Action"] == "timestream:DescribeEndpoints"
    assert "SearchDomain" not in statements  # no OpenSearch domain on LanceDB
