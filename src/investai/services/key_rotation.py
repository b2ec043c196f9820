"""Master-key rotation and the re-wrap of stored data keys.

A rotation makes a new master key current (the local keyring; on AWS, KMS on-demand rotation). New envelopes
are sealed under it at once; envelopes sealed earlier stay readable, and are re-wrapped lazily — their data key
wrapped again under the current master key, the ciphertext untouched — when a store that can update them
cheaply reads them, or all at once by :meth:`KeyRotation.rewrap`.

The scheduled rotation runs as a job enqueued once per period (its schedule's dedupe key). A job delivered
again (its worker lost, its lease run out) finds its period's ``keys.rotated`` audit record and does not rotate
a second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from investai.ports.audit import AuditLog
from investai.ports.keys import KeyManager
from investai.security.envelope import RewrapCount

ROTATED = "keys.rotated"
REWRAPPED = "keys.rewrapped"
_RECENT_ROTATIONS = 100


@runtime_checkable
class EnvelopeStore(Protocol):
    """A store that can re-wrap, in place, the envelopes it holds."""

    def rewrap_envelopes(self, *, limit: int | None = None) -> RewrapCount: ...


class KeyRotation:
    def __init__(self, *, keys: KeyManager, audit: AuditLog) -> None:
        self._keys = keys
        self._audit = audit

    def rotate(self, *, source: str, period: str | None = None, actor_id: str | None = None) -> dict[str, Any]:
        """Make a new master key current and record it; with a ``period`` (a scheduled job's dedupe key), only
        if that period has not rotated yet."""
        if period is not None and self._rotated_in(period):
            return {"rotated": False, "key_id": self._keys.current_key_id(), "period": period}
        previous = self._keys.current_key_id()
        current = self._keys.rotate()
        details: dict[str, Any] = {"source": source, "previous": previous, "period": period}
        self._audit.append(
            action=ROTATED, actor_id=actor_id, resource_type="master_key", resource_id=current, details=details
        )
        return {"rotated": True, "key_id": current, "previous": previous, "period": period}

    def rewrap(self, stores: Mapping[str, object], *, limit: int | None = None) -> dict[str, RewrapCount]:
        """Re-wrap the envelopes an earlier master key wrapped, store by store, at most ``limit`` in all;
        stores that cannot re-wrap in place (or need not: KMS) are left out."""
        counts: dict[str, RewrapCount] = {}
        done = 0
        for name, store in stores.items():
            if not isinstance(store, EnvelopeStore):
                continue
            remaining = None if limit is None else limit - done
            if remaining is not None and remaining <= 0:
                break
            counts[name] = store.rewrap_envelopes(limit=remaining)
            done += counts[name].total_rewrapped
        if done:
            self._audit.append(
                action=REWRAPPED,
                resource_type="master_key",
                resource_id=self._keys.current_key_id(),
                details={name: dict(count.rewrapped) for name, count in counts.items()},
            )
        return counts

    def _rotated_in(self, period: str) -> bool:
        recent = self._audit.list_events(action=ROTATED, limit=_RECENT_ROTATIONS)
        return any(event.details.get("period") == period for event in recent)
