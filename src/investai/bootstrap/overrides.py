"""Components a caller may put in place of what the shape would build (tests' fakes, or a per-port choice
such as AWS stores with the local embedder)."""

from __future__ import annotations

from dataclasses import dataclass

from investai.ports.clock import Clock
from investai.ports.keys import KeyManager
from investai.ports.knowledge import Embedder
from investai.ports.scheduler import Scheduler
from investai.ports.secrets import SecretStore


@dataclass(frozen=True)
class Overrides:
    clock: Clock | None = None
    keys: KeyManager | None = None
    secrets: SecretStore | None = None
    scheduler: Scheduler | None = None
    embedder: Embedder | None = None
