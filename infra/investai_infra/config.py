"""Each stage's configuration: the seed's per-environment values, read from the product's own settings
(:data:`investai.config.ENVIRONMENTS`, :mod:`investai.adapters.aws.resources`) where the product defines them,
plus what only a deployment knows (account, region, domain, alarm address), from the CDK context.

Synth needs a fixed account and region per stage (a customer-managed key in an environment-agnostic stack fails,
and availability zones must not come from a lookup): the defaults below are placeholders that ``cdk.json``
carries and a firm overrides with ``-c investai:<stage>:account=123456789012`` (see the README's deployment
guide). ``cdk.context.json`` holds the availability zones of every default account and region.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from investai.config import ENVIRONMENTS, Profile, Settings

STAGES = ("dev", "staging", "prod")
PRIMARY_REGION = "us-east-1"
SECONDARY_REGION = "us-west-2"
DEFAULT_ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
AZ_LETTERS = ("a", "b", "c")
# What the functions call on every request or job: through PrivateLink these calls stay off the NAT gateways (no
# per-GB processing charge, no dependency on a zone's NAT). Not in dev, where one NAT is cheaper than endpoints.
INTERFACE_ENDPOINTS = ("sqs", "kms", "secretsmanager", "sts", "bedrock-runtime")


@dataclass(frozen=True)
class StageConfig:
    """What differs between dev, staging and prod. Every stack takes one of these and nothing else from outside."""

    stage: str
    account: str
    region: str
    secondary_region: str
    prefix: str  # names every resource: <prefix>-<role>, the product's INVESTAI_AWS_RESOURCE_PREFIX
    availability_zones: tuple[str, ...]  # dev: one; staging and prod: three
    # networking (the seed's plan)
    vpc_cidr: str = "10.0.0.0/16"
    public_subnets: tuple[str, ...] = ("10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24")
    private_subnets: tuple[str, ...] = ("10.0.11.0/24", "10.0.12.0/24", "10.0.13.0/24")
    isolated_subnets: tuple[str, ...] = ("10.0.21.0/24", "10.0.22.0/24", "10.0.23.0/24")
    nat_gateways: int = 1  # prod: one per availability zone, so egress survives the loss of a zone
    interface_endpoints: tuple[str, ...] = ()  # AWS services the functions reach through PrivateLink, not the NAT
    # compute
    api_memory_mb: int = 256  # the seed's Lambda memory per environment
    processing_memory_mb: int = 1024  # pandas, DuckDB and the agents' working set need more than the API
    scheduler_memory_mb: int = 256
    api_timeout_s: int = 30
    processing_timeout_s: int = 900
    scheduler_timeout_s: int = 60
    reserved_concurrency: int | None = None  # prod: 1000
    architecture: str = "x86_64"
    fargate_worker: bool = False  # the optional ECS worker for jobs longer than a Lambda's 15 minutes
    worker_cpu: int = 1024
    worker_memory_mb: int = 4096
    worker_min_tasks: int = 1
    worker_max_tasks: int = 4
    canary: bool = False  # prod: CodeDeploy canary (10% for 5 minutes) with automatic rollback on alarms
    # storage and search
    search_backend: str = "opensearch"  # or "lancedb" (LanceDB on S3, no cluster)
    quotes_backend: str = "dynamodb"  # or "timestream" (LiveAnalytics: memory 24 h, magnetic 7 days)
    opensearch_instance_type: str = "t3.small.search"
    opensearch_multi_az: bool = False
    opensearch_data_nodes: int = 1
    opensearch_volume_gb: int = 20
    opensearch_master_nodes: int = 0  # dedicated master nodes (prod: three, one per zone)
    s3_storage: str = "standard"
    s3_lifecycle_rules: bool = False
    pitr_days: int = 35
    backup_retention_days: int = 35
    replicate_to_secondary: bool = False  # S3 cross-region replication and the secondary-region stack
    removal_retain: bool = True  # keep data on stack deletion (all stages: data is never lost by a deploy)
    # api and edge
    throttle_rate_limit: int = 10_000
    throttle_burst_limit: int = 5_000
    cache_ttl_s: int = 300
    cache_size_gb: str = "0.5"
    waf_rate_limit_per_5_min: int = 2_000
    waf_blocked_countries: tuple[str, ...] = ()
    domain_name: str | None = None  # optional custom domain of the API
    certificate_arn: str | None = None
    hosted_zone_id: str | None = None
    hosted_zone_name: str | None = None
    secondary_domain_name: str | None = None  # prod: the secondary region's API, target of the Route 53 failover
    # identity
    access_token_minutes: int = 60
    refresh_token_days: int = 30
    password_min_length: int = 12
    # monitoring and cost
    monitoring: str = "basic"  # basic, enhanced or full
    log_retention_days: int = 30
    alarm_email: str | None = None
    monthly_budget_usd: int = 200
    budget_thresholds_percent: tuple[int, ...] = (50, 80, 100)
    model_ids: tuple[str, ...] = ()  # the Bedrock models the product may call (least privilege)
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """``Dev``, ``Staging``, ``Prod``: the stage in construct ids and stack names."""
        return self.stage.capitalize()

    def stack_name(self, part: str) -> str:
        return f"InvestAI-{self.title}-{part}"

    def name(self, role: str) -> str:
        """A resource's name: ``<prefix>-<role>``, as the product's settings expect it."""
        return f"{self.prefix}-{role}"

    @property
    def bucket_name(self) -> str:
        """Bucket names are global: the account and region make the data bucket's unique."""
        return f"{self.prefix}-data-{self.account}-{self.region}"

    def replica_bucket_name(self) -> str:
        return f"{self.prefix}-data-{self.account}-{self.secondary_region}"


def _model_ids() -> tuple[str, ...]:
    defaults = Settings.model_fields
    ids = [defaults[name].default for name in ("model_reasoning", "model_fast", "model_quantitative", "titan_model_id")]
    return tuple(dict.fromkeys(str(model) for model in ids))


# OpenSearch instance types the seed names that OpenSearch Service does not offer, and the nearest that it does:
# M6G starts at large (cfn-lint's E3653 and the service both refuse m6g.medium.search); M7G, its successor, has a
# medium size, so staging keeps the seed's intent (a general-purpose Graviton node, one size below prod's).
OPENSEARCH_INSTANCE_TYPES = {"m6g.medium.search": "m7g.medium.search"}


def _seed(stage: str, account: str, region: str) -> StageConfig:
    profile = ENVIRONMENTS[Profile(stage)]
    zones = tuple(f"{region}{letter}" for letter in AZ_LETTERS[: profile.availability_zones])
    base = StageConfig(
        stage=stage,
        account=account,
        region=region,
        secondary_region=SECONDARY_REGION,
        prefix=f"investai-{stage}",
        availability_zones=zones,
        api_memory_mb=profile.lambda_memory_mb,
        scheduler_memory_mb=profile.lambda_memory_mb,
        opensearch_instance_type=OPENSEARCH_INSTANCE_TYPES.get(
            profile.opensearch_instance_type, profile.opensearch_instance_type
        ),
        opensearch_multi_az=profile.opensearch_multi_az,
        s3_storage=profile.s3_storage,
        s3_lifecycle_rules=profile.s3_lifecycle_rules,
        monitoring=profile.monitoring,
        model_ids=_model_ids(),
        tags={"Project": "InvestmentAI", "Environment": stage, "CostCenter": "investment-ai", "ManagedBy": "cdk"},
    )
    if stage == "dev":
        return replace(base, log_retention_days=14, monthly_budget_usd=150)
    if stage == "staging":
        return replace(
            base,
            processing_memory_mb=2048,
            opensearch_data_nodes=2,
            interface_endpoints=INTERFACE_ENDPOINTS,
            log_retention_days=90,
            monthly_budget_usd=600,
        )
    return replace(
        base,
        processing_memory_mb=3008,
        reserved_concurrency=1000,
        fargate_worker=True,
        canary=True,
        opensearch_data_nodes=3,
        opensearch_volume_gb=100,
        opensearch_master_nodes=3,
        nat_gateways=len(zones),
        interface_endpoints=INTERFACE_ENDPOINTS,
        replicate_to_secondary=True,
        log_retention_days=365,
        monthly_budget_usd=3000,
    )


_OVERRIDABLE = {
    "account": str,
    "region": str,
    "alarm_email": str,
    "domain_name": str,
    "certificate_arn": str,
    "hosted_zone_id": str,
    "hosted_zone_name": str,
    "secondary_domain_name": str,
    "search_backend": str,
    "quotes_backend": str,
    "monthly_budget_usd": int,
    "fargate_worker": bool,
}


def stage_config(stage: str, context: Mapping[str, Any] | None = None) -> StageConfig:
    """The stage's configuration: the seed's values, then ``investai:<stage>:<field>`` context overrides."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}: one of {', '.join(STAGES)}")
    context = context or {}
    account = str(context.get(f"investai:{stage}:account") or DEFAULT_ACCOUNTS[stage])
    region = str(context.get(f"investai:{stage}:region") or PRIMARY_REGION)
    config = _seed(stage, account, region)
    changes: dict[str, Any] = {}
    for name, kind in _OVERRIDABLE.items():
        value = context.get(f"investai:{stage}:{name}")
        if value is None or name in ("account", "region"):
            continue
        changes[name] = _coerce(value, kind)
    countries = context.get(f"investai:{stage}:waf_blocked_countries")
    if countries:
        changes["waf_blocked_countries"] = tuple(
            code.strip().upper() for code in (countries.split(",") if isinstance(countries, str) else countries)
        )
    config = replace(config, **changes)
    if config.search_backend not in ("opensearch", "lancedb"):
        raise ValueError(f"{stage}: search_backend must be opensearch or lancedb")
    if config.quotes_backend not in ("dynamodb", "timestream"):
        raise ValueError(f"{stage}: quotes_backend must be dynamodb or timestream")
    return config


def _coerce(value: Any, kind: type) -> Any:
    if kind is bool and isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return kind(value)
