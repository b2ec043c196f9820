"""Where runtime secrets come from (environment and files here, Secrets Manager on AWS)."""

from __future__ import annotations

from typing import Protocol


class SecretStore(Protocol):
    def get(self, name: str) -> str | None:
        """The secret's value, or ``None`` when it is not set."""
        ...
