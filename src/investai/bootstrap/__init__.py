"""Composition root: the only package that chooses adapters. Settings in, a Container of services out.

``embedded.py`` and ``aws.py`` each build one shape's set of adapters (:class:`~investai.bootstrap.adapters.
Adapters`); ``wiring.py`` wires the services once from whichever was built. Tests call :func:`build_container`
with settings pointing at ``tmp_path`` and with fakes (clock, key manager, ...) as keyword overrides.
"""

from investai.bootstrap.container import Container
from investai.bootstrap.embedded import restore_backup
from investai.bootstrap.models import build_model_router
from investai.bootstrap.wiring import build_container

__all__ = ["Container", "build_container", "build_model_router", "restore_backup"]
