"""boto3 clients for the AWS shape, built on first use and shared (boto3 clients are thread-safe).

Nothing here reads an endpoint: boto3 itself honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``,
so pointing the whole shape at an emulator (moto) or a sandbox needs no setting of ours.

Credentials come from boto3's usual chain (environment, profile, container or instance role, a Lambda's
execution role). A service may be given a role to assume instead (``roles``: service name -> role ARN, as the
CDK app grants DynamoDB and Bedrock through roles of their own): its clients then sign with that role's
temporary credentials, fetched from STS with the chain's credentials on the first request and refreshed before
they expire, for as long as the process lives.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

ROLE_SESSION_NAME = "investai"


class AwsClients:
    """One client per service for a region, created lazily (``boto3`` is imported on the first call)."""

    def __init__(
        self,
        *,
        region: str,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        roles: Mapping[str, str] | None = None,
        role_session_name: str = ROLE_SESSION_NAME,
    ) -> None:
        self.region = region
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._roles = {service: arn for service, arn in (roles or {}).items() if arn}
        self._role_session_name = role_session_name
        self._clients: dict[str, Any] = {}
        self._sessions: dict[str | None, Any] = {}  # role ARN (None: the chain's own credentials) -> boto3 Session
        self._lock = threading.Lock()

    @property
    def roles(self) -> dict[str, str]:
        """The services whose clients assume a role, and the role each assumes."""
        return dict(self._roles)

    def client(self, service: str) -> Any:
        """The shared client of ``service`` (``s3``, ``dynamodb``, ``sqs``, ``kms``, ...)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._build(service)
            return self._clients[service]

    def session(self, service: str) -> Any:
        """The boto3 session whose credentials reach ``service``: the assumed role's when ``service`` has one,
        else the default chain's. For clients that need a configuration of their own (Bedrock's)."""
        with self._lock:
            return self._session_for(self._roles.get(service))

    def endpoint_url(self, service: str) -> str | None:
        """Where ``service`` is reached when boto3's variables override it (an emulator); ``None`` on AWS."""
        return str(self.client(service).meta.endpoint_url) if endpoint_overridden(service) else None

    def s3_filesystem(self) -> Any:
        """A pyarrow ``S3FileSystem`` in this region, reaching S3 wherever boto3 does. Credentials come from the
        AWS SDK's own chain (environment, profile, container or instance role), as boto3's do."""
        from pyarrow import fs

        endpoint = self.endpoint_url("s3")
        if endpoint is None:
            return fs.S3FileSystem(region=self.region)
        scheme, _, address = endpoint.partition("://")
        return fs.S3FileSystem(region=self.region, endpoint_override=address, scheme=scheme)

    def lancedb_storage_options(self) -> dict[str, str]:
        """LanceDB's ``storage_options`` for S3 here: the region and, on an emulator, its endpoint. LanceDB
        reads credentials from the same environment variables and roles the AWS SDKs do."""
        options = {"region": self.region}
        endpoint = self.endpoint_url("s3")
        if endpoint is not None:
            options.update({"endpoint": endpoint, "allow_http": str(endpoint.startswith("http://")).lower()})
        return options

    def _session_for(self, role_arn: str | None) -> Any:
        """The session of ``role_arn`` (the lock is held)."""
        if role_arn not in self._sessions:
            import boto3

            if None not in self._sessions:
                self._sessions[None] = boto3.session.Session(region_name=self.region)
            if role_arn is not None:
                self._sessions[role_arn] = assumed_role_session(
                    self._sessions[None], role_arn=role_arn, session_name=self._role_session_name
                )
        return self._sessions[role_arn]

    def _build(self, service: str) -> Any:
        from botocore.config import Config

        session = self._session_for(self._roles.get(service))
        options: dict[str, Any] = {
            "connect_timeout": self._connect_timeout_s,
            "read_timeout": self._read_timeout_s,
            "retries": {"max_attempts": 5, "mode": "standard"},
        }
        if service == "s3" and endpoint_overridden("s3"):
            options["s3"] = {"addressing_style": "path"}  # an emulator on an address has no bucket subdomains
        return session.client(service, config=Config(**options))


def assumed_role_session(source: Any, *, role_arn: str, session_name: str = ROLE_SESSION_NAME) -> Any:
    """A boto3 session in ``source``'s region signing with ``role_arn``'s temporary credentials.

    The credentials are botocore's own refreshable kind: nothing is fetched until a client first signs a
    request; STS ``AssumeRole`` is then called with ``source``'s credentials (through ``source``'s STS endpoint,
    so ``AWS_ENDPOINT_URL`` applies), and again shortly before the temporary credentials expire.
    """
    import boto3
    import botocore.session
    from botocore.credentials import (
        AssumeRoleCredentialFetcher,
        CredentialProvider,
        CredentialResolver,
        DeferredRefreshableCredentials,
    )

    source_credentials = source.get_credentials()
    if source_credentials is None:
        raise RuntimeError(f"no AWS credentials found to assume {role_arn} with")
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=source.client,
        source_credentials=source_credentials,
        role_arn=role_arn,
        extra_args={"RoleSessionName": session_name},
    )
    credentials = DeferredRefreshableCredentials(method="assume-role", refresh_using=fetcher.fetch_credentials)

    class AssumedRole(CredentialProvider):  # type: ignore[misc]
        METHOD = "assume-role"

        def load(self) -> DeferredRefreshableCredentials:
            return credentials

    core = botocore.session.Session()
    core.register_component("credential_provider", CredentialResolver([AssumedRole()]))
    return boto3.session.Session(botocore_session=core, region_name=source.region_name)


def endpoint_overridden(service: str) -> bool:
    """Whether boto3's standard variables send ``service`` somewhere other than AWS (an emulator)."""
    specific = f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}"
    return bool(os.environ.get(specific) or os.environ.get("AWS_ENDPOINT_URL"))
