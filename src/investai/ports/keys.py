"""Master keys that wrap per-object data keys (a local keyring here, KMS on AWS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class DataKey:
    """A fresh 256-bit data key: the plaintext for immediate use, the wrapped form to store."""

    plaintext: bytes = field(repr=False)
    wrapped: bytes
    key_id: str


class KeyManager(Protocol):
    def generate_data_key(self) -> DataKey:
        """A new random data key wrapped under the current master key."""
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """The plaintext data key; raises ``IntegrityError`` if the wrapped key was tampered with."""
        ...

    def rotate(self) -> str:
        """Make a new master key current; earlier keys stay usable for unwrapping. Returns its id."""
        ...

    def current_key_id(self) -> str:
        """The id of the master key that wraps new data keys."""
        ...
