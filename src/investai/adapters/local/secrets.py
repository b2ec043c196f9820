"""Secrets from the environment (``INVESTAI_<NAME>``) or from files named the same way in a secrets
directory (the convention pydantic-settings uses for :class:`investai.config.Settings`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class EnvFileSecretStore:
    """Looks a secret up in the environment first, then in ``<directory>/INVESTAI_<NAME>``."""

    def __init__(
        self, *, prefix: str = "INVESTAI_", directory: Path | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        self._prefix = prefix
        self._directory = directory
        self._environ = environ if environ is not None else os.environ

    def get(self, name: str) -> str | None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid secret name {name!r}")
        value = self._environ.get(f"{self._prefix}{name.upper()}")
        if value:
            return value
        if self._directory is not None:
            for filename in (f"{self._prefix}{name.upper()}", f"{self._prefix}{name}".lower()):
                path = self._directory / filename
                if path.is_file():
                    return path.read_text(encoding="utf-8").strip() or None
        return None
