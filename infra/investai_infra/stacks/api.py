"""The stage's edge: the Cognito user pool, the REST API in front of the API function's ``live`` alias, and the
WAF web ACL on its stage.

Routes and who checks what. The function serves three things: the REST API under ``/api/v1``, the ops and
discovery routes, and the server-rendered web UI (cookie sessions) everywhere else. The gateway's Cognito
authorizer guards ``/api``: it accepts the pool's *access* tokens (the OAuth scope
``aws.cognito.signin.user.admin``, which every InitiateAuth access token carries; without a scope API Gateway
would want ID tokens). Open at the gateway: the routes that must work without a token — ``/health``, ``/ready``,
``/.well-known/jwks.json`` and the sign-in, challenge and refresh routes (:data:`PUBLIC_ROUTES`) — and the web
UI, whose pages the product authenticates itself with its session cookie (a browser sends no bearer token).
The product verifies every token again (issuer, client, ``token_use``, live session), so the authorizer is a
first filter, not the only check. API Gateway routes a path to the deepest resource that matches; every
resource created below ``/api`` therefore gets its own ``ANY`` and ``{proxy+}`` so no request falls into a gap.

Metrics. On this shape metrics go to CloudWatch, never through ``/metrics``: API Gateway's and Lambda's own
metrics, and the product's model cost, tokens and errors, which the functions write as Embedded Metric Format
lines to their logs (namespace ``InvestmentAI``, what the monitoring stack's alarms and dashboard read). A
Prometheus scrape of the function would reach one random instance, whose in-memory counters cover only the
requests that instance served, and the scrape token the product expects is not a Cognito token the authorizer
would let through. So the gateway does not route ``/metrics`` to the function at all: a mock integration
answers every method with 404 and the product's JSON error body saying where the metrics are
(:data:`METRICS_IN_CLOUDWATCH`), and no token is asked for since nothing behind it is reached. The function
refuses ``/metrics`` on Lambda in the same words (``investai.api.deps.metrics_scrape``), should any other
route ever reach it.

Caching. API Gateway's cache ignores the ``Cache-Control: no-store`` the product sets on every personal or live
response (ideas, documents, jobs, progress, quotes), so only the reads the product leaves cacheable are cached
(:data:`CACHED_READS`: market reference data, point-in-time series, request schema and templates), each keyed by
the ``Authorization`` header, the path parameters and every query parameter the route takes — two principals
never share an entry. ``tests/infra/test_api.py`` checks the list against the product's OpenAPI document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_cdk import Aws, CfnOutput, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from constructs import Construct

from investai.adapters.aws.resources import USER_POOL
from investai.observability.metrics import CLOUDWATCH_NAMESPACE
from investai_infra.config import StageConfig
from investai_infra.stacks.common import acknowledge, log_retention
from investai_infra.web_acl import ApiWebAcl

if TYPE_CHECKING:
    from investai_infra.stacks.compute import ComputeStack
    from investai_infra.stacks.networking import NetworkingStack
    from investai_infra.stacks.security import SecurityStack

ACCESS_TOKEN_SCOPE = "aws.cognito.signin.user.admin"
AUTHORIZATION = "method.request.header.Authorization"
PUBLIC_ROUTES = (
    "/health",
    "/ready",
    "/.well-known/jwks.json",
    "/api/v1/auth/login",
    "/api/v1/auth/challenge/new-password",
    "/api/v1/auth/challenge/mfa",
    "/api/v1/auth/refresh",
)
"""Routes that answer without a token (src/investai/api/routes: ops, wellknown and the sign-in half of auth)."""
CLOUDWATCH_ROLE_POLICY = "arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
AUTHORIZED_PREFIXES = ("/api",)
METRICS_PATH = "/metrics"
METRICS_IN_CLOUDWATCH = (
    "/metrics is not served on AWS: each Lambda instance would report only its own counters. Metrics are in"
    " CloudWatch: API Gateway and Lambda metrics, and the namespace InvestmentAI (model cost, tokens and errors)"
)
"""What the gateway answers on ``/metrics`` (404): plain text, no VTL syntax (it goes into a mapping template)."""


@dataclass(frozen=True)
class CachedRead:
    """A GET route whose responses the product leaves cacheable, with the query parameters it reads."""

    path: str
    query: tuple[str, ...] = ()

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(part[1:-1] for part in self.path.split("/") if part.startswith("{"))

    def cache_keys(self) -> list[str]:
        """The request parameters API Gateway keys the cache by: token, path and query."""
        return [
            AUTHORIZATION,
            *(f"method.request.path.{name}" for name in self.path_parameters),
            *(f"method.request.querystring.{name}" for name in self.query),
        ]


CACHED_READS = (
    CachedRead("/api/v1/ideas/requests/schema"),
    CachedRead("/api/v1/ideas/requests/templates"),
    CachedRead("/api/v1/market/symbols", ("q", "sector", "asset_class", "limit")),
    CachedRead("/api/v1/market/symbols/{symbol}"),
    CachedRead("/api/v1/market/{symbol}/bars", ("start", "end", "interval", "as_of")),
    CachedRead("/api/v1/market/{symbol}/returns", ("start", "end", "interval", "kind", "as_of")),
    CachedRead("/api/v1/market/{symbol}/risk", ("start", "end", "as_of", "benchmark")),
    CachedRead("/api/v1/market/{symbol}/indicators", ("start", "end", "as_of")),
)


def authorized_path(path: str) -> bool:
    """Whether a path not listed elsewhere needs a token at the gateway."""
    return path not in PUBLIC_ROUTES and any(path == p or path.startswith(p + "/") for p in AUTHORIZED_PREFIXES)


class ApiStack(Stack):
    """User pool, REST API and WAF of one stage (see the module)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        networking: NetworkingStack,
        security: SecurityStack,
        compute: ComputeStack,
        env: Environment,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=f"InvestAI {config.stage}: API, identity, WAF")
        self.config = config
        self._security = security
        self.user_pool = self._user_pool(config)
        self.user_pool_client = self._user_pool_client(config)
        self.authorizer = apigateway.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer",
            authorizer_name=config.name("cognito"),
            cognito_user_pools=[self.user_pool],
            identity_source=apigateway.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.minutes(5),
        )
        self.access_log_group = self._log_group("AccessLogs", f"/aws/apigateway/{config.name('api')}/access")
        self.rest_api = self._rest_api(config)
        self._integration_uri = (
            f"arn:{Aws.PARTITION}:apigateway:{Aws.REGION}:lambda:path/2015-03-31/functions/"
            f"{compute.api_alias.function_arn}/invocations"
        )
        self._validator = self.rest_api.add_request_validator(
            "ParameterValidator", validate_request_parameters=True, validate_request_body=True
        )
        self._routes()
        lambda_.CfnPermission(
            self,
            "InvokeLiveAlias",
            action="lambda:InvokeFunction",
            function_name=compute.api_alias.function_arn,
            principal="apigateway.amazonaws.com",
            source_arn=self.rest_api.arn_for_execute_api("*", "/*", config.stage),
        )  # one permission for every method: a per-method one would outgrow the 20 KB function policy
        waf = ApiWebAcl(self, "Waf", config=config, stage=self.rest_api.deployment_stage, key=security.data_key)
        self.web_acl = waf.web_acl
        self.custom_domain = self._custom_domain(config)
        CfnOutput(self, "ApiUrl", value=self.rest_api.url, description="the stage's invoke URL")
        CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.user_pool_client.user_pool_client_id)

    # -- identity ----------------------------------------------------------------------------------------
    def _user_pool(self, config: StageConfig) -> cognito.UserPool:
        """``<prefix>-users`` as :data:`resources.USER_POOL` defines it (``investai aws provision`` creates the
        same pool on emulators). Users are named by the product's user id and sign in by e-mail: the address is
        a sign-in alias, not the user name, because the product creates users as ``usr_...`` with a verified
        ``email`` attribute. Recovery is by administrators, as the product's flows are (no self-service reset,
        and the public client cannot be used to mail reset codes to users)."""
        pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=config.name("users"),
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            sign_in_case_sensitive=True,
            password_policy=cognito.PasswordPolicy(
                min_length=config.password_min_length,
                require_lowercase=USER_POOL.require_lowercase,
                require_uppercase=USER_POOL.require_uppercase,
                require_digits=USER_POOL.require_numbers,
                require_symbols=USER_POOL.require_symbols,
                password_history_size=USER_POOL.password_history_size,
                temp_password_validity=Duration.days(USER_POOL.temporary_password_days),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            enable_sms_role=False,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            account_recovery=cognito.AccountRecovery.NONE,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            pool,
            {
                "COG2": "The seed asks for optional TOTP MFA: each user enrols with POST /api/v1/auth/mfa/setup, and"
                " the Plus tier's threat protection challenges or blocks risky sign-ins"
            },
        )
        return pool

    def _user_pool_client(self, config: StageConfig) -> cognito.UserPoolClient:
        return self.user_pool.add_client(
            "WebClient",
            user_pool_client_name=config.name("web"),
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            disable_o_auth=True,
            access_token_validity=Duration.minutes(config.access_token_minutes),
            id_token_validity=Duration.minutes(USER_POOL.id_token_minutes),
            refresh_token_validity=Duration.days(config.refresh_token_days),
            auth_session_validity=Duration.minutes(USER_POOL.challenge_session_minutes),
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
        )

    # -- the REST API ------------------------------------------------------------------------------------
    def _log_group(self, construct_id: str, name: str) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            log_group_name=name,
            retention=log_retention(self.config.log_retention_days),
            encryption_key=self._security.data_key,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _rest_api(self, config: StageConfig) -> apigateway.RestApi:
        api = apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=config.name("api"),
            description=f"InvestAI {config.stage}: REST API and web UI",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            binary_media_types=["*/*"],  # bodies reach the function base64-encoded, uploads and PDFs intact
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigateway.StageOptions(
                stage_name=config.stage,
                tracing_enabled=True,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                cache_cluster_enabled=True,
                cache_cluster_size=config.cache_size_gb,
                method_options=self._method_options(config),
                **self._method_defaults(config, caching=False),  # type: ignore[arg-type]
            ),
        )
        acknowledge(
            api,
            {
                f"IAM4[Policy::{CLOUDWATCH_ROLE_POLICY}]": (
                    "API Gateway's account-level role for execution logs: the service's own managed policy, the"
                    " documented way to let API Gateway write to CloudWatch Logs"
                )
            },
        )
        return api

    @staticmethod
    def _method_defaults(config: StageConfig, *, caching: bool) -> dict[str, object]:
        """Every method setting, spelled out: a method override starts from these, not from the stage's."""
        return {
            "throttling_rate_limit": config.throttle_rate_limit,
            "throttling_burst_limit": config.throttle_burst_limit,
            "logging_level": apigateway.MethodLoggingLevel.ERROR,
            "data_trace_enabled": False,  # bodies would put tokens and personal data in the logs
            "metrics_enabled": True,
            "caching_enabled": caching,
            "cache_ttl": Duration.seconds(config.cache_ttl_s),
            "cache_data_encrypted": True,
        }

    def _method_options(self, config: StageConfig) -> dict[str, apigateway.MethodDeploymentOptions]:
        return {
            f"{read.path}/GET": apigateway.MethodDeploymentOptions(**self._method_defaults(config, caching=True))  # type: ignore[arg-type]
            for read in CACHED_READS
        }

    # -- routes ------------------------------------------------------------------------------------------
    def _routes(self) -> None:
        root = self.rest_api.root
        self._add_method(root, "ANY", "/", authorized=False)
        self._add_method(root.add_resource("{proxy+}"), "ANY", "/{proxy+}", authorized=False)
        created: dict[str, apigateway.Resource] = {}
        for path in PUBLIC_ROUTES:
            self._add_method(self._resource(path, created), "ANY", path, authorized=False)
        self._metrics_answered_here(self._resource(METRICS_PATH, created))
        for read in CACHED_READS:
            resource = self._resource(read.path, created)
            self._add_method(resource, "GET", read.path, authorized=True, cached=read)
        self._fill_gaps(created)

    def _resource(self, path: str, created: dict[str, apigateway.Resource]) -> apigateway.Resource:
        node: apigateway.IResource = self.rest_api.root
        walked = ""
        for segment in path.strip("/").split("/"):
            walked += f"/{segment}"
            if walked not in created:
                created[walked] = node.add_resource(segment)
            node = created[walked]
        return created[walked]

    def _fill_gaps(self, created: dict[str, apigateway.Resource]) -> None:
        """``ANY`` on every created resource that lacks it (the non-GET methods of a cached route, the parent
        routes such as ``GET /api/v1/ideas``) and ``{proxy+}`` under every resource with children (what is
        deeper than the routes named here, such as ``/api/v1/ideas/{id}``) — unless a child is already a path
        variable, which catches those paths (API Gateway allows one variable child per resource)."""
        children: dict[str, list[str]] = {}
        for path in created:
            parent, _, segment = path.rpartition("/")
            children.setdefault(parent, []).append(segment)
        for path, resource in sorted(created.items()):
            if resource.node.try_find_child("ANY") is None:
                self._add_method(resource, "ANY", path, authorized=authorized_path(path))
            segments = children.get(path, [])
            if segments and not any(segment.startswith("{") for segment in segments):
                deeper = f"{path}/{{proxy+}}"
                self._add_method(resource.add_resource("{proxy+}"), "ANY", deeper, authorized=authorized_path(deeper))

    def _add_method(
        self,
        resource: apigateway.IResource,
        http_method: str,
        path: str,
        *,
        authorized: bool,
        cached: CachedRead | None = None,
    ) -> apigateway.Method:
        keys = cached.cache_keys() if cached else []
        integration = apigateway.Integration(
            type=apigateway.IntegrationType.AWS_PROXY,
            integration_http_method="POST",
            uri=self._integration_uri,
            options=apigateway.IntegrationOptions(cache_key_parameters=keys or None),
        )
        guard: dict[str, object] = (
            {
                "authorization_type": apigateway.AuthorizationType.COGNITO,
                "authorizer": self.authorizer,
                "authorization_scopes": [ACCESS_TOKEN_SCOPE],
            }
            if authorized
            else {"authorization_type": apigateway.AuthorizationType.NONE}
        )
        parameters = {key: key == AUTHORIZATION or ".path." in key for key in keys}
        method = resource.add_method(
            http_method,
            integration,
            request_parameters=parameters or None,
            request_validator=self._validator if parameters else None,
            **guard,  # type: ignore[arg-type]
        )
        if not authorized:
            self._acknowledge_open(method, path)
        return method

    def _metrics_answered_here(self, resource: apigateway.Resource) -> apigateway.Method:
        """``ANY /metrics`` answered by the gateway itself: 404 with the product's error body and ``no-store``
        (a request with a body other than JSON gets the gateway's 415 instead); the function is never invoked
        (see the module on metrics)."""
        body = {
            "error": {
                "code": "not_found",
                "message": METRICS_IN_CLOUDWATCH,
                "request_id": "$context.requestId",
                "details": {"metrics": "cloudwatch", "namespace": CLOUDWATCH_NAMESPACE},
            }
        }
        no_store = {"method.response.header.Cache-Control": "'no-store'"}
        integration = apigateway.MockIntegration(
            request_templates={"application/json": json.dumps({"statusCode": 404})},
            passthrough_behavior=apigateway.PassthroughBehavior.WHEN_NO_TEMPLATES,
            integration_responses=[  # the default response (no selection pattern): every answer is this 404
                apigateway.IntegrationResponse(
                    status_code="404",
                    response_templates={"application/json": json.dumps(body)},
                    response_parameters=no_store,
                )
            ],
        )
        method = resource.add_method(
            "ANY",
            integration,
            authorization_type=apigateway.AuthorizationType.NONE,
            method_responses=[
                apigateway.MethodResponse(status_code="404", response_parameters=dict.fromkeys(no_store, True))
            ],
        )
        self._acknowledge_open(method, METRICS_PATH)
        return method

    @staticmethod
    def _acknowledge_open(method: apigateway.Method, path: str) -> None:
        if path in PUBLIC_ROUTES:
            why = (
                "public by design: health, readiness, key discovery and the sign-in/challenge/refresh routes answer"
                " without a token"
            )
        elif path == METRICS_PATH:
            why = "a mock integration answers 404 (metrics are in CloudWatch): nothing behind it needs a token"
        else:
            why = (
                "outside the REST API (/api): the web UI's pages and the other paths the product serves itself;"
                " it authenticates pages with its session cookie, which the Cognito authorizer cannot read"
            )
        acknowledge(method, {"APIG4": f"{path}: {why}", "COG4": f"{path}: {why}"})

    # -- custom domain -----------------------------------------------------------------------------------
    def _custom_domain(self, config: StageConfig) -> apigateway.DomainName | None:
        """The optional regional custom domain (TLS 1.2) mapped to the stage. Its DNS record: Route 53
        failover records when a secondary region's API is configured (``ApiFailover``), else a plain alias."""
        if not (config.domain_name and config.certificate_arn):
            return None
        domain = self.rest_api.add_domain_name(
            "CustomDomain",
            domain_name=config.domain_name,
            certificate=acm.Certificate.from_certificate_arn(self, "Certificate", config.certificate_arn),
            endpoint_type=apigateway.EndpointType.REGIONAL,
            security_policy=apigateway.SecurityPolicy.TLS_1_2,
        )
        if config.hosted_zone_id and config.hosted_zone_name and not config.secondary_domain_name:
            zone = route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=config.hosted_zone_id, zone_name=config.hosted_zone_name
            )
            route53.ARecord(
                self,
                "DomainRecord",
                zone=zone,
                record_name=config.domain_name,
                target=route53.RecordTarget.from_alias(route53_targets.ApiGatewayDomain(domain)),
            )
        CfnOutput(self, "ApiDomainUrl", value=f"https://{config.domain_name}/")
        return domain


ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "requestTimeEpoch": "$context.requestTimeEpoch",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "user": "$context.authorizer.claims.sub",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "wafResponseCode": "$context.wafResponseCode",
    "error": "$context.error.message",
    "xrayTraceId": "$context.xrayTraceId",
}
"""The access log line: JSON, every value quoted (an empty context variable still parses)."""
