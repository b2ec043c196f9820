"""Composition root: the only package that chooses adapters. Settings in, a Container of services out.

``embedded.py`` and ``aws.py`` each build one shape's set of adapters (:class:`~investai.bootstrap.adapters.
Adapters`); ``wiring.py`` wires the services once from whichever was built. Tests call :func:`build_container`
with settings pointing at ``tmp_path`` and with fakes (clock, key manager, ...) as keyword overrides.

The names below are loaded on first use: importing a light module of this package (``aws_jobs``, which the
scheduler Lambda builds its job records with) must not load every service and the data stack behind them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from investai.bootstrap.container import Container
    from investai.bootstrap.embedded import restore_backup
    from investai.bootstrap.models import build_model_router
    from investai.bootstrap.wiring import build_container

__all__ = ["Container", "build_container", "build_model_router", "restore_backup"]

_HOMES = {
    "Container": "investai.bootstrap.container",
    "build_container": "investai.bootstrap.wiring",
    "build_model_router": "investai.bootstrap.models",
    "restore_backup": "investai.bootstrap.embedded",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value
