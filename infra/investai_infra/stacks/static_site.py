"""The web UI's static files on CloudFront: a private bucket read through origin access control, HTTPS only, a
security-headers policy and a cache policy, logs to the stage's access-log bucket.

What is deployed is the package's own ``investai/web/static`` folder under ``static/`` (the pages ask for
``<static_url>/css/app.css`` and so on) plus plotly's bundle from the installed plotly package at
``static/vendor/plotly.min.js`` (the dashboard's charts), the same layout the embedded server serves.
``url`` (``https://<distribution>/static``) is the product's ``INVESTAI_STATIC_URL`` in the compute stack.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from investai_infra.config import StageConfig
from investai_infra.stacks.common import acknowledge, log_retention

STATIC_PREFIX = "static/"
PLOTLY_KEY = "vendor/plotly.min.js"  # under STATIC_PREFIX, where templates/dashboard.html asks for it
BROWSER_CACHE = Duration.hours(1)  # file names carry no content hash: browsers re-check within the hour


def static_folder() -> Path:
    """The package's static folder (``investai/web/static``), wherever the package is installed."""
    return Path(str(resources.files("investai.web") / "static"))


def plotly_bundle() -> Path:
    """plotly.js as the installed plotly package ships it (``plotly/package_data/plotly.min.js``)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def vendor_folder() -> Path:
    """A folder holding only ``vendor/plotly.min.js`` (a CDK asset is a folder or a zip, not a file), named by
    the bundle's content so that repeated and concurrent synths reuse it and the asset hash is stable."""
    bundle = plotly_bundle()
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"investai-static-vendor-{digest}"
    target = folder / PLOTLY_KEY
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        shutil.copyfile(bundle, partial)
        partial.replace(target)  # atomic: a concurrent synth sees the whole file or none
    return folder


class StaticSite(Construct):
    """Private bucket + CloudFront distribution + deployment of the static files (see the module)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, access_logs: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,  # public assets; OAC reads SSE-S3 without a key policy
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="static-site-bucket/",
            removal_policy=RemovalPolicy.RETAIN if config.removal_retain else RemovalPolicy.DESTROY,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"InvestAI {config.stage} static files",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=self._cache_policy(config),
                response_headers_policy=self._headers_policy(config),
                compress=True,
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=access_logs,
            log_file_prefix="cloudfront-static/",
        )
        self._acknowledge_distribution()
        self.deployment = self._deploy(config)
        self.url = f"https://{self.distribution.distribution_domain_name}/{STATIC_PREFIX.rstrip('/')}"

    def _cache_policy(self, config: StageConfig) -> cloudfront.CachePolicy:
        """Cache on the path alone (no cookies, headers or query strings reach the origin): a day at the edge,
        invalidated by every deployment; compressed variants cached separately."""
        return cloudfront.CachePolicy(
            self,
            "CachePolicy",
            cache_policy_name=f"{config.prefix}-static-cache",
            comment="InvestAI static files",
            default_ttl=Duration.days(1),
            min_ttl=Duration.seconds(0),
            max_ttl=Duration.days(7),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )

    def _headers_policy(self, config: StageConfig) -> cloudfront.ResponseHeadersPolicy:
        """The security headers the API's own middleware sets on its responses, for the static files too."""
        return cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            response_headers_policy_name=f"{config.prefix}-static-security-headers",
            comment="InvestAI static files: security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(730), include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=True
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy="default-src 'none'; frame-ancestors 'none'", override=True
                ),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(protection=True, mode_block=True, override=True),
            ),
        )

    def _deploy(self, config: StageConfig) -> s3deploy.BucketDeployment:
        """Upload the static folder and plotly's bundle under ``static/`` and invalidate the distribution. The
        handler gets a role of its own with a log group of its own (no managed policy, no account-wide logs)."""
        log_group = logs.LogGroup(
            self,
            "DeploymentLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            "DeploymentRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Copies the static files into the static site bucket",
        )
        log_group.grant_write(role)
        deployment = s3deploy.BucketDeployment(
            self,
            "Deployment",
            sources=[
                s3deploy.Source.asset(str(static_folder()), exclude=["*.py", "__pycache__", "*.pyc"]),
                s3deploy.Source.asset(str(vendor_folder())),
            ],
            destination_bucket=self.bucket,
            destination_key_prefix=STATIC_PREFIX,
            distribution=self.distribution,
            distribution_paths=[f"/{STATIC_PREFIX}*"],
            cache_control=[s3deploy.CacheControl.set_public(), s3deploy.CacheControl.max_age(BROWSER_CACHE)],
            prune=True,
            memory_limit=512,
            role=role,
            log_group=log_group,
        )
        self._acknowledge_deployment(role)
        return deployment

    def _acknowledge_distribution(self) -> None:
        acknowledge(
            self.distribution,
            {
                "CFR1": "Serves only public, non-sensitive static files (CSS, JS, an icon, plotly.js); the data and "
                "the API are behind the API's WAF with its geo block.",
                "CFR2": "Static files only, cached at the edge with GET/HEAD and no origin logic to attack; the API "
                "has its own WAF web ACL. A CLOUDFRONT-scope ACL would cost more than the files' exposure.",
                "CFR4": "The distribution uses its default *.cloudfront.net certificate (no custom domain for "
                "static files), for which CloudFront fixes the minimum viewer TLS version; viewers are HTTPS only.",
            },
        )

    def _acknowledge_deployment(self, role: iam.Role) -> None:
        """CDK's BucketDeployment grants its handler wildcard actions on the CDK asset bucket (read the zipped
        sources) and on the static bucket (sync and prune), and CloudFront invalidation on ``*``; its handler
        runs the Python runtime CDK pins for it."""
        stack = Stack.of(self)
        bucket_id = stack.resolve(self.bucket.node.default_child.logical_id)  # type: ignore[union-attr]
        assets = f"arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-{stack.account}-{stack.region}/*"
        reasons = {
            "Action::s3:GetObject*": "Reads the zipped static files from CDK's asset bucket (CDK's grant).",
            "Action::s3:GetBucket*": "Reads the asset and static buckets' location and settings (CDK's grant).",
            "Action::s3:List*": "Lists the static bucket to sync and prune it (CDK's grant).",
            "Action::s3:DeleteObject*": "Prunes files removed from the package from the static bucket (CDK's grant).",
            "Action::s3:Abort*": "Aborts its own failed multipart uploads into the static bucket (CDK's grant).",
            f"Resource::{assets}": "CDK's bootstrap asset bucket of this account and region, objects by asset hash.",
            f"Resource::<{bucket_id}.Arn>/*": "Every object of the static bucket: the deployment syncs the folder.",
            "Resource::*": "cloudfront:CreateInvalidation/GetInvalidation, which CDK grants without a resource; the "
            "handler invalidates only the distribution it is given.",
        }
        acknowledge(role, {f"IAM5[{finding}]": reason for finding, reason in reasons.items()})
        for child in stack.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                acknowledge(
                    child,
                    {
                        "L1": "CDK's BucketDeployment handler: its runtime is the one CDK ships and tests the handler "
                        "with, updated by upgrading aws-cdk-lib."
                    },
                )
