"""Storage tiers for document versions, as an S3 lifecycle rule would move them: standard, then infrequent
access after ``infrequent_access_days``, then archive after ``archive_days`` (counted from each version's
creation). Run daily by the scheduler; running it twice moves nothing twice."""

from __future__ import annotations

from datetime import timedelta

from investai.ports.clock import Clock
from investai.ports.object_store import ObjectStore, StorageClass

_ORDER = {StorageClass.STANDARD: 0, StorageClass.STANDARD_IA: 1, StorageClass.GLACIER: 2}


class DocumentLifecycle:
    def __init__(self, *, objects: ObjectStore, clock: Clock, infrequent_access_days: int, archive_days: int) -> None:
        if archive_days <= infrequent_access_days:
            raise ValueError("archive must come after infrequent access")
        self._objects = objects
        self._clock = clock
        self._ia_after = timedelta(days=infrequent_access_days)
        self._archive_after = timedelta(days=archive_days)

    def apply(self, prefix: str = "documents/") -> dict[str, int]:
        """Move every version due for a colder tier; counts of versions moved per tier."""
        now = self._clock.now()
        moved = {StorageClass.STANDARD_IA.value: 0, StorageClass.GLACIER.value: 0}
        for latest in self._objects.list_objects(prefix):
            for version in self._objects.versions(latest.key):
                if version.delete_marker:
                    continue
                age = now - version.created_at
                target = (
                    StorageClass.GLACIER
                    if age >= self._archive_after
                    else StorageClass.STANDARD_IA
                    if age >= self._ia_after
                    else StorageClass.STANDARD
                )
                if _ORDER[target] > _ORDER[version.storage_class]:
                    self._objects.set_storage_class(version.key, version.version_id, target)
                    moved[target.value] += 1
        return moved
