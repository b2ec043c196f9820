"""Settings: one pydantic-settings class read from ``INVESTAI_*`` variables, a ``.env`` file and a
secrets directory. ``INVESTAI_PROFILE`` picks the environment (dev, staging, prod) whose per-environment
values (sizes, tiers, monitoring) come from :data:`ENVIRONMENTS`.
"""

from __future__ import annotations

import ipaddress
import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"
DEV_MASTER_SECRET = "dev-only-master-secret-do-not-use-in-production"
PLACEHOLDER_SECRETS = frozenset({DEV_SECRET_KEY, DEV_MASTER_SECRET, "changethis", "changeme", "secret", "password"})
MIN_SECRET_LENGTH = 32
ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$"


class Profile(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class Backend(StrEnum):
    EMBEDDED = "embedded"
    AWS = "aws"


class ModelProviderName(StrEnum):
    OFFLINE = "offline"
    BEDROCK = "bedrock"
    OPENAI = "openai"


class SearchBackend(StrEnum):
    LANCEDB = "lancedb"
    OPENSEARCH = "opensearch"


class QuotesBackend(StrEnum):
    DYNAMODB = "dynamodb"
    TIMESTREAM = "timestream"


class EmbeddingProvider(StrEnum):
    AUTO = "auto"
    LOCAL = "local"
    BEDROCK = "bedrock"


class TracingExporter(StrEnum):
    NONE = "none"
    CONSOLE = "console"
    OTLP = "otlp"


class TracingIdFormat(StrEnum):
    W3C = "w3c"
    XRAY = "xray"


class EnvironmentProfile(BaseModel):
    """Per-environment sizing and tiers (the seed's table; the AWS stacks read these)."""

    model_config = ConfigDict(frozen=True)

    lambda_memory_mb: int
    dynamodb_billing: str
    dynamodb_reserved_capacity: bool
    s3_storage: str
    s3_lifecycle_rules: bool
    opensearch_instance_type: str
    opensearch_multi_az: bool
    monitoring: str
    availability_zones: int
    api_docs_enabled: bool
    log_level: str


ENVIRONMENTS: dict[Profile, EnvironmentProfile] = {
    Profile.DEV: EnvironmentProfile(
        lambda_memory_mb=256,
        dynamodb_billing="on-demand",
        dynamodb_reserved_capacity=False,
        s3_storage="standard",
        s3_lifecycle_rules=False,
        opensearch_instance_type="t3.small.search",
        opensearch_multi_az=False,
        monitoring="basic",
        availability_zones=1,
        api_docs_enabled=True,
        log_level="INFO",
    ),
    Profile.STAGING: EnvironmentProfile(
        lambda_memory_mb=512,
        dynamodb_billing="on-demand",
        dynamodb_reserved_capacity=False,
        s3_storage="standard",
        s3_lifecycle_rules=True,
        opensearch_instance_type="m6g.medium.search",
        opensearch_multi_az=True,
        monitoring="enhanced",
        availability_zones=3,
        api_docs_enabled=True,
        log_level="INFO",
    ),
    Profile.PROD: EnvironmentProfile(
        lambda_memory_mb=1024,
        dynamodb_billing="on-demand",
        dynamodb_reserved_capacity=True,
        s3_storage="intelligent-tiering",
        s3_lifecycle_rules=True,
        opensearch_instance_type="m6g.large.search",
        opensearch_multi_az=True,
        monitoring="full",
        availability_zones=3,
        api_docs_enabled=True,
        log_level="INFO",
    ),
}


class ConfigurationError(ValueError):
    """Settings that must not be used to start the service."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVESTAI_", env_file=".env", extra="ignore", frozen=True)

    profile: Profile = Profile.DEV
    backend: Backend = Backend.EMBEDDED
    data_dir: Path = Path("./var")
    secrets_dir: Path | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str | None = None
    log_json: bool = True

    secret_key: SecretStr | None = None
    master_secret: SecretStr | None = None

    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="JSON request body cap")
    max_upload_bytes: int = Field(default=100 * 1_048_576, ge=1024, description="multipart upload cap")

    job_visibility_timeout_s: float = Field(default=300.0, gt=0)
    job_max_attempts: int = Field(default=5, ge=1, le=100)
    job_backoff_base_s: float = Field(default=2.0, gt=0)
    job_backoff_max_s: float = Field(default=300.0, gt=0)
    job_ttl_days: int = Field(default=7, ge=1)
    worker_poll_interval_s: float = Field(default=1.0, gt=0)
    worker_concurrency: int = Field(default=1, ge=1, le=32)
    serve_with_worker: bool = True
    serve_with_scheduler: bool = True
    maintenance_cron: str = "17 3 * * *"
    key_rotation_cron: str = Field(
        default="0 3 1 * *",
        description="embedded shape: when a new master key is made current (UTC); empty: never. On AWS, KMS"
        " rotates the key itself",
    )
    job_redelivery_cron: str = Field(
        default="*/10 * * * *",
        description="queue-delivered shapes: when ready jobs whose message may be lost are sent again",
    )
    job_redeliver_after_s: float = Field(default=900.0, gt=0, description="how long a ready job waits before that")
    pitr_retention_days: int = Field(
        default=35, ge=1, le=3650, description="how far back ideas and profiles can be read and restored"
    )

    # identity (modelled on Cognito)
    issuer: str = "http://127.0.0.1:8000"
    client_id: str = "investai-web"
    access_token_ttl_s: int = Field(default=3600, ge=60, le=86400)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=3650)
    token_leeway_s: int = Field(default=30, ge=0, le=60)
    temporary_password_days: int = Field(default=7, ge=1, le=90)
    password_history: int = Field(default=5, ge=0, le=24)
    lockout_threshold: int = Field(default=5, ge=1, le=100)
    lockout_base_s: float = Field(default=30.0, gt=0)
    lockout_max_s: float = Field(default=900.0, gt=0)
    challenge_ttl_s: int = Field(default=180, ge=30, le=3600)
    admin_email: str = "admin@localhost"
    admin_password: SecretStr | None = None
    default_organisation: str = "default"

    # edge protection (modelled on AWS WAF managed rules and API Gateway)
    waf_enabled: bool = True
    waf_max_query_bytes: int = Field(default=2048, ge=64)
    waf_max_cookie_bytes: int = Field(default=10240, ge=64)
    waf_max_uri_path_bytes: int = Field(default=1024, ge=64)
    waf_max_body_bytes: int = Field(default=65536, ge=1024, description="non-upload bodies; uploads have their own cap")
    waf_block_localhost_host: bool | None = Field(default=None, description="default: on outside dev")
    waf_ip_blocklist: list[str] = Field(default_factory=list, description="IPs or CIDR ranges")
    waf_blocked_countries: list[str] = Field(default_factory=list, description="ISO 3166 alpha-2 codes")
    waf_country_header: str = "CloudFront-Viewer-Country"
    trusted_proxies: list[str] = Field(default_factory=list, description="CIDRs whose X-Forwarded-For is believed")
    rate_limit_requests: int = Field(default=2000, ge=1)
    rate_limit_window_s: float = Field(default=300.0, gt=0)
    throttle_rate_rps: float = Field(default=10000.0, gt=0)
    throttle_burst: int = Field(default=5000, ge=1)
    cache_ttl_s: float = Field(default=300.0, ge=0)
    cache_max_entries: int = Field(default=10000, ge=0)
    cors_allow_origins: list[str] = Field(default_factory=list)
    hsts_max_age_s: int = Field(default=31536000, ge=0)

    # who may scrape /metrics: never a user's session, but the `metrics_token` secret (INVESTAI_METRICS_TOKEN
    # here, the key metrics_token of the application secret on AWS) and/or these addresses; both when both are set
    metrics_allowed_networks: list[str] = Field(
        default_factory=list, description="IPs or CIDRs that may scrape /metrics (the client address the edge sees)"
    )

    # documents and the knowledge base
    pdf_active_content: Literal["flag", "reject"] = Field(
        default="flag",
        description="PDFs with JavaScript, launch actions or attachments: indexed and flagged, or refused",
    )
    pdf_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    pdf_memory_mb: int = Field(default=1024, ge=64)
    max_document_pages: int = Field(default=2000, ge=1)
    chunk_max_chars: int = Field(default=1200, ge=200, le=20000)
    chunk_overlap_chars: int = Field(default=200, ge=0, le=5000)
    embedding_batch_size: int = Field(default=64, ge=1, le=1024)
    documents_infrequent_access_days: int = Field(default=30, ge=1)
    documents_archive_days: int = Field(default=90, ge=1)
    document_lifecycle_cron: str = "41 2 * * *"
    load_sample_documents: bool = Field(default=True, description="serve loads the sample corpus into an empty store")

    # market data
    quotes_memory_retention_h: float = Field(default=24.0, gt=0, description="quotes kept in the memory tier")
    quotes_magnetic_retention_days: float = Field(default=7.0, gt=0, description="quotes kept, then expired")
    quotes_max_clock_skew_s: float = Field(default=5.0, ge=0, description="how far ahead of now a quote may be")
    market_retention_cron: str = "*/15 * * * *"
    market_compaction_cron: str = Field(
        default="23 3 * * *", description="aws shape: merging each symbol's small history files"
    )
    market_refresh_cron: str = Field(default="*/30 * * * *", description="the directory provider's refresh")
    market_drop_dir: Path | None = Field(
        default=None, description="folder of CSV/Parquet bar files for the refresh job (default: DATA_DIR/market-drop)"
    )
    market_max_import_rows: int = Field(default=5_000_000, ge=1, description="rows one import may hold")
    market_lease_timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="how long a call waits for another process's use of the market store"
    )
    market_auto_create_symbols: bool = Field(
        default=False, description="bars of symbols missing from the master create a minimal entry instead of failing"
    )
    # plausibility: well-formed bars beyond these are quarantined for review instead of stored
    market_max_daily_rise: float = Field(
        default=0.55, gt=0, allow_inf_nan=False, description="largest one-day rise (0.55: +55%), widened by sqrt(days)"
    )
    market_max_daily_fall: float = Field(
        default=0.75, gt=0, lt=1, description="largest one-day fall (0.75: -75%), widened by sqrt(days)"
    )
    market_max_correction: float = Field(
        default=0.25, gt=0, allow_inf_nan=False, description="largest change of a stored price by an ingest (factor)"
    )
    market_max_price: float = Field(default=1e9, gt=0, allow_inf_nan=False, description="price ceiling")
    market_min_price: float = Field(default=1e-6, gt=0, allow_inf_nan=False, description="price floor")
    market_max_volume: float = Field(default=1e12, gt=0, allow_inf_nan=False, description="volume ceiling")
    load_sample_market_data: bool = Field(
        default=True, description="serve loads the sample history into an empty store"
    )
    # market-data vendor feeds (keys in the secret store: INVESTAI_POLYGON_API_KEY, INVESTAI_TIINGO_API_KEY, ...)
    market_vendors: list[Literal["polygon", "tiingo", "alphavantage"]] = Field(
        default_factory=list, description="vendors the market-refresh job pulls daily bars from, in order (empty: off)"
    )
    market_vendor_symbols: list[str] = Field(
        default_factory=list, description="symbols the vendors are asked for (empty: the symbol master, no indices)"
    )
    market_vendor_history_days: int = Field(default=1825, ge=1, description="history a symbol without bars fetches")
    market_vendor_overlap_days: int = Field(
        default=5, ge=0, le=366, description="days before the last stored bar fetched again (vendor corrections)"
    )
    market_vendor_rate_limits: dict[str, tuple[int, float]] = Field(
        default_factory=dict,
        description='per vendor (requests, seconds), e.g. {"polygon": [100, 60]}; default: the free tier',
    )
    market_vendor_max_attempts: int = Field(default=4, ge=1, le=10, description="tries per vendor request")
    market_vendor_max_wait_s: float = Field(
        default=120.0, gt=0, description="longest wait for a rate limit (Retry-After, budget) before giving up"
    )
    market_vendor_timeout_s: float = Field(default=30.0, gt=0, le=300, description="per vendor HTTP request")
    market_vendor_quotes: bool = Field(default=False, description="also pull latest quotes where the vendor has them")
    market_vendor_max_run_s: float = Field(
        default=240.0, gt=0, description="a refresh asks for no new symbol after this long (the rest wait a run)"
    )

    model_provider: ModelProviderName = Field(
        default=ModelProviderName.OFFLINE,
        description="offline (deterministic, no model), bedrock (Converse) or openai (any OpenAI-compatible server)",
    )
    model_reasoning: str = Field(
        default="us.anthropic.claude-3-7-sonnet-20250219-v1:0", description="planning, synthesis"
    )
    model_fast: str = Field(default="us.anthropic.claude-3-5-haiku-20241022-v1:0", description="research, compliance")
    model_quantitative: str = Field(default="us.amazon.nova-pro-v1:0", description="analysis commentary")
    model_requests_per_minute: float = Field(default=1000.0, gt=0, description="token bucket per model")
    model_burst: int = Field(default=50, ge=1, description="requests a model's bucket may save up")
    model_timeout_s: float = Field(default=60.0, gt=0, le=900)
    model_max_wait_s: float = Field(default=120.0, ge=0, description="longest wait for a rate-limit slot")
    model_max_attempts: int = Field(default=4, ge=1, le=20)
    model_backoff_base_s: float = Field(default=0.5, gt=0)
    model_backoff_max_s: float = Field(default=20.0, gt=0)
    model_prices: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0": (0.003, 0.015),
            "us.anthropic.claude-3-5-haiku-20241022-v1:0": (0.0008, 0.004),
            "us.amazon.nova-pro-v1:0": (0.0008, 0.0032),
        },
        description="USD per 1,000 input and per 1,000 output tokens, by model id",
    )
    # monthly model budgets (UTC calendar months; 0 or unset: unlimited); administrators override them per
    # organisation and per user. The offline provider costs nothing and counts no tokens, so never reaches them
    budget_user_monthly_usd: float | None = Field(default=50.0, ge=0, allow_inf_nan=False, description="per user")
    budget_user_monthly_tokens: int | None = Field(default=20_000_000, ge=0, description="input + output, per user")
    budget_org_monthly_usd: float | None = Field(default=1000.0, ge=0, allow_inf_nan=False, description="per org")
    budget_org_monthly_tokens: int | None = Field(default=400_000_000, ge=0, description="input + output, per org")
    # the AWS shape (INVESTAI_BACKEND=aws). Endpoints come from boto3's own AWS_ENDPOINT_URL and
    # AWS_ENDPOINT_URL_<SERVICE> variables; credentials from its usual chain.
    aws_region: str = "us-east-1"
    aws_resource_prefix: str = Field(
        default="investai", pattern=r"^[a-z][a-z0-9-]{1,40}$", description="names every resource: <prefix>-<role>"
    )
    aws_bucket: str | None = Field(default=None, description="the data bucket (default: <prefix>-data)")
    aws_table_names: dict[str, str] = Field(
        default_factory=dict, description="table role -> table name, for tables not named <prefix>-<role>"
    )
    aws_jobs_queue_url: str | None = Field(default=None, description="default: looked up by name <prefix>-jobs")
    aws_kms_key_id: str | None = Field(default=None, description="the data key: id, ARN or alias (alias/<prefix>-data)")
    aws_secret_id: str | None = Field(default=None, description="the application secret (default: <prefix>/app)")
    aws_user_pool_id: str | None = Field(default=None, description="default: looked up by name <prefix>-users")
    aws_user_pool_client_id: str | None = Field(default=None, description="default: looked up by name <prefix>-web")
    aws_dynamodb_role_arn: str | None = Field(
        default=None,
        pattern=ROLE_ARN,
        description="a role assumed for every DynamoDB client (the CDK app's InvestmentAI-DynamoDB-AccessRole)",
    )
    aws_bedrock_role_arn: str | None = Field(
        default=None,
        pattern=ROLE_ARN,
        description="a role assumed for every Bedrock runtime client (the CDK app's InvestmentAI-Bedrock-AccessRole)",
    )
    search_backend: SearchBackend = Field(
        default=SearchBackend.LANCEDB,
        description="aws shape: lancedb (LanceDB on S3, no cluster) or opensearch (a managed domain)",
    )
    opensearch_url: str | None = Field(default=None, description="the OpenSearch endpoint (https://...)")
    opensearch_index: str = Field(default="investai-chunks", pattern=r"^[a-z0-9][a-z0-9_-]{0,200}$")
    opensearch_auth: Literal["sigv4", "none"] = Field(
        default="sigv4", description="sigv4: sign requests with the AWS credentials (a managed domain)"
    )
    opensearch_hybrid_weights: tuple[float, float] = Field(
        default=(0.1, 0.9),
        description="keyword and semantic weights of the hybrid search pipeline (the convex combination's alpha "
        "and 1 - alpha, chosen on the labelled retrieval sets)",
    )
    quotes_backend: QuotesBackend = Field(
        default=QuotesBackend.DYNAMODB,
        description="aws shape: dynamodb (TTL tiers) or timestream (LiveAnalytics, maintenance mode since 2025-06-20)",
    )
    timestream_database: str | None = Field(default=None, description="default: <prefix>-market")
    timestream_table: str = Field(default="quotes")
    market_s3_prefix: str = Field(
        default="market/", pattern=r"^([A-Za-z0-9_.-]+/)+$", description="aws shape: bar history under this prefix"
    )
    market_provider_prefix: str = Field(
        default="market-drop/",
        pattern=r"^([A-Za-z0-9_.-]+/)+$",
        description="aws shape: the refresh job's provider files under this prefix of the data bucket",
    )
    embedding_provider: EmbeddingProvider = Field(
        default=EmbeddingProvider.AUTO, description="auto: local MiniLM embedded, Bedrock Titan on aws"
    )
    titan_model_id: str = Field(default="amazon.titan-embed-text-v2:0")
    titan_dimension: Literal[256, 512, 1024] = Field(default=1024, description="Titan v2 output dimension")
    titan_normalize: bool = Field(default=True, description="unit-length Titan vectors")
    titan_concurrency: int = Field(default=8, ge=1, le=64, description="Titan calls in flight per batch")
    idea_callback_hosts: list[str] = Field(
        default_factory=list, description="hosts an idea request's callback URL may name (https; http on loopback)"
    )
    ideas_expiry_cron: str = Field(default="7 * * * *", description="when expired ideas are marked (UTC)")
    ideas_sync_max: int = Field(default=3, ge=1, le=20, description="largest max_ideas served synchronously")
    compliance_restricted_symbols: list[str] = Field(
        default_factory=list, description="the firm's restricted list: ideas on these symbols are blocked"
    )
    compliance_max_liquidity_days: float = Field(default=5.0, gt=0, description="days to exit at 10% of volume")
    openai_base_url: str = Field(default="http://127.0.0.1:11434/v1", description="e.g. Ollama, vLLM, llama.cpp")
    openai_api_key: SecretStr | None = None

    # web UI (server-rendered, cookie session)
    web_enabled: bool = Field(default=True, description="serve the web UI at / beside the API")
    web_cookie_secure: bool | None = Field(
        default=None, description="mark session cookies Secure (HTTPS only); default: on outside dev"
    )
    static_url: str | None = Field(
        default=None,
        pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$",
        description="where pages load CSS, scripts and plotly.js from (a CDN, e.g. https://d123.cloudfront.net/static);"
        " default: /static on this server",
    )
    progress_transport: Literal["sse", "poll"] = Field(
        default="sse",
        description="how the idea-request page follows progress: sse (a live event stream) or poll (the status every"
        " 2 s, for proxies that buffer responses, such as API Gateway)",
    )

    # backups (embedded shape)
    backup_dir: Path | None = Field(
        default=None, description="the backup repository (default: a 'backups' folder beside DATA_DIR)"
    )
    backup_cron: str = Field(default="11 * * * *", description="when a backup is taken (UTC); empty: never")
    backup_retention_days: int = Field(default=35, ge=1, le=3650, description="backups kept, the newest always")

    tracing_exporter: TracingExporter = TracingExporter.NONE
    otlp_endpoint: str = Field(
        default="http://127.0.0.1:4318/v1/traces",
        description="OTLP/HTTP traces endpoint; the default is a collector beside the process, such as the ADOT"
        " collector of the AWS Distro for OpenTelemetry Lambda layer",
    )
    tracing_id_format: TracingIdFormat | None = Field(
        default=None,
        description="trace ids: w3c (random) or xray (time-prefixed, as AWS X-Ray requires); default: xray on the"
        " AWS shape, w3c otherwise",
    )
    service_name: str = "investai"

    @property
    def environment(self) -> EnvironmentProfile:
        return ENVIRONMENTS[self.profile]

    @property
    def secure_cookies(self) -> bool:
        if self.web_cookie_secure is not None:
            return self.web_cookie_secure
        return self.profile is not Profile.DEV

    @property
    def static_base(self) -> str:
        """The URL under which pages find the static files: ``static_url`` without a trailing slash, or
        ``/static`` on this server."""
        return (self.static_url or "/static").rstrip("/")

    @property
    def static_origin(self) -> str | None:
        """The origin (scheme, host, port) of ``static_url``, for the pages' Content-Security-Policy; ``None``
        when the static files are this server's own."""
        if not self.static_url:
            return None
        scheme, _, rest = self.static_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @property
    def effective_log_level(self) -> str:
        return (self.log_level or self.environment.log_level).upper()

    @property
    def effective_tracing_id_format(self) -> TracingIdFormat:
        if self.tracing_id_format is not None:
            return self.tracing_id_format
        return TracingIdFormat.XRAY if self.backend is Backend.AWS else TracingIdFormat.W3C

    @property
    def block_localhost_host(self) -> bool:
        if self.waf_block_localhost_host is not None:
            return self.waf_block_localhost_host
        return self.profile is not Profile.DEV

    @property
    def database_path(self) -> Path:
        return self.data_dir / "investai.db"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def knowledge_dir(self) -> Path:
        return self.data_dir / "knowledge"

    @property
    def market_path(self) -> Path:
        return self.data_dir / "market.duckdb"

    @property
    def market_drop_path(self) -> Path:
        return self.market_drop_dir or self.data_dir / "market-drop"

    @property
    def embedding_cache_path(self) -> Path:
        return self.data_dir / "embeddings.db"

    @property
    def scratch_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def backup_path(self) -> Path:
        return self.backup_dir or self.data_dir.resolve().parent / "backups"

    @property
    def keyring_path(self) -> Path:
        return self.data_dir / "keys" / "keyring.json"

    def secret_value(self, name: str) -> str:
        """The secret, or the development default in the dev profile (refused elsewhere at load)."""
        secret: SecretStr | None = getattr(self, name)
        if secret is not None:
            return secret.get_secret_value()
        return {"secret_key": DEV_SECRET_KEY, "master_secret": DEV_MASTER_SECRET}[name]

    @model_validator(mode="after")
    def _refuse_crossed_price_limits(self) -> Settings:
        if self.market_min_price >= self.market_max_price:
            raise ConfigurationError("INVESTAI_MARKET_MIN_PRICE must be below INVESTAI_MARKET_MAX_PRICE")
        return self

    @model_validator(mode="after")
    def _refuse_malformed_metrics_networks(self) -> Settings:
        """An allow-list that silently lost an entry is worse than a failed start."""
        for entry in self.metrics_allowed_networks:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as exc:
                raise ConfigurationError(f"INVESTAI_METRICS_ALLOWED_NETWORKS: {entry!r} is not an IP or CIDR") from exc
        return self

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        """Outside dev, the embedded shape needs both secrets set and strong; the AWS shape keeps its
        ``secret_key`` in Secrets Manager and its keys in KMS, so only values that are set are checked."""
        required = ("secret_key", "master_secret") if self.backend is Backend.EMBEDDED else ()
        for name in ("secret_key", "master_secret"):
            secret: SecretStr | None = getattr(self, name)
            if secret is None:
                if self.profile is not Profile.DEV and name in required:
                    raise ConfigurationError(f"INVESTAI_{name.upper()} must be set in the {self.profile.value} profile")
                continue
            value = secret.get_secret_value()
            weak = value.lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH
            if weak and self.profile is not Profile.DEV:
                raise ConfigurationError(
                    f"INVESTAI_{name.upper()} is a default or too short (< {MIN_SECRET_LENGTH} characters)"
                    f" for the {self.profile.value} profile"
                )
        return self


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, reading file secrets from ``INVESTAI_SECRETS_DIR`` when set."""
    secrets_dir = overrides.get("secrets_dir") or os.environ.get("INVESTAI_SECRETS_DIR")
    if secrets_dir:
        return Settings(_secrets_dir=Path(secrets_dir), **overrides)
    return Settings(**overrides)
