"""A market-data provider that reads bar files put under a prefix of the data bucket (the AWS shape's drop folder).

The objects are ``*.csv`` and ``*.parquet`` directly under the prefix. An object is offered until the refresh has
ingested it, and again whenever its content changes: it is known by its ETag (an MD5 of the content for a
single-part upload, a digest of the parts' MD5s for a multipart one), so a re-upload of the same bytes is not
taken twice while an edit is. An object named after a symbol (``AAPL.csv``) supplies that symbol to rows without
a symbol column. S3 makes an object visible only once whole, so nothing needs to settle first, and the read is
conditional on the ETag offered, so an object replaced in between is left for the next refresh.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from investai.domain.errors import StoreUnavailable, ValidationFailed
from investai.domain.market import TICKER_PATTERN
from investai.ports.market import ProviderFile

SUFFIXES = (".csv", ".parquet")
_TICKER = re.compile(TICKER_PATTERN)


class S3PrefixProvider:
    """A :class:`~investai.ports.market.MarketDataProvider` over ``s3://bucket/prefix``."""

    def __init__(self, client: Any, *, bucket: str, prefix: str, max_bytes: int, name: str = "s3") -> None:
        if not prefix.endswith("/"):
            raise ValueError("the prefix must end with '/'")
        self._client = client
        self._bucket = bucket
        self._prefix = prefix
        self._max_bytes = max_bytes
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def pending(self, seen: set[str]) -> Iterator[ProviderFile]:
        for item in self._objects():
            fingerprint = "etag:" + str(item["ETag"]).strip('"')
            if fingerprint in seen:
                continue
            name = item["Key"][len(self._prefix) :]
            stem = name.rsplit(".", 1)[0].strip().upper()
            yield ProviderFile(name=name, fingerprint=fingerprint, symbol=stem if _TICKER.match(stem) else None)

    def read(self, file: ProviderFile) -> bytes:
        if "/" in file.name or not file.fingerprint.startswith("etag:"):
            raise ValidationFailed(f"{file.name} is not a file of this provider")
        etag = file.fingerprint.removeprefix("etag:")
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._prefix + file.name, IfMatch=f'"{etag}"')
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in {"NoSuchKey", "404"}:
                raise ValidationFailed(f"{file.name} is no longer under {self._prefix}") from error
            if code in {"PreconditionFailed", "412"}:
                raise ValidationFailed(
                    f"{file.name} changed while it was being read; it is taken on the next refresh"
                ) from error
            raise StoreUnavailable(f"the market drop prefix is unreachable: {code or error}") from error
        except BotoCoreError as error:
            raise StoreUnavailable(f"the market drop prefix is unreachable: {error}") from error
        body = answer["Body"]
        try:
            data = body.read(self._max_bytes + 1)
        finally:
            body.close()
        if len(data) > self._max_bytes:
            raise ValidationFailed(f"{file.name} is larger than {self._max_bytes} bytes")
        return bytes(data)

    def _objects(self) -> list[dict[str, Any]]:
        """The prefix's data files (not in sub-prefixes), oldest first."""
        found: list[dict[str, Any]] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=self._prefix, Delimiter="/"
            )
            for page in pages:
                found.extend(page.get("Contents", []))
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"the market drop prefix is unreachable: {error}") from error
        files = [
            item
            for item in found
            if item["Key"].lower().endswith(SUFFIXES) and not item["Key"][len(self._prefix) :].startswith(".")
        ]
        return sorted(files, key=lambda item: (item["LastModified"], item["Key"]))
