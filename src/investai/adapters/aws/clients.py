"""boto3 clients for the AWS shape, built on first use and shared (boto3 clients are thread-safe).

Nothing here reads an endpoint: boto3 itself honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``,
so pointing the whole shape at an emulator (moto) or a sandbox needs no setting of ours.
"""

from __future__ import annotations

import os
import threading
from typing import Any


class AwsClients:
    """One client per service for a region, created lazily (``boto3`` is imported on the first call)."""

    def __init__(self, *, region: str, connect_timeout_s: float = 5.0, read_timeout_s: float = 30.0) -> None:
        self.region = region
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._clients: dict[str, Any] = {}
        self._session: Any = None
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """The shared client of ``service`` (``s3``, ``dynamodb``, ``sqs``, ``kms``, ...)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._build(service)
            return self._clients[service]

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

    def _build(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.session.Session(region_name=self.region)
        options: dict[str, Any] = {
            "connect_timeout": self._connect_timeout_s,
            "read_timeout": self._read_timeout_s,
            "retries": {"max_attempts": 5, "mode": "standard"},
        }
        if service == "s3" and endpoint_overridden("s3"):
            options["s3"] = {"addressing_style": "path"}  # an emulator on an address has no bucket subdomains
        return self._session.client(service, config=Config(**options))


def endpoint_overridden(service: str) -> bool:
    """Whether boto3's standard variables send ``service`` somewhere other than AWS (an emulator)."""
    specific = f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}"
    return bool(os.environ.get(specific) or os.environ.get("AWS_ENDPOINT_URL"))
