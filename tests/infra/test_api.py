"""The api stack per stage: the REST API (regional, throttling, caching keyed by the caller, JSON access logs,
X-Ray), who the Cognito authorizer guards — checked by routing every operation of the product's OpenAPI
document through the synthesised resource tree —, /metrics answered by the gateway (metrics are in CloudWatch),
the prod custom domain, the WAF web ACL on the stage, and the user pool and its app client."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match

from investai.api.deps import METRICS_IN_CLOUDWATCH as PRODUCT_REFUSAL
from investai_infra.stacks.api import (
    ACCESS_TOKEN_SCOPE,
    CACHED_READS,
    METRICS_IN_CLOUDWATCH,
    METRICS_PATH,
    PUBLIC_ROUTES,
)
from investai_infra.web_acl import MAX_BODY_BYTES

STAGES = ("dev", "staging", "prod")
RETENTION = {"dev": 14, "staging": 90, "prod": 365}
BLOCKED = {"dev": [], "staging": [], "prod": ["KP", "IR", "SY", "CU"]}
PROD_DOMAIN = "api.investai.example.com"
PROD_CERTIFICATE = "arn:aws:acm:us-east-1:333333333333:certificate/00000000-0000-0000-0000-000000000000"


# -- helpers ------------------------------------------------------------------------------------------------
def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}


def api_json(synthesised, stage: str) -> dict[str, Any]:
    return synthesised.template_json(stage, "api")


def stage_properties(synthesised, stage: str) -> dict[str, Any]:
    (found,) = resources(api_json(synthesised, stage), "AWS::ApiGateway::Stage").values()
    return found["Properties"]


def method_setting(synthesised, stage: str, path: str, http_method: str) -> dict[str, Any]:
    encoded = "/*" if path == "/*" else "/~1" + path.strip("/").replace("/", "~1")
    (found,) = [
        s
        for s in stage_properties(synthesised, stage)["MethodSettings"]
        if s["ResourcePath"] == encoded and s["HttpMethod"] == http_method
    ]
    return found


class Tree:
    """The synthesised resources and methods, with API Gateway's routing: at each level a static segment
    wins over a path variable, which wins over ``{proxy+}`` (which takes the rest); no backtracking."""

    def __init__(self, template: dict[str, Any]) -> None:
        api = resources(template, "AWS::ApiGateway::Resource")
        self.children: dict[str | None, dict[str, str]] = {}
        for name, body in api.items():
            parent = body["Properties"]["ParentId"]
            key = parent.get("Ref")  # None: the root (Fn::GetAtt RootResourceId)
            self.children.setdefault(key, {})[body["Properties"]["PathPart"]] = name
        self.methods: dict[str | None, dict[str, dict[str, Any]]] = {}
        for body in resources(template, "AWS::ApiGateway::Method").values():
            owner = body["Properties"]["ResourceId"]
            key = owner.get("Ref")
            self.methods.setdefault(key, {})[body["Properties"]["HttpMethod"]] = body["Properties"]

    def route(self, path: str, http_method: str) -> dict[str, Any] | None:
        node: str | None = None
        for segment in [segment for segment in path.split("/") if segment]:
            children = self.children.get(node, {})
            variables = [part for part in children if part.startswith("{") and not part.endswith("+}")]
            if segment in children:
                node = children[segment]
            elif variables:
                node = children[variables[0]]
            elif "{proxy+}" in children:
                node = children["{proxy+}"]
                break
            else:
                return None
        found = self.methods.get(node, {})
        return found.get(http_method) or found.get("ANY")


def product_operations() -> list[tuple[str, str]]:
    """Every (path, method) of the product's REST API and ops routes, with sample values for path variables."""
    from fastapi import FastAPI

    from investai.api.app import install_api

    app = FastAPI()
    install_api(app)
    operations = []
    for path, item in app.openapi()["paths"].items():
        concrete = "/".join("x1" if part.startswith("{") else part for part in path.split("/"))
        operations += [
            (concrete, method.upper()) for method in item if method in ("get", "post", "put", "patch", "delete")
        ]
    return operations


# -- REST API -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_regional_api_with_a_stage_named_after_the_stage(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "api")
    template.has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {"Name": f"investai-{stage}-api", "EndpointConfiguration": {"Types": ["REGIONAL"]}},
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Stage", {"StageName": stage, "TracingEnabled": True, "CacheClusterEnabled": True}
    )
    template.has_output("ApiUrl", {"Value": Match.any_value()})


@pytest.mark.parametrize("stage", STAGES)
def test_throttling_logging_and_metrics_on_every_method(synthesised, stage: str) -> None:
    settings = stage_properties(synthesised, stage)["MethodSettings"]
    assert settings
    for setting in settings:
        assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (10_000, 5_000)
        assert (setting["LoggingLevel"], setting["MetricsEnabled"], setting["DataTraceEnabled"]) == (
            "ERROR",
            True,
            False,
        )
    everything = method_setting(synthesised, stage, "/*", "*")
    assert everything["CachingEnabled"] is False, "only the reads the product lets be cached"


@pytest.mark.parametrize("stage", STAGES)
def test_cached_reads_300_s_keyed_by_token_path_and_query(synthesised, stage: str) -> None:
    tree = Tree(api_json(synthesised, stage))
    for read in CACHED_READS:
        setting = method_setting(synthesised, stage, read.path, "GET")
        assert (setting["CachingEnabled"], setting["CacheTtlInSeconds"], setting["CacheDataEncrypted"]) == (
            True,
            300,
            True,
        )
        concrete = read.path.replace("{symbol}", "AAPL")
        method = tree.route(concrete, "GET")
        assert method is not None
        assert method["HttpMethod"] == "GET"
        keys = set(method["Integration"]["CacheKeyParameters"])
        assert "method.request.header.Authorization" in keys
        assert {f"method.request.querystring.{name}" for name in read.query} <= keys
        assert {f"method.request.path.{name}" for name in read.path_parameters} <= keys
        assert method["RequestParameters"]["method.request.header.Authorization"] is True


def test_cached_reads_match_the_products_routes() -> None:
    """Each cached read is a GET route of the product whose query parameters are all cache keys, and whose
    handler does not mark its responses ``no-store`` (API Gateway's cache would ignore that)."""
    from fastapi import FastAPI
    from fastapi.routing import APIRoute

    from investai.api.app import ROUTES, install_api

    app = FastAPI()
    install_api(app)
    spec = app.openapi()["paths"]
    routes = {
        (route.path, method): route
        for module in ROUTES
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    for read in CACHED_READS:
        operation = spec[read.path]["get"]
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert declared == set(read.query), read.path
        source = inspect.getsource(routes[read.path, "GET"].endpoint)
        assert "no-store" not in source
        assert "NO_STORE" not in source


@pytest.mark.parametrize("stage", STAGES)
def test_json_access_log_format(synthesised, stage: str) -> None:
    access = stage_properties(synthesised, stage)["AccessLogSetting"]
    fields = json.loads(access["Format"])
    assert {"requestId", "ip", "httpMethod", "path", "status", "responseLatency", "user", "xrayTraceId"} <= set(fields)
    log_group = access["DestinationArn"]["Fn::GetAtt"][0]
    properties = api_json(synthesised, stage)["Resources"][log_group]["Properties"]
    assert properties["RetentionInDays"] == RETENTION[stage]
    assert "KmsKeyId" in properties


# -- authorizer -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_cognito_authorizer_on_the_user_pool(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "api")
    stack = synthesised.stages[stage].api
    pool = stack.resolve(stack.user_pool.node.default_child.logical_id)
    template.resource_count_is("AWS::ApiGateway::Authorizer", 1)
    template.has_resource_properties(
        "AWS::ApiGateway::Authorizer",
        {
            "Type": "COGNITO_USER_POOLS",
            "IdentitySource": "method.request.header.Authorization",
            "ProviderARNs": [{"Fn::GetAtt": [pool, "Arn"]}],
        },
    )


@pytest.mark.parametrize("stage", STAGES)
def test_every_product_route_reaches_the_function_guarded_as_it_should(synthesised, stage: str) -> None:
    """Route each OpenAPI operation through the resource tree: it reaches a method, which needs a Cognito access
    token unless the route is public (or outside /api: the web UI, which checks its own session cookie)."""
    tree = Tree(api_json(synthesised, stage))
    for path, http_method in product_operations():
        method = tree.route(path, http_method)
        assert method is not None, f"{http_method} {path} falls into a gap"
        if path == METRICS_PATH:  # answered by the gateway (test_metrics_never_reach_the_function)
            assert method["Integration"]["Type"] == "MOCK"
            continue
        assert method["Integration"]["Type"] == "AWS_PROXY", f"{http_method} {path}"
        public = path in PUBLIC_ROUTES or not path.startswith("/api")
        if public:
            assert method["AuthorizationType"] == "NONE", f"{http_method} {path}"
        else:
            assert method["AuthorizationType"] == "COGNITO_USER_POOLS", f"{http_method} {path}"
            assert method["AuthorizationScopes"] == [ACCESS_TOKEN_SCOPE]
    for page in ("/", "/login", "/ideas/new", "/documents/d1/view"):
        assert tree.route(page, "GET")["AuthorizationType"] == "NONE"


@pytest.mark.parametrize("stage", STAGES)
def test_metrics_never_reach_the_function(synthesised, stage: str) -> None:
    """On AWS metrics are in CloudWatch: every method of /metrics is a mock answering 404 with the product's error
    body, asking for no token (the scrape token is not a Cognito token, and nothing behind it is reached)."""
    tree = Tree(api_json(synthesised, stage))
    for http_method in ("GET", "POST", "HEAD"):
        method = tree.route(METRICS_PATH, http_method)
        assert method is not None
        assert (method["HttpMethod"], method["AuthorizationType"]) == ("ANY", "NONE")
        assert "AuthorizerId" not in method
        integration = method["Integration"]
        assert integration["Type"] == "MOCK"
        assert "Uri" not in integration, "the function is never invoked"
        assert json.loads(integration["RequestTemplates"]["application/json"]) == {"statusCode": 404}
        (answer,) = integration["IntegrationResponses"]
        assert answer["StatusCode"] == "404"
        assert "SelectionPattern" not in answer, "the default response: every answer is this 404"
        assert answer["ResponseParameters"] == {"method.response.header.Cache-Control": "'no-store'"}
        error = json.loads(answer["ResponseTemplates"]["application/json"])["error"]
        assert (error["code"], error["request_id"]) == ("not_found", "$context.requestId")
        assert error["message"] == METRICS_IN_CLOUDWATCH == PRODUCT_REFUSAL, "the function says the same"
        assert "CloudWatch" in error["message"]
        assert error["details"] == {"metrics": "cloudwatch", "namespace": "InvestmentAI"}
        assert not any(mark in error["message"] for mark in ("$", "#")), "no VTL in the text"
        assert [response["StatusCode"] for response in method["MethodResponses"]] == ["404"]
    assert tree.route(f"{METRICS_PATH}/extra", "GET") is None, "nothing below /metrics reaches the function"


@pytest.mark.parametrize("stage", STAGES)
def test_one_invoke_permission_for_the_live_alias(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "api")
    template.resource_count_is("AWS::Lambda::Permission", 1)
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "FunctionName": {"Fn::ImportValue": Match.string_like_regexp("Compute.*ApiLiveAlias")},
            "SourceArn": {"Fn::Join": ["", Match.array_with([f"/{stage}/*/*"])]},
        },
    )


# -- custom domain ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_custom_domain_in_prod_only(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "api")
    if stage != "prod":
        template.resource_count_is("AWS::ApiGateway::DomainName", 0)
        return
    template.has_resource_properties(
        "AWS::ApiGateway::DomainName",
        {
            "DomainName": PROD_DOMAIN,
            "RegionalCertificateArn": PROD_CERTIFICATE,
            "EndpointConfiguration": {"Types": ["REGIONAL"]},
            "SecurityPolicy": "TLS_1_2",
        },
    )
    template.resource_count_is("AWS::ApiGateway::BasePathMapping", 1)
    assert synthesised.stages[stage].api.rest_api.domain_name is not None


# -- WAF ----------------------------------------------------------------------------------------------------
def web_acl(synthesised, stage: str) -> dict[str, Any]:
    (found,) = resources(api_json(synthesised, stage), "AWS::WAFv2::WebACL").values()
    return found["Properties"]


@pytest.mark.parametrize("stage", STAGES)
def test_web_acl_rules(synthesised, stage: str) -> None:
    acl = web_acl(synthesised, stage)
    assert (acl["Scope"], acl["DefaultAction"]) == ("REGIONAL", {"Allow": {}})
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    assert len({rule["Priority"] for rule in acl["Rules"]}) == len(acl["Rules"])
    for group in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"):
        statement = rules[group]["Statement"]["ManagedRuleGroupStatement"]
        assert (statement["VendorName"], statement["Name"]) == ("AWS", group)
        assert rules[group]["OverrideAction"] == {"None": {}}
    rate = rules["RateLimitPerIp"]
    assert rate["Statement"]["RateBasedStatement"] == {
        "Limit": 2000,
        "AggregateKeyType": "IP",
        "EvaluationWindowSec": 300,
    }
    assert rate["Action"] == {"Block": {}}
    if BLOCKED[stage]:
        assert rules["GeoBlock"]["Statement"]["GeoMatchStatement"]["CountryCodes"] == BLOCKED[stage]
        assert rules["GeoBlock"]["Action"] == {"Block": {}}
    else:
        assert "GeoBlock" not in rules


@pytest.mark.parametrize("stage", STAGES)
def test_body_rules_spare_uploads_but_block_everything_else(synthesised, stage: str) -> None:
    acl = web_acl(synthesised, stage)
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    crs = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    counted = {override["Name"] for override in crs["RuleActionOverrides"]}
    assert all(override["ActionToUse"] == {"Count": {}} for override in crs["RuleActionOverrides"])
    assert counted == {
        "SizeRestrictions_BODY",
        "CrossSiteScripting_BODY",
        "GenericLFI_BODY",
        "GenericRFI_BODY",
        "EC2MetaDataSSRF_BODY",
    }
    body = rules["BodyRulesOutsideUploads"]
    assert body["Priority"] > rules["AWSManagedRulesCommonRuleSet"]["Priority"], "labels exist once the CRS ran"
    assert body["Action"] == {"Block": {}}
    matched, not_upload = body["Statement"]["AndStatement"]["Statements"]
    labels = {
        s["LabelMatchStatement"]["Key"] for s in matched["OrStatement"]["Statements"] if "LabelMatchStatement" in s
    }
    assert labels == {f"awswaf:managed:aws:core-rule-set:{name.removesuffix('_BODY')}_Body" for name in counted}
    sizes = [
        s["SizeConstraintStatement"] for s in matched["OrStatement"]["Statements"] if "SizeConstraintStatement" in s
    ]
    assert len(sizes) == 1
    assert (sizes[0]["Size"], sizes[0]["ComparisonOperator"]) == (MAX_BODY_BYTES, "GT")
    assert sizes[0]["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    upload = not_upload["NotStatement"]["Statement"]["ByteMatchStatement"]
    assert (upload["SearchString"], upload["PositionalConstraint"]) == ("multipart/form-data", "STARTS_WITH")
    assert acl["AssociationConfig"] == {"RequestBody": {"API_GATEWAY": {"DefaultSizeInspectionLimit": "KB_64"}}}


@pytest.mark.parametrize("stage", STAGES)
def test_web_acl_is_associated_with_the_stage_and_logs_redacted(synthesised, stage: str) -> None:
    template = api_json(synthesised, stage)
    (acl,) = resources(template, "AWS::WAFv2::WebACL")
    (association,) = resources(template, "AWS::WAFv2::WebACLAssociation").values()
    (stage_id,) = resources(template, "AWS::ApiGateway::Stage")
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl, "Arn"]}
    assert {"Ref": stage_id} in association["Properties"]["ResourceArn"]["Fn::Join"][1]
    (logging,) = resources(template, "AWS::WAFv2::LoggingConfiguration").values()
    assert logging["Properties"]["RedactedFields"] == [
        {"SingleHeader": {"Name": "authorization"}},
        {"SingleHeader": {"Name": "cookie"}},
    ]
    groups = resources(template, "AWS::Logs::LogGroup")
    assert any(g["Properties"].get("LogGroupName") == f"aws-waf-logs-investai-{stage}" for g in groups.values())


# -- Cognito ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_user_pool(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "api")
    template.has_resource(
        "AWS::Cognito::UserPool",
        {
            "Properties": Match.object_like(
                {
                    "UserPoolName": f"investai-{stage}-users",
                    "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
                    "AliasAttributes": ["email"],
                    "Policies": {
                        "PasswordPolicy": Match.object_like(
                            {
                                "MinimumLength": 12,
                                "RequireLowercase": True,
                                "RequireUppercase": True,
                                "RequireNumbers": True,
                                "RequireSymbols": True,
                            }
                        )
                    },
                    "MfaConfiguration": "OPTIONAL",
                    "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                    "UserPoolTier": "PLUS",
                    "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"},
                    "DeletionProtection": "ACTIVE",
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
    (pool,) = resources(api_json(synthesised, stage), "AWS::Cognito::UserPool").values()
    assert "SmsConfiguration" not in pool["Properties"]


@pytest.mark.parametrize("stage", STAGES)
def test_app_client(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "api")
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "ClientName": f"investai-{stage}-web",
            "GenerateSecret": False,
            "ExplicitAuthFlows": Match.array_with(
                ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
            ),
            "AccessTokenValidity": 60,
            "IdTokenValidity": 60,
            "RefreshTokenValidity": 30 * 24 * 60,
            "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes"},
            "EnableTokenRevocation": True,
            "PreventUserExistenceErrors": "ENABLED",
            "AllowedOAuthFlowsUserPoolClient": False,
        },
    )
