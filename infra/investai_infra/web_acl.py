"""The API stage's WAF web ACL: the rules the product's own WAF middleware models
(``investai.api.middleware.waf_rules``), on AWS WAF.

* ``GeoBlock`` (when the stage lists countries): block requests from ``config.waf_blocked_countries``.
* ``RateLimitPerIp``: block an IP above ``config.waf_rate_limit_per_5_min`` requests in 5 minutes.
* ``AWSManagedRulesCommonRuleSet`` (the Core Rule Set), with its ``*_BODY`` rules counted instead of blocking,
  then ``BodyRulesOutsideUploads``, which blocks what they matched unless the request is a multipart upload,
  and any non-upload body above the product's ``waf_max_body_bytes`` (64 KB). Why: the CRS would block every
  body over 8 KB (JSON bar imports) and inspect uploaded PDFs and spreadsheets as if they were form posts; the
  product exempts uploads from body rules exactly so (their size cap and content checks belong to the upload
  pipeline). The web ACL forwards up to 64 KB of a body to WAF, so the size rule and the body rules see it all.
* ``AWSManagedRulesKnownBadInputsRuleSet``: blocking as AWS ships it.

Logs go to ``aws-waf-logs-<prefix>`` (the prefix WAF requires), KMS-encrypted, with the ``authorization`` and
``cookie`` headers redacted: tokens and sessions never reach a log.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from investai.config import Settings
from investai_infra.config import StageConfig
from investai_infra.stacks.common import log_retention

CORE_RULE_SET = "AWSManagedRulesCommonRuleSet"
KNOWN_BAD_INPUTS = "AWSManagedRulesKnownBadInputsRuleSet"
CRS_BODY_RULES = (
    "SizeRestrictions_BODY",
    "CrossSiteScripting_BODY",
    "GenericLFI_BODY",
    "GenericRFI_BODY",
    "EC2MetaDataSSRF_BODY",
)
CRS_LABEL = "awswaf:managed:aws:core-rule-set:"
MAX_BODY_BYTES = int(Settings.model_fields["waf_max_body_bytes"].default)
BODY_INSPECTION_LIMIT = "KB_64"
RATE_WINDOW_S = 300


def _visibility(name: str) -> dict[str, Any]:
    return {"cloudWatchMetricsEnabled": True, "metricName": name, "sampledRequestsEnabled": True}


def _rule(name: str, priority: int, statement: dict[str, Any], *, managed: bool = False) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": name,
        "priority": priority,
        "statement": statement,
        "visibilityConfig": _visibility(name),
    }
    rule.update({"overrideAction": {"none": {}}} if managed else {"action": {"block": {}}})
    return rule


def _crs_label(rule_name: str) -> str:
    """A CRS rule's label: ``SizeRestrictions_BODY`` labels requests ``...:SizeRestrictions_Body``."""
    return CRS_LABEL + rule_name.removesuffix("_BODY") + "_Body"


def _not_an_upload() -> dict[str, Any]:
    return {
        "notStatement": {
            "statement": {
                "byteMatchStatement": {
                    "fieldToMatch": {"singleHeader": {"Name": "content-type"}},
                    "positionalConstraint": "STARTS_WITH",
                    "searchString": "multipart/form-data",
                    "textTransformations": [{"priority": 0, "type": "LOWERCASE"}],
                }
            }
        }
    }


def _body_rules_outside_uploads() -> dict[str, Any]:
    matched = [{"labelMatchStatement": {"scope": "LABEL", "key": _crs_label(name)}} for name in CRS_BODY_RULES]
    too_large = {
        "sizeConstraintStatement": {
            "fieldToMatch": {"body": {"oversizeHandling": "MATCH"}},
            "comparisonOperator": "GT",
            "size": MAX_BODY_BYTES,
            "textTransformations": [{"priority": 0, "type": "NONE"}],
        }
    }
    return {"andStatement": {"statements": [{"orStatement": {"statements": [*matched, too_large]}}, _not_an_upload()]}}


def web_acl_rules(config: StageConfig) -> list[dict[str, Any]]:
    """The rules, in evaluation order (priorities 0, 1, ...)."""
    rules: list[dict[str, Any]] = []
    if config.waf_blocked_countries:
        rules.append(
            {
                "name": "GeoBlock",
                "statement": {"geoMatchStatement": {"countryCodes": list(config.waf_blocked_countries)}},
            }
        )
    rate = {
        "limit": config.waf_rate_limit_per_5_min,
        "aggregateKeyType": "IP",
        "evaluationWindowSec": RATE_WINDOW_S,
    }
    rules.append({"name": "RateLimitPerIp", "statement": {"rateBasedStatement": rate}})
    crs = {
        "vendorName": "AWS",
        "name": CORE_RULE_SET,
        "ruleActionOverrides": [{"name": name, "actionToUse": {"count": {}}} for name in CRS_BODY_RULES],
    }
    rules.append({"name": CORE_RULE_SET, "statement": {"managedRuleGroupStatement": crs}, "managed": True})
    rules.append({"name": "BodyRulesOutsideUploads", "statement": _body_rules_outside_uploads()})
    bad_inputs = {"vendorName": "AWS", "name": KNOWN_BAD_INPUTS}
    rules.append({"name": KNOWN_BAD_INPUTS, "statement": {"managedRuleGroupStatement": bad_inputs}, "managed": True})
    return [
        _rule(rule["name"], priority, rule["statement"], managed=rule.get("managed", False))
        for priority, rule in enumerate(rules)
    ]


class ApiWebAcl(Construct):
    """The web ACL, its association with the API stage and its logging."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, stage: apigateway.Stage, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=config.name("api"),
            description=f"InvestAI {config.stage} - rules of the API stage",
            scope="REGIONAL",
            default_action={"allow": {}},
            rules=web_acl_rules(config),
            association_config={"requestBody": {"API_GATEWAY": {"defaultSizeInspectionLimit": BODY_INSPECTION_LIMIT}}},
            visibility_config=_visibility(config.name("api-waf")),
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "StageAssociation", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"aws-waf-logs-{config.prefix}",
            retention=log_retention(config.log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        log_group_arn = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=self.log_group.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )  # WAF wants the log group's ARN without CloudWatch's ":*" suffix
        wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[log_group_arn],
            redacted_fields=[{"singleHeader": {"Name": "authorization"}}, {"singleHeader": {"Name": "cookie"}}],
        )
