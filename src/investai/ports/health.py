"""Readiness checks that adapters offer."""

from __future__ import annotations

from typing import Protocol


class HealthCheck(Protocol):
    @property
    def health_name(self) -> str:
        """A short name for the component, e.g. ``sqlite``."""
        ...

    def check(self) -> None:
        """Return when the component can serve; raise with a reason when it cannot."""
        ...
