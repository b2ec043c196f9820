"""The SecretStore on AWS Secrets Manager: one JSON secret whose keys are the secret names.

One secret (``ResourceNames.secret``, encrypted with the data CMK by ``provision.ensure_secret``) holds every
runtime secret as ``{"name": "value", ...}``: one API call reads them all, one resource policy guards them, and
rotating a value is one new secret version. The document is cached for a short time (``ttl_s``), so a rotated
value reaches every process within that time without a call per lookup.

Names follow the local store's rule (``^[a-z][a-z0-9_]{0,63}$``); an absent or empty value is ``None``. A secret
whose value is not a JSON object is an :class:`IntegrityError`, never silently "no secrets".
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from investai.domain.errors import IntegrityError
from investai.ports.clock import Clock

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DEFAULT_TTL_S = 60.0


class SecretsManagerSecretStore:
    """A :class:`~investai.ports.secrets.SecretStore` over an injected ``secretsmanager`` client."""

    health_name = "secrets"

    def __init__(self, *, client: Any, secret_id: str, clock: Clock, ttl_s: float = DEFAULT_TTL_S) -> None:
        self._client = client
        self._secret_id = secret_id
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)
        self._lock = threading.Lock()
        self._values: Mapping[str, str] | None = None
        self._fetched_at: datetime | None = None

    def get(self, name: str) -> str | None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid secret name {name!r}")
        value = self._document().get(name)
        return value or None

    def invalidate(self) -> None:
        """Forget the cached document (after a rotation this process made, say)."""
        with self._lock:
            self._values = None

    def check(self) -> None:
        self.invalidate()
        self._document()

    # -- internals ----------------------------------------------------------------------------------
    def _document(self) -> Mapping[str, str]:
        with self._lock:
            now = self._clock.now()
            if self._values is None or self._fetched_at is None or now - self._fetched_at >= self._ttl:
                self._values, self._fetched_at = self._fetch(), now
            return self._values

    def _fetch(self) -> Mapping[str, str]:
        try:
            answer = self._client.get_secret_value(SecretId=self._secret_id)
        except self._client.exceptions.ResourceNotFoundException:
            return {}
        text = answer.get("SecretString")
        try:
            document = json.loads(text) if text is not None else None
        except ValueError as exc:
            raise IntegrityError(f"secret {self._secret_id} is not JSON") from exc
        if not isinstance(document, dict):
            raise IntegrityError(f"secret {self._secret_id} is not a JSON object of names and values")
        return {str(name): value for name, value in document.items() if isinstance(value, str)}
